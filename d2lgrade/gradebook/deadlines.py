"""Due dates, extensions, late policies, and when a submission was handed in.

A deadlines file (TOML) describes a course's assignments::

    timezone = "Europe/Berlin"          # for times written without an offset (default: UTC)

    [policy]                            # the default late policy
    kind = "percent_per_day"            # none | percent_per_day | zero_after
    percent = 10                        # percent_per_day: points off per started late day...
    cap = 50                            # ...at most this many percent in all
    grace_minutes = 15                  # late by less than this is on time

    [assignments.hw1]
    due = "2026-03-01 23:59"
    chapters = ["ch02_preliminaries"]   # optional: what the assignment grades

    [assignments.hw2]
    due = "2026-03-15 23:59"
    policy = { kind = "zero_after", cutoff_days = 2 }   # full marks until 2 days late, then 0

    [[extensions]]
    student = "alice"                   # the submission's folder name (or roster student id)
    assignment = "hw1"                  # optional: every assignment when left out
    days = 3                            # or: until = "2026-03-05 12:00"

A late day is a started 24 hours after the (extended) due time: 1 minute late is 1 day late.
``percent_per_day`` takes ``percent`` off per late day up to ``cap``; ``zero_after`` gives
full marks up to ``cutoff_days`` late and zero after (``cutoff_days = 0``: zero when late);
``none`` records lateness without a penalty. The penalty scales every chapter's score.

The submission time comes, in this order, from the command line (one time for ``grade``, or
a CSV ``student,submitted_at`` for a batch), from the zip (the newest member's timestamp),
or from the file system (the newest file's modification time); which one was used is recorded.
"""
from __future__ import annotations

import csv
import math
import os
import tomllib
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

POLICY_KINDS = ("none", "percent_per_day", "zero_after")
DAY = 86400.0


def _days(n: float) -> str:
    return f"{n:g} day" + ("" if n == 1 else "s")


class DeadlineError(ValueError):
    """A deadlines file, a policy or a time that cannot be used (the message says why)."""


def parse_time(text: str | datetime, tz: timezone | ZoneInfo = timezone.utc) -> datetime:
    """An ISO 8601 time (``2026-03-01 23:59``, ``2026-03-01T23:59:00+01:00``, a date alone
    means its end, 23:59:59); without an offset it is read in ``tz``."""
    if isinstance(text, datetime):
        when = text
    else:
        raw = str(text).strip()
        try:
            when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise DeadlineError(f"{raw!r} is not a date and time (write it like "
                                "2026-03-01 23:59 or 2026-03-01T23:59:00+01:00)") from None
        if len(raw) == 10:  # a date alone: the whole day counts
            when = when.replace(hour=23, minute=59, second=59)
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return when


def zone(name: str | None) -> timezone | ZoneInfo:
    if not name or name.upper() == "UTC":
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise DeadlineError(f"unknown time zone {name!r} (use a name like Europe/Berlin)") from None


@dataclass(frozen=True)
class LatePolicy:
    kind: str = "none"
    percent: float = 0.0       # percent_per_day: percent off per late day
    cap: float = 100.0         # percent_per_day: most percent taken off in all
    cutoff_days: float = 0.0   # zero_after: late by more than this many days gives zero
    grace_minutes: float = 0.0

    def __post_init__(self):
        if self.kind not in POLICY_KINDS:
            raise DeadlineError(f"late policy {self.kind!r}: use one of {', '.join(POLICY_KINDS)}")
        for name in ("percent", "cap", "cutoff_days", "grace_minutes"):
            if getattr(self, name) < 0:
                raise DeadlineError(f"late policy: {name} must not be negative")
        if self.cap > 100:
            raise DeadlineError("late policy: cap is a percentage (at most 100)")

    @classmethod
    def from_dict(cls, d: dict) -> "LatePolicy":
        known = {"kind", "percent", "cap", "cutoff_days", "grace_minutes"}
        unknown = set(d) - known
        if unknown:
            raise DeadlineError(f"late policy: unknown key(s) {', '.join(sorted(unknown))} "
                                f"(known: {', '.join(sorted(known))})")
        try:
            return cls(kind=str(d.get("kind", "none")),
                       **{k: float(d[k]) for k in known - {"kind"} if k in d})
        except (TypeError, ValueError) as exc:
            raise DeadlineError(f"late policy: {exc}") from None

    @classmethod
    def parse(cls, text: str) -> "LatePolicy":
        """The command-line form: ``none``, ``percent_per_day:10,cap=50``, ``zero_after:2``
        (``zero_after:DAYS``), optionally ``,grace=15`` (minutes)."""
        kind, _, rest = text.strip().partition(":")
        if kind not in POLICY_KINDS:
            raise DeadlineError(f"late policy {kind!r}: use one of {', '.join(POLICY_KINDS)}")
        d: dict = {"kind": kind}
        for i, part in enumerate(p.strip() for p in rest.split(",") if p.strip()):
            key, eq, value = part.partition("=")
            if not eq:
                key, value = {"percent_per_day": "percent", "zero_after": "cutoff_days"}.get(
                    kind, "?"), part
                if i or key == "?":
                    raise DeadlineError(f"late policy {text!r}: {part!r} needs a name (cap=50)")
            key = {"grace": "grace_minutes", "cutoff": "cutoff_days"}.get(key.strip(), key.strip())
            d[key] = value
        return cls.from_dict(d)

    def describe(self) -> str:
        grace = f", {self.grace_minutes:g} min grace" if self.grace_minutes else ""
        if self.kind == "percent_per_day":
            return f"{self.percent:g} % off per late day, at most {self.cap:g} %{grace}"
        if self.kind == "zero_after":
            if self.cutoff_days:
                return f"full marks up to {_days(self.cutoff_days)} late, zero after{grace}"
            return f"zero when late{grace}"
        return f"no penalty for lateness{grace}"

    def penalty_pct(self, late_seconds: float) -> float:
        """Percent of the score taken off for a submission ``late_seconds`` late."""
        if late_seconds <= 0:
            return 0.0
        if self.kind == "percent_per_day":
            return min(self.cap, self.percent * math.ceil(late_seconds / DAY))
        if self.kind == "zero_after":
            return 100.0 if late_seconds > self.cutoff_days * DAY else 0.0
        return 0.0


