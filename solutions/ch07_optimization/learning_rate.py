"""Course notes on the learning rate (学习率): gradient descent on ``y = 4 x**2`` with autograd.

The notes start from x = 2 and take steps ``x <- x - lr * dy/dx`` with the gradient that
``backward`` computes. With lr = 1 the iterates are 2, -14, 98, -686 and the losses 16, 784,
38416, 1882384 (divergence); lr = 0.125 = 1 / f'' reaches the minimum x = 0 in one step (it is
the Newton step); lr in (0, 0.25) converges, lr > 0.25 diverges (x_k = 2 (1 - 8 lr)^k).
"""
import torch


def func(x):
    """``y = (2 x)**2 = 4 x**2``, so ``dy/dx = 8 x``."""
    return torch.pow(2 * x, 2)


def gd_func(lr, num_steps, x0=2.0):
    """Gradient descent on ``func`` with autograd; return ``(xs, losses)`` as float lists.

    ``x`` is a float32 tensor ``[x0]`` that requires grad. Each step: ``y = func(x)``,
    ``y.backward()``, then update ``x`` in place by ``lr * x.grad`` without recording it
    (``x.data.sub_`` or under ``torch.no_grad()``) and zero the gradient before the next step
    (gradients accumulate otherwise). ``xs`` holds the ``num_steps + 1`` values of x (the start
    first) and ``losses`` the ``num_steps + 1`` values ``func(x)`` at those points.
    Course notes: ``gd_func(1, 3)`` gives ``xs = [2, -14, 98, -686]`` and ``losses = [16, 784,
    38416, 1882384]``; ``gd_func(0.125, 1)`` gives ``xs = [2, 0]``.
    """
    # BEGIN SOLUTION
    x = torch.tensor([float(x0)], requires_grad=True)
    xs, losses = [], []
    for _ in range(num_steps):
        y = func(x)
        xs.append(x.item())
        losses.append(y.item())
        y.backward()
        x.data.sub_(lr * x.grad)
        x.grad.zero_()
    xs.append(x.item())
    losses.append(func(x).item())
    return xs, losses
    # END SOLUTION
