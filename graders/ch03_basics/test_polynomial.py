"""Graders for ch03_basics.polynomial (D2L 3.11).

The data follow the book's recipe, y = 1.2 x - 3.4 x^2 + 5.6 x^3 + 5 + N(0, 0.01^2), except
that x ~ N(0, 1) is clipped to [-2, 2]: with the book's unclipped x, about 1 data set in
100 has an |x| > 3 whose x^6 term makes lr 0.01 diverge (measured with the reference).
"""
import pytest
import torch

from d2lgrade import assert_close, call_timeout, hidden, points, reference

MODULE = "ch03_basics.polynomial"
ref = reference(MODULE)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


def _data(generator=None):
    """(features (200, 1), poly (200, 3), labels (200,)); the first 100 rows train."""
    x = torch.randn(200, 1, generator=generator).clamp(-2, 2)
    poly = torch.cat((x, x ** 2, x ** 3), 1)
    labels = poly @ torch.tensor(ref.TRUE_W) + ref.TRUE_B + 0.01 * torch.randn(200, generator=generator)
    return x, poly, labels


def _least_squares_mse(X, y):
    A = torch.cat([X, torch.ones(len(X), 1)], 1).double()
    sol = torch.linalg.lstsq(A, y.double().view(-1, 1)).solution
    return ((A @ sol - y.double().view(-1, 1)) ** 2).mean().item()


def _reference_losses(*data):
    """The reference's train and test losses on the same data, for the feedback plot."""
    train_ls, test_ls, _, _ = ref.fit_and_plot(*data)
    return {"reference train loss": train_ls, "reference test loss": test_ls}


def _check_result(result, num_epochs, d):
    assert isinstance(result, (tuple, list)) and len(result) == 4, \
        "fit_and_plot should return (train_ls, test_ls, weight, bias)"
    train_ls, test_ls, weight, bias = result
    assert isinstance(train_ls, (list, tuple)) and len(train_ls) == num_epochs, \
        f"train_ls should hold one loss per epoch ({num_epochs}), got {len(train_ls) if hasattr(train_ls, '__len__') else train_ls}"
    assert isinstance(test_ls, (list, tuple)) and len(test_ls) == num_epochs, \
        f"test_ls should hold one loss per epoch ({num_epochs})"
    assert all(isinstance(v, float) for v in list(train_ls) + list(test_ls)), \
        "the losses should be Python floats (use .item())"
    assert isinstance(weight, torch.Tensor) and tuple(weight.shape) == (1, d), \
        f"weight should have shape (1, {d}), got {getattr(weight, 'shape', type(weight).__name__)}"
    assert isinstance(bias, torch.Tensor) and tuple(bias.shape) == (1,), \
        f"bias should have shape (1,), got {getattr(bias, 'shape', type(bias).__name__)}"
    return train_ls, test_ls, weight, bias


@points(1)
def test_poly_features_book_rows(student):
    """The book's first rows [[-1.0613], [-0.8386]] give [[-1.0613, 1.1264, -1.1954], [-0.8386, 0.7032, -0.5897]]."""
    x = torch.tensor([[-1.0613], [-0.8386]])
    out = student.poly_features(x)
    assert_close(out, torch.cat((x, x ** 2, x ** 3), 1), what="poly_features(x)")
    assert_close(out, torch.tensor([[-1.0613, 1.1264, -1.1954], [-0.8386, 0.7032, -0.5897]]),
                 what="poly_features(x) (to the book's 4 decimals)", rtol=0, atol=1e-4)


@hidden
@points(1)
def test_poly_features_random(student):
    """Random columns (float32 and float64) match the reference; the input is not modified."""
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(17, 1, dtype=dtype)
        x0 = x.clone()
        assert_close(student.poly_features(x), ref.poly_features(x0), what=f"poly_features on {dtype}",
                     hidden=True)
        assert_close(x, x0, what="the features after the call", hidden=True)


