"""Graders for ch09_vision.augmentation (D2L 9.1, and 9.2's test preprocessing).

Random transforms draw from torch's global generator: a test seeds the student's process and
this one with the same seed, applies the student's transform there and the reference's here,
and compares the images (so the book's parameters are checked, not only the shapes). Property
tests check shapes, dtypes, value ranges and what a flip or crop may produce.
"""
import pytest
import torch
from torchvision import transforms

from d2lgrade import GradeFailure, assert_close, hidden, points, reference

MODULE = "ch09_vision.augmentation"
ref = reference(MODULE)
TO_TENSOR = transforms.ToTensor()


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


def _draws(submission, aug, img, n, seed, convert=True):
    """n applications of a student transform in the student's process, after seeding it
    (PIL results are converted there with ToTensor when ``convert``)."""
    submission.module("torch").manual_seed(seed)
    tt = submission.module("torchvision.transforms").ToTensor()
    out = []
    for _ in range(n):
        y = aug(img)
        if convert and not isinstance(y, torch.Tensor):
            y = tt(y)                         # a PIL image stays there; convert it there
        out.append(y)
    return out


def _ref_draws(aug, img, n, seed):
    torch.manual_seed(seed)
    return [y if isinstance(y, torch.Tensor) else TO_TENSOR(y) for y in (aug(img) for _ in range(n))]


def _check_image(y, shape, what):
    __tracebackhide__ = True
    if not isinstance(y, torch.Tensor):
        raise GradeFailure(f"{what}: expected a tensor (end the pipeline with ToTensor), got {type(y).__name__}")
    if tuple(y.shape) != shape or y.dtype != torch.float32:
        raise GradeFailure(f"{what}: expected a float32 tensor of shape {shape}, got {y.dtype} {tuple(y.shape)}")
    if float(y.min()) < 0 or float(y.max()) > 1:
        raise GradeFailure(f"{what}: values must lie in [0, 1], got [{float(y.min()):.3f}, {float(y.max()):.3f}]")


@points(2)
def test_flip_aug_flips_horizontally_or_not(student, submission, picture):
    """flip_aug gives float32 (3, 40, 60) tensors in [0, 1], each the image or its left-right mirror; over 20 draws both occur."""
    aug = student.flip_aug()
    plain = TO_TENSOR(picture)
    kinds = set()
    for i, y in enumerate(_draws(submission, aug, picture, 20, seed=3, convert=False)):
        _check_image(y, (3, 40, 60), f"flip_aug draw {i}")
        if torch.equal(y, plain):
            kinds.add("same")
        elif torch.equal(y, plain.flip(-1)):
            kinds.add("mirrored")
        else:
            raise GradeFailure(f"flip_aug draw {i} is neither the image nor its left-right mirror")
    assert kinds == {"same", "mirrored"}, f"over 20 draws flip_aug only gave: {sorted(kinds)} (p should be 0.5)"


@hidden
@points(1)
def test_flip_aug_seeded(student, submission, picture):
    """Under a fresh seed, flip_aug's draws are the reference's draws."""
    seed = int(torch.randint(0, 2**31 - 1, ()))
    for i, (g, e) in enumerate(zip(_draws(submission, student.flip_aug(), picture, 8, seed),
                                   _ref_draws(ref.flip_aug(), picture, 8, seed))):
        assert_close(g, e, what=f"flip_aug draw {i}", hidden=True)


@points(2)
def test_shape_aug_sizes_and_crops(student, submission, picture):
    """shape_aug(32) gives 32 x 32 crops of the image; under seed 0 they are the book's RandomResizedCrop(scale=(0.1, 1), ratio=(0.5, 2)) crops."""
    got = _draws(submission, student.shape_aug(32), picture, 8, seed=0)
    for i, y in enumerate(got):
        _check_image(y, (3, 32, 32), f"shape_aug(32) draw {i}")
    expected = _ref_draws(transforms.RandomResizedCrop(32, scale=(0.1, 1), ratio=(0.5, 2)), picture, 8, seed=0)
    for i, (g, e) in enumerate(zip(got, expected)):
        assert_close(g, e, what=f"shape_aug(32) draw {i} (seed 0)", rtol=0, atol=1e-6)


@hidden
@points(1)
def test_shape_aug_seeded_default_size(student, submission, picture):
    """The default output size is 200 x 200 and the draws match the reference under a fresh seed."""
    seed = int(torch.randint(0, 2**31 - 1, ()))
    got = _draws(submission, student.shape_aug(), picture, 4, seed)
    for i, (g, e) in enumerate(zip(got, _ref_draws(ref.shape_aug(), picture, 4, seed))):
        assert_close(g, e, what=f"shape_aug() draw {i}", hidden=True, rtol=0, atol=1e-6)


