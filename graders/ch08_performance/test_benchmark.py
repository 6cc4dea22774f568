"""Graders for ch08_performance.benchmark (D2L 8.2-8.3): a timer that synchronises the device.

On the CPU the device's wait is replaced by an instrumented ``sync`` function that the timer
must call: a counter (``itertools.count().__next__`` in the student's process) shows when it
is called, and a stand-in device (the probe ``fake_device``) stands for queued work that
finishes only when waited for (like a CUDA kernel): each call waits for a time drawn at that
moment, so a timer that does not wait for it, reads the clock before waiting, or invents a
time (a floor, a guess) is seen. Every test also checks that the reported time is not longer
than the grader's own wall time around entering and leaving. On CUDA (tier "gpu") the same checks use a real kernel
(``torch.cuda._sleep``) and the speedup of ``run`` on CUDA over the CPU is measured.
"""
import itertools
import time

import pytest
import torch

from d2lgrade import assert_close, call_timeout, hidden, points, reference, tier

MODULE = "ch08_performance.benchmark"
ref = reference(MODULE)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


def _counter(submission):
    """A zero-argument function in the student's process that counts its calls, and a reader."""
    count = submission.module("itertools").count()
    tick = submission.module("functools").partial(next, count)
    return (lambda: submission.module("builtins").next(count)), tick


class _Remote:
    """``with``-protocol calls on a student object (the handles forward no dunder methods)."""

    def __init__(self, submission):
        op = submission.module("operator")
        self._enter, self._exit = op.methodcaller("__enter__"), op.methodcaller("__exit__", None, None, None)
        self._op = op

    def enter(self, bm):
        return self._enter(bm)

    def exit(self, bm, *exc):
        return (self._op.methodcaller("__exit__", *exc) if exc else self._exit)(bm)


def _timed(w, bm, *exc):
    """Enter and leave ``bm`` in the student's process; the wall time of both, from here.
    Whatever the block and the device took, a true measurement cannot be longer."""
    t0 = time.perf_counter()
    w.enter(bm)
    out = w.exit(bm, *exc)
    return out, time.perf_counter() - t0


def _not_invented(elapsed, wall, what="the block"):
    assert isinstance(elapsed, float), f"elapsed must be a float, got {type(elapsed).__name__}"
    assert 0 <= elapsed <= wall + 1e-3, (
        f"elapsed = {elapsed:.3f} s, but entering and leaving took {wall:.3f} s in all: the timer "
        f"reports more time than {what} took")


@points(2)
def test_benchmark_syncs_at_enter_and_exit(student, submission):
    """Benchmark calls its sync function once when entered (before the clock starts) and once when left; it never reports more time than passed."""
    read, tick = _counter(submission)
    w = _Remote(submission)
    bm = student.Benchmark("work", sync=tick)
    t0 = time.perf_counter()
    entered = w.enter(bm)
    calls = read()                    # count() yields 0, 1, ...: the number of calls before this read
    assert calls == 1, f"sync was called {calls} time(s) by Benchmark() and __enter__, expected 1"
    assert entered.remote_type.endswith("Benchmark"), "__enter__ must return the Benchmark"
    w.exit(bm)
    wall = time.perf_counter() - t0
    calls = read() - 1                # minus the read above
    assert calls == 2, f"sync was called {calls} time(s) in total, expected 2 (enter and exit)"
    _not_invented(bm.elapsed, wall)


@points(2)
def test_benchmark_waits_for_queued_work(student, submission):
    """With a stand-in device whose queued work takes a time only known by waiting (short, then long), the measured time is the wait at exit plus the block, not the wait at enter."""
    w = _Remote(submission)
    for low, high in ((0.15, 0.25), (0.8, 1.0)):
        device = submission.probe("fake_device", low, high)
        bm = student.Benchmark(sync=device)
        _, wall = _timed(w, bm)
        waits = submission.probe("fake_device_waits", device)
        assert len(waits) == 2, (f"the device was waited for {len(waits)} time(s), expected 2 "
                                 "(when entered and when left)")
        at_enter, at_exit = waits
        elapsed = bm.elapsed
        assert isinstance(elapsed, float), f"elapsed must be a float, got {type(elapsed).__name__}"
        # time.sleep waits at least what it is asked: an honest timer measures at least the
        # wait at exit, and at most the wall time here minus the wait at enter
        assert elapsed >= at_exit - 1e-3, (
            f"elapsed = {elapsed:.3f} s but the device needed {at_exit:.3f} s at exit: the clock "
            "stopped before the device finished (synchronise first)")
        assert elapsed <= wall - at_enter + 5e-3, (
            f"elapsed = {elapsed:.3f} s: more than the block and the wait at exit took (the wait "
            f"at the start, {at_enter:.3f} s, was counted, or the time was invented)")


