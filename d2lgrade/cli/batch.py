"""Subcommands for a whole class: ``grade-batch`` and ``export`` (added to ``d2lgrade``)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from d2lgrade.batch.backend import BACKENDS


def _cmd_grade_batch(ns: argparse.Namespace) -> int:
    from d2lgrade.batch import (
        GRADEBOOK,
        HISTOGRAM,
        SUMMARY,
        BatchConfig,
        BatchError,
        run_batch,
    )
    if ns.course:
        os.environ["D2LGRADE_COURSE"] = str(Path(ns.course).resolve())
    cfg = BatchConfig(submissions=Path(ns.submissions), out=Path(ns.out),
                      workers=ns.workers or os.cpu_count() or 1, seed=ns.seed,
                      chapters=ns.chapters, force=ns.force, retry_errors=ns.retry_errors,
                      timeout=ns.timeout, call_timeout=ns.call_timeout, backend=ns.backend,
                      progress=not ns.no_progress, ray_address=ns.address, gpus=ns.gpus,
                      gpu_chapters=ns.gpu_chapters, db=ns.db, roster=ns.roster,
                      deadlines=ns.deadlines, assignment=ns.assignment, due=ns.due,
                      late_policy=ns.late_policy, submitted_at=ns.submitted_at,
                      times_csv=ns.submission_times)
    try:
        info = run_batch(cfg)
    except BatchError as exc:
        print(f"d2lgrade grade-batch: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nd2lgrade grade-batch: interrupted; finished students are kept, run the same "
              "command again to grade the rest", file=sys.stderr)
        return 130
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(info["by_status"].items()))
    print(f"{info['students']} submissions ({statuses}); graded now {info['graded_now']}, "
          f"already done {info['already_done']}; {info['elapsed']:.1f} s; batch seed {info['seed']}")
    if info["skipped"]:
        print(f"not submissions (reported, not graded): {', '.join(info['skipped'])}")
    out = Path(ns.out)
    db = ns.db or out / "gradebook.sqlite"
    print(f"wrote {out / GRADEBOOK}, {out / SUMMARY}, {out / HISTOGRAM}, the gradebook {db} "
          "and <student>/{results.json, junit.xml, feedback.html}")
    return 0


def _open_db(ns):
    from d2lgrade.gradebook.db import Gradebook
    target = ns.db or (Path(ns.out_dir) / "gradebook.sqlite" if ns.out_dir else None)
    if target is None:
        raise ValueError("say which gradebook: --db URL_OR_FILE, or --out-dir DIR of a grade-batch run")
    if "://" not in str(target) and not Path(target).is_file():
        raise ValueError(f"{target}: no gradebook there (grade-batch writes DIR/gradebook.sqlite)")
    return Gradebook(target)


def _one_assignment(gb, wanted: str | None) -> str:
    names = gb.assignments()
    if wanted:
        if wanted not in names:
            raise ValueError(f"no assignment {wanted!r} in the gradebook (it has: "
                             f"{', '.join(names) or 'none'})")
        return wanted
    if len(names) != 1:
        raise ValueError(f"the gradebook has {len(names)} assignments ({', '.join(names)}): "
                         "choose one with --assignment")
    return names[0]


def _cmd_gradebook(ns: argparse.Namespace) -> int:
    from d2lgrade.gradebook import lms, views
    from d2lgrade.gradebook.rows import GradebookError
    try:
        with _open_db(ns) as gb:
            if ns.action == "history":
                found = gb.find_student(ns.student)
                if not found:
                    print(f"d2lgrade gradebook: no student {ns.student!r} (by folder name, id, "
                          "name or e-mail)", file=sys.stderr)
                    return 1
                for student in found:
                    print(views.history_text(gb.history(student, ns.assignment, with_tests=True),
                                             gb.students().get(student)))
                return 0
            assignment = _one_assignment(gb, ns.assignment)
            view = views.class_view(gb, assignment)
            if ns.action == "export":
                text = lms.export_csv(view, ns.format, ns.label)
                missing = lms.unmatched(view, ns.format)
            else:  # csv
                text, missing = views.gradebook_csv(view), []
    except (ValueError, GradebookError) as exc:
        print(f"d2lgrade gradebook: {exc}", file=sys.stderr)
        return 2
    if ns.output and ns.output != "-":
        Path(ns.output).write_text(text, encoding="utf-8")
        print(f"wrote {ns.output} ({len(view.rows)} students, assignment {assignment})")
    else:
        sys.stdout.write(text)
    for s in missing:
        print(f"warning: {s} has no student id or e-mail: the LMS cannot match this row "
              "(grade with --roster)", file=sys.stderr)
    return 0


def _cmd_similarity(ns: argparse.Namespace) -> int:
    from d2lgrade.course_tools.similarity import (
        SimilarityError,
        run_similarity,
        write_report,
    )
    try:
        report = run_similarity(ns.class_dir, boilerplate=ns.boilerplate or ())
        html, js = write_report(report, Path(ns.out), top=ns.top, threshold=ns.threshold)
    except SimilarityError as exc:
        print(f"d2lgrade similarity: {exc}", file=sys.stderr)
        return 2
    print(f"{len(report.students)} submissions, {report.functions_compared} functions compared; "
          f"most similar pairs in {html} (data: {js})")
    for p in report.pairs[:min(ns.top, 5)]:
        print(f"  {p.a} ~ {p.b}: {100 * p.score:.0f} %")
    return 0


def _cmd_export(ns: argparse.Namespace) -> int:
    from d2lgrade.course.layout import find_course
    from d2lgrade.export import ExportError, export_github_classroom, export_gradescope
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
                   help="Regrade the students whose grading failed (timeout, crash, unusable, error); "
                        "'graded' and 'did not import' rows stay")
    b.add_argument("--chapters", nargs="+", help="Chapters of this assignment (recommended)")
    b.add_argument("--seed", type=int, help="Batch seed (default: fresh, or the one DIR records)")
    b.add_argument("--timeout", type=float, default=900.0,
                   help="Wall-time limit for one submission, seconds (default 900)")
    b.add_argument("--call-timeout", type=float, default=30.0,
                   help="Seconds for one call into student code (tests may allow more)")
    b.add_argument("--backend", choices=BACKENDS, default="local",
                   help="Where to grade: worker processes here (local) or a Ray cluster (ray)")
    b.add_argument("--address", help="Ray cluster address (default: a local Ray started here)")
    b.add_argument("--gpus", type=float, default=0.0,
                   help="Ray: GPUs to request for chapters with GPU-tier tests (e.g. 1 or 0.5)")
    b.add_argument("--gpu-chapters", nargs="+",
                   help="Ray: chapters that need a GPU worker (default: found in the graders)")
    b.add_argument("--no-progress", action="store_true", help="No progress output")
    k = b.add_argument_group("gradebook, roster and deadlines")
    k.add_argument("--db", help="Gradebook database: an SQLAlchemy URL (e.g. "
                   "postgresql+psycopg://user@host/course) or an SQLite file "
                   "(default: OUT/gradebook.sqlite). Every grading adds an attempt.")
    k.add_argument("--roster", help="CSV: submission (folder or file name), student_id, name, "
                   "email; adds those columns to the gradebook and lists who is missing")
    k.add_argument("--assignment", help="Name of this assignment in the gradebook (default: "
                   "from --deadlines by chapters, else the chapters joined by '+')")
    k.add_argument("--deadlines", help="TOML file of due dates, extensions and the late policy "
                   "(format: d2lgrade/gradebook/deadlines.py)")
    k.add_argument("--due", help="Due date of this assignment, e.g. '2026-03-01 23:59' (UTC "
                   "unless the deadlines file sets a timezone)")
    k.add_argument("--late-policy", help="none | percent_per_day:10,cap=50 | zero_after:2 "
                   "(days); default: the deadlines file's, else none")
    k.add_argument("--submitted-at", help="One submission time for everyone (default: each "
                   "zip's newest entry, else each folder's newest file)")
    k.add_argument("--submission-times", help="CSV student,submitted_at (from the LMS export)")
    b.set_defaults(func=_cmd_grade_batch)

    gb = sub.add_parser("gradebook", help="Read the gradebook database: a student's history, "
                        "the class CSV, an LMS import file",
                        description="Read the gradebook that grade-batch keeps "
                        "(OUT/gradebook.sqlite, or --db URL).")
    gsub = gb.add_subparsers(dest="action", required=True, metavar="ACTION")

    def _where(p):
        p.add_argument("--db", help="Database URL or SQLite file")
        p.add_argument("--out-dir", help="A grade-batch output folder (its gradebook.sqlite)")
        p.add_argument("--assignment", help="Assignment (needed when the gradebook has several)")
    h = gsub.add_parser("history", help="Every attempt of one student, what changed between them")
    h.add_argument("student", help="Folder name, student id, name or e-mail")
    _where(h)
    h.set_defaults(func=_cmd_gradebook)
    ex = gsub.add_parser("export", help="An LMS import CSV: one row per student, total and "
                         "per chapter (late penalty applied)")
    ex.add_argument("--format", required=True, choices=("canvas", "moodle"))
    ex.add_argument("--label", help="Column name of the total (default: the assignment)")
    ex.add_argument("-o", "--output", help="File to write (default: standard output)")
    _where(ex)
    ex.set_defaults(func=_cmd_gradebook)
    c = gsub.add_parser("csv", help="The gradebook CSV of the latest attempts")
    c.add_argument("-o", "--output", help="File to write (default: standard output)")
    _where(c)
    c.set_defaults(func=_cmd_gradebook, format=None, label=None)

    sm = sub.add_parser("similarity", help="Compare a class's submissions function by function; "
                        "HTML report of the most similar pairs",
                        description="Fingerprints each function (copydetect); the stubs' code "
                        "and any --boilerplate file (e.g. the book's code) do not count.")
    sm.add_argument("class_dir", help="Folder with one entry (folder or zip) per student")
    sm.add_argument("--out", default="similarity", help="Folder for similarity.html and "
                    "similarity.json (default: ./similarity)")
    sm.add_argument("--boilerplate", nargs="+", help="More code that does not count (.py, "
                    ".ipynb or .md files)")
    sm.add_argument("--top", type=int, default=20, help="Pairs shown (default 20)")
    sm.add_argument("--threshold", type=float, default=0.0,
                    help="Only pairs at least this similar (0-1)")
    sm.set_defaults(func=_cmd_similarity)

    e = sub.add_parser("export", help="Build an autograder for Gradescope or GitHub Classroom",
                       description="Build the autograder a platform runs on each student's "
                       "push or upload (the hidden tests and the reference stay inside it).")
    esub = e.add_subparsers(dest="platform", required=True, metavar="PLATFORM")

    def _common(p):
        p.add_argument("--chapters", nargs="+", required=True, help="Chapters of this assignment")
        p.add_argument("--seed", type=int, default=None,
                       help="Seed for the random inputs (default: fixed when exporting)")
        p.add_argument("--call-timeout", type=float, default=30.0,
                       help="Seconds for one call into student code (default 30)")
    gs = esub.add_parser("gradescope", help="The autograder zip to upload to Gradescope",
                         description="Writes the zip (setup.sh, run_autograder, the course); "
                         "each run writes /autograder/results/results.json and feedback.html.")
    gs.add_argument("dest", help="The zip to write")
    _common(gs)
    gs.set_defaults(func=_cmd_export, grader_repo="")
    gc = esub.add_parser("github-classroom", help="A template repository folder with the "
                         "autograding workflow",
                         description="Writes a template repository whose workflow grades "
                         "every push and reports points to GitHub Classroom.")
    gc.add_argument("dest", help="The folder to write")
    _common(gc)
    gc.add_argument("--grader-repo", default="",
                    help="owner/name of the private repository with the course (its graders)")
    gc.set_defaults(func=_cmd_export)
