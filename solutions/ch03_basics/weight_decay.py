"""D2L 3.12 (权重衰减): L2 regularisation against overfitting.

The loss gets a penalty ``lambd * ||w||^2 / 2``; the bias is not penalised. The book's
high-dimensional linear problem overfits easily: ``n_train = 20`` samples, ``p = 200``
features, ``y = 0.05 + sum_i 0.01 x_i + eps`` with ``eps ~ N(0, 0.01^2)``. Trained with
batch size 1, 100 epochs and lr 0.003, the book prints ``||w|| = 15.1`` for ``lambd = 0``
and ``0.035`` for ``lambd = 3`` (``nn`` version with ``weight_decay``: 12.9 and 0.096).
"""
import torch
from torch import nn


def make_data(n_train=20, n_test=100, num_inputs=200):
    """Given: the book's data set, ``(train_features, test_features, train_labels,
    test_labels)``; features from N(0, 1), labels of shape (n, 1)."""
    true_w, true_b = torch.ones(num_inputs, 1) * 0.01, 0.05
    features = torch.randn((n_train + n_test, num_inputs))
    labels = torch.matmul(features, true_w) + true_b
    labels += torch.normal(0.0, 0.01, size=labels.size())
    return features[:n_train], features[n_train:], labels[:n_train], labels[n_train:]


def linreg(X, w, b):
    """Given (3.2): the linear model ``X w + b``."""
    return torch.mm(X, w) + b


def squared_loss(y_hat, y):
    """Given (3.2): elementwise ``(y_hat - y)^2 / 2`` (``y`` reshaped like ``y_hat``)."""
    return (y_hat - y.view(y_hat.size())) ** 2 / 2


def l2_penalty(w):
    """The L2 penalty ``sum(w ** 2) / 2`` of a weight tensor, a scalar tensor.

    Its gradient with respect to ``w`` is ``w`` itself. ``l2_penalty(tensor([[1.], [2.],
    [3.]]))`` is 7.
    """
    # BEGIN SOLUTION
    return (w ** 2).sum() / 2
    # END SOLUTION


def init_params(num_inputs=200):
    """``[w, b]``: ``w`` of shape (num_inputs, 1) from N(0, 1) (standard deviation 1, not
    0.01) and ``b = zeros(1)``; both float32 leaves that require grad."""
    # BEGIN SOLUTION
    w = torch.randn((num_inputs, 1), requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    return [w, b]
    # END SOLUTION


def train_l2(train_features, train_labels, lambd, num_epochs=100, lr=0.003, batch_size=1,
             params=None):
    """Train the linear model ``linreg`` by minibatch SGD with the penalty; return ``[w, b]``.

    ``params`` is the starting ``[w, b]`` (copied; the caller's tensors are not changed), or
    ``None`` for ``init_params(p)``. Each epoch visits the training set once in a fresh
    random order in minibatches of ``batch_size``; for each minibatch the objective is
    ``(squared_loss(linreg(X, w, b), y) + lambd * l2_penalty(w)).sum()`` and the step is the
    book's ``sgd``: ``param -= lr * param.grad / batch_size``, then zero the gradients. Only
    ``w`` is penalised. Returns the trained ``[w, b]`` (detached).
    """
    # BEGIN SOLUTION
    if params is None:
        w, b = init_params(train_features.shape[1])
    else:
        w = params[0].detach().clone().requires_grad_(True)
        b = params[1].detach().clone().requires_grad_(True)
    n = train_features.shape[0]
    for _ in range(num_epochs):
        order = torch.randperm(n)
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            X, y = train_features[idx], train_labels[idx]
            l = (squared_loss(linreg(X, w, b), y) + lambd * l2_penalty(w)).sum()
            l.backward()
            with torch.no_grad():
                for param in (w, b):
                    param -= lr * param.grad / batch_size
                    param.grad.zero_()
    return [w.detach(), b.detach()]
    # END SOLUTION


def train_l2_concise(train_features, train_labels, wd, num_epochs=100, lr=0.003, batch_size=1):
    """The ``nn`` version: a fresh ``nn.Linear(p, 1)`` with weight and bias drawn from
    N(0, 1), ``nn.MSELoss`` (mean), and weight decay ``wd`` on the weight only.

    PyTorch's ``weight_decay`` decays every parameter it is given, so use two optimisers
    (``SGD([net.weight], lr, weight_decay=wd)`` and ``SGD([net.bias], lr)``) or two
    parameter groups. Minibatches of ``batch_size``, reshuffled every epoch. Returns the
    trained net.
    """
    # BEGIN SOLUTION
    net = nn.Linear(train_features.shape[1], 1)
    nn.init.normal_(net.weight, mean=0, std=1)
    nn.init.normal_(net.bias, mean=0, std=1)
    loss = nn.MSELoss()
    optimizer_w = torch.optim.SGD(params=[net.weight], lr=lr, weight_decay=wd)
    optimizer_b = torch.optim.SGD(params=[net.bias], lr=lr)
    dataset = torch.utils.data.TensorDataset(train_features, train_labels)
    train_iter = torch.utils.data.DataLoader(dataset, batch_size, shuffle=True)
    for _ in range(num_epochs):
        for X, y in train_iter:
            l = loss(net(X), y.view(-1, 1))
            optimizer_w.zero_grad()
            optimizer_b.zero_grad()
            l.backward()
            optimizer_w.step()
            optimizer_b.step()
    return net
    # END SOLUTION