@dataclass(frozen=True)
class Extension:
    student: str
    assignment: str | None = None      # None: every assignment
    days: float = 0.0
    until: datetime | None = None

    def describe(self) -> str:
        if self.until is not None:
            return f"extended to {self.until.isoformat(sep=' ', timespec='minutes')}"
        return f"extended by {_days(self.days)}"


@dataclass(frozen=True)
class Assignment:
    name: str
    due: datetime | None = None
    chapters: tuple[str, ...] = ()
    policy: LatePolicy | None = None   # None: the course's default policy


@dataclass(frozen=True)
class Lateness:
    """What a deadline means for one submission."""
    due_at: datetime | None            # the student's due time (extension applied)
    submitted_at: datetime | None
    late_seconds: float = 0.0          # after the grace period; 0 when on time
    late_days: int = 0
    penalty_pct: float = 0.0
    extension: str = ""
    policy: str = ""

    @property
    def late(self) -> bool:
        return self.late_seconds > 0

    def factor(self) -> float:
        return 1.0 - self.penalty_pct / 100.0

    def describe(self) -> str:
        """One line for the feedback page and the gradebook."""
        if self.due_at is None:
            return "no due date"
        due = self.due_at.isoformat(sep=" ", timespec="minutes")
        ext = f" ({self.extension})" if self.extension else ""
        if self.submitted_at is None:
            return f"due {due}{ext}; submission time unknown, counted as on time"
        sub = self.submitted_at.isoformat(sep=" ", timespec="minutes")
        if not self.late:
            return f"due {due}{ext}; submitted {sub}: on time"
        return (f"due {due}{ext}; submitted {sub}: {_days(self.late_days)} late, "
                f"{self.penalty_pct:g} % off ({self.policy})")


