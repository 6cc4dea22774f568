"""Time `d2lgrade grade solutions` in both isolation modes and print a Markdown table.

Wall time is the whole command as a user runs it (interpreter start, torch import, pytest,
children); "grading" is the part the command reports itself (pytest session, children
included). The isolation overhead compares the medians of the wall times.

    python benchmarks/grade_speed.py [--repeats 3] [--chapters ch02_preliminaries ch03_basics]
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


def run_once(isolation: str, chapters: list[str]) -> tuple[float, float, str]:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "d2lgrade.cli", "grade", "solutions",
                               "--isolation", isolation, "--seed", "1", "--out", out,
                               "--chapters", *chapters],
                              cwd=ROOT, capture_output=True, text=True)
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
    ns = parser.parse_args()
    rows = {}
    for isolation in ("none", "process"):
        runs = [run_once(isolation, ns.chapters) for _ in range(ns.repeats)]
        rows[isolation] = runs
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"chapters: {' '.join(ns.chapters)}; {ns.repeats} runs each\n")
    print("| isolation | score | wall time, median (min-max) | grading time, median |")
    print("| --- | --- | --- | --- |")
    for isolation, runs in rows.items():
        walls = [r[0] for r in runs]
        print(f"| {isolation} | {runs[0][2]} | {statistics.median(walls):.1f} s "
              f"({min(walls):.1f}-{max(walls):.1f}) | {statistics.median(r[1] for r in runs):.1f} s |")
    base = statistics.median(r[0] for r in rows["none"])
    iso = statistics.median(r[0] for r in rows["process"])
    print(f"\nisolation overhead (wall): {100 * (iso - base) / base:+.0f}%")


if __name__ == "__main__":
    main()
