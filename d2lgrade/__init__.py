"""d2lgrade: a spec-driven autograder for a Dive into Deep Learning (PyTorch) course.

What graders import::

    from d2lgrade import points, hidden, after_due_date, tier, call_timeout
    from d2lgrade import reference, assert_close, assert_scalar_close, call_without
    from d2lgrade import from_scratch, ops          # from-scratch policies (d2lgrade.policies)
    from d2lgrade import with_globals               # call a function the book's way (handle)
"""
import pytest

from .course import load_reference as reference
from .errors import GradeFailure, StudentError
from .forbidden import call_without
from . import ops
from .policies import from_scratch

#: Imported on first use (PEP 562), so that commands that never compare tensors
#: (grade-batch's parent, export, stubs) start without importing torch.
_LAZY = {"assert_close": "tolerance", "assert_scalar_close": "tolerance", "tolerances": "tolerance",
         "with_globals": "handle"}


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
           "GradeFailure", "StudentError", "from_scratch", "ops", "with_globals"]
__version__ = "0.1.0"
