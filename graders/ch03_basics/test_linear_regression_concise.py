"""Graders for ch03_basics.linear_regression_concise (D2L 3.3)."""
import pytest
import torch

from d2lgrade import assert_close, call_timeout, hidden, points, reference

MODULE = "ch03_basics.linear_regression_concise"
ref = reference(MODULE)
data = reference("ch03_basics.linear_regression")  # the reference's synthetic_data

TRUE_W = [2.0, -3.4]
TRUE_B = 4.2


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


def _linear_params(submission, net, num_inputs):
    params = submission.probe("named_parameters", net)
    assert isinstance(params, dict) and set(params) == {"0.weight", "0.bias"}, \
        f"expected nn.Sequential(nn.Linear(...)) with parameters 0.weight and 0.bias, got {sorted(params)}"
    w, b = params["0.weight"], params["0.bias"]
    assert w.shape == (1, num_inputs) and b.shape == (1,), \
        f"expected weight (1, {num_inputs}) and bias (1,), got {tuple(w.shape)} and {tuple(b.shape)}"
    return w, b


@points(1)
def test_linreg_net_structure_and_init(student, submission):
    """linreg_net(2): one Linear(2, 1) layer, bias 0, small weights; net(X) = X w^T + b."""
    net = student.linreg_net(2)
    w, b = _linear_params(submission, net, 2)
    assert_close(b, torch.zeros(1), what="the initial bias", kind="exact")
    assert w.abs().max().item() < 0.06, \
        f"the initial weights {w.tolist()} are too large for N(0, 0.01^2)"
    X = torch.randn(5, 2)
    assert_close(net(X), X @ w.T + b, what="net(X)", kind="reduction")


@hidden
@points(1)
def test_linreg_net_init_distribution(student, submission):
    """With 2000 inputs the initial weights have mean about 0 and standard deviation about 0.01."""
    w, b = _linear_params(submission, student.linreg_net(2000), 2000)
    assert abs(w.mean().item()) < 0.002 and 0.009 < w.std().item() < 0.011, \
        "the weights are not drawn from N(0, 0.01^2)"
    assert torch.equal(b, torch.zeros(1)), "the bias must start at 0"


def _check_trained(submission, net, true_w, true_b, feedback, hidden_values):
    w, b = _linear_params(submission, net, len(true_w))
    err = max((w.reshape(-1) - torch.tensor(true_w)).abs().max().item(), abs(b.item() - true_b))
    feedback(f"largest error of the learned weight and bias: {err:.2e}")
    if hidden_values:
        assert err < 0.01, "the learned parameters are not close enough to the true ones"
    else:
        assert err < 0.01, (f"learned weight {w.reshape(-1).tolist()} and bias {b.tolist()}; "
                            f"expected within 0.01 of {true_w} and {true_b}")


@call_timeout(60)
@points(2)
def test_train_linreg_concise_book_setup(student, submission, feedback):
    """The book's run (1000 examples, 3 epochs, lr 0.03, batch 10) recovers w and b."""
    features, labels = data.synthetic_data(TRUE_W, TRUE_B, 1000)
    # The reference's largest error over 10 seeds: 1.7e-4 to 1.2e-3; threshold 0.01.
    net = student.train_linreg_concise(features, labels, 3, 0.03, 10)
    _check_trained(submission, net, TRUE_W, TRUE_B, feedback, hidden_values=False)


@hidden
@call_timeout(60)
@points(2)
def test_train_linreg_concise_random_problem(student, submission, feedback):
    """A random 4-feature problem with the book's settings is learned to within the budget."""
    true_w = (torch.randn(4) * 2).tolist()
    true_b = float(torch.randn(()) * 2)
    features, labels = data.synthetic_data(true_w, true_b, 1000)
    # The reference's largest error over 20 seeds: 1.4e-3; threshold 0.01.
    net = student.train_linreg_concise(features, labels, 3, 0.03, 10)
    _check_trained(submission, net, true_w, true_b, feedback, hidden_values=True)
