"""Due dates, extensions, the three late policies, and where a submission time comes from."""
import os
import zipfile
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from d2lgrade.gradebook.deadlines import (DeadlineError, Deadlines, LatePolicy, parse_time,
                                          read_times_csv, submission_time)

UTC = timezone.utc
DUE = datetime(2026, 3, 1, 23, 59, tzinfo=UTC)

COURSE = """
timezone = "UTC"
[policy]
kind = "percent_per_day"
percent = 10
cap = 30
grace_minutes = 10

[assignments.hw1]
due = "2026-03-01 23:59"
chapters = ["ch02_preliminaries"]

[assignments.hw2]
due = "2026-03-15"
policy = { kind = "zero_after", cutoff_days = 2 }

[assignments.practice]
chapters = ["ch03_basics"]

[[extensions]]
student = "carol"
assignment = "hw1"
days = 3

[[extensions]]
student = "S-dave"
until = "2026-03-20 12:00"
"""


@pytest.fixture
def course(tmp_path):
    p = tmp_path / "deadlines.toml"
    p.write_text(COURSE)
    return Deadlines.load(p)


def test_percent_per_day_counts_started_days_up_to_the_cap(course):
    on_time = course.assess("hw1", DUE + timedelta(minutes=9), "alice")  # within the grace
    assert not on_time.late and on_time.penalty_pct == 0 and "on time" in on_time.describe()
    one = course.assess("hw1", DUE + timedelta(minutes=11), "alice")
    assert (one.late_days, one.penalty_pct) == (1, 10)
    two = course.assess("hw1", DUE + timedelta(days=1, minutes=11), "alice")
    assert (two.late_days, two.penalty_pct) == (2, 20)
    many = course.assess("hw1", DUE + timedelta(days=9), "alice")
    assert (many.late_days, many.penalty_pct) == (9, 30)                   # capped
    assert many.factor() == pytest.approx(0.7)
    assert "9 days late, 30 % off" in many.describe()


def test_zero_after_a_cutoff(course):
    due = datetime(2026, 3, 15, 23, 59, 59, tzinfo=UTC)  # a date alone: the end of the day
    assert course.assignments["hw2"].due == due
    assert course.assess("hw2", due + timedelta(days=1, hours=23), "bob").penalty_pct == 0
    late = course.assess("hw2", due + timedelta(days=2, hours=1), "bob")
    assert late.penalty_pct == 100 and late.late_days == 3


def test_extension_moves_the_due_time_for_one_student(course):
    carol = course.assess("hw1", DUE + timedelta(days=2), "carol")
    assert not carol.late and carol.due_at == DUE + timedelta(days=3)
    assert "extended by 3 days" in carol.describe()
    assert course.assess("hw1", DUE + timedelta(days=2), "alice").late


def test_extension_by_student_id_and_until_for_every_assignment(course):
    # dave's extension names his student id and no assignment: it applies to both
    d = course.assess("hw2", datetime(2026, 3, 19, tzinfo=UTC), "dave", "S-dave")
    assert not d.late and d.due_at == datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
    assert "extended to 2026-03-20 12:00" in d.extension


def test_no_due_date_and_unknown_time(course):
    assert course.assess("practice", DUE, "alice").due_at is None
    assert course.assess("nothing-like-it", DUE, "alice").describe() == "no due date"
    unknown = course.assess("hw1", None, "alice")
    assert not unknown.late and "submission time unknown" in unknown.describe()


def test_policy_none_records_lateness_without_penalty():
    d = Deadlines.from_dict({"assignments": {"a": {"due": "2026-03-01T00:00:00Z"}}})
    lat = d.assess("a", datetime(2026, 3, 3, tzinfo=UTC), "x")
    assert lat.late and lat.late_days == 2 and lat.penalty_pct == 0


def test_command_line_overrides():
    d = Deadlines().with_overrides("hw", due="2026-03-01 10:00", policy="percent_per_day:25,cap=50")
    assert d.assess("hw", datetime(2026, 3, 2, 11, tzinfo=UTC), "x").penalty_pct == 50
    assert LatePolicy.parse("zero_after:1,grace=30") == LatePolicy("zero_after", cutoff_days=1,
                                                                   grace_minutes=30)
    assert LatePolicy.parse("none").kind == "none"


