"""The gradebook database: attempts never overwritten, atomic per submission, the same code on
SQLite and on PostgreSQL (a throw-away local server, skipped with the reason when none starts),
and nothing lost when the writing process is killed with SIGKILL."""
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from d2lgrade.gradebook import db
from d2lgrade.gradebook.rows import ChapterScore, GradebookError, GradedSubmission, StudentInfo, TestRow
from d2lgrade.gradebook.db import Gradebook


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


@pytest.fixture(scope="module")
def postgres_url():
    """A PostgreSQL server of our own on 127.0.0.1 (initdb in a temporary folder)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("PostgreSQL run not done: the psycopg driver is not installed "
                    "(pip install 'psycopg[binary]==3.3.9')")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL run not done: no server programs (initdb) found; "
                    "on Debian: apt-get install postgresql")
    # Not under pytest's tmp_path: its parents are private to root, the server runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="d2lgrade-pg-"))
    cleanup = lambda: shutil.rmtree(base, ignore_errors=True)  # noqa: E731
    data, port = base / "data", _free_port()
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: use its own account
        import pwd
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("PostgreSQL run not done: running as root and there is no "
                        "'postgres' user to run the server as")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    init = subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-A", "trust",
                           "-U", "d2l", "-E", "UTF8", "--no-sync"],
                          capture_output=True, text=True)
    if init.returncode:
        cleanup()
        pytest.skip(f"PostgreSQL run not done: initdb failed: {init.stderr.strip()[-300:]}")
    start = subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-w", "-t", "30",
                            "-l", str(base / "server.log"), "-o",
                            f"-h 127.0.0.1 -p {port} -k {base} -F", "start"],
                           capture_output=True, text=True)
    if start.returncode:
        log = (base / "server.log").read_text(errors="replace")[-300:] if (base / "server.log").exists() else ""
        cleanup()
        pytest.skip(f"PostgreSQL run not done: the server did not start: {start.stderr.strip()} {log}")
    try:
        yield f"postgresql+psycopg://d2l@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True)
        cleanup()


@pytest.fixture(params=["sqlite", "postgresql"])
def gb(request, tmp_path):
    if request.param == "sqlite":
        book = Gradebook(tmp_path / "gradebook.sqlite")
    else:
        url = request.getfixturevalue("postgres_url")
        book = Gradebook(url)
        with book.engine.begin() as conn:  # each test starts empty
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
    yield book
    book.close()


def _sub(student="alice", assignment="hw1", key=None, score=7.0, status="graded", **kw):
    tests = [TestRow("ch02_preliminaries", "ch02_preliminaries/test_tensors::test_a",
                     "ch02_preliminaries/test_tensors.py::test_a", "passed", 4, 4, 4),
             TestRow("ch02_preliminaries", "ch02_preliminaries/test_tensors::test_b",
                     "ch02_preliminaries/test_tensors.py::test_b",
                     "passed" if score >= 10 else "failed", 6, 6 if score >= 10 else 0, 6,
                     message="expected 3, got 4")]
    fields = dict(
        student=student, assignment=assignment, status=status,
        record_key=key or f"{student}-{assignment}-{score}-{time.monotonic_ns()}",
        chapters=["ch02_preliminaries"], raw_score=score, max_score=10.0, score=score,
        seed=123, submitted_at=datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc),
        submitted_source="cli",
        chapter_scores={"ch02_preliminaries": ChapterScore(score, 10.0, score)}, tests=tests)
    return GradedSubmission(**{**fields, **kw})


def test_regrade_adds_an_attempt_and_latest_reads_it(gb):
    first = gb.record(_sub(score=4.0))
    second = gb.record(_sub(score=10.0))
    gb.record(_sub("bob", score=7.0))
    assert (first.attempt, second.attempt) == (1, 2)
    history = gb.history("alice", with_tests=True)
    assert [h.raw_score for h in history] == [4.0, 10.0]          # nothing overwritten
    assert [t.status for t in history[0].tests] == ["passed", "failed"]
    assert history[0].tests[1].message == "expected 3, got 4"
    latest = {r.student: r for r in gb.latest("hw1")}
    assert latest["alice"].raw_score == 10.0 and latest["alice"].attempt == 2
    assert latest["bob"].attempt == 1
    assert latest["alice"].chapter_scores["ch02_preliminaries"].max_score == 10.0
    assert latest["alice"].submitted_at == datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    assert gb.count() == 3


def test_attempts_are_counted_per_assignment(gb):
    gb.record(_sub(assignment="hw1"))
    assert gb.record(_sub(assignment="hw2")).attempt == 1
    assert gb.assignments() == ["hw1", "hw2"]
    assert [r.assignment for r in gb.latest()] == ["hw1", "hw2"]


def test_recording_the_same_key_twice_keeps_one_row(gb):
    a = gb.record(_sub(key="batch1/alice/fp/1"))
    b = gb.record(_sub(key="batch1/alice/fp/1", score=9.0))
    assert a.id == b.id and b.attempt == 1 and gb.count() == 1


def test_students_and_roster_fields(gb):
    gb.record(_sub("alice"))
    assert gb.students()["alice"].in_roster is False  # made by the submission
    gb.upsert_students([StudentInfo("alice", "S1", "Alice A", "a@uni.edu", in_roster=True)])
    gb.upsert_students([StudentInfo("alice")])  # a later submission without roster data
    info = gb.students()["alice"]
    assert (info.student_id, info.name, info.email, info.in_roster) == ("S1", "Alice A", "a@uni.edu", True)
    assert gb.find_student("A@UNI.EDU") == ["alice"] and gb.find_student("s1") == ["alice"]


def test_batches_and_skipped_entries(gb):
    bid = gb.start_batch(assignment="hw1", chapters=["ch02_preliminaries"], batch_seed=5,
                         options={"late_policy": "none"})
    gb.record_skipped(bid, "notes.txt", "not a folder or a .zip")
    gb.record_skipped(bid, "notes.txt", "not a folder or a .zip")
    gb.record(_sub(batch_id=bid))
    assert gb.skipped(bid) == [("notes.txt", "not a folder or a .zip")]
    assert gb.batch(bid)["chapters"] == ["ch02_preliminaries"]
    assert gb.batch(bid)["options"] == {"late_policy": "none"}
    assert [s.student for s in gb.batch_submissions(bid)] == ["alice"]


def test_naive_times_are_refused(gb):
    with pytest.raises(ValueError, match="no timezone"):
        gb.record(_sub(submitted_at=None, due_at=datetime(2026, 3, 1)))


def test_bad_targets_give_clear_messages(tmp_path):
    with pytest.raises(GradebookError, match="not a database URL|cannot open"):
        Gradebook("nosuchdriver://x/y")
    with pytest.raises(GradebookError, match="driver 'pymysql'|cannot open"):
        Gradebook("mysql+pymysql://u:secret@127.0.0.1/db")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises((GradebookError, OSError)):
        Gradebook(blocker / "gradebook.sqlite")
    not_db = tmp_path / "not.sqlite"
    not_db.write_text("this is not a database " * 100)
    with pytest.raises(GradebookError, match="cannot open"):
        Gradebook(not_db)


def test_a_password_never_appears_in_messages():
    try:
        Gradebook("mysql+pymysql://user:hunter2@127.0.0.1/db")
    except GradebookError as exc:
        assert "hunter2" not in str(exc)


def test_schema_version_is_checked(tmp_path):
    path = tmp_path / "g.sqlite"
    Gradebook(path).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE gradebook_meta SET value='99' WHERE key='schema_version'")
    con.commit()
    con.close()
    with pytest.raises(GradebookError, match="schema version 99"):
        Gradebook(path)


WRITER = r"""
import sys, time
from d2lgrade.gradebook.db import Gradebook
from d2lgrade.gradebook.rows import GradedSubmission, TestRow, ChapterScore
gb = Gradebook(sys.argv[1])
for n in range(100000):
    tests = [TestRow("ch02", f"ch02/test_m::t{i}", f"ch02/test_m.py::t{i}", "passed", 1, 1, 1,
                     message="x" * 500) for i in range(40)]
    gb.record(GradedSubmission(student=f"s{n:05d}", assignment="hw", status="graded",
                               record_key=f"k{n}", raw_score=40, max_score=40, score=40,
                               chapter_scores={"ch02": ChapterScore(40, 40, 40)}, tests=tests))
    print(n, flush=True)
"""


def test_sqlite_file_survives_kill_9_with_nothing_lost(tmp_path):
    """A writer killed mid-transaction loses at most the submission it was writing; every
    submission it reported as recorded is there whole (row, chapter score, all 40 tests)."""
    path = tmp_path / "gradebook.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE,
                            text=True)
    reported = -1
    deadline = time.monotonic() + 60
    while reported < 30 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        reported = int(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert reported >= 30, "the writer did not get going"
    # Killed inside a transaction, SQLite leaves a hot journal; opening rolls it back.
    assert {p.name for p in tmp_path.iterdir()} <= {"gradebook.sqlite", "gradebook.sqlite-journal"}
    with Gradebook(path) as gb:
        rows = gb.latest("hw", with_tests=True)
        con = sqlite3.connect(path)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.close()
    assert len(rows) >= reported + 1          # every reported one (and maybe the next)
    assert [r.student for r in rows] == [f"s{n:05d}" for n in range(len(rows))]
    assert all(len(r.tests) == 40 and r.chapter_scores["ch02"].score == 40 for r in rows)
    assert not (tmp_path / "gradebook.sqlite-journal").exists()
