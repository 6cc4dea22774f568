"""Subcommands for a whole class: ``grade-batch`` and ``export`` (added to ``d2lgrade``)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _cmd_grade_batch(ns: argparse.Namespace) -> int:
    from .batch import GRADEBOOK, HISTOGRAM, SUMMARY, BatchConfig, BatchError, run_batch
    if ns.course:
        os.environ["D2LGRADE_COURSE"] = str(Path(ns.course).resolve())
    cfg = BatchConfig(submissions=Path(ns.submissions), out=Path(ns.out),
                      workers=ns.workers or os.cpu_count() or 1, seed=ns.seed,
                      chapters=ns.chapters, force=ns.force, retry_errors=ns.retry_errors,
                      timeout=ns.timeout, call_timeout=ns.call_timeout, backend=ns.backend,
                      progress=not ns.no_progress, ray_address=ns.address, gpus=ns.gpus,
                      gpu_chapters=ns.gpu_chapters)
    try:
        info = run_batch(cfg)
    except BatchError as exc:
        print(f"d2lgrade grade-batch: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nd2lgrade grade-batch: interrupted; finished students are kept, run the same "
              "command again to grade the rest", file=sys.stderr)
        return 130
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(info["by_status"].items()))
    print(f"{info['students']} submissions ({statuses}); graded now {info['graded_now']}, "
          f"already done {info['already_done']}; {info['elapsed']:.1f} s; batch seed {info['seed']}")
    out = Path(ns.out)
    print(f"wrote {out / GRADEBOOK}, {out / SUMMARY}, {out / HISTOGRAM} and <student>/results.json")
    return 0


def _cmd_export(ns: argparse.Namespace) -> int:
    from .course import find_course
    from .export import ExportError, export_github_classroom, export_gradescope
    course = find_course(ns.course)
    try:
        if ns.platform == "gradescope":
            path = export_gradescope(course, Path(ns.dest), chapters=ns.chapters, seed=ns.seed,
                                     call_timeout=ns.call_timeout)
        else:
            path = export_github_classroom(course, Path(ns.dest), chapters=ns.chapters,
                                           seed=ns.seed, call_timeout=ns.call_timeout,
                                           grader_repo=ns.grader_repo)
    except ExportError as exc:
        print(f"d2lgrade export: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


def add_commands(sub) -> None:
    b = sub.add_parser("grade-batch", help="Grade every submission in a folder (a class)")
    b.add_argument("submissions", help="Folder with one entry (folder or zip) per student")
    b.add_argument("--out", required=True, help="Folder for per-student results and the gradebook")
    b.add_argument("--workers", type=int, default=None, help="Parallel graders (default: cores)")
    b.add_argument("--force", action="store_true", help="Regrade students already graded")
    b.add_argument("--retry-errors", action="store_true",
                   help="Regrade the students whose row is not 'graded' (timeout, crash, unusable)")
    b.add_argument("--chapters", nargs="+", help="Chapters of this assignment (recommended)")
    b.add_argument("--seed", type=int, help="Batch seed (default: fresh, or the one DIR records)")
    b.add_argument("--timeout", type=float, default=900.0,
                   help="Wall-time limit for one submission, seconds (default 900)")
    b.add_argument("--call-timeout", type=float, default=30.0,
                   help="Seconds for one call into student code (tests may allow more)")
    b.add_argument("--backend", choices=("local", "ray"), default="local")
    b.add_argument("--address", help="Ray cluster address (default: a local Ray started here)")
    b.add_argument("--gpus", type=float, default=0.0,
                   help="Ray: GPUs to request for chapters with GPU-tier tests (e.g. 1 or 0.5)")
    b.add_argument("--gpu-chapters", nargs="+",
                   help="Ray: chapters that need a GPU worker (default: found in the graders)")
    b.add_argument("--no-progress", action="store_true", help="No progress output")
    b.set_defaults(func=_cmd_grade_batch)

    e = sub.add_parser("export", help="Build an autograder for Gradescope or GitHub Classroom")
    e.add_argument("platform", choices=("gradescope", "github-classroom"))
    e.add_argument("dest", help="gradescope: the zip to write; github-classroom: a folder")
    e.add_argument("--chapters", nargs="+", required=True, help="Chapters of this assignment")
    e.add_argument("--seed", type=int, default=None,
                   help="Seed for the random inputs (default: fixed when exporting)")
    e.add_argument("--call-timeout", type=float, default=30.0)
    e.add_argument("--grader-repo", default="",
                   help="github-classroom: owner/name of the private repository with the course")
    e.set_defaults(func=_cmd_export)
