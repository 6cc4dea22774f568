"""Running a course end to end, as the README's instructor section does it (issues 16 and 19).

One class of chapter 2 is graded twice with the CLI: the first run with a roster, a deadlines
file (two late students, one of them with an extension) and the submission times; then one
student fixes a syntax error and the same command is run again. Everything an instructor reads
is checked: the gradebook CSV and summary (views of the database), the database's attempts, a
student's history, the Canvas and Moodle import files, each student's feedback page, the
similarity report, and what the terminal showed.
"""
import csv
import io
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

CH = "ch02_preliminaries"
SEED = 5150
DEADLINES = """\
timezone = "UTC"

[policy]
kind = "percent_per_day"
percent = 10
cap = 50

[assignments.hw1]
due = "2026-03-01 23:59"
chapters = ["ch02_preliminaries"]

[[extensions]]
student = "carol"
assignment = "hw1"
days = 3
"""
ROSTER = """\
Folder,Student ID,Full Name,Email,Canvas ID
alice,1001,Alice Adams,alice@uni.example,501
bob,1002,Bob Brown,bob@uni.example,502
carol,1003,Carol Chen,carol@uni.example,503
dan,1004,Dan Diaz,dan@uni.example,504
erin,1005,Erin Eze,erin@uni.example,505
gina,1007,Gina Gray,gina@uni.example,507
hank,1008,Hank Hill,hank@uni.example,508
"""
TIMES = """\
student,submitted_at
alice,2026-03-01 20:00
bob,2026-03-03 10:00
carol,2026-03-02 12:00
dan,2026-03-01 23:00
erin,2026-03-01 09:00
fred,2026-03-01 22:00
"""


def _copy(src: Path, dest: Path) -> None:
    shutil.copytree(src / CH, dest / CH, ignore=shutil.ignore_patterns("__pycache__"))


@pytest.fixture(scope="module")
def course(tmp_path_factory, root):
    """The class folder and the instructor's files."""
    d = tmp_path_factory.mktemp("course")
    cls = d / "class"
    _copy(root / "solutions", cls / "alice")
    _copy(root / "solutions", cls / "bob")                       # late by 2 days
    with zipfile.ZipFile(cls / "carol.zip", "w") as zf:           # late by 1 day, extension 3
        for f in sorted((root / "fixtures" / "samples" / "student").rglob("*.py")):
            zf.write(f, "carol-hw1/" + str(f.relative_to(root / "fixtures" / "samples" / "student")))
    _copy(root / "solutions", cls / "dan")                        # a syntax error, fixed later
    broken = cls / "dan" / CH / "autograd.py"
    broken.write_text(broken.read_text().replace("import torch\n", "import torch\ndef oops(:\n", 1))
    _copy(root / "assignments", cls / "erin")                     # the stubs
    _copy(root / "solutions", cls / "fred")                       # not on the roster
    (cls / "gina").mkdir()                                        # an empty folder
    (cls / "notes.txt").write_text("office hours moved\n")       # not a submission
    (d / "deadlines.toml").write_text(DEADLINES)
    (d / "roster.csv").write_text(ROSTER)
    (d / "times.csv").write_text(TIMES)
    return d


def _grade_batch(run_cli, course: Path, out: Path):
    return run_cli("grade-batch", str(course / "class"), "--out", str(out), "--chapters", CH,
                   "--seed", str(SEED), "--workers", "2", "--call-timeout", "5",
                   "--roster", str(course / "roster.csv"),
                   "--deadlines", str(course / "deadlines.toml"), "--assignment", "hw1",
                   "--submission-times", str(course / "times.csv"))


def _rows(text: str) -> dict[str, dict]:
    return {r["student"]: r for r in csv.DictReader(io.StringIO(text))}


@pytest.fixture(scope="module")
def first(course, tmp_path_factory, run_cli):
    out = tmp_path_factory.mktemp("hw1")
    r = _grade_batch(run_cli, course, out)
    assert r.returncode == 0, r.stdout + r.stderr
    return out, r, (out / "gradebook.csv").read_text(), (out / "summary.md").read_text()


