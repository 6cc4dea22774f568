"""d2lgrade.results.timing: the split of grading time into student, reference, start-up and harness."""
import textwrap
import time
import types

import pytest

from d2lgrade.results import timing
from d2lgrade.isolation.handle import Submission

CODE = '''
import time
time.sleep(0.2)          # module-level code: the student's, counted at import

def slow(s):
    time.sleep(s)
    return s
'''


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod" / "__init__.py").write_text("")
    (tmp_path / "mod" / "m.py").write_text(textwrap.dedent(CODE))
    return tmp_path


@pytest.mark.parametrize("isolation", ["process", "none"])
def test_student_time_is_what_the_child_spent_in_student_code(folder, isolation):
    split = timing.reset()
    sub = Submission(str(folder), isolation=isolation)
    try:
        start = time.perf_counter()
        assert sub.module("mod.m").slow(0.3) == 0.3
        sub.module("mod.m").slow(0.1)
        wall = time.perf_counter() - start
    finally:
        sub.close()
    # import (0.2) + 0.3 + 0.1 inside student code; decoding, pipes and start not included
    assert 0.6 <= split.student_s < wall
    assert split.calls >= 2
    if isolation == "process":
        assert split.child_starts == 1 and 0 < split.startup_s < wall - split.student_s + 1e-3


def test_reference_time_counts_outermost_calls_only():
    mod = types.ModuleType("d2lgrade_reference.fake")
    exec(textwrap.dedent('''
        import time
        def inner():
            time.sleep(0.05)
        def outer():
            inner(); inner()
        class Net:
            def forward(self):
                outer()
    '''), mod.__dict__)
    timing.instrument_reference(mod)
    timing.instrument_reference(mod)  # a second pass must not wrap twice
    split = timing.reset()
    mod.outer()
    mod.Net().forward()
    assert split.reference_calls == 2  # outer, forward: the nested calls are inside them
    assert 0.2 <= split.reference_s < 0.4
    assert mod.outer.__wrapped__.__name__ == "outer" and not hasattr(mod.outer.__wrapped__, "__wrapped__")


def test_chapter_parts_add_up_and_the_harness_is_the_rest():
    split = timing.reset()
    with timing.chapter_part("graders/ch03_basics/test_x.py::test_a"):
        split.student_s += 0.5
        time.sleep(0.05)
    with timing.chapter_part("graders/ch05_cnn/test_y.py::test_b"):
        split.reference_s += 0.01
    d = split.as_dict(wall_s=2.0)
    ch = d["chapters"]
    assert set(ch) == {"ch03_basics", "ch05_cnn"}
    assert ch["ch03_basics"]["student_s"] == 0.5 and ch["ch03_basics"]["wall_s"] >= 0.05
    assert ch["ch03_basics"]["harness_s"] == 0.0  # wall 0.05 s < the 0.5 s booked: clamped
    assert ch["ch05_cnn"]["reference_s"] == 0.01
    assert d["harness_s"] == pytest.approx(2.0 - 0.5 - 0.01, abs=1e-3)


def test_a_graded_run_reports_its_split(root, tmp_path):
    from d2lgrade.grading.api import grade
    run = grade(root / "solutions", chapters=["ch02_preliminaries"], seed=5)
    t = run.timing
    assert run.score == run.max_score > 0
    assert set(t["chapters"]) == {"ch02_preliminaries"}
    assert t["student_s"] > 0 and t["startup_s"] > 0 and t["child_starts"] >= 1
    assert t["wall_s"] == pytest.approx(t["student_s"] + t["reference_s"] + t["startup_s"]
                                        + t["harness_s"], abs=1e-3)
