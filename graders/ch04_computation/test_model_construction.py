"""Graders for ch04_computation.model_construction (D2L 4.1).

Student modules stay in the child. Their parameters come back through the
``named_parameters`` probe and are loaded into the reference class here, so the reference's
output on the same weights is the expected value. Layers built here are pickled into the
child (``MySequential(*layers)``), so the child works on copies with the same weights. An
``OrderedDict`` argument would arrive in the child as a plain ``dict`` (the wire format
does not keep the type), so the OrderedDict form is built there by the given
``my_sequential_from_pairs``.
"""
from collections import OrderedDict

import pytest
import torch
from torch import nn

from d2lgrade import assert_close, hidden, points, reference, tier

MODULE = "ch04_computation.model_construction"
ref = reference(MODULE)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


def _params(submission, net, expected_shapes, what):
    """The net's named parameters, after checking their names and shapes."""
    params = submission.probe("named_parameters", net)
    shapes = {k: tuple(v.shape) for k, v in params.items()}
    assert shapes == expected_shapes, \
        f"{what}: expected parameters {expected_shapes}, got {shapes}"
    return params


def _reference_with(cls, params):
    """A reference module with the student's parameters loaded."""
    net = cls()
    net.load_state_dict(params, strict=True)
    return net


MLP_SHAPES = {"hidden.weight": (256, 784), "hidden.bias": (256,),
              "output.weight": (10, 256), "output.bias": (10,)}


@points(1)
def test_mlp_structure_and_forward(student, submission):
    """MLP(): hidden Linear(784, 256), ReLU, output Linear(256, 10); X (2, 784) -> (2, 10)."""
    net = student.MLP()
    p = _params(submission, net, MLP_SHAPES, "MLP()")
    X = torch.rand(2, 784)
    expected = torch.relu(X @ p["hidden.weight"].T + p["hidden.bias"]) @ p["output.weight"].T \
        + p["output.bias"]
    assert_close(net(X), expected, what="MLP()(X)", kind="reduction")


@hidden
@points(2)
def test_mlp_matches_reference(student, submission):
    """Outputs and input gradients agree with the reference on the same weights, random inputs."""
    net = student.MLP()
    r = _reference_with(ref.MLP, _params(submission, net, MLP_SHAPES, "MLP()"))
    X = torch.randn(5, 784)
    out, (grad,) = submission.probe("vjp", net, [X], [0])
    leaf = X.clone().requires_grad_(True)
    expected = r(leaf)
    expected.backward(torch.ones_like(expected))
    assert_close(out, expected.detach(), what="MLP()(X)", hidden=True, kind="reduction")
    assert grad is not None, "the output does not depend on the input through autograd"
    assert_close(grad, leaf.grad, what="the gradient w.r.t. X", hidden=True, kind="reduction")


@points(1)
def test_my_sequential_book_example(student, submission):
    """MySequential(Linear(784, 256), ReLU(), Linear(256, 10)) names and applies its layers like nn.Sequential."""
    layers = [nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)]
    net = student.MySequential(*layers)
    p = _params(submission, net, {"0.weight": (256, 784), "0.bias": (256,),
                                  "2.weight": (10, 256), "2.bias": (10,)}, "MySequential(...)")
    assert_close(p["0.weight"], layers[0].weight.detach(), what="0.weight (the first layer you were given)",
                 kind="exact")
    X = torch.rand(2, 784)
    with torch.no_grad():
        expected = nn.Sequential(*layers)(X)
    assert_close(net(X), expected, what="MySequential(...)(X)", kind="reduction")


@points(1)
def test_my_sequential_ordered_dict(student, submission):
    """A single OrderedDict argument (built by the given my_sequential_from_pairs) registers the modules under its names, applied in its order."""
    layers = OrderedDict([("hidden", nn.Linear(4, 8)), ("act", nn.ReLU()), ("output", nn.Linear(8, 3))])
    net = student.my_sequential_from_pairs(list(layers.items()))
    _params(submission, net, {"hidden.weight": (8, 4), "hidden.bias": (8,),
                              "output.weight": (3, 8), "output.bias": (3,)},
            "MySequential(OrderedDict([('hidden', ...), ('act', ...), ('output', ...)]))")
    X = torch.randn(5, 4)
    with torch.no_grad():
        expected = nn.Sequential(layers)(X)
    assert_close(net(X), expected, what="MySequential(OrderedDict(...))(X)", kind="reduction")


