"""The records the gradebook stores and returns: a graded submission, its chapters and tests, a student; times in UTC."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path


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
