"""Graders for ch05_cnn.nin (D2L 5.8): nin_block, GlobalAvgPool2d and NiN's 224x224 shape table."""
import pytest
import torch

from d2lgrade import assert_close, hidden, points, reference

MODULE = "ch05_cnn.nin"
ref = reference(MODULE)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


@points(1)
def test_nin_block_structure(student, submission, layers):
    """nin_block(3, 8, 5, 2, 1): Conv2d(5x5)/ReLU then two 1x1 Conv2d/ReLU; (1, 3, 15, 15) -> (1, 8, 7, 7)."""
    blk = student.nin_block(3, 8, 5, 2, 1)
    assert layers(blk) == ["Conv2d", "ReLU"] * 3, f"layers {layers(blk)}"
    shapes = {k: tuple(v.shape) for k, v in submission.probe("state_dict", blk).items()}
    expected = {k: tuple(v.shape) for k, v in ref.nin_block(3, 8, 5, 2, 1).state_dict().items()}
    assert shapes == expected, f"parameter shapes {shapes}; expected {expected}"
    out = submission.probe("forward_no_grad", blk, torch.rand(1, 3, 15, 15))
    assert tuple(out.shape) == (1, 8, 7, 7), f"output shape {tuple(out.shape)}"


@points(1)
def test_global_avg_pool(student):
    """GlobalAvgPool2d on (2, 3, 5, 7) gives the per-channel means, shape (2, 3, 1, 1)."""
    X = torch.randn(2, 3, 5, 7)
    assert_close(student.GlobalAvgPool2d()(X), X.mean(dim=(2, 3), keepdim=True),
                 what="GlobalAvgPool2d()(X)", kind="reduction")


@points(1)
def test_nin_shape_table(student, shape_table):
    """NiN on a 1x224x224 image gives the book's ten output shapes."""
    table = shape_table(student.nin(), torch.rand(1, 1, 224, 224))
    expected = [(1, 96, 54, 54), (1, 96, 26, 26), (1, 256, 26, 26), (1, 256, 12, 12), (1, 384, 12, 12),
                (1, 384, 5, 5), (1, 384, 5, 5), (1, 10, 5, 5), (1, 10, 1, 1), (1, 10)]
    assert [s for _, s in table] == expected, f"shape table {table}"


@hidden
@points(1)
def test_nin_block_matches_reference(student, same_as_reference):
    """nin_block(2, 4, 3, 2, 1) on a random odd-sized batch equals the reference with the same weights."""
    same_as_reference(student.nin_block(2, 4, 3, 2, 1), ref.nin_block(2, 4, 3, 2, 1),
                      torch.randn(3, 2, 9, 8), what="nin_block(2, 4, 3, 2, 1)(X)")


@hidden
@points(1)
def test_global_avg_pool_other_sizes(student):
    """Other sizes (1x1 maps, one row, float64) give the per-channel means."""
    for shape, dtype in [((1, 4, 1, 1), torch.float32), ((3, 2, 1, 9), torch.float32), ((2, 5, 6, 3), torch.float64)]:
        X = torch.randn(shape, dtype=dtype)
        assert_close(student.GlobalAvgPool2d()(X), X.mean(dim=(2, 3), keepdim=True),
                     what=f"GlobalAvgPool2d on {shape}", hidden=True, kind="reduction")


@hidden
@points(1)
def test_nin_one_step_lowers_loss(student, one_step):
    """NiN on 96x96 inputs (batch 2, eval mode): one SGD step lowers the loss."""
    X, y = torch.rand(2, 1, 96, 96), torch.tensor([0, 5])
    before, after = one_step(student.nin(), X, y, 0.05, train=False)
    assert after < before, "one gradient step did not lower the loss"
