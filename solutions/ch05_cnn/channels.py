"""D2L 5.3 (多输入通道和多输出通道): cross-correlation with several input and output channels.

Built on ``corr2d`` of 5.1 (imported from ``conv_layer``), as in the book. No
``conv2d``/``unfold``/other convolution routines.
"""
import torch

from .conv_layer import corr2d


def corr2d_multi_in(X, K):
    """Cross-correlate each input channel with its kernel and **sum** over the channels.

    ``X`` (c_i, n_h, n_w), ``K`` (c_i, k_h, k_w) -> (n_h - k_h + 1, n_w - k_w + 1), float32.
    The book's example (two channels) gives ``[[56, 72], [104, 120]]``.
    """
    # BEGIN SOLUTION
    res = corr2d(X[0, :, :], K[0, :, :])
    for i in range(1, X.shape[0]):
        res = res + corr2d(X[i, :, :], K[i, :, :])
    return res
    # END SOLUTION


def corr2d_multi_in_out(X, K):
    """One ``corr2d_multi_in`` per output channel, stacked along a new first dimension.

    ``X`` (c_i, n_h, n_w), ``K`` (c_o, c_i, k_h, k_w) -> (c_o, n_h - k_h + 1, n_w - k_w + 1).
    With the book's ``K = stack([K, K + 1, K + 2])`` the three channels start 56, 76 and 96.
    """
    # BEGIN SOLUTION
    return torch.stack([corr2d_multi_in(X, k) for k in K])
    # END SOLUTION


def corr2d_multi_in_out_1x1(X, K):
    """A 1x1 convolution as a matrix product: ``X`` (c_i, h, w), ``K`` (c_o, c_i, 1, 1) -> (c_o, h, w).

    Reshape ``X`` to (c_i, h * w) and ``K`` to (c_o, c_i) and multiply; the result equals
    ``corr2d_multi_in_out(X, K)``. No convolution routines and no per-pixel Python loop.
    """
    # BEGIN SOLUTION
    c_i, h, w = X.shape
    c_o = K.shape[0]
    X = X.reshape(c_i, h * w)
    K = K.reshape(c_o, c_i)
    Y = torch.mm(K, X)
    return Y.reshape(c_o, h, w)
    # END SOLUTION