@call_timeout(60)
@points(2)
def test_fit_cubic_recovers_weights(student, feedback):
    """Cubic features, 100 epochs, lr 0.01: weights near [1.2, -3.4, 5.6], bias near 5, tiny losses."""
    x, poly, labels = _data()
    train_ls, test_ls, weight, bias = _check_result(
        student.fit_and_plot(poly[:100], poly[100:], labels[:100], labels[100:]), 100, 3)
    feedback(f"final train loss {train_ls[-1]:.2e}, test loss {test_ls[-1]:.2e}, "
             f"weight {[round(v, 4) for v in weight.view(-1).tolist()]}, bias {bias.item():.4f}")
    feedback.plot("Cubic fit: loss per epoch", {"your train loss": train_ls, "your test loss": test_ls},
                  reference=lambda: _reference_losses(poly[:100], poly[100:], labels[:100], labels[100:]),
                  xlabel="epoch", ylabel="squared loss", logy=True)
    # The reference over 100 data sets: final train loss <= 0.0021, |w - true_w| <= 0.105.
    assert_close(weight.view(-1), torch.tensor(ref.TRUE_W), what="the learned weight", rtol=0, atol=0.3)
    assert_close(bias, torch.tensor([ref.TRUE_B]), what="the learned bias", rtol=0, atol=0.3)
    assert train_ls[-1] < 0.02 and test_ls[-1] < 0.05, \
        f"final train loss {train_ls[-1]:.4g} and test loss {test_ls[-1]:.4g}; expected about 1e-4"


@hidden
@call_timeout(60)
@points(2)
def test_fit_linear_underfits(student, feedback):
    """The linear feature alone underfits: its train loss is large, at the least-squares minimum."""
    x, poly, labels = _data()
    train_ls, test_ls, weight, bias = _check_result(
        student.fit_and_plot(x[:100], x[100:], labels[:100], labels[100:]), 100, 1)
    best = _least_squares_mse(x[:100], labels[:100])
    feedback(f"final train loss {train_ls[-1]:.3f} (least-squares minimum {best:.3f})")
    # The reference ends within 0.05 % of the least-squares MSE on 100 of 100 data sets; one
    # step per epoch ends 3-5 % above it (40 data sets), so the band is 1 %.
    assert best * 0.999 < train_ls[-1] < best * 1.01, "the final train loss of the linear fit is wrong"
    assert best > 1.0, "grader data error"


@hidden
@call_timeout(60)
@points(2)
def test_fit_two_samples_overfits(student, feedback):
    """Cubic features on 2 training samples: a test loss far above the training loss."""
    x, poly, labels = _data(torch.Generator().manual_seed(0))
    train_ls, test_ls, weight, bias = _check_result(
        student.fit_and_plot(poly[:2], poly[100:], labels[:2], labels[100:]), 100, 3)
    feedback(f"final train loss {train_ls[-1]:.3g}, test loss {test_ls[-1]:.3g}")
    feedback.plot("Two training samples: loss per epoch", {"your train loss": train_ls, "your test loss": test_ls},
                  reference=lambda: _reference_losses(poly[:2], poly[100:], labels[:2], labels[100:]),
                  xlabel="epoch", ylabel="squared loss", logy=True)
    # On this data set the reference's final test loss is 58-98 and at least 1480 times its
    # train loss (100 seeds).
    assert test_ls[-1] > 10 and test_ls[-1] > 100 * train_ls[-1], \
        "the 2-sample fit should have a small training loss and a large test loss"


@hidden
@call_timeout(60)
@points(1)
def test_fit_other_epochs_and_lr(student):
    """num_epochs and lr are honoured: 7 epochs give 7 losses, and the losses decrease."""
    x, poly, labels = _data()
    train_ls, test_ls, weight, bias = _check_result(
        student.fit_and_plot(poly[:100], poly[100:], labels[:100], labels[100:], num_epochs=7, lr=0.005), 7, 3)
    assert train_ls[-1] < train_ls[0], "the training loss should go down"
