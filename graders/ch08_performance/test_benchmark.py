"""Graders for ch08_performance.benchmark (D2L 8.2-8.3): a timer that synchronises the device.

On the CPU the device's wait is replaced by an instrumented ``sync`` function that the timer
must call: a counter (``itertools.count().__next__`` in the student's process) shows when it
is called, and a ``sync`` that sleeps stands for queued work that finishes only when waited
for (like a CUDA kernel): a timer that does not wait for it, or reads the clock before
waiting, reports almost nothing. On CUDA (tier "gpu") the same checks use a real kernel
(``torch.cuda._sleep``) and the speedup of ``run`` on CUDA over the CPU is measured.
"""
import functools
import time

import pytest
import torch

from d2lgrade import assert_close, call_timeout, hidden, points, reference, tier

MODULE = "ch08_performance.benchmark"
ref = reference(MODULE)
SLEEP = 0.5   # seconds the fake device needs to "finish its queued work"


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


@points(2)
def test_benchmark_syncs_at_enter_and_exit(student, submission):
    """Benchmark calls its sync function once when entered (before the clock starts) and once when left."""
    read, tick = _counter(submission)
    w = _Remote(submission)
    bm = student.Benchmark("work", sync=tick)
    entered = w.enter(bm)
    calls = read()                    # count() yields 0, 1, ...: the number of calls before this read
    assert calls == 1, f"sync was called {calls} time(s) by Benchmark() and __enter__, expected 1"
    assert entered.remote_type.endswith("Benchmark"), "__enter__ must return the Benchmark"
    w.exit(bm)
    calls = read() - 1                # minus the read above
    assert calls == 2, f"sync was called {calls} time(s) in total, expected 2 (enter and exit)"
    assert isinstance(bm.elapsed, float), f"elapsed must be a float, got {type(bm.elapsed).__name__}"


@points(2)
def test_benchmark_waits_for_queued_work(student, submission):
    """With a device that needs 0.5 s to finish its work, the measured time includes the wait at exit (but not at enter)."""
    w = _Remote(submission)
    bm = student.Benchmark(sync=functools.partial(time.sleep, SLEEP))
    w.enter(bm)
    w.exit(bm)
    elapsed = bm.elapsed
    assert isinstance(elapsed, float), f"elapsed must be a float, got {type(elapsed).__name__}"
    assert elapsed >= SLEEP * 0.95, (f"elapsed = {elapsed:.3f} s but the device needed {SLEEP} s: "
                                     "the clock stopped before the device finished (synchronise first)")
    assert elapsed < 2 * SLEEP * 0.95, (f"elapsed = {elapsed:.3f} s: the wait at the start was counted too "
                                        "(synchronise before starting the clock)")


@hidden
@points(1)
def test_benchmark_measures_the_block(student, submission):
    """Without a device wait, the elapsed time is the block's own duration, measured with a monotonic clock."""
    w = _Remote(submission)
    bm = student.Benchmark("sleep", sync=functools.partial(time.sleep, 0.0))
    w.enter(bm)
    submission.module("time").sleep(0.3)
    w.exit(bm)
    assert 0.28 <= bm.elapsed < 1.5


@hidden
@points(1)
def test_benchmark_default_device_and_exceptions(student, submission):
    """The default Benchmark works on a CPU-only machine (and an explicit CPU device too), and does not swallow exceptions."""
    w = _Remote(submission)
    for kwargs in ({}, {"device": torch.device("cpu")}):
        bm = student.Benchmark("cpu", **kwargs)
        w.enter(bm)
        assert not w.exit(bm)
        assert isinstance(bm.elapsed, float) and bm.elapsed >= 0
    bm = student.Benchmark(sync=functools.partial(time.sleep, 0.0))
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
    t_both = median_seconds(lambda: both(n_gpu, n_cpu), tc.synchronize, repeats=3)
    feedback(f"CUDA alone {t_gpu:.3f} s, CPU alone {t_cpu:.3f} s, overlapped {t_both:.3f} s")
    assert t_both < 0.8 * (t_gpu + t_cpu), \
        f"overlapped {t_both:.3f} s is not less than 80 % of {t_gpu:.3f} + {t_cpu:.3f} s: the two ran one after the other"
