"""Graders for ch05_cnn.googlenet (D2L 5.9): the Inception block and GoogLeNet's 96x96 shape table."""
import pytest
import torch

from d2lgrade import hidden, points, reference

MODULE = "ch05_cnn.googlenet"
ref = reference(MODULE)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


@points(1)
def test_inception_shape_and_parameters(student, submission):
    """Inception(192, 64, (96, 128), (16, 32), 32) keeps 12x12 and gives 256 channels; parameter names as in the book."""
    blk = student.Inception(192, 64, (96, 128), (16, 32), 32)
    out = blk(torch.rand(1, 192, 12, 12))
    assert tuple(out.shape) == (1, 256, 12, 12), f"output shape {tuple(out.shape)}, expected (1, 256, 12, 12)"
    shapes = {k: tuple(v.shape) for k, v in submission.probe("state_dict", blk).items()}
    expected = {k: tuple(v.shape) for k, v in ref.Inception(192, 64, (96, 128), (16, 32), 32).state_dict().items()}
    assert shapes == expected, f"parameter shapes {shapes}; expected {expected}"


@points(1)
def test_googlenet_shape_table(student, shape_table):
    """GoogLeNet on a 1x96x96 image: 64@24, 192@12, 480@6, 832@3, 1024@1, 1024, 10 (book's table)."""
    table = shape_table(student.googlenet(), torch.rand(1, 1, 96, 96))
    expected = [(1, 64, 24, 24), (1, 192, 12, 12), (1, 480, 6, 6), (1, 832, 3, 3), (1, 1024, 1, 1),
                (1, 1024), (1, 10)]
    assert [s for _, s in table] == expected, f"shape table {table}"


@hidden
@points(2)
def test_inception_matches_reference(student, same_as_reference):
    """A small Inception on a random odd-sized batch equals the reference with the same weights."""
    same_as_reference(student.Inception(5, 2, (3, 4), (2, 3), 2), ref.Inception(5, 2, (3, 4), (2, 3), 2),
                      torch.randn(2, 5, 9, 7), what="Inception(5, 2, (3, 4), (2, 3), 2)(X)")


@hidden
@points(1)
def test_googlenet_one_step_lowers_loss(student, one_step):
    """GoogLeNet on 96x96 inputs (batch 2): one SGD step lowers the loss."""
    X, y = torch.rand(2, 1, 96, 96), torch.tensor([2, 9])
    before, after = one_step(student.googlenet(), X, y, 0.01)
    assert after < before, "one gradient step did not lower the loss"
