"""Shared fixtures of the chapter-9 graders (trusted; they run in the grading process).

* ``picture``: a PIL RGB image made here (60 wide, 40 high: a colour gradient with a red block
  near the upper-left corner and a blue bar at the bottom), asymmetric left/right and
  up/down so that flips show. It is sent to the student's process as an argument.
* ``finetune_data``: the fine-tuning fixture (``build`` below): a small backbone
  pre-trained here on a synthetic 4-class source task (cached in ``fixtures/generated/``) and
  a small two-class target task.
"""
import os

import numpy as np
import pytest
from PIL import Image


def make_picture(width=60, height=40):
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.zeros((height, width, 3), dtype=np.uint8)
    img[..., 0] = (255 * xx / (width - 1)).astype(np.uint8)
    img[..., 1] = (255 * yy / (height - 1)).astype(np.uint8)
    img[..., 2] = 90
    img[4:16, 6:22] = (230, 20, 20)
    img[height - 6:height - 2, 10:width - 4] = (20, 40, 220)
    return Image.fromarray(img, mode="RGB")


@pytest.fixture(scope="session")
def picture():
    return make_picture()


@pytest.fixture(scope="session")
def finetune_data(course):
    return build(course.fixtures / "generated" / "ch09_finetune")


# -- the fine-tuning fixture ------------------------------------------------------------
FINETUNE_VERSION = 1
IMG = 16


def _patterns(kinds, gen, noise):
    """Images (len(kinds), 3, IMG, IMG) in [0, 1]: 0 horizontal stripes, 1 vertical stripes,
    2 diagonal stripes, 3 checkerboard; random period, phase and two random colours each."""
    import torch
    n = len(kinds)
    yy, xx = torch.meshgrid(torch.arange(IMG), torch.arange(IMG), indexing="ij")
    period = torch.randint(2, 5, (n, 1, 1), generator=gen)
    phase = torch.randint(0, 4, (n, 1, 1), generator=gen)
    k = torch.as_tensor(kinds).view(n, 1, 1)
    coord = torch.where(k == 0, yy, torch.where(k == 1, xx, xx + yy))
    on = ((coord + phase) // period) % 2
    checker = (((yy + phase) // period) + ((xx + phase) // period)) % 2
    on = torch.where(k == 3, checker, on).float()[:, None]            # (n, 1, IMG, IMG)
    fg, bg = torch.rand(n, 3, 1, 1, generator=gen), torch.rand(n, 3, 1, 1, generator=gen)
    img = on * fg + (1 - on) * bg + noise * torch.randn(n, 3, IMG, IMG, generator=gen)
    return img.clamp(0, 1)


def _task(classes, n, seed, noise):
    import torch
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, len(classes), (n,), generator=gen)
    kinds = torch.as_tensor(classes)[labels]
    return _patterns(kinds, gen, noise), labels


def build(folder):
    """Pre-train ``SmallNet`` (the reference's given code) on the 4-class source task (cached in
    ``folder``) and make the two-class target task (checkerboard vs diagonal stripes, noisier,
    few training examples). Returns a dict with the pretrained state and the target tensors."""
    import torch
    import torch.nn.functional as F
    from d2lgrade import reference
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"source_v{FINETUNE_VERSION}.pt"
    cached = torch.load(path, weights_only=True) if path.exists() else None
    if cached is None:
        # Adam with a one-cycle schedule, 8 epochs of 1000 images: about 2 s; reaches 0.985
        # on 400 fresh source images (measured). fork_rng: the grader's seeds stay untouched.
        with torch.random.fork_rng():
            torch.manual_seed(0)
            X, y = _task([0, 1, 2, 3], 1000, seed=1, noise=0.1)
            Xv, yv = _task([0, 1, 2, 3], 400, seed=2, noise=0.1)
            net = reference("ch09_vision.fine_tuning").SmallNet(4)
            opt = torch.optim.Adam(net.parameters(), lr=0.01)
            epochs, bs = 8, 32
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.01,
                                                        total_steps=epochs * ((len(y) + bs - 1) // bs))
            for _ in range(epochs):
                order = torch.randperm(len(y))
                for i in range(0, len(y), bs):
                    idx = order[i:i + bs]
                    opt.zero_grad()
                    F.cross_entropy(net(X[idx]), y[idx]).backward()
                    opt.step()
                    sched.step()
            net.eval()
            with torch.no_grad():
                acc = (net(Xv).argmax(1) == yv).float().mean().item()
        cached = {"state": net.state_dict(), "source_acc": torch.tensor(acc)}
        tmp = path.with_suffix(f".{os.getpid()}.tmp")   # concurrent builders never share a file
        torch.save(cached, tmp)
        tmp.replace(path)
    train_X, train_y = _task([3, 2], 48, seed=3, noise=0.2)
    test_X, test_y = _task([3, 2], 400, seed=4, noise=0.2)
    return {"state": cached["state"], "source_acc": float(cached["source_acc"]),
            "train": (train_X, train_y), "test": (test_X, test_y)}
