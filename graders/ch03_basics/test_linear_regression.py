"""Graders for ch03_basics.linear_regression (D2L 3.2)."""
import pytest
import torch

from d2lgrade import (assert_close, call_timeout, call_without, from_scratch, hidden, ops, points,
                      reference)

MODULE = "ch03_basics.linear_regression"
ref = reference(MODULE)

# From-scratch policy: every call of sgd (from the tests and from the student's trainers,
# e.g. train_softmax_scratch, which must step through it) is traced in the child: elementary
# in-place arithmetic only, no torch.optim step (its CPU step is elementary ops too, so the
# name is what gives it away; its fused and foreach kernels are not elementary).
from_scratch(MODULE, "sgd", allow=ops.ELEMENTARY, names=["optim", "SGD", "Optimizer"])

TRUE_W = [2.0, -3.4]
TRUE_B = 4.2


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


@pytest.fixture(scope="module")
def vjp(submission):
    def run(fn, *args, wrt=(0,), grad_output=None):
        return submission.probe("vjp", fn.value(), list(args), list(wrt), grad_output)
    return run


def _check_synthetic(features, labels, w, b, n, what):
    """Shapes, dtypes and the statistics of a synthetic data set (plain asserts)."""
    d = len(w)
    assert isinstance(features, torch.Tensor) and isinstance(labels, torch.Tensor), \
        f"{what}: expected two tensors (features, labels)"
    assert features.shape == (n, d), f"{what}: features should have shape {(n, d)}, got {tuple(features.shape)}"
    assert labels.shape == (n,), f"{what}: labels should have shape {(n,)}, got {tuple(labels.shape)}"
    assert features.dtype == torch.float32 and labels.dtype == torch.float32, \
        f"{what}: expected float32 features and labels, got {features.dtype} and {labels.dtype}"
    mean, std = features.mean().item(), features.std().item()
    assert abs(mean) < 0.15 and 0.9 < std < 1.1, \
        f"{what}: features should be drawn from N(0, 1); their mean is {mean:.3f} and std {std:.3f}"
    noise = labels - (features @ torch.tensor(w, dtype=torch.float32) + b)
    noise_std = noise.std().item()
    assert abs(noise.mean().item()) < 0.005 and 0.007 < noise_std < 0.013, \
        (f"{what}: labels - (features @ w + b) should be N(0, 0.01^2) noise; its mean is "
         f"{noise.mean().item():.4f} and std {noise_std:.4f}")


@points(1)
def test_synthetic_data_book_setup(student):
    """The book's data set: 1000 x 2 features from N(0, 1), labels = X w + b + N(0, 0.01^2)."""
    features, labels = student.synthetic_data(torch.tensor(TRUE_W), TRUE_B, 1000)
    _check_synthetic(features, labels, TRUE_W, TRUE_B, 1000, "synthetic_data([2, -3.4], 4.2, 1000)")


@hidden
@points(1)
def test_synthetic_data_random_problem(student):
    """Another weight vector, bias and size: right statistics, and fresh data on each call."""
    w = (torch.randn(5) * 3).tolist()
    b = float(torch.randn(()) * 2)
    f1, l1 = student.synthetic_data(torch.tensor(w), b, 2000)
    _check_synthetic(f1, l1, w, b, 2000, "synthetic_data")
    f2, _ = student.synthetic_data(torch.tensor(w), b, 2000)
    assert not torch.equal(f1, f2), "two calls returned the same features: draw fresh random data"


def _batches(student, batch_size, features, labels):
    batches = list(student.data_iter(batch_size, features, labels))
    for i, batch in enumerate(batches):
        assert isinstance(batch, (tuple, list)) and len(batch) == 2, \
            f"data_iter should yield (X, y) pairs; item {i} is {type(batch).__name__}"
    return batches


@points(1)
def test_data_iter_book_shapes(student):
    """1000 examples in batches of 10: 100 batches with X of shape (10, 2) and y of shape (10,)."""
    features, labels = torch.randn(1000, 2), torch.randn(1000)
    batches = _batches(student, 10, features, labels)
    assert len(batches) == 100, f"expected 100 batches, got {len(batches)}"
    for X, y in batches:
        assert X.shape == (10, 2) and y.shape == (10,), \
            f"expected X of shape (10, 2) and y of shape (10,), got {tuple(X.shape)} and {tuple(y.shape)}"


