"""D2L 7.7 (AdaDelta算法): AdaDelta.

No learning rate. With eps = 1e-5 **inside** both roots:
``s <- rho s + (1 - rho) g * g``; ``g' = sqrt((delta + eps) / (s + eps)) * g``; ``x <- x - g'``;
``delta <- rho delta + (1 - rho) g' * g'``. The step uses the *previous* ``delta`` and ``delta``
is updated after it. ``torch.optim.Adadelta(lr=1.0, rho=rho, eps=1e-5)`` computes the same
thing (PyTorch also puts eps inside both roots; its default eps is 1e-6, which is why the
book's PyTorch run ends at a different loss).
"""
import torch


def init_adadelta_states(num_features=5):
    """``((s_w, delta_w), (s_b, delta_b))``: float32 zeros, shapes (num_features, 1) for w and (1,) for b.

    Four distinct tensors (``s`` and ``delta`` of one parameter must not share memory).
    """
    # BEGIN SOLUTION
    s_w, s_b = torch.zeros((num_features, 1), dtype=torch.float32), torch.zeros(1, dtype=torch.float32)
    delta_w, delta_b = torch.zeros((num_features, 1), dtype=torch.float32), torch.zeros(1, dtype=torch.float32)
    return ((s_w, delta_w), (s_b, delta_b))
    # END SOLUTION


def adadelta(params, states, hyperparams):
    """One AdaDelta step for each ``(p, (s, delta))`` in ``zip(params, states)``, in place.

    With ``rho = hyperparams['rho']`` and eps = 1e-5, in this order:
    ``s[:] = rho * s + (1 - rho) * p.grad ** 2``;
    ``g = p.grad * sqrt((delta + eps) / (s + eps))``; ``p -= g``;
    ``delta[:] = rho * delta + (1 - rho) * g * g``. ``s``, ``delta`` and ``p`` are changed in
    place without autograd recording it. No ``torch.optim``. Book (airfoil, ``train_ch7``):
    ``{'rho': 0.9}`` gives ``loss: 0.243728``.
    """
    # BEGIN SOLUTION
    rho, eps = hyperparams['rho'], 1e-5
    for p, (s, delta) in zip(params, states):
        s[:] = rho * s + (1 - rho) * (p.grad.data ** 2)
        g = p.grad.data * torch.sqrt((delta + eps) / (s + eps))
        p.data -= g
        delta[:] = rho * delta + (1 - rho) * g * g
    # END SOLUTION
