"""d2lgrade: a spec-driven autograder for a Dive into Deep Learning (PyTorch) course.

What graders import::

    from d2lgrade import points, hidden, after_due_date, tier, call_timeout
    from d2lgrade import reference, assert_close, assert_scalar_close, call_without
    from d2lgrade import from_scratch, ops          # from-scratch policies (d2lgrade.scratch.policies)
    from d2lgrade import with_globals               # call a function the book's way (handle)

What a script calls to grade one submission: ``d2lgrade.grade(path, seed=...)``, a ``GradeRun``
(``d2lgrade.grading.api.grade``). Where each concern lives: ARCHITECTURE.md.
"""
import pytest

from d2lgrade.course.layout import load_reference as reference
from d2lgrade.errors import GradeFailure, StudentError
from d2lgrade.scratch import ops
from d2lgrade.scratch.forbidden import call_without
from d2lgrade.scratch.policies import from_scratch

#: Imported on first use (PEP 562), so that commands that never compare tensors
#: (grade-batch's parent, export, stubs) start without importing torch.
_LAZY = {"assert_close": "grading.tolerance", "assert_scalar_close": "grading.tolerance",
         "tolerances": "grading.tolerance", "with_globals": "isolation.remote", "grade": "grading.api"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


points = pytest.mark.points
hidden = pytest.mark.hidden
after_due_date = pytest.mark.after_due_date
tier = pytest.mark.tier
call_timeout = pytest.mark.call_timeout

__all__ = ["points", "hidden", "after_due_date", "tier", "call_timeout", "reference",
           "assert_close", "assert_scalar_close", "call_without", "tolerances",
           "GradeFailure", "StudentError", "from_scratch", "ops", "with_globals", "grade"]
from d2lgrade.version import __version__  # noqa: E402, F401 - one home for the number
