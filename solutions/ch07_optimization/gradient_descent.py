"""D2L 7.2 (梯度下降和随机梯度下降): gradient descent and stochastic gradient descent.

1-D gradient descent on ``f(x) = x**2``, the 2-D driver ``train_2d`` (the book saves it in
``d2lzh_pytorch``) and gradient descent / noisy SGD on ``f(x1, x2) = x1**2 + 2 * x2**2``.

All values here are plain Python floats (no tensors): the book's printed traces are then
reproduced digit for digit.

Deviations from the book: the 2-D trainers take their learning rate as the keyword
``eta`` (the book reads a global ``eta``), and ``train_2d`` forwards its keyword arguments
to the trainer and returns the whole trajectory. The book's ``sgd_2d`` adds
``np.random.normal(0.1)`` to each gradient component, i.e. noise with *mean 0.1* and standard
deviation 1, while its text says the noise has mean zero; ours follows the text.
"""
import torch


def gd(eta, x0=10.0, num_steps=10):
    """Gradient descent on ``f(x) = x**2`` from ``x0``; return ``[x_0, x_1, ..., x_num_steps]``.

    Each step is ``x -= eta * 2 * x`` (the gradient of x**2 is 2x), in Python floats, and
    the list holds ``num_steps + 1`` floats (the start included). After the loop print
    ``'epoch %d, x:' % num_steps`` followed by the last x. Closed form: x_k = x0 (1 - 2 eta)^k.
    Book: ``gd(0.2)`` ends at 0.06046617599999997, ``gd(0.05)`` at 3.4867844009999995 (too
    small a step) and ``gd(1.1)`` at 61.917364224000096 (it overshoots and diverges).
    """
    # BEGIN SOLUTION
    x = float(x0)
    results = [x]
    for _ in range(num_steps):
        x -= eta * 2 * x
        results.append(x)
    print('epoch %d, x:' % num_steps, x)
    return results
    # END SOLUTION


def train_2d(trainer, steps=20, **hyperparams):
    """Run a 2-D optimizer for ``steps`` steps from ``(x1, x2) = (-5, -2)``; return the trajectory.

    The state starts at ``x1, x2, s1, s2 = -5, -2, 0, 0`` (``s1, s2`` are the trainer's own
    state: a velocity, a sum of squares, ...). Each step calls
    ``x1, x2, s1, s2 = trainer(x1, x2, s1, s2, **hyperparams)``. Return the list of
    ``steps + 1`` points ``(x1, x2)`` (the start first; the data a contour plot of the
    trajectory needs) and print ``'epoch %d, x1 %f, x2 %f'`` for the last step. Book: with
    ``gd_2d`` and eta = 0.1 the last line is ``epoch 20, x1 -0.057646, x2 -0.000073``.
    """
    # BEGIN SOLUTION
    x1, x2, s1, s2 = -5, -2, 0, 0
    results = [(x1, x2)]
    for _ in range(steps):
        x1, x2, s1, s2 = trainer(x1, x2, s1, s2, **hyperparams)
        results.append((x1, x2))
    print('epoch %d, x1 %f, x2 %f' % (steps, x1, x2))
    return results
    # END SOLUTION


def f_2d(x1, x2):
    """The objective ``x1**2 + 2 * x2**2`` (minimum 0 at the origin)."""
    return x1 ** 2 + 2 * x2 ** 2


def gd_2d(x1, x2, s1, s2, eta=0.1):
    """One gradient-descent step on ``f_2d``; returns ``(x1, x2, 0, 0)``.

    The gradient is ``(2 x1, 4 x2)``; the new point is ``(x1 - eta * 2 * x1, x2 - eta * 4 * x2)``
    and the state is unused (returned as zeros). With ``train_2d`` and eta = 0.1 the book
    prints ``epoch 20, x1 -0.057646, x2 -0.000073``.
    """
    # BEGIN SOLUTION
    return (x1 - eta * 2 * x1, x2 - eta * 4 * x2, 0, 0)
    # END SOLUTION


def sgd_2d(x1, x2, s1, s2, eta=0.1):
    """One SGD step on ``f_2d`` with a noisy gradient; returns ``(x1, x2, 0, 0)``.

    Each gradient component gets independent standard normal noise (mean 0, standard
    deviation 1) before the step: ``x1 - eta * (2 * x1 + n1)``, ``x2 - eta * (4 * x2 + n2)``.
    Draw the noise with torch (``torch.randn`` or ``torch.normal``) so that
    ``torch.manual_seed`` makes a run repeatable, and return Python floats. The book's
    ``np.random.normal(0.1)`` has mean 0.1 (a bug; see the module docstring): that noise would
    pull the iterates to the biased point (-0.05, -0.025) instead of the origin.
    """
    # BEGIN SOLUTION
    n1, n2 = torch.randn(2, dtype=torch.float64).tolist()
    return (x1 - eta * (2 * x1 + n1), x2 - eta * (4 * x2 + n2), 0, 0)
    # END SOLUTION
