"""Graders for ch03_basics.softmax_regression (D2L 3.6).

Convergence runs on the project's Fashion-MNIST-format set (``fashion_mnist_root``:
scikit-learn's digits at 28x28, 1500 training and 297 test images). The student's training
function returns ``W`` and ``b``; the accuracy is measured here, in the grading process.
"""
import math

import pytest
import torch

from d2lgrade import (assert_close, assert_scalar_close, call_timeout, from_scratch, hidden, ops,
                      points, reference)

MODULE = "ch03_basics.softmax_regression"
ref = reference(MODULE)

# From-scratch policies: every call of these functions, from any test, is traced in the child.
from_scratch(MODULE, "softmax", allow=ops.ELEMENTARY,
             names=["softmax", "log_softmax", "softmin", "logsumexp", "Softmax", "LogSoftmax"])
from_scratch(MODULE, "cross_entropy", allow=ops.ELEMENTARY,
             names=["cross_entropy", "nll_loss", "CrossEntropyLoss", "NLLLoss", "log_softmax",
                    "kl_div", "binary_cross_entropy"])
# The trainer must train: through softmax, cross_entropy and sgd (whose first argument holds
# the returned W and b), without library shortcuts or a solver; it never sees the test split.
SGD = "ch03_basics.linear_regression.sgd"
from_scratch(MODULE, "train_softmax_scratch", deny=ops.LIBRARY,
             names=["optim", "lstsq", "solve", "pinv", "pinverse", "inverse", "svd"],
             requires=["softmax", "cross_entropy", SGD], updates=SGD)

BOOK_Y_HAT = [[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]]
BOOK_Y = [0, 2]


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


@pytest.fixture(scope="module")
def vjp(submission):
    def run(fn, *args, wrt=(0,), grad_output=None):
        return submission.probe("vjp", fn.value(), list(args), list(wrt), grad_output)
    return run


@pytest.fixture(scope="module")
def digits(fashion_mnist_root):
    """(train_X, train_y, test_X, test_y) of the project's set, in file order."""
    import torchvision
    out = []
    for train in (True, False):
        ds = torchvision.datasets.FashionMNIST(str(fashion_mnist_root), train=train, download=False,
                                               transform=torchvision.transforms.ToTensor())
        out += list(next(iter(torch.utils.data.DataLoader(ds, batch_size=len(ds)))))
    return out


def _shuffled_batches(X, y, batch_size):
    order = torch.randperm(len(y))
    return [(X[order[i:i + batch_size]], y[order[i:i + batch_size]])
            for i in range(0, len(y), batch_size)]


def _in_order_batches(X, y, batch_size):
    return [(X[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(y), batch_size)]


def _reference_vjp(fn, args, wrt, v):
    args = [a.detach().clone().requires_grad_(True) if i in wrt else a for i, a in enumerate(args)]
    out = fn(*args)
    out.backward(v)
    return out.detach(), [args[i].grad for i in wrt]


# -- softmax ---------------------------------------------------------------------------------
@points(1)
def test_softmax_rows_sum_to_one(student):
    """softmax(rand(2, 5)) has shape (2, 5), positive entries and rows that sum to 1."""
    X = torch.rand(2, 5)
    out = student.softmax(X)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 5), \
        f"expected a (2, 5) tensor, got {getattr(out, 'shape', type(out).__name__)}"
    assert bool((out > 0).all()), "every probability should be positive"
    assert_close(out.sum(dim=1), torch.ones(2), what="the row sums of softmax(X)", kind="reduction")


@points(1)
def test_softmax_known_values(student):
    """softmax(log([[1, 2, 5], [1, 1, 2]])) is [[0.125, 0.25, 0.625], [0.25, 0.25, 0.5]]."""
    X = torch.log(torch.tensor([[1.0, 2.0, 5.0], [1.0, 1.0, 2.0]]))
    assert_close(student.softmax(X), torch.tensor([[0.125, 0.25, 0.625], [0.25, 0.25, 0.5]]),
                 what="softmax(X)", kind="reduction")


@points(2)
def test_softmax_stable_for_large_logits(student):
    """Logits like 1000 do not overflow: [[1000, 0], [0, 1000], [1000, 1000]] -> [[1, 0], [0, 1], [.5, .5]]."""
    X = torch.tensor([[1000.0, 0.0], [0.0, 1000.0], [1000.0, 1000.0]])
    assert_close(student.softmax(X), torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]),
                 what="softmax(X) for large logits (subtract each row's maximum first)",
                 kind="reduction")


@points(1)
def test_softmax_without_builtin(student):
    """softmax is written by hand (no torch.softmax / F.softmax / log_softmax) and is right."""
    X = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.0, 4.0]])
    out = student.softmax(X)
    assert_close(out, torch.softmax(X, dim=1), what="softmax(X)", kind="reduction")


