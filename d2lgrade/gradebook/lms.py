"""Grades for a learning-management system: one row per student, per chapter and total.

Both files hold the scores after the late penalty (what the student gets) and leave the
cells of a roster student without a submission empty (an LMS leaves an empty cell alone).

**Canvas** (Grades > Import): the columns of Canvas's own gradebook export,
``Student, ID, SIS User ID, SIS Login ID, Section``, then one column per grade, and a
second row ``    Points Possible`` (four leading spaces, as Canvas writes it) with each
column's maximum. Canvas finds the student by ``ID`` (its user id: the roster's ``lms_id``)
or ``SIS User ID`` (the roster's ``student_id``) or ``SIS Login ID`` (here the e-mail); a
column name that matches no assignment creates one, with the maximum from that row.

**Moodle** (Grades > Import > CSV file): the identity columns of Moodle's own export,
``First name, Last name, ID number, Email address``, then one column per grade. At import
you map ``Email address`` (or ``ID number``) to the user and each grade column to a grade
item; Moodle reads no maximum from the file (a grade item's maximum is set in Moodle;
``maxima`` returns what to set it to).
"""
from __future__ import annotations

import csv
import io

from d2lgrade.gradebook.views import ClassView, fmt

FORMATS = ("canvas", "moodle")
CANVAS_IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_POINTS_POSSIBLE = "    Points Possible"
MOODLE_IDENTITY = ["First name", "Last name", "ID number", "Email address"]


def grade_columns(view: ClassView, label: str | None = None) -> list[tuple[str, float]]:
    """(column name, maximum): one per chapter, then the total."""
    label = label or view.assignment
    cols = [(f"{label} {c}", view.maxima.get(c, 0.0)) for c in view.chapters]
    return cols + [(f"{label} total", view.max_total)]


def _scores(view: ClassView, row) -> list[str]:
    return [fmt(view.chapter_cell(row, c)) for c in view.chapters] + [fmt(row.score)]


def _split_name(name: str) -> tuple[str, str]:
    first, _, last = name.strip().rpartition(" ")
    return (first, last) if first else (last, "")


def canvas_csv(view: ClassView, label: str | None = None) -> str:
    cols = grade_columns(view, label)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CANVAS_IDENTITY + [name for name, _ in cols])
    w.writerow([CANVAS_POINTS_POSSIBLE, "", "", "", ""] + [fmt(m) for _, m in cols])
    for r in view.rows:
        i = view.info(r.student)
        w.writerow([i.name or r.student, i.lms_id, i.student_id, i.email, i.section,
                    *_scores(view, r)])
    for i in view.no_submission:
        w.writerow([i.name or i.student, i.lms_id, i.student_id, i.email, i.section,
                    *["" for _ in cols]])
    return buf.getvalue()


def moodle_csv(view: ClassView, label: str | None = None) -> str:
    cols = grade_columns(view, label)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(MOODLE_IDENTITY + [name for name, _ in cols])
    for r in view.rows:
        i = view.info(r.student)
        first, last = _split_name(i.name or r.student)
        w.writerow([first, last, i.student_id, i.email, *_scores(view, r)])
    for i in view.no_submission:
        first, last = _split_name(i.name or i.student)
        w.writerow([first, last, i.student_id, i.email, *["" for _ in cols]])
    return buf.getvalue()


def export_csv(view: ClassView, fmt_name: str, label: str | None = None) -> str:
    if fmt_name == "canvas":
        return canvas_csv(view, label)
    if fmt_name == "moodle":
        return moodle_csv(view, label)
    raise ValueError(f"unknown LMS format {fmt_name!r}: use {' or '.join(FORMATS)}")


def unmatched(view: ClassView, fmt_name: str) -> list[str]:
    """Students the LMS cannot match (no id or e-mail for it to find them by)."""
    if fmt_name == "canvas":
        return [r.student for r in view.rows
                if not (view.info(r.student).lms_id or view.info(r.student).student_id
                        or view.info(r.student).email)]
    return [r.student for r in view.rows
            if not (view.info(r.student).student_id or view.info(r.student).email)]
