"""The gradebook database: every graded submission, kept for good.

One SQLite file beside the batch output by default (``gradebook.sqlite``); any SQLAlchemy
URL instead (``postgresql+psycopg://user@host/db``), with the same code and schema.

Rules:

* **Regrading adds a row, never overwrites.** Each recorded submission gets the next
  ``attempt`` number of its student and assignment; views read the latest attempt, and
  ``history`` shows them all.
* **One transaction per submission** (its row, its chapter scores, its test results), so a
  batch killed at any moment (SIGKILL included) leaves every submission either wholly
  recorded or not at all. SQLite runs with ``synchronous=FULL`` and the rollback journal:
  a committed submission is in the one database file, with no side file to lose.
* **Recording is idempotent.** A submission carries a ``record_key`` (assignment, student,
  fingerprint, seed and the time its grading finished); recording the same key again returns the
  existing row, so a resumed batch can record every finished student without duplicates.

Times are stored as ISO 8601 text in UTC (``2026-03-01T22:59:00+00:00``): the same on every
database, and they sort.

The tables are in ``schema``, the records in ``rows``; this module is the ``Gradebook``.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Iterable

import sqlalchemy as sa

from d2lgrade.gradebook.rows import (
    ChapterScore,
    GradebookError,
    GradedSubmission,
    StudentInfo,
    TestRow,
    database_url,
    now_utc,
    parse_utc,
    utc_text,
)
from d2lgrade.gradebook.schema import (
    MESSAGE_CHARS,
    SCHEMA_VERSION,
    batches,
    chapter_scores,
    chunks,
    meta_table,
    metadata,
    safe_url,
    skipped_entries,
    sqlite_pragmas,
    students,
    submissions,
    test_results,
)


class Gradebook:
    """The gradebook database (use as a context manager, or call ``close``)."""

    def __init__(self, target: str | os.PathLike):
        self.url = database_url(target)
        try:
            if self.url.startswith("sqlite:"):
                path = sa.engine.make_url(self.url).database
                if path:
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                self.engine = sa.create_engine(self.url, connect_args={"timeout": 30})
                sa.event.listen(self.engine, "connect", sqlite_pragmas)
            else:
                self.engine = sa.create_engine(self.url, pool_pre_ping=True)
            metadata.create_all(self.engine)
            self._check_version()
        except sa.exc.ArgumentError as exc:
            raise GradebookError(f"{safe_url(self.url)}: not a database URL ({exc})") from None
        except ModuleNotFoundError as exc:
            raise GradebookError(f"{safe_url(self.url)}: the database driver {exc.name!r} is not "
                                 "installed (PostgreSQL: pip install 'psycopg[binary]')") from None
        except sa.exc.SQLAlchemyError as exc:
            raise GradebookError(f"{safe_url(self.url)}: cannot open the gradebook "
                                 f"({type(exc).__name__}: {str(exc).splitlines()[0]})") from None

    def __enter__(self) -> "Gradebook":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()

    def _check_version(self) -> None:
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(meta_table.c.value)
                               .where(meta_table.c.key == "schema_version")).first()
            if row is None:
                conn.execute(meta_table.insert().values(key="schema_version",
                                                        value=str(SCHEMA_VERSION)))
            elif int(row.value) != SCHEMA_VERSION:
                raise GradebookError(f"{safe_url(self.url)} has gradebook schema version "
                                     f"{row.value}; this d2lgrade reads version {SCHEMA_VERSION}")

    # -- writing ------------------------------------------------------------------------

    def start_batch(self, *, assignment: str, chapters: Iterable[str] = (),
                    batch_seed: int | None = None, submissions_dir: str = "",
                    out_dir: str = "", options: dict | None = None) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(batches.insert().values(
                created_at=utc_text(now_utc()), assignment=assignment,
                chapters=json.dumps(sorted(chapters)), batch_seed=batch_seed,
                submissions_dir=submissions_dir, out_dir=out_dir,
                options=json.dumps(options or {}, sort_keys=True, default=str)))
            return int(result.inserted_primary_key[0])

    def record_skipped(self, batch_id: int, name: str, reason: str) -> None:
        """A file of the class folder that is not a submission (reported, never graded)."""
        with self.engine.begin() as conn:
            exists = conn.execute(sa.select(skipped_entries.c.name).where(
                skipped_entries.c.batch_id == batch_id, skipped_entries.c.name == name)).first()
            if exists is None:
                conn.execute(skipped_entries.insert().values(batch_id=batch_id, name=name,
                                                             reason=reason))

    def upsert_students(self, infos: Iterable[StudentInfo]) -> None:
        """Add or update students (a roster's fields win over empty ones)."""
        stamp = utc_text(now_utc())
        with self.engine.begin() as conn:
            for info in infos:
                values = {k: v for k, v in asdict(info).items() if k != "student"}
                old = conn.execute(sa.select(students).where(
                    students.c.student == info.student)).first()
                if old is None:
                    conn.execute(students.insert().values(student=info.student,
                                                          updated_at=stamp, **values))
                else:
                    keep = {k: v for k, v in values.items() if v or k == "in_roster"}
                    if info.in_roster or not old.in_roster:
                        conn.execute(students.update().where(students.c.student == info.student)
                                     .values(updated_at=stamp, **keep))

    def record(self, sub: GradedSubmission) -> GradedSubmission:
        """Store one graded submission as the student's next attempt (or find it stored).

        Returns the stored submission with ``id`` and ``attempt`` set.
        """
        with self.engine.begin() as conn:
            found = conn.execute(sa.select(submissions.c.id, submissions.c.attempt).where(
                submissions.c.record_key == sub.record_key)).first()
            if found is not None:
                sub.id, sub.attempt = found.id, found.attempt
                return sub
            if conn.execute(sa.select(students.c.student).where(
                    students.c.student == sub.student)).first() is None:
                conn.execute(students.insert().values(student=sub.student,
                                                      updated_at=utc_text(now_utc())))
            last = conn.execute(sa.select(sa.func.max(submissions.c.attempt)).where(
                submissions.c.student == sub.student,
                submissions.c.assignment == sub.assignment)).scalar()
            sub.attempt = (last or 0) + 1
            sub.graded_at = sub.graded_at or now_utc()
            result = conn.execute(submissions.insert().values(
                record_key=sub.record_key, batch_id=sub.batch_id, student=sub.student,
                assignment=sub.assignment, attempt=sub.attempt,
                chapters=json.dumps(list(sub.chapters)), source=sub.source,
                fingerprint=sub.fingerprint, submitted_at=utc_text(sub.submitted_at),
                submitted_source=sub.submitted_source, graded_at=utc_text(sub.graded_at),
                seed=sub.seed, status=sub.status, problem=sub.problem,
                notes=json.dumps(sub.notes), import_errors=json.dumps(sub.import_errors),
                raw_score=sub.raw_score, max_score=sub.max_score, due_at=utc_text(sub.due_at),
                extension=sub.extension, late_seconds=sub.late_seconds,
                late_days=sub.late_days, penalty_pct=sub.penalty_pct, policy=sub.policy,
                score=sub.score, elapsed_s=sub.elapsed_s, output_dir=sub.output_dir))
            sub.id = int(result.inserted_primary_key[0])
            if sub.chapter_scores:
                conn.execute(chapter_scores.insert(), [
                    {"submission_id": sub.id, "chapter": c, "raw_score": cs.raw_score,
                     "max_score": cs.max_score, "score": cs.score}
                    for c, cs in sub.chapter_scores.items()])
            if sub.tests:
                conn.execute(test_results.insert(), [
                    {**asdict(t), "submission_id": sub.id, "message": t.message[:MESSAGE_CHARS]}
                    for t in sub.tests])
        return sub

    # -- reading ------------------------------------------------------------------------

    def _load(self, conn, rows, with_tests: bool) -> list[GradedSubmission]:
        rows = list(rows)
        ids = [r.id for r in rows]
        chapters: dict[int, dict[str, ChapterScore]] = {i: {} for i in ids}
        tests: dict[int, list[TestRow]] = {i: [] for i in ids}
        for chunk in chunks(ids, 500):
            for c in conn.execute(sa.select(chapter_scores).where(
                    chapter_scores.c.submission_id.in_(chunk)).order_by(chapter_scores.c.chapter)):
                chapters[c.submission_id][c.chapter] = ChapterScore(c.raw_score, c.max_score,
                                                                    c.score)
            if with_tests:
                for t in conn.execute(sa.select(test_results).where(
                        test_results.c.submission_id.in_(chunk)).order_by(test_results.c.id)):
                    d = t._asdict()
                    d.pop("id"), d.pop("submission_id")
                    tests[t.submission_id].append(TestRow(**d))
        out = []
        for r in rows:
            d = r._asdict()
            for key in ("chapters", "notes", "import_errors"):
                d[key] = json.loads(d[key])
            for key in ("submitted_at", "graded_at", "due_at"):
                d[key] = parse_utc(d[key])
            out.append(GradedSubmission(**d, chapter_scores=chapters[r.id], tests=tests[r.id]))
        return out

    def latest(self, assignment: str | None = None, *, with_tests: bool = False,
               students_only: Iterable[str] | None = None) -> list[GradedSubmission]:
        """The latest attempt of every student (of one assignment, or of each), by student."""
        s = submissions
        newest = (sa.select(s.c.student, s.c.assignment, sa.func.max(s.c.attempt).label("a"))
                  .group_by(s.c.student, s.c.assignment))
        if assignment is not None:
            newest = newest.where(s.c.assignment == assignment)
        newest = newest.subquery()
        query = (sa.select(s).join(newest, sa.and_(s.c.student == newest.c.student,
                                                   s.c.assignment == newest.c.assignment,
                                                   s.c.attempt == newest.c.a))
                 .order_by(s.c.assignment, s.c.student))
        if students_only is not None:
            query = query.where(s.c.student.in_(list(students_only)))
        with self.engine.connect() as conn:
            return self._load(conn, conn.execute(query), with_tests)

    def history(self, student: str, assignment: str | None = None, *,
                with_tests: bool = False) -> list[GradedSubmission]:
        """Every recorded attempt of one student, oldest first."""
        query = sa.select(submissions).where(submissions.c.student == student)
        if assignment is not None:
            query = query.where(submissions.c.assignment == assignment)
        query = query.order_by(submissions.c.assignment, submissions.c.attempt)
        with self.engine.connect() as conn:
            return self._load(conn, conn.execute(query), with_tests)

    def batch_submissions(self, batch_id: int, *, with_tests: bool = False) -> list[GradedSubmission]:
        query = (sa.select(submissions).where(submissions.c.batch_id == batch_id)
                 .order_by(submissions.c.student, submissions.c.attempt))
        with self.engine.connect() as conn:
            return self._load(conn, conn.execute(query), with_tests)

    def students(self) -> dict[str, StudentInfo]:
        with self.engine.connect() as conn:
            return {r.student: StudentInfo(**{k: v for k, v in r._asdict().items()
                                              if k != "updated_at"})
                    for r in conn.execute(sa.select(students).order_by(students.c.student))}

    def find_student(self, who: str) -> list[str]:
        """Students whose folder name, student id, e-mail or name is ``who`` (any case)."""
        w = who.strip().lower()
        return [s.student for s in self.students().values()
                if w in (s.student.lower(), s.student_id.lower(), s.email.lower(), s.name.lower())]

    def assignments(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(sa.select(submissions.c.assignment).distinct()
                                               .order_by(submissions.c.assignment))]

    def skipped(self, batch_id: int) -> list[tuple[str, str]]:
        with self.engine.connect() as conn:
            return [(r.name, r.reason) for r in conn.execute(
                sa.select(skipped_entries).where(skipped_entries.c.batch_id == batch_id)
                .order_by(skipped_entries.c.name))]

    def batch(self, batch_id: int) -> dict | None:
        with self.engine.connect() as conn:
            r = conn.execute(sa.select(batches).where(batches.c.id == batch_id)).first()
        if r is None:
            return None
        d = r._asdict()
        d["chapters"], d["options"] = json.loads(d["chapters"]), json.loads(d["options"])
        return d

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(submissions)).scalar())
