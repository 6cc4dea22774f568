"""d2lgrade.grading.speed: the calibrated timing rounds of chapter 8's speed-up tests, on the CPU."""
import itertools
import time

import pytest

from d2lgrade.grading.speed import measure, plan_rounds


@pytest.mark.parametrize("first, rounds", [
    (0.010, 50),   # 1 s of target would be 100 runs: capped at 50
    (0.100, 10),   # 1 s of target
    (0.500, 3),    # at least three
    (4.000, 2),    # three would pass the 10 s budget
    (20.00, 1),    # always one
    (0.0, 50),     # a run below the timer's resolution: the most
])
def test_rounds_follow_the_warm_up(first, rounds):
    assert plan_rounds(first) == rounds


def test_each_round_is_synchronised_and_timed_with_the_given_timer():
    events = []
    clock = itertools.count()  # every reading one "second" later

    def fn():
        events.append("run")

    def sync():
        events.append("sync")

    stats = measure(fn, sync, rounds=2, warmup=1, timer=lambda: float(next(clock)))
    # warm-up, then two rounds, each sync - run - sync
    assert events == ["sync", "run", "sync"] * 3
    assert stats.rounds == 2 and stats.median == 1.0


def test_calibrated_from_the_warm_up_on_real_work():
    calls = []

    def work():
        calls.append(1)
        time.sleep(0.02)

    stats = measure(work, lambda: None, target_s=0.2, min_rounds=3)
    # warm-up ~0.02 s: 0.2 s of target is ~10 rounds (fewer if the warm-up was slow)
    assert 3 <= stats.rounds <= 10 and len(calls) == stats.rounds + 1
    assert 0.02 <= stats.median < 0.2
    assert stats.min <= stats.median <= stats.max
