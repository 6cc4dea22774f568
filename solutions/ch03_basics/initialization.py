"""D2L 3.15 (数值稳定性和模型初始化): Xavier random initialisation.

Products of many layers vanish or explode (0.2^30 ~ 1e-21, 5^30 ~ 9e20), and identical
initial weights make every hidden unit compute the same thing. Xavier initialisation draws
the weights of a layer with ``a`` inputs and ``b`` outputs from
``U(-sqrt(6 / (a + b)), sqrt(6 / (a + b)))``, so their variance is ``2 / (a + b)``.
"""
import math

import torch


def xavier_uniform_bound(fan_in, fan_out):
    """The Xavier bound ``sqrt(6 / (fan_in + fan_out))`` as a Python float.

    For the book's 784 -> 256 layer it is 0.0760.
    """
    # BEGIN SOLUTION
    return math.sqrt(6.0 / (fan_in + fan_out))
    # END SOLUTION


def xavier_init_(W):
    """Fill the weight ``W`` in place from the Xavier uniform distribution and return ``W``.

    ``W`` is laid out like ``nn.Linear.weight``: shape (fan_out, fan_in). Every entry is drawn
    independently from ``U(-bound, bound)`` with ``bound = xavier_uniform_bound(fan_in,
    fan_out)``. Works on a leaf that requires grad (fill it under ``torch.no_grad()``) and
    keeps its dtype. Without ``nn.init.xavier_uniform_``.
    """
    # BEGIN SOLUTION
    fan_out, fan_in = W.shape
    bound = xavier_uniform_bound(fan_in, fan_out)
    with torch.no_grad():
        W.uniform_(-bound, bound)
    return W
    # END SOLUTION
