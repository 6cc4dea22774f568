"""D2L 7.3 (小批量随机梯度下降): minibatch SGD on the airfoil self-noise data.

``get_data_ch7`` reads an airfoil-format file (tab-separated, 5 feature columns and the target
last; the real ``airfoil_self_noise.dat`` has 1503 rows), ``sgd`` is the book's optimizer with
the ``(params, states, hyperparams)`` signature every optimizer of this chapter shares, and
``train_ch7`` trains linear regression with any such optimizer (the book saves it in
``d2lzh_pytorch``; the later sections call it as ``d2l.train_ch7``).

Deviations from the book: ``get_data_ch7`` takes the file's path (the book hard-codes
``'../data/airfoil_self_noise.dat'``), and ``train_ch7`` returns its recorded losses and
does not plot them.

``linreg`` and ``squared_loss`` are given code (they are graded in chapter 3).
"""
import time

import numpy as np
import torch


def linreg(X, w, b):
    """The linear model ``X @ w + b``: (n, d) @ (d, 1) + (1,) -> (n, 1)."""
    return torch.mm(X, w) + b


def squared_loss(y_hat, y):
    """Per-example ``(y_hat - y.view(y_hat.shape)) ** 2 / 2``."""
    return (y_hat - y.view(y_hat.size())) ** 2 / 2


def get_data_ch7(path, num_examples=1500):
    """Read an airfoil-format file and return ``(features, labels)``, standardised.

    The file is tab-separated numbers, one example per row, the last column the target
    (``np.genfromtxt(path, delimiter='\\t')``). Standardise every column, the target included,
    with its mean and *population* standard deviation (numpy's default ``ddof=0``) over **all**
    rows, then keep the first ``num_examples`` rows: ``features`` is (num_examples, columns - 1)
    and ``labels`` (num_examples,), both float32. The book's data: ``features.shape`` is
    ``torch.Size([1500, 5])``.
    """
    # BEGIN SOLUTION
    data = np.genfromtxt(path, delimiter='\t')
    data = (data - data.mean(axis=0)) / data.std(axis=0)
    return (torch.tensor(data[:num_examples, :-1], dtype=torch.float32),
            torch.tensor(data[:num_examples, -1], dtype=torch.float32))
    # END SOLUTION


def sgd(params, states, hyperparams):
    """One SGD step, in place: ``p -= hyperparams['lr'] * p.grad`` for each ``p`` in ``params``.

    ``states`` is unused (plain SGD keeps no state; ``train_ch7`` passes ``None``). There is no
    division by the batch size: ``train_ch7`` averages the minibatch loss. Update the values
    without autograd recording it (``p.data`` or ``torch.no_grad()``); the tensors stay leaves
    that require grad and their ``.grad`` is left as it is. No ``torch.optim``.
    """
    # BEGIN SOLUTION
    for p in params:
        p.data -= hyperparams['lr'] * p.grad.data
    # END SOLUTION


def train_ch7(optimizer_fn, states, hyperparams, features, labels, batch_size=10, num_epochs=2):
    """Train ``linreg`` with ``squared_loss`` and ``optimizer_fn``; return the recorded losses.

    ``w`` (d, 1) starts from N(0, 0.01**2) and ``b`` (1,) at zero, both float32 leaves that
    require grad (d = ``features.shape[1]``). Minibatches come from
    ``DataLoader(TensorDataset(features, labels), batch_size, shuffle=True)``. For each
    minibatch: the *mean* ``squared_loss``, zero the old gradients, ``backward``, then
    ``optimizer_fn([w, b], states, hyperparams)``. The mean loss over the whole data set is
    recorded once before training and after every batch ``i`` (counted from 0 within the
    epoch) with ``(i + 1) * batch_size % 100 == 0``: 31 values for 1500 examples, batch 10 and
    2 epochs. Return that list of Python floats and print
    ``'loss: %f, %f sec per epoch' % (last loss, seconds of the last epoch)``. Book: on the
    airfoil data ``train_ch7(sgd, None, {'lr': 0.05}, features, labels, 10)`` prints
    ``loss: 0.242805``; every optimizer of the chapter ends between about 0.242 and 0.268.
    """
    # BEGIN SOLUTION
    w = torch.normal(0.0, 0.01, size=(features.shape[1], 1)).requires_grad_(True)
    b = torch.zeros(1, dtype=torch.float32, requires_grad=True)

    def eval_loss():
        with torch.no_grad():
            return squared_loss(linreg(features, w, b), labels).mean().item()

    ls = [eval_loss()]
    data_iter = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(features, labels), batch_size, shuffle=True)
    start = time.time()
    for _ in range(num_epochs):
        start = time.time()
        for batch_i, (X, y) in enumerate(data_iter):
            l = squared_loss(linreg(X, w, b), y).mean()
            if w.grad is not None:
                w.grad.data.zero_()
                b.grad.data.zero_()
            l.backward()
            optimizer_fn([w, b], states, hyperparams)
            if (batch_i + 1) * batch_size % 100 == 0:
                ls.append(eval_loss())
    print('loss: %f, %f sec per epoch' % (ls[-1], time.time() - start))
    return ls
    # END SOLUTION
