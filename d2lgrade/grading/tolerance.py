"""The one tolerance policy, and the comparison helper every grader uses.

Base tolerances per dtype are those of ``torch.testing.assert_close`` (measured by the
PyTorch team, see pytorch/pytorch#32538). On top of them:

* ``kind="exact"``: integer-valued results (indices, counts, known answers such as
  ``corr2d`` = [[19, 25], [37, 43]]) compare with rtol = atol = 0;
* ``kind="elementwise"`` (default): the dtype's base tolerance;
* ``kind="reduction"``: sums, matmuls and softmax normalisations whose result depends on the
  order of accumulation: base x 10;
* on CUDA, float32 matmuls may use TF32 (10 mantissa bits): rtol/atol at least 1e-3.

A test that needs something else passes ``rtol`` and ``atol`` together (one alone is an
error, as in ``torch.testing``), so every override is visible in the test.

Degenerate references: when every expected value is within the policy's ``atol`` of zero,
``atol`` alone would let an all-zero answer pass, so ``atol`` is divided by 1000 for that
comparison. Explicit ``rtol``/``atol`` are used as given.

Messages respect visibility: a public test shows expected and actual values; a hidden test
shows only how many elements mismatched, never the expected values.
"""
from __future__ import annotations

import math
from typing import Any

import torch

from d2lgrade.errors import GradeFailure

#: {dtype: (rtol, atol)}, torch.testing's defaults.
BASE_TOLERANCES = {
    torch.float16: (1e-3, 1e-5),
    torch.bfloat16: (1.6e-2, 1e-5),
    torch.float32: (1.3e-6, 1e-5),
    torch.float64: (1e-7, 1e-7),
    torch.complex64: (1.3e-6, 1e-5),
    torch.complex128: (1e-7, 1e-7),
}
KIND_FACTORS = {"exact": 0.0, "elementwise": 1.0, "reduction": 10.0}
TF32_FLOOR = 1e-3


def tolerances(dtype: torch.dtype, device: torch.device | str = "cpu",
               kind: str = "elementwise") -> tuple[float, float]:
    """(rtol, atol) for comparing results of this dtype, device and kind of computation."""
    if kind not in KIND_FACTORS:
        raise ValueError(f"unknown tolerance kind {kind!r}; use one of {sorted(KIND_FACTORS)}")
    if kind == "exact" or dtype not in BASE_TOLERANCES:
        return 0.0, 0.0
    rtol, atol = BASE_TOLERANCES[dtype]
    factor = KIND_FACTORS[kind]
    rtol, atol = rtol * factor, atol * factor
    if torch.device(device).type == "cuda" and dtype == torch.float32 and kind == "reduction":
        rtol, atol = max(rtol, TF32_FLOOR), max(atol, TF32_FLOOR)
    return rtol, atol


def _preview(t: torch.Tensor, limit: int = 40) -> str:
    if t.numel() <= limit:
        return repr(t.detach().cpu())
    return f"tensor of shape {tuple(t.shape)}, first values {t.detach().cpu().reshape(-1)[:8].tolist()}"


def assert_close(actual: Any, expected: Any, *, what: str = "result", hidden: bool = False,
                 kind: str = "elementwise", rtol: float | None = None, atol: float | None = None,
                 check_dtype: bool = True, check_device: bool = True) -> None:
    """Compare a student's result with the expected one, with the policy above.

    ``what`` names the value in the message ("softmax(X)", "the updated w").
    Raises ``GradeFailure`` with a message fit for the test's visibility.
    """
    __tracebackhide__ = True
    if (rtol is None) != (atol is None):
        raise ValueError("pass rtol and atol together, or neither")
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        expected = torch.tensor(expected, dtype=torch.float64)
        if isinstance(actual, torch.Tensor) and actual.numel() == 1:
            actual = actual.detach().reshape(()).to(torch.float64)
        elif isinstance(actual, (int, float)) and not isinstance(actual, bool):
            actual = torch.tensor(float(actual), dtype=torch.float64)
        check_dtype = False
    if not isinstance(actual, torch.Tensor):
        raise GradeFailure(f"{what}: expected a torch.Tensor, got {type(actual).__name__}")
    if actual.shape != expected.shape:
        raise GradeFailure(f"{what}: expected shape {tuple(expected.shape)}, "
                           f"got {tuple(actual.shape)}")
    if check_dtype and actual.dtype != expected.dtype:
        raise GradeFailure(f"{what}: expected dtype {expected.dtype}, got {actual.dtype}")
    if check_device and actual.device.type != expected.device.type:
        raise GradeFailure(f"{what}: expected a tensor on {expected.device}, got one on "
                           f"{actual.device}")
    from_policy = rtol is None
    if from_policy:
        rtol, atol = tolerances(expected.dtype, expected.device, kind)
    exp = expected.detach()
    act = actual.detach().to(exp.device)
    if not check_dtype and act.dtype != exp.dtype:
        common = torch.promote_types(act.dtype, exp.dtype)
        act, exp = act.to(common), exp.to(common)
    if (from_policy and exp.is_floating_point() and exp.numel() and atol
            and float(exp.abs().max()) <= atol):
        atol = atol / 1000.0  # a reference of ~0 everywhere: atol alone would pass zeros
    try:
        torch.testing.assert_close(act, exp, rtol=rtol, atol=atol, equal_nan=True,
                                   check_dtype=False, check_device=False)
    except AssertionError as exc:
        stats = [line for line in str(exc).splitlines() if line.startswith("Mismatched elements")]
        if hidden:
            raise GradeFailure(f"{what} does not match the reference. "
                               + (stats[0] if stats else "")) from None
        raise GradeFailure(f"{what} is not close enough to the expected value "
                           f"(rtol={rtol:g}, atol={atol:g}).\n{str(exc).strip()}\n"
                           f"expected: {_preview(exp)}\ngot:      {_preview(act)}") from None


def assert_scalar_close(actual: Any, expected: float, *, what: str = "result",
                        hidden: bool = False, rtol: float = 1e-6, atol: float = 1e-9) -> None:
    """Compare a Python number (or a one-element tensor) with an expected float."""
    __tracebackhide__ = True
    if isinstance(actual, torch.Tensor) and actual.numel() == 1:
        actual = actual.item()
    if isinstance(actual, bool) or not isinstance(actual, (int, float)):
        raise GradeFailure(f"{what}: expected a number, got {type(actual).__name__}")
    if not math.isclose(actual, expected, rel_tol=rtol, abs_tol=atol):
        if hidden:
            raise GradeFailure(f"{what} does not match the reference")
        raise GradeFailure(f"{what}: expected {expected!r}, got {actual!r}")
