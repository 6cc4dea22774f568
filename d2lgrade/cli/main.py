"""The ``d2lgrade`` command line: one parser, every subcommand (whole-class ones in batch_cli)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from d2lgrade.errors import SubmissionUnusable


def _cmd_grade(ns: argparse.Namespace) -> int:
    from d2lgrade.course.layout import find_course
    from d2lgrade.grading.api import grade
    from d2lgrade.results.report import format_table, write_outputs
    course = find_course(ns.course)
    try:
        run = grade(ns.submission, chapters=ns.chapters, seed=ns.seed, isolation=ns.isolation,
                    course=course, call_timeout=ns.call_timeout)
    except SubmissionUnusable as exc:
        print(f"d2lgrade: cannot grade this submission: {exc}", file=sys.stderr)
        return 2
    out = Path(ns.out)
    html_path = out / "feedback.html"
    # one writer for results.json, junit.xml and the student's page (d2lgrade.results.report)
    write_outputs(out, run.results, seed=run.seed, isolation=run.isolation,
                  execution_time=run.elapsed, output="\n".join(run.notes),
                  protections=run.protection_report(),
                  page={"submission": Path(ns.submission).name, "notes": run.notes,
                        "include_after_due_date": not ns.hide_after_due_date})
    from d2lgrade.results.imports import import_problems, summary_line
    from d2lgrade.results.report import use_color
    for note in run.notes:
        print(f"note: {note}")
    if import_problems(run.results):  # told once, before the table of its failed tests
        print(summary_line(import_problems(run.results)))
    print(format_table(run.results, seed=run.seed, verbose=ns.verbose, color=use_color()))
    print(f"graded in {run.elapsed:.1f} s (isolation: {run.isolation}); "
          f"wrote {out / 'results.json'}, {out / 'junit.xml'} and {html_path}")
    return 0


def _cmd_validate(ns: argparse.Namespace) -> int:
    from d2lgrade.course.layout import find_course
    from d2lgrade.course_tools.validate import validate
    report = validate(find_course(ns.course), chapters=ns.chapters, seed=ns.seed,
                      isolation=ns.isolation, mutants=not ns.skip_mutants,
                      compare_isolation=ns.compare_isolation, workers=ns.workers,
                      strict_policies=ns.strict_policies)
    print(report.text())
    return 0 if report.ok else 1


def _cmd_stubs(ns: argparse.Namespace) -> int:
    from d2lgrade.course.layout import find_course
    from d2lgrade.course.stubs import StubError, check_stubs, write_stubs
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
    from d2lgrade.course.layout import find_course
    from d2lgrade.course_tools.release import write_release
    from d2lgrade.course_tools.strip import ReleaseError
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


DESCRIPTION = """Grade a Dive into Deep Learning course (PyTorch edition, chapters 2-10).

Students: d2lgrade grade SUBMISSION. Instructors: grade-batch a class, keep a gradebook, export
an autograder for Gradescope or GitHub Classroom, release the student repository, check
similarity, and prove the graders with validate."""

EXIT_CODES = """exit codes:
  0  done (a low score is still 0: read the report)
  1  a check failed (validate found a problem, stubs --check found drift, no such student)
  2  bad input: unknown option or value, a submission or file that cannot be used
  3  internal error of d2lgrade (please report it)
  130 interrupted (grade-batch keeps finished students: run it again to go on)"""


class _Parser(argparse.ArgumentParser):
    """One clear line (and rc 2) for a bad command line, instead of the usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _chapters_text() -> str:
    try:
        from d2lgrade.course.layout import find_course
        names = sorted(p.name for p in find_course().graders.iterdir()
                       if p.is_dir() and p.name.startswith("ch"))
    except Exception:  # outside a course: the names are in the README
        return "chapters: the folders of the course's graders/ (e.g. ch03_basics)"
    return "chapters: " + ", ".join(names)


def build_parser() -> argparse.ArgumentParser:
    from d2lgrade.version import __version__
    parser = _Parser(prog="d2lgrade", description=DESCRIPTION, epilog=EXIT_CODES,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"d2lgrade {__version__}")
    parser.add_argument("--course", help="Course root (default: found from the current folder)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)
    chapters = _chapters_text()

    g = sub.add_parser("grade", help="Grade one submission (a folder or a zip)",
                       epilog=chapters + "\n\n" + EXIT_CODES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    g.add_argument("submission", help="A folder or a zip with chapter packages (.py files or "
                   "notebooks), e.g. ch03_basics/softmax_regression.py")
    g.add_argument("--out", default="results",
                   help="Folder for results.json, junit.xml and feedback.html (default: results)")
    g.add_argument("--chapters", nargs="+", help="Only these chapters (default: all)")
    g.add_argument("--seed", type=int, help="Seed for the random inputs (default: fresh)")
    g.add_argument("--isolation", choices=("process", "none"), default="process",
                   help="process (default): student code runs in a sandboxed child process; "
                   "none: in this process, for debugging your own code only")
    g.add_argument("--call-timeout", type=float, default=30.0,
                   help="Seconds for one call into student code (tests may allow more)")
    g.add_argument("-v", "--verbose", action="store_true", help="List tests that did not run")
    g.add_argument("--hide-after-due-date", action="store_true",
                   help="Leave after-due-date tests out of feedback.html")
    g.set_defaults(func=_cmd_grade)

    v = sub.add_parser("validate", help="Prove the graders: solutions 100%%, stubs 0, mutants caught",
                       epilog=chapters + "\n\n" + EXIT_CODES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    v.add_argument("--chapters", nargs="+", help="Only these chapters (default: all)")
    v.add_argument("--seed", type=int, default=20261124, help="Seed (default 20261124)")
    v.add_argument("--isolation", choices=("process", "none"), default="process",
                   help="How student code (solutions, stubs, mutants) runs (default: process)")
    v.add_argument("--skip-mutants", action="store_true", help="Only solutions and stubs")
    v.add_argument("--workers", type=int, help="Processes grading mutants in parallel "
                   "(default: the number of cores, at most 4)")
    v.add_argument("--compare-isolation", action="store_true",
                   help="Also grade solutions and stubs with isolation 'none' and compare scores")
    v.add_argument("--strict-policies", action="store_true",
                   help="Fail when a function that looks from-scratch has no from_scratch policy")
    v.set_defaults(func=_cmd_validate)

    s = sub.add_parser("stubs", help="Write assignments/ from solutions/ (or --check for drift)")
    s.add_argument("--check", action="store_true",
                   help="Write nothing; exit 1 when assignments/ differs from solutions/")
    s.set_defaults(func=_cmd_stubs)

    _add_release_parser(sub)  # feedback / release block above
    # --- whole-class commands (grade-batch, export): d2lgrade/batch_cli.py ---
    from d2lgrade.cli.batch import add_commands as add_batch_commands
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