@points(1)
def test_color_aug_keeps_shape_changes_colours(student, submission, picture):
    """color_aug keeps the image's size, changes its colours, and under seed 0 matches ColorJitter(0.5, 0.5, 0.5, 0.5)."""
    got = _draws(submission, student.color_aug(), picture, 6, seed=0)
    plain = TO_TENSOR(picture)
    for i, y in enumerate(got):
        _check_image(y, (3, 40, 60), f"color_aug draw {i}")
    assert not all(torch.equal(y, plain) for y in got), "color_aug never changed the image"
    expected = _ref_draws(transforms.ColorJitter(brightness=0.5, contrast=0.5, saturation=0.5, hue=0.5),
                          picture, 6, seed=0)
    for i, (g, e) in enumerate(zip(got, expected)):
        assert_close(g, e, what=f"color_aug draw {i} (seed 0)", rtol=0, atol=1e-6)


@hidden
@points(1)
def test_color_aug_seeded(student, submission, picture):
    """Under a fresh seed, color_aug's draws are the reference's."""
    seed = int(torch.randint(0, 2**31 - 1, ()))
    for i, (g, e) in enumerate(zip(_draws(submission, student.color_aug(), picture, 6, seed),
                                   _ref_draws(ref.color_aug(), picture, 6, seed))):
        assert_close(g, e, what=f"color_aug draw {i}", hidden=True, rtol=0, atol=1e-6)


@points(2)
def test_train_augs_range_and_seeded(student, submission, picture):
    """train_augs(48) gives float32 (3, 48, 48) tensors in [0, 1]; under seed 1 they match flip, colour, crop, ToTensor in that order."""
    got = _draws(submission, student.train_augs(48), picture, 6, seed=1)
    for i, y in enumerate(got):
        _check_image(y, (3, 48, 48), f"train_augs(48) draw {i}")
    expected = _ref_draws(ref.train_augs(48), picture, 6, seed=1)
    for i, (g, e) in enumerate(zip(got, expected)):
        assert_close(g, e, what=f"train_augs(48) draw {i} (seed 1)", rtol=0, atol=1e-6)


@hidden
@points(1)
def test_train_augs_seeded(student, submission, picture):
    """Under a fresh seed, train_augs()'s draws are the reference's (default size)."""
    seed = int(torch.randint(0, 2**31 - 1, ()))
    got = _draws(submission, student.train_augs(), picture, 3, seed)
    for i, (g, e) in enumerate(zip(got, _ref_draws(ref.train_augs(), picture, 3, seed))):
        assert_close(g, e, what=f"train_augs() draw {i}", hidden=True, rtol=0, atol=1e-6)


@points(2)
def test_test_augs_deterministic(student, submission, picture):
    """test_augs(32, 36) is deterministic: Resize(36), CenterCrop(32), ToTensor, ImageNet Normalize; shape (3, 32, 32)."""
    aug = student.test_augs(32, 36)
    a, b = aug(picture), aug(picture)
    if not isinstance(a, torch.Tensor):
        raise GradeFailure(f"test_augs must end with ToTensor and Normalize, got {type(a).__name__}")
    assert torch.equal(a, b), "test_augs is random: two applications differ"
    expected = transforms.Compose([transforms.Resize(36), transforms.CenterCrop(32), transforms.ToTensor(),
                                   transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])(picture)
    assert_close(a, expected, what="test_augs(32, 36)(picture)", rtol=0, atol=1e-6)


@hidden
@points(1)
def test_test_augs_default_sizes(student, picture):
    """The default test_augs (224, 256) gives the reference's tensor."""
    assert_close(student.test_augs()(picture), ref.test_augs()(picture), what="test_augs()", hidden=True,
                 rtol=0, atol=1e-6)


@points(2)
def test_apply_stacks_fresh_draws(student, submission, picture):
    """apply(img, flip_aug, 2, 4) returns an (8, 3, 40, 60) tensor of fresh draws in order (seeded: the same as 8 calls of the transform)."""
    tf = submission.module("torchvision.transforms")
    aug = tf.Compose([tf.RandomHorizontalFlip(), tf.ToTensor()])
    submission.module("torch").manual_seed(5)
    Y = student.apply(picture, aug, 2, 4)
    if not isinstance(Y, torch.Tensor):
        raise GradeFailure(f"apply must return one stacked tensor, got {type(Y).__name__}")
    assert tuple(Y.shape) == (8, 3, 40, 60), f"expected shape (8, 3, 40, 60), got {tuple(Y.shape)}"
    expected = torch.stack(_ref_draws(transforms.Compose([transforms.RandomHorizontalFlip(), transforms.ToTensor()]),
                                      picture, 8, seed=5))
    assert_close(Y, expected, what="apply(img, flip, 2, 4)", rtol=0, atol=1e-6)


@hidden
@points(1)
def test_apply_pil_transform_and_shape(student, submission, picture):
    """apply with a transform that returns PIL images (a crop) converts them; 3 x 2 grid; the reference's draws under a fresh seed."""
    seed = int(torch.randint(0, 2**31 - 1, ()))
    tf = submission.module("torchvision.transforms")
    submission.module("torch").manual_seed(seed)
    Y = student.apply(picture, tf.RandomResizedCrop(24, scale=(0.1, 1), ratio=(0.5, 2)), 3, 2)
    torch.manual_seed(seed)
    expected = ref.apply(picture, transforms.RandomResizedCrop(24, scale=(0.1, 1), ratio=(0.5, 2)), 3, 2)
    assert_close(Y, expected, what="apply(img, crop, 3, 2)", hidden=True, rtol=0, atol=1e-6)
