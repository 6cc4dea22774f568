"""Graders for ch03_basics.initialization (D2L 3.15)."""
import math

import pytest
import torch

from d2lgrade import assert_close, assert_scalar_close, call_without, from_scratch, hidden, ops, points, reference

MODULE = "ch03_basics.initialization"
ref = reference(MODULE)

FORBIDDEN = ["xavier_uniform_", "xavier_uniform", "xavier_normal_", "xavier_normal"]

# From-scratch policy: a uniform draw with the student's own bound (elementary ops; nn.init's
# xavier_uniform_ is elementary ops as well, so its names are what give it away).
from_scratch(MODULE, "xavier_init_", allow=ops.ELEMENTARY,
             names=FORBIDDEN + ["kaiming_uniform_", "kaiming_uniform", "_calculate_fan_in_and_fan_out"])


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


@points(1)
def test_xavier_bound_book_layer(student):
    """The bound for the book's 784 -> 256 layer is sqrt(6 / 1040) = 0.0760."""
    bound = student.xavier_uniform_bound(784, 256)
    assert_scalar_close(bound, math.sqrt(6 / 1040), what="xavier_uniform_bound(784, 256)")
    assert round(bound, 4) == 0.0760, f"expected 0.0760 to 4 decimals, got {bound}"


@hidden
@points(1)
def test_xavier_bound_other_sizes(student):
    """Other layer sizes match the reference (including unequal fan-in and fan-out)."""
    for fan_in, fan_out in ((3, 5), (1000, 10), (1, 1), (256, 784)):
        assert_scalar_close(student.xavier_uniform_bound(fan_in, fan_out),
                            ref.xavier_uniform_bound(fan_in, fan_out),
                            what=f"xavier_uniform_bound({fan_in}, {fan_out})", hidden=True)


@points(1)
def test_xavier_init_in_place(student):
    """xavier_init_ fills a (256, 784) weight in place within +- 0.0760, covering the whole range."""
    W = torch.zeros(256, 784)
    out = call_without(student.xavier_init_, W, forbidden=FORBIDDEN)
    bound = math.sqrt(6 / 1040)
    assert bool((W != 0).any()), "W was not filled in place"
    assert_close(out, W, what="the returned tensor (should be W itself)")
    assert W.abs().max().item() <= bound, f"entries beyond the bound {bound:.4f}: max {W.abs().max().item():.4f}"
    assert W.min().item() < -0.99 * bound and W.max().item() > 0.99 * bound, \
        "the entries should spread over the whole interval (-bound, bound)"


@hidden
@points(2)
def test_xavier_init_distribution(student):
    """Uniform: mean about 0 and variance 2 / (fan_in + fan_out), on a leaf that requires grad."""
    W = torch.empty(300, 500).requires_grad_(True)
    call_without(student.xavier_init_, W, forbidden=FORBIDDEN)
    W = W.detach()
    var = 2 / 800
    assert abs(W.mean().item()) < 0.002, "the mean of the entries is not 0"
    assert abs(W.var().item() / var - 1) < 0.03, "the variance is not 2 / (fan_in + fan_out)"
    bound = math.sqrt(6 / 800)
    # A uniform variable has a fifth of its mass in each fifth of the interval.
    hist = torch.histc(W, bins=5, min=-bound, max=bound) / W.numel()
    assert bool(((hist - 0.2).abs() < 0.01).all()), "the entries are not uniformly spread over (-bound, bound)"
    W64 = torch.zeros(40, 60, dtype=torch.float64)
    out = student.xavier_init_(W64)
    assert out.dtype == torch.float64 and bool((W64 != 0).any()), "a float64 weight should be filled in place"
