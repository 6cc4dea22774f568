"""Graders for ch05_cnn.densenet (D2L 5.12): conv_block, DenseBlock, transition_block, DenseNet."""
import pytest
import torch

from d2lgrade import hidden, points, reference

MODULE = "ch05_cnn.densenet"
ref = reference(MODULE)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


@points(1)
def test_conv_block_structure(student, submission, layers):
    """conv_block(3, 5): BatchNorm2d(3), ReLU, Conv2d(3, 5, 3, padding=1); size kept."""
    blk = student.conv_block(3, 5)
    assert layers(blk) == ["BatchNorm2d", "ReLU", "Conv2d"], f"layers {layers(blk)}"
    shapes = {k: tuple(v.shape) for k, v in submission.probe("state_dict", blk).items()}
    expected = {k: tuple(v.shape) for k, v in ref.conv_block(3, 5).state_dict().items()}
    assert shapes == expected, f"parameter shapes {shapes}; expected {expected}"
    out = submission.probe("forward_no_grad", blk, torch.rand(2, 3, 7, 7))
    assert tuple(out.shape) == (2, 5, 7, 7), f"output shape {tuple(out.shape)}"


@points(1)
def test_dense_block_book_shape(student):
    """DenseBlock(2, 3, 10) on (4, 3, 8, 8) gives (4, 23, 8, 8); out_channels is 23."""
    blk = student.DenseBlock(2, 3, 10)
    out = blk(torch.rand(4, 3, 8, 8))
    assert tuple(out.shape) == (4, 23, 8, 8), f"output shape {tuple(out.shape)}, expected (4, 23, 8, 8)"
    assert blk.out_channels == 23, f"out_channels is {blk.out_channels}, expected 23"


@points(1)
def test_transition_block_book_shape(student, layers):
    """transition_block(23, 10) on (4, 23, 8, 8) gives (4, 10, 4, 4): BatchNorm2d, ReLU, 1x1 Conv2d, AvgPool2d."""
    blk = student.transition_block(23, 10)
    assert layers(blk) == ["BatchNorm2d", "ReLU", "Conv2d", "AvgPool2d"], f"layers {layers(blk)}"
    out = blk(torch.rand(4, 23, 8, 8))
    assert tuple(out.shape) == (4, 10, 4, 4), f"output shape {tuple(out.shape)}, expected (4, 10, 4, 4)"


@points(1)
def test_densenet_shape_table(student, submission, shape_table):
    """DenseNet on a 1x96x96 image gives the book's table (192, 96, 224, 112, 240, 120, 248 channels)."""
    net = student.densenet()
    submission.probe("set_mode", net, False)
    table = shape_table(net, torch.rand(1, 1, 96, 96))
    expected = [("0", (1, 64, 48, 48)), ("1", (1, 64, 48, 48)), ("2", (1, 64, 48, 48)), ("3", (1, 64, 24, 24)),
                ("DenseBlosk_0", (1, 192, 24, 24)), ("transition_block_0", (1, 96, 12, 12)),
                ("DenseBlosk_1", (1, 224, 12, 12)), ("transition_block_1", (1, 112, 6, 6)),
                ("DenseBlosk_2", (1, 240, 6, 6)), ("transition_block_2", (1, 120, 3, 3)),
                ("DenseBlosk_3", (1, 248, 3, 3)), ("BN", (1, 248, 3, 3)), ("relu", (1, 248, 3, 3)),
                ("global_avg_pool", (1, 248, 1, 1)), ("fc", (1, 10))]
    assert table == expected, f"shape table {table}"


@hidden
@points(1)
def test_conv_block_matches_reference(student, same_as_reference):
    """conv_block(4, 3) equals the reference with the same weights, training and eval mode."""
    for train in (True, False):
        same_as_reference(student.conv_block(4, 3), ref.conv_block(4, 3), torch.randn(3, 4, 6, 5), train=train,
                          what="conv_block(4, 3)(X)")


@hidden
@points(2)
def test_dense_block_matches_reference(student, same_as_reference):
    """DenseBlock(3, 2, 4) concatenates (input first) exactly like the reference, training mode."""
    same_as_reference(student.DenseBlock(3, 2, 4), ref.DenseBlock(3, 2, 4), torch.randn(2, 2, 7, 9), train=True,
                      what="DenseBlock(3, 2, 4)(X)")


@hidden
@points(1)
def test_transition_block_matches_reference(student, same_as_reference):
    """transition_block(6, 3) on an odd-sized input equals the reference (eval mode)."""
    same_as_reference(student.transition_block(6, 3), ref.transition_block(6, 3), torch.randn(2, 6, 9, 7),
                      what="transition_block(6, 3)(X)")


@hidden
@points(1)
def test_densenet_one_step_lowers_loss(student, one_step):
    """DenseNet on 48x48 inputs (batch 4, training mode): one SGD step lowers the loss."""
    X, y = torch.rand(4, 1, 48, 48), torch.tensor([1, 2, 3, 4])
    before, after = one_step(student.densenet(), X, y, 0.01)
    assert after < before, "one gradient step did not lower the loss"