@pytest.fixture(scope="module")
def second(first, course, run_cli):
    """Dan fixes his syntax error; the instructor runs the same command again."""
    out = first[0]
    broken = course / "class" / "dan" / CH / "autograd.py"
    broken.write_text(broken.read_text().replace("def oops(:\n", ""))
    r = _grade_batch(run_cli, course, out)
    assert r.returncode == 0, r.stdout + r.stderr
    return out, r, (out / "gradebook.csv").read_text(), (out / "summary.md").read_text()


def test_first_run_gradebook_has_roster_lateness_and_statuses(first):
    out, r, text, _ = first
    rows = _rows(text)
    # stray files are no students; hank is on the roster without a submission
    assert sorted(rows) == ["alice", "bob", "carol", "dan", "erin", "fred", "gina", "hank"]
    alice, bob, carol, dan = rows["alice"], rows["bob"], rows["carol"], rows["dan"]
    assert (alice["student_id"], alice["name"], alice["email"]) == ("1001", "Alice Adams",
                                                                      "alice@uni.example")
    assert alice[CH] == alice[f"{CH} max"] == alice["score"] == "19"
    assert alice["late_days"] == "0" and alice["submitted_from"] == "csv"
    # bob: 2 started late days at 10 % each
    assert bob["late_days"] == "2" and float(bob["penalty_pct"]) == 20.0
    assert float(bob["raw_score"]) == 19.0 and float(bob["score"]) == pytest.approx(15.2)
    # carol is a day late, within her 3-day extension: no penalty, the extended due time kept
    assert carol["late_days"] == "0" and float(carol["penalty_pct"]) == 0.0
    assert carol["due_at"].startswith("2026-03-04T23:59")
    # dan's syntax error: its own status, the file (relative) and line, never "graded"
    assert dan["status"] == "did_not_import"
    assert re.search(r"did not import: ch02_preliminaries/autograd\.py, line 7: SyntaxError", dan["problem"])
    assert str(out) not in dan["problem"] and "/tmp" not in dan["problem"]
    assert rows["gina"]["status"] == "unusable"
    assert rows["hank"]["status"] == "no_submission" and rows["hank"]["student_id"] == "1008"
    assert rows["fred"]["student_id"] == ""                     # not on the roster
    # the terminal said what was skipped and who is not matched
    assert "not a submission, not graded: notes.txt" in r.stderr
    assert "roster: fred has a submission but is not in" in r.stderr
    assert "roster: no submission for hank (Hank Hill)" in r.stderr


def test_first_run_summary_flags_the_syntax_error_and_counts_only_what_imported(first):
    _, _, _, summary = first
    assert "| dan | did not import |" in summary
    assert "SyntaxError" in summary
    assert "- `notes.txt`: not a folder or a .zip" in summary
    assert re.search(r"score of the (\d+) that imported", summary).group(1) == "5"


def test_every_student_gets_a_feedback_page(first):
    out, _, _, _ = first
    for student in ("alice", "bob", "carol", "dan", "erin", "fred", "gina"):
        page = (out / student / "feedback.html").read_text()
        assert "<html" in page.lower(), student
    bob = (out / "bob" / "feedback.html").read_text()
    assert "submitted 2026-03-03 10:00+00:00: 2 days late, 20 % off" in bob
    carol = (out / "carol" / "feedback.html").read_text()
    assert "due 2026-03-04 23:59+00:00 (extended by 3 days); submitted 2026-03-02 12:00+00:00: on time" in carol
    dan = (out / "dan" / "feedback.html").read_text()
    top = dan[:dan.index("ch02_preliminaries/test_")] if "ch02_preliminaries/test_" in dan else dan
    assert 'class="problem"' in top and "SyntaxError" in top and "autograd.py, line 7" in top
    assert str(out) not in dan
    res = json.loads((out / "dan" / "results.json").read_text())
    assert res["output"].startswith("did not import: ch02_preliminaries/autograd.py, line 7")
    assert res["extra_data"]["did_not_import"]


