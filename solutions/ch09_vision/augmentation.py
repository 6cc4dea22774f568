"""D2L 9.1 (图像增广) and the preprocessing of 9.2 (微调): augmentation with torchvision transforms.

Each function returns a torchvision transform built from the book's calls (random flips,
random resized crops, colour jitter, ``ToTensor``, ``Normalize``). Random transforms draw
from torch's global random generator, so ``torch.manual_seed`` makes them reproducible: the
graders seed, apply the student's transform and the reference's, and compare the images.
``ToTensor`` turns a PIL image of shape H x W x 3 (uint8) into a float32 tensor (3, H, W) in
[0, 1]. Random augmentation is for training only; ``test_augs`` is deterministic.
"""
import torch
from torchvision import transforms

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def show_images(imgs, num_rows, num_cols, scale=2):
    """Plot images in a grid (given code, the book's helper); returns the axes."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    _, axes = plt.subplots(num_rows, num_cols, figsize=(num_cols * scale, num_rows * scale), squeeze=False)
    for i in range(num_rows):
        for j in range(num_cols):
            img = imgs[i * num_cols + j]
            if isinstance(img, torch.Tensor):
                img = img.permute(1, 2, 0).clamp(0, 1).numpy()
            axes[i][j].imshow(img)
            axes[i][j].axes.get_xaxis().set_visible(False)
            axes[i][j].axes.get_yaxis().set_visible(False)
    return axes


def flip_aug():
    """The book's ``flip_aug``: a random horizontal flip (probability 0.5), then ``ToTensor``."""
    # BEGIN SOLUTION
    return transforms.Compose([transforms.RandomHorizontalFlip(), transforms.ToTensor()])
    # END SOLUTION


def shape_aug(size=200):
    """The book's ``shape_aug``: a random crop of 10 % to 100 % of the image's area with aspect
    ratio (width / height) between 0.5 and 2, resized to ``size`` x ``size``
    (``RandomResizedCrop``). Works on PIL images and returns one."""
    # BEGIN SOLUTION
    return transforms.RandomResizedCrop(size, scale=(0.1, 1), ratio=(0.5, 2))
    # END SOLUTION


def color_aug():
    """The book's ``color_aug``: random brightness, contrast and saturation factors in
    [0.5, 1.5] and a random hue shift in [-0.5, 0.5] (``ColorJitter`` with 0.5 for all four)."""
    # BEGIN SOLUTION
    return transforms.ColorJitter(brightness=0.5, contrast=0.5, saturation=0.5, hue=0.5)
    # END SOLUTION


def train_augs(size=200):
    """The book's combined augmentation, in this order: random horizontal flip,
    ``color_aug()``, ``shape_aug(size)``, then ``ToTensor``: a float32 (3, size, size) tensor
    in [0, 1]."""
    # BEGIN SOLUTION
    return transforms.Compose([transforms.RandomHorizontalFlip(), color_aug(), shape_aug(size),
                               transforms.ToTensor()])
    # END SOLUTION


def test_augs(size=224, resize=256):
    """The book's fine-tuning test preprocessing (9.2): ``Resize(resize)`` (the shorter side
    becomes ``resize``), ``CenterCrop(size)``, ``ToTensor``, and ``Normalize`` with the ImageNet
    mean and std (``IMAGENET_MEAN``, ``IMAGENET_STD``). Deterministic; float32 (3, size, size)."""
    # BEGIN SOLUTION
    return transforms.Compose([transforms.Resize(resize), transforms.CenterCrop(size),
                               transforms.ToTensor(),
                               transforms.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD)])
    # END SOLUTION


def apply(img, aug, num_rows=2, num_cols=4):
    """Apply ``aug`` to ``img`` ``num_rows * num_cols`` times, each a fresh random draw, in order,
    and return the results stacked into one tensor (num_rows * num_cols, C, H, W). When ``aug``
    gives PIL images (it does not end with ``ToTensor``) they are converted with ``ToTensor``. (The
    book plots them: ``show_images(list(Y), num_rows, num_cols)`` does that.)"""
    # BEGIN SOLUTION
    to_tensor = transforms.ToTensor()
    Y = []
    for _ in range(num_rows * num_cols):
        y = aug(img)
        Y.append(y if isinstance(y, torch.Tensor) else to_tensor(y))
    return torch.stack(Y)
    # END SOLUTION