@hidden
@points(2)
def test_data_iter_each_example_once_shuffled(student):
    """Every example exactly once per pass, pairs kept, last batch short, order shuffled."""
    n, batch_size = 23, 5
    features = torch.arange(2 * n, dtype=torch.float32).view(n, 2)  # row i = [2i, 2i + 1]
    labels = torch.arange(n, dtype=torch.float32) * 10               # label i = 10 i
    orders = []
    for _ in range(2):
        batches = _batches(student, batch_size, features, labels)
        sizes = [len(X) for X, _ in batches]
        assert sizes == [5, 5, 5, 5, 3], f"batch sizes {sizes} (the last short batch must be kept)"
        X = torch.cat([X for X, _ in batches])
        y = torch.cat([y for _, y in batches])
        assert torch.equal(X[:, 0] / 2 * 10, y), "an X row and its label were separated"
        order = (y / 10).long().tolist()
        assert sorted(order) == list(range(n)), "each example must appear exactly once per pass"
        orders.append(order)
    assert orders[0] != list(range(n)), "the examples come in their original order: shuffle them"
    assert orders[0] != orders[1], "two passes gave the same order: shuffle on every call"


@points(1)
def test_linreg_known_values(student):
    """X = [[1, 2], [0, 1], [-1, 0]], w = [[2], [-3.4]], b = [4.2] gives [[-0.6], [0.8], [2.2]]."""
    X = torch.tensor([[1.0, 2.0], [0.0, 1.0], [-1.0, 0.0]])
    w, b = torch.tensor([[2.0], [-3.4]]), torch.tensor([4.2])
    assert_close(student.linreg(X, w, b), torch.tensor([[-0.6], [0.8], [2.2]]),
                 what="linreg(X, w, b)", kind="reduction")


@hidden
@points(2)
def test_linreg_random_with_gradients(student, vjp):
    """Random X, w, b: value and the gradients with respect to w and b match the reference."""
    X, w, b = torch.randn(7, 4, dtype=torch.float64), torch.randn(4, 1, dtype=torch.float64), \
        torch.randn(1, dtype=torch.float64)
    v = torch.randn(7, 1, dtype=torch.float64)
    out, (gw, gb) = vjp(student.linreg, X, w, b, wrt=(1, 2), grad_output=v)
    rw, rb = w.clone().requires_grad_(), b.clone().requires_grad_()
    expected = ref.linreg(X, rw, rb)
    expected.backward(v)
    assert_close(out, expected.detach(), what="linreg(X, w, b)", hidden=True, kind="reduction")
    assert gw is not None and gb is not None, "the output must depend on w and b through autograd"
    assert_close(gw, rw.grad, what="the gradient with respect to w", hidden=True, kind="reduction")
    assert_close(gb, rb.grad, what="the gradient with respect to b", hidden=True, kind="reduction")


@points(1)
def test_squared_loss_known_values(student):
    """y_hat = [[1], [2], [3]], y = [1.5, 2, 1] gives [[0.125], [0], [2]] (no (3, 3) broadcast)."""
    y_hat, y = torch.tensor([[1.0], [2.0], [3.0]]), torch.tensor([1.5, 2.0, 1.0])
    assert_close(student.squared_loss(y_hat, y), torch.tensor([[0.125], [0.0], [2.0]]),
                 what="squared_loss(y_hat, y)")


@hidden
@points(2)
def test_squared_loss_random(student):
    """Random (n, 1) predictions against (n,) and (n, 1) targets: per-example values match."""
    y_hat = torch.randn(9, 1)
    for y in (torch.randn(9), torch.randn(9, 1)):
        y0 = y.clone()
        assert_close(student.squared_loss(y_hat, y), ref.squared_loss(y_hat, y0),
                     what=f"squared_loss with a target of shape {tuple(y.shape)}", hidden=True)
        assert_close(y, y0, what="y after the call", hidden=True)


def _params_with_grads(values, grads):
    params = []
    for v, g in zip(values, grads):
        p = v.clone().requires_grad_(True)
        p.grad = g.clone()
        params.append(p)
    return params


