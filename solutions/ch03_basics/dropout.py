"""D2L 3.13 (丢弃法): inverted dropout.

During training each hidden unit ``h`` is replaced by ``xi * h / (1 - p)`` where ``xi`` is
0 with probability ``p`` and 1 otherwise, so its expectation is unchanged; at evaluation
time nothing is dropped.

Deviation from the book: the book's ``dropout`` draws its mask with ``torch.randn`` (normal
samples) instead of ``torch.rand`` (uniform on [0, 1)), so it keeps about 84 % of the units
at ``p = 0`` and 69 % at ``p = 0.5``. Ours follows the formula.
"""
import torch
from torch import nn


def dropout(X, drop_prob):
    """Inverted dropout of ``X`` with drop probability ``drop_prob`` (0 <= drop_prob <= 1).

    Each entry is kept independently with probability ``1 - drop_prob`` (mask from
    ``torch.rand``) and then divided by ``1 - drop_prob``; dropped entries are 0. So every
    output entry is 0 or ``x / (1 - drop_prob)``. ``drop_prob = 0`` returns the values of
    ``X`` unchanged and ``drop_prob = 1`` returns zeros. Integer inputs become float32 (the
    book's ``X.float()``); floating inputs keep their dtype (the book turns float64 into
    float32 too). Same shape; ``X`` is not modified; gradients flow through the kept
    entries. Without ``F.dropout``/``nn.Dropout``.

    Book example: ``X = torch.arange(16).view(2, 8)``; ``dropout(X, 0)`` is ``X`` as floats,
    ``dropout(X, 1.0)`` is ``zeros(2, 8)``, ``dropout(X, 0.5)`` has entries 0 or ``2 x``.
    """
    # BEGIN SOLUTION
    if not X.is_floating_point():
        X = X.float()
    assert 0 <= drop_prob <= 1
    keep_prob = 1 - drop_prob
    if keep_prob == 0:
        return torch.zeros_like(X)
    mask = (torch.rand(X.shape, device=X.device) < keep_prob).to(X.dtype)
    return mask * X / keep_prob
    # END SOLUTION


def init_dropout_params(num_inputs=784, num_hiddens1=256, num_hiddens2=256, num_outputs=10):
    """Given: ``[W1, b1, W2, b2, W3, b3]`` of the book's two-hidden-layer MLP; weights from
    N(0, 0.01^2), biases zeros, all leaves that require grad."""
    sizes = [(num_inputs, num_hiddens1), (num_hiddens1, num_hiddens2), (num_hiddens2, num_outputs)]
    params = []
    for fan_in, fan_out in sizes:
        params.append(torch.normal(0.0, 0.01, size=(fan_in, fan_out)).requires_grad_(True))
        params.append(torch.zeros(fan_out, requires_grad=True))
    return params


def dropout_net(X, params, is_training=True, drop_prob1=0.2, drop_prob2=0.5):
    """The book's MLP with dropout after each hidden layer.

    ``params = [W1, b1, W2, b2, W3, b3]``; ``X`` is reshaped to (-1, W1.shape[0]);
    ``H1 = relu(X W1 + b1)``, then ``dropout(H1, drop_prob1)`` when training;
    ``H2 = relu(H1 W2 + b2)``, then ``dropout(H2, drop_prob2)`` when training; returns
    ``H2 W3 + b3``. With ``is_training=False`` nothing is dropped (the result is
    deterministic). The book drops less near the input: 0.2 and 0.5.
    """
    # BEGIN SOLUTION
    W1, b1, W2, b2, W3, b3 = params
    X = X.reshape(-1, W1.shape[0])
    H1 = (torch.matmul(X, W1) + b1).relu()
    if is_training:
        H1 = dropout(H1, drop_prob1)
    H2 = (torch.matmul(H1, W2) + b2).relu()
    if is_training:
        H2 = dropout(H2, drop_prob2)
    return torch.matmul(H2, W3) + b3
    # END SOLUTION


def dropout_mlp_concise(drop_prob1=0.2, drop_prob2=0.5, num_inputs=784, num_hiddens1=256,
                        num_hiddens2=256, num_outputs=10):
    """``nn.Sequential(nn.Flatten(), nn.Linear(num_inputs, num_hiddens1), nn.ReLU(),
    nn.Dropout(drop_prob1), nn.Linear(num_hiddens1, num_hiddens2), nn.ReLU(),
    nn.Dropout(drop_prob2), nn.Linear(num_hiddens2, num_outputs))`` with every parameter
    drawn from N(0, 0.01^2). ``net.eval()`` turns dropout off, ``net.train()`` on."""
    # BEGIN SOLUTION
    net = nn.Sequential(
        nn.Flatten(),
        nn.Linear(num_inputs, num_hiddens1),
        nn.ReLU(),
        nn.Dropout(drop_prob1),
        nn.Linear(num_hiddens1, num_hiddens2),
        nn.ReLU(),
        nn.Dropout(drop_prob2),
        nn.Linear(num_hiddens2, num_outputs),
    )
    for param in net.parameters():
        nn.init.normal_(param, mean=0, std=0.01)
    return net
    # END SOLUTION
