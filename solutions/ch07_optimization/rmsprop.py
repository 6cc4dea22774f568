"""D2L 7.6 (RMSProp算法): RMSProp.

``s <- gamma s + (1 - gamma) g * g``; ``x <- x - eta / sqrt(s + eps) * g`` elementwise, eps = 1e-6
**inside** the root (the book's choice). ``torch.optim.RMSprop`` calls gamma ``alpha`` and
adds its eps (default 1e-8) *outside* the root, ``eta * g / (sqrt(s) + eps)``; the traces
differ in the 6th decimal (-0.010599 here, -0.010598 with PyTorch's placement). Unlike
AdaGrad's sum, the moving average forgets old gradients (gamma = 0.9 averages about the last
10 squared gradients), so the step size does not shrink for ever.

The course notes call the decay ``beta``; we keep the book's ``gamma``.
"""
import math

import torch


def rmsprop_2d(x1, x2, s1, s2, eta=0.4, gamma=0.9):
    """One RMSProp step on ``0.1 x1**2 + 2 x2**2`` (gradient ``(0.2 x1, 4 x2)``), floats.

    ``s1 = gamma * s1 + (1 - gamma) * g1 ** 2`` (same for s2), then
    ``x1 -= eta / math.sqrt(s1 + 1e-6) * g1``; returns ``(x1, x2, s1, s2)``. Book (with
    ``train_2d``): eta = 0.4, gamma = 0.9 ends at ``epoch 20, x1 -0.010599, x2 0.000000``.
    """
    # BEGIN SOLUTION
    g1, g2, eps = 0.2 * x1, 4 * x2, 1e-6
    s1 = gamma * s1 + (1 - gamma) * g1 ** 2
    s2 = gamma * s2 + (1 - gamma) * g2 ** 2
    x1 -= eta / math.sqrt(s1 + eps) * g1
    x2 -= eta / math.sqrt(s2 + eps) * g2
    return x1, x2, s1, s2
    # END SOLUTION


def init_rmsprop_states(num_features=5):
    """The moving averages of squared gradients ``(s_w, s_b)``: float32 zeros of shapes (num_features, 1) and (1,)."""
    # BEGIN SOLUTION
    s_w = torch.zeros((num_features, 1), dtype=torch.float32)
    s_b = torch.zeros(1, dtype=torch.float32)
    return (s_w, s_b)
    # END SOLUTION


def rmsprop(params, states, hyperparams):
    """One RMSProp step for each ``(p, s)`` in ``zip(params, states)``, in place.

    With ``gamma = hyperparams['gamma']``: ``s = gamma * s + (1 - gamma) * p.grad ** 2``, then
    ``p -= hyperparams['lr'] * p.grad / sqrt(s + 1e-6)`` (eps inside the root). ``s`` and ``p``
    are changed in place without autograd recording it. No ``torch.optim``. Book (airfoil,
    ``train_ch7``): ``{'lr': 0.01, 'gamma': 0.9}`` gives ``loss: 0.243452``.
    """
    # BEGIN SOLUTION
    gamma, eps = hyperparams['gamma'], 1e-6
    for p, s in zip(params, states):
        s.data = gamma * s.data + (1 - gamma) * (p.grad.data) ** 2
        p.data -= hyperparams['lr'] * p.grad.data / torch.sqrt(s + eps)
    # END SOLUTION
