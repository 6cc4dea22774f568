"""Bugs that are NOT in fixtures/mutants must lose points too (the graders generalise).

Each file under tests/unlisted_bugs/<chapter>/ uses the mutant format; it is graded against
its whole chapter and must score below full marks.
"""
from pathlib import Path

import pytest

from d2lgrade.course_tools.validate import grade_mutant, load_mutant

BUGS = sorted((Path(__file__).parent / "unlisted_bugs").glob("*/*.py"))


@pytest.mark.parametrize("path", BUGS, ids=[f"{p.parent.name}/{p.stem}" for p in BUGS])
def test_unlisted_bug_loses_points(course, path):
    bug = load_mutant(path)
    run = grade_mutant(course, bug, seed=11)
    assert run.max_score > 0
    assert run.score < run.max_score, f"{bug.description}: full marks"
