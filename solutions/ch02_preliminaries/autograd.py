"""D2L 2.3 (自动求梯度): gradients with autograd.

None of these functions may modify its argument (its values, ``requires_grad`` or
``.grad``): work on ``x.detach().clone()`` where a leaf that requires grad is needed.
"""
import torch


def scaled_square_mean(x):
    """``out = mean(3 * (x + 2) ** 2)``, a scalar tensor that keeps the autograd graph.

    For ``x = ones(2, 2)`` the book prints ``z = 27`` everywhere and ``out = 27``.
    """
    # BEGIN SOLUTION
    z = 3 * (x + 2) ** 2
    return z.mean()
    # END SOLUTION


def gradient_of_scaled_square_mean(x):
    """d out / d x for ``out = scaled_square_mean(x)``, computed with ``backward``.

    The book derives 4.5 for every entry of ``x = ones(2, 2)`` (d out/dx_i = 1.5 (x_i + 2)
    for four entries). Calling the function twice gives the same answer: gradients must not
    accumulate between calls, and ``x`` itself is left untouched.
    """
    # BEGIN SOLUTION
    leaf = x.detach().clone().requires_grad_(True)
    scaled_square_mean(leaf).backward()
    return leaf.grad
    # END SOLUTION


def vector_backward(x, v):
    """The gradient w.r.t. ``x`` of ``y = (2 * x).view(2, 2)`` back-propagated with weights ``v``.

    A non-scalar ``y`` needs a weight tensor of its shape: ``y.backward(v)`` computes the
    gradient of ``sum(y * v)``. For ``x = [1, 2, 3, 4]`` and ``v = [[1, 0.1], [0.01, 0.001]]``
    the book prints ``[2.0, 0.2, 0.02, 0.002]``. ``x`` has 4 elements; returns shape (4,).
    """
    # BEGIN SOLUTION
    leaf = x.detach().clone().requires_grad_(True)
    y = (2 * leaf).view(2, 2)
    y.backward(v)
    return leaf.grad
    # END SOLUTION


def partly_no_grad(x):
    """``x ** 2 + x ** 3`` where the cube is computed under ``torch.no_grad()``.

    The value is the full sum, but only the square is recorded by autograd: at ``x = 1`` the
    value is 2 and the gradient is 2, not 5 (D2L 2.3, ``y3 = y1 + y2``).
    """
    # BEGIN SOLUTION
    y1 = x ** 2
    with torch.no_grad():
        y2 = x ** 3
    return y1 + y2
    # END SOLUTION