@hidden
@points(2)
def test_softmax_random_dtypes_no_mutation(student):
    """Random float32 and float64 inputs: reference values, dtype kept, input untouched."""
    for dtype in (torch.float32, torch.float64):
        X = torch.randn(6, 9, dtype=dtype) * 3
        X0 = X.clone()
        assert_close(student.softmax(X), ref.softmax(X0), what=f"softmax of a {dtype} input",
                     hidden=True, kind="reduction")
        assert_close(X, X0, what="X after the call", hidden=True)


@hidden
@points(1)
def test_softmax_random_large_logits(student):
    """Random logits of size about 1000 give finite values equal to the reference."""
    X = torch.randn(5, 7) * 1000
    out = student.softmax(X)
    assert bool(torch.isfinite(out).all()), "softmax returned nan or inf for large logits"
    assert_close(out, ref.softmax(X), what="softmax of large logits", hidden=True, kind="reduction")


@hidden
@points(2)
def test_softmax_gradient(student, vjp):
    """The gradient through softmax (random output weights) matches the reference."""
    X = torch.randn(4, 6, dtype=torch.float64)
    v = torch.randn(4, 6, dtype=torch.float64)
    out, (grad,) = vjp(student.softmax, X, grad_output=v)
    ref_out, (ref_grad,) = _reference_vjp(ref.softmax, [X], [0], v)
    assert_close(out, ref_out, what="softmax(X)", hidden=True, kind="reduction")
    assert grad is not None, "the result must depend on X through autograd"
    assert_close(grad, ref_grad, what="the gradient of softmax", hidden=True, kind="reduction")


# -- net -------------------------------------------------------------------------------------
def _net(student, X, W, b):
    """``net(X, W, b)`` as the course specifies it, or the book's ``net(X)`` (3.6), which reads
    module-level ``W``, ``b`` and ``num_inputs``: those are set in the student's module for
    this one call (issue 15)."""
    if len(student.net.signature()) == 1:
        return student.net.with_globals(W=W, b=b, num_inputs=W.shape[0])(X)
    return student.net(X, W, b)


@points(1)
def test_net_shapes(student):
    """A (4, 1, 28, 28) batch with W (784, 10) and b (10,) gives (4, 10) probabilities."""
    X = torch.rand(4, 1, 28, 28)
    W, b = torch.randn(784, 10) * 0.01, torch.randn(10) * 0.1
    out = _net(student, X, W, b)
    assert_close(out, torch.softmax(X.view(4, 784) @ W + b, dim=1),
                 what="net(X, W, b) = softmax(X.view(-1, 784) @ W + b)", kind="reduction")


@hidden
@points(1)
def test_net_random(student):
    """A random batch of small images with random W and b matches the reference."""
    X = torch.randn(5, 1, 4, 4)
    W, b = torch.randn(16, 3), torch.randn(3)
    assert_close(_net(student, X, W, b), ref.net(X, W, b), what="net(X, W, b)", hidden=True,
                 kind="reduction")


# -- cross_entropy ---------------------------------------------------------------------------
@points(1)
def test_cross_entropy_book_example(student):
    """The book's y_hat and y = [0, 2] give [[-ln 0.1], [-ln 0.5]] = [[2.3026], [0.6931]]."""
    y_hat, y = torch.tensor(BOOK_Y_HAT), torch.tensor(BOOK_Y)
    assert_close(student.cross_entropy(y_hat, y),
                 torch.tensor([[-math.log(0.1)], [-math.log(0.5)]]), what="cross_entropy(y_hat, y)")


@points(1)
def test_cross_entropy_without_builtin(student):
    """cross_entropy is written by hand (no F.cross_entropy / nll_loss) and is right."""
    y_hat = torch.tensor([[0.2, 0.7, 0.1], [0.25, 0.25, 0.5], [0.9, 0.05, 0.05]])
    y = torch.tensor([1, 0, 0])
    out = student.cross_entropy(y_hat, y)
    assert_close(out, -torch.log(torch.tensor([[0.7], [0.25], [0.9]])), what="cross_entropy(y_hat, y)")


@hidden
@points(2)
def test_cross_entropy_random_with_gradient(student, vjp):
    """Random probabilities and labels: values and the gradient match the reference; inputs untouched."""
    y_hat = torch.softmax(torch.randn(8, 5, dtype=torch.float64), dim=1)
    y = torch.randint(0, 5, (8,))
    y_hat0, y0 = y_hat.clone(), y.clone()
    v = torch.rand(8, 1, dtype=torch.float64) + 0.5
    out, (grad,) = vjp(student.cross_entropy, y_hat, y, grad_output=v)
    ref_out, (ref_grad,) = _reference_vjp(ref.cross_entropy, [y_hat0, y0], [0], v)
    assert_close(out, ref_out, what="cross_entropy(y_hat, y)", hidden=True)
    assert grad is not None, "the loss must depend on y_hat through autograd"
    assert_close(grad, ref_grad, what="the gradient of cross_entropy", hidden=True)
    plain = student.cross_entropy(y_hat, y)
    assert_close(plain, ref_out, what="cross_entropy(y_hat, y)", hidden=True)
    assert_close(y_hat, y_hat0, what="y_hat after the call", hidden=True)
    assert_close(y, y0, what="y after the call", hidden=True, kind="exact")


