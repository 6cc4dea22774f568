"""What the gradebook shows, read from the database: the class view, its CSV, the summary,
and one student's history.

``class_view`` picks the latest attempt of every student of one assignment and works out
the class's maximum per chapter from the submissions whose tests ran, so a row that could
not be graded still has its maximum (and reads 0 of it, with the reason beside it).
Statistics count only submissions that imported (``IMPORTED``).
"""
from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from dataclasses import dataclass, field

from d2lgrade.gradebook import IMPORTED, STATUS_TEXT
from d2lgrade.gradebook.db import Gradebook
from d2lgrade.gradebook.rows import GradedSubmission, StudentInfo

#: Statuses whose tests ran (so their chapter maxima are the class's).
TESTS_RAN = frozenset({"graded", "did_not_import"})


def fmt(x: float | None) -> str:
    """A score as a person writes it: 12, 12.5, 12.25 (never 1e+01)."""
    if x is None:
        return ""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def pct(score: float, max_score: float) -> float:
    return 100.0 * score / max_score if max_score else 0.0


@dataclass
class ClassView:
    assignment: str
    rows: list[GradedSubmission]
    students: dict[str, StudentInfo]
    chapters: list[str]
    maxima: dict[str, float]
    #: roster rows without a submission
    no_submission: list[StudentInfo] = field(default_factory=list)
    #: submissions the roster does not list (only when a roster was given)
    not_in_roster: list[str] = field(default_factory=list)
    #: entries of the class folder that are not submissions: (name, reason)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seed: int | None = None

    @property
    def max_total(self) -> float:
        return sum(self.maxima.values())

    def info(self, student: str) -> StudentInfo:
        return self.students.get(student) or StudentInfo(student)

    def chapter_cell(self, row: GradedSubmission, chapter: str) -> float:
        cs = row.chapter_scores.get(chapter)
        return cs.score if cs is not None else 0.0

    def max_of(self, row: GradedSubmission) -> float:
        """The row's maximum: its own when its tests ran, else the class's."""
        return row.max_score if row.status in TESTS_RAN and row.max_score else self.max_total

    def imported(self) -> list[GradedSubmission]:
        return [r for r in self.rows if r.status in IMPORTED]


def class_view(gb: Gradebook, assignment: str, *, students_only=None,
               batch_id: int | None = None, roster_given: bool = False) -> ClassView:
    """The latest attempt per student of ``assignment`` (only ``students_only`` if given)."""
    rows = gb.latest(assignment, with_tests=True, students_only=students_only)
    infos = gb.students()
    chapters = sorted({c for r in rows for c in r.chapter_scores} | {c for r in rows for c in r.chapters})
    maxima = {c: max((r.chapter_scores[c].max_score for r in rows
                      if r.status in TESTS_RAN and c in r.chapter_scores), default=0.0)
              for c in chapters}
    have = {r.student for r in rows}
    no_sub = [i for i in infos.values() if i.in_roster and i.student not in have]
    not_in = [r.student for r in rows if roster_given and not infos.get(r.student, StudentInfo(
        r.student)).in_roster]
    batch = gb.batch(batch_id) if batch_id is not None else None
    return ClassView(assignment, rows, infos, chapters, maxima, no_sub, not_in,
                     gb.skipped(batch_id) if batch_id is not None else [],
                     batch["batch_seed"] if batch else None)


# -- the gradebook CSV ---------------------------------------------------------------------

GRADEBOOK_COLUMNS = ["student", "student_id", "name", "email", "status", "attempt",
                     "submitted_at", "submitted_from", "due_at", "late_days", "penalty_pct"]