def test_regrade_adds_an_attempt_and_only_regrades_the_changed_submission(second, first):
    out, r, text, summary = second
    assert re.search(r"graded now 1, already done 6", r.stdout + r.stderr), r.stdout + r.stderr
    rows = _rows(text)
    dan = rows["dan"]
    assert dan["status"] == "graded" and dan["attempt"] == "2" and dan["score"] == "19"
    assert rows["alice"]["attempt"] == "1"
    assert "| dan | did not import |" not in summary
    db = sqlite3.connect(out / "gradebook.sqlite")
    try:
        assert db.execute("pragma integrity_check").fetchone() == ("ok",)
        per = dict(db.execute("select student, count(*) from submissions where assignment = 'hw1' "
                              "group by student"))
    finally:
        db.close()
    assert per["dan"] == 2 and per["alice"] == 1, per


def test_history_and_lms_exports_show_the_regrade(second, run_cli, tmp_path):
    out = second[0]
    h = run_cli("gradebook", "history", "dan", "--out-dir", str(out))
    assert h.returncode == 0, h.stderr
    assert "attempt 1: did not import, 9/19" in h.stdout, h.stdout
    assert "    did not import: ch02_preliminaries/autograd.py, line 7: SyntaxError" in h.stdout
    assert "attempt 2: graded, 19/19" in h.stdout and "now passing:" in h.stdout
    canvas = tmp_path / "canvas.csv"
    c = run_cli("gradebook", "export", "--format", "canvas", "--out-dir", str(out), "-o", str(canvas))
    assert c.returncode == 0, c.stderr
    lines = list(csv.reader(io.StringIO(canvas.read_text())))
    assert lines[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert lines[1][0] == "    Points Possible"
    by_id = {row[1]: row for row in lines[2:]}
    total = lines[0].index("hw1 total")
    assert lines[0][5] == f"hw1 {CH}" and lines[1][5:] == ["19", "19"]
    assert float(by_id["504"][total]) == 19.0                    # dan's latest attempt
    assert float(by_id["502"][total]) == pytest.approx(15.2)     # bob's late penalty
    m = run_cli("gradebook", "export", "--format", "moodle", "--out-dir", str(out))
    assert m.returncode == 0, m.stderr
    moodle = list(csv.DictReader(io.StringIO(m.stdout)))
    assert {r["Email address"] for r in moodle} >= {"alice@uni.example", "dan@uni.example"}


def test_similarity_report_pairs_the_copies(course, run_cli, tmp_path):
    r = run_cli("similarity", str(course / "class"), "--out", str(tmp_path / "sim"))
    assert r.returncode == 0, r.stdout + r.stderr
    html = (tmp_path / "sim" / "similarity.html").read_text()
    data = json.loads((tmp_path / "sim" / "similarity.json").read_text())
    pairs = data["pairs"]
    top = {frozenset((p["a"], p["b"])) for p in pairs[:3]}
    # alice, bob and fred handed in the same code; erin's stubs are boilerplate (no pair)
    assert top & {frozenset(("alice", "bob")), frozenset(("alice", "fred")), frozenset(("bob", "fred"))}
    assert not any("erin" in (p["a"], p["b"]) and p["score"] > 0.5 for p in pairs)
    assert "alice" in html and "<pre" in html


def test_progress_on_a_terminal(course, tmp_path, root):
    """On a pty the bar appears before the first student is done and names who is graded."""
    import pty
    subs = tmp_path / "subs"
    for s in ("s1", "s2", "s3"):
        _copy(root / "solutions", subs / s)
    cmd = [sys.executable, "-m", "d2lgrade.cli", "grade-batch", str(subs), "--out", str(tmp_path / "o"),
           "--chapters", CH, "--seed", "1", "--workers", "1"]
    import fcntl
    import struct
    import termios
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a real terminal's size
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=root, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    seen, first_at = b"", None
    try:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            if first_at is None and b"grading" in chunk:
                first_at = time.monotonic() - start
            seen += chunk
    finally:
        proc.wait(timeout=120)
        os.close(master)
    text = seen.decode(errors="replace")
    assert proc.returncode == 0, text
    assert re.search(r"0/3", text), text            # drawn before anyone is done
    assert re.search(r"3/3", text) and "grading s1" in text, text
    assert not re.search(r"^\[\d/3\] ", text, re.M)  # the bar, not the piped lines
    assert first_at is not None
