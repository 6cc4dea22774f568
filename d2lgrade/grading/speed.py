"""Timing a piece of work for speed-up tests (chapter 8's gpu tier), in calibrated rounds.

``measure(fn, sync)`` runs ``fn`` once as a warm-up (also the calibration run), then times
``rounds`` runs with ``sync()`` before and after each (``torch.cuda.synchronize`` for CUDA
work), and returns pytest-benchmark's ``Stats`` (median, IQR, min, rounds...). Unless the
caller fixes ``rounds``, ``plan_rounds`` chooses them from the warm-up: enough runs to
measure about ``target_s`` in all (a 10 ms kernel gets 50 rounds, a 0.5 s run 3), never more
than ``budget_s`` of expected time. The logic runs on any device, so it is tested on the CPU
(tests/test_speed.py).
"""
from __future__ import annotations

import math
import time
from typing import Callable

from pytest_benchmark.stats import Stats

MIN_ROUNDS = 3
MAX_ROUNDS = 50
TARGET_S = 1.0
BUDGET_S = 10.0


def plan_rounds(first_s: float, *, min_rounds: int = MIN_ROUNDS, max_rounds: int = MAX_ROUNDS,
                target_s: float = TARGET_S, budget_s: float = BUDGET_S) -> int:
    """Rounds to time after a warm-up run that took ``first_s`` seconds."""
    if first_s <= 0:
        return max_rounds
    wanted = max(min_rounds, math.ceil(target_s / first_s))
    affordable = max(1, math.floor(budget_s / first_s))
    return max(1, min(wanted, max_rounds, affordable))


def measure(fn: Callable[[], object], sync: Callable[[], object], *, warmup: int = 1,
            rounds: int | None = None, timer: Callable[[], float] = time.perf_counter,
            **plan) -> Stats:
    """Wall time of ``fn()`` with ``sync()`` before and after each run (see the module)."""
    first = 0.0
    for i in range(max(warmup, 1 if rounds is None else 0)):
        sync()
        t0 = timer()
        fn()
        sync()
        if i == 0:
            first = timer() - t0
    n = rounds if rounds is not None else plan_rounds(first, **plan)
    stats = Stats()
    for _ in range(n):
        sync()
        t0 = timer()
        fn()
        sync()
        stats.update(timer() - t0)
    return stats
