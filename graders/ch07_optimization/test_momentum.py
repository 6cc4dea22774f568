"""Graders for ch07_optimization.momentum (D2L 7.4)."""
import pytest
import torch

from d2lgrade import (
    assert_close, call_timeout, call_without, from_scratch, hidden, ops, points, reference)

MODULE = "ch07_optimization.momentum"
ref = reference(MODULE)
NO_OPTIM = ["optim", "Optimizer", "_fused_adam", "_fused_sgd", "_foreach"]

# From-scratch policy (issue 14): every call of the update rule, from any test and from the
# student's train_ch7, is traced in the child: elementary tensor ops only (no torch.optim, no
# fused or foreach optimizer kernel such as torch._fused_adam_).
from_scratch(MODULE, "sgd_momentum", allow=ops.ELEMENTARY, names=NO_OPTIM)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


def _step(out, what):
    assert isinstance(out, (tuple, list)) and len(out) == 4, f"{what} returns (x1, x2, s1, s2)"
    return torch.tensor([float(v) for v in out], dtype=torch.float64)


@points(2)
def test_gd_2d_book_traces(student, trace_2d, ch7):
    """eta 0.4: 'epoch 20, x1 -0.943467, x2 -0.000073'; eta 0.6 diverges: 'epoch 20, x1 -0.387814, x2 -1673.365109'."""
    for eta, expected in ((0.4, "epoch 20, x1 -0.943467, x2 -0.000073"),
                          (0.6, "epoch 20, x1 -0.387814, x2 -1673.365109")):
        got = ch7.line(trace_2d(student.gd_2d, eta=eta))
        assert got == expected, f"eta = {eta}: got {got!r}, expected {expected!r}"


@hidden
@points(1)
def test_gd_2d_random(student, ch7):
    """Random points and learning rates: same step as the reference."""
    step = ch7.book_way(student.gd_2d)
    for _ in range(3):
        x1, x2, eta = float(torch.randn(())), float(torch.randn(())), float(torch.rand(()))
        assert_close(_step(step(x1, x2, 0, 0, eta=eta), "gd_2d"),
                     torch.tensor(ref.gd_2d(x1, x2, 0, 0, eta=eta), dtype=torch.float64),
                     what="gd_2d", hidden=True)


@points(2)
def test_momentum_2d_book_traces(student, trace_2d, ch7):
    """gamma 0.5: eta 0.4 ends at 'epoch 20, x1 -0.062843, x2 0.001202', eta 0.6 at 'epoch 20, x1 0.007188, x2 0.002553'."""
    for eta, expected in ((0.4, "epoch 20, x1 -0.062843, x2 0.001202"),
                          (0.6, "epoch 20, x1 0.007188, x2 0.002553")):
        got = ch7.line(trace_2d(student.momentum_2d, eta=eta, gamma=0.5))
        assert got == expected, f"eta = {eta}, gamma = 0.5: got {got!r}, expected {expected!r}"


@hidden
@points(1)
def test_momentum_2d_random(student, ch7):
    """Random points, velocities and hyperparameters: same step and velocities as the reference."""
    step = ch7.book_way(student.momentum_2d)
    for _ in range(3):
        x1, x2, v1, v2 = (float(v) for v in torch.randn(4))
        eta, gamma = float(torch.rand(())), float(torch.rand(()))
        assert_close(_step(step(x1, x2, v1, v2, eta=eta, gamma=gamma), "momentum_2d"),
                     torch.tensor(ref.momentum_2d(x1, x2, v1, v2, eta=eta, gamma=gamma), dtype=torch.float64),
                     what="momentum_2d", hidden=True)


@points(1)
def test_ewma_book_values(student):
    """100 ones with gamma 0.9 end at 1 - 0.9^100 = 0.9999734386011124; an impulse 20 steps back weighs 0.05 * 0.95^20."""
    y = student.ewma(torch.ones(100, dtype=torch.float64), 0.9)
    assert isinstance(y, torch.Tensor) and y.shape == (100,), "ewma returns a tensor of x's shape"
    assert_close(y[-1], torch.tensor(0.9999734386011124, dtype=torch.float64), what="the last average")
    assert_close(y[0], torch.tensor(0.1, dtype=torch.float64), what="the first average (y starts at 0)")
    x = torch.zeros(21, dtype=torch.float64)
    x[0] = 1.0
    assert_close(student.ewma(x, 0.95)[-1], torch.tensor(0.05 * 0.95 ** 20, dtype=torch.float64),
                 what="the weight of a value 20 steps back (gamma 0.95)")


