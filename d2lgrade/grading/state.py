"""The grading session's state (seed, submission, results) and what each grader test is: its chapter, visibility and tier."""
from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from d2lgrade.results.model import TestResult  # noqa: F401 - re-exported (graders and tests import it here)

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
            from d2lgrade.isolation.handle import Submission
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
COURSE_ENV = pytest.StashKey[object]()  # D2LGRADE_COURSE before this session
FEEDBACK = pytest.StashKey[list]()
ATTACHMENTS = pytest.StashKey[list]()
USES = pytest.StashKey[list]()


def is_grader_item(item: pytest.Item) -> bool:
    return "graders" in Path(str(item.path)).parts


def chapter_of(item: pytest.Item) -> str:
    parts = Path(str(item.path)).parts
    i = parts.index("graders")
    return parts[i + 1] if i + 1 < len(parts) - 1 else "?"


def visibility_of(item: pytest.Item) -> str:
    if item.get_closest_marker("hidden"):
        return "hidden"
    if item.get_closest_marker("after_due_date"):
        return "after_due_date"
    return "public"


def tier_of(item: pytest.Item) -> str:
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


def per_test_seed(seed: int, nodeid: str) -> int:
    """The seed of one test: the run's seed mixed with the test's id (order-independent)."""
    return zlib.crc32(f"{seed}:{nodeid}".encode()) & 0x7FFFFFFF


def results_of(config: pytest.Config) -> list[TestResult]:
    return list(config.stash[STATE].results.values())
