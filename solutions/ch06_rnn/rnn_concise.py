"""D2L 6.5 (循环神经网络的简洁实现): a character-level model on ``nn.RNN`` (or ``nn.GRU``/``nn.LSTM``).

Here the library does the work: ``torch.nn.functional.one_hot`` and
``torch.nn.utils.clip_grad_norm_`` are allowed (the book reuses its own ``to_onehot`` and
``grad_clipping``), so nothing here depends on ``rnn_scratch``. The trainer reads the corpus
with ``lyrics.data_iter_consecutive`` (as the book's does).

Deviation from the book: ``train_and_predict_rnn_pytorch`` starts every epoch with a fresh
state (``None``); the book sets ``state = None`` once before the epoch loop, so the last state
of one epoch leaks into the first minibatch of the next, which starts at the corpus's
beginning. It also returns the per-epoch perplexities.
"""
import math
import time

import torch
from torch import nn

from .lyrics import data_iter_consecutive


class RNNModel(nn.Module):
    """A recurrent layer (``nn.RNN``, ``nn.GRU`` or ``nn.LSTM``, time-major) plus a dense output layer.

    Attributes: ``rnn`` (the given layer), ``vocab_size``, ``hidden_size`` =
    ``rnn_layer.hidden_size`` times 2 when the layer is bidirectional, ``dense =
    nn.Linear(hidden_size, vocab_size)`` and ``state`` (None until ``forward`` runs).

    ``forward(inputs, state)``: ``inputs`` (batch, num_steps) holds character indices (any
    dtype, float included). They become one-hot vectors, time-major (num_steps, batch,
    vocab_size) float32, and go through ``rnn`` with ``state`` (``None``, a tensor, or an
    ``(h, c)`` tuple for LSTM). The hidden states ``Y`` (num_steps, batch, hidden_size) are
    flattened time-major to (num_steps * batch, hidden_size) and mapped by ``dense``. Returns
    ``(output, state)`` with ``output`` (num_steps * batch, vocab_size); the new state is also
    kept in ``self.state``.
    """

    def __init__(self, rnn_layer, vocab_size):
        super().__init__()
        # BEGIN SOLUTION
        self.rnn = rnn_layer
        self.hidden_size = rnn_layer.hidden_size * (2 if rnn_layer.bidirectional else 1)
        self.vocab_size = vocab_size
        self.dense = nn.Linear(self.hidden_size, vocab_size)
        self.state = None
        # END SOLUTION

    def forward(self, inputs, state):
        # BEGIN SOLUTION
        X = nn.functional.one_hot(inputs.long().t(), self.vocab_size).float()
        Y, self.state = self.rnn(X, state)
        output = self.dense(Y.reshape(-1, Y.shape[-1]))
        return output, self.state
        # END SOLUTION


def predict_rnn_pytorch(prefix, num_chars, model, vocab_size, device, idx_to_char, char_to_idx):
    """Greedy generation with an ``RNNModel``: ``prefix`` followed by ``num_chars`` predicted characters.

    Like ``rnn_scratch.predict_rnn``: the state starts as ``None``, each step feeds the
    previous character as a (1, 1) input through ``model(X, state)``, the prefix is fed first
    and then the ``argmax`` of each output is appended and fed back. Works for LSTM (state
    ``(h, c)``) too. Runs without building a graph and leaves the model's mode alone.
    """
    # BEGIN SOLUTION
    state = None
    output = [char_to_idx[prefix[0]]]
    with torch.no_grad():
        for t in range(num_chars + len(prefix) - 1):
            X = torch.tensor([output[-1]], device=device).view(1, 1)
            (Y, state) = model(X, state)
            if t < len(prefix) - 1:
                output.append(char_to_idx[prefix[t + 1]])
            else:
                output.append(int(Y.argmax(dim=1).item()))
    return ''.join([idx_to_char[i] for i in output])
    # END SOLUTION


def train_and_predict_rnn_pytorch(model, num_hiddens, vocab_size, device, corpus_indices,
                                  idx_to_char, char_to_idx, num_epochs, num_steps, lr,
                                  clipping_theta, batch_size, pred_period, pred_len, prefixes):
    """Train an ``RNNModel`` with Adam and consecutive sampling; return the per-epoch perplexities.

    Moves the model to ``device`` (CPU if None), makes ``torch.optim.Adam(model.parameters(),
    lr=lr)`` and ``nn.CrossEntropyLoss()`` (mean). Each epoch starts with state ``None`` and
    reads ``lyrics.data_iter_consecutive(corpus_indices, batch_size, num_steps, device)``; before every
    minibatch the state (a tensor, or both parts of an LSTM's ``(h, c)``) is detached. The
    labels are ``Y`` transposed and flattened (time-major, like the model's output),
    ``.long()``. Each step: ``zero_grad``, backward, clip the gradients of all parameters to
    global norm ``clipping_theta``, ``step``. The epoch's perplexity is ``exp(sum of loss *
    labels / number of labels)`` (``inf`` on overflow). Every ``pred_period`` epochs it prints
    the perplexity and ``predict_rnn_pytorch(prefix, pred_len, ...)`` for each prefix.
    """
    # BEGIN SOLUTION
    if device is None:
        device = torch.device("cpu")
    loss = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.to(device)
    perplexities = []
    for epoch in range(num_epochs):
        state = None
        l_sum, n, start = 0.0, 0, time.time()
        for X, Y in data_iter_consecutive(corpus_indices, batch_size, num_steps, device):
            if state is not None:
                if isinstance(state, tuple):
                    state = (state[0].detach(), state[1].detach())
                else:
                    state = state.detach()
            (output, state) = model(X, state)
            y = torch.transpose(Y, 0, 1).contiguous().view(-1)
            l = loss(output, y.long())
            optimizer.zero_grad()
            l.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clipping_theta)
            optimizer.step()
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
                print(' -', predict_rnn_pytorch(prefix, pred_len, model, vocab_size, device,
                                                idx_to_char, char_to_idx))
    return perplexities
    # END SOLUTION
