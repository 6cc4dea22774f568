"""The fixtures graders use: the submission, the seed, a per-test reseed, feedback, the course and its data."""
from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from d2lgrade.grading.state import (
    ATTACHMENTS,
    FEEDBACK,
    STATE,
    TIERS,
    USES,
    GradingState,
    is_grader_item,
    per_test_seed,
    visibility_of,
)
from d2lgrade.results.model import TestResult  # noqa: F401 - re-exported (graders and tests import it here)


@pytest.fixture(scope="session")
def submission(request: pytest.FixtureRequest):
    return request.config.stash[STATE].submission()


@pytest.fixture(scope="session")
def grading_seed(request: pytest.FixtureRequest) -> int:
    return request.config.stash[STATE].seed


@pytest.fixture(autouse=True)
def _d2l_per_test(request: pytest.FixtureRequest):
    """Seed the grader's own random inputs and apply the test's call timeout."""
    if not is_grader_item(request.node):
        yield
        return
    import numpy as np
    import torch
    state = request.config.stash[STATE]
    s = per_test_seed(state.seed, request.node.nodeid)
    torch.manual_seed(s)
    np.random.seed(s)
    random.seed(s)
    marker = request.node.get_closest_marker("call_timeout")
    timeout = float(marker.args[0]) if marker else state.call_timeout
    sub = state.submission()  # lazy: no child starts until the test calls student code
    previous = state.call_timeout
    sub.call_timeout = timeout
    # The child gets its own stream: seeded like the parent, a student's MLP() would draw
    # the very numbers of the grader's reference MLP() and a skipped load would go unseen.
    sub.reseed(per_test_seed(state.seed, request.node.nodeid + "::child"))
    state.call_timeout = timeout
    request.node.stash[FEEDBACK] = []
    request.node.stash[ATTACHMENTS] = []
    sub.scratch.begin_test()
    try:
        yield
    finally:
        request.node.stash[USES] = sub.scratch.uses()
        state.call_timeout = previous
        if state._submission is not None:
            state._submission.call_timeout = previous


def reseed(item: pytest.Item, state: GradingState) -> None:
    import numpy as np
    import torch
    s = per_test_seed(state.seed, item.nodeid)
    torch.manual_seed(s)
    np.random.seed(s)
    random.seed(s)
    state.submission().reseed(per_test_seed(state.seed, item.nodeid + "::child"))


@pytest.fixture
def tmp_path(request: pytest.FixtureRequest, tmp_path_factory) -> Path:
    """pytest's ``tmp_path``; for grader tests, a fresh folder in the submission's scratch.

    The sandboxed child may write only its scratch folder, and graders hand ``tmp_path``
    to student code (save/load), so grader tests get theirs there. Other tests get
    pytest's usual one.
    """
    import re
    name = re.sub(r"[^A-Za-z0-9_-]", "_", request.node.name)[:40]
    if not is_grader_item(request.node):
        return tmp_path_factory.mktemp(name, numbered=True)
    import tempfile
    base = Path(request.config.stash[STATE].submission().scratch_dir) / "tests"
    base.mkdir(exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=name + "-", dir=base))


@pytest.fixture(autouse=False)
def feedback(request: pytest.FixtureRequest):
    from d2lgrade.results.feedback import Feedback
    return Feedback(request.node.stash.setdefault(FEEDBACK, []),
                    request.node.stash.setdefault(ATTACHMENTS, []),
                    public=visibility_of(request.node) == "public")


@pytest.fixture(scope="session")
def course():
    """The course being graded (paths to solutions/, fixtures/, ...)."""
    from d2lgrade.course.layout import find_course
    return find_course()


@pytest.fixture(scope="session")
def fashion_mnist_root(course) -> Path:
    """Root of the project's Fashion-MNIST-format set (see ``d2lgrade.course.datasets``)."""
    from d2lgrade.course.datasets import fashion_mnist_like
    return fashion_mnist_like(course.fixtures / "generated" / "fashion_mnist")


@pytest.fixture
def data_dir(request: pytest.FixtureRequest) -> Path:
    path = os.environ.get("D2L_DATA_DIR")
    if not path:
        pytest.skip(f"data tier not run: {TIERS['data']}")
    return Path(path)


#: errors a test's own code raises when a student's value has another form than expected
#: (unpacking a tensor into two names, iterating None, indexing a list with a string...)
