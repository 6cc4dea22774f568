"""Graders for ch10_nlp.textcnn (D2L 10.8): corr1d, corr1d_multi_in, max-over-time pooling, TextCNN."""
import pytest
import torch
import torch.nn.functional as F

from d2lgrade import (
    assert_close, call_without, from_scratch, GradeFailure, hidden, ops, points, reference)

MODULE = "ch10_nlp.textcnn"
ref = reference(MODULE)
NO_CONV = ["conv1d", "conv2d", "conv", "convolution", "_convolution", "unfold", "fold"]

# From-scratch policies (issue 14): every call, also from the student's corr1d_multi_in and
# TextCNN code, is traced in the child: elementary ops only (no convolution kernel, conv_tbc,
# unfold or FFT).
from_scratch(MODULE, "corr1d", allow=ops.ELEMENTARY, names=NO_CONV + ["conv_tbc"])
from_scratch(MODULE, "corr1d_multi_in", allow=ops.ELEMENTARY, names=NO_CONV + ["conv_tbc"])


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


def _vocab_arg(cls, n: int):
    """The vocabulary argument for ``n`` tokens: the stub takes ``vocab_size``; the book's class
    (10.7, 10.8) takes the vocabulary and calls ``len()`` on it, so it gets ``n`` items."""
    params = [p["name"] for p in cls.signature()]
    return n if not params or "size" in params[0] else list(range(n))


@points(1)
def test_corr1d_book_example(student):
    """corr1d([0..6], [1, 2]) is [2, 5, 8, 11, 14, 17] (float), without convolution routines."""
    Y = call_without(student.corr1d, torch.tensor([0, 1, 2, 3, 4, 5, 6]), torch.tensor([1, 2]),
                     forbidden=NO_CONV)
    assert_close(Y, torch.tensor([2.0, 5.0, 8.0, 11.0, 14.0, 17.0]), what="corr1d(X, K)", kind="exact")


@hidden
@points(2)
def test_corr1d_random(student):
    """Random inputs and kernels of several widths (an asymmetric kernel, one as long as the input) agree with the reference."""
    for n, w in [(9, 3), (5, 5), (12, 1), (8, 4)]:
        X, K = torch.randn(n), torch.randn(w)
        Y = call_without(student.corr1d, X, K, forbidden=NO_CONV)
        assert_close(Y, ref.corr1d(X, K), what=f"corr1d on ({n},) with a ({w},) kernel", hidden=True,
                     kind="reduction")


@points(1)
def test_corr1d_multi_in_book_example(student):
    """The book's 3-channel example gives [2, 8, 14, 20, 26, 32]."""
    X = torch.tensor([[0, 1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6, 7], [2, 3, 4, 5, 6, 7, 8]])
    K = torch.tensor([[1, 2], [3, 4], [-1, -3]])
    Y = call_without(student.corr1d_multi_in, X, K, forbidden=NO_CONV)
    assert_close(Y, torch.tensor([2.0, 8.0, 14.0, 20.0, 26.0, 32.0]), what="corr1d_multi_in(X, K)",
                 kind="exact")


@hidden
@points(1)
def test_corr1d_multi_in_random(student):
    """Random multi-channel inputs agree with the reference (sum over channels)."""
    X, K = torch.randn(4, 10), torch.randn(4, 3)
    assert_close(student.corr1d_multi_in(X, K), ref.corr1d_multi_in(X, K), what="corr1d_multi_in",
                 hidden=True, kind="reduction")


@points(1)
def test_global_max_pool_shape_and_values(student):
    """GlobalMaxPool1d maps (2, 3, 5) to (2, 3, 1) holding each channel's maximum over time."""
    X = torch.randn(2, 3, 5)
    out = student.GlobalMaxPool1d()(X)
    assert_close(out, X.max(dim=2, keepdim=True).values, what="GlobalMaxPool1d()(X)", kind="exact")


@hidden
@points(1)
def test_global_max_pool_lengths(student):
    """Max-over-time pooling works for any length (negative values included)."""
    for L in (1, 7, 30):
        X = torch.randn(3, 4, L) - 5
        assert_close(student.GlobalMaxPool1d()(X), X.max(dim=2, keepdim=True).values,
                     what=f"pooling a length-{L} input", hidden=True, kind="exact")


def _textcnn_same(submission, student, X, hidden_):
    net = student.TextCNN(_vocab_arg(student.TextCNN, 30), 6, [2, 4], [4, 5])
    state = submission.probe("state_dict", net)
    ref_net = ref.TextCNN(30, 6, [2, 4], [4, 5])
    if set(state) != set(ref_net.state_dict()):
        raise GradeFailure(f"TextCNN parameters: got {sorted(state)}, expected {sorted(ref_net.state_dict())}")
    for k, v in ref_net.state_dict().items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise GradeFailure(f"TextCNN {k}: shape {tuple(state[k].shape)}, expected {tuple(v.shape)}")
    for k in state:
        if k.startswith("convs.") and k.endswith(".bias"):
            state[k] = state[k] - 0.6  # many channels then peak below 0, where ReLU matters
    submission.probe("load_state_dict", net, state)
    ref_net.load_state_dict(state)
    ref_net.eval()
    submission.probe("set_mode", net, False)
    out = submission.probe("forward_no_grad", net, X)
    with torch.no_grad():
        expected = ref_net(X)
    assert_close(out, expected, what="TextCNN logits (eval mode)", hidden=hidden_, kind="reduction")


@points(1)
def test_textcnn_figure_shapes(student, submission):
    """The book's Fig. 10.7 setting (11 words, 6-d embeddings, widths 2 and 4 with 4 and 5 channels) gives (batch, 2) logits."""
    _textcnn_same(submission, student, torch.randint(0, 30, (3, 11)), False)


@hidden
@points(2)
def test_textcnn_matches_reference(student, submission):
    """With the same parameters, TextCNN agrees with the reference on a fresh batch of another length."""
    _textcnn_same(submission, student, torch.randint(0, 30, (5, 17)), True)
