"""Graders for ch05_cnn.channels (D2L 5.3): several input and output channels, 1x1 convolution."""
import pytest
import torch
import torch.nn.functional as F

from d2lgrade import assert_close, from_scratch, hidden, ops, points, reference

MODULE = "ch05_cnn.channels"
ref = reference(MODULE)
NO_CONV = ["conv2d", "conv1d", "conv3d", "conv", "convolution", "_convolution", "unfold", "fold",
           "Conv2d", "conv_transpose2d", "im2col", "correlate", "correlate2d", "convolve"]


def _multi_in_stand_in(X, K):
    """The grader's corr2d_multi_in, standing in for a wrong one inside the student's
    corr2d_multi_in_out (issue 19): strided windows, elementary ops only (see conv_layer's)."""
    X, K = X.float(), K.float()
    c, h, w = K.shape
    rows, cols = X.shape[1] - h + 1, X.shape[2] - w + 1
    sc, s0, s1 = X.stride()
    windows = X.as_strided((c, rows, cols, h, w), (sc, s0, s1, s0, s1), X.storage_offset())
    return (windows * K[:, None, None]).sum(dim=(0, 3, 4))


from_scratch(MODULE, "corr2d_multi_in", allow=ops.ELEMENTARY, names=NO_CONV, substitute=_multi_in_stand_in)
from_scratch(MODULE, "corr2d_multi_in_out", allow=ops.ELEMENTARY, names=NO_CONV)
from_scratch(MODULE, "corr2d_multi_in_out_1x1", allow=ops.ELEMENTARY, names=NO_CONV)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


def _book_X_K():
    X = torch.tensor([[[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[1, 2, 3], [4, 5, 6], [7, 8, 9]]])
    K = torch.tensor([[[0, 1], [2, 3]], [[1, 2], [3, 4]]])
    return X, K


@points(1)
def test_multi_in_book_example(student):
    """Two input channels sum to [[56, 72], [104, 120]], without conv routines."""
    X, K = _book_X_K()
    Y = student.corr2d_multi_in(X, K)
    assert_close(Y, torch.tensor([[56.0, 72.0], [104.0, 120.0]]), what="corr2d_multi_in(X, K)",
                 kind="exact")


@points(1)
def test_multi_in_out_book_example(student):
    """K = stack([K, K + 1, K + 2]) gives three output channels starting 56, 76 and 96."""
    X, K = _book_X_K()
    K = torch.stack([K, K + 1, K + 2])
    Y = student.corr2d_multi_in_out(X, K)
    expected = torch.tensor([[[56.0, 72.0], [104.0, 120.0]], [[76.0, 100.0], [148.0, 172.0]],
                             [[96.0, 128.0], [192.0, 224.0]]])
    assert_close(Y, expected, what="corr2d_multi_in_out(X, K)", kind="exact")


@points(1)
def test_1x1_equals_multi_in_out(student):
    """X = rand(3, 3, 3), K = rand(2, 3, 1, 1): the matrix-product version equals corr2d_multi_in_out."""
    X, K = torch.rand(3, 3, 3), torch.rand(2, 3, 1, 1)
    Y1 = student.corr2d_multi_in_out_1x1(X, K)
    assert_close(Y1, ref.corr2d_multi_in_out(X, K), what="corr2d_multi_in_out_1x1(X, K)",
                 rtol=0.0, atol=1e-6)


@hidden
@points(2)
def test_multi_in_random(student):
    """Random channels, odd sizes and non-square kernels agree with the reference (float64 too)."""
    for c, xs, ks, dtype in [(3, (7, 5), (2, 3), torch.float32), (1, (4, 4), (3, 3), torch.float32),
                             (5, (6, 9), (1, 4), torch.float32)]:
        X, K = torch.randn(c, *xs, dtype=dtype), torch.randn(c, *ks, dtype=dtype)
        Y = student.corr2d_multi_in(X, K)
        assert_close(Y, ref.corr2d_multi_in(X, K), what=f"corr2d_multi_in with {c} channels {xs}, kernel {ks}",
                     hidden=True, kind="reduction")


@hidden
@points(2)
def test_multi_in_out_random(student):
    """Random (c_o, c_i) combinations agree with F.conv2d computed here."""
    for co, ci, xs, ks in [(4, 2, (6, 7), (3, 3)), (1, 3, (5, 5), (2, 4)), (3, 1, (4, 8), (4, 1))]:
        X, K = torch.randn(ci, *xs), torch.randn(co, ci, *ks)
        Y = student.corr2d_multi_in_out(X, K)
        assert_close(Y, F.conv2d(X[None], K)[0], what=f"corr2d_multi_in_out with c_o={co}, c_i={ci}",
                     hidden=True, kind="reduction")


@hidden
@points(1)
def test_1x1_random(student):
    """Other channel counts and non-square maps agree with a 1x1 F.conv2d computed here."""
    for co, ci, h, w in [(3, 5, 4, 6), (1, 2, 7, 3), (4, 1, 5, 5)]:
        X, K = torch.randn(ci, h, w), torch.randn(co, ci, 1, 1)
        Y = student.corr2d_multi_in_out_1x1(X, K)
        assert_close(Y, F.conv2d(X[None], K)[0], what=f"corr2d_multi_in_out_1x1 with c_o={co}, c_i={ci}",
                     hidden=True, kind="reduction")
