"""Graders for ch04_computation.parameters (D2L 4.2).

Nets are created in the child (the given ``make_net`` or a student function) and kept there
as handles; weights are set with the ``load_state_dict`` probe and read back with
``named_parameters``, so in-place changes and accumulated gradients are seen where they
happen.
"""
import pytest
import torch
from torch import nn

from d2lgrade import assert_close, hidden, points, reference

MODULE = "ch04_computation.parameters"
ref = reference(MODULE)

BOOK_SHAPES = {"0.weight": (3, 4), "0.bias": (3,), "2.weight": (1, 3), "2.bias": (1,)}


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


def _params(submission, net):
    params = submission.probe("named_parameters", net)
    assert isinstance(params, dict), "expected a module with named parameters"
    return params


def _book_net(student, submission, state=None):
    """The given make_net() in the child, optionally with the weights ``state``."""
    net = student.make_net()
    if state is not None:
        submission.probe("load_state_dict", net, state)
    return net


def _random_state(scale=1.0):
    net = ref.make_net()
    return {k: torch.randn_like(v) * scale for k, v in net.state_dict().items()}


@points(1)
def test_my_model_registration(student, submission):
    """MyModel(): named_parameters lists weight1 only; weight2 is a plain (20, 20) tensor."""
    net = student.MyModel()
    params = _params(submission, net)
    assert list(params) == ["weight1"], f"expected the parameters ['weight1'], got {list(params)}"
    assert params["weight1"].shape == (20, 20), "weight1 must have shape (20, 20)"
    w2 = net.weight2
    assert isinstance(w2, torch.Tensor) and not isinstance(w2, nn.Parameter) and w2.shape == (20, 20), \
        "weight2 must be a plain (20, 20) tensor, not an nn.Parameter"
    X = torch.rand(2, 20)
    assert_close(net(X), X @ params["weight1"] + X @ w2, what="MyModel()(X)", kind="reduction")


@hidden
@points(1)
def test_my_model_random(student, submission):
    """MyModel has 400 trainable values, rand-initialized weights, and the reference's forward."""
    net = student.MyModel()
    assert submission.probe("num_parameters", net) == 400, "MyModel must have exactly 400 parameters"
    w1, w2 = _params(submission, net)["weight1"], net.weight2
    for w in (w1, w2):
        assert w.min() >= 0 and w.max() < 1, "the weights must come from torch.rand"
    r = ref.MyModel()
    with torch.no_grad():
        r.weight1.copy_(w1)
        r.weight2.copy_(w2)
        X = torch.randn(5, 20)
        expected = r(X)
    assert_close(net(X), expected, what="MyModel()(X)", hidden=True, kind="reduction")


def _reference_grad(state, X):
    r = ref.make_net()
    r.load_state_dict(state)
    r(X).sum().backward()
    return r[0].weight.grad


@points(1)
def test_first_weight_grad_book_net(student, submission):
    """For the book's net and X = torch.rand(2, 4): the (3, 4) gradient of net(X).sum(), the same on a second call."""
    state = _random_state()
    state["0.weight"].abs_()  # with X >= 0 and biases >= 0 every hidden unit is active,
    state["0.bias"].abs_()  # so the gradient has no zero row and is not zero
    net = _book_net(student, submission, state)
    X = torch.rand(2, 4)
    expected = _reference_grad(state, X)
    for call in ("first", "second"):
        grad = student.first_weight_grad(net, X)
        assert_close(grad, expected, what=f"first_weight_grad(net, X) on the {call} call", kind="reduction")


@hidden
@points(2)
def test_first_weight_grad_random(student, submission):
    """Random weights (some hidden units inactive) and batches agree with the reference, call after call."""
    state = _random_state(scale=2.0)
    net = _book_net(student, submission, state)
    for n in (1, 8, 8):
        X = torch.randn(n, 4)
        assert_close(student.first_weight_grad(net, X), _reference_grad(state, X),
                     what=f"first_weight_grad(net, X) for a batch of {n}", hidden=True, kind="reduction")


@points(1)
def test_init_normal_zero_bias_book_net(student, submission):
    """The book's net: biases become exactly 0 ([0., 0., 0.] and [0.]), weights small and random, in place."""
    net = student.make_net()
    student.init_normal_zero_bias(net)
    p = _params(submission, net)
    assert_close(p["0.bias"], torch.zeros(3), what="0.bias", kind="exact")
    assert_close(p["2.bias"], torch.zeros(1), what="2.bias", kind="exact")
    for name in ("0.weight", "2.weight"):
        w = p[name]
        assert w.abs().max() < 0.06 and w.abs().min() < 0.03 and len(w.unique()) == w.numel(), \
            f"{name} does not look drawn from N(0, 0.01^2): {w}"


@hidden
@points(2)
def test_init_normal_distribution(student, submission):
    """On a large net the weights have mean about 0 and the requested standard deviation; biases are 0."""
    for std in (0.01, 0.5):
        layers = nn.Sequential(nn.Linear(200, 300), nn.ReLU(), nn.Linear(300, 100))
        net = student.init_normal_zero_bias(layers, std)
        p = _params(submission, net)
        assert set(p) == {"0.weight", "0.bias", "2.weight", "2.bias"}, "the net's parameters changed names"
        w = torch.cat([p["0.weight"].reshape(-1), p["2.weight"].reshape(-1)])
        assert abs(w.mean().item()) < 0.02 * std, f"the weights' mean is not about 0 (std={std})"
        assert abs(w.std().item() / std - 1) < 0.02, f"the weights' standard deviation is not {std}"
        for name in ("0.bias", "2.bias"):
            assert torch.all(p[name] == 0), f"{name} is not zero (std={std})"


