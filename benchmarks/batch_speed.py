"""Throughput of `d2lgrade grade-batch` with 1, 2 and N workers, and its per-submission overhead.

A class of K copies of one submission (default: the chapter 2 solution) is graded from
scratch with each worker count. Figures:

* wall: the whole command (interpreter start, workers importing torch, grading, class files)
* throughput: submissions per second of wall time; speed-up against one worker
* steady throughput: completions per second between the first and the last completion
  (the command's and the workers' start-up left out), and its speed-up
* grading: mean time of one submission inside a worker (pytest session, graders, children),
  from the completion markers
* overhead per submission (1 worker): wall / K - grading, i.e. worker start-up, dispatch
  and report writing, spread over the class
* one `d2lgrade grade` as a fresh command, for comparison (what a shell loop would pay)

    python benchmarks/batch_speed.py [--students 40] [--workers 1 2 4] [--chapters ch02_preliminaries]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_class(dest: Path, source: Path, chapters: list[str], k: int) -> None:
    for i in range(k):
        for ch in chapters:
            shutil.copytree(source / ch, dest / f"student{i:03d}" / ch,
                            ignore=shutil.ignore_patterns("__pycache__"))


def run_batch(subs: Path, workers: int, chapters: list[str], env: dict) -> tuple[float, list[float], str, float]:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "d2lgrade.cli", "grade-batch", str(subs),
                               "--out", out, "--workers", str(workers), "--seed", "1",
                               "--no-progress", "--chapters", *chapters],
                              cwd=ROOT, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"grade-batch failed:\n{proc.stdout}\n{proc.stderr}")
        markers = [json.loads(p.read_text()) for p in Path(out).glob("*/status.json")]
    bad = [m["student"] for m in markers if m["status"] != "graded"]
    if bad:
        sys.exit(f"not graded: {bad}")
    scores = sorted({f"{m['score']:g}/{m['max_score']:g}" for m in markers})
    # Steady state: completions per second between the first and the last one (start-up
    # of the command and of the workers left out).
    done = sorted(m["finished_at"] for m in markers)
    steady = (len(done) - 1) / (done[-1] - done[0]) if len(done) > 1 and done[-1] > done[0] else 0.0
    return wall, [m["elapsed_s"] for m in markers], ", ".join(scores), steady


def fresh_grade(source: Path, chapters: list[str], env: dict) -> float:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "d2lgrade.cli", "grade", str(source), "--out", out,
                        "--seed", "1", "--chapters", *chapters], cwd=ROOT, env=env,
                       capture_output=True, check=True)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--workers", type=int, nargs="+",
                        default=sorted({1, 2, os.cpu_count() or 1}))
    parser.add_argument("--chapters", nargs="+", default=["ch02_preliminaries"])
    parser.add_argument("--source", default=str(ROOT / "solutions"))
    ns = parser.parse_args()
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", "1")
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    with tempfile.TemporaryDirectory() as tmp:
        subs = Path(tmp) / "class"
        make_class(subs, Path(ns.source), ns.chapters, ns.students)
        single = fresh_grade(Path(ns.source), ns.chapters, env)
        rows = []
        for w in ns.workers:
            wall, elapsed, scores, steady = run_batch(subs, w, ns.chapters, env)
            rows.append((w, wall, statistics.mean(elapsed), scores, steady))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, load average {load:.1f} at start; "
          f"{ns.students} submissions of {' '.join(ns.chapters)}\n")
    print("| workers | wall | throughput | speed-up | steady throughput | steady speed-up "
          "| grading per submission (mean) | scores |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    base, base_steady = rows[0][1], rows[0][4]
    for w, wall, grading, scores, steady in rows:
        print(f"| {w} | {wall:.1f} s | {ns.students / wall:.2f} /s | {base / wall:.2f}x | "
              f"{steady:.2f} /s | {steady / base_steady if base_steady else 0:.2f}x | "
              f"{grading:.2f} s | {scores} |")
    w1 = rows[0]
    print(f"\nper-submission overhead with {w1[0]} worker: {w1[1] / ns.students - w1[2]:.2f} s "
          f"(wall / submissions - grading; worker start-up amortized)")
    print(f"one `d2lgrade grade` as a fresh command: {single:.1f} s "
          f"(a shell loop would take about {single * ns.students:.0f} s for the class)")


if __name__ == "__main__":
    main()
