"""The pytest plugin: markers, fixtures and result collection for graders.

Registered through the ``pytest11`` entry point, so ``pytest graders/...`` works directly.
A grader test is any test under a ``graders`` folder; each one must carry ``points``.

Markers
    ``@pytest.mark.points(n)``          what the test is worth (required on grader tests)
    ``@pytest.mark.hidden``             feedback without expected values (default: public)
    ``@pytest.mark.after_due_date``     shown to students after the due date
    ``@pytest.mark.tier("data"|"gpu")`` needs D2L_DATA_DIR / CUDA; otherwise not run
    ``@pytest.mark.call_timeout(s)``    limit per call into student code (default 30 s)

Fixtures
    ``submission``  the ``handle.Submission`` being graded (session scope)
    ``grading_seed`` the run's seed; each test also gets torch/numpy/random seeded from it
                     (in the grading process and, before its next call, in the child)
                     and its own id, so a regrade with ``--d2l-seed`` reproduces its inputs
    ``data_dir``     the D2L_DATA_DIR path (tier "data" tests only)
    ``course``       the ``course.Course`` (paths of solutions/, fixtures/, ...)
    ``fashion_mnist_root`` root of the project's Fashion-MNIST-format set (digits)
    ``feedback``     ``feedback("text")`` adds a line to the test's output (e.g. a figure
                     a convergence test reached); ``feedback.plot``, ``feedback.trajectory``
                     and ``feedback.images`` attach data that the HTML feedback page draws
                     (see ``d2lgrade.feedback``)
"""
from __future__ import annotations

import os
import random
import secrets
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

from .errors import GradeFailure, StudentError
from .results import TestResult  # noqa: F401 - re-exported (graders and tests import it here)

VISIBILITIES = ("public", "hidden", "after_due_date")
TIERS = {"data": "D2L_DATA_DIR is not set (the course's real data files)",
         "gpu": "no CUDA device on this machine"}
MAX_MESSAGE_CHARS = 4000


@dataclass
class GradingState:
    submission_path: str
    isolation: str
    seed: int
    call_timeout: float
    results: dict[str, TestResult] = field(default_factory=dict)
    _submission: object = None
    #: What the sandbox reported (kept after the submission is closed, for the reports).
    protections: list = field(default_factory=list)
    missing_protections: list = field(default_factory=list)
    #: From-scratch policies of the collected grader files (pushed to every child).
    policies: list = field(default_factory=list)
    #: Violations found, kept after the submission is closed.
    violations: dict = field(default_factory=dict)

    def submission(self):
        if self._submission is None:
            from .handle import Submission
            self._submission = Submission(self.submission_path, self.isolation,
                                          call_timeout=self.call_timeout)
            self._submission.set_policies(self.policies)
        return self._submission

    def close(self) -> None:
        if self._submission is not None:
            self.violations = dict(self._submission.scratch.violations)
            self.protections = list(self._submission.protections)
            self.missing_protections = list(self._submission.missing_protections)
            self._submission.close()
            self._submission = None


STATE = pytest.StashKey[GradingState]()
_COURSE_ENV = pytest.StashKey[object]()  # D2LGRADE_COURSE before this session
FEEDBACK = pytest.StashKey[list]()
ATTACHMENTS = pytest.StashKey[list]()
USES = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("d2lgrade", "d2lgrade grading")
    group.addoption("--d2l-submission", default=None,
                    help="Submission folder to grade (default: the course's solutions/)")
    group.addoption("--d2l-isolation", default="process", choices=("process", "none"),
                    help="Run student code in a child process, or in-process for debugging")
    group.addoption("--d2l-seed", type=int, default=None,
                    help="Seed for the random inputs of this run (default: a fresh one)")
    group.addoption("--d2l-call-timeout", type=float, default=30.0,
                    help="Seconds allowed for one call into student code")
    group.addoption("--d2l-course", default=None, help="Course root (graders/, solutions/)")


def pytest_configure(config: pytest.Config) -> None:
    for line in ("points(n): points a grader test is worth",
                 "hidden: feedback without expected values",
                 "after_due_date: results shown after the due date",
                 "tier(name): 'data' (needs D2L_DATA_DIR) or 'gpu' (needs CUDA)",
                 "call_timeout(seconds): time limit per call into student code"):
        config.addinivalue_line("markers", line)
    if config.getoption("d2l_course"):
        # for this session's children only: restored at unconfigure, so that an in-process
        # grading (grading.grade, validate) does not leave its course to the rest of the process
        config.stash[_COURSE_ENV] = os.environ.get("D2LGRADE_COURSE")
        os.environ["D2LGRADE_COURSE"] = str(Path(config.getoption("d2l_course")).resolve())
    seed = config.getoption("d2l_seed")
    if seed is None:
        seed = secrets.randbelow(2**31)
    sub = config.getoption("d2l_submission") or os.environ.get("D2LGRADE_SUBMISSION")
    if sub is None:
        from .course import find_course
        try:
            found = find_course()  # a student release has no solutions/: grade its stubs
            sub = str(found.solutions if found.solutions.is_dir() else found.assignments)
        except FileNotFoundError:
            sub = "."
    if config.getoption("d2l_isolation") == "process" and config.getoption("d2l_submission"):
        from .handle import warm_up
        warm_up()
    config.stash[STATE] = GradingState(str(Path(sub).resolve()), config.getoption("d2l_isolation"),
                                       seed, config.getoption("d2l_call_timeout"))


