"""Graders for ch07_optimization.gradient_descent (D2L 7.2)."""
import math

import pytest
import torch

from d2lgrade import assert_close, hidden, points, reference

MODULE = "ch07_optimization.gradient_descent"
ref = reference(MODULE)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


def _floats(values, n, what):
    assert isinstance(values, (list, tuple)) and len(values) == n, \
        f"{what}: expected a list of {n} numbers (the start included)"
    return torch.tensor([float(v) for v in values], dtype=torch.float64)


@points(1)
def test_gd_book_values(student):
    """gd(0.2) ends at 0.06046617599999997, gd(0.05) at 3.4867844009999995, gd(1.1) at 61.917364224000096."""
    for eta, last in ((0.2, 0.06046617599999997), (0.05, 3.4867844009999995), (1.1, 61.917364224000096)):
        res = _floats(student.gd(eta), 11, f"gd({eta})")
        assert res[0].item() == 10.0, f"gd({eta}): the list should start with x0 = 10"
        assert_close(res[-1], torch.tensor(last, dtype=torch.float64), what=f"the last x of gd({eta})",
                     rtol=1e-12, atol=1e-12)


@hidden
@points(1)
def test_gd_random(student, ch7):
    """Random learning rates, starts and step counts: the whole trajectory matches (the book's
    gd(eta): random learning rates from x0 = 10, 10 steps)."""
    book = len(ch7.parameters(student.gd)[0]) == 1
    for _ in range(3):
        eta, x0, n = float(torch.rand(()) * 1.2), float(torch.randn(()) * 5), int(torch.randint(1, 15, ()))
        if book:
            x0, n = 10.0, 10
        got = student.gd(eta) if book else student.gd(eta, x0, n)
        assert_close(_floats(got, n + 1, "gd"),
                     torch.tensor(ref.gd(eta, x0, n), dtype=torch.float64),
                     what="the trajectory of gd", hidden=True, rtol=1e-10, atol=1e-12)


def _points(res, n, what):
    assert isinstance(res, (list, tuple)) and len(res) == n, \
        f"{what}: expected a list of {n} points (x1, x2), the start included"
    for p in res:
        assert isinstance(p, (list, tuple)) and len(p) == 2, f"{what}: each point is a pair (x1, x2)"
    return [(float(a), float(b)) for a, b in res]


@points(2)
def test_train_2d_gd_book_line(student, ch7):
    """train_2d(gd_2d) with eta = 0.1: 21 points from (-5, -2), last line 'epoch 20, x1 -0.057646, x2 -0.000073'."""
    res = _points(student.train_2d(student.gd_2d.value()), 21, "train_2d(gd_2d)")
    assert res[0] == (-5.0, -2.0), f"the trajectory should start at (-5, -2), got {res[0]}"
    assert ch7.line(res) == "epoch 20, x1 -0.057646, x2 -0.000073", f"got {ch7.line(res)!r}"


@hidden
@points(2)
def test_train_2d_drives_any_trainer(submission, student, ch7):
    """With a trainer given by the grader: state and keyword hyperparameters passed along, steps
    counted (the book's train_2d(trainer): 20 steps, no hyperparameters to pass)."""
    a1, a2 = float(torch.rand(()) + 0.1), float(-torch.rand(()) - 0.1)
    trainer = submission.probe("linear_trainer_2d", a1, a2)
    steps, eta = int(torch.randint(3, 9, ())), float(torch.rand(()) + 0.5)
    if len(ch7.parameters(student.train_2d)[0]) == 1:
        steps, eta = 20, 1.0
        res = _points(student.train_2d(trainer), steps + 1, "train_2d")
    else:
        res = _points(student.train_2d(trainer, steps, eta=eta), steps + 1, "train_2d")

    def local(x1, x2, s1, s2, eta=1.0):
        return eta * a1 * x1 + 0.1 * s1, eta * a2 * x2 - 0.1 * s2, s1 + 1, s2 + 2
    expected = ref.train_2d(local, steps, eta=eta)
    assert_close(torch.tensor(res, dtype=torch.float64), torch.tensor(expected, dtype=torch.float64),
                 what="the trajectory", hidden=True, rtol=1e-12, atol=1e-12)


