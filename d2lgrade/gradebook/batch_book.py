"""The gradebook of one ``grade-batch`` run: the bridge between the batch and the database.

The batch (``d2lgrade.batch.scheduler``) calls three things, all in the grading parent (the Ray driver
or the local scheduler), never in a worker:

* ``BatchBook.open(...)`` before grading: the database (SQLite ``DIR/gradebook.sqlite`` unless a
  URL is given), the roster, the deadlines and the submission times; one ``batches`` row.
* ``lateness(task)`` per task before it is sent: when it was handed in and what that means for
  its due date, so the worker can print it on the student's feedback page.
* ``record(marker)`` per finished student: one new attempt, committed at once (a kill -9 of the
  batch loses at most the student being graded; a resumed batch records the markers it finds
  and skips those already stored).

``write_views()`` then writes ``gradebook.csv`` and ``summary.md`` as views of the database
(latest attempt per student of this assignment).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from d2lgrade.gradebook import views
from d2lgrade.gradebook.db import Gradebook
from d2lgrade.gradebook.deadlines import (
    Deadlines,
    Lateness,
    parse_time,
    read_times_csv,
    submission_time,
)
from d2lgrade.gradebook.record import Outcome, build
from d2lgrade.gradebook.roster import Roster, RosterMatch
from d2lgrade.gradebook.rows import GradedSubmission, StudentInfo

DEFAULT_DB = "gradebook.sqlite"


@dataclass
class BatchBook:
    gb: Gradebook
    batch_id: int
    assignment: str
    out: Path
    deadlines: Deadlines
    roster: Roster | None = None
    match: RosterMatch = field(default_factory=RosterMatch)
    times: dict[str, datetime] = field(default_factory=dict)
    submitted_at: datetime | None = None
    sources: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def open(cls, *, out: Path, entries, chapters: list[str] | None, seed: int,
             submissions: Path, db: str | None = None, roster: str | os.PathLike | None = None,
             deadlines: str | os.PathLike | None = None, assignment: str | None = None,
             due: str | None = None, late_policy: str | None = None,
             submitted_at: str | None = None, times_csv: str | os.PathLike | None = None,
             options: dict | None = None) -> "BatchBook":
        """Everything is checked before anything is graded: a bad roster, deadline file or
        time raises ``ValueError`` (``RosterError``/``DeadlineError``) with one clear line."""
        dl = Deadlines.load(deadlines) if deadlines else Deadlines()
        name = assignment or dl.assignment_for(chapters) or ("+".join(sorted(chapters))
                                                              if chapters else "course")
        if due or late_policy:
            dl = dl.with_overrides(name, due=due, policy=late_policy)
        ros = Roster.load(roster) if roster else None
        times = read_times_csv(times_csv, dl.tz) if times_csv else {}
        when = parse_time(submitted_at, dl.tz) if submitted_at else None
        gb = Gradebook(db or out / DEFAULT_DB)
        batch_id = gb.start_batch(assignment=name, chapters=chapters or (), batch_seed=seed,
                                  submissions_dir=str(submissions), out_dir=str(out),
                                  options=options)
        book = cls(gb, batch_id, name, out, dl, ros, times=times, submitted_at=when)
        graded = [e for e in entries if not e.stray]
        for e in entries:
            if e.stray:
                gb.record_skipped(batch_id, e.path.name, e.problem)
            book.sources[e.student] = e.path
        if ros is not None:
            book.match = ros.match({e.student: e.path.name for e in graded})
            infos = [entry.info(s) for s, entry in book.match.matched.items()]
            # roster rows without a submission still become students (they are listed)
            infos += [r.info(r.submission) for r in book.match.no_submission]
            infos += [StudentInfo(s) for s in book.match.not_in_roster]
        else:
            infos = [StudentInfo(e.student) for e in graded]
        gb.upsert_students(infos)
        return book

    # -- per student ---------------------------------------------------------------------

    def _who(self, student: str) -> tuple[str, ...]:
        entry = self.match.matched.get(student)
        return (student, entry.student_id, entry.email) if entry else (student,)

    def lateness(self, student: str) -> tuple[Lateness, str]:
        """(lateness, where the time came from: cli, csv, zip, file or '')."""
        path = self.sources.get(student)
        given, source = self.times.get(student) or self.submitted_at, ""
        if student in self.times:
            source = "csv"
        when, found = submission_time(path, given, tz=self.deadlines.tz) if path else (given, "")
        source = source or found
        return self.deadlines.assess(self.assignment, when, *self._who(student)), source

    def record(self, marker: dict) -> GradedSubmission:
        """Store a finished student's marker as their next attempt (idempotent per marker)."""
        lateness, source = self.lateness(marker["student"])
        outcome = Outcome(student=marker["student"], status=marker["status"],
                          results=marker.get("results") or [], message=marker.get("message", ""),
                          notes=list(marker.get("notes") or []),
                          chapters=list(marker.get("chapters") or []), seed=marker.get("seed"),
                          fingerprint=marker.get("fingerprint", ""),
                          source=marker.get("source", ""),
                          elapsed_s=float(marker.get("elapsed_s") or 0.0),
                          finished_at=float(marker.get("finished_at") or 0.0),
                          output_dir=str(self.out / marker["student"]))
        return self.gb.record(build(outcome, assignment=self.assignment, batch_id=self.batch_id,
                                    lateness=lateness, submitted_source=source))

    # -- class files ---------------------------------------------------------------------

    def view(self) -> views.ClassView:
        students = [s for s in self.sources if s not in self._skipped_names()]
        if self.roster is not None:
            students += [r.submission for r in self.match.no_submission]
        return views.class_view(self.gb, self.assignment, students_only=students,
                                batch_id=self.batch_id, roster_given=self.roster is not None)

    def _skipped_names(self) -> set[str]:
        names = {n for n, _ in self.gb.skipped(self.batch_id)}
        return {s for s, p in self.sources.items() if p.name in names}

    def write_views(self, write) -> views.ClassView:
        """``gradebook.csv`` and ``summary.md`` from the database; ``write(name, text)``."""
        view = self.view()
        write("gradebook.csv", views.gradebook_csv(view))
        write("summary.md", views.summary_md(view))
        return view

    def report_roster(self, stream=sys.stderr) -> None:
        if self.roster is None:
            return
        for s in self.match.not_in_roster:
            print(f"roster: {s} has a submission but is not in {self.roster.source}", file=stream)
        for r in self.match.no_submission:
            print(f"roster: no submission for {r.submission}"
                  + (f" ({r.name})" if r.name else ""), file=stream)

    def close(self) -> None:
        self.gb.close()

