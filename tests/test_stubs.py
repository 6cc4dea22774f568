"""Single source: stubs are generated from solutions, and drift is detected."""
import pytest

from d2lgrade.course.stubs import StubError, check_stubs, make_stub

SOLUTION = '''"""doc"""
import torch


def f(x):
    """Spec of f."""
    y = x + 1  # given code
    # BEGIN SOLUTION
    return y * 2
    # END SOLUTION


class C:
    def g(self):
        # BEGIN SOLUTION
        return 3
        # END SOLUTION
'''


def test_regions_become_not_implemented_with_the_name():
    stub = make_stub(SOLUTION)
    assert "return y * 2" not in stub and "return 3" not in stub
    assert 'raise NotImplementedError("f: ' in stub
    assert 'raise NotImplementedError("C.g: ' in stub
    assert '"""Spec of f."""' in stub and "y = x + 1  # given code" in stub


@pytest.mark.parametrize("source, message", [
    ("def f():\n    # BEGIN SOLUTION\n    return 1\n", "never closed"),
    ("def f():\n    return 1\n    # END SOLUTION\n", "without BEGIN"),
    ("# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n", "inside a function"),
    ("def f():\n    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION\n", "inside the region"),
    ("def f():\n    return 1\n\n\ndef f():\n    return 2\n", "defined twice"),
    ("def f(:\n", "does not parse"),
])
def test_malformed_markers_are_errors(source, message):
    with pytest.raises(StubError, match=message):
        make_stub(source, "x.py")


def test_assignments_match_solutions(course):
    """`d2lgrade stubs --check`: assignments/ is exactly what the generator makes."""
    assert check_stubs(course) == []