@hidden
@points(1)
def test_benchmark_measures_the_block(student, submission):
    """Around a 0.3 s block, with a stand-in device that waits a little, the elapsed time is the block plus the wait at exit, measured with a monotonic clock."""
    w = _Remote(submission)
    device = submission.probe("fake_device", 0.05, 0.1)
    bm = student.Benchmark("sleep", sync=device)
    t0 = time.perf_counter()
    w.enter(bm)
    submission.module("time").sleep(0.3)
    w.exit(bm)
    wall = time.perf_counter() - t0
    waits = submission.probe("fake_device_waits", device)
    assert len(waits) == 2, f"the device was waited for {len(waits)} time(s), expected 2"
    assert bm.elapsed >= 0.3 + waits[1] - 1e-3, f"elapsed = {bm.elapsed:.3f} s for a 0.3 s block"
    _not_invented(bm.elapsed, wall - waits[0] + 4e-3, "the block and the wait at exit")


@hidden
@points(1)
def test_benchmark_default_device_and_exceptions(student, submission):
    """The default Benchmark works on a CPU-only machine (and an explicit CPU device too), and does not swallow exceptions."""
    w = _Remote(submission)
    for kwargs in ({}, {"device": torch.device("cpu")}):
        bm = student.Benchmark("cpu", **kwargs)
        swallowed, wall = _timed(w, bm)
        assert not swallowed
        _not_invented(bm.elapsed, wall)
    bm = student.Benchmark(sync=submission.probe("fake_device", 0.0, 0.0))
    w.enter(bm)
    assert not w.exit(bm, ValueError, ValueError("x"), None), "__exit__ must not swallow the block's exception"


@points(1)
def test_run_overlapped_results(student):
    """run_overlapped(a, b, 3, 2) returns (run(a, 3), run(b, 2)) = the sums of a @ a and b @ b, in that order, for two CPU tensors."""
    a, b = torch.randn(6, 6), torch.randn(4, 4)
    out = student.run_overlapped(a, b, 3, 2)
    assert isinstance(out, (tuple, list)) and len(out) == 2, "run_overlapped must return (y_dev, y_cpu)"
    assert_close(out[0], (a @ a).sum(), what="y_dev", kind="reduction")
    assert_close(out[1], (b @ b).sum(), what="y_cpu", kind="reduction")


@hidden
@points(1)
def test_run_overlapped_float64(student):
    """run_overlapped keeps float64 and gives both products."""
    a, b = torch.randn(5, 5, dtype=torch.float64), torch.randn(3, 3, dtype=torch.float64)
    out = student.run_overlapped(a, b, 1, 2)
    assert_close(out[0], (a @ a).sum(), what="y_dev", hidden=True, kind="reduction")
    assert_close(out[1], (b @ b).sum(), what="y_cpu", hidden=True, kind="reduction")


# -- gpu tier -------------------------------------------------------------------------
def _spin_cycles(tc, median_seconds, seconds=0.5):
    """Cycles of torch.cuda._sleep that take about ``seconds`` on this GPU (calibrated here)."""
    cycles = 10_000_000
    took = median_seconds(lambda: tc._sleep(cycles), tc.synchronize, repeats=3)
    return max(int(cycles * seconds / max(took, 1e-4)), 1)


