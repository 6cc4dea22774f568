"""D2L 6.4 (循环神经网络的从零开始实现): a character-level RNN from scratch.

One-hot inputs, the parameters and the cell ``H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h)``,
``O_t = H_t W_hq + b_q``, greedy prediction from a prefix, gradient clipping by the global norm
and training with perplexity. ``one_hot``, ``to_onehot``, ``rnn``, ``predict_rnn`` and
``grad_clipping`` are written with elementary tensor operations (``rnn`` may use ``tanh``):
no ``F.one_hot``, no ``nn.RNN``/``nn.RNNCell`` (or GRU/LSTM modules or kernels), no norm
routine or ``torch.nn.utils.clip_grad_norm_``. The trainer uses no ``torch.optim``: it clips
with ``grad_clipping`` and steps with ``sgd``.

Deviations from the book: ``get_params`` takes its sizes (see the chapter docstring);
``train_and_predict_rnn`` returns the trained parameters and the per-epoch perplexities (the
book only prints them).
"""
import math
import time

import numpy as np
import torch
from torch import nn

from .lyrics import data_iter_consecutive, data_iter_random


def sgd(params, lr, batch_size):
    """Minibatch SGD (D2L 3.2, given): ``param -= lr * grad / batch_size`` in place."""
    for param in params:
        param.data -= lr * param.grad / batch_size


def one_hot(x, n_class, dtype=torch.float32):
    """One-hot rows: ``x`` of shape (batch,) with integer values (any dtype, float included) -> (batch, n_class).

    Row ``i`` is all zeros except a 1 at column ``x[i]``; the result has ``dtype`` and
    ``x``'s device. Book example: ``one_hot(torch.tensor([0, 2]), 1027)`` has shape
    (2, 1027) with ones at (0, 0) and (1, 2). Do not use ``torch.nn.functional.one_hot``.
    """
    # BEGIN SOLUTION
    x = x.long()
    res = torch.zeros(x.shape[0], n_class, dtype=dtype, device=x.device)
    res.scatter_(1, x.view(-1, 1), 1)
    return res
    # END SOLUTION


def to_onehot(X, n_class):
    """A minibatch ``X`` (batch, num_steps) -> a list of ``num_steps`` float32 tensors (batch, n_class).

    Element ``t`` is ``one_hot(X[:, t], n_class)``: the inputs of time step ``t``. Book
    example: ``to_onehot(torch.arange(10).view(2, 5), 1027)`` has 5 elements of shape
    ``torch.Size([2, 1027])``.
    """
    # BEGIN SOLUTION
    return [one_hot(X[:, i], n_class) for i in range(X.shape[1])]
    # END SOLUTION


def get_params(vocab_size, num_hiddens, device=None):
    """The RNN's parameters as ``nn.ParameterList([W_xh, W_hh, b_h, W_hq, b_q])`` (float32, on ``device``).

    Inputs and outputs are one-hot characters (``vocab_size`` each). Shapes: ``W_xh``
    (vocab_size, num_hiddens), ``W_hh`` (num_hiddens, num_hiddens), ``b_h`` (num_hiddens,),
    ``W_hq`` (num_hiddens, vocab_size), ``b_q`` (vocab_size,). Weights are drawn from the
    normal distribution with mean 0 and standard deviation 0.01, biases are zeros; every
    parameter requires grad. (The book uses num_hiddens 256.)
    """
    # BEGIN SOLUTION
    def _one(shape):
        ts = torch.tensor(np.random.normal(0, 0.01, size=shape), device=device, dtype=torch.float32)
        return nn.Parameter(ts, requires_grad=True)

    W_xh = _one((vocab_size, num_hiddens))
    W_hh = _one((num_hiddens, num_hiddens))
    b_h = nn.Parameter(torch.zeros(num_hiddens, device=device))
    W_hq = _one((num_hiddens, vocab_size))
    b_q = nn.Parameter(torch.zeros(vocab_size, device=device))
    return nn.ParameterList([W_xh, W_hh, b_h, W_hq, b_q])
    # END SOLUTION


def init_rnn_state(batch_size, num_hiddens, device=None):
    """The initial hidden state: a **tuple** ``(H,)`` with ``H`` zeros of shape (batch_size, num_hiddens), float32.

    A tuple, so that cells whose state has several parts (LSTM) fit the same functions.
    """
    # BEGIN SOLUTION
    return (torch.zeros((batch_size, num_hiddens), device=device),)
    # END SOLUTION


def rnn(inputs, state, params):
    """Run the RNN over the time steps: return ``(outputs, (H,))``.

    ``inputs``: list of ``num_steps`` tensors (batch, vocab_size) (see ``to_onehot``);
    ``state``: ``(H,)`` with ``H`` (batch, num_hiddens); ``params``: ``[W_xh, W_hh, b_h,
    W_hq, b_q]``. For each step ``H = tanh(X W_xh + H W_hh + b_h)`` and the output is
    ``H W_hq + b_q`` (batch, vocab_size); ``outputs`` is the list of the ``num_steps`` outputs
    and ``(H,)`` the state after the last step. Book example (2 x 5 inputs, vocab 1027, 256
    hidden units): ``len(outputs), outputs[0].shape, state[0].shape`` are
    ``5 torch.Size([2, 1027]) torch.Size([2, 256])``. No ``nn.RNN``/``nn.RNNCell``.
    """
    # BEGIN SOLUTION
    W_xh, W_hh, b_h, W_hq, b_q = params
    H, = state
    outputs = []
    for X in inputs:
        H = torch.tanh(torch.matmul(X, W_xh) + torch.matmul(H, W_hh) + b_h)
        Y = torch.matmul(H, W_hq) + b_q
        outputs.append(Y)
    return outputs, (H,)
    # END SOLUTION