@hidden
@points(2)
def test_my_sequential_long_and_unsorted(student, submission):
    """Twelve layers given positionally, and an OrderedDict whose names are not sorted, run in the given order."""
    sizes = [5, 6, 7, 3, 4, 8, 2]
    layers = []
    for i in range(6):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        layers.append(nn.Tanh())
    net = student.MySequential(*layers)
    expected_names = {f"{i}.{k}" for i in range(0, 12, 2) for k in ("weight", "bias")}
    names = set(submission.probe("named_parameters", net))
    assert names == expected_names, "the parameter names of a 12-layer MySequential are wrong"
    X = torch.randn(4, 5)
    with torch.no_grad():
        expected = nn.Sequential(*layers)(X)
    assert_close(net(X), expected, what="a 12-layer MySequential(...)(X)", hidden=True, kind="reduction")

    od = OrderedDict([("z", nn.Linear(3, 5)), ("b", nn.Sigmoid()), ("m", nn.Linear(5, 2)),
                      ("a", nn.Softplus())])
    net = student.my_sequential_from_pairs(list(od.items()))
    X = torch.randn(6, 3)
    with torch.no_grad():
        expected = nn.Sequential(od)(X)
    assert_close(net(X), expected, what="MySequential(OrderedDict) with unsorted names",
                 hidden=True, kind="reduction")


FANCY_SHAPES = {"linear.weight": (20, 20), "linear.bias": (20,)}


def _fancy_reference(submission, net):
    """Reference FancyMLP with the student's linear layer and constant weight."""
    params = _params(submission, net, FANCY_SHAPES, "FancyMLP()")
    rand_weight = net.rand_weight
    assert isinstance(rand_weight, torch.Tensor) and rand_weight.shape == (20, 20), \
        "FancyMLP().rand_weight must be a (20, 20) tensor"
    r = ref.FancyMLP()
    r.load_state_dict(params)
    with torch.no_grad():
        r.rand_weight.copy_(rand_weight)
    return r


@points(1)
def test_fancy_mlp_structure(student, submission):
    """FancyMLP(): only linear.weight/linear.bias are parameters; rand_weight is a constant (20, 20) rand tensor."""
    net = student.FancyMLP()
    _params(submission, net, FANCY_SHAPES, "FancyMLP()")
    w = net.rand_weight
    assert isinstance(w, torch.Tensor) and w.shape == (20, 20), \
        "FancyMLP().rand_weight must be a (20, 20) tensor"
    assert not isinstance(w, nn.Parameter), "rand_weight must not be an nn.Parameter (it is a constant)"
    assert not w.requires_grad, "rand_weight must have requires_grad=False"
    assert w.min() >= 0 and w.max() < 1 and w.std() > 0.1, \
        "rand_weight must be drawn from torch.rand (uniform on [0, 1))"


@points(1)
def test_fancy_mlp_forward(student, submission):
    """FancyMLP()(torch.rand(2, 20)) is a scalar equal to the book's computation on the net's own weights."""
    net = student.FancyMLP()
    r = _fancy_reference(submission, net)
    X = torch.rand(2, 20)
    out = net(X)
    assert isinstance(out, torch.Tensor) and out.shape == (), \
        f"FancyMLP must return a scalar tensor (x.sum()), got {getattr(out, 'shape', type(out).__name__)}"
    with torch.no_grad():
        expected = r(X)
    assert_close(out, expected, what="FancyMLP()(X)", kind="reduction")