# -- accuracy --------------------------------------------------------------------------------
@points(1)
def test_accuracy_book_example(student):
    """The book's y_hat and y = [0, 2] give the float 0.5."""
    acc = student.accuracy(torch.tensor(BOOK_Y_HAT), torch.tensor(BOOK_Y))
    assert isinstance(acc, float), f"accuracy should return a Python float (use .item()), got {type(acc).__name__}"
    assert_scalar_close(acc, 0.5, what="accuracy(y_hat, y)")


@hidden
@points(1)
def test_accuracy_random(student):
    """Random scores and labels: the same fraction as the reference."""
    y_hat, y = torch.randn(50, 4), torch.randint(0, 4, (50,))
    acc = student.accuracy(y_hat, y)
    assert isinstance(acc, float), "accuracy should return a Python float"
    assert_scalar_close(acc, ref.accuracy(y_hat, y), what="accuracy(y_hat, y)", hidden=True)


# -- evaluate_accuracy -----------------------------------------------------------------------
def _identity_net():
    net = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.eye(2))
    return net


@points(1)
def test_evaluate_accuracy_counts_examples(student):
    """Batches of 4 (3 right) and 3 (1 right) give 4/7, not the mean of 3/4 and 1/3."""
    X1 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [1.0, 3.0]])  # predicts 0, 1, 0, 1
    y1 = torch.tensor([0, 1, 0, 0])
    X2 = torch.tensor([[5.0, 1.0], [0.0, 2.0], [1.0, 4.0]])              # predicts 0, 1, 1
    y2 = torch.tensor([0, 0, 0])
    acc = student.evaluate_accuracy([(X1, y1), (X2, y2)], _identity_net())
    assert isinstance(acc, float), f"evaluate_accuracy should return a float, got {type(acc).__name__}"
    assert_scalar_close(acc, 4 / 7, what="evaluate_accuracy")


@hidden
@points(1)
def test_evaluate_accuracy_random_net(student, digits):
    """A random linear classifier on the test images (last batch short) matches the reference."""
    _, _, X, y = digits
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    batches = _in_order_batches(X, y, 50)
    acc = student.evaluate_accuracy(batches, net)
    assert isinstance(acc, float), "evaluate_accuracy should return a float"
    assert_scalar_close(acc, ref.evaluate_accuracy(batches, net), what="evaluate_accuracy",
                        hidden=True)


# -- training --------------------------------------------------------------------------------
# The trainer never receives the images it is judged on: its ``test_iter`` (for the epoch
# lines train_ch3 prints) is a slice of the training set, and the accuracy is measured here
# on the test split, which stays in the grading process. A fit to the data it is given
# (least squares, a solver) is ruled out by the policy above: W and b must come out of sgd.
def _trained_accuracy(result, X, y):
    assert isinstance(result, (tuple, list)) and len(result) == 2, \
        "train_softmax_scratch should return (W, b)"
    W, b = result
    assert isinstance(W, torch.Tensor) and W.shape == (784, 10), "W should have shape (784, 10)"
    assert isinstance(b, torch.Tensor) and b.shape == (10,), "b should have shape (10,)"
    with torch.no_grad():
        scores = X.view(-1, 784) @ W.detach().float() + b.detach().float()
    return (scores.argmax(dim=1) == y).float().mean().item()


def _train(student, digits, num_epochs):
    train_X, train_y, held_X, held_y = digits
    monitor = _in_order_batches(train_X[:300], train_y[:300], 100)
    result = student.train_softmax_scratch(_shuffled_batches(train_X, train_y, 50), monitor,
                                           num_epochs=num_epochs, lr=0.1, batch_size=50)
    return _trained_accuracy(result, held_X, held_y)


@call_timeout(60)
@points(1)
def test_train_scratch_learns(student, digits, feedback):
    """Two epochs (lr 0.1, batch 50) give W (784, 10), b (10,) well above chance (> 0.6) on held-back images."""
    acc = _train(student, digits, 2)
    feedback(f"accuracy on the held-back test images after 2 epochs: {acc:.3f}")
    # The reference reaches 0.896-0.929 here over 20 seeds (chance is 0.1).
    assert acc > 0.6, f"held-back accuracy {acc:.3f} after 2 epochs; expected more than 0.6"


@hidden
@call_timeout(60)
@points(3)
def test_train_scratch_converges(student, digits, feedback):
    """Five epochs (lr 0.1, batch 50) reach the expected accuracy on images the trainer never saw."""
    acc = _train(student, digits, 5)
    feedback(f"accuracy on the held-back test images after 5 epochs: {acc:.3f}")
    # The reference reaches 0.926-0.946 over 20 seeds; W ~ N(0, 1) gives 0.71-0.79 and
    # lr / batch_size (0.002) 0.73-0.85.
    assert acc > 0.88, "the held-back accuracy after 5 epochs is too low"