def pytest_unconfigure(config: pytest.Config) -> None:
    if STATE in config.stash:
        config.stash[STATE].close()
    if _COURSE_ENV in config.stash:
        before = config.stash[_COURSE_ENV]
        if before is None:
            os.environ.pop("D2LGRADE_COURSE", None)
        else:
            os.environ["D2LGRADE_COURSE"] = before


def is_grader_item(item: pytest.Item) -> bool:
    return "graders" in Path(str(item.path)).parts


def chapter_of(item: pytest.Item) -> str:
    parts = Path(str(item.path)).parts
    i = parts.index("graders")
    return parts[i + 1] if i + 1 < len(parts) - 1 else "?"


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items) -> None:
    for item in items:
        if is_grader_item(item) and item.get_closest_marker("points") is None:
            raise pytest.UsageError(f"{item.nodeid}: grader tests need @pytest.mark.points(n)")
    # Every from-scratch policy the collected grader files declared, for every child.
    from .policies import policies_for
    state = config.stash[STATE]
    state.policies = policies_for({str(item.path) for item in items if is_grader_item(item)})
    if os.environ.get("D2LGRADE_POLICIES") == "off":  # measurements only: the op trace's cost
        state.policies = []
    if state._submission is not None:
        state._submission.set_policies(state.policies)


def _visibility(item: pytest.Item) -> str:
    if item.get_closest_marker("hidden"):
        return "hidden"
    if item.get_closest_marker("after_due_date"):
        return "after_due_date"
    return "public"


def _tier(item: pytest.Item) -> str:
    marker = item.get_closest_marker("tier")
    return marker.args[0] if marker else "fast"


def tier_unavailable(tier: str) -> str | None:
    """Why a tier cannot run here, or None when it can."""
    if tier == "data" and not os.environ.get("D2L_DATA_DIR"):
        return TIERS["data"]
    if tier == "gpu":
        import torch
        if not torch.cuda.is_available():
            return TIERS["gpu"]
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if not is_grader_item(item):
        return
    tier = _tier(item)
    if tier not in ("fast", *TIERS):
        raise pytest.UsageError(f"{item.nodeid}: unknown tier {tier!r}")
    reason = tier_unavailable(tier)
    if reason:
        pytest.skip(f"{tier} tier not run: {reason}")


@pytest.fixture(scope="session")
def submission(request: pytest.FixtureRequest):
    return request.config.stash[STATE].submission()


@pytest.fixture(scope="session")
def grading_seed(request: pytest.FixtureRequest) -> int:
    return request.config.stash[STATE].seed


def per_test_seed(seed: int, nodeid: str) -> int:
    """The seed of one test: the run's seed mixed with the test's id (order-independent)."""
    return zlib.crc32(f"{seed}:{nodeid}".encode()) & 0x7FFFFFFF


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


def _reseed(item: pytest.Item, state: GradingState) -> None:
    import numpy as np
    import torch
    s = per_test_seed(state.seed, item.nodeid)
    torch.manual_seed(s)
    np.random.seed(s)
    random.seed(s)
    state.submission().reseed(per_test_seed(state.seed, item.nodeid + "::child"))


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function):
    """Dependent tests (issue 19): a test that failed while the student's code called a helper
    that has a trusted stand-in runs once more with the stand-in, and passes on its own merit.

    Only helpers reached from *other* graded code are replaced (a direct call of the helper
    is always the student's own); a helper that broke its from-scratch policy is never
    replaced, so a shortcut still zeroes everything built on it.
    """
    try:
        return (yield)
    except BaseException as exc:
        from .policies import ScratchViolation
        state = pyfuncitem.config.stash.get(STATE, None)
        if (state is None or not is_grader_item(pyfuncitem) or state._submission is None
                or isinstance(exc, (ScratchViolation, pytest.skip.Exception, KeyboardInterrupt))
                or not isinstance(exc, (AssertionError, StudentError))):
            raise
        sub = state._submission
        helpers = sub.scratch.substitutable()
        if not helpers:
            raise
        first = set(sub.scratch.reached)
        _reseed(pyfuncitem, state)
        args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        try:
            with sub.substituting(helpers):
                pyfuncitem.obj(**args)
        except BaseException:  # noqa: BLE001 - the test fails for its own reasons: report the first failure
            sub.scratch.reached |= first
            raise exc from None
        sub.scratch.reached |= first
        names = ", ".join(h.split(".", 2)[-1] for h in helpers)
        pyfuncitem.stash.setdefault(FEEDBACK, []).append(
            f"passed with a correct {names} from the grader standing in for yours (your {names} "
            f"made this test fail; its own tests cost its points, this one counts for the code built on it)")
        return True


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """A from-scratch violation zeroes every test that reached the function, also the ones
    that ran (and passed) before the violation showed."""
    state = session.config.stash.get(STATE, None)
    if state is None:
        return
    sub = state._submission
    record = sub.scratch if sub is not None else None
    if record is None or not record.violations:
        return
    for result in state.results.values():
        if result.status == "not_run" or not result.uses:
            continue
        messages = [m for m in dict.fromkeys(record.broken(result.uses)) if m not in result.message]
        if messages or (record.broken(result.uses) and result.status == "passed"):
            result.status = "failed"
            text = "\n".join(messages)
            result.message = "\n".join(filter(None, [text, result.message]))


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
    from .feedback import Feedback
    return Feedback(request.node.stash.setdefault(FEEDBACK, []),
                    request.node.stash.setdefault(ATTACHMENTS, []),
                    public=_visibility(request.node) == "public")


