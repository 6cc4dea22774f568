"""The pytest plugin on a small throw-away course: points, tiers, visibility, seeds."""
import os
import textwrap

import pytest

from d2lgrade.course.layout import Course
from d2lgrade.grading.api import grade, run_graders

GRADER = '''
import os
import pytest
import torch
from d2lgrade import points, hidden, tier, assert_close

@pytest.fixture(scope="module")
def student(submission):
    return submission.module("ch99_toy.m")

@points(2)
def test_public(student):
    assert student.double(torch.tensor([1.0])).item() == 2.0

@hidden
@points(3)
def test_hidden_plain_assert(student):
    """doubles a secret value"""
    assert student.double(torch.tensor([21.0])).item() == 41.0, "expected 41"

@tier("data")
@points(5)
def test_data_tier(student, data_dir):
    assert data_dir.exists()

@tier("gpu")
@points(7)
def test_gpu_tier(student):
    assert torch.cuda.is_available()

@points(1)
def test_seeded_input(student, feedback):
    x = torch.rand(1)
    feedback(f"value {x.item():.6f}")
    assert student.double(x).item() == pytest.approx(2 * x.item())
'''


@pytest.fixture()
def toy_course(tmp_path):
    for folder in ("solutions", "assignments"):
        (tmp_path / folder / "ch99_toy").mkdir(parents=True)
        (tmp_path / folder / "ch99_toy" / "__init__.py").write_text("")
    (tmp_path / "solutions/ch99_toy/m.py").write_text("def double(x):\n    return 2 * x\n")
    (tmp_path / "graders/ch99_toy").mkdir(parents=True)
    (tmp_path / "graders/ch99_toy/test_m.py").write_text(textwrap.dedent(GRADER))
    return Course(tmp_path)


def test_tiers_not_run_do_not_count(toy_course, monkeypatch):
    monkeypatch.delenv("D2L_DATA_DIR", raising=False)
    run = grade(toy_course.solutions, course=toy_course, seed=5)
    status = {r.name: r.status for r in run.results}
    assert status["test_data_tier"] == "not_run"
    assert run.max_score == 2 + 3 + 1 + (7 if status["test_gpu_tier"] != "not_run" else 0)
    data = next(r for r in run.results if r.name == "test_data_tier")
    assert "D2L_DATA_DIR" in data.message and data.max_score == 0


def test_data_tier_runs_when_the_folder_is_given(toy_course, monkeypatch, tmp_path):
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path))
    run = grade(toy_course.solutions, course=toy_course, seed=5)
    assert {r.name: r.status for r in run.results}["test_data_tier"] == "passed"


def test_hidden_plain_asserts_do_not_leak(toy_course):
    run = grade(toy_course.solutions, course=toy_course, seed=5)
    hidden = next(r for r in run.results if r.name == "test_hidden_plain_assert")
    assert hidden.status == "failed" and hidden.visibility == "hidden"
    assert "41" not in hidden.message and "doubles a secret value" in hidden.message


def test_seed_reproduces_inputs(toy_course):
    runs = [grade(toy_course.solutions, course=toy_course, seed=s) for s in (1, 1, 2)]
    values = [next(r.message for r in run.results if r.name == "test_seeded_input") for run in runs]
    assert values[0] == values[1] != values[2]


def test_grader_without_points_is_an_error(toy_course):
    # A chapter name of its own: pytest caches grader modules by their path in the course.
    (toy_course.graders / "ch98_nopoints").mkdir()
    (toy_course.graders / "ch98_nopoints/test_m.py").write_text("def test_forgot_points():\n    pass\n")
    with pytest.raises(RuntimeError, match="need @pytest.mark.points"):
        run_graders(toy_course.solutions, toy_course, ["ch98_nopoints"], seed=1, isolation="none")


def test_in_process_grading_leaves_the_course_setting_as_it_was(toy_course, monkeypatch):
    """grade(course=...) tells its children the course through D2LGRADE_COURSE for its own
    session only: a later command started from this process (a Ray driver) finds its own."""
    monkeypatch.delenv("D2LGRADE_COURSE", raising=False)
    grade(toy_course.solutions, course=toy_course, seed=5)
    assert "D2LGRADE_COURSE" not in os.environ
    monkeypatch.setenv("D2LGRADE_COURSE", "/somewhere/else")
    grade(toy_course.solutions, course=toy_course, seed=5)
    assert os.environ["D2LGRADE_COURSE"] == "/somewhere/else"
