"""D2L 3.6 (softmax回归的从零开始实现): softmax regression from scratch.

The model ``softmax(X W + b)`` for 10-class images, its loss and its accuracy, written by
hand, and a training function for it. ``train_ch3`` (the book's training loop, saved in its
``d2lzh_pytorch`` package) is given code; it uses ``sgd`` from ``linear_regression`` (3.2).

Conventions: ``y_hat`` holds probabilities of shape (n, q), ``y`` holds class indices 0..q-1
of shape (n,) and dtype int64.
"""
import torch

from .linear_regression import sgd


def softmax(X):
    """Row-wise normalised exponential: ``exp(X) / exp(X).sum(dim=1, keepdim=True)``.

    ``X`` is (n, q); the result has the same shape and dtype, non-negative rows that sum
    to 1. Unlike the book's version, subtract each row's maximum before ``exp`` (this does
    not change the result mathematically): otherwise ``exp`` overflows and a row such as
    ``[1000, 0]`` gives ``nan`` instead of ``[1, 0]``. ``X`` itself must not be modified and
    the result must stay differentiable with respect to ``X``. PyTorch's built-in versions
    of this function (and of its logarithm) are not allowed.
    """
    # BEGIN SOLUTION
    X_exp = (X - X.max(dim=1, keepdim=True).values).exp()
    partition = X_exp.sum(dim=1, keepdim=True)
    return X_exp / partition
    # END SOLUTION


def net(X, W, b):
    """The softmax regression model: ``softmax(X.view(-1, d) @ W + b)``.

    ``X`` is a batch of images, e.g. (n, 1, 28, 28); ``W`` is (d, q) with d = 784 for
    28x28 images, ``b`` is (q,). Returns (n, q) class probabilities.
    """
    # BEGIN SOLUTION
    return softmax(torch.mm(X.view(-1, W.shape[0]), W) + b)
    # END SOLUTION


def cross_entropy(y_hat, y):
    """Per-example cross entropy loss ``-log(y_hat[i, y[i]])``, shape (n, 1), not averaged.

    ``y_hat`` (n, q) holds probabilities, ``y`` (n,) the true classes. Pick each row's
    probability of its true class (``y_hat.gather(1, y.view(-1, 1))``), then take ``-log``.
    The book's example ``y_hat = [[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]]``, ``y = [0, 2]`` picks
    ``[[0.1], [0.5]]`` and gives ``[[2.3026], [0.6931]]``. The result must be differentiable
    with respect to ``y_hat``; PyTorch's ready-made classification losses (functional or
    ``nn`` classes) are not allowed.
    """
    # BEGIN SOLUTION
    return -torch.log(y_hat.gather(1, y.view(-1, 1)))
    # END SOLUTION


def accuracy(y_hat, y):
    """The fraction of rows of ``y_hat`` whose largest entry is at the true class, a float.

    For the book's ``y_hat`` and ``y = [0, 2]`` above it is 0.5 (the first row predicts
    class 2). Returns a Python ``float`` (use ``.item()``), not a tensor and not a count.
    """
    # BEGIN SOLUTION
    return (y_hat.argmax(dim=1) == y).float().mean().item()
    # END SOLUTION


def evaluate_accuracy(data_iter, net):
    """Accuracy of ``net`` over all examples of ``data_iter``, a Python float.

    ``data_iter`` yields ``(X, y)`` minibatches (a DataLoader, or a list of pairs);
    ``net(X)`` returns (batch, q) scores. Count correct predictions over every example and
    divide by the number of examples (the last batch may be shorter, so averaging
    per-batch accuracies is wrong). This is the book's first version (3.6): no
    ``net.eval()`` switch; gradients are not needed, so use ``torch.no_grad()``.
    """
    # BEGIN SOLUTION
    acc_sum, n = 0.0, 0
    with torch.no_grad():
        for X, y in data_iter:
            acc_sum += (net(X).argmax(dim=1) == y).float().sum().item()
            n += y.shape[0]
    return acc_sum / n
    # END SOLUTION


def train_ch3(net, train_iter, test_iter, loss, num_epochs, batch_size,
              params=None, lr=None, optimizer=None):
    """The book's training loop (given code, saved in ``d2lzh_pytorch``).

    Either ``params`` and ``lr`` (the from-scratch ``sgd`` step) or a ``torch.optim``
    ``optimizer``. Prints one line per epoch, like the book, and (unlike the book) also
    returns the per-epoch ``(mean loss, train accuracy, test accuracy)`` triples. The loss
    column is ``sum of loss(y_hat, y).sum() / n``: the mean loss for a per-example loss
    such as ``cross_entropy``, but the mean divided by the batch size for a mean-reduced
    one such as ``nn.CrossEntropyLoss()``.
    """
    history = []
    for epoch in range(num_epochs):
        train_l_sum, train_acc_sum, n = 0.0, 0.0, 0
        for X, y in train_iter:
            y_hat = net(X)
            l = loss(y_hat, y).sum()
            if optimizer is not None:
                optimizer.zero_grad()
            elif params is not None and params[0].grad is not None:
                for param in params:
                    param.grad.zero_()
            l.backward()
            if optimizer is None:
                sgd(params, lr, batch_size)
            else:
                optimizer.step()
            train_l_sum += l.item()
            train_acc_sum += (y_hat.argmax(dim=1) == y).sum().item()
            n += y.shape[0]
        test_acc = evaluate_accuracy(test_iter, net)
        history.append((train_l_sum / n, train_acc_sum / n, test_acc))
        print('epoch %d, loss %.4f, train acc %.3f, test acc %.3f'
              % (epoch + 1, train_l_sum / n, train_acc_sum / n, test_acc))
    return history


def train_softmax_scratch(train_iter, test_iter, num_epochs=5, lr=0.1, batch_size=256,
                          num_inputs=784, num_outputs=10):
    """Train softmax regression from scratch with ``train_ch3``; return ``(W, b)``.

    Initialise ``W`` (num_inputs, num_outputs) from N(0, 0.01**2) and ``b`` (num_outputs,)
    as zeros, both float32 and requiring grad; train ``net`` (with these ``W`` and ``b``)
    with ``cross_entropy`` and the ``sgd`` step (``params=[W, b]``, ``lr``) for
    ``num_epochs`` epochs; return the trained ``W`` and ``b``. ``batch_size`` is the size
    of the minibatches of ``train_iter``. The book reaches about 0.82 test accuracy on
    Fashion-MNIST after 5 epochs with ``lr = 0.1``.
    """
    # BEGIN SOLUTION
    W = torch.normal(0.0, 0.01, size=(num_inputs, num_outputs), dtype=torch.float32)
    W.requires_grad_(True)
    b = torch.zeros(num_outputs, dtype=torch.float32, requires_grad=True)
    train_ch3(lambda X: net(X, W, b), train_iter, test_iter, cross_entropy, num_epochs,
              batch_size, [W, b], lr)
    return W.detach(), b.detach()
    # END SOLUTION
