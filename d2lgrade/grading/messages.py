"""What a student reads when a test fails: the message, cut to size, with expected values only where the test is public."""
from __future__ import annotations

from pathlib import Path

import pytest

from d2lgrade.errors import GradeFailure, StudentError
from d2lgrade.grading.state import MAX_MESSAGE_CHARS
from d2lgrade.paths import ENGINE_DIR
from d2lgrade.results.model import TestResult  # noqa: F401 - re-exported (graders and tests import it here)

VALUE_FORM_ERRORS = (ValueError, TypeError, IndexError, KeyError, AttributeError, RuntimeError,
                     ZeroDivisionError)


def wrong_form(item: pytest.Item, excinfo, visibility: str) -> str | None:
    """A message about the student's value when the test's own code tripped over it; None when
    the error came from the engine (a real grader error) or is of another kind."""
    exc = excinfo.value
    if not isinstance(exc, VALUE_FORM_ERRORS) or not hasattr(item, "path"):
        return None
    engine = ENGINE_DIR
    entries = list(excinfo.traceback)
    in_test = [e for e in entries if Path(str(e.path)).resolve() == Path(str(item.path)).resolve()]
    if not in_test or Path(str(entries[-1].path)).resolve().is_relative_to(engine):
        return None
    text = (f"your result does not have the form this test expects "
            f"({type(exc).__name__}: {str(exc)[:300]})")
    if visibility == "public":
        try:
            line = str(in_test[-1].statement).strip().splitlines()[0]
            text += f"; the test's line: `{line[:200]}`"
        except Exception:  # the source may be unavailable; the message stands without it
            pass
    return text


def failure_message(item: pytest.Item, excinfo, visibility: str) -> str:
    exc = excinfo.value
    if isinstance(exc, (StudentError, GradeFailure)):
        text = str(exc)
    elif isinstance(exc, AssertionError):
        doc = (item.function.__doc__ or "").strip().splitlines() if hasattr(item, "function") else []
        if visibility == "public":
            text = str(exc) or (doc[0] if doc else "assertion failed")
        else:
            text = "failed: " + (doc[0] if doc else item.name) + " (details hidden)"
    elif (form := wrong_form(item, excinfo, visibility)) is not None:
        text = form
    else:
        text = f"grader error ({type(exc).__name__}); please tell your instructor"
        if visibility == "public":
            text += f": {exc}"
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + "\n... (truncated)"
    return text
