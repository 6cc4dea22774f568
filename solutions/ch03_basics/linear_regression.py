"""D2L 3.2 (线性回归的从零开始实现): linear regression from scratch.

The pieces of the book's training loop, each written by hand: a synthetic data set, a
minibatch reader, the model, the loss, the optimizer step, and the loop that ties them
together. Nothing here may use ``torch.nn`` layers, ``torch.nn.functional`` losses or
``torch.optim``.

Shapes follow the book: ``features`` is (n, d), ``labels`` is (n,), ``w`` is (d, 1), ``b``
is (1,) and predictions are (n, 1).
"""
import random

import torch


def synthetic_data(w, b, num_examples):
    """A linear data set with noise: ``(features, labels)``.

    ``features`` has shape (num_examples, d) with entries drawn from N(0, 1);
    ``labels = features @ w + b + noise`` with noise drawn from N(0, 0.01**2) (standard
    deviation 0.01), shape (num_examples,). ``w`` is a length-d list or 1-D tensor, ``b`` a
    number. Both results are float32 (the book builds float64 features with
    ``torch.from_numpy`` and then multiplies them with float32 weights, which modern PyTorch
    rejects; we keep everything float32). With the book's ``true_w = [2, -3.4]`` and
    ``true_b = 4.2`` each label is within a few hundredths of ``2 x0 - 3.4 x1 + 4.2``.
    """
    # BEGIN SOLUTION
    w = torch.as_tensor(w, dtype=torch.float32).reshape(-1)
    features = torch.randn(num_examples, len(w), dtype=torch.float32)
    labels = features @ w + float(b)
    labels += torch.normal(0.0, 0.01, size=labels.shape)
    return features, labels
    # END SOLUTION


def data_iter(batch_size, features, labels):
    """Yield ``(X, y)`` minibatches of ``batch_size`` examples in a random order.

    A generator. Each call visits every example exactly once, in a freshly shuffled order;
    ``X`` rows and ``y`` entries stay paired. When ``batch_size`` does not divide the
    number of examples the last batch is shorter (it is not dropped). For 1000 examples and
    ``batch_size = 10`` the first batch has ``X`` of shape (10, 2) and ``y`` of shape (10,).
    """
    # BEGIN SOLUTION
    num_examples = len(features)
    indices = list(range(num_examples))
    random.shuffle(indices)
    for i in range(0, num_examples, batch_size):
        j = torch.tensor(indices[i:min(i + batch_size, num_examples)], dtype=torch.long)
        yield features.index_select(0, j), labels.index_select(0, j)
    # END SOLUTION


def linreg(X, w, b):
    """The linear model ``X @ w + b``: (n, d) @ (d, 1) + (1,) -> (n, 1)."""
    # BEGIN SOLUTION
    return torch.mm(X, w) + b
    # END SOLUTION


def squared_loss(y_hat, y):
    """Per-example squared loss ``(y_hat - y) ** 2 / 2``, not averaged.

    ``y`` is first reshaped to ``y_hat``'s shape, so ``y_hat`` of shape (n, 1) and ``y`` of
    shape (n,) give (n, 1), never an (n, n) broadcast. Note the 1/2: ``nn.MSELoss`` has none.
    Example: ``y_hat = [[1], [2], [3]]``, ``y = [1.5, 2, 1]`` gives ``[[0.125], [0], [2]]``.
    """
    # BEGIN SOLUTION
    return (y_hat - y.view(y_hat.shape)) ** 2 / 2
    # END SOLUTION


def sgd(params, lr, batch_size):
    """One minibatch SGD step, in place: ``param -= lr * param.grad / batch_size``.

    ``params`` is a list of leaf tensors that require grad and hold a ``.grad`` (the
    gradient of the *summed* minibatch loss, hence the division by ``batch_size``). The
    update changes each tensor's values in place without being recorded by autograd; the
    tensors stay leaves that require grad, and their ``.grad`` is left as it is (the
    caller zeroes it). Example: ``w = [1, 2]`` with grad ``[0.5, 1]``, ``lr = 0.1`` and
    ``batch_size = 5`` becomes ``[0.99, 1.98]``. PyTorch's ready-made optimizers are not
    allowed here.
    """
    # BEGIN SOLUTION
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
    # END SOLUTION


def train_linreg(features, labels, num_epochs=3, lr=0.03, batch_size=10):
    """Fit ``linreg`` with ``squared_loss`` and ``sgd`` over ``data_iter``; return ``(w, b, losses)``.

    Initialise ``w`` (d, 1) from N(0, 0.01**2) and ``b`` (1,) as zeros, both float32 and
    requiring grad. For each minibatch: sum the per-example loss, back-propagate, take an
    ``sgd`` step, and zero the gradients. After each epoch record the mean ``squared_loss``
    over the whole data set (a Python float) in ``losses``. With the book's data (1000
    examples, ``true_w = [2, -3.4]``, ``true_b = 4.2``) and its settings (3 epochs,
    ``lr = 0.03``, ``batch_size = 10``) the learned ``w`` and ``b`` are within about 1e-3 of
    the true ones and the final loss is about 5e-5.
    """
    # BEGIN SOLUTION
    num_inputs = features.shape[1]
    w = torch.normal(0.0, 0.01, size=(num_inputs, 1), dtype=torch.float32).requires_grad_(True)
    b = torch.zeros(1, dtype=torch.float32, requires_grad=True)
    losses = []
    for _ in range(num_epochs):
        for X, y in data_iter(batch_size, features, labels):
            l = squared_loss(linreg(X, w, b), y).sum()
            l.backward()
            sgd([w, b], lr, batch_size)
            w.grad.zero_()
            b.grad.zero_()
        with torch.no_grad():
            losses.append(squared_loss(linreg(features, w, b), labels).mean().item())
    return w.detach(), b.detach(), losses
    # END SOLUTION
