"""Graders for ch03_basics.dropout (D2L 3.13).

Keep-rate checks use a million entries: the fraction kept has standard deviation at most
0.0005, and the bounds below are 10 or more standard deviations wide (never flaky), while
the book's ``randn`` mask keeps 0.758 instead of 0.7 at p = 0.3 (and 0.84 at p = 0).
"""
import pytest
import torch

from d2lgrade import assert_close, from_scratch, hidden, ops, points, reference

MODULE = "ch03_basics.dropout"
ref = reference(MODULE)

# dropout by hand: the mask from torch.rand (no bernoulli, no native_dropout, no F.dropout).
from_scratch(MODULE, "dropout", allow=ops.ELEMENTARY,
             names=["dropout", "Dropout", "dropout_", "feature_dropout", "alpha_dropout",
                    "native_dropout", "bernoulli", "bernoulli_"])


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


@pytest.fixture(scope="module")
def vjp(submission):
    def run(fn, *args, wrt=(0,), grad_output=None):
        return submission.probe("vjp", fn.value(), list(args), list(wrt), grad_output)
    return run


# ---------------------------------------------------------------- dropout

@points(1)
def test_dropout_p0_keeps_everything(student):
    """dropout(X, 0) is X as float32, unchanged, for the book's arange(16).view(2, 8) and for ones(100, 100)."""
    X = torch.arange(16).view(2, 8)
    out = student.dropout(X, 0)
    assert_close(out, X.float(), what="dropout(X, 0)")
    # 16 entries can survive a wrong mask by luck (randn < 1 keeps 84 %); 10,000 cannot.
    big = torch.ones(100, 100)
    assert_close(student.dropout(big, 0), big, what="dropout(ones(100, 100), 0)")


@points(1)
def test_dropout_p1_drops_everything(student):
    """dropout(arange(16).view(2, 8), 1.0) is zeros(2, 8) (float32)."""
    X = torch.arange(16).view(2, 8)
    out = student.dropout(X, 1.0)
    assert_close(out, torch.zeros(2, 8), what="dropout(X, 1.0)")


@points(1)
def test_dropout_half_values(student):
    """dropout(arange(16).view(2, 8), 0.5): float32 of shape (2, 8), every entry 0 or 2 x."""
    X = torch.arange(16).view(2, 8)
    out = student.dropout(X, 0.5)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 8) and out.dtype == torch.float32, \
        f"expected a float32 tensor of shape (2, 8), got {getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}"
    ok = (out == 0) | (out == 2 * X.float())
    assert bool(ok.all()), f"every entry should be 0 or 2 x; got {out.tolist()}"


@points(2)
def test_dropout_keep_rate(student):
    """On a million entries, p = 0.3 keeps 70 % (+- 0.5 %) and each kept entry is x / 0.7."""
    X = torch.rand(1000, 1000) + 0.5
    out = student.dropout(X, 0.3)
    kept = out != 0
    rate = kept.float().mean().item()
    assert abs(rate - 0.7) < 0.005, f"kept fraction {rate:.4f} at p = 0.3; expected 0.7 (is the mask uniform, torch.rand?)"
    assert_close(out[kept], X[kept] / 0.7, what="the kept entries (x / (1 - p))")


@hidden
@points(2)
def test_dropout_keep_rate_other_p(student):
    """Other probabilities keep the right fraction; p = 0 keeps all; two calls draw different masks."""
    X = torch.randn(1000, 1000)
    for p in (0.1, 0.8):
        out = student.dropout(X, p)
        rate = (out != 0).float().mean().item()
        assert abs(rate - (1 - p)) < 0.005, "the kept fraction does not match 1 - p"
        kept = out != 0
        assert_close(out[kept], X[kept] / (1 - p), what="the kept entries", hidden=True)
    assert_close(student.dropout(X, 0.0), X, what="dropout(X, 0)", hidden=True)
    a, b = student.dropout(X[:100], 0.5), student.dropout(X[:100], 0.5)
    assert not torch.equal(a, b), "two calls gave the same mask"


