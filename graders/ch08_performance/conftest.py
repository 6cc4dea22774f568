"""Shared fixtures of the chapter-8 graders (trusted; they run in the grading process).

* ``fresh_child``: a second submission process whose submission folder is empty, so the
  student's classes cannot be imported there. A TorchScript file the student saved is loaded
  and run in it (``torch.jit.load`` in that child); only tensors come back, nothing the
  student wrote is loaded or unpickled in the grading process.
* ``median_seconds(fn, sync)``: seconds of a piece of work in the student's process, measured by the
  grader with ``torch.cuda.synchronize()`` before and after (the median of several runs after
  a warm-up; the number of runs calibrated from the warm-up unless a test fixes it:
  ``d2lgrade.grading.speed``), for the gpu tier.
"""
import pytest

from d2lgrade.isolation.handle import Submission
from d2lgrade.grading.speed import measure


@pytest.fixture(scope="module")
def fresh_child(tmp_path_factory, submission):
    empty = tmp_path_factory.mktemp("no-student-code")
    sub = Submission(str(empty), isolation="process", call_timeout=60.0)
    # The forkserver copies the grading process's import path, which holds the submission
    # folder when grading with isolation "none": drop every folder that has the chapter.
    sub.module("builtins").exec(
        "import os, sys\n"
        "sys.path[:] = [p for p in sys.path if not os.path.isdir(os.path.join(p or '.', 'ch08_performance'))]",
        {})
    yield sub
    sub.close()


@pytest.fixture(scope="session")
def median_seconds():
    return _median_seconds


def _median_seconds(fn, sync, *, warmup=1, repeats=None):
    """Median wall time of ``fn()`` with ``sync()`` before and after each run, after warm-up;
    ``repeats=None``: rounds calibrated from the warm-up (``d2lgrade.grading.speed``)."""
    return measure(fn, sync, warmup=warmup, rounds=repeats).median
