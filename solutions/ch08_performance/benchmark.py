"""D2L 8.2 (异步计算) and 8.3 (自动并行计算): timing work on an asynchronous device.

CUDA operations are queued and return at once; the host thread only waits for them when it
needs a result (a copy to the CPU, ``.item()``) or when it calls ``torch.cuda.synchronize()``.
A timer that reads the clock without synchronising measures how long it took to *queue* the
work, not to do it. The book's ``Benchmark`` relies on the caller to synchronise inside the
``with`` block; this one synchronises itself, at the start (so work queued earlier is not
counted) and at the end (so the work inside is).
"""
import time

import torch


def synchronize(device=None):
    """Wait for the work queued on ``device`` (given code). ``None`` means CUDA when it is
    available; on the CPU there is nothing to wait for."""
    if device is None:
        device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    device = torch.device(device)
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


class Benchmark:
    """Context manager that times its block: ``with Benchmark('mm', device=d) as b: ...``.

    ``sync`` is the function that waits for the device (default:
    ``lambda: synchronize(device)``); creating the Benchmark calls nothing. ``__enter__``
    calls ``sync()`` once and then starts the clock (``time.perf_counter``) and returns the
    Benchmark; ``__exit__`` calls ``sync()`` once, then stops the clock, stores the seconds in
    ``self.elapsed`` (a float), and prints ``'%stime: %.4f sec' % (prefix, elapsed)`` where
    ``prefix`` is ``prefix + ' '`` or ``''``
    (the book's format). Exceptions raised in the block are not swallowed.
    """

    def __init__(self, prefix=None, device=None, sync=None):
        # BEGIN SOLUTION
        self.prefix = prefix + ' ' if prefix else ''
        self.sync = sync if sync is not None else (lambda: synchronize(device))
        self.elapsed = None
        # END SOLUTION

    def __enter__(self):
        # BEGIN SOLUTION
        self.sync()
        self.start = time.perf_counter()
        return self
        # END SOLUTION

    def __exit__(self, *exc_info):
        # BEGIN SOLUTION
        self.sync()
        self.elapsed = time.perf_counter() - self.start
        print('%stime: %.4f sec' % (self.prefix, self.elapsed))
        return False
        # END SOLUTION


def run(x, n=20000):
    """The book's workload (given code): ``n`` products ``torch.mm(x, x)``. Returns the sum of
    the entries of the last product, a 0-dim tensor on ``x``'s device (so that only a number,
    not a matrix, has to travel back from a timed call)."""
    y = x
    for _ in range(n):
        y = torch.mm(x, x)
    return y.sum()


def run_overlapped(x_dev, x_cpu, n_dev, n_cpu):
    """D2L 8.3's automatic parallelism on one machine: the device and the CPU work at once.

    Queue ``run(x_dev, n_dev)`` on ``x_dev``'s device first, then compute ``run(x_cpu, n_cpu)``
    on the CPU while the (asynchronous) device works, then wait for the device
    (``synchronize``). Returns ``(y_dev, y_cpu)``. Nothing between the two may wait for the
    device (no ``synchronize``, ``.cpu()``, ``.item()`` or printing of ``y_dev``): that would
    run them one after the other. With two CPU tensors it simply computes both.
    """
    # BEGIN SOLUTION
    y_dev = run(x_dev, n_dev)
    y_cpu = run(x_cpu, n_cpu)
    synchronize(x_dev.device)
    return y_dev, y_cpu
    # END SOLUTION
