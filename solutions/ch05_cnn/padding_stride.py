"""D2L 5.2 (填充和步幅): output shapes of a convolution with padding and stride."""
import torch


def comp_conv2d(conv2d, X):
    """Apply a one-channel ``nn.Conv2d`` to a 2-D ``X`` and return the 2-D result (given code)."""
    X = X.view((1, 1) + X.shape)
    Y = conv2d(X)
    return Y.view(Y.shape[2:])


def conv_output_shape(input_size, kernel_size, padding=0, stride=1):
    """The (height, width) of a convolution's (or pooling's) output, as a tuple of two ints.

    Each argument is an int (used for both dimensions) or a pair (height, width).
    ``padding`` is **per side**, as in ``nn.Conv2d(padding=p)``, so the book's total padding
    is p_h = 2 * padding. The formula: floor((n - k + p_total + s) / s) per dimension.
    The book's four examples on an 8x8 input: kernel 3, padding 1 -> (8, 8); kernel (5, 3),
    padding (2, 1) -> (8, 8); kernel 3, padding 1, stride 2 -> (4, 4); kernel (3, 5),
    padding (0, 1), stride (3, 4) -> (2, 2).
    """
    # BEGIN SOLUTION
    def pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)
    (n_h, n_w), (k_h, k_w) = pair(input_size), pair(kernel_size)
    (p_h, p_w), (s_h, s_w) = pair(padding), pair(stride)
    return ((n_h - k_h + 2 * p_h + s_h) // s_h, (n_w - k_w + 2 * p_w + s_w) // s_w)
    # END SOLUTION
