"""Graders for ch05_cnn.vgg (D2L 5.7): vgg_block, VGG-11 shapes (224, batch 1), the narrow VGG."""
import pytest
import torch

from d2lgrade import hidden, points, reference

MODULE = "ch05_cnn.vgg"
ref = reference(MODULE)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


@points(1)
def test_vgg_block_layers_and_shape(student, submission, layers):
    """vgg_block(2, 3, 8): Conv2d, ReLU, Conv2d, ReLU, MaxPool2d; (1, 3, 16, 16) -> (1, 8, 8, 8); 15x15 -> 7x7."""
    blk = student.vgg_block(2, 3, 8)
    assert layers(blk) == ["Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d"], f"layers {layers(blk)}"
    out = submission.probe("forward_no_grad", blk, torch.rand(1, 3, 16, 16))
    assert tuple(out.shape) == (1, 8, 8, 8), f"output shape {tuple(out.shape)}, expected (1, 8, 8, 8)"
    out = submission.probe("forward_no_grad", blk, torch.rand(2, 3, 15, 15))
    assert tuple(out.shape) == (2, 8, 7, 7), f"output shape {tuple(out.shape)} for 15x15, expected (2, 8, 7, 7)"


@points(1)
def test_vgg11_shape_table(student, shape_table):
    """VGG-11 on a 1x224x224 image: 64@112, 128@56, 256@28, 512@14, 512@7, then 10 scores (book's table)."""
    net = student.vgg(ref.conv_arch, ref.fc_features, ref.fc_hidden_units)
    table = shape_table(net, torch.rand(1, 1, 224, 224))
    expected = [("vgg_block_1", (1, 64, 112, 112)), ("vgg_block_2", (1, 128, 56, 56)),
                ("vgg_block_3", (1, 256, 28, 28)), ("vgg_block_4", (1, 512, 14, 14)),
                ("vgg_block_5", (1, 512, 7, 7)), ("fc", (1, 10))]
    assert table == expected, f"shape table {table}"


@points(1)
def test_small_vgg_parameters(student, submission):
    """The book's narrow VGG (ratio 8) has the reference's parameter names and shapes (3x3 kernels)."""
    net = student.small_vgg(8)
    shapes = {k: tuple(v.shape) for k, v in submission.probe("state_dict", net).items()}
    expected = {k: tuple(v.shape) for k, v in ref.small_vgg(8).state_dict().items()}
    assert shapes == expected, f"parameter shapes {shapes}; expected {expected}"


@hidden
@points(1)
def test_vgg_block_matches_reference(student, same_as_reference):
    """vgg_block(3, 2, 5) on an odd-sized random batch equals the reference with the same weights."""
    same_as_reference(student.vgg_block(3, 2, 5), ref.vgg_block(3, 2, 5), torch.randn(2, 2, 9, 11),
                      what="vgg_block(3, 2, 5)(X)")


@hidden
@points(1)
def test_small_vgg_one_step_lowers_loss(student, one_step):
    """The narrow VGG at 224x224 (batch 2, eval mode): one SGD step lowers the loss."""
    X, y = torch.rand(2, 1, 224, 224), torch.tensor([1, 8])
    before, after = one_step(student.small_vgg(8), X, y, 0.05, train=False)
    assert after < before, "one gradient step did not lower the loss"