@hidden
@points(1)
def test_dropout_expectation(student):
    """Inverted dropout keeps the expectation: the mean of dropout(ones) is 1 (+- 0.01)."""
    out = student.dropout(torch.ones(1000, 1000), 0.5)
    mean = out.mean().item()
    # Standard deviation of the mean: 0.001.
    assert abs(mean - 1.0) < 0.01, "the mean of dropout(ones) is not 1: is the result rescaled by 1 / (1 - p)?"


@hidden
@points(1)
def test_dropout_dtype_and_no_mutation(student):
    """float64 stays float64, an integer input becomes float32, X is not modified."""
    X = torch.randn(50, 40, dtype=torch.float64)
    X0 = X.clone()
    out = student.dropout(X, 0.4)
    assert out.dtype == torch.float64, "a float64 input should give a float64 output"
    assert_close(X, X0, what="X after dropout(X, 0.4)", hidden=True)
    Xi = torch.randint(1, 10, (30, 30))
    out = student.dropout(Xi, 0.0)
    assert_close(out, Xi.float(), what="dropout of an integer tensor with p = 0", hidden=True)


@hidden
@points(1)
def test_dropout_gradient(student, vjp):
    """Gradients flow through the kept entries: d out / d x is 0 or 1 / (1 - p), matching the mask."""
    X = torch.rand(200, 50, dtype=torch.float64) + 0.5
    out, (grad,) = vjp(student.dropout, X, 0.25)
    assert grad is not None, "dropout(X, p) does not depend on X through autograd"
    expected = (out != 0).to(X.dtype) / 0.75
    assert_close(grad, expected, what="the gradient of dropout", hidden=True)


# ---------------------------------------------------------------- dropout_net

def _identity_params(d, b2=0.0):
    """Weights = identity and zero biases: the net passes a positive input through its
    dropout layers untouched except for the masks. With ``b2 = 1`` a unit dropped by the
    first layer comes out of the second as 1 (not 0), which tells the two layers apart."""
    eye = torch.eye(d)
    return [eye.clone(), torch.zeros(d), eye.clone(), torch.full((d,), b2), eye.clone(), torch.zeros(d)]


def _check_layer_probabilities(out, X, p1, p2, hidden=True):
    """Output of the identity net with b2 = 1 for (p1, p2) in {(0, 0.9), (0.9, 0)}."""
    if p1 == 0:   # only the second layer drops: 90 % zeros, the rest (x + 1) / 0.1
        assert abs(_zero_fraction(out) - 0.9) < 0.01, \
            "the second dropout layer does not drop with drop_prob2 (or the first drops too)"
        kept = out != 0
        assert_close(out[kept], (X[kept] + 1) / 0.1, what="the surviving outputs", hidden=hidden)
    else:         # only the first layer drops: no zeros, 90 % ones (1 = the second layer's bias)
        assert _zero_fraction(out) == 0, "the second dropout layer drops although drop_prob2 = 0"
        ones = out == 1
        assert abs(ones.float().mean().item() - 0.9) < 0.01, \
            "the first dropout layer does not drop with drop_prob1"
        assert_close(out[~ones], X[~ones] / 0.1 + 1, what="the outputs kept by the first layer",
                     hidden=hidden)


def _zero_fraction(out):
    return (out == 0).float().mean().item()


@points(1)
def test_dropout_net_evaluation(student):
    """With is_training=False nothing is dropped: the plain MLP relu(relu(X W1 + b1) W2 + b2) W3 + b3."""
    params = [torch.randn(784, 32) * 0.1, torch.randn(32), torch.randn(32, 16) * 0.3, torch.randn(16),
              torch.randn(16, 10) * 0.3, torch.randn(10)]
    X = torch.rand(5, 1, 28, 28)
    H1 = (X.reshape(5, 784) @ params[0] + params[1]).clamp(min=0)
    H2 = (H1 @ params[2] + params[3]).clamp(min=0)
    assert_close(student.dropout_net(X, params, is_training=False), H2 @ params[4] + params[5],
                 what="dropout_net(X, params, is_training=False)", kind="reduction")


