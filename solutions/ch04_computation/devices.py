"""D2L 4.6 (GPU计算): device-agnostic code.

Write code that runs on a GPU when there is one and on the CPU otherwise: choose a
``torch.device`` once and pass it around; never hard-code ``'cuda'`` or ``.cuda()``. All
inputs of an operation, and a model and its input, must be on the same device (mixing
raises a RuntimeError); results stay on the device they were computed on.
"""
import torch
from torch import nn


def try_gpu(i=0):
    """``torch.device('cuda:i')`` if there are at least ``i + 1`` GPUs, else ``torch.device('cpu')``.

    Always a ``torch.device`` (not a string). On a machine without CUDA every call returns
    ``device(type='cpu')``.
    """
    # BEGIN SOLUTION
    if torch.cuda.device_count() >= i + 1:
        return torch.device(f'cuda:{i}')
    return torch.device('cpu')
    # END SOLUTION


def try_all_gpus():
    """A list with a ``torch.device`` for every GPU (``cuda:0``, ``cuda:1``, ...), or
    ``[torch.device('cpu')]`` when there is none. Never empty."""
    # BEGIN SOLUTION
    devices = [torch.device(f'cuda:{i}') for i in range(torch.cuda.device_count())]
    return devices if devices else [torch.device('cpu')]
    # END SOLUTION


def predict_on(net, X, device):
    """Move ``net`` and ``X`` to ``device`` and return ``net(X)``, computed there.

    ``device`` is a ``torch.device`` or a string such as ``'cpu'`` or ``'cuda:0'``. The
    ``net`` passed in is moved itself (``net.to(device)``, in place); ``X`` is not modified
    (``X.to(device)`` makes a copy when the device differs). The result stays on ``device``
    and keeps its autograd graph, like the book's ``net(x)`` after ``net.cuda()``.
    """
    # BEGIN SOLUTION
    net.to(device)
    return net(X.to(device))
    # END SOLUTION
