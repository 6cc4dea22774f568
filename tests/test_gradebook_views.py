"""Views of the gradebook database: the CSV, the summary, a student's history, Canvas and
Moodle files, and "did not import" problems read from test results."""
import csv
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from d2lgrade.gradebook import lms, views
from d2lgrade.results import imports
from d2lgrade.gradebook.rows import ChapterScore, GradedSubmission, StudentInfo, TestRow
from d2lgrade.gradebook.db import Gradebook

UTC = timezone.utc
DUE = datetime(2026, 3, 1, 23, 59, tzinfo=UTC)
CH2, CH5 = "ch02_preliminaries", "ch05_cnn"


def _tests(passing: dict[str, bool]):
    return [TestRow(CH2 if n.startswith("a") else CH5, f"{CH2 if n.startswith('a') else CH5}/test_m::{n}",
                    f"x.py::{n}", "passed" if ok else "failed", 5, 5 if ok else 0, 5)
            for n, ok in passing.items()]


def _graded(student, ch2, ch5, *, status="graded", penalty=0.0, late_days=0, problem="",
            notes=(), attempt_key="1", tests=None, extension=""):
    factor = 1 - penalty / 100
    raw = ch2 + ch5
    late_s = late_days * 86400.0 - 60 if late_days else 0.0
    return GradedSubmission(
        student=student, assignment="hw1", status=status, record_key=f"{student}/{attempt_key}",
        chapters=[CH2, CH5], raw_score=raw, max_score=20.0 if status in ("graded", "did_not_import") else 0.0,
        score=raw * factor, penalty_pct=penalty, late_days=late_days, late_seconds=late_s,
        due_at=DUE, submitted_at=DUE + timedelta(seconds=late_s) if late_days else DUE - timedelta(hours=1),
        submitted_source="zip", seed=7, problem=problem, notes=list(notes), extension=extension,
        chapter_scores={} if status not in ("graded", "did_not_import") else {
            CH2: ChapterScore(ch2, 10.0, ch2 * factor), CH5: ChapterScore(ch5, 10.0, ch5 * factor)},
        tests=tests or [])


@pytest.fixture
def book(tmp_path):
    gb = Gradebook(tmp_path / "gradebook.sqlite")
    bid = gb.start_batch(assignment="hw1", chapters=[CH2, CH5], batch_seed=99)
    gb.upsert_students([
        StudentInfo("alice", "S1", "Alice Adams", "alice@uni.edu", "A", "1001", True),
        StudentInfo("bob", "S2", "Bob Brown", "bob@uni.edu", "A", "", True),
        StudentInfo("carol", "S3", "Carol Clark", "carol@uni.edu", "B", "", True),
        StudentInfo("dave", "S4", "Dave Dunn", "dave@uni.edu", "B", "", True),
        StudentInfo("nosub", "S9", "Nina Nobody", "nina@uni.edu", "B", "", True),
    ])
    first = {"a1": True, "a2": False, "b1": True, "b2": True}
    gb.record(_graded("alice", 5, 10, attempt_key="1", tests=_tests(first)))
    gb.record(_graded("alice", 10, 10, attempt_key="2",
                      tests=_tests({"a1": True, "a2": True, "b1": True, "b2": True})))
    gb.record(_graded("bob", 10, 5, penalty=20, late_days=2,
                      tests=_tests({"a1": True, "a2": True, "b1": True, "b2": False})))
    gb.record(_graded("carol", 10, 10, extension="extended by 3 days",
                      tests=_tests({"a1": True, "a2": True, "b1": True, "b2": True})))
    gb.record(_graded("dave", 0, 10, status="did_not_import",
                      problem="did not import: ch02_preliminaries/tensors.py, line 37: SyntaxError: expected ':'",
                      tests=_tests({"a1": False, "a2": False, "b1": True, "b2": True})))
    gb.record(_graded("frank", 0, 0, status="unusable", problem="frank.zip: not a readable zip file"))
    gb.record(_graded("erin", 10, 10, notes=["erin.ipynb: cell 4 left out (a shell command)"],
                      tests=_tests({"a1": True, "a2": True, "b1": True, "b2": True})))
    gb.record_skipped(bid, "notes.txt", "not a folder or a .zip")
    view = views.class_view(gb, "hw1", batch_id=bid, roster_given=True)
    yield gb, view
    gb.close()


