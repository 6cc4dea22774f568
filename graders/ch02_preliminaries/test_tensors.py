"""Graders for ch02_preliminaries.tensors (D2L 2.2)."""
import pytest
import torch

from d2lgrade import assert_close, hidden, points, reference

MODULE = "ch02_preliminaries.tensors"
ref = reference(MODULE)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


@points(1)
def test_broadcast_add_book_example(student):
    """arange(1, 3).view(1, 2) + arange(1, 4).view(3, 1) is [[2, 3], [3, 4], [4, 5]]."""
    x = torch.arange(1, 3).view(1, 2)
    y = torch.arange(1, 4).view(3, 1)
    assert_close(student.broadcast_add(x, y), torch.tensor([[2, 3], [3, 4], [4, 5]]),
                 what="broadcast_add(x, y)", kind="exact")


@hidden
@points(2)
def test_broadcast_add_random_shapes(student):
    """Agrees with the reference on random broadcastable shapes and keeps inputs intact."""
    for shape_x, shape_y in [((4, 1, 3), (5, 1)), ((2, 3), (3,)), ((1,), (2, 2, 2))]:
        x, y = torch.randn(shape_x), torch.randn(shape_y)
        x0, y0 = x.clone(), y.clone()
        assert_close(student.broadcast_add(x, y), ref.broadcast_add(x0, y0),
                     what=f"broadcast_add on shapes {shape_x} and {shape_y}", hidden=True)
        assert_close(x, x0, what="x after the call", hidden=True)
        assert_close(y, y0, what="y after the call", hidden=True)


@points(1)
def test_add_in_place_book_example(student):
    """[3, 4] += [1, 2] gives [4, 6] in y itself, and y is what comes back."""
    x, y = torch.tensor([1, 2]), torch.tensor([3, 4])
    out = student.add_in_place(y, x)
    assert_close(y, torch.tensor([4, 6]), what="y after add_in_place(y, x)", kind="exact")
    assert out is y, "add_in_place must return y itself (same memory), not a new tensor"


@hidden
@points(1)
def test_add_in_place_broadcast_random(student):
    """A broadcast in-place add on random floats updates y and returns it."""
    y, x = torch.randn(3, 4), torch.randn(4)
    expected = ref.add_in_place(y.clone(), x.clone())
    out = student.add_in_place(y, x)
    assert_close(y, expected, what="y after add_in_place", hidden=True)
    assert out is y, "add_in_place must return y itself"


@points(1)
def test_flatten_view_shape_and_sharing(student):
    """A (5, 3) tensor gives a (15,) view; writing to x shows through the view."""
    x = torch.rand(5, 3)
    v = student.flatten_view(x)
    assert isinstance(v, torch.Tensor) and v.shape == (15,), f"expected shape (15,), got {getattr(v, 'shape', v)}"
    x += 1
    assert_close(v, x.reshape(-1), what="the view after x += 1 (it must share x's memory)")


@hidden
@points(1)
def test_flatten_view_random(student):
    """Random shapes: the view has x's values in order and shares memory."""
    x = torch.randn(2, 3, 4)
    v = student.flatten_view(x)
    assert_close(v, ref.flatten_view(x.clone()), what="flatten_view(x)", hidden=True)
    x.mul_(-2)
    assert_close(v, x.reshape(-1), what="the view after changing x", hidden=True)


@points(1)
def test_flat_copy_is_independent(student):
    """The copy has x's values; x -= 1 afterwards leaves the copy as it was."""
    x = torch.arange(15.0).view(5, 3)
    c = student.flat_copy(x)
    assert_close(c, torch.arange(15.0), what="flat_copy(x)")
    x -= 1
    assert_close(c, torch.arange(15.0), what="the copy after x -= 1 (it must not share memory)")


@hidden
@points(1)
def test_flat_copy_random(student):
    """Random input: values equal the reference's and later writes to x do not leak in."""
    x = torch.randn(4, 5)
    c = student.flat_copy(x)
    expected = ref.flat_copy(x.clone())
    x.zero_()
    assert_close(c, expected, what="flat_copy(x) after x.zero_()", hidden=True)