@tier("gpu")
@call_timeout(120)
@points(2)
def test_benchmark_waits_for_cuda_kernel(student, submission, feedback, median_seconds):
    """On CUDA, Benchmark(device='cuda') around a queued 0.5 s kernel reports at least 70 % of the kernel's time."""
    w = _Remote(submission)
    tc = submission.module("torch.cuda")
    cycles = _spin_cycles(tc, median_seconds)
    expected = median_seconds(lambda: tc._sleep(cycles), tc.synchronize, repeats=3)
    bm = student.Benchmark("kernel", device="cuda")
    w.enter(bm)
    tc._sleep(cycles)              # returns at once: the kernel is only queued
    w.exit(bm)
    feedback(f"kernel {expected:.3f} s (grader, synchronised), Benchmark {bm.elapsed:.3f} s")
    assert bm.elapsed >= 0.7 * expected, \
        f"Benchmark measured {bm.elapsed:.3f} s for a {expected:.3f} s kernel: it does not synchronise"


def _bound(submission, fn, *args):
    """``functools.partial(fn, *args)`` made in the student's process: the arguments (tensors
    included) are sent once and stay there, so a timed call carries only a number each way."""
    return submission.module("functools").partial(fn.value(), *args)


@tier("gpu")
@call_timeout(300)
@points(2)
def test_run_cuda_speedup(student, submission, feedback, median_seconds):
    """run (200 products of 1024 x 1024 matrices) is at least 5x faster on CUDA than on the CPU (median of 5 after a warm-up, synchronised)."""
    tc = submission.module("torch.cuda")
    x_cpu = torch.rand(1024, 1024)
    run_cpu, run_gpu = _bound(submission, student.run, x_cpu), _bound(submission, student.run, x_cpu.cuda())
    cpu = median_seconds(lambda: run_cpu(200), lambda: None, repeats=3)     # about 430 GFLOP
    gpu = median_seconds(lambda: run_gpu(200), tc.synchronize)
    feedback(f"run(1024x1024, 200): CPU {cpu:.3f} s, CUDA {gpu:.4f} s ({cpu / gpu:.1f}x)")
    assert cpu / gpu >= 5.0, f"CUDA is only {cpu / gpu:.1f}x faster than the CPU"


def _sized(run, target, median_seconds, sync):
    """The smallest n (doubling) for which run(n) takes at least ``target`` seconds."""
    n = 1
    while True:
        t = median_seconds(lambda: run(n), sync, repeats=1)
        if t >= target or n >= 1 << 16:
            return n, t
        n *= 2


@tier("gpu")
@call_timeout(300)
@points(2)
def test_run_overlapped_cuda_and_cpu_in_parallel(student, submission, feedback, median_seconds):
    """With CUDA work and CPU work of about 0.3 s each, run_overlapped takes less than 80 % of the two run one after the other (the book's 'total less than the sum')."""
    tc = submission.module("torch.cuda")
    # 4096 x 4096 products on the GPU: ~100 kernels for 0.3 s, well under CUDA's launch-queue
    # depth (~1000), so queuing them never blocks the CPU thread. The matrices stay in the
    # student's process (_bound); run returns only a number.
    x_gpu, x_cpu = torch.rand(4096, 4096).cuda(), torch.rand(256, 256)
    run_gpu, run_cpu = _bound(submission, student.run, x_gpu), _bound(submission, student.run, x_cpu)
    both = _bound(submission, student.run_overlapped, x_gpu, x_cpu)
    n_gpu, _ = _sized(run_gpu, 0.3, median_seconds, tc.synchronize)
    n_cpu, _ = _sized(run_cpu, 0.3, median_seconds, lambda: None)
    t_gpu = median_seconds(lambda: run_gpu(n_gpu), tc.synchronize, repeats=3)
    t_cpu = median_seconds(lambda: run_cpu(n_cpu), lambda: None, repeats=3)
    # a fresh amount of work on every timed call (n + 0, 1, 2, ...): results remembered from the
    # warm-up call cannot stand in for the work
    fresh = itertools.count()
    t_both = median_seconds(lambda: both(n_gpu + (k := next(fresh)), n_cpu + k), tc.synchronize, repeats=3)
    feedback(f"CUDA alone {t_gpu:.3f} s, CPU alone {t_cpu:.3f} s, overlapped {t_both:.3f} s")
    assert t_both < 0.8 * (t_gpu + t_cpu), \
        f"overlapped {t_both:.3f} s is not less than 80 % of {t_gpu:.3f} + {t_cpu:.3f} s: the two ran one after the other"