def _rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_gradebook_csv_has_roster_columns_chapter_maxima_and_separate_problems(book):
    gb, view = book
    rows = {r["student"]: r for r in _rows(views.gradebook_csv(view))}
    assert set(rows) == {"alice", "bob", "carol", "dave", "erin", "frank", "nosub"}
    a = rows["alice"]
    assert (a["student_id"], a["email"], a["attempt"], a["status"]) == ("S1", "alice@uni.edu", "2", "graded")
    assert (a[CH2], a[f"{CH2} max"], a["score"], a["max_score"], a["percent"]) == ("10", "10", "20", "20", "100.0")
    b = rows["bob"]
    assert (b["raw_score"], b["score"], b["late_days"], b["penalty_pct"]) == ("15", "12", "2", "20")
    assert b[CH2] == "8"                              # the penalty scales the chapters too
    f = rows["frank"]                                 # not graded: 0 of the class maximum
    assert (f["status"], f["score"], f["max_score"], f["percent"]) == ("unusable", "0", "20", "0.0")
    assert f[f"{CH2} max"] == "10" and "not a readable zip" in f["problem"]
    d = rows["dave"]
    assert d["status"] == "did_not_import" and "tensors.py, line 37" in d["problem"]
    e = rows["erin"]
    assert e["problem"] == "" and "cell 4 left out" in e["notes"]  # harmless notes apart
    assert rows["nosub"]["status"] == "no_submission" and rows["nosub"]["max_score"] == "20"


def test_summary_counts_only_submissions_that_imported(book):
    gb, view = book
    text = views.summary_md(view)
    assert "- graded: 4" in text and "- did not import: 1" in text and "- cannot be graded: 1" in text
    # alice 20, bob 12, carol 20, erin 20 (of 20): dave and frank are not in the statistics
    assert "score of the 4 that imported: mean 90.0 %" in text
    assert "| `ch05_cnn/test_m::b2` | 1 | 25 % |" in text   # bob only; dave's failures do not count
    assert "ch02_preliminaries/test_m::a1" not in text
    assert "| dave | did not import | did not import: ch02_preliminaries/tensors.py, line 37" in text
    assert "| bob | " in text.split("## Late submissions")[1]
    assert "carol: extended by 3 days" in text
    assert "- no submission: nosub (Nina Nobody)" in text
    assert "- not in the roster: frank" in text
    assert "`notes.txt`: not a folder or a .zip" in text
    assert "batch seed: 99" in text


def test_history_shows_every_attempt_and_what_changed(book):
    gb, _ = book
    text = views.history_text(gb.history("alice", with_tests=True), gb.students()["alice"])
    assert text.startswith("alice (Alice Adams, S1, alice@uni.edu)")
    assert "hw1 attempt 1: graded, 15/20" in text and "hw1 attempt 2: graded, 20/20" in text
    assert "now passing: ch02_preliminaries/test_m::a2" in text
    assert views.history_text([]) == "no graded submission recorded\n"


def test_canvas_csv(book):
    _, view = book
    text = lms.canvas_csv(view)
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                        f"hw1 {CH2}", f"hw1 {CH5}", "hw1 total"]
    assert lines[1] == ["    Points Possible", "", "", "", "", "10", "10", "20"]
    by_id = {l[2]: l for l in lines[2:]}
    assert by_id["S1"] == ["Alice Adams", "1001", "S1", "alice@uni.edu", "A", "10", "10", "20"]
    assert by_id["S2"][5:] == ["8", "4", "12"]          # after the late penalty
    assert by_id["S9"][5:] == ["", "", ""]              # roster entry without a submission
    assert len(lines) == 2 + 7                          # one row per student
    assert "\r\n" in text
    assert lms.unmatched(view, "canvas") == ["erin", "frank"]  # not in the roster


def test_moodle_csv(book):
    _, view = book
    rows = _rows(lms.moodle_csv(view))
    assert list(rows[0]) == ["First name", "Last name", "ID number", "Email address",
                             f"hw1 {CH2}", f"hw1 {CH5}", "hw1 total"]
    alice = next(r for r in rows if r["Email address"] == "alice@uni.edu")
    assert (alice["First name"], alice["Last name"], alice["hw1 total"]) == ("Alice", "Adams", "20")
    assert len(rows) == 7
    with pytest.raises(ValueError, match="canvas or moodle"):
        lms.export_csv(view, "blackboard")


def test_views_with_nobody_graded(tmp_path):
    with Gradebook(tmp_path / "g.sqlite") as gb:
        gb.record(_graded("frank", 0, 0, status="unusable", problem="no chapter packages"))
        view = views.class_view(gb, "hw1")
        assert "No submission imported." in views.summary_md(view)
        row = _rows(views.gradebook_csv(view))[0]
        assert row["percent"] == "0.0" and row["status"] == "unusable"


# -- did not import ---------------------------------------------------------------------

SYNTAX = ("ImportError: importing ch02_preliminaries.tensors failed: SyntaxError: expected ':' "
          "(tensors.py, line 37)\n  File \"<frozen importlib._bootstrap>\", line 241, in _call\n"
          "  File \"/tmp/d2lgrade-sub-x1/alice/ch02_preliminaries/tensors.py\", line 37\n"
          "    def broadcast_add(x, y)\n                           ^\nSyntaxError: expected ':'")
RUNTIME = ("ImportError: importing ch05_cnn.conv failed: RuntimeError: no tensors today\n"
           "  File \"/home/t/class/bob/ch05_cnn/conv.py\", line 3, in <module>\n"
           "    helper()\n  File \"/home/t/class/bob/ch05_cnn/conv.py\", line 2, in helper\n"
           "    raise RuntimeError('no tensors today')")
