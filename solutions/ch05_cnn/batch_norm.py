"""D2L 5.10 (批量归一化): batch normalization from scratch, and LeNet with it.

Conventions (read these: they differ from the book's code in two places, on purpose):

* ``momentum`` keeps the **book's** meaning, the weight of the old moving average:
  ``moving = momentum * moving + (1 - momentum) * batch_statistic``. PyTorch's
  ``nn.BatchNorm2d(momentum=m)`` weights the *new* statistic, so book momentum 0.9 equals
  PyTorch's default ``momentum=0.1`` (book ``m`` == PyTorch ``1 - m``).
* The output is normalized with the biased batch variance (divide by the number of values
  m), like the book and PyTorch. The moving variance is updated with the unbiased batch
  variance (m / (m - 1) times the biased one) and ``moving_var`` starts at **1** (the book
  starts it at 0 and updates it with the biased variance). With both choices the moving
  statistics equal ``nn.BatchNorm2d``'s ``running_mean``/``running_var`` after every step.
* ``BatchNorm`` registers ``moving_mean``/``moving_var`` as buffers, so they are in
  ``state_dict`` and move with ``.to(device)`` (the book keeps plain tensors and copies them
  to ``X.device`` by hand).
"""
import torch
from torch import nn

from .layers import FlattenLayer


def batch_norm(is_training, X, gamma, beta, moving_mean, moving_var, eps, momentum):
    """Batch-normalize ``X``; return ``(Y, new_moving_mean, new_moving_var)``.

    ``X`` is (batch, features) for fully connected layers or (batch, channels, h, w) for
    convolutional ones; statistics are per feature (over dim 0) or per channel (over dims
    0, 2, 3), and ``gamma``, ``beta``, ``moving_mean``, ``moving_var`` have shape
    (1, features) or (1, channels, 1, 1).

    Training (``is_training`` true): ``X_hat = (X - mean) / sqrt(var + eps)`` with the batch
    mean and biased batch variance; the new moving statistics are
    ``momentum * moving + (1 - momentum) * stat``, using the batch mean and the **unbiased**
    batch variance (see the module docstring). Prediction: ``X_hat`` uses ``moving_mean``
    and ``moving_var``, which come back unchanged. ``Y = gamma * X_hat + beta``. The input
    tensors are not modified.
    """
    # BEGIN SOLUTION
    if not is_training:
        X_hat = (X - moving_mean) / torch.sqrt(moving_var + eps)
    else:
        assert len(X.shape) in (2, 4)
        if len(X.shape) == 2:
            mean = X.mean(dim=0, keepdim=True)
            var = ((X - mean) ** 2).mean(dim=0, keepdim=True)
        else:
            mean = X.mean(dim=(0, 2, 3), keepdim=True)
            var = ((X - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        X_hat = (X - mean) / torch.sqrt(var + eps)
        m = X.numel() // X.shape[1]
        unbiased = var * m / max(m - 1, 1)
        moving_mean = momentum * moving_mean + (1.0 - momentum) * mean
        moving_var = momentum * moving_var + (1.0 - momentum) * unbiased
    Y = gamma * X_hat + beta
    return Y, moving_mean, moving_var
    # END SOLUTION


class BatchNorm(nn.Module):
    """A batch-norm layer for ``num_dims`` = 2 (after a Linear) or 4 (after a Conv2d).

    Parameters ``gamma`` (ones) and ``beta`` (zeros) of shape (1, num_features) or
    (1, num_features, 1, 1); buffers ``moving_mean`` (zeros) and ``moving_var`` (ones) of the
    same shape. ``forward`` calls ``batch_norm`` with ``self.training``, ``eps`` and
    ``momentum`` (book convention: 0.9 == PyTorch's 0.1) and stores the returned moving
    statistics, so they change in training mode only.
    """

    def __init__(self, num_features, num_dims, eps=1e-5, momentum=0.9):
        super().__init__()
        # BEGIN SOLUTION
        if num_dims == 2:
            shape = (1, num_features)
        else:
            shape = (1, num_features, 1, 1)
        self.gamma = nn.Parameter(torch.ones(shape))
        self.beta = nn.Parameter(torch.zeros(shape))
        self.register_buffer('moving_mean', torch.zeros(shape))
        self.register_buffer('moving_var', torch.ones(shape))
        self.eps = eps
        self.momentum = momentum
        # END SOLUTION

    def forward(self, X):
        # BEGIN SOLUTION
        Y, moving_mean, moving_var = batch_norm(
            self.training, X, self.gamma, self.beta, self.moving_mean, self.moving_var,
            eps=self.eps, momentum=self.momentum)
        self.moving_mean = moving_mean.detach()
        self.moving_var = moving_var.detach()
        return Y
        # END SOLUTION


def bn_lenet():
    """The book's LeNet with a from-scratch ``BatchNorm`` after every conv/linear layer (given)."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), BatchNorm(6, num_dims=4), nn.Sigmoid(), nn.MaxPool2d(2, 2),
        nn.Conv2d(6, 16, 5), BatchNorm(16, num_dims=4), nn.Sigmoid(), nn.MaxPool2d(2, 2),
        FlattenLayer(),
        nn.Linear(16 * 4 * 4, 120), BatchNorm(120, num_dims=2), nn.Sigmoid(),
        nn.Linear(120, 84), BatchNorm(84, num_dims=2), nn.Sigmoid(),
        nn.Linear(84, 10),
    )
