"""The results model: one graded test (``TestResult``), shared by every consumer of results.

The pytest plugin fills it in; the terminal table, JUnit XML, Gradescope JSON and the feedback
page (``report``, ``feedback_html``), the batch and the gradebook read it. It imports nothing
from pytest, so those consumers do not depend on the pytest glue.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class TestResult:
    nodeid: str
    chapter: str
    name: str
    points: float
    visibility: str
    status: str = "failed"          # passed | failed | not_run
    message: str = ""
    duration: float = 0.0
    tier: str = "fast"
    #: Data the grader attached for the feedback page (``feedback.plot`` ...): JSON-ready.
    attachments: list = field(default_factory=list)
    #: From-scratch functions (``module.qualname``) this test reached; a policy violation of
    #: any of them zeroes the test (``d2lgrade.scratch.policies``).
    uses: list = field(default_factory=list)

    @property
    def display_name(self) -> str:
        """``chapter/test_module::test_name`` (unique; what reports and gradebooks show)."""
        path, _, test = self.nodeid.partition("::")
        return f"{self.chapter}/{path.rsplit('/', 1)[-1].removesuffix('.py')}::{test}"

    @property
    def score(self) -> float:
        return self.points if self.status == "passed" else 0.0

    @property
    def max_score(self) -> float:
        return 0.0 if self.status == "not_run" else self.points

    def to_dict(self) -> dict:
        return asdict(self)