MISSING = ("ImportError: the submission has no module ch05_cnn.lenet (expected the file "
           "ch05_cnn/lenet.py)")


def test_import_problems_one_per_module_with_relative_paths():
    results = [{"status": "failed", "message": SYNTAX}, {"status": "failed", "message": SYNTAX},
               {"status": "failed", "message": RUNTIME}, {"status": "failed", "message": MISSING},
               {"status": "passed", "message": ""},
               {"status": "failed", "message": "expected 3, got 4"}]
    found = imports.import_problems(results)
    assert [p.describe() for p in found] == [
        "ch02_preliminaries/tensors.py, line 37: SyntaxError: expected ':'",
        "ch05_cnn/conv.py, line 2: RuntimeError: no tensors today",
        "ch05_cnn/lenet.py: missing file ch05_cnn/lenet.py"]
    assert [p.kind for p in found] == ["syntax", "exception", "missing"]
    assert all("/tmp/" not in p.describe() and "/home/" not in p.describe() for p in found)
    assert imports.summary_line(found[:1]) == \
        "did not import: ch02_preliminaries/tensors.py, line 37: SyntaxError: expected ':'"


def test_syntax_problems_are_found_without_running_code(tmp_path):
    ch = tmp_path / CH2
    ch.mkdir()
    (ch / "__init__.py").write_text("")
    (ch / "tensors.py").write_text("import os\n" * 36 + "def broadcast_add(x, y)\n    return x + y\n")
    (ch / "autograd.py").write_text("raise SystemExit('never run')\n")
    found = imports.syntax_problems(tmp_path, [CH2, "ch05_cnn"])
    assert [p.describe() for p in found] == [
        "ch02_preliminaries/tensors.py, line 37: SyntaxError: expected ':'"]
    merged = imports.merge(found, imports.import_problems([{"status": "failed", "message": SYNTAX}]))
    assert len(merged) == 1


def test_real_attack_fixture_has_a_syntax_error(root):
    found = imports.syntax_problems(root / "fixtures" / "attacks" / "syntax_error", [CH2])
    assert [(p.file, p.line) for p in found] == [("ch02_preliminaries/tensors.py", 1)]


def test_the_gradebook_wing_does_not_import_torch():
    import subprocess
    import sys
    code = ("import sys, d2lgrade.gradebook.db, d2lgrade.gradebook.views, d2lgrade.gradebook.lms, "
            "d2lgrade.gradebook.deadlines, d2lgrade.gradebook.roster, d2lgrade.results.imports, "
            "d2lgrade.course_tools.similarity; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# -- from an outcome to a record -------------------------------------------------------------

def _result(name, status, points=2.0, message="", chapter=CH2):
    return {"nodeid": f"{chapter}/test_tensors.py::{name}", "chapter": chapter, "name": name,
            "points": points, "visibility": "public", "status": status, "message": message,
            "duration": 0.1, "tier": "fast", "attachments": []}


def test_record_flags_a_module_that_did_not_import_and_applies_the_penalty():
    from d2lgrade.gradebook.deadlines import Lateness
    from d2lgrade.gradebook.record import Outcome, build
    o = Outcome("dave", "graded", results=[
        _result("t1", "failed", message=SYNTAX), _result("t2", "failed", message=SYNTAX),
        _result("t3", "passed", 4.0, chapter=CH5), _result("t4", "not_run", 3.0, chapter=CH5)],
        chapters=[CH2, CH5], seed=5, fingerprint="f", finished_at=1772400000.0)
    late = Lateness(DUE, DUE + timedelta(days=1), late_seconds=86000.0, late_days=1,
                    penalty_pct=25.0, policy="25 % off per late day")
    rec = build(o, assignment="hw1", batch_id=3, lateness=late, submitted_source="zip")
    assert rec.status == "did_not_import"
    assert rec.problem == ("did not import: ch02_preliminaries/tensors.py, line 37: "
                           "SyntaxError: expected ':'")
    assert rec.import_errors[0]["line"] == 37
    assert (rec.raw_score, rec.max_score, rec.score) == (4.0, 8.0, 3.0)  # not_run counts 0 of 0
    assert rec.chapter_scores[CH5].score == 3.0 and rec.chapter_scores[CH2].max_score == 4.0
    assert rec.record_key.startswith("hw1/dave/f/5/")  # not the batch: a repeated batch finds the same attempt
    assert rec.graded_at.year == 2026 and rec.submitted_source == "zip"
    clean = build(Outcome("alice", "graded", results=[_result("t1", "passed")],
                          message="ignored"), assignment="hw1")
    assert (clean.status, clean.problem, clean.penalty_pct, clean.score) == ("graded", "", 0.0, 2.0)
    failed = build(Outcome("frank", "unusable", message="frank.zip: not a readable zip file"),
                   assignment="hw1")
    assert failed.status == "unusable" and "not a readable zip" in failed.problem