@hidden
@points(1)
def test_ewma_random(student):
    """A random sequence (float32) and gamma: same averages, dtype kept, input unchanged."""
    x, gamma = torch.randn(37), float(torch.rand(()))
    x0 = x.clone()
    assert_close(student.ewma(x, gamma), ref.ewma(x0, gamma), what="ewma", hidden=True, kind="reduction")
    assert_close(x, x0, what="x after the call", hidden=True)


def _check_states(states, n, what):
    assert isinstance(states, (tuple, list)) and len(states) == 2, f"{what} returns (state of w, state of b)"
    for s, shape in zip(states, ((n, 1), (1,))):
        assert isinstance(s, torch.Tensor) and tuple(s.shape) == shape and s.dtype == torch.float32, \
            f"{what}: expected float32 tensors of shapes {(n, 1)} and (1,)"
        assert not s.any(), f"{what}: the states start at zero"


@points(1)
def test_init_momentum_states(student, ch7):
    """init_momentum_states(): float32 zeros of shapes (5, 1) and (1,); init_momentum_states(3): (3, 1) and (1,)."""
    _check_states(ch7.init_states(student.init_momentum_states), 5, "init_momentum_states()")
    _check_states(ch7.init_states(student.init_momentum_states, 3), 3, "init_momentum_states(3)")


@points(2)
def test_sgd_momentum_matches_torch_sgd(student, run_optimizer, ch7):
    """Six steps on random gradients agree with torch.optim.SGD(lr=0.05, momentum=0.9)."""
    values, grads = ch7.random_problem()
    params, _ = run_optimizer(student.sgd_momentum, ref.init_momentum_states(), {"lr": 0.05, "momentum": 0.9},
                              values, grads, "sgd_momentum")
    expected, _ = ch7.torch_optimizer_run(torch.optim.SGD, values, grads, lr=0.05, momentum=0.9)
    for name, p, e in zip(("w", "b"), params, expected):
        assert_close(p, e, what=f"{name} after 6 steps (vs torch.optim.SGD with momentum)", kind="reduction")


@points(1)
def test_sgd_momentum_without_optim(student, ch7):
    """sgd_momentum is written by hand (no torch.optim) and moves the parameters."""
    values, grads = ch7.random_problem(steps=1)
    w, b = (v.clone().requires_grad_(True) for v in values)
    w.grad, b.grad = grads[0]
    states = ref.init_momentum_states()
    call_without(student.sgd_momentum, [w, b], states, {"lr": 0.1, "momentum": 0.5}, forbidden=["optim"])
    assert_close(w, values[0] - 0.1 * grads[0][0], what="w after the first step")


@hidden
@points(2)
def test_sgd_momentum_random_vs_reference(student, run_optimizer, ch7):
    """Random gradients and a learning rate that changes between steps: parameters and velocities match."""
    values, grads = ch7.random_problem(num_features=3, steps=5, low=0.01, high=2.0)
    lrs = (torch.rand(5) * 0.2 + 0.01).tolist()
    gamma = float(torch.rand(()) * 0.9)

    def hp(k):
        return {"lr": lrs[k - 1], "momentum": gamma}
    params, states = run_optimizer(student.sgd_momentum, ref.init_momentum_states(3), hp, values, grads,
                                   "sgd_momentum")
    expected, exp_states = run_optimizer(ref.sgd_momentum, ref.init_momentum_states(3), hp, values, grads,
                                         "reference")
    for i in range(2):
        assert_close(params[i], expected[i], what=f"parameter {i}", hidden=True, kind="reduction")
        assert_close(states[i], exp_states[i], what=f"velocity {i}", hidden=True, kind="reduction")


@hidden
@call_timeout(60)
@points(1)
def test_sgd_momentum_fits_airfoil(student, fit_with, feedback):
    """The book's settings (lr 0.004, momentum 0.9) fit the airfoil fixture in one epoch."""
    loss = fit_with(student.sgd_momentum, ref.init_momentum_states(), {"lr": 0.004, "momentum": 0.9})
    feedback(f"loss after one epoch: {loss:.4f}")
    # The reference over 20 seeds: 0.2240-0.2313 (least-squares floor about 0.224).
    assert loss < 0.245, "the loss after one epoch is too high"
