"""The gpu-tier check for a CUDA machine: grade the gpu tests, print their measured figures,
and validate chapter 8 there (its GPU-only mutants can only be caught where CUDA runs).

    python benchmarks/gpu_check.py [--chapters ch05_cnn ch08_performance] [--skip-validate]

Prints a Markdown table (test, status, the figures the test reported) for BENCHMARKS.md and
exits non-zero if a gpu test failed or validation found a problem. The CPU baselines use the
threads the machine gives torch (leave OMP_NUM_THREADS unset for the fair, all-cores figure).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chapters", nargs="+", default=["ch05_cnn", "ch08_performance"])
    parser.add_argument("--skip-validate", action="store_true")
    args = parser.parse_args()
    import torch
    if not torch.cuda.is_available():
        print("no CUDA device here: the gpu tier cannot run on this machine", file=sys.stderr)
        return 2
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    print(f"GPU: {torch.cuda.get_device_name(0)}; CPU: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; "
          f"torch {torch.__version__}\n")
    failed = False
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.run([sys.executable, "-m", "d2lgrade.cli", "grade", "solutions", "--seed", "1",
                               "--out", out, "--chapters", *args.chapters], cwd=ROOT, env=env)
        if proc.returncode != 0:
            return proc.returncode
        results = json.loads((Path(out) / "results.json").read_text())
    print("\n| test | status | measured |\n| --- | --- | --- |")
    gpu_names = _gpu_tests(args.chapters)
    for t in results["tests"]:
        if t["name"].split("::")[-1] in gpu_names:
            status = t.get("status", "?")
            failed |= status == "failed"
            print(f"| {t['name']} | {status} | {' '.join((t.get('output') or '').split())[:300]} |")
    if not args.skip_validate:
        # validate only the chapters with gpu tests (their GPU-only mutants run here)
        proc = subprocess.run([sys.executable, "-m", "d2lgrade.cli", "validate", "--chapters",
                               *args.chapters], cwd=ROOT, env=env)
        failed |= proc.returncode != 0
    return 1 if failed else 0


def _gpu_tests(chapters: list[str]) -> set[str]:
    """Names of the tests marked @tier("gpu") in the chapters' graders (read as text)."""
    import re
    names = set()
    for chapter in chapters:
        for path in (ROOT / "graders" / chapter).glob("test_*.py"):
            names |= set(re.findall(r'@tier\("gpu"\)\n(?:@[^\n]*\n)*def (test_\w+)', path.read_text()))
    return names


if __name__ == "__main__":
    sys.exit(main())
