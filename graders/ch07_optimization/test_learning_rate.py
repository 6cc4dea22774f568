"""Graders for ch07_optimization.learning_rate (the course notes on the learning rate)."""
import pytest
import torch

from d2lgrade import assert_close, hidden, points, reference

MODULE = "ch07_optimization.learning_rate"
ref = reference(MODULE)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


def _lists(result, n, what):
    assert isinstance(result, (tuple, list)) and len(result) == 2, f"{what} should return (xs, losses)"
    xs, losses = result
    for name, v in (("xs", xs), ("losses", losses)):
        assert isinstance(v, (list, tuple)) and len(v) == n, \
            f"{what}: {name} should hold {n} numbers (the start included)"
    return (torch.tensor([float(v) for v in xs], dtype=torch.float64),
            torch.tensor([float(v) for v in losses], dtype=torch.float64))


@points(2)
def test_gd_func_lr_1_diverges(student):
    """lr = 1 from x = 2: x is 2, -14, 98, -686 and the loss 16, 784, 38416, 1882384."""
    xs, losses = _lists(student.gd_func(1, 3), 4, "gd_func(1, 3)")
    assert_close(xs, torch.tensor([2.0, -14.0, 98.0, -686.0], dtype=torch.float64), what="xs of gd_func(1, 3)")
    assert_close(losses, torch.tensor([16.0, 784.0, 38416.0, 1882384.0], dtype=torch.float64),
                 what="losses of gd_func(1, 3)")


@points(1)
def test_gd_func_one_step_minimum(student):
    """lr = 0.125 = 1 / f'': one step from x = 2 reaches the minimum x = 0 and stays there."""
    xs, losses = _lists(student.gd_func(0.125, 3), 4, "gd_func(0.125, 3)")
    assert_close(xs, torch.tensor([2.0, 0.0, 0.0, 0.0], dtype=torch.float64), what="xs of gd_func(0.125, 3)")
    assert_close(losses, torch.tensor([16.0, 0.0, 0.0, 0.0], dtype=torch.float64), what="losses of gd_func(0.125, 3)")


@hidden
@points(2)
def test_gd_func_random(student):
    """Random learning rates (converging and diverging), starts and step counts match the reference."""
    for lr in (float(torch.rand(()) * 0.2 + 0.01), float(torch.rand(()) * 0.1 + 0.26)):
        n, x0 = int(torch.randint(4, 12, ())), float(torch.randn(()) * 3)
        xs, losses = _lists(student.gd_func(lr, n, x0), n + 1, "gd_func")
        rx, rl = ref.gd_func(lr, n, x0)
        assert_close(xs, torch.tensor(rx, dtype=torch.float64), what="xs", hidden=True, rtol=1e-5, atol=1e-6)
        assert_close(losses, torch.tensor(rl, dtype=torch.float64), what="losses", hidden=True,
                     rtol=1e-5, atol=1e-6)
