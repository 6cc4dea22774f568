"""The tolerance policy and the visibility of failure messages."""
import pytest
import torch

from d2lgrade.errors import GradeFailure
from d2lgrade.grading.tolerance import assert_close, tolerances


def test_policy_table():
    assert tolerances(torch.float32) == (1.3e-6, 1e-5)
    assert tolerances(torch.float64, kind="reduction") == pytest.approx((1e-6, 1e-6))
    assert tolerances(torch.int64) == (0.0, 0.0)
    assert tolerances(torch.float32, kind="exact") == (0.0, 0.0)
    assert tolerances(torch.float32, "cuda", "reduction")[0] >= 1e-3


def test_dtype_and_shape_are_checked_first():
    with pytest.raises(GradeFailure, match="dtype"):
        assert_close(torch.ones(2, dtype=torch.float64), torch.ones(2))
    with pytest.raises(GradeFailure, match="shape"):
        assert_close(torch.ones(2, 1), torch.ones(2))
    with pytest.raises(GradeFailure, match="torch.Tensor"):
        assert_close([1.0, 1.0], torch.ones(2))


def test_hidden_messages_do_not_show_expected_values():
    expected = torch.tensor([123.456, 7.0])
    with pytest.raises(GradeFailure) as public:
        assert_close(torch.zeros(2), expected)
    assert "123.4" in str(public.value)
    with pytest.raises(GradeFailure) as hidden:
        assert_close(torch.zeros(2), expected, hidden=True)
    assert "123" not in str(hidden.value) and "Mismatched elements: 2 / 2" in str(hidden.value)


def test_zeros_cannot_pass_a_tiny_reference():
    expected = torch.full((3,), 5e-6)
    with pytest.raises(GradeFailure):
        assert_close(torch.zeros(3), expected)
    assert_close(expected.clone(), expected)


def test_rtol_and_atol_go_together():
    with pytest.raises(ValueError):
        assert_close(torch.ones(1), torch.ones(1), rtol=1e-3)
