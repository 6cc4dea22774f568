"""Where a class's grading time goes, per chapter: student code, reference, start-up, harness.

    D2L_DATA_DIR=../shared/data/d2l python benchmarks/time_split.py --students 4 --workers 2

Grades a class of copies of ``solutions/`` (every chapter: whole-course submissions) with
``d2lgrade grade-batch`` and ``D2LGRADE_TIMING=1`` (``d2lgrade.results.timing``), then prints
Markdown tables for BENCHMARKS.md: per chapter the mean seconds per submission in student
code, reference code, start-up and harness/IPC, and for the class the ratio of grading time
to student time. With ``--passes trace notrace`` a second class is graded with the op trace
off (``D2LGRADE_POLICIES=off``, measurements only), which gives the student code's time
without the trace and so the trace's own cost.

Ratios:
- per submission: sum of per-submission wall time in the workers / sum of student time;
- class: batch wall time x workers / sum of student time (what the class costs against
  running only the students' code on the same cores).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("student_s", "reference_s", "startup_s", "harness_s")


def _cpu_times() -> tuple[float, float]:
    with open("/proc/stat") as fh:
        vals = [float(x) for x in fh.readline().split()[1:]]
    idle = vals[3] + vals[4]
    return sum(vals) - idle, sum(vals)


def grade_class(n: int, workers: int, seed: int, trace: bool, chapters: list[str] | None,
                work: Path) -> dict:
    subs, out = work / f"subs-{n}", work / f"out-{'trace' if trace else 'notrace'}"
    if not subs.exists():
        for i in range(n):
            for ch in chapters or sorted(p.name for p in (ROOT / "solutions").glob("ch*_*")):
                shutil.copytree(ROOT / "solutions" / ch, subs / f"student{i:03d}" / ch,
                                ignore=shutil.ignore_patterns("__pycache__"))
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, D2LGRADE_TIMING="1")
    if not trace:
        env["D2LGRADE_POLICIES"] = "off"
    cmd = [sys.executable, "-m", "d2lgrade.cli", "grade-batch", str(subs), "--out", str(out),
           "--workers", str(workers), "--seed", str(seed), "--no-progress"]
    if chapters:
        cmd += ["--chapters", *chapters]
    busy0, total0 = _cpu_times()
    load0 = os.getloadavg()[0]
    start = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    busy1, total1 = _cpu_times()
    if r.returncode != 0:
        sys.exit(f"grade-batch failed ({r.returncode}):\n{r.stdout}\n{r.stderr[-3000:]}")
    markers = [json.loads(p.read_text()) for p in sorted(out.glob("*/status.json"))]
    return {"wall": wall, "markers": markers, "workers": workers, "trace": trace,
            "machine_busy_cores": round((busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1), 2),
            "load1": (round(load0, 2), round(os.getloadavg()[0], 2))}


def chapter_table(run: dict) -> list[str]:
    ms = run["markers"]
    n = len(ms)
    chapters = sorted({c for m in ms for c in m["timing"].get("chapters", {})})
    lines = ["| chapter | wall / submission | student | reference | start-up | harness + IPC | student share |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]

    def row(name: str, parts: list[dict]) -> str:
        mean = {k: sum(p.get(k, 0.0) for p in parts) / n for k in ("wall_s", *PARTS)}
        mean = {k: 0.0 if abs(v) < 5e-3 else v for k, v in mean.items()}  # rounding leftovers
        share = mean["student_s"] / mean["wall_s"] if mean["wall_s"] else 0.0
        return (f"| {name} | {mean['wall_s']:.2f} s | {mean['student_s']:.2f} s | "
                f"{mean['reference_s']:.2f} s | {mean['startup_s']:.2f} s | "
                f"{mean['harness_s']:.2f} s | {100 * share:.0f} % |")

    for c in chapters:
        lines.append(row(c, [m["timing"]["chapters"].get(c, {}) for m in ms]))
    # pytest start-up, collection, session end and unpacking: outside every chapter's tests
    rest = []
    for m in ms:
        t = m["timing"]
        per = t.get("chapters", {}).values()
        rest.append({k: t[k] - sum(p.get(k, 0.0) for p in per) for k in ("wall_s", *PARTS)})
    lines.append(row("session (unpack, pytest start-up, collection, end)", rest))
    lines.append(row("**whole submission**", [m["timing"] for m in ms]))
    return lines


def ratios(run: dict) -> dict:
    ms = run["markers"]
    student = sum(m["timing"]["student_s"] for m in ms)
    elapsed = sum(m["timing"]["wall_s"] for m in ms)
    return {"students": len(ms), "batch_wall_s": round(run["wall"], 1),
            "student_s_total": round(student, 1), "submission_wall_s_total": round(elapsed, 1),
            "per_submission_ratio": round(elapsed / student, 3) if student else None,
            "class_ratio": round(run["wall"] * run["workers"] / student, 3) if student else None,
            "scores": sorted({f"{m['score']:g}/{m['max_score']:g}" for m in ms}),
            "machine_busy_cores": run["machine_busy_cores"], "load1": run["load1"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--students", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--chapters", nargs="+", help="default: every chapter (whole course)")
    ap.add_argument("--passes", nargs="+", choices=("trace", "notrace"), default=["trace"])
    ap.add_argument("--work", help="folder for the class and the outputs (default: a temporary one)")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--from-out", help="only report on a grade-batch output folder made with "
                    "D2LGRADE_TIMING=1 (also one still running: the students done so far; wall "
                    "= from batch.json's writing to the last status.json)")
    ns = ap.parse_args()
    if ns.from_out:
        out = Path(ns.from_out)
        markers = [json.loads(p.read_text()) for p in sorted(out.glob("*/status.json"))]
        wall = max(m["finished_at"] for m in markers) - (out / "batch.json").stat().st_mtime
        run = {"wall": wall, "markers": markers, "workers": ns.workers, "trace": True,
               "machine_busy_cores": None, "load1": None}
        print("\n".join(chapter_table(run)))
        print("\n" + json.dumps(ratios(run)))
        return
    if not os.environ.get("D2L_DATA_DIR"):
        print("note: D2L_DATA_DIR is unset, so data-tier tests are not run", file=sys.stderr)
    work = Path(ns.work) if ns.work else Path(tempfile.mkdtemp(prefix="d2lgrade-split-"))
    work.mkdir(parents=True, exist_ok=True)
    figures = {}
    for p in ns.passes:
        run = grade_class(ns.students, ns.workers, ns.seed, p == "trace", ns.chapters, work)
        figures[p] = {"ratios": ratios(run), "table": chapter_table(run)}
        print(f"\n### {ns.students} whole-course submissions, {ns.workers} workers, op trace "
              f"{'on (as graded)' if p == 'trace' else 'off (D2LGRADE_POLICIES=off)'}\n")
        print("\n".join(figures[p]["table"]))
        print("\n" + json.dumps(figures[p]["ratios"]), flush=True)
    if {"trace", "notrace"} <= set(figures):
        on, off = figures["trace"]["ratios"], figures["notrace"]["ratios"]
        per_on = on["student_s_total"] / on["students"]
        per_off = off["student_s_total"] / off["students"]
        print(f"\nstudent time per submission: {per_on:.1f} s traced, {per_off:.1f} s untraced; "
              f"grading / untraced student code: per submission "
              f"{on['submission_wall_s_total'] / on['students'] / per_off:.2f}x, class "
              f"{on['batch_wall_s'] * ns.workers / on['students'] / per_off:.2f}x")
    if ns.json:
        Path(ns.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
