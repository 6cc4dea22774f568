"""Graders for ch05_cnn.alexnet (D2L 5.6): layers, 224x224 shapes (batch 1), parameter count, one step."""
import pytest
import torch

from d2lgrade import hidden, points, reference

MODULE = "ch05_cnn.alexnet"
ref = reference(MODULE)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


@pytest.fixture
def net(student):
    """A fresh AlexNet per test (built inside the test, so a failing constructor fails the test)."""
    return student.AlexNet


@points(1)
def test_alexnet_layers(net, layers):
    """conv: 5 Conv2d with ReLU and 3 MaxPool2d in the book's order; fc: Linear/ReLU/Dropout twice, then Linear."""
    net = net()
    expected_conv = ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU",
                     "Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d"]
    assert layers(net.conv) == expected_conv, f"net.conv has layers {layers(net.conv)}"
    assert layers(net.fc) == ["Linear", "ReLU", "Dropout"] * 2 + ["Linear"], f"net.fc has layers {layers(net.fc)}"


@points(1)
def test_alexnet_parameter_count(net, submission):
    """AlexNet (1 input channel, 10 classes) has 46,764,746 parameters."""
    net = net()
    n = submission.probe("num_parameters", net)
    assert n == 46764746, f"AlexNet has {n} parameters, expected 46,764,746"


@points(1)
def test_alexnet_shapes_224(net, submission):
    """A 1x224x224 image: 96@54 -> 26 -> 256@26 -> 12 -> 384@12 -> 384@12 -> 256@12 -> 256@5, then 10 scores."""
    net = net()
    X = torch.rand(1, 1, 224, 224)
    shapes = []
    for blk in net.conv:
        X = submission.probe("forward_no_grad", blk, X)
        shapes.append(tuple(X.shape[1:]))
    expected = [(96, 54, 54), (96, 54, 54), (96, 26, 26), (256, 26, 26), (256, 26, 26), (256, 12, 12),
                (384, 12, 12), (384, 12, 12), (384, 12, 12), (384, 12, 12), (256, 12, 12), (256, 12, 12),
                (256, 5, 5)]
    assert shapes == expected, f"conv output shapes (without the batch) {shapes}"
    submission.probe("set_mode", net, False)
    out = submission.probe("forward_no_grad", net, torch.rand(1, 1, 224, 224))
    assert tuple(out.shape) == (1, 10), f"AlexNet()(X) has shape {tuple(out.shape)}"


@hidden
@points(1)
def test_alexnet_one_step_lowers_loss(net, one_step):
    """One small SGD step (eval mode, batch 2) lowers the cross-entropy loss."""
    net = net()
    X, y = torch.rand(2, 1, 224, 224), torch.tensor([3, 7])
    before, after = one_step(net, X, y, 0.01, train=False)
    assert after < before, "one gradient step did not lower the loss"
