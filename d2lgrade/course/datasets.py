"""Data the project makes itself, for convergence tests that must run anywhere.

* ``fashion_mnist_like(root)``: a set in Fashion-MNIST's exact on-disk format (IDX files
  under ``root/FashionMNIST/raw``), so ``torchvision.datasets.FashionMNIST(root,
  download=False)`` reads it. The images are scikit-learn's bundled 8x8 digits (1,797
  images, 10 classes), scaled to 28x28 uint8; 1,500 for training and 297 for testing, in
  a fixed shuffled order. Real Fashion-MNIST cannot be downloaded here.

Files are written once (atomically) and reused; the content is a pure function of the code.
"""
from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path

import numpy as np

N_TRAIN = 1500


def _idx_images(images: np.ndarray) -> bytes:
    n, h, w = images.shape
    return struct.pack(">IIII", 2051, n, h, w) + images.astype(np.uint8).tobytes()


def _idx_labels(labels: np.ndarray) -> bytes:
    return struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes()


def _digits_28x28() -> tuple[np.ndarray, np.ndarray]:
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (n, 1, 8, 8)
    x = F.interpolate(x, size=(24, 24), mode="bilinear", align_corners=False)
    x = F.pad(x, (2, 2, 2, 2))  # 28x28 with a border, like MNIST's centring
    images = (x.squeeze(1).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    order = np.random.default_rng(0).permutation(len(images))
    return images[order], digits.target[order]


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def fashion_mnist_like(root: str | os.PathLike) -> Path:
    """Write (if missing) the Fashion-MNIST-format digits set under ``root``; return root."""
    root = Path(root)
    raw = root / "FashionMNIST" / "raw"
    names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    if all((raw / n).exists() for n in names):
        return root
    images, labels = _digits_28x28()
    parts = [_idx_images(images[:N_TRAIN]), _idx_labels(labels[:N_TRAIN]),
             _idx_images(images[N_TRAIN:]), _idx_labels(labels[N_TRAIN:])]
    for name, data in zip(names, parts):
        _write_atomic(raw / name, data)
    return root
