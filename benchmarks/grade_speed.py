"""Time `d2lgrade grade solutions` in-process, in a plain child and in the sandboxed child (the
default), and print a Markdown table.

Wall time is the whole command as a user runs it (interpreter start, torch import, pytest,
children); "grading" is the part the command reports itself (pytest session, children
included). The isolation overhead compares the medians of the wall times.

    python benchmarks/grade_speed.py [--repeats 3] [--chapters ch02_preliminaries ch03_basics]
    python benchmarks/grade_speed.py --trace --chapters ch03_basics ch05_cnn   # the op trace's cost
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


#: (label, --isolation, extra environment): in-process, the child without its sandbox, the default.
MODES = [("none", "none", {}),
         ("process, sandbox off", "process", {"D2LGRADE_SANDBOX": "off"}),
         ("process (sandboxed)", "process", {})]
#: --trace: the default mode with and without the from-scratch op trace (issue 14).
TRACE_MODES = [("process, op trace off (D2LGRADE_POLICIES=off)", "process", {"D2LGRADE_POLICIES": "off"}),
               ("process, op trace on (the default)", "process", {})]


def run_once(isolation: str, chapters: list[str], env: dict | None = None) -> tuple[float, float, str]:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "d2lgrade.cli", "grade", "solutions",
                               "--isolation", isolation, "--seed", "1", "--out", out,
                               "--chapters", *chapters],
                              cwd=ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})})
        wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"grading failed:\n{proc.stdout}\n{proc.stderr}")
    graded = float(re.search(r"graded in ([0-9.]+) s", proc.stdout).group(1))
    total = re.search(r"TOTAL\s+(\S+ / \S+)", proc.stdout).group(1)
    return wall, graded, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chapters", nargs="+", default=["ch02_preliminaries", "ch03_basics"])
    parser.add_argument("--trace", action="store_true",
                        help="compare the default mode with the op trace off and on")
    ns = parser.parse_args()
    modes = TRACE_MODES if ns.trace else MODES
    rows = {}
    for _ in range(ns.repeats):  # interleaved, so a change in machine load hits every mode
        for label, isolation, env in modes:
            rows.setdefault(label, []).append(run_once(isolation, ns.chapters, env))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"chapters: {' '.join(ns.chapters)}; {ns.repeats} runs each\n")
    print("| mode | score | wall time, median (min-max) | grading time, median |")
    print("| --- | --- | --- | --- |")
    for isolation, runs in rows.items():
        walls = [r[0] for r in runs]
        print(f"| {isolation} | {runs[0][2]} | {statistics.median(walls):.1f} s "
              f"({min(walls):.1f}-{max(walls):.1f}) | {statistics.median(r[1] for r in runs):.1f} s |")
    wall = {label: statistics.median(r[0] for r in runs) for label, runs in rows.items()}
    if ns.trace:
        off, on = (wall[m[0]] for m in TRACE_MODES)
        print(f"\nop trace overhead (wall, on vs off): {100 * (on - off) / off:+.0f}%")
        return
    base, child, boxed = (wall[m[0]] for m in MODES)
    print(f"\nisolation overhead (wall, sandboxed child vs in-process): {100 * (boxed - base) / base:+.0f}%")
    print(f"sandbox overhead (wall, sandboxed vs plain child): {100 * (boxed - child) / child:+.0f}%")


if __name__ == "__main__":
    main()
