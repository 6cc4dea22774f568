"""Graders for ch05_cnn.padding_stride (D2L 5.2): output shapes with padding and stride."""
import random

import pytest
import torch
from torch import nn

from d2lgrade import hidden, points, reference

MODULE = "ch05_cnn.padding_stride"
ref = reference(MODULE)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


def _as_tuple(shape):
    assert isinstance(shape, (tuple, list, torch.Size)) and len(shape) == 2, \
        f"expected a (height, width) pair, got {shape!r}"
    return tuple(int(v) for v in shape)


@points(2)
def test_book_output_shapes(student):
    """The book's four 8x8 examples: (8, 8), (8, 8), (4, 4) and (2, 2)."""
    cases = [((3, 1, 1), (8, 8)), (((5, 3), (2, 1), 1), (8, 8)), ((3, 1, 2), (4, 4)),
             (((3, 5), (0, 1), (3, 4)), (2, 2))]
    for (k, p, s), expected in cases:
        got = _as_tuple(student.conv_output_shape(8, k, p, s))
        assert got == expected, (f"conv_output_shape(8, kernel_size={k}, padding={p}, stride={s}) "
                                 f"is {got}, expected {expected}")


@points(1)
def test_defaults_no_padding_stride_one(student):
    """With the defaults (no padding, stride 1) a 6x8 input and a (1, 2) kernel give (6, 7)."""
    got = _as_tuple(student.conv_output_shape((6, 8), (1, 2)))
    assert got == (6, 7), f"conv_output_shape((6, 8), (1, 2)) is {got}, expected (6, 7)"


@hidden
@points(2)
def test_matches_nn_conv2d(student):
    """Random sizes, kernels, paddings and strides agree with the shape nn.Conv2d produces."""
    for _ in range(25):
        n = (random.randint(5, 17), random.randint(5, 17))
        k = (random.randint(1, 5), random.randint(1, 5))
        p = (random.randint(0, k[0] // 2), random.randint(0, k[1] // 2))
        s = (random.randint(1, 4), random.randint(1, 4))
        conv = nn.Conv2d(1, 1, kernel_size=k, padding=p, stride=s)
        with torch.no_grad():
            expected = tuple(conv(torch.zeros(1, 1, *n)).shape[2:])
        got = _as_tuple(student.conv_output_shape(n, k, p, s))
        assert got == expected, f"conv_output_shape({n}, {k}, {p}, {s}) is wrong"
