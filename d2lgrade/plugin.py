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
                     (see ``d2lgrade.results.feedback``)

This module declares the plugin's hooks, in one place; what they use lives in
``d2lgrade.grading``: ``state`` (the session's state, what each test is), ``fixtures`` (the
fixtures above, registered here by import) and ``messages`` (what a failed test says).
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from d2lgrade.errors import StudentError

# The fixtures, registered with this plugin by being names of this module.
from d2lgrade.grading.fixtures import (  # noqa: F401
    _d2l_per_test,
    course,
    data_dir,
    fashion_mnist_root,
    feedback,
    grading_seed,
    reseed,
    submission,
    tmp_path,
)
from d2lgrade.grading.messages import failure_message
from d2lgrade.grading.state import (
    ATTACHMENTS,
    COURSE_ENV,
    FEEDBACK,
    STATE,
    TIERS,
    USES,
    GradingState,
    chapter_of,
    is_grader_item,
    tier_of,
    tier_unavailable,
    visibility_of,
)
from d2lgrade.results.model import TestResult  # noqa: F401 - re-exported (graders and tests import it here)


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
        config.stash[COURSE_ENV] = os.environ.get("D2LGRADE_COURSE")
        os.environ["D2LGRADE_COURSE"] = str(Path(config.getoption("d2l_course")).resolve())
    seed = config.getoption("d2l_seed")
    if seed is None:
        seed = secrets.randbelow(2**31)
    sub = config.getoption("d2l_submission") or os.environ.get("D2LGRADE_SUBMISSION")
    if sub is None:
        from d2lgrade.course.layout import find_course
        try:
            found = find_course()  # a student release has no solutions/: grade its stubs
            sub = str(found.solutions if found.solutions.is_dir() else found.assignments)
        except FileNotFoundError:
            sub = "."
    if config.getoption("d2l_isolation") == "process" and config.getoption("d2l_submission"):
        from d2lgrade.isolation.transport import warm_up
        warm_up()
    config.stash[STATE] = GradingState(str(Path(sub).resolve()), config.getoption("d2l_isolation"),
                                       seed, config.getoption("d2l_call_timeout"))


def pytest_unconfigure(config: pytest.Config) -> None:
    if STATE in config.stash:
        config.stash[STATE].close()
    if COURSE_ENV in config.stash:
        before = config.stash[COURSE_ENV]
        if before is None:
            os.environ.pop("D2LGRADE_COURSE", None)
        else:
            os.environ["D2LGRADE_COURSE"] = before


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items) -> None:
    for item in items:
        if is_grader_item(item) and item.get_closest_marker("points") is None:
            raise pytest.UsageError(f"{item.nodeid}: grader tests need @pytest.mark.points(n)")
    # Every from-scratch policy the collected grader files declared, for every child.
    from d2lgrade.scratch.policies import policies_for
    state = config.stash[STATE]
    state.policies = policies_for({str(item.path) for item in items if is_grader_item(item)})
    if os.environ.get("D2LGRADE_POLICIES") == "off":  # measurements only: the op trace's cost
        state.policies = []
    if state._submission is not None:
        state._submission.set_policies(state.policies)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if not is_grader_item(item):
        return
    tier = tier_of(item)
    if tier not in ("fast", *TIERS):
        raise pytest.UsageError(f"{item.nodeid}: unknown tier {tier!r}")
    reason = tier_unavailable(tier)
    if reason:
        pytest.skip(f"{tier} tier not run: {reason}")


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
        from d2lgrade.scratch.record import ScratchViolation
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
        reseed(pyfuncitem, state)
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
                            visibility_of(item), tier=tier_of(item))
        state.results[item.nodeid] = result
    result.duration += report.duration
    if report.when == "setup" and report.skipped:
        result.status, result.message = "not_run", str(call.excinfo.value.msg if hasattr(
            call.excinfo.value, "msg") else call.excinfo.value)
    elif report.when in ("setup", "call") and report.failed:
        result.status = "failed"
        result.message = "\n".join([failure_message(item, call.excinfo, result.visibility),
                                    *item.stash.get(FEEDBACK, [])])
    elif report.when == "call" and report.skipped:
        result.status = "not_run"
        result.message = str(getattr(call.excinfo.value, "msg", call.excinfo.value))
    elif report.when == "call" and report.passed:
        result.status = "passed"
        result.message = "\n".join(item.stash.get(FEEDBACK, []))
    elif report.when == "teardown" and report.failed and result.status == "passed":
        result.status = "failed"
        result.message = failure_message(item, call.excinfo, result.visibility)
    if report.when == "call":  # plots etc. are kept whether the test passed or failed
        result.attachments = list(item.stash.get(ATTACHMENTS, []))
    if report.when == "teardown":
        result.uses = list(item.stash.get(USES, []))


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or not state.results:
        return
    from d2lgrade.results.report import format_table
    terminalreporter.write_line("")
    terminalreporter.write_line(format_table(list(state.results.values()), seed=state.seed,
                                             color=terminalreporter.hasmarkup))
