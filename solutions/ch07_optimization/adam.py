"""D2L 7.8 (Adam算法): Adam.

With beta1 = 0.9, beta2 = 0.999 and step ``t`` (from 1):
``v <- beta1 v + (1 - beta1) g``; ``s <- beta2 s + (1 - beta2) g * g``; bias correction
``v_hat = v / (1 - beta1**t)``, ``s_hat = s / (1 - beta2**t)``; ``x <- x - eta v_hat / (sqrt(s_hat) +
eps)``. eps sits **outside** the root and is 1e-6 (the book's code; its text says 1e-8).
``torch.optim.Adam(lr=eta, betas=(0.9, 0.999), eps=1e-6)`` computes the same thing (its
default eps is 1e-8). Without the correction the first steps are far too small: ``v_1 = 0.1
g_1``.
"""
import torch


def init_adam_states(num_features=5):
    """``((v_w, s_w), (v_b, s_b))``: float32 zeros, shapes (num_features, 1) for w and (1,) for b.

    Four distinct tensors (the two moments of one parameter must not share memory).
    """
    # BEGIN SOLUTION
    v_w, v_b = torch.zeros((num_features, 1), dtype=torch.float32), torch.zeros(1, dtype=torch.float32)
    s_w, s_b = torch.zeros((num_features, 1), dtype=torch.float32), torch.zeros(1, dtype=torch.float32)
    return ((v_w, s_w), (v_b, s_b))
    # END SOLUTION


def adam(params, states, hyperparams):
    """One Adam step for each ``(p, (v, s))`` in ``zip(params, states)``, in place.

    ``t = hyperparams['t']`` is the step number (1 for the first call); after updating all
    parameters increment it, ``hyperparams['t'] += 1`` (the book's convention: the caller's dict
    counts the steps). With beta1 = 0.9, beta2 = 0.999, eps = 1e-6 (outside the root):
    ``v[:] = beta1 * v + (1 - beta1) * p.grad``; ``s[:] = beta2 * s + (1 - beta2) * p.grad ** 2``;
    ``p -= hyperparams['lr'] * (v / (1 - beta1 ** t)) / (sqrt(s / (1 - beta2 ** t)) + eps)``.
    ``v``, ``s`` and ``p`` are changed in place without autograd recording it. No
    ``torch.optim``. Book (airfoil, ``train_ch7``): ``{'lr': 0.01, 't': 1}`` gives ``loss: 0.245370``.
    """
    # BEGIN SOLUTION
    beta1, beta2, eps = 0.9, 0.999, 1e-6
    t = hyperparams['t']
    for p, (v, s) in zip(params, states):
        v[:] = beta1 * v + (1 - beta1) * p.grad.data
        s[:] = beta2 * s + (1 - beta2) * p.grad.data ** 2
        v_bias_corr = v / (1 - beta1 ** t)
        s_bias_corr = s / (1 - beta2 ** t)
        p.data -= hyperparams['lr'] * v_bias_corr / (torch.sqrt(s_bias_corr) + eps)
    hyperparams['t'] += 1
    # END SOLUTION
