"""Where one submission's grading time goes: student code, reference code, start-up, harness.

One ``Split`` per grading process, reset at the start of each submission
(``grading.run_graders``) and read at its end (``GradeRun.timing``, then ``status.json`` →
``timing`` in a batch). The parts, in wall seconds:

- ``student_s``: time the child spends inside student code, measured by the child around
  each request that runs it (``call``, ``probe``, ``getattr``: the first ``getattr`` imports
  the student's module, so module-level code counts). Probes run student code (a backward
  pass through it, a trainer); the from-scratch op trace (``optrace``) runs *inside* these
  calls and is counted here too, see BENCHMARKS.md for its share. The figure comes from the
  child and is used for statistics only, never for a score.
- ``reference_s``: parent time inside the reference solutions (outermost calls only), with
  ``D2LGRADE_TIMING=1`` (``instrument_reference`` wraps the reference's functions and methods
  when ``course.load_reference`` loads them; off by default, so grading never depends on it).
- ``startup_s``: unpacking, pytest start-up and collection (grader imports), child starts
  (fork from the warm forkserver, sandbox, handshake) and the policy push that installs the
  op trace in each fresh child.
- ``harness_s``: the rest (pytest's per-test machinery, fixtures, seeding, the comparison
  helpers, encoding, pipes and decoding both ways, the child's per-call sandbox work, writing
  nothing yet): ``wall_s`` minus the three above.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import os
import re
import time
from dataclasses import asdict, dataclass, field

ENV = "D2LGRADE_TIMING"
CHAPTER = re.compile(r"^ch\d\d_[a-z0-9_]+$")


@dataclass
class Split:
    student_s: float = 0.0
    reference_s: float = 0.0
    startup_s: float = 0.0
    calls: int = 0
    reference_calls: int = 0
    child_starts: int = 0
    #: The same parts per chapter (its tests, their fixtures, child starts during them);
    #: pytest's start-up, collection and end are counted only in the totals.
    chapters: dict = field(default_factory=dict)

    def as_dict(self, wall_s: float) -> dict:
        d = {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()
             if k != "chapters"}
        d.update(_finish(d, wall_s))
        d["chapters"] = {c: _finish(dict(p), p["wall_s"]) for c, p in self.chapters.items()}
        return d


PARTS = ("student_s", "reference_s", "startup_s")


def _finish(d: dict, wall_s: float) -> dict:
    d = {k: round(v, 4) for k, v in d.items()}
    d["wall_s"] = round(wall_s, 4)
    d["harness_s"] = round(max(0.0, wall_s - sum(d.get(k, 0.0) for k in PARTS)), 4)
    return d


@contextlib.contextmanager
def chapter_part(nodeid: str):
    """Add what happens inside the block to the chapter of grader test ``nodeid``."""
    chapter = next((seg for seg in nodeid.split("/") if CHAPTER.match(seg)), "other")
    split = current
    before = [getattr(split, k) for k in PARTS]
    start = time.perf_counter()
    try:
        yield
    finally:
        part = split.chapters.setdefault(chapter, {"wall_s": 0.0, **{k: 0.0 for k in PARTS}})
        part["wall_s"] += time.perf_counter() - start
        for k, b in zip(PARTS, before):
            part[k] += getattr(split, k) - b


current = Split()
_depth = 0  # reference calls in progress (only the outermost is timed)


def reset() -> Split:
    global current, _depth
    current, _depth = Split(), 0
    return current


def enabled() -> bool:
    return os.environ.get(ENV, "") not in ("", "0")


def _timed(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        global _depth
        if _depth:
            return fn(*args, **kwargs)
        _depth = 1
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            current.reference_s += time.perf_counter() - start
            current.reference_calls += 1
            _depth = 0
    wrapper.__d2lgrade_timed__ = True
    return wrapper


def instrument_reference(mod) -> None:
    """Time the functions and methods a reference module defines (``D2LGRADE_TIMING``)."""
    for name, obj in list(vars(mod).items()):
        if getattr(obj, "__module__", None) != mod.__name__:
            continue  # imported from elsewhere (torch, another reference module: timed there)
        if inspect.isfunction(obj) and not getattr(obj, "__d2lgrade_timed__", False):
            setattr(mod, name, _timed(obj))
        elif inspect.isclass(obj):
            for attr, member in list(vars(obj).items()):
                if inspect.isfunction(member) and not getattr(member, "__d2lgrade_timed__", False):
                    setattr(obj, attr, _timed(member))