@points(1)
def test_dropout_net_training_defaults(student):
    """Training with the defaults (0.2, 0.5) on identity weights: 60 % zeros, the rest x / 0.4."""
    d = 500
    X = torch.rand(400, d) + 0.5
    out = student.dropout_net(X, _identity_params(d))
    frac = _zero_fraction(out)
    # 1 - 0.8 * 0.5 = 0.6 over 200,000 entries (standard deviation 0.0011).
    assert abs(frac - 0.6) < 0.01, f"{frac:.3f} of the outputs are zero; expected 0.6 (dropout 0.2 then 0.5)"
    kept = out != 0
    assert_close(out[kept], X[kept] / 0.4, what="the surviving outputs (x / (0.8 * 0.5))")


@hidden
@points(2)
def test_dropout_net_each_layer_probability(student):
    """Each layer uses its own probability: (0, 0.9) and (0.9, 0) both drop 90 %, (0, 0) nothing."""
    d = 500
    X = torch.rand(400, d) + 0.5
    for p1, p2 in ((0.0, 0.9), (0.9, 0.0)):
        out = student.dropout_net(X, _identity_params(d, b2=1.0), True, p1, p2)
        _check_layer_probabilities(out, X, p1, p2)
    out = student.dropout_net(X, _identity_params(d), True, 0.0, 0.0)
    assert_close(out, X, what="dropout_net with both probabilities 0", hidden=True)


@hidden
@points(1)
def test_dropout_net_random_eval(student):
    """Evaluation mode on random parameters matches the reference."""
    params = [torch.randn(20, 8), torch.randn(8), torch.randn(8, 6), torch.randn(6), torch.randn(6, 3),
              torch.randn(3)]
    X = torch.randn(7, 20)
    assert_close(student.dropout_net(X, params, is_training=False),
                 ref.dropout_net(X, params, is_training=False), what="dropout_net in evaluation",
                 hidden=True, kind="reduction")


# ---------------------------------------------------------------- dropout_mlp_concise

def _load_identity(submission, net, d, b2=0.0):
    state = submission.probe("state_dict", net)
    keys = list(state)
    assert len(keys) == 6, f"expected three Linear layers (6 parameters), got {keys}"
    for key, value in zip(keys, _identity_params(d, b2)):
        assert tuple(state[key].shape) == tuple(value.shape), f"{key} should have shape {tuple(value.shape)}"
        state[key] = value
    submission.probe("load_state_dict", net, state)


@points(1)
def test_dropout_mlp_concise_structure(student, submission):
    """The book's sizes 784-256-256-10, parameters from N(0, 0.01^2); eval mode is deterministic."""
    net = student.dropout_mlp_concise()
    shapes = [tuple(p.shape) for p in submission.probe("parameters", net)]
    assert shapes == [(256, 784), (256,), (256, 256), (256,), (10, 256), (10,)], \
        f"expected Linear(784, 256), Linear(256, 256), Linear(256, 10); got parameter shapes {shapes}"
    W1 = submission.probe("parameters", net)[0]
    assert 0.009 < W1.std().item() < 0.011, f"W1 should be drawn from N(0, 0.01^2); its std is {W1.std().item():.4f}"
    submission.probe("set_mode", net, False)
    X = torch.rand(4, 1, 28, 28)
    assert torch.equal(net(X), net(X)), "in eval mode the net should not drop anything"


@hidden
@points(2)
def test_dropout_mlp_concise_probabilities(student, submission):
    """In training mode each Dropout uses its probability; in eval mode nothing is dropped."""
    d = 400
    X = torch.rand(300, d) + 0.5
    for p1, p2 in ((0.0, 0.9), (0.9, 0.0)):
        net = student.dropout_mlp_concise(p1, p2, d, d, d, d)
        _load_identity(submission, net, d, b2=1.0)
        submission.probe("set_mode", net, True)
        _check_layer_probabilities(net(X), X, p1, p2)
        submission.probe("set_mode", net, False)
        assert_close(net(X), X + 1, what="the net in eval mode (identity weights, b2 = 1)", hidden=True)
