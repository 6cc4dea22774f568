"""The ``d2lgrade`` command: grade, validate, stubs."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import SubmissionUnusable


def _cmd_grade(ns: argparse.Namespace) -> int:
    from .course import find_course
    from .grading import grade
    from .report import format_table, write_outputs
    course = find_course(ns.course)
    try:
        run = grade(ns.submission, chapters=ns.chapters, seed=ns.seed, isolation=ns.isolation,
                    course=course, call_timeout=ns.call_timeout)
    except SubmissionUnusable as exc:
        print(f"d2lgrade: cannot grade this submission: {exc}", file=sys.stderr)
        return 2
    out = Path(ns.out)
    output = "\n".join(run.notes)
    write_outputs(out, run.results, seed=run.seed, isolation=run.isolation,
                  execution_time=run.elapsed, output=output,
                  protections=run.protection_report())
    # feedback page for the student (d2lgrade.feedback_html); a drawing problem never stops grading
    from .feedback_html import write_feedback_html
    from .report import use_color
    html_path = out / "feedback.html"
    try:
        write_feedback_html(html_path, run.results, submission=Path(ns.submission).name,
                            seed=run.seed, notes=run.notes,
                            include_after_due_date=not ns.hide_after_due_date)
    except Exception as exc:  # pragma: no cover - reported, grading still counts
        print(f"note: feedback.html could not be written: {exc}", file=sys.stderr)
    for note in run.notes:
        print(f"note: {note}")
    print(format_table(run.results, seed=run.seed, verbose=ns.verbose, color=use_color()))
    print(f"graded in {run.elapsed:.1f} s (isolation: {run.isolation}); "
          f"wrote {out / 'results.json'}, {out / 'junit.xml'} and {html_path}")
    return 0


def _cmd_validate(ns: argparse.Namespace) -> int:
    from .course import find_course
    from .validate import validate
    report = validate(find_course(ns.course), chapters=ns.chapters, seed=ns.seed,
                      isolation=ns.isolation, mutants=not ns.skip_mutants,
                      compare_isolation=ns.compare_isolation, workers=ns.workers,
                      strict_policies=ns.strict_policies)
    print(report.text())
    return 0 if report.ok else 1


def _cmd_stubs(ns: argparse.Namespace) -> int:
    from .course import find_course
    from .stubs import StubError, check_stubs, write_stubs
    course = find_course(ns.course)
    try:
        if ns.check:
            problems = check_stubs(course)
            for p in problems:
                print(p)
            if problems:
                print("assignments/ is out of date: run `d2lgrade stubs`", file=sys.stderr)
                return 1
            print("assignments/ matches solutions/")
            return 0
        written = write_stubs(course)
    except StubError as exc:
        print(f"d2lgrade stubs: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} files under {course.assignments}")
    return 0


# --- feedback / release (issue 9) ------------------------------------------------------------
def _cmd_release(ns: argparse.Namespace) -> int:
    from .course import find_course
    from .release import ReleaseError, write_release
    try:
        report = write_release(find_course(ns.course), Path(ns.out), ns.chapters, force=ns.force)
    except ReleaseError as exc:
        print(f"d2lgrade release: {exc}", file=sys.stderr)
        return 2
    print(report.text())
    return 0


def _add_release_parser(sub) -> None:
    r = sub.add_parser("release", help="Write the repository a student receives: stubs, public "
                                       "tests, engine, README, tox env (no reference, no hidden test)")
    r.add_argument("out", help="Folder to write (must be empty or absent)")
    r.add_argument("--chapters", nargs="+", help="Only these chapters (default: all graded)")
    r.add_argument("--force", action="store_true", help="Replace OUT if it is not empty")
    r.set_defaults(func=_cmd_release)
# --- end feedback / release -------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="d2lgrade", description=__doc__)
    parser.add_argument("--course", help="Course root (default: found from the current folder)")
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("grade", help="Grade one submission (a folder or a zip)")
    g.add_argument("submission")
    g.add_argument("--out", default="results", help="Folder for results.json and junit.xml")
    g.add_argument("--chapters", nargs="+", help="Only these chapters (e.g. ch03_basics)")
    g.add_argument("--seed", type=int, help="Seed for the random inputs (default: fresh)")
    g.add_argument("--isolation", choices=("process", "none"), default="process")
    g.add_argument("--call-timeout", type=float, default=30.0,
                   help="Seconds for one call into student code (tests may allow more)")
    g.add_argument("-v", "--verbose", action="store_true", help="List tests that did not run")
    g.add_argument("--hide-after-due-date", action="store_true",
                   help="Leave after-due-date tests out of feedback.html")
    g.set_defaults(func=_cmd_grade)

    v = sub.add_parser("validate", help="Prove the graders: solutions 100%%, stubs 0, mutants caught")
    v.add_argument("--chapters", nargs="+")
    v.add_argument("--seed", type=int, default=20261124)
    v.add_argument("--isolation", choices=("process", "none"), default="process")
    v.add_argument("--skip-mutants", action="store_true")
    v.add_argument("--workers", type=int, help="Processes grading mutants in parallel "
                   "(default: the number of cores, at most 4)")
    v.add_argument("--compare-isolation", action="store_true",
                   help="Also grade solutions and stubs with isolation 'none' and compare scores")
    v.add_argument("--strict-policies", action="store_true",
                   help="Fail when a function that looks from-scratch has no from_scratch policy")
    v.set_defaults(func=_cmd_validate)

    s = sub.add_parser("stubs", help="Write assignments/ from solutions/ (or --check for drift)")
    s.add_argument("--check", action="store_true")
    s.set_defaults(func=_cmd_stubs)

    _add_release_parser(sub)  # feedback / release block above
    # --- whole-class commands (grade-batch, export): d2lgrade/batch_cli.py ---
    from .batch_cli import add_commands as add_batch_commands
    add_batch_commands(sub)
    # --- end of whole-class commands ---
    return parser


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    try:
        return ns.func(ns)
    except FileNotFoundError as exc:
        print(f"d2lgrade: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"d2lgrade: internal error: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
