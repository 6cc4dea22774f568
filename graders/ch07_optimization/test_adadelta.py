"""Graders for ch07_optimization.adadelta (D2L 7.7).

torch.optim.Adadelta(lr=1.0, rho=rho, eps=1e-5) puts eps inside both square roots like the
book, so the comparison uses float32 tolerances (its default eps, 1e-6, would not agree).
"""
import pytest
import torch

from d2lgrade import (
    assert_close, call_timeout, call_without, from_scratch, hidden, ops, points, reference)

MODULE = "ch07_optimization.adadelta"
ref = reference(MODULE)
NO_OPTIM = ["optim", "Optimizer", "_fused_adam", "_fused_sgd", "_foreach"]

# From-scratch policy (issue 14): every call of the update rule, from any test and from the
# student's train_ch7, is traced in the child: elementary tensor ops only (no torch.optim, no
# fused or foreach optimizer kernel such as torch._fused_adam_).
from_scratch(MODULE, "adadelta", allow=ops.ELEMENTARY, names=NO_OPTIM)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


def _check_states(states, n, what):
    assert isinstance(states, (tuple, list)) and len(states) == 2, \
        f"{what} returns ((s_w, delta_w), (s_b, delta_b))"
    seen = []
    for pair, shape in zip(states, ((n, 1), (1,))):
        assert isinstance(pair, (tuple, list)) and len(pair) == 2, \
            f"{what}: each parameter's state is a pair (s, delta)"
        for s in pair:
            assert isinstance(s, torch.Tensor) and tuple(s.shape) == shape and s.dtype == torch.float32, \
                f"{what}: expected float32 tensors of shapes {(n, 1)} and (1,)"
            assert not s.any(), f"{what}: the states start at zero"
            seen.append(s)
    return seen


@points(1)
def test_init_adadelta_states(student, ch7):
    """init_adadelta_states(): ((s_w, delta_w), (s_b, delta_b)), float32 zeros (5, 1) and (1,); with 3 features (3, 1)."""
    _check_states(ch7.init_states(student.init_adadelta_states), 5, "init_adadelta_states()")
    _check_states(ch7.init_states(student.init_adadelta_states, 3), 3, "init_adadelta_states(3)")


@hidden
@points(1)
def test_init_adadelta_states_distinct(submission, student):
    """The four state tensors are separate (no two share memory)."""
    ptrs = submission.probe("storage_ptrs", student.init_adadelta_states.value())
    assert len(ptrs) == 4, "expected four state tensors"
    assert len(set(ptrs)) == 4, "two of the state tensors share memory: each needs its own zeros"


@points(2)
def test_adadelta_matches_torch(student, run_optimizer, ch7):
    """Six steps agree with torch.optim.Adadelta(lr=1.0, rho=0.9, eps=1e-5), states included."""
    values, grads = ch7.random_problem()
    params, states = run_optimizer(student.adadelta, ref.init_adadelta_states(), {"rho": 0.9}, values, grads,
                                   "adadelta")
    expected, opt = ch7.torch_optimizer_run(torch.optim.Adadelta, values, grads, lr=1.0, rho=0.9, eps=1e-5)
    for name, p, e in zip(("w", "b"), params, expected):
        assert_close(p, e, what=f"{name} after 6 steps (vs torch.optim.Adadelta)", kind="reduction")
    for name, (s, d), e in zip(("w", "b"), states, opt.param_groups[0]["params"]):
        assert_close(s, opt.state[e]["square_avg"], what=f"s of {name} (torch's 'square_avg')", kind="reduction")
        assert_close(d, opt.state[e]["acc_delta"], what=f"delta of {name} (torch's 'acc_delta')", kind="reduction")


@points(1)
def test_adadelta_without_optim(student, ch7):
    """adadelta is written by hand (no torch.optim) and takes a step."""
    values, grads = ch7.random_problem(steps=1)
    w, b = (v.clone().requires_grad_(True) for v in values)
    w.grad, b.grad = grads[0]
    call_without(student.adadelta, [w, b], ref.init_adadelta_states(), {"rho": 0.9}, forbidden=["optim"])
    g = grads[0][0]
    assert_close(w, values[0] - g * torch.sqrt(1e-5 / (0.1 * g ** 2 + 1e-5)), what="w after the first step")


@hidden
@points(2)
def test_adadelta_random_vs_reference(student, run_optimizer, ch7):
    """Random gradients and rho: parameters, s and delta match the reference."""
    for low, high in ((0.01, 2.0), (1e-4, 1e-2)):
        values, grads = ch7.random_problem(num_features=3, steps=5, low=low, high=high)
        hp = {"rho": float(torch.rand(()) * 0.3 + 0.6)}
        params, states = run_optimizer(student.adadelta, ref.init_adadelta_states(3), hp, values, grads,
                                       "adadelta")
        expected, exp_states = run_optimizer(ref.adadelta, ref.init_adadelta_states(3), hp, values, grads,
                                             "reference")
        for i in range(2):
            assert_close(params[i], expected[i], what=f"parameter {i}", hidden=True, kind="reduction")
            for j in range(2):
                assert_close(states[i][j], exp_states[i][j], what=f"state {i}.{j}", hidden=True, kind="reduction")


@hidden
@call_timeout(60)
@points(1)
def test_adadelta_fits_airfoil(student, fit_with, feedback):
    """The book's settings (rho 0.9) fit the airfoil fixture in one epoch."""
    loss = fit_with(student.adadelta, ref.init_adadelta_states(), {"rho": 0.9})
    feedback(f"loss after one epoch: {loss:.4f}")
    # The reference over 20 seeds: 0.2248-0.2290 (least-squares floor about 0.224).
    assert loss < 0.245, "the loss after one epoch is too high"