@pytest.mark.parametrize("text, message", [
    ("weekly:5", "use one of none, percent_per_day, zero_after"),
    ("percent_per_day:10,50", "needs a name"),
    ("percent_per_day:ten", "could not convert|late policy"),
    ("percent_per_day:10,cap=150", "at most 100"),
    ("percent_per_day:10,speed=2", "unknown key"),
])
def test_bad_policies_say_why(text, message):
    with pytest.raises(DeadlineError, match=message):
        LatePolicy.parse(text)


@pytest.mark.parametrize("toml, message", [
    ("[assignments.a]\ndue = 'next friday'", "not a date and time"),
    ("timezone = 'Mars/Olympus'", "unknown time zone"),
    ("[[extensions]]\nstudent = 'x'", "needs student and days or until"),
    ("[assignments.a]\ndue='2026-01-01'\n[[extensions]]\nstudent='x'\nassignment='b'\ndays=1",
     "no assignment 'b'"),
    ("[deadline]\n", "unknown section"),
    ("this is = not toml [", "not a TOML file"),
])
def test_bad_files_name_the_file_and_the_problem(tmp_path, toml, message):
    p = tmp_path / "d.toml"
    p.write_text(toml)
    with pytest.raises(DeadlineError, match=message) as e:
        Deadlines.load(p)
    assert str(p) in str(e.value)


def test_times_in_a_time_zone():
    berlin = ZoneInfo("Europe/Berlin")
    assert parse_time("2026-03-01 23:59", berlin).astimezone(UTC) == datetime(2026, 3, 1, 22, 59, tzinfo=UTC)
    assert parse_time("2026-03-01T23:59:00+00:00", berlin) == datetime(2026, 3, 1, 23, 59, tzinfo=UTC)
    assert parse_time("2026-03-01T23:59:00Z") == datetime(2026, 3, 1, 23, 59, tzinfo=UTC)


def test_submission_time_sources(tmp_path):
    folder = tmp_path / "alice" / "ch02_preliminaries"
    folder.mkdir(parents=True)
    (folder / "tensors.py").write_text("x = 1\n")
    stamp = datetime(2026, 3, 2, 8, 30, tzinfo=UTC).timestamp()
    os.utime(folder / "tensors.py", (stamp, stamp))
    assert submission_time(tmp_path / "alice") == (datetime(2026, 3, 2, 8, 30, tzinfo=UTC), "file")
    given = datetime(2026, 3, 1, tzinfo=UTC)
    assert submission_time(tmp_path / "alice", given) == (given, "cli")
    archive = tmp_path / "bob.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(zipfile.ZipInfo("ch02_preliminaries/tensors.py", (2026, 3, 1, 22, 0, 0)), "x=1")
        zf.writestr(zipfile.ZipInfo("ch02_preliminaries/autograd.py", (2026, 3, 2, 1, 30, 0)), "x=1")
    assert submission_time(archive) == (datetime(2026, 3, 2, 1, 30, tzinfo=UTC), "zip")
    broken = tmp_path / "carol.zip"
    broken.write_bytes(b"not a zip")
    when, source = submission_time(broken)
    assert source == "file"  # falls back to the file's own time
    empty = tmp_path / "empty"
    empty.mkdir()
    assert submission_time(empty) == (None, "")


def test_times_csv(tmp_path):
    p = tmp_path / "times.csv"
    p.write_text("student,submitted_at\nalice,2026-03-01 10:00\n\nbob,2026-03-03T00:00:00+01:00\n")
    t = read_times_csv(p)
    assert t["alice"] == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert t["bob"] == datetime(2026, 3, 2, 23, tzinfo=UTC)
    p.write_text("alice,yesterday\n")
    with pytest.raises(DeadlineError, match="line 1: 'yesterday' is not a date"):
        read_times_csv(p)
