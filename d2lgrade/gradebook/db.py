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
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import sqlalchemy as sa

#: The database file a batch writes beside its other class files.
DEFAULT_FILE = "gradebook.sqlite"
#: Bumped when the schema changes incompatibly (checked when a database is opened).
SCHEMA_VERSION = 1
#: Longest test message kept in the database (the full text stays in results.json).
MESSAGE_CHARS = 2000

metadata = sa.MetaData()

meta_table = sa.Table(
    "gradebook_meta", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

batches = sa.Table(
    "batches", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("assignment", sa.String(200), nullable=False),
    sa.Column("chapters", sa.Text, nullable=False, default="[]"),       # JSON list
    sa.Column("batch_seed", sa.BigInteger),
    sa.Column("submissions_dir", sa.Text, nullable=False, default=""),
    sa.Column("out_dir", sa.Text, nullable=False, default=""),
    sa.Column("options", sa.Text, nullable=False, default="{}"),        # JSON: policy, roster...
)

students = sa.Table(
    "students", metadata,
    sa.Column("student", sa.String(200), primary_key=True),   # the submission's folder name
    sa.Column("student_id", sa.String(200), nullable=False, default=""),
    sa.Column("name", sa.String(400), nullable=False, default=""),
    sa.Column("email", sa.String(400), nullable=False, default=""),
    sa.Column("section", sa.String(200), nullable=False, default=""),
    sa.Column("lms_id", sa.String(200), nullable=False, default=""),
    sa.Column("in_roster", sa.Boolean, nullable=False, default=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)

submissions = sa.Table(
    "submissions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("record_key", sa.String(400), nullable=False, unique=True),
    sa.Column("batch_id", sa.Integer, sa.ForeignKey("batches.id"), nullable=True),
    sa.Column("student", sa.String(200), nullable=False),
    sa.Column("assignment", sa.String(200), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("chapters", sa.Text, nullable=False, default="[]"),       # JSON list
    sa.Column("source", sa.Text, nullable=False, default=""),           # the folder/zip graded
    sa.Column("fingerprint", sa.String(64), nullable=False, default=""),
    sa.Column("submitted_at", sa.String(40)),                          # None: unknown
    sa.Column("submitted_source", sa.String(40), nullable=False, default=""),  # cli/zip/file...
    sa.Column("graded_at", sa.String(40), nullable=False),
    sa.Column("seed", sa.BigInteger),
    sa.Column("status", sa.String(40), nullable=False),
    sa.Column("problem", sa.Text, nullable=False, default=""),          # why not (fully) graded
    sa.Column("notes", sa.Text, nullable=False, default="[]"),          # JSON: harmless notes
    sa.Column("import_errors", sa.Text, nullable=False, default="[]"),  # JSON: did-not-import list
    sa.Column("raw_score", sa.Float, nullable=False, default=0.0),
    sa.Column("max_score", sa.Float, nullable=False, default=0.0),
    sa.Column("due_at", sa.String(40)),
    sa.Column("extension", sa.String(200), nullable=False, default=""),
    sa.Column("late_seconds", sa.Float, nullable=False, default=0.0),
    sa.Column("late_days", sa.Integer, nullable=False, default=0),
    sa.Column("penalty_pct", sa.Float, nullable=False, default=0.0),
    sa.Column("policy", sa.String(200), nullable=False, default=""),
    sa.Column("score", sa.Float, nullable=False, default=0.0),          # after the penalty
    sa.Column("elapsed_s", sa.Float, nullable=False, default=0.0),
    sa.Column("output_dir", sa.Text, nullable=False, default=""),
    sa.UniqueConstraint("student", "assignment", "attempt", name="uq_attempt"),
)

chapter_scores = sa.Table(
    "chapter_scores", metadata,
    sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id"), primary_key=True),
    sa.Column("chapter", sa.String(100), primary_key=True),
    sa.Column("raw_score", sa.Float, nullable=False),
    sa.Column("max_score", sa.Float, nullable=False),
    sa.Column("score", sa.Float, nullable=False),                       # after the penalty
)

test_results = sa.Table(
    "test_results", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id"), nullable=False,
              index=True),
    sa.Column("chapter", sa.String(100), nullable=False),
    sa.Column("test", sa.String(400), nullable=False),                  # display name
    sa.Column("nodeid", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("points", sa.Float, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("max_score", sa.Float, nullable=False),
    sa.Column("visibility", sa.String(20), nullable=False),
    sa.Column("tier", sa.String(20), nullable=False),
    sa.Column("duration", sa.Float, nullable=False, default=0.0),
    sa.Column("message", sa.Text, nullable=False, default=""),
)

skipped_entries = sa.Table(
    "skipped_entries", metadata,
    sa.Column("batch_id", sa.Integer, sa.ForeignKey("batches.id"), primary_key=True),
    sa.Column("name", sa.String(400), primary_key=True),
    sa.Column("reason", sa.Text, nullable=False),
)


def utc_text(when: datetime | None) -> str | None:
    """A timezone-aware time as stored (UTC, seconds); naive times are refused."""
    if when is None:
        return None
    if when.tzinfo is None:
        raise ValueError(f"{when!r} has no timezone")
    return when.astimezone(timezone.utc).replace(microsecond=0).isoformat()


def parse_utc(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class TestRow:
    """One test of a graded submission."""
    __test__ = False  # not a pytest test class

    chapter: str
    test: str
    nodeid: str
    status: str
    points: float
    score: float
    max_score: float
    visibility: str = "public"
    tier: str = "fast"
    duration: float = 0.0
    message: str = ""

    @classmethod
    def from_result(cls, r) -> "TestRow":
        """From a ``TestResult`` (or its ``to_dict()``)."""
        d = r if isinstance(r, dict) else asdict(r)
        path, _, name = d["nodeid"].partition("::")
        display = f"{d['chapter']}/{path.rsplit('/', 1)[-1].removesuffix('.py')}::{name}"
        score = d["points"] if d["status"] == "passed" else 0.0
        max_score = 0.0 if d["status"] == "not_run" else d["points"]
        return cls(chapter=d["chapter"], test=display, nodeid=d["nodeid"], status=d["status"],
                   points=d["points"], score=score, max_score=max_score,
                   visibility=d.get("visibility", "public"), tier=d.get("tier", "fast"),
                   duration=d.get("duration", 0.0), message=d.get("message", ""))


@dataclass
class ChapterScore:
    raw_score: float
    max_score: float
    score: float  # after the late penalty


@dataclass
class GradedSubmission:
    """One recorded grading of one student's submission (a row and its children)."""
    student: str
    assignment: str
    status: str
    record_key: str
    chapters: list[str] = field(default_factory=list)
    source: str = ""
    fingerprint: str = ""
    submitted_at: datetime | None = None
    submitted_source: str = ""
    graded_at: datetime | None = None
    seed: int | None = None
    problem: str = ""
    notes: list[str] = field(default_factory=list)
    import_errors: list[dict] = field(default_factory=list)
    raw_score: float = 0.0
    max_score: float = 0.0
    due_at: datetime | None = None
    extension: str = ""
    late_seconds: float = 0.0
    late_days: int = 0
    penalty_pct: float = 0.0
    policy: str = ""
    score: float = 0.0
    elapsed_s: float = 0.0
    output_dir: str = ""
    batch_id: int | None = None
    chapter_scores: dict[str, ChapterScore] = field(default_factory=dict)
    tests: list[TestRow] = field(default_factory=list)
    #: Filled in by the database.
    id: int | None = None
    attempt: int | None = None

    @property
    def late(self) -> bool:
        return self.late_seconds > 0


@dataclass
class StudentInfo:
    student: str
    student_id: str = ""
    name: str = ""
    email: str = ""
    section: str = ""
    lms_id: str = ""
    in_roster: bool = False


class GradebookError(Exception):
    """The database cannot be opened or used (bad URL, wrong schema version...)."""


def database_url(target: str | os.PathLike) -> str:
    """A SQLAlchemy URL for ``target``: a URL is kept, anything else is an SQLite file path."""
    text = os.fspath(target)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).resolve()}"


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
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            else:
                self.engine = sa.create_engine(self.url, pool_pre_ping=True)
            metadata.create_all(self.engine)
            self._check_version()
        except sa.exc.ArgumentError as exc:
            raise GradebookError(f"{_safe_url(self.url)}: not a database URL ({exc})") from None
        except ModuleNotFoundError as exc:
            raise GradebookError(f"{_safe_url(self.url)}: the database driver {exc.name!r} is not "
                                 "installed (PostgreSQL: pip install 'psycopg[binary]')") from None
        except sa.exc.SQLAlchemyError as exc:
            raise GradebookError(f"{_safe_url(self.url)}: cannot open the gradebook "
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
                raise GradebookError(f"{_safe_url(self.url)} has gradebook schema version "
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
        for chunk in _chunks(ids, 500):
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


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=DELETE")  # every commit lands in the one file
    cur.execute("PRAGMA synchronous=FULL")
    cur.close()


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _safe_url(url: str) -> str:
    """The URL without its password (for messages)."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url
