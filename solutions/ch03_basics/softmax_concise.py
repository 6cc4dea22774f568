"""D2L 3.7 (softmax回归的简洁实现): softmax regression with ``torch.nn``.

A ``FlattenLayer`` turns image batches into rows, an ``nn.Linear`` layer gives the scores,
and ``nn.CrossEntropyLoss`` fuses the softmax with the log (numerically more stable than the
two separate steps of 3.6). ``torch.optim.SGD`` takes the steps.
"""
from collections import OrderedDict

import torch
from torch import nn
from torch.nn import init


class FlattenLayer(nn.Module):
    """Reshape a batch ``x`` of shape (batch, *) to (batch, product of the other sizes).

    E.g. (256, 1, 28, 28) -> (256, 784). The values keep their order (row-major); the
    layer has no parameters.
    """

    def forward(self, x):
        # BEGIN SOLUTION
        return x.view(x.shape[0], -1)
        # END SOLUTION


def softmax_net(num_inputs=784, num_outputs=10):
    """``nn.Sequential`` of a ``FlattenLayer`` named ``flatten`` and an ``nn.Linear`` named ``linear``.

    Build it from an ``OrderedDict``, so the parameters are ``linear.weight``
    (num_outputs, num_inputs), drawn from N(0, 0.01**2), and ``linear.bias`` (num_outputs,),
    zeros. The net returns raw scores (logits), not probabilities: the softmax is part of
    ``nn.CrossEntropyLoss``.
    """
    # BEGIN SOLUTION
    net = nn.Sequential(OrderedDict([
        ('flatten', FlattenLayer()),
        ('linear', nn.Linear(num_inputs, num_outputs)),
    ]))
    init.normal_(net.linear.weight, mean=0.0, std=0.01)
    init.constant_(net.linear.bias, val=0.0)
    return net
    # END SOLUTION


def train_softmax_concise(train_iter, test_iter=None, num_epochs=5, lr=0.1,
                          num_inputs=784, num_outputs=10):
    """Train a fresh ``softmax_net`` with ``nn.CrossEntropyLoss`` and ``torch.optim.SGD``.

    For each minibatch ``(X, y)`` of ``train_iter`` and each of ``num_epochs`` epochs: loss
    of ``net(X)`` against ``y``, zero the gradients, back-propagate, step. Returns the
    trained net. ``test_iter`` is accepted for symmetry with the book's ``train_ch3`` and
    may be ``None`` (the graders measure the accuracy themselves). The book reaches about
    0.82 test accuracy on Fashion-MNIST after 5 epochs with ``lr = 0.1``.
    """
    # BEGIN SOLUTION
    net = softmax_net(num_inputs, num_outputs)
    loss = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    for _ in range(num_epochs):
        for X, y in train_iter:
            l = loss(net(X), y)
            optimizer.zero_grad()
            l.backward()
            optimizer.step()
    return net
    # END SOLUTION