@points(1)
def test_add_to_biases_book_net(student, submission):
    """After zero biases, add_to_biases(net) gives 0.bias = [1., 1., 1.] and 2.bias = [1.]; weights unchanged."""
    state = _random_state()
    state["0.bias"].zero_()
    state["2.bias"].zero_()
    net = _book_net(student, submission, state)
    student.add_to_biases(net)
    p = _params(submission, net)
    assert_close(p["0.bias"], torch.ones(3), what="0.bias", kind="exact")
    assert_close(p["2.bias"], torch.ones(1), what="2.bias", kind="exact")
    assert_close(p["0.weight"], state["0.weight"], what="0.weight (must not change)", kind="exact")


@hidden
@points(1)
def test_add_to_biases_random(student, submission):
    """Random biases and another value: biases shift by exactly that value, weights stay."""
    state = _random_state()
    net = _book_net(student, submission, state)
    student.add_to_biases(net, -2.5)
    p = _params(submission, net)
    for name in BOOK_SHAPES:
        expected = state[name] - 2.5 if "bias" in name else state[name]
        assert_close(p[name], expected, what=name, hidden=True)


def _check_init_weight(w, what, hidden=False):
    a = w.abs()
    ok = (w == 0) | ((a >= 5) & (a <= 10))
    assert bool(ok.all()), f"{what}: every entry must be 0 or have absolute value in [5, 10]" + \
        ("" if hidden else f"; found {w[~ok][:5].tolist()}")
    zeros = (w == 0).float().mean().item()
    assert 0.4 < zeros < 0.6, f"{what}: about half of the entries must be 0, got {zeros:.2f}"
    nz = w[w != 0]
    pos = (nz > 0).float().mean().item()
    assert 0.4 < pos < 0.6, f"{what}: the non-zero entries must be positive and negative about equally often"
    return nz


@points(1)
def test_init_weight_invariant(student):
    """init_weight_ fills the tensor in place: every entry 0 or |x| in [5, 10], about half of them 0."""
    w = torch.zeros(100, 100)
    out = student.init_weight_(w)
    # The course returns the tensor; the book's (4.2) returns None: both are the in-place fill.
    assert out is None or out is w, \
        "init_weight_ must modify the tensor it was given in place (and return it, or nothing)"
    _check_init_weight(w, "the tensor after init_weight_")


@hidden
@points(2)
def test_init_weight_distribution_on_parameter(student):
    """On a tensor that requires grad (like a parameter) the fill is in place and uniform on [5, 10] in absolute value."""
    w = torch.zeros(300, 200, requires_grad=True)
    student.init_weight_(w)
    nz = _check_init_weight(w.detach(), "the tensor after init_weight_", hidden=True)
    assert abs(nz.abs().mean().item() - 7.5) < 0.1, "the non-zero entries are not uniform on 5 <= |x| <= 10"
    assert abs((w.detach() == 0).float().mean().item() - 0.5) < 0.02, "the share of zeros is not about 1/2"
    assert w.requires_grad and w.grad is None, "the tensor must still require grad and have no gradient"


@points(1)
def test_shared_net_book_example(student, submission):
    """shared_net(): one parameter 0.weight = [[3.]]; for x = ones(1, 1) the output is 9 and the gradient 6."""
    net = student.shared_net()
    p = _params(submission, net)
    assert list(p) == ["0.weight"], \
        f"the net must have a single (shared) parameter '0.weight', got {list(p)}"
    assert_close(p["0.weight"], torch.tensor([[3.0]]), what="0.weight")
    y, _ = submission.probe("vjp", net, [torch.ones(1, 1)], [])
    assert_close(y, torch.tensor([[9.0]]), what="net(ones(1, 1))")
    assert_close(net[0].weight.grad, torch.tensor([[6.0]]),
                 what="net[0].weight.grad after backward (3 + 3: the layer is used twice)")


@hidden
@points(2)
def test_shared_net_random(student, submission):
    """Another weight and a random batch: output, weight gradient and input gradient match the reference."""
    w = float(torch.empty(()).uniform_(-2, 2))
    net = student.shared_net(w)
    X = torch.randn(5, 1)
    y, (gx,) = submission.probe("vjp", net, [X], [0])
    r = ref.shared_net(w)
    leaf = X.clone().requires_grad_(True)
    ry = r(leaf)
    ry.backward(torch.ones_like(ry))
    assert_close(y, ry.detach(), what="net(X)", hidden=True)
    assert_close(gx, leaf.grad, what="the gradient w.r.t. X", hidden=True)
    assert_close(net[0].weight.grad, r[0].weight.grad, what="the weight's gradient", hidden=True,
                 kind="reduction")
    assert submission.probe("num_parameters", net) == 1, "the two uses must share one weight"
