"""D2L 5.5: ``evaluate_accuracy`` (the book's third version, with ``device``) and ``train_ch5``.

Deviations from the book, on purpose:

* ``train_ch5`` reports the mean minibatch loss **of each epoch**: the book sets
  ``batch_count = 0`` once, before the epoch loop, so from epoch 2 on its printed loss is
  divided by the batches of all epochs so far (and its printed logs match neither). Here the
  count restarts every epoch.
* ``train_ch5`` returns its per-epoch figures (the book only prints them), so they can be
  checked.
* The default ``device`` is decided at call time (the device of the net's parameters),
  not once when the function is defined.
"""
import time

import torch
from torch import nn


def evaluate_accuracy(data_iter, net, device=None):
    """Fraction of correctly classified examples of ``data_iter`` (a float in [0, 1]).

    ``data_iter`` yields ``(X, y)`` minibatches; ``net`` is an ``nn.Module``. Each batch is
    moved to ``device`` (default: the device of the net's first parameter, CPU if it has
    none), the prediction is ``net(X).argmax(dim=1)``, and everything runs under
    ``torch.no_grad()``. The net is put in evaluation mode while it is evaluated
    (``net.eval()``: dropout off, batch norm uses its moving statistics) and given back in
    the mode it was in before. The count is over examples, not batches (the last batch may be
    smaller).
    """
    # BEGIN SOLUTION
    if device is None:
        param = next(iter(net.parameters()), None)
        device = param.device if param is not None else torch.device('cpu')
    was_training = net.training
    acc_sum, n = 0.0, 0
    net.eval()
    try:
        with torch.no_grad():
            for X, y in data_iter:
                X, y = X.to(device), y.to(device)
                acc_sum += (net(X).argmax(dim=1) == y).float().sum().cpu().item()
                n += y.shape[0]
    finally:
        net.train(was_training)
    return acc_sum / n
    # END SOLUTION


def train_ch5(net, train_iter, test_iter, batch_size, optimizer, device, num_epochs):
    """Train ``net`` with ``nn.CrossEntropyLoss`` (mean over the batch) and ``optimizer`` on ``device``.

    Moves the net to ``device`` first, and every minibatch ``(X, y)`` of ``train_iter`` too.
    Per batch: loss, ``optimizer.zero_grad()``, backward, ``optimizer.step()``. Per epoch,
    prints and records ``(train_loss, train_acc, test_acc)``: ``train_loss`` is the mean of the
    minibatch losses of **that epoch** (the count restarts each epoch; see the module
    docstring), ``train_acc`` the fraction of training examples the net classified
    correctly while it trained, and ``test_acc = evaluate_accuracy(test_iter, net, device)``.
    Returns the list of ``num_epochs`` such tuples (floats). ``batch_size`` is kept for the
    book's signature.
    """
    # BEGIN SOLUTION
    net = net.to(device)
    print("training on ", device)
    loss = nn.CrossEntropyLoss()
    history = []
    for epoch in range(num_epochs):
        train_l_sum, train_acc_sum, n, batch_count, start = 0.0, 0.0, 0, 0, time.time()
        for X, y in train_iter:
            X, y = X.to(device), y.to(device)
            y_hat = net(X)
            l = loss(y_hat, y)
            optimizer.zero_grad()
            l.backward()
            optimizer.step()
            train_l_sum += l.cpu().item()
            train_acc_sum += (y_hat.argmax(dim=1) == y).sum().cpu().item()
            n += y.shape[0]
            batch_count += 1
        test_acc = evaluate_accuracy(test_iter, net, device)
        history.append((train_l_sum / batch_count, train_acc_sum / n, test_acc))
        print('epoch %d, loss %.4f, train acc %.3f, test acc %.3f, time %.1f sec'
              % (epoch + 1, train_l_sum / batch_count, train_acc_sum / n, test_acc,
                 time.time() - start))
    return history
    # END SOLUTION