def predict_rnn(prefix, num_chars, rnn, params, init_rnn_state, num_hiddens, vocab_size, device,
                idx_to_char, char_to_idx):
    """Greedy generation: return ``prefix`` followed by ``num_chars`` predicted characters.

    The state starts as ``init_rnn_state(1, num_hiddens, device)``. The characters of
    ``prefix`` are fed one at a time (each step's input is the previous character, one-hot);
    after the last prefix character every step appends the most likely next character
    (``argmax`` of the output) and feeds it back. ``rnn`` and ``init_rnn_state`` are the cell
    functions (``rnn`` here, ``gru``/``lstm`` later), so each step is one call
    ``rnn([one_hot input], state, params)``. The result has ``len(prefix) + num_chars``
    characters.
    """
    # BEGIN SOLUTION
    state = init_rnn_state(1, num_hiddens, device)
    output = [char_to_idx[prefix[0]]]
    for t in range(num_chars + len(prefix) - 1):
        X = to_onehot(torch.tensor([[output[-1]]], device=device), vocab_size)
        (Y, state) = rnn(X, state, params)
        if t < len(prefix) - 1:
            output.append(char_to_idx[prefix[t + 1]])
        else:
            output.append(int(Y[0].argmax(dim=1).item()))
    return ''.join([idx_to_char[i] for i in output])
    # END SOLUTION


def grad_clipping(params, theta, device=None):
    """Clip the gradients of ``params`` in place by their **global** L2 norm.

    ``g`` is all gradient elements of all parameters taken as one vector. When
    ``||g|| > theta`` every gradient is multiplied by ``theta / ||g||`` (so the clipped
    ``min(theta / ||g||, 1) g`` has norm at most ``theta``); otherwise nothing changes. One
    factor for all parameters, not one per parameter. The book prints no example: two
    gradients ``[3.]`` and ``[4.]`` (norm 5) with ``theta = 1`` become ``[0.6]`` and ``[0.8]``.
    Compute the norm from squares and sums: no ``torch.norm``/``linalg.vector_norm``, no
    ``torch.nn.utils.clip_grad_norm_``.
    """
    # BEGIN SOLUTION
    norm = torch.tensor([0.0], device=device)
    for param in params:
        norm += (param.grad.data.to(norm.device) ** 2).sum()
    norm = norm.sqrt().item()
    if norm > theta:
        for param in params:
            param.grad.data *= (theta / norm)
    # END SOLUTION


def train_and_predict_rnn(rnn, get_params, init_rnn_state, num_hiddens, vocab_size, device,
                          corpus_indices, idx_to_char, char_to_idx, is_random_iter, num_epochs,
                          num_steps, lr, clipping_theta, batch_size, pred_period, pred_len,
                          prefixes):
    """Train a scratch recurrent cell; return ``(params, perplexities)``.

    ``params = get_params(vocab_size, num_hiddens, device)``; the loss is
    ``nn.CrossEntropyLoss()`` (mean) of the outputs of all steps, concatenated time-major to
    (num_steps * batch, vocab) against the labels ``Y`` transposed and flattened the same
    way (``.long()``). Sampling: ``data_iter_random`` when ``is_random_iter`` (the state is
    re-initialised with ``init_rnn_state`` before **every** minibatch), else
    ``data_iter_consecutive`` (initialised once at the start of each epoch and **detached**
    from the graph before every minibatch, so gradients stay within one minibatch). Each
    step: zero the gradients, backward, ``grad_clipping(params, clipping_theta, device)``,
    then ``sgd(params, lr, 1)`` (the loss is already a mean).

    The perplexity of an epoch is ``exp(sum of loss * labels / number of labels)`` over its
    minibatches (``inf`` on overflow); ``perplexities`` has one per epoch. Every
    ``pred_period`` epochs it prints the perplexity and, for each prefix, ``predict_rnn(prefix,
    pred_len, ...)``.
    """
    # BEGIN SOLUTION
    data_iter_fn = data_iter_random if is_random_iter else data_iter_consecutive
    params = get_params(vocab_size, num_hiddens, device)
    loss = nn.CrossEntropyLoss()
    perplexities = []
    for epoch in range(num_epochs):
        if not is_random_iter:
            state = init_rnn_state(batch_size, num_hiddens, device)
        l_sum, n, start = 0.0, 0, time.time()
        for X, Y in data_iter_fn(corpus_indices, batch_size, num_steps, device):
            if is_random_iter:
                state = init_rnn_state(batch_size, num_hiddens, device)
            else:
                for s in state:
                    s.detach_()
            inputs = to_onehot(X, vocab_size)
            outputs, state = rnn(inputs, state, params)
            outputs = torch.cat(outputs, dim=0)
            y = torch.transpose(Y, 0, 1).contiguous().view(-1)
            l = loss(outputs, y.long())
            for param in params:
                if param.grad is not None:
                    param.grad.data.zero_()
            l.backward()
            grad_clipping(params, clipping_theta, device)
            sgd(params, lr, 1)
            l_sum += l.item() * y.shape[0]
            n += y.shape[0]
        try:
            perplexity = math.exp(l_sum / n)
        except OverflowError:
            perplexity = float('inf')
        perplexities.append(perplexity)
        if (epoch + 1) % pred_period == 0:
            print('epoch %d, perplexity %f, time %.2f sec' % (epoch + 1, perplexity, time.time() - start))
            for prefix in prefixes:
                print(' -', predict_rnn(prefix, pred_len, rnn, params, init_rnn_state, num_hiddens,
                                        vocab_size, device, idx_to_char, char_to_idx))
    return params, perplexities
    # END SOLUTION
