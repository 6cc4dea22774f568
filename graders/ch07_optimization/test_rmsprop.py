"""Graders for ch07_optimization.rmsprop (D2L 7.6).

torch.optim.RMSprop calls gamma ``alpha`` and adds its eps outside the square root; it runs
here with eps = 1e-8 against the book's 1e-6 inside. With gradient magnitudes in [0.5, 1.5]
the steps differ by a relative 2e-5 at most, so the comparison uses rtol 1e-4.
"""
import pytest
import torch

from d2lgrade import (
    assert_close, call_timeout, call_without, from_scratch, hidden, ops, points, reference)

MODULE = "ch07_optimization.rmsprop"
ref = reference(MODULE)
NO_OPTIM = ["optim", "Optimizer", "_fused_adam", "_fused_sgd", "_foreach"]

# From-scratch policy (issue 14): every call of the update rule, from any test and from the
# student's train_ch7, is traced in the child: elementary tensor ops only (no torch.optim, no
# fused or foreach optimizer kernel such as torch._fused_adam_).
from_scratch(MODULE, "rmsprop", allow=ops.ELEMENTARY, names=NO_OPTIM)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


@points(2)
def test_rmsprop_2d_book_trace(student, trace_2d, ch7):
    """eta 0.4, gamma 0.9: 'epoch 20, x1 -0.010599, x2 0.000000'."""
    got = ch7.line(trace_2d(student.rmsprop_2d, eta=0.4, gamma=0.9))
    assert got == "epoch 20, x1 -0.010599, x2 0.000000", f"got {got!r}"


@hidden
@points(1)
def test_rmsprop_2d_random(student, ch7):
    """Random points, states and hyperparameters: same step as the reference."""
    step = ch7.book_way(student.rmsprop_2d)
    for _ in range(3):
        x1, x2 = (float(v) for v in torch.randn(2))
        s1, s2 = (float(v) for v in torch.rand(2))
        eta, gamma = float(torch.rand(())), float(torch.rand(()) * 0.5 + 0.2)
        out = step(x1, x2, s1, s2, eta=eta, gamma=gamma)
        assert isinstance(out, (tuple, list)) and len(out) == 4, "rmsprop_2d returns (x1, x2, s1, s2)"
        assert_close(torch.tensor([float(v) for v in out], dtype=torch.float64),
                     torch.tensor(ref.rmsprop_2d(x1, x2, s1, s2, eta=eta, gamma=gamma), dtype=torch.float64),
                     what="rmsprop_2d", hidden=True, rtol=1e-9, atol=1e-12)


def _check_states(states, n, what):
    assert isinstance(states, (tuple, list)) and len(states) == 2, f"{what} returns (s_w, s_b)"
    for s, shape in zip(states, ((n, 1), (1,))):
        assert isinstance(s, torch.Tensor) and tuple(s.shape) == shape and s.dtype == torch.float32, \
            f"{what}: expected float32 tensors of shapes {(n, 1)} and (1,)"
        assert not s.any(), f"{what}: the states start at zero"


@points(1)
def test_init_rmsprop_states(student, ch7):
    """init_rmsprop_states(): float32 zeros (5, 1) and (1,); init_rmsprop_states(4): (4, 1) and (1,)."""
    _check_states(ch7.init_states(student.init_rmsprop_states), 5, "init_rmsprop_states()")
    _check_states(ch7.init_states(student.init_rmsprop_states, 4), 4, "init_rmsprop_states(4)")


@points(2)
def test_rmsprop_matches_torch(student, run_optimizer, ch7):
    """Six steps agree with torch.optim.RMSprop(lr=0.01, alpha=0.9) (rtol 1e-4: eps placement)."""
    values, grads = ch7.random_problem()
    params, states = run_optimizer(student.rmsprop, ref.init_rmsprop_states(), {"lr": 0.01, "gamma": 0.9},
                                   values, grads, "rmsprop")
    expected, opt = ch7.torch_optimizer_run(torch.optim.RMSprop, values, grads, lr=0.01, alpha=0.9)
    for name, p, e in zip(("w", "b"), params, expected):
        assert_close(p, e, what=f"{name} after 6 steps (vs torch.optim.RMSprop)", rtol=1e-4, atol=1e-5)
    for name, s, e in zip(("s_w", "s_b"), states, opt.param_groups[0]["params"]):
        assert_close(s, opt.state[e]["square_avg"], what=f"{name} (torch's 'square_avg')", kind="reduction")


@points(1)
def test_rmsprop_without_optim(student, ch7):
    """rmsprop is written by hand (no torch.optim) and takes a step."""
    values, grads = ch7.random_problem(steps=1)
    w, b = (v.clone().requires_grad_(True) for v in values)
    w.grad, b.grad = grads[0]
    call_without(student.rmsprop, [w, b], ref.init_rmsprop_states(), {"lr": 0.01, "gamma": 0.9},
                 forbidden=["optim"])
    g = grads[0][0]
    assert_close(w, values[0] - 0.01 * g / torch.sqrt(0.1 * g ** 2 + 1e-6), what="w after the first step")


@hidden
@points(2)
def test_rmsprop_random_vs_reference(student, run_optimizer, ch7):
    """Random gradients (tiny ones included) and gamma: parameters and moving averages match the reference."""
    for low, high in ((0.01, 2.0), (1e-5, 1e-3)):
        values, grads = ch7.random_problem(num_features=3, steps=5, low=low, high=high)
        hp = {"lr": float(torch.rand(()) * 0.05 + 0.001), "gamma": float(torch.rand(()) * 0.3 + 0.6)}
        params, states = run_optimizer(student.rmsprop, ref.init_rmsprop_states(3), hp, values, grads, "rmsprop")
        expected, exp_states = run_optimizer(ref.rmsprop, ref.init_rmsprop_states(3), hp, values, grads, "reference")
        for i in range(2):
            assert_close(params[i], expected[i], what=f"parameter {i}", hidden=True, kind="reduction")
            assert_close(states[i], exp_states[i], what=f"state {i}", hidden=True, kind="reduction")


@hidden
@call_timeout(60)
@points(1)
def test_rmsprop_fits_airfoil(student, fit_with, feedback):
    """The book's settings (lr 0.01, gamma 0.9) fit the airfoil fixture in one epoch."""
    loss = fit_with(student.rmsprop, ref.init_rmsprop_states(), {"lr": 0.01, "gamma": 0.9})
    feedback(f"loss after one epoch: {loss:.4f}")
    # The reference over 20 seeds: 0.2245-0.2296 (least-squares floor about 0.224).
    assert loss < 0.245, "the loss after one epoch is too high"
