"""From one grading's outcome to its gradebook record: status, import problems, per-chapter
scores, lateness and penalty.

This is the one place that decides what a submission's gradebook status is:

* ``graded``: every module imported and the tests ran;
* ``did_not_import``: the tests ran, but some module of the submission could not be
  imported (``imports``); its own tests fail, the other modules' tests count as usual;
* anything the batch reported instead (``unusable``, ``timeout``, ``crashed``, ``error``).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone

from d2lgrade.gradebook.deadlines import Lateness
from d2lgrade.gradebook.rows import ChapterScore, GradedSubmission, TestRow
from d2lgrade.results.imports import ImportProblem, import_problems, merge, summary_line


@dataclass
class Outcome:
    """What grading one student produced (the batch's marker, in plain fields)."""
    student: str
    status: str                      # the batch's status: graded / unusable / timeout / ...
    results: list[dict] = field(default_factory=list)   # TestResult.to_dict() records
    message: str = ""
    notes: list[str] = field(default_factory=list)
    chapters: list[str] = field(default_factory=list)
    seed: int | None = None
    fingerprint: str = ""
    source: str = ""
    elapsed_s: float = 0.0
    finished_at: float = 0.0         # time.time() when grading ended
    output_dir: str = ""
    syntax: list[ImportProblem] = field(default_factory=list)  # from imports.syntax_problems


def record_key(assignment: str, o: Outcome) -> str:
    """One grading of one submission: the same marker found again by a resumed or repeated
    batch (another batch row) is the same attempt, not a new one."""
    return f"{assignment}/{o.student}/{o.fingerprint}/{o.seed}/{o.finished_at:.6f}"


def chapter_totals(tests: list[TestRow]) -> "OrderedDict[str, tuple[float, float]]":
    out: OrderedDict[str, list[float]] = OrderedDict()
    for t in sorted(tests, key=lambda t: t.chapter):
        acc = out.setdefault(t.chapter, [0.0, 0.0])
        acc[0] += t.score
        acc[1] += t.max_score
    return OrderedDict((c, (s, m)) for c, (s, m) in out.items())


def build(o: Outcome, *, assignment: str, batch_id: int | None = None,
          lateness: Lateness | None = None, submitted_source: str = "") -> GradedSubmission:
    tests = [TestRow.from_result(r) for r in o.results]
    problems = merge(o.syntax, import_problems(o.results)) if o.status == "graded" else []
    status, problem = o.status, o.message
    if problems:
        status, problem = "did_not_import", summary_line(problems)
    elif status == "graded":
        problem = ""
    lateness = lateness or Lateness(None, None)
    factor = lateness.factor()
    chapters = chapter_totals(tests)
    raw = sum(s for s, _ in chapters.values())
    return GradedSubmission(
        student=o.student, assignment=assignment, status=status,
        record_key=record_key(assignment, o), chapters=list(o.chapters), source=o.source,
        fingerprint=o.fingerprint, submitted_at=lateness.submitted_at,
        submitted_source=submitted_source if lateness.submitted_at else "",
        graded_at=datetime.fromtimestamp(o.finished_at, timezone.utc) if o.finished_at else None,
        seed=o.seed, problem=problem, notes=list(o.notes),
        import_errors=[p.to_dict() for p in problems], raw_score=raw,
        max_score=sum(m for _, m in chapters.values()), due_at=lateness.due_at,
        extension=lateness.extension, late_seconds=lateness.late_seconds,
        late_days=lateness.late_days, penalty_pct=lateness.penalty_pct,
        policy=lateness.policy if lateness.due_at else "", score=raw * factor,
        elapsed_s=o.elapsed_s, output_dir=o.output_dir, batch_id=batch_id,
        chapter_scores={c: ChapterScore(s, m, s * factor) for c, (s, m) in chapters.items()},
        tests=tests)
