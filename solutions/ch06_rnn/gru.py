"""D2L 6.7 (门控循环单元（GRU）): a GRU cell from scratch.

``R_t = sigmoid(X_t W_xr + H_{t-1} W_hr + b_r)``, ``Z_t = sigmoid(X_t W_xz + H_{t-1} W_hz + b_z)``,
``H~_t = tanh(X_t W_xh + (R_t * H_{t-1}) W_hh + b_h)``, ``H_t = Z_t * H_{t-1} + (1 - Z_t) * H~_t``,
``Y_t = H_t W_hq + b_q`` (``*`` element-wise).

**Deviation from the book's code, on purpose:** the book's ``gru`` computes the candidate with
``R * (H W_hh)`` (the reset gate applied *after* the matrix product, which is what
``nn.GRU`` does), although its formula says ``(R * H) W_hh``. Here the formula is followed.
``gru`` is written with tensor operations (elementary ops, ``sigmoid`` and ``tanh``): no
``nn.GRU``/``nn.GRUCell`` or any other recurrent module or kernel.
"""
import numpy as np
import torch
from torch import nn


def get_params(vocab_size, num_hiddens, device=None):
    """GRU parameters: ``nn.ParameterList`` of 11, in the book's order.

    ``[W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q]``: each gate (update
    ``z``, reset ``r``, candidate ``h``) has ``W_x*`` (vocab_size, num_hiddens), ``W_h*``
    (num_hiddens, num_hiddens) and ``b_*`` (num_hiddens,); the output layer has ``W_hq``
    (num_hiddens, vocab_size) and ``b_q`` (vocab_size,). Weights ~ N(0, 0.01**2), biases
    zeros, float32 on ``device``, all requiring grad.
    """
    # BEGIN SOLUTION
    def _one(shape):
        ts = torch.tensor(np.random.normal(0, 0.01, size=shape), device=device, dtype=torch.float32)
        return nn.Parameter(ts, requires_grad=True)

    def _three():
        return (_one((vocab_size, num_hiddens)), _one((num_hiddens, num_hiddens)),
                nn.Parameter(torch.zeros(num_hiddens, device=device, dtype=torch.float32)))

    W_xz, W_hz, b_z = _three()
    W_xr, W_hr, b_r = _three()
    W_xh, W_hh, b_h = _three()
    W_hq = _one((num_hiddens, vocab_size))
    b_q = nn.Parameter(torch.zeros(vocab_size, device=device, dtype=torch.float32))
    return nn.ParameterList([W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q])
    # END SOLUTION


def init_gru_state(batch_size, num_hiddens, device=None):
    """``(H,)``: a tuple with zeros of shape (batch_size, num_hiddens), float32."""
    # BEGIN SOLUTION
    return (torch.zeros((batch_size, num_hiddens), device=device),)
    # END SOLUTION


def gru(inputs, state, params):
    """Run the GRU over the time steps: return ``(outputs, (H,))``.

    Same interface as ``rnn_scratch.rnn``: ``inputs`` a list of ``num_steps`` tensors (batch,
    vocab_size), ``state`` ``(H,)``, ``params`` from ``get_params``. Each step applies the
    module docstring's equations with the reset gate on the **previous state**,
    ``(R * H) W_hh`` (the formula; the book's code has ``R * (H W_hh)``). ``outputs`` holds
    the ``num_steps`` outputs (batch, vocab_size). With all parameters zero both gates are
    0.5 and the candidate is 0, so each step halves the state and every output is 0.
    """
    # BEGIN SOLUTION
    W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q = params
    H, = state
    outputs = []
    for X in inputs:
        Z = torch.sigmoid(torch.matmul(X, W_xz) + torch.matmul(H, W_hz) + b_z)
        R = torch.sigmoid(torch.matmul(X, W_xr) + torch.matmul(H, W_hr) + b_r)
        H_tilda = torch.tanh(torch.matmul(X, W_xh) + torch.matmul(R * H, W_hh) + b_h)
        H = Z * H + (1 - Z) * H_tilda
        Y = torch.matmul(H, W_hq) + b_q
        outputs.append(Y)
    return outputs, (H,)
    # END SOLUTION