@pytest.fixture(scope="session")
def course():
    """The course being graded (paths to solutions/, fixtures/, ...)."""
    from .course import find_course
    return find_course()


@pytest.fixture(scope="session")
def fashion_mnist_root(course) -> Path:
    """Root of the project's Fashion-MNIST-format set (see ``d2lgrade.datasets``)."""
    from .datasets import fashion_mnist_like
    return fashion_mnist_like(course.fixtures / "generated" / "fashion_mnist")


@pytest.fixture
def data_dir(request: pytest.FixtureRequest) -> Path:
    path = os.environ.get("D2L_DATA_DIR")
    if not path:
        pytest.skip(f"data tier not run: {TIERS['data']}")
    return Path(path)


#: errors a test's own code raises when a student's value has another form than expected
#: (unpacking a tensor into two names, iterating None, indexing a list with a string...)
VALUE_FORM_ERRORS = (ValueError, TypeError, IndexError, KeyError, AttributeError, RuntimeError,
                     ZeroDivisionError)


def _wrong_form(item: pytest.Item, excinfo, visibility: str) -> str | None:
    """A message about the student's value when the test's own code tripped over it; None when
    the error came from the engine (a real grader error) or is of another kind."""
    exc = excinfo.value
    if not isinstance(exc, VALUE_FORM_ERRORS) or not hasattr(item, "path"):
        return None
    engine = Path(__file__).resolve().parent
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


def _message(item: pytest.Item, excinfo, visibility: str) -> str:
    exc = excinfo.value
    if isinstance(exc, (StudentError, GradeFailure)):
        text = str(exc)
    elif isinstance(exc, AssertionError):
        doc = (item.function.__doc__ or "").strip().splitlines() if hasattr(item, "function") else []
        if visibility == "public":
            text = str(exc) or (doc[0] if doc else "assertion failed")
        else:
            text = "failed: " + (doc[0] if doc else item.name) + " (details hidden)"
    elif (form := _wrong_form(item, excinfo, visibility)) is not None:
        text = form
    else:
        text = f"grader error ({type(exc).__name__}); please tell your instructor"
        if visibility == "public":
            text += f": {exc}"
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + "\n... (truncated)"
    return text


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if not is_grader_item(item):
        return
    state = item.config.stash[STATE]
    result = state.results.get(item.nodeid)
    if result is None:
        marker = item.get_closest_marker("points")
        result = TestResult(item.nodeid, chapter_of(item), item.name, float(marker.args[0]),
                            _visibility(item), tier=_tier(item))
        state.results[item.nodeid] = result
    result.duration += report.duration
    if report.when == "setup" and report.skipped:
        result.status, result.message = "not_run", str(call.excinfo.value.msg if hasattr(
            call.excinfo.value, "msg") else call.excinfo.value)
    elif report.when in ("setup", "call") and report.failed:
        result.status = "failed"
        result.message = "\n".join([_message(item, call.excinfo, result.visibility),
                                    *item.stash.get(FEEDBACK, [])])
    elif report.when == "call" and report.skipped:
        result.status = "not_run"
        result.message = str(getattr(call.excinfo.value, "msg", call.excinfo.value))
    elif report.when == "call" and report.passed:
        result.status = "passed"
        result.message = "\n".join(item.stash.get(FEEDBACK, []))
    elif report.when == "teardown" and report.failed and result.status == "passed":
        result.status = "failed"
        result.message = _message(item, call.excinfo, result.visibility)
    if report.when == "call":  # plots etc. are kept whether the test passed or failed
        result.attachments = list(item.stash.get(ATTACHMENTS, []))
    if report.when == "teardown":
        result.uses = list(item.stash.get(USES, []))


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or not state.results:
        return
    from .report import format_table
    terminalreporter.write_line("")
    terminalreporter.write_line(format_table(list(state.results.values()), seed=state.seed,
                                             color=terminalreporter.hasmarkup))


def results_of(config: pytest.Config) -> list[TestResult]:
    return list(config.stash[STATE].results.values())

