"""D2L 7.5 (AdaGrad算法): AdaGrad.

``s <- s + g * g``; ``x <- x - eta / sqrt(s + eps) * g`` elementwise, with eps = 1e-6 **inside**
the square root (the book's choice). ``torch.optim.Adagrad`` adds its eps (default 1e-10)
*outside* the root, ``eta * g / (sqrt(s) + eps)``: the two agree to a relative 1e-5 or better
once ``s`` is well above 1e-6 (the 2-D trace moves in the 6th decimal: -2.382563 here,
-2.382562 with PyTorch's placement), and differ a lot for gradients near 1e-3 or smaller.
The effective learning rate ``eta / sqrt(s + eps)`` only ever falls.
"""
import math

import torch


def adagrad_2d(x1, x2, s1, s2, eta=0.4):
    """One AdaGrad step on ``0.1 x1**2 + 2 x2**2`` (gradient ``(0.2 x1, 4 x2)``), floats.

    ``s1 += g1 ** 2``, ``s2 += g2 ** 2``, then ``x1 -= eta / math.sqrt(s1 + 1e-6) * g1`` and the
    same for x2; returns ``(x1, x2, s1, s2)``. Book (with ``train_2d``): eta = 0.4 ends at
    ``epoch 20, x1 -2.382563, x2 -0.158591``; eta = 2 at ``epoch 20, x1 -0.002295, x2 -0.000000``.
    """
    # BEGIN SOLUTION
    g1, g2, eps = 0.2 * x1, 4 * x2, 1e-6
    s1 += g1 ** 2
    s2 += g2 ** 2
    x1 -= eta / math.sqrt(s1 + eps) * g1
    x2 -= eta / math.sqrt(s2 + eps) * g2
    return x1, x2, s1, s2
    # END SOLUTION


def init_adagrad_states(num_features=5):
    """The sums of squared gradients ``(s_w, s_b)``: float32 zeros of shapes (num_features, 1) and (1,)."""
    # BEGIN SOLUTION
    s_w = torch.zeros((num_features, 1), dtype=torch.float32)
    s_b = torch.zeros(1, dtype=torch.float32)
    return (s_w, s_b)
    # END SOLUTION


def adagrad(params, states, hyperparams):
    """One AdaGrad step for each ``(p, s)`` in ``zip(params, states)``, in place.

    ``s += p.grad ** 2``, then ``p -= hyperparams['lr'] * p.grad / sqrt(s + 1e-6)`` (eps inside
    the root; see the module docstring for PyTorch's placement). ``s`` and ``p`` are changed in
    place without autograd recording it. No ``torch.optim``. Book (airfoil, ``train_ch7``):
    ``{'lr': 0.1}`` gives ``loss: 0.243675``.
    """
    # BEGIN SOLUTION
    eps = 1e-6
    for p, s in zip(params, states):
        s.data += (p.grad.data ** 2)
        p.data -= hyperparams['lr'] * p.grad.data / torch.sqrt(s + eps)
    # END SOLUTION
