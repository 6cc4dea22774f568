"""Graders for ch04_computation.custom_layers (D2L 4.4).

The student's parameters are read with the ``named_parameters`` probe and loaded into the
reference layer here; both then run on the same random inputs.
"""
import pytest
import torch

from d2lgrade import assert_close, hidden, points, reference

MODULE = "ch04_computation.custom_layers"
ref = reference(MODULE)

DENSE_SHAPES = {"params.0": (4, 4), "params.1": (4, 4), "params.2": (4, 4), "params.3": (4, 1)}
DICT_SHAPES = {"params.linear1": (4, 4), "params.linear2": (4, 1), "params.linear3": (4, 2)}


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


def _params(submission, net, expected_shapes, what):
    params = submission.probe("named_parameters", net)
    shapes = {k: tuple(v.shape) for k, v in params.items()}
    assert shapes == expected_shapes, f"{what}: expected parameters {expected_shapes}, got {shapes}"
    return params


@points(1)
def test_centered_layer_book_example(student, submission):
    """CenteredLayer()(tensor([1., 2., 3., 4., 5.])) is [-2., -1., 0., 1., 2.]; the layer has no parameters."""
    layer = student.CenteredLayer()
    assert_close(layer(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])), torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0]),
                 what="CenteredLayer()(tensor([1, 2, 3, 4, 5]))")
    assert submission.probe("num_parameters", layer) == 0, "CenteredLayer must have no parameters"


@points(1)
def test_centered_layer_after_linear(student):
    """After nn.Linear(8, 128) on torch.rand(4, 8) the (4, 128) output is centered: mean 0, y - y.mean()."""
    linear = torch.nn.Linear(8, 128)
    with torch.no_grad():
        Y = linear(torch.rand(4, 8))
    out = student.CenteredLayer()(Y)
    assert_close(out, Y - Y.mean(), what="CenteredLayer()(Y) for Y of shape (4, 128)")
    assert abs(out.mean().item()) < 1e-6, f"the output's mean is {out.mean().item():g}, not 0"


@hidden
@points(2)
def test_centered_layer_random_and_gradient(student, submission):
    """3-D random inputs: values and gradients agree with the reference; the input is left unchanged."""
    layer = student.CenteredLayer()
    X = torch.randn(3, 4, 5) + 2.0
    X0 = X.clone()
    assert_close(layer(X), ref.CenteredLayer()(X0), what="CenteredLayer()(X)", hidden=True, kind="reduction")
    assert_close(X, X0, what="the input after the call (it must not be modified)", hidden=True)
    g = torch.randn(3, 4, 5)
    _, (grad,) = submission.probe("vjp", layer, [X], [0], g)
    assert grad is not None, "the output does not depend on the input through autograd"
    assert_close(grad, g - g.mean(), what="the gradient w.r.t. the input", hidden=True, kind="reduction")


@points(1)
def test_my_dense(student, submission):
    """MyDense(): a ParameterList of three (4, 4) and one (4, 1) parameters; ones(1, 4) -> their chained product (1, 1)."""
    net = student.MyDense()
    p = _params(submission, net, DENSE_SHAPES, "MyDense()")
    x = torch.ones(1, 4)
    expected = x @ p["params.0"] @ p["params.1"] @ p["params.2"] @ p["params.3"]
    assert_close(net(x), expected, what="MyDense()(ones(1, 4))", kind="reduction")


@hidden
@points(2)
def test_my_dense_random(student, submission):
    """randn-initialized parameters; random batches and input gradients agree with the reference."""
    net = student.MyDense()
    p = _params(submission, net, DENSE_SHAPES, "MyDense()")
    values = torch.cat([v.reshape(-1) for v in p.values()])
    assert values.min() < 0 < values.max() and values.std() > 0.5, "the parameters must come from torch.randn"
    r = ref.MyDense()
    r.load_state_dict(p)
    X = torch.randn(6, 4)
    out, (grad,) = submission.probe("vjp", net, [X], [0])
    leaf = X.clone().requires_grad_(True)
    expected = r(leaf)
    expected.backward(torch.ones_like(expected))
    assert_close(out, expected.detach(), what="MyDense()(X)", hidden=True, kind="reduction")
    assert grad is not None, "the output does not depend on the input through autograd"
    assert_close(grad, leaf.grad, what="the gradient w.r.t. X", hidden=True, kind="reduction")


@points(1)
def test_my_dict_dense(student, submission):
    """MyDictDense(): linear1 (4, 4), linear2 (4, 1), linear3 (4, 2); ones(1, 4) gives shapes (1, 4), (1, 1), (1, 2)."""
    net = student.MyDictDense()
    p = _params(submission, net, DICT_SHAPES, "MyDictDense()")
    x = torch.ones(1, 4)
    assert_close(net(x), x @ p["params.linear1"], what="MyDictDense()(x) (default choice linear1)",
                 kind="reduction")
    for choice in ("linear1", "linear2", "linear3"):
        assert_close(net(x, choice), x @ p[f"params.{choice}"], what=f"MyDictDense()(x, '{choice}')",
                     kind="reduction")


@hidden
@points(1)
def test_my_dict_dense_random(student, submission):
    """Random batches for each choice (positional and keyword) agree with the reference on the same parameters."""
    net = student.MyDictDense()
    r = ref.MyDictDense()
    r.load_state_dict(_params(submission, net, DICT_SHAPES, "MyDictDense()"))
    X = torch.randn(5, 4)
    with torch.no_grad():
        for choice in ("linear3", "linear2", "linear1"):
            assert_close(net(X, choice=choice), r(X, choice), what=f"MyDictDense()(X, choice='{choice}')",
                         hidden=True, kind="reduction")
        assert_close(net(X), r(X), what="MyDictDense()(X)", hidden=True, kind="reduction")
