"""D2L 5.1 (二维卷积层): two-dimensional cross-correlation and a convolutional layer.

What deep learning calls "convolution" is a cross-correlation: the kernel slides over the
input and each output element is the sum of the element-wise product of the kernel with the
window under it (no kernel flip). Do not use ``torch.nn.functional.conv2d``, ``unfold`` or any
other convolution routine here: the task is the loop itself.
"""
import torch
from torch import nn


def corr2d(X, K):
    """Two-dimensional cross-correlation of a 2-D input ``X`` (n_h, n_w) with a kernel ``K`` (k_h, k_w).

    Returns a float32 tensor of shape (n_h - k_h + 1, n_w - k_w + 1) with
    ``Y[i, j] = (X[i:i + k_h, j:j + k_w] * K).sum()``, also for integer inputs (the book
    allocates ``Y`` with ``torch.zeros``). The book's example: ``X = [[0, 1, 2], [3, 4, 5],
    [6, 7, 8]]`` and ``K = [[0, 1], [2, 3]]`` give ``[[19, 25], [37, 43]]``. Gradients flow to
    ``X`` and ``K`` when they require grad.
    """
    # BEGIN SOLUTION
    h, w = K.shape
    Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i: i + h, j: j + w] * K).sum()
    return Y
    # END SOLUTION


class Conv2D(nn.Module):
    """A 2-D convolutional layer built on ``corr2d``: ``forward(x) = corr2d(x, weight) + bias``.

    Parameters: ``weight`` of shape ``kernel_size`` and ``bias`` of shape (1,), both drawn
    from the standard normal distribution (``torch.randn``) as in the book. The input is a
    single 2-D image (no batch or channel dimension).
    """

    def __init__(self, kernel_size):
        super().__init__()
        # BEGIN SOLUTION
        self.weight = nn.Parameter(torch.randn(kernel_size))
        self.bias = nn.Parameter(torch.randn(1))
        # END SOLUTION

    def forward(self, x):
        # BEGIN SOLUTION
        return corr2d(x, self.weight) + self.bias
        # END SOLUTION


def learn_kernel(X, Y, kernel_size=(1, 2), num_steps=20, lr=0.01):
    """Learn the kernel that maps ``X`` to ``Y`` with a fresh ``Conv2D(kernel_size)``; return the layer.

    Each of ``num_steps`` steps: ``l = ((conv2d(X) - Y) ** 2).sum()``, back-propagate, update
    ``weight`` and ``bias`` with plain gradient descent (``p.data -= lr * p.grad``), then zero
    both gradients. On the book's edge image (``X = ones(6, 8)`` with ``X[:, 2:6] = 0`` and
    ``Y = corr2d(X, [[1, -1]])``) the weight approaches ``[[1, -1]]`` and the bias 0.
    """
    # BEGIN SOLUTION
    conv2d = Conv2D(kernel_size)
    for _ in range(num_steps):
        l = ((conv2d(X) - Y) ** 2).sum()
        l.backward()
        conv2d.weight.data -= lr * conv2d.weight.grad
        conv2d.bias.data -= lr * conv2d.bias.grad
        conv2d.weight.grad.fill_(0)
        conv2d.bias.grad.fill_(0)
    return conv2d
    # END SOLUTION