@points(1)
def test_gd_2d_one_step(student, ch7):
    """gd_2d(1, 1, 0, 0, eta=0.1) is (0.8, 0.6, 0, 0): the gradient of x1^2 + 2 x2^2 is (2 x1, 4 x2)."""
    out = ch7.book_way(student.gd_2d)(1.0, 1.0, 0, 0, eta=0.1)
    assert isinstance(out, (tuple, list)) and len(out) == 4, "gd_2d returns (x1, x2, s1, s2)"
    assert_close(torch.tensor([float(v) for v in out], dtype=torch.float64),
                 torch.tensor([0.8, 0.6, 0.0, 0.0], dtype=torch.float64), what="gd_2d(1, 1, 0, 0, eta=0.1)")


@hidden
@points(1)
def test_gd_2d_random(student, ch7):
    """Random points and learning rates: same step as the reference."""
    step = ch7.book_way(student.gd_2d)
    for _ in range(3):
        x1, x2, eta = float(torch.randn(())), float(torch.randn(())), float(torch.rand(()))
        out = step(x1, x2, 0, 0, eta=eta)
        assert isinstance(out, (tuple, list)) and len(out) == 4, "gd_2d returns (x1, x2, s1, s2)"
        assert_close(torch.tensor([float(v) for v in out], dtype=torch.float64),
                     torch.tensor(ref.gd_2d(x1, x2, 0, 0, eta=eta), dtype=torch.float64),
                     what="gd_2d", hidden=True)


def _seed_child(submission, seed):
    submission.module("torch").manual_seed(seed)


@points(1)
def test_sgd_2d_noisy_and_seeded(submission, student, ch7):
    """sgd_2d returns 4 numbers; torch.manual_seed makes it repeatable, and the noise changes between calls."""
    outs = []
    step = ch7.book_way(student.sgd_2d)
    for seed in (5, 5, 6):
        _seed_child(submission, seed)
        out = step(1.0, -1.0, 0, 0, eta=0.1)
        assert isinstance(out, (tuple, list)) and len(out) == 4, "sgd_2d returns (x1, x2, s1, s2)"
        outs.append(tuple(float(v) for v in out[:2]))
    assert outs[0] == outs[1], "the same torch seed should give the same step (draw the noise with torch)"
    assert outs[0] != outs[2], "different seeds gave the same step: the gradient has no noise"


@hidden
@points(2)
def test_sgd_2d_noise_statistics(submission, student, ch7):
    """Many single steps from one point: mean, spread and independence of the noisy step."""
    _seed_child(submission, int(torch.randint(0, 2**31 - 1, ())))
    x1, x2, eta, n = 1.0, -1.0, 0.1, 4000
    if ch7.book_way(student.sgd_2d).missing("eta"):  # the book's sgd_2d reads eta from its module
        outs = submission.probe("repeat", student.sgd_2d.value(), n, [x1, x2, 0, 0], {}, {"eta": eta})
    else:
        outs = submission.probe("repeat", student.sgd_2d.value(), n, [x1, x2, 0, 0], {"eta": eta})
    xs = torch.tensor([[float(o[0]), float(o[1])] for o in outs], dtype=torch.float64)
    mean, std = xs.mean(0), xs.std(0)
    expected = torch.tensor([x1 - eta * 2 * x1, x2 - eta * 4 * x2], dtype=torch.float64)
    se = eta / math.sqrt(n)  # the noise has standard deviation 1, the step eta
    # A noise mean of 0.1 (the book's np.random.normal(0.1)) shifts each mean by 0.01 = 6.3 se.
    assert ((mean - expected).abs() < 4 * se).all(), "the noisy steps are biased: the noise must have mean 0"
    assert ((std - eta).abs() < 0.1 * eta).all(), "the spread of the steps is not eta times unit noise"
    corr = torch.corrcoef(xs.T)[0, 1].abs().item()
    assert corr < 0.1, "the noise of x1 and x2 must be independent"
