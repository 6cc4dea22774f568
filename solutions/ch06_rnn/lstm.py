"""D2L 6.8 (长短期记忆（LSTM）): an LSTM cell from scratch.

``I_t, F_t, O_t = sigmoid(X_t W_x* + H_{t-1} W_h* + b_*)`` (input, forget, output gates),
``C~_t = tanh(X_t W_xc + H_{t-1} W_hc + b_c)``, ``C_t = F_t * C_{t-1} + I_t * C~_t``,
``H_t = O_t * tanh(C_t)``, ``Y_t = H_t W_hq + b_q`` (``*`` element-wise). Only ``H`` reaches the
output layer. ``lstm`` is written with tensor operations (elementary ops, ``sigmoid`` and
``tanh``): no ``nn.LSTM``/``nn.LSTMCell`` or any other recurrent module or kernel.
"""
import numpy as np
import torch
from torch import nn


def get_params(vocab_size, num_hiddens, device=None):
    """LSTM parameters: ``nn.ParameterList`` of 14, in the book's order.

    ``[W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c, W_hq, b_q]``: the
    input ``i``, forget ``f`` and output ``o`` gates and the candidate cell ``c`` each have
    ``W_x*`` (vocab_size, num_hiddens), ``W_h*`` (num_hiddens, num_hiddens) and ``b_*``
    (num_hiddens,); ``W_hq`` (num_hiddens, vocab_size), ``b_q`` (vocab_size,). Weights ~ N(0,
    0.01**2), biases zeros, float32 on ``device``, all requiring grad.
    """
    # BEGIN SOLUTION
    def _one(shape):
        ts = torch.tensor(np.random.normal(0, 0.01, size=shape), device=device, dtype=torch.float32)
        return nn.Parameter(ts, requires_grad=True)

    def _three():
        return (_one((vocab_size, num_hiddens)), _one((num_hiddens, num_hiddens)),
                nn.Parameter(torch.zeros(num_hiddens, device=device, dtype=torch.float32)))

    W_xi, W_hi, b_i = _three()
    W_xf, W_hf, b_f = _three()
    W_xo, W_ho, b_o = _three()
    W_xc, W_hc, b_c = _three()
    W_hq = _one((num_hiddens, vocab_size))
    b_q = nn.Parameter(torch.zeros(vocab_size, device=device, dtype=torch.float32))
    return nn.ParameterList([W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o,
                             W_xc, W_hc, b_c, W_hq, b_q])
    # END SOLUTION


def init_lstm_state(batch_size, num_hiddens, device=None):
    """``(H, C)``: the hidden state and the memory cell, both zeros (batch_size, num_hiddens), float32."""
    # BEGIN SOLUTION
    return (torch.zeros((batch_size, num_hiddens), device=device),
            torch.zeros((batch_size, num_hiddens), device=device))
    # END SOLUTION


def lstm(inputs, state, params):
    """Run the LSTM over the time steps: return ``(outputs, (H, C))``.

    Same interface as ``rnn_scratch.rnn`` with the state ``(H, C)``; each step applies the
    module docstring's equations and outputs ``H W_hq + b_q`` (batch, vocab_size). With all
    parameters zero every gate is 0.5 and the candidate 0, so each step halves ``C``,
    ``H = 0.5 * tanh(C)`` and every output is 0.
    """
    # BEGIN SOLUTION
    [W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c, W_hq, b_q] = params
    (H, C) = state
    outputs = []
    for X in inputs:
        I = torch.sigmoid(torch.matmul(X, W_xi) + torch.matmul(H, W_hi) + b_i)
        F = torch.sigmoid(torch.matmul(X, W_xf) + torch.matmul(H, W_hf) + b_f)
        O = torch.sigmoid(torch.matmul(X, W_xo) + torch.matmul(H, W_ho) + b_o)
        C_tilda = torch.tanh(torch.matmul(X, W_xc) + torch.matmul(H, W_hc) + b_c)
        C = F * C + I * C_tilda
        H = O * C.tanh()
        Y = torch.matmul(H, W_hq) + b_q
        outputs.append(Y)
    return outputs, (H, C)
    # END SOLUTION