@points(1)
def test_sgd_known_step_in_place(student):
    """w = [1, 2] with grad [0.5, 1], lr 0.1, batch 5 becomes [0.99, 1.98], in place."""
    w, b = _params_with_grads([torch.tensor([1.0, 2.0]), torch.tensor([0.0])],
                              [torch.tensor([0.5, 1.0]), torch.tensor([-2.5])])
    student.sgd([w, b], 0.1, 5)
    assert_close(w, torch.tensor([0.99, 1.98]), what="w after sgd([w, b], 0.1, 5) (updated in place)")
    assert_close(b, torch.tensor([0.05]), what="b after sgd([w, b], 0.1, 5) (updated in place)")
    assert w.is_leaf and w.requires_grad, "w must stay a leaf tensor that requires grad"
    assert_close(w.grad, torch.tensor([0.5, 1.0]), what="w.grad after the step (leave it as it is)")


@points(1)
def test_sgd_without_optim(student):
    """sgd is written by hand (no torch.optim) and takes the right step."""
    w, = _params_with_grads([torch.tensor([[1.0], [-1.0]])], [torch.tensor([[2.0], [4.0]])])
    call_without(student.sgd, [w], 0.5, 2, forbidden=["optim"])
    assert_close(w, torch.tensor([[0.5], [-2.0]]), what="w after sgd([w], 0.5, 2)")


@hidden
@points(2)
def test_sgd_random(student):
    """Random parameters, gradients, learning rate and batch size: same update as the reference."""
    values = [torch.randn(4, 3), torch.randn(3), torch.randn(2, 2, dtype=torch.float64)]
    grads = [torch.randn_like(v) for v in values]
    lr, batch_size = float(torch.rand(()) * 0.5 + 0.01), int(torch.randint(2, 64, ()))
    params = _params_with_grads(values, grads)
    expected = _params_with_grads(values, grads)
    ref.sgd(expected, lr, batch_size)
    student.sgd(params, lr, batch_size)
    for i, (p, e) in enumerate(zip(params, expected)):
        assert_close(p, e.detach(), what=f"parameter {i} after sgd", hidden=True)
        assert p.is_leaf and p.requires_grad, "parameters must stay leaves that require grad"


def _max_error(w, b, true_w, true_b):
    return max((w.detach().reshape(-1) - torch.tensor(true_w)).abs().max().item(),
               abs(float(b.detach().reshape(-1)[0]) - true_b))


def _check_trained(result, true_w, true_b, threshold, feedback, hidden_values):
    assert isinstance(result, (tuple, list)) and len(result) == 3, \
        "train_linreg should return (w, b, losses)"
    w, b, losses = result
    d = len(true_w)
    assert isinstance(w, torch.Tensor) and w.shape == (d, 1), f"w should have shape {(d, 1)}"
    assert isinstance(b, torch.Tensor) and b.shape == (1,), "b should have shape (1,)"
    err = _max_error(w, b, true_w, true_b)
    feedback(f"largest error of the learned w and b: {err:.2e}")
    if hidden_values:
        assert err < threshold, "the learned parameters are not close enough to the true ones"
    else:
        assert err < threshold, (f"learned w = {w.reshape(-1).tolist()}, b = {b.tolist()}; "
                                 f"expected within {threshold} of {true_w} and {true_b}")
    return losses


@call_timeout(60)
@points(2)
def test_train_linreg_book_setup(student, feedback):
    """The book's run (1000 examples, 3 epochs, lr 0.03, batch 10) recovers w and b."""
    features, labels = ref.synthetic_data(TRUE_W, TRUE_B, 1000)
    # The reference's largest error over 10 seeds: 4e-4 to 1.5e-3 (final loss ~5e-5).
    losses = _check_trained(student.train_linreg(features, labels, 3, 0.03, 10),
                            TRUE_W, TRUE_B, 0.01, feedback, hidden_values=False)
    assert isinstance(losses, (list, tuple)) and len(losses) == 3, "losses: one number per epoch"
    assert float(losses[-1]) < 2e-4, f"the final mean loss {float(losses[-1]):.2e} should be below 2e-4"


@hidden
@call_timeout(60)
@points(2)
def test_train_linreg_random_problem(student, feedback):
    """A random 4-feature problem with the book's settings is learned to within the budget."""
    true_w = (torch.randn(4) * 2).tolist()
    true_b = float(torch.randn(()) * 2)
    features, labels = ref.synthetic_data(true_w, true_b, 1000)
    # The reference's largest error over 20 seeds: 1.8e-3 (median ~5e-4).
    _check_trained(student.train_linreg(features, labels, 3, 0.03, 10),
                   true_w, true_b, 0.01, feedback, hidden_values=True)
