"""Shared fixtures of the chapter-9 graders (trusted; they run in the grading process).

* ``picture``: a PIL RGB image made here (60 wide, 40 high: a colour gradient with a red block
  near the upper-left corner and a blue bar at the bottom), asymmetric left/right and
  up/down so that flips show. It is sent to the student's process as an argument.
* ``finetune_data``: the fine-tuning fixture (see ``finetune_fixture.py``): a small backbone
  pre-trained here on a synthetic 4-class source task (cached in ``fixtures/generated/``) and
  a small two-class target task.
"""
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
    from finetune_fixture import build
    return build(course.fixtures / "generated" / "ch09_finetune")