@dataclass
class Deadlines:
    assignments: dict[str, Assignment] = field(default_factory=dict)
    policy: LatePolicy = field(default_factory=LatePolicy)
    extensions: list[Extension] = field(default_factory=list)
    tz: timezone | ZoneInfo = timezone.utc

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Deadlines":
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise DeadlineError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise DeadlineError(f"{path}: not a TOML file ({exc})") from None
        try:
            return cls.from_dict(data)
        except DeadlineError as exc:
            raise DeadlineError(f"{path}: {exc}") from None

    @classmethod
    def from_dict(cls, data: dict) -> "Deadlines":
        unknown = set(data) - {"timezone", "policy", "assignments", "extensions"}
        if unknown:
            raise DeadlineError(f"unknown section(s) {', '.join(sorted(unknown))}")
        tz = zone(data.get("timezone"))
        out = cls(policy=LatePolicy.from_dict(data.get("policy", {})), tz=tz)
        for name, a in (data.get("assignments") or {}).items():
            if not isinstance(a, dict):
                raise DeadlineError(f"assignments.{name}: expected a table with due = ...")
            policy = a.get("policy")
            out.assignments[name] = Assignment(
                name=name, due=parse_time(a["due"], tz) if "due" in a else None,
                chapters=tuple(a.get("chapters", ())),
                policy=LatePolicy.from_dict(policy) if policy is not None else None)
        for i, e in enumerate(data.get("extensions") or []):
            if "student" not in e or ("days" not in e and "until" not in e):
                raise DeadlineError(f"extension {i + 1}: needs student and days or until")
            if e.get("assignment") and e["assignment"] not in out.assignments:
                raise DeadlineError(f"extension {i + 1}: no assignment {e['assignment']!r}")
            out.extensions.append(Extension(
                student=str(e["student"]), assignment=e.get("assignment"),
                days=float(e.get("days", 0)),
                until=parse_time(e["until"], tz) if "until" in e else None))
        return out

    def with_overrides(self, assignment: str, *, due: str | None = None,
                       policy: str | None = None) -> "Deadlines":
        """The command line's ``--due`` and ``--late-policy`` for one assignment."""
        current = self.assignments.get(assignment, Assignment(assignment))
        new = Assignment(assignment, parse_time(due, self.tz) if due else current.due,
                         current.chapters,
                         LatePolicy.parse(policy) if policy else current.policy)
        return Deadlines({**self.assignments, assignment: new}, self.policy,
                         list(self.extensions), self.tz)

    def assignment_for(self, chapters: list[str] | None) -> str | None:
        """The assignment whose chapters are exactly ``chapters`` (when only one matches)."""
        want = tuple(sorted(chapters or ()))
        found = [a.name for a in self.assignments.values() if tuple(sorted(a.chapters)) == want]
        return found[0] if len(found) == 1 else None

    def extension_for(self, assignment: str, *who: str) -> Extension | None:
        names = {w for w in who if w}
        found = [e for e in self.extensions if e.student in names
                 and e.assignment in (None, assignment)]
        # one for this assignment wins over a general one
        found.sort(key=lambda e: e.assignment is None)
        return found[0] if found else None

    def assess(self, assignment: str, submitted_at: datetime | None, *who: str) -> Lateness:
        """Lateness and penalty of a submission by the student known as any of ``who``
        (folder name, student id)."""
        a = self.assignments.get(assignment)
        if a is None or a.due is None:
            return Lateness(None, submitted_at)
        policy = a.policy or self.policy
        ext = self.extension_for(assignment, *who)
        due = a.due
        if ext is not None:
            due = ext.until if ext.until is not None else due + timedelta(days=ext.days)
        if submitted_at is None:
            return Lateness(due, None, extension=ext.describe() if ext else "",
                            policy=policy.describe())
        late = (submitted_at - due).total_seconds()
        if late <= policy.grace_minutes * 60:
            late = 0.0
        return Lateness(due, submitted_at, late_seconds=max(0.0, late),
                        late_days=math.ceil(late / DAY) if late > 0 else 0,
                        penalty_pct=policy.penalty_pct(late),
                        extension=ext.describe() if ext else "", policy=policy.describe())


# -- submission times -----------------------------------------------------------------------

def read_times_csv(path: str | os.PathLike, tz: timezone | ZoneInfo = timezone.utc) -> dict[str, datetime]:
    """``student,submitted_at`` rows (a header line is optional) -> times."""
    path = Path(path)
    out: dict[str, datetime] = {}
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DeadlineError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    for n, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not "".join(row).strip():
            continue
        if len(row) < 2:
            raise DeadlineError(f"{path}, line {n}: expected student,submitted_at")
        if n == 1 and row[1].strip().lower() in ("submitted_at", "submitted", "time"):
            continue
        try:
            out[row[0].strip()] = parse_time(row[1], tz)
        except DeadlineError as exc:
            raise DeadlineError(f"{path}, line {n}: {exc}") from None
    return out


def _zip_time(path: Path, tz) -> datetime | None:
    try:
        with zipfile.ZipFile(path) as zf:
            stamps = [i.date_time for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError):
        return None
    if not stamps:
        return None
    return datetime(*max(stamps)).replace(tzinfo=tz)  # zip times have no zone


def _newest_mtime(path: Path) -> float | None:
    if path.is_file():
        return path.stat().st_mtime
    newest = None
    for f in path.rglob("*"):
        if f.is_file() and not f.is_symlink() and "__pycache__" not in f.parts \
                and ".ipynb_checkpoints" not in f.parts:
            m = f.stat().st_mtime
            newest = m if newest is None or m > newest else newest
    return newest


def submission_time(path: str | os.PathLike, given: datetime | None = None, *,
                    tz: timezone | ZoneInfo = timezone.utc) -> tuple[datetime | None, str]:
    """(when the submission was handed in, where that came from: cli, zip, file or '')."""
    if given is not None:
        return given, "cli"
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".zip":
        when = _zip_time(path, tz)
        if when is not None:
            return when, "zip"
    try:
        m = _newest_mtime(path)
    except OSError:
        m = None
    if m is None:
        return None, ""
    return datetime.fromtimestamp(m, timezone.utc), "file"