def gradebook_csv(view: ClassView) -> str:
    """One row per student (latest attempt): roster columns, per-chapter score and maximum,
    total before and after the late penalty. ``problem`` holds only real errors (why a
    submission is not fully graded); harmless conversion notes go to ``notes``."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    chapter_cols = [x for c in view.chapters for x in (c, f"{c} max")]
    w.writerow([*GRADEBOOK_COLUMNS, *chapter_cols, "raw_score", "score", "max_score",
                "percent", "seed", "problem", "notes"])
    for r in view.rows:
        i = view.info(r.student)
        max_score = view.max_of(r)
        cells = [x for c in view.chapters
                 for x in (fmt(view.chapter_cell(r, c)), fmt(view.maxima.get(c, 0.0)))]
        w.writerow([r.student, i.student_id, i.name, i.email, r.status, r.attempt,
                    r.submitted_at.isoformat() if r.submitted_at else "", r.submitted_source,
                    r.due_at.isoformat() if r.due_at else "", r.late_days, fmt(r.penalty_pct),
                    *cells, fmt(r.raw_score), fmt(r.score), fmt(max_score),
                    f"{pct(r.score, max_score):.1f}", "" if r.seed is None else r.seed,
                    _one_line(r.problem), _one_line("; ".join(r.notes))])
    for i in view.no_submission:
        w.writerow([i.student, i.student_id, i.name, i.email, "no_submission", "", "", "", "",
                    "", "", *["" for _ in chapter_cols], "", "", fmt(view.max_total), "", "",
                    "no submission found for this roster entry", ""])
    return buf.getvalue()


def _one_line(text: str, limit: int = 500) -> str:
    return " ".join((text or "").split())[:limit]


# -- the summary ----------------------------------------------------------------------------

def summary_md(view: ClassView, top: int = 15) -> str:
    rows = view.rows
    imported = view.imported()
    lines = ["# Batch summary", "", f"- assignment: {view.assignment}",
             f"- submissions: {len(rows)}", f"- graded: {len(imported)}"]
    for status, n in sorted(Counter(r.status for r in rows if r.status not in IMPORTED).items()):
        lines.append(f"- {STATUS_TEXT.get(status, status)}: {n}")
    late = [r for r in rows if r.late]
    if late:
        lines.append(f"- late: {len(late)}")
    if view.skipped:
        lines.append(f"- not submissions (skipped): {len(view.skipped)}")
    if view.no_submission:
        lines.append(f"- roster entries without a submission: {len(view.no_submission)}")
    if view.not_in_roster:
        lines.append(f"- submissions not in the roster: {len(view.not_in_roster)}")
    if view.seed is not None:
        lines.append(f"- batch seed: {view.seed} (each student's seed is derived from it and the name)")
    if imported:
        pcts = [pct(r.score, view.max_of(r)) for r in imported]
        lines.append(f"- score of the {len(imported)} that imported: mean "
                     f"{statistics.mean(pcts):.1f} %, median {statistics.median(pcts):.1f} %, "
                     f"min {min(pcts):.1f} %, max {max(pcts):.1f} %")
    if view.chapters and imported:
        lines += ["", "## Chapters (submissions that imported)", "",
                  "| chapter | maximum | mean | median |", "| --- | ---: | ---: | ---: |"]
        for c in view.chapters:
            scores = [view.chapter_cell(r, c) for r in imported]
            lines.append(f"| {c} | {fmt(view.maxima.get(c, 0.0))} | {statistics.mean(scores):.1f} "
                         f"| {fmt(statistics.median(scores))} |")
    fails = Counter(t.test for r in imported for t in r.tests if t.status == "failed")
    lines += ["", "## Tests most students fail (submissions that imported)", ""]
    if fails:
        lines += ["| test | students failing | share |", "| --- | ---: | ---: |"]
        for name, n in sorted(fails.items(), key=lambda kv: (-kv[1], kv[0]))[:top]:
            lines.append(f"| `{name}` | {n} | {100.0 * n / len(imported):.0f} % |")
    else:
        lines.append("No submission that imported failed a test." if imported
                     else "No submission imported.")
    problems = [r for r in rows if r.status not in IMPORTED]
    if problems:
        lines += ["", "## Not graded or not fully graded", "",
                  "| student | status | reason |", "| --- | --- | --- |"]
        for r in problems:
            lines.append(f"| {r.student} | {STATUS_TEXT.get(r.status, r.status)} | "
                         f"{_cell(r.problem)} |")
    if late:
        lines += ["", "## Late submissions", "",
                  "| student | submitted | due | days late | penalty | extension |",
                  "| --- | --- | --- | ---: | ---: | --- |"]
        for r in late:
            lines.append(f"| {r.student} | {_when(r.submitted_at)} | {_when(r.due_at)} | "
                         f"{r.late_days} | {fmt(r.penalty_pct)} % | {_cell(r.extension)} |")
    extended = [r for r in rows if r.extension and not r.late]
    if extended:
        lines += ["", "## On time with an extension", ""]
        lines += [f"- {r.student}: {r.extension}" for r in extended]
    if view.no_submission or view.not_in_roster:
        lines += ["", "## Roster", ""]
        lines += [f"- no submission: {i.student}" + (f" ({i.name})" if i.name else "")
                  for i in view.no_submission]
        lines += [f"- not in the roster: {s}" for s in view.not_in_roster]
    if view.skipped:
        lines += ["", "## Not submissions (not graded)", ""]
        lines += [f"- `{name}`: {reason}" for name, reason in view.skipped]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return _one_line(text, 300).replace("|", "\\|")


def _when(t) -> str:
    return t.isoformat(sep=" ", timespec="minutes") if t else "unknown"


# -- a student's history ------------------------------------------------------------------

def history_text(subs: list[GradedSubmission], info: StudentInfo | None = None) -> str:
    """Every attempt of one student, and which tests changed between attempts."""
    if not subs:
        return "no graded submission recorded\n"
    who = subs[0].student
    head = who
    if info is not None and (info.name or info.student_id or info.email):
        head += " (" + ", ".join(x for x in (info.name, info.student_id, info.email) if x) + ")"
    lines = [head, ""]
    previous: dict[str, GradedSubmission] = {}
    for s in subs:
        late = (f", {s.late_days} day{'' if s.late_days == 1 else 's'} late, "
                f"-{fmt(s.penalty_pct)} %" if s.late else "")
        ext = f", {s.extension}" if s.extension else ""
        lines.append(f"{s.assignment} attempt {s.attempt}: {STATUS_TEXT.get(s.status, s.status)}, "
                     f"{fmt(s.score)}/{fmt(s.max_score)} (raw {fmt(s.raw_score)}{late}{ext}); "
                     f"graded {_when(s.graded_at)}, submitted {_when(s.submitted_at)}"
                     f"{' (' + s.submitted_source + ')' if s.submitted_source else ''}, "
                     f"seed {s.seed}")
        if s.problem:
            label = STATUS_TEXT.get(s.status, s.status)
            text = s.problem if s.problem.startswith(label) else f"{label}: {s.problem}"
            lines.append(f"    {_one_line(text, 400)}")
        before = previous.get(s.assignment)
        if before is not None and before.tests and s.tests:
            old = {t.test: t.status for t in before.tests}
            fixed = sorted(t.test for t in s.tests if t.status == "passed"
                           and old.get(t.test) not in (None, "passed"))
            broke = sorted(t.test for t in s.tests if t.status == "failed"
                           and old.get(t.test) == "passed")
            if fixed:
                lines.append(f"    now passing: {', '.join(fixed)}")
            if broke:
                lines.append(f"    now failing: {', '.join(broke)}")
        previous[s.assignment] = s
    return "\n".join(lines) + "\n"
