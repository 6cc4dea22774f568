"""Graders for ch05_cnn.lenet (D2L 5.5): LeNet's layers, shapes and parameter count.

(LeNet's convergence with ``train_ch5`` is graded in ``test_training.py``.)
"""
import pytest
import torch

from d2lgrade import hidden, points, reference

MODULE = "ch05_cnn.lenet"
ref = reference(MODULE)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


@points(1)
def test_lenet_layers(student, layers):
    """conv = Conv2d, Sigmoid, MaxPool2d, Conv2d, Sigmoid, MaxPool2d; fc = Linear, Sigmoid, Linear, Sigmoid, Linear."""
    net = student.LeNet()
    assert layers(net.conv) == ["Conv2d", "Sigmoid", "MaxPool2d"] * 2, \
        f"net.conv has layers {layers(net.conv)}"
    assert layers(net.fc) == ["Linear", "Sigmoid", "Linear", "Sigmoid", "Linear"], \
        f"net.fc has layers {layers(net.fc)}"


@points(1)
def test_lenet_parameter_count(student, submission):
    """LeNet has 44,426 parameters, with the book's parameter names and shapes."""
    net = student.LeNet()
    n = submission.probe("num_parameters", net)
    assert n == 44426, f"LeNet has {n} parameters, expected 44,426"
    shapes = {k: tuple(v.shape) for k, v in submission.probe("state_dict", net).items()}
    expected = {k: tuple(v.shape) for k, v in ref.LeNet().state_dict().items()}
    assert shapes == expected, f"parameter names/shapes {shapes}; expected {expected}"


@points(1)
def test_lenet_shapes(student, submission):
    """Layer by layer: 6@24x24, 6@12x12, 16@8x8, 16@4x4, then 120, 84 and 10 outputs per example."""
    net = student.LeNet()
    X = torch.rand(2, 1, 28, 28)
    shapes = []
    for blk in net.conv:
        X = submission.probe("forward_no_grad", blk, X)
        shapes.append(tuple(X.shape))
    assert shapes == [(2, 6, 24, 24)] * 2 + [(2, 6, 12, 12), (2, 16, 8, 8), (2, 16, 8, 8), (2, 16, 4, 4)], \
        f"conv output shapes {shapes}"
    out = net(torch.rand(3, 1, 28, 28))
    assert tuple(out.shape) == (3, 10), f"LeNet()(X) has shape {tuple(out.shape)}, expected (3, 10)"


@hidden
@points(2)
def test_lenet_matches_reference(student, same_as_reference):
    """With the same parameters, the output on a random batch equals the reference LeNet's (raw scores)."""
    same_as_reference(student.LeNet(), ref.LeNet(), torch.rand(5, 1, 28, 28), what="LeNet()(X)")