@hidden
@points(2)
def test_fancy_mlp_control_flow_and_gradients(student, submission):
    """Inputs of very different sizes (both branches of the control flow) and gradients match the reference; the constant gets no gradient."""
    net = student.FancyMLP()
    r = _fancy_reference(submission, net)
    for scale in (1e-4, 1.0, 50.0):
        X = torch.randn(3, 20) * scale
        out, (grad,) = submission.probe("vjp", net, [X], [0])
        leaf = X.clone().requires_grad_(True)
        expected = r(leaf)
        expected.backward()
        assert_close(out, expected.detach(), what=f"FancyMLP()(X) for inputs of size ~{scale:g}",
                     hidden=True, kind="reduction")
        assert grad is not None, "the output does not depend on the input through autograd"
        assert_close(grad, leaf.grad, what=f"the input gradient for inputs of size ~{scale:g}",
                     hidden=True, kind="reduction", rtol=1e-4, atol=1e-5)
    w = net.rand_weight
    assert not w.requires_grad and w.grad is None, "rand_weight must not receive gradients"
    lin = net.linear.weight
    assert lin.grad is not None, "the linear layer's weight receives no gradient"


@tier("gpu")
@points(1)
def test_fancy_mlp_moves_to_gpu(student, submission):
    """With CUDA: FancyMLP().to('cuda') runs on a cuda batch (rand_weight moves with the module) and matches the CPU result."""
    net = student.FancyMLP()
    r = _fancy_reference(submission, net)
    net.to("cuda")
    X = torch.rand(2, 20)
    out = net(X.cuda())
    assert out.device.type == "cuda", f"the result must stay on the GPU, got one on {out.device}"
    assert net.rand_weight.device.type == "cuda", \
        "rand_weight stayed on the CPU: register it as a (non-persistent) buffer so .to() moves it"
    with torch.no_grad():
        expected = r(X).cuda()
    assert_close(out, expected, what="FancyMLP on the GPU", kind="reduction")


NEST_SHAPES = {"net.0.weight": (30, 40), "net.0.bias": (30,)}


@points(1)
def test_nest_mlp(student, submission):
    """NestMLP(): net = Sequential(Linear(40, 30), ReLU()); X (2, 40) -> (2, 30)."""
    net = student.NestMLP()
    p = _params(submission, net, NEST_SHAPES, "NestMLP()")
    X = torch.randn(2, 40)
    expected = torch.relu(X @ p["net.0.weight"].T + p["net.0.bias"])
    assert_close(net(X), expected, what="NestMLP()(X)", kind="reduction")


@hidden
@points(1)
def test_nest_mlp_matches_reference(student, submission):
    """NestMLP agrees with the reference on the same weights for a random batch."""
    net = student.NestMLP()
    r = _reference_with(ref.NestMLP, _params(submission, net, NEST_SHAPES, "NestMLP()"))
    X = torch.randn(7, 40) * 3
    with torch.no_grad():
        expected = r(X)
    assert_close(net(X), expected, what="NestMLP()(X)", hidden=True, kind="reduction")


NESTED_SHAPES = {"0.net.0.weight": (30, 40), "0.net.0.bias": (30,), "1.weight": (20, 30),
                 "1.bias": (20,), "2.linear.weight": (20, 20), "2.linear.bias": (20,)}


def _nested_reference(submission, net):
    r = ref.nested_net()
    r.load_state_dict(_params(submission, net, NESTED_SHAPES, "nested_net()"))
    rand_weight = net[2].rand_weight
    assert isinstance(rand_weight, torch.Tensor) and rand_weight.shape == (20, 20), \
        "nested_net()[2] must be a FancyMLP with a (20, 20) rand_weight"
    with torch.no_grad():
        r[2].rand_weight.copy_(rand_weight)
    return r


@points(1)
def test_nested_net(student, submission):
    """nested_net() = Sequential(NestMLP(), Linear(30, 20), FancyMLP()); torch.rand(2, 40) gives a scalar."""
    net = student.nested_net()
    r = _nested_reference(submission, net)
    X = torch.rand(2, 40)
    out = net(X)
    assert isinstance(out, torch.Tensor) and out.shape == (), "nested_net()(X) must be a scalar tensor"
    with torch.no_grad():
        expected = r(X)
    assert_close(out, expected, what="nested_net()(X)", kind="reduction")


@hidden
@points(1)
def test_nested_net_matches_reference(student, submission):
    """On random batches the nested model agrees with the reference on the same weights."""
    net = student.nested_net()
    r = _nested_reference(submission, net)
    for n in (1, 6):
        X = torch.randn(n, 40)
        with torch.no_grad():
            expected = r(X)
        assert_close(net(X), expected, what=f"nested_net()(X) for a batch of {n}", hidden=True,
                     kind="reduction")
