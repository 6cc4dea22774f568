"""D2L 7.4 (动量法): momentum, and the exponentially weighted moving average.

The ill-conditioned objective ``f(x1, x2) = 0.1 x1**2 + 2 x2**2`` (Hessian diag(0.2, 4),
condition number 20): gradient descent needs a small learning rate for x2 and then crawls
along x1; momentum averages past gradients and allows a larger one.

Momentum in the book's form: ``v <- gamma v + eta g``, ``x <- x - v``. PyTorch's
``torch.optim.SGD(momentum=gamma, lr=eta)`` keeps ``v' = gamma v' + g`` and steps ``x <- x - eta
v'``; for a constant learning rate ``v = eta v'`` and the iterates are the same. The 2-D
functions take their hyperparameters as keywords (the book reads globals ``eta`` and
``gamma``); drive them with ``train_2d`` of 7.2.
"""
import torch


def f_2d(x1, x2):
    """``0.1 * x1**2 + 2 * x2**2``."""
    return 0.1 * x1 ** 2 + 2 * x2 ** 2


def gd_2d(x1, x2, s1, s2, eta=0.4):
    """One gradient-descent step on this section's ``f_2d`` (gradient ``(0.2 x1, 4 x2)``).

    Book (with ``train_2d``): eta = 0.4 ends at ``epoch 20, x1 -0.943467, x2 -0.000073``;
    eta = 0.6 diverges along x2: ``epoch 20, x1 -0.387814, x2 -1673.365109``.
    """
    # BEGIN SOLUTION
    return (x1 - eta * 0.2 * x1, x2 - eta * 4 * x2, 0, 0)
    # END SOLUTION


def momentum_2d(x1, x2, v1, v2, eta=0.4, gamma=0.5):
    """One momentum step on ``f_2d``; returns ``(x1, x2, v1, v2)``.

    ``v1 = gamma * v1 + eta * 0.2 * x1``, ``v2 = gamma * v2 + eta * 4 * x2`` (the gradient at
    the current point), then ``x1 - v1``, ``x2 - v2``. Book (with ``train_2d``): eta = 0.4,
    gamma = 0.5 ends at ``epoch 20, x1 -0.062843, x2 0.001202``; eta = 0.6 (gamma 0.5), where
    plain gradient descent diverges, ends at ``epoch 20, x1 0.007188, x2 0.002553``.
    """
    # BEGIN SOLUTION
    v1 = gamma * v1 + eta * 0.2 * x1
    v2 = gamma * v2 + eta * 4 * x2
    return x1 - v1, x2 - v2, v1, v2
    # END SOLUTION


def ewma(x, gamma):
    """Exponentially weighted moving average of a 1-D tensor: ``y_t = gamma y_{t-1} + (1 - gamma) x_t``.

    ``y`` starts at 0 before the first element, so ``y_0 = (1 - gamma) x_0``. Returns a
    tensor of ``x``'s shape and dtype; ``x`` is not changed. Unrolled, ``y_t = (1 - gamma)
    sum_i gamma^i x_{t-i}``: the weights sum to ``1 - gamma^(t+1)``, e.g. 0.9999734386011124
    for 100 ones with gamma = 0.9, and for gamma = 0.95 the weight of the value 20 steps back
    is ``0.05 * 0.95**20`` with ``0.95**20 = 0.358486 ~ exp(-1)``: y is roughly an average of
    the last ``1 / (1 - gamma)`` values.
    """
    # BEGIN SOLUTION
    y = torch.empty_like(x)
    prev = torch.zeros((), dtype=x.dtype)
    for t in range(x.shape[0]):
        prev = gamma * prev + (1 - gamma) * x[t]
        y[t] = prev
    return y
    # END SOLUTION


def init_momentum_states(num_features=5):
    """The velocities ``(v_w, v_b)``: float32 zeros of shapes (num_features, 1) and (1,).

    They match ``w`` and ``b`` of ``train_ch7`` (5 features on the airfoil data).
    """
    # BEGIN SOLUTION
    v_w = torch.zeros((num_features, 1), dtype=torch.float32)
    v_b = torch.zeros(1, dtype=torch.float32)
    return (v_w, v_b)
    # END SOLUTION


def sgd_momentum(params, states, hyperparams):
    """One momentum step for each ``(p, v)`` in ``zip(params, states)``, in place.

    ``v = hyperparams['momentum'] * v + hyperparams['lr'] * p.grad``, then ``p -= v``. Both
    ``v`` and ``p`` are changed in place (the caller's tensors hold the new values) without
    autograd recording it. With a constant learning rate this takes the same steps as
    ``torch.optim.SGD(params, lr=lr, momentum=momentum)``. No ``torch.optim``. Book (airfoil,
    ``train_ch7``): ``{'lr': 0.02, 'momentum': 0.5}`` gives ``loss: 0.245518``; momentum 0.9
    acts like a 10x larger step, hence ``{'lr': 0.004, 'momentum': 0.9}``.
    """
    # BEGIN SOLUTION
    for p, v in zip(params, states):
        v.data = hyperparams['momentum'] * v.data + hyperparams['lr'] * p.grad.data
        p.data -= v.data
    # END SOLUTION
