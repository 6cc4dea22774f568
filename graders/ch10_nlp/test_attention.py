"""Graders for ch10_nlp.attention (D2L 10.11/10.12): masked softmax and additive attention."""
import pytest
import torch

from d2lgrade import assert_close, hidden, points, reference

MODULE = "ch10_nlp.attention"
ref = reference(MODULE)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


@points(1)
def test_masked_softmax_example(student):
    """Rows of valid length 2 and 3 of a (2, 4) input: zeros past the valid length, each row sums to one."""
    X = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.5, 0.5, 0.5, 9.0]])
    out = student.masked_softmax(X, torch.tensor([2, 3]))
    expected = torch.tensor([[torch.e ** -1 / (1 + torch.e ** -1), 1 / (1 + torch.e ** -1), 0.0, 0.0],
                             [1 / 3, 1 / 3, 1 / 3, 0.0]])
    assert_close(out, expected, what="masked_softmax(X, [2, 3])", kind="reduction")


@points(1)
def test_masked_softmax_no_mask(student):
    """Without valid lengths it is the ordinary softmax over the last axis."""
    X = torch.randn(3, 5)
    assert_close(student.masked_softmax(X, None), torch.softmax(X, dim=-1), what="masked_softmax(X, None)",
                 kind="reduction")


@hidden
@points(2)
def test_masked_softmax_random(student):
    """3-D inputs with random valid lengths (and huge values in masked places) agree with the reference."""
    X = torch.randn(4, 3, 6)
    lens = torch.tensor([1, 6, 3, 2])
    X[0, :, 1:] = 1e9
    out = student.masked_softmax(X, lens)
    assert_close(out, ref.masked_softmax(X, lens), what="masked_softmax", hidden=True, kind="reduction")


@points(1)
def test_attention_book_shape(student, submission):
    """attention_forward with T=10, batch=4, h=8 and attention_model(16, 10) returns (4, 8)."""
    model = student.attention_model(16, 10)
    out = student.attention_forward(model, torch.zeros((10, 4, 8)), torch.zeros((4, 8)))
    assert tuple(out.shape) == (4, 8), f"got shape {tuple(out.shape)}, expected (4, 8)"


def _ref_model(submission, model):
    m = ref.attention_model(16, 5)
    m.load_state_dict(submission.probe("state_dict", model))
    return m


@hidden
@points(2)
def test_attention_matches_reference(student, submission):
    """With the same scoring MLP, the context vectors agree with the reference, with and without valid lengths."""
    model = student.attention_model(16, 5)
    m = _ref_model(submission, model)
    enc, dec = torch.randn(6, 3, 8), torch.randn(3, 8)
    for lens in (None, torch.tensor([6, 2, 4])):
        out = student.attention_forward(model, enc, dec, lens)
        with torch.no_grad():
            expected = ref.attention_forward(m, enc, dec, lens)
        assert_close(out, expected, what="the context vectors", hidden=True, kind="reduction")


@hidden
@points(1)
def test_attention_weights_sum_to_one_over_valid(student, submission):
    """Equal encoder states at valid positions give back that state (weights sum to one); padded positions are ignored."""
    model = student.attention_model(16, 5)
    v = torch.randn(3, 8)
    enc = v.unsqueeze(0).repeat(6, 1, 1)
    lens = torch.tensor([2, 5, 6])
    for b, n in enumerate(lens.tolist()):
        enc[n:, b] = 1e3
    out = student.attention_forward(model, enc, torch.randn(3, 8), lens)
    assert_close(out, v, what="the context of equal valid states", hidden=True, rtol=1e-4, atol=1e-4)
