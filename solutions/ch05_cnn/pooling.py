"""D2L 5.4 (池化层): maximum and average pooling, implemented with loops over windows.

Pooling works on each channel separately: the output has as many channels as the input.
Do not call the pooling functionals or modules (``max_pool2d``, ``avg_pool2d``,
``nn.MaxPool2d``, ...): the task is to implement the operation.
"""
import torch


def pool2d(X, pool_size, mode='max'):
    """Pool a 2-D ``X`` with window ``pool_size`` = (p_h, p_w), stride 1 and no padding.

    ``mode`` is ``'max'`` (window maximum) or ``'avg'`` (window mean). Returns float32 of
    shape (n_h - p_h + 1, n_w - p_w + 1); integer inputs are converted first (``X.float()``).
    Book: ``X = [[0, 1, 2], [3, 4, 5], [6, 7, 8]]`` gives ``[[4, 5], [7, 8]]`` with max and
    ``[[2, 3], [5, 6]]`` with avg pooling over (2, 2).
    """
    # BEGIN SOLUTION
    X = X.float()
    p_h, p_w = pool_size
    Y = torch.zeros(X.shape[0] - p_h + 1, X.shape[1] - p_w + 1)
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            window = X[i: i + p_h, j: j + p_w]
            if mode == 'max':
                Y[i, j] = window.max()
            elif mode == 'avg':
                Y[i, j] = window.mean()
    return Y
    # END SOLUTION


def pool2d_padded(X, pool_size, padding=0, stride=None, mode='max'):
    """Pooling of a batch ``X`` (batch, channels, h, w) with padding and stride, like ``nn.MaxPool2d``.

    ``pool_size``, ``padding`` (per side) and ``stride`` are ints or (height, width) pairs;
    ``stride`` defaults to ``pool_size`` (as in ``nn.MaxPool2d``). Max pooling pads with
    ``-inf`` (padding never wins); average pooling pads with zeros and counts them (PyTorch's
    default ``count_include_pad=True``). The output shape follows 5.2's formula and keeps
    batch and channels; float32 for integer input. The book's ``nn.MaxPool2d`` examples on
    ``arange(16).view(1, 1, 4, 4)``: ``pool_size=3`` gives ``[[[[10]]]]``; ``3, padding=1,
    stride=2`` gives ``[[5, 7], [13, 15]]``; ``(2, 4), padding=(1, 2), stride=(2, 3)`` gives
    ``[[1, 3], [9, 11], [13, 15]]``.
    """
    # BEGIN SOLUTION
    def pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)
    if not X.is_floating_point():
        X = X.float()
    (p_h, p_w), (pad_h, pad_w) = pair(pool_size), pair(padding)
    s_h, s_w = pair(pool_size if stride is None else stride)
    fill = float('-inf') if mode == 'max' else 0.0
    B, C, H, W = X.shape
    Xp = torch.full((B, C, H + 2 * pad_h, W + 2 * pad_w), fill, dtype=X.dtype, device=X.device)
    Xp[:, :, pad_h: pad_h + H, pad_w: pad_w + W] = X
    out_h = (H + 2 * pad_h - p_h) // s_h + 1
    out_w = (W + 2 * pad_w - p_w) // s_w + 1
    Y = torch.zeros((B, C, out_h, out_w), dtype=X.dtype, device=X.device)
    for i in range(out_h):
        for j in range(out_w):
            window = Xp[:, :, i * s_h: i * s_h + p_h, j * s_w: j * s_w + p_w]
            if mode == 'max':
                Y[:, :, i, j] = window.amax(dim=(2, 3))
            elif mode == 'avg':
                Y[:, :, i, j] = window.mean(dim=(2, 3))
    return Y
    # END SOLUTION
