"""Graders for ch02_preliminaries.autograd (D2L 2.3)."""
import pytest
import torch

from d2lgrade import assert_close, hidden, points, reference

MODULE = "ch02_preliminaries.autograd"
ref = reference(MODULE)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


@pytest.fixture(scope="module")
def vjp(submission):
    """Value and input gradient of a student function, computed where it lives."""
    def run(fn, *args, wrt=(0,), grad_output=None):
        return submission.probe("vjp", fn.value(), list(args), list(wrt), grad_output)
    return run


@points(1)
def test_scaled_square_mean_book_example(student, vjp):
    """At x = ones(2, 2): out = 27 and the gradient is 4.5 everywhere."""
    out, (grad,) = vjp(student.scaled_square_mean, torch.ones(2, 2))
    assert_close(out, torch.tensor(27.0), what="scaled_square_mean(ones(2, 2))")
    assert grad is not None, "the result does not depend on x through autograd"
    assert_close(grad, torch.full((2, 2), 4.5), what="its gradient")


@hidden
@points(2)
def test_scaled_square_mean_random(student, vjp):
    """Value and gradient agree with the reference on a random input."""
    x = torch.randn(3, 5, dtype=torch.float64)
    out, (grad,) = vjp(student.scaled_square_mean, x)
    ref_out, (ref_grad,) = _reference_vjp(ref.scaled_square_mean, x)
    assert_close(out, ref_out, what="scaled_square_mean(x)", hidden=True, kind="reduction")
    assert grad is not None, "the result does not depend on x through autograd"
    assert_close(grad, ref_grad, what="its gradient", hidden=True)


def _reference_vjp(fn, x):
    leaf = x.detach().clone().requires_grad_(True)
    out = fn(leaf)
    out.backward(torch.ones_like(out))
    return out.detach(), (leaf.grad,)


@points(1)
def test_gradient_book_example(student):
    """The gradient at ones(2, 2) is 4.5 everywhere."""
    assert_close(student.gradient_of_scaled_square_mean(torch.ones(2, 2)), torch.full((2, 2), 4.5),
                 what="gradient_of_scaled_square_mean(ones(2, 2))")


@hidden
@points(2)
def test_gradient_no_accumulation_no_mutation(student):
    """Two calls give the same (reference) gradient and leave x untouched."""
    x = torch.randn(4, 3)
    x0 = x.clone()
    expected = ref.gradient_of_scaled_square_mean(x0)
    for call in ("first", "second"):
        assert_close(student.gradient_of_scaled_square_mean(x), expected,
                     what=f"the gradient on the {call} call", hidden=True)
    assert_close(x, x0, what="x after the calls", hidden=True)
    assert not x.requires_grad and x.grad is None, "x itself must not be changed (requires_grad or .grad)"


@points(1)
def test_vector_backward_book_example(student):
    """x = [1, 2, 3, 4] with v = [[1, 0.1], [0.01, 0.001]] gives [2, 0.2, 0.02, 0.002]."""
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    v = torch.tensor([[1.0, 0.1], [0.01, 0.001]])
    assert_close(student.vector_backward(x, v), torch.tensor([2.0, 0.2, 0.02, 0.002]),
                 what="vector_backward(x, v)")


@hidden
@points(1)
def test_vector_backward_random(student):
    """Random x and non-symmetric random weights agree with the reference."""
    x, v = torch.randn(4), torch.randn(2, 2)
    assert_close(student.vector_backward(x, v), ref.vector_backward(x.clone(), v.clone()),
                 what="vector_backward(x, v)", hidden=True)


@points(1)
def test_partly_no_grad_book_example(student, vjp):
    """At x = 1 the value is 2 and the gradient is 2, not 5."""
    out, (grad,) = vjp(student.partly_no_grad, torch.tensor(1.0))
    assert_close(out, torch.tensor(2.0), what="partly_no_grad(1.0)")
    assert grad is not None, "the square must still be recorded by autograd"
    assert_close(grad, torch.tensor(2.0), what="its gradient")


@hidden
@points(1)
def test_partly_no_grad_random(student, vjp):
    """On random inputs value and gradient match the reference."""
    x = torch.randn(6, dtype=torch.float64)
    out, (grad,) = vjp(student.partly_no_grad, x)
    ref_out, (ref_grad,) = _reference_vjp(ref.partly_no_grad, x)
    assert_close(out, ref_out, what="partly_no_grad(x)", hidden=True)
    assert grad is not None, "the square must still be recorded by autograd"
    assert_close(grad, ref_grad, what="its gradient", hidden=True)
