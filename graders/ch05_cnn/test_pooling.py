"""Graders for ch05_cnn.pooling (D2L 5.4): max and average pooling from scratch."""
import random

import pytest
import torch
import torch.nn.functional as F

from d2lgrade import assert_close, call_without, from_scratch, hidden, ops, points, reference

MODULE = "ch05_cnn.pooling"
ref = reference(MODULE)
NO_POOL = ["max_pool2d", "avg_pool2d", "MaxPool2d", "AvgPool2d", "max_pool1d", "avg_pool1d",
           "adaptive_max_pool2d", "adaptive_avg_pool2d", "AdaptiveMaxPool2d", "AdaptiveAvgPool2d",
           "max_pool2d_with_indices", "lp_pool2d", "fractional_max_pool2d", "unfold"]

# From-scratch policies: every call is traced in the child; windows by slicing and
# reductions only (no pooling kernel, no unfold/im2col, no convolution).
from_scratch(MODULE, "pool2d", allow=ops.ELEMENTARY, names=NO_POOL)
from_scratch(MODULE, "pool2d_padded", allow=ops.ELEMENTARY, names=NO_POOL)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


X3 = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]])


@points(1)
def test_pool2d_book_max(student):
    """pool2d(X, (2, 2)) on [[0..8]] is [[4, 5], [7, 8]] (float), without pooling functionals."""
    Y = call_without(student.pool2d, X3, (2, 2), forbidden=NO_POOL)
    assert_close(Y, torch.tensor([[4.0, 5.0], [7.0, 8.0]]), what="pool2d(X, (2, 2))", kind="exact")


@points(1)
def test_pool2d_book_avg(student):
    """pool2d(X, (2, 2), 'avg') is [[2, 3], [5, 6]]."""
    Y = call_without(student.pool2d, X3, (2, 2), 'avg', forbidden=NO_POOL)
    assert_close(Y, torch.tensor([[2.0, 3.0], [5.0, 6.0]]), what="pool2d(X, (2, 2), 'avg')", kind="exact")


@hidden
@points(2)
def test_pool2d_random(student):
    """Random inputs, odd and non-square windows, both modes: agree with the reference."""
    for xs, ps in [((5, 7), (2, 3)), ((6, 4), (3, 1)), ((4, 4), (1, 1)), ((3, 5), (3, 5))]:
        X = torch.randn(xs)
        for mode in ('max', 'avg'):
            Y = call_without(student.pool2d, X, ps, mode, forbidden=NO_POOL)
            assert_close(Y, ref.pool2d(X, ps, mode), what=f"pool2d on {xs} with {ps}, mode {mode!r}",
                         hidden=True, kind="reduction")


def _arange_X():
    return torch.arange(16, dtype=torch.float).view((1, 1, 4, 4))


@points(2)
def test_pool2d_padded_book_examples(student):
    """The book's nn.MaxPool2d outputs on arange(16).view(1, 1, 4, 4), one and two channels."""
    X = _arange_X()
    cases = [
        ((3,), {}, [[[[10.0]]]]),
        ((3,), {"padding": 1, "stride": 2}, [[[[5.0, 7.0], [13.0, 15.0]]]]),
        (((2, 4),), {"padding": (1, 2), "stride": (2, 3)}, [[[[1.0, 3.0], [9.0, 11.0], [13.0, 15.0]]]]),
    ]
    for args, kwargs, expected in cases:
        Y = call_without(student.pool2d_padded, X, *args, forbidden=NO_POOL, **kwargs)
        assert_close(Y, torch.tensor(expected), what=f"pool2d_padded(X, {args[0]}, **{kwargs})",
                     kind="exact")
    X2 = torch.cat((X, X + 1), dim=1)
    Y = call_without(student.pool2d_padded, X2, 3, padding=1, stride=2, forbidden=NO_POOL)
    assert_close(Y, torch.tensor([[[[5.0, 7.0], [13.0, 15.0]], [[6.0, 8.0], [14.0, 16.0]]]]),
                 what="pool2d_padded on two channels (the channels stay separate)", kind="exact")


@hidden
@points(2)
def test_pool2d_padded_random(student):
    """Random (negative too) batches with several channels, paddings and strides, both modes, vs torch."""
    for _ in range(6):
        k = (random.randint(1, 4), random.randint(1, 4))
        p = (random.randint(0, k[0] // 2), random.randint(0, k[1] // 2))
        s = (random.randint(1, 3), random.randint(1, 3))
        X = torch.randn(2, 3, random.randint(k[0] + 1, 9), random.randint(k[1] + 1, 9)) - 1.0
        for mode, fn in (('max', F.max_pool2d), ('avg', F.avg_pool2d)):
            Y = call_without(student.pool2d_padded, X, k, padding=p, stride=s, mode=mode, forbidden=NO_POOL)
            assert_close(Y, fn(X, k, stride=s, padding=p),
                         what=f"pool2d_padded with kernel {k}, padding {p}, stride {s}, mode {mode!r}",
                         hidden=True, kind="reduction")


@hidden
@points(1)
def test_pool2d_padded_default_stride(student):
    """Without a stride argument the stride is the window size (non-square window)."""
    X = torch.randn(1, 2, 7, 8)
    Y = call_without(student.pool2d_padded, X, (2, 3), forbidden=NO_POOL)
    assert_close(Y, F.max_pool2d(X, (2, 3)), what="pool2d_padded(X, (2, 3))", hidden=True)
