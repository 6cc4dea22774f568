"""Graders for ch05_cnn.resnet (D2L 5.11): Residual, resnet_block and ResNet-18."""
import pytest
import torch

from d2lgrade import hidden, points, reference

MODULE = "ch05_cnn.resnet"
ref = reference(MODULE)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


@points(1)
def test_residual_book_shapes(student):
    """Residual(3, 3) keeps (4, 3, 6, 6); Residual(3, 6, use_1x1conv=True, stride=2) gives (4, 6, 3, 3)."""
    X = torch.rand(4, 3, 6, 6)
    out = student.Residual(3, 3)(X)
    assert tuple(out.shape) == (4, 3, 6, 6), f"Residual(3, 3)(X) has shape {tuple(out.shape)}"
    out = student.Residual(3, 6, use_1x1conv=True, stride=2)(X)
    assert tuple(out.shape) == (4, 6, 3, 3), f"Residual(3, 6, True, 2)(X) has shape {tuple(out.shape)}"


@points(1)
def test_residual_parameters(student, submission):
    """The parameter names and shapes are the book's (conv1, conv2, conv3 when use_1x1conv, bn1, bn2)."""
    for args in [(3, 3), (3, 6, True, 2)]:
        shapes = {k: tuple(v.shape) for k, v in submission.probe("state_dict", student.Residual(*args)).items()}
        expected = {k: tuple(v.shape) for k, v in ref.Residual(*args).state_dict().items()}
        assert shapes == expected, f"Residual{args}: parameter shapes {shapes}; expected {expected}"


@points(1)
def test_resnet_block_shapes(student, submission):
    """A first block keeps (2, 8, 6, 6); resnet_block(3, 6, 2) halves 8x8 to (2, 6, 4, 4)."""
    out = submission.probe("forward_no_grad", student.resnet_block(8, 8, 2, first_block=True), torch.rand(2, 8, 6, 6))
    assert tuple(out.shape) == (2, 8, 6, 6), f"first block output shape {tuple(out.shape)}"
    out = submission.probe("forward_no_grad", student.resnet_block(3, 6, 2), torch.rand(2, 3, 8, 8))
    assert tuple(out.shape) == (2, 6, 4, 4), f"resnet_block(3, 6, 2) output shape {tuple(out.shape)}"


@points(1)
def test_resnet18_shape_table(student, submission, shape_table):
    """ResNet-18 on a 1x224x224 image gives the book's table; 11,178,378 parameters."""
    net = student.resnet18()
    submission.probe("set_mode", net, False)
    table = shape_table(net, torch.rand(1, 1, 224, 224))
    expected = [("0", (1, 64, 112, 112)), ("1", (1, 64, 112, 112)), ("2", (1, 64, 112, 112)),
                ("3", (1, 64, 56, 56)), ("resnet_block1", (1, 64, 56, 56)), ("resnet_block2", (1, 128, 28, 28)),
                ("resnet_block3", (1, 256, 14, 14)), ("resnet_block4", (1, 512, 7, 7)),
                ("global_avg_pool", (1, 512, 1, 1)), ("fc", (1, 10))]
    assert table == expected, f"shape table {table}"
    n = submission.probe("num_parameters", net)
    assert n == 11178378, f"ResNet-18 has {n} parameters, expected 11,178,378"


@hidden
@points(2)
def test_residual_matches_reference(student, same_as_reference):
    """Both kinds of residual block equal the reference in training and eval mode on random odd-sized inputs."""
    for args, X in [((4, 4), torch.randn(3, 4, 7, 5)), ((2, 5, True, 2), torch.randn(3, 2, 9, 6))]:
        for train in (True, False):
            same_as_reference(student.Residual(*args), ref.Residual(*args), X, train=train,
                              what=f"Residual{args}(X) in {'training' if train else 'eval'} mode")


@hidden
@points(1)
def test_resnet_block_matches_reference(student, same_as_reference):
    """resnet_block(3, 4, 3) equals the reference with the same weights (training mode)."""
    same_as_reference(student.resnet_block(3, 4, 3), ref.resnet_block(3, 4, 3), torch.randn(2, 3, 11, 10),
                      train=True, what="resnet_block(3, 4, 3)(X)")


@hidden
@points(1)
def test_resnet18_one_step_lowers_loss(student, one_step):
    """ResNet-18 on 32x32 inputs (batch 4, training mode): one SGD step lowers the loss."""
    X, y = torch.rand(4, 1, 32, 32), torch.tensor([0, 3, 6, 9])
    before, after = one_step(student.resnet18(), X, y, 0.005)
    assert after < before, "one gradient step did not lower the loss"
