"""Graders for ch09_vision.boxes (D2L 9.3-9.4): boxes, anchors, IoU, labelling, offsets, NMS.

The book's 9.4 prints nothing (it is MXNet code), so the public known answers were derived by
hand from its inputs and rules (see the catalogue, 9.4): the IoU table, the labels
A0 background, A1 dog, A2 cat, A3 background, A4 cat, the offsets, and the NMS example.
``box_iou`` and ``nms`` are cross-checked against ``torchvision.ops`` (an independent
implementation) on random boxes, and may not call it.
"""
import math

import pytest
import torch
import torchvision

from d2lgrade import (
    assert_close, call_without, from_scratch, GradeFailure, hidden, ops, points, reference)

MODULE = "ch09_vision.boxes"
ref = reference(MODULE)

# The book's example (9.4): ground truth (class, x1, y1, x2, y2) and five anchors.
GROUND_TRUTH = torch.tensor([[0, 0.1, 0.08, 0.52, 0.92], [1, 0.55, 0.2, 0.9, 0.88]])
ANCHORS = torch.tensor([[0, 0.1, 0.2, 0.3], [0.15, 0.2, 0.4, 0.4], [0.63, 0.05, 0.88, 0.98],
                        [0.66, 0.45, 0.8, 0.8], [0.57, 0.3, 0.92, 0.9]])
# NMS example (9.4): four predicted boxes, background / dog / cat probabilities.
NMS_BOXES = torch.tensor([[0.1, 0.08, 0.52, 0.92], [0.08, 0.2, 0.56, 0.95],
                          [0.15, 0.3, 0.62, 0.91], [0.55, 0.2, 0.9, 0.88]])
NMS_PROBS = torch.tensor([[0.0] * 4, [0.9, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.9]])
FORBIDDEN = ["torchvision"]

# From-scratch policies (issue 14): every call, also from the student's assign_anchor_to_bbox,
# multibox_target and multibox_detection, is traced in the child: elementary tensor ops, no
# torchvision (not even imported at run time), no thread.
NO_BOX_OPS = ["batched_nms", "roi_align", "box_convert"]
from_scratch(MODULE, "box_iou", allow=ops.ELEMENTARY, names=NO_BOX_OPS)
from_scratch(MODULE, "nms", allow=ops.ELEMENTARY, names=NO_BOX_OPS)
# The book's other box and anchor code is tensor code too (its MXNet ``contrib`` routines have
# no PyTorch counterpart to call, but torchvision's box ops must not stand in for it).
from_scratch(MODULE, "box_corner_to_center", allow=ops.ELEMENTARY, names=NO_BOX_OPS)
from_scratch(MODULE, "box_center_to_corner", allow=ops.ELEMENTARY, names=NO_BOX_OPS)
from_scratch(MODULE, "multibox_prior", allow=ops.ELEMENTARY, names=NO_BOX_OPS)
from_scratch(MODULE, "assign_anchor_to_bbox", allow=ops.ELEMENTARY, names=NO_BOX_OPS)
from_scratch(MODULE, "offset_boxes", allow=ops.ELEMENTARY, names=NO_BOX_OPS)
from_scratch(MODULE, "offset_inverse", allow=ops.ELEMENTARY, names=NO_BOX_OPS)
from_scratch(MODULE, "multibox_target", allow=ops.ELEMENTARY, names=NO_BOX_OPS)
from_scratch(MODULE, "multibox_detection", allow=ops.ELEMENTARY, names=NO_BOX_OPS)
# bbox_to_rect only builds a matplotlib rectangle
from_scratch(MODULE, "bbox_to_rect", allow=ops.ELEMENTARY, modules=["matplotlib"])


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


def jittered(boxes, k, noise=0.03):
    """k noisy copies of each box (anchors near the ground truth, many IoUs around 0.5)."""
    b = boxes.repeat(k, 1) + torch.randn(k * boxes.shape[0], 4) * noise
    return torch.cat((torch.min(b[:, :2], b[:, 2:]), torch.max(b[:, :2], b[:, 2:]) + 1e-3), dim=1)


def random_boxes(n, scale=1.0, dtype=torch.float32):
    """n corner boxes with positive width and height, some overlapping, some disjoint."""
    xy = torch.rand(n, 2, dtype=dtype) * scale
    wh = (torch.rand(n, 2, dtype=dtype) * 0.5 + 0.02) * scale
    return torch.cat((xy, xy + wh), dim=1)


def _tensor(x, what):
    if not isinstance(x, torch.Tensor):
        raise GradeFailure(f"{what}: expected a tensor, got {type(x).__name__}")
    return x


# -- 9.3 bounding boxes ----------------------------------------------------------------
@points(1)
def test_bbox_to_rect_book(student):
    """The dog box [60, 45, 378, 516] becomes a Rectangle at (60, 45), 318 wide, 471 high, unfilled."""
    rect = student.bbox_to_rect([60, 45, 378, 516], "blue")
    assert rect.remote_type.endswith("Rectangle"), f"expected a matplotlib Rectangle, got {rect.remote_type}"
    assert tuple(float(v) for v in rect.get_xy()) == (60.0, 45.0), f"xy is {rect.get_xy()}, expected (60, 45)"
    assert float(rect.get_width()) == 318 and float(rect.get_height()) == 471, \
        f"width, height = {rect.get_width()}, {rect.get_height()}; expected 318, 471"
    assert rect.get_fill() is False, "the rectangle must not be filled"
    assert float(rect.get_linewidth()) == 2, "linewidth must be 2"


@hidden
@points(1)
def test_bbox_to_rect_cat_box(student):
    """The cat box gives the right corner, width and height (no swap of x and y)."""
    rect = student.bbox_to_rect([400, 112, 655, 493], "red")
    got = (*[float(v) for v in rect.get_xy()], float(rect.get_width()), float(rect.get_height()))
    assert got == (400.0, 112.0, 255.0, 381.0)


@points(1)
def test_box_conversions_book(student):
    """Dog and cat boxes: corner -> center gives (cx, cy, w, h), and center -> corner goes back."""
    boxes = torch.tensor([[60.0, 45.0, 378.0, 516.0], [400.0, 112.0, 655.0, 493.0]])
    center = _tensor(student.box_corner_to_center(boxes), "box_corner_to_center")
    assert_close(center, torch.tensor([[219.0, 280.5, 318.0, 471.0], [527.5, 302.5, 255.0, 381.0]]),
                 what="box_corner_to_center(dog, cat)")
    assert_close(student.box_center_to_corner(center), boxes, what="box_center_to_corner(center)")


@hidden
@points(1)
def test_box_conversions_random(student):
    """Conversions agree with the reference on random float64 boxes, keep the dtype and do not modify the input."""
    boxes = random_boxes(20, 100.0, torch.float64)
    before = boxes.clone()
    assert_close(student.box_corner_to_center(boxes), ref.box_corner_to_center(boxes),
                 what="box_corner_to_center", hidden=True)
    centers = ref.box_corner_to_center(boxes)
    assert_close(student.box_center_to_corner(centers), boxes, what="box_center_to_corner", hidden=True)
    assert torch.equal(boxes, before), "the input boxes were modified"


# -- 9.4 anchors -----------------------------------------------------------------------
def _anchor_by_hand(i, j, s, r, h, w):
    """The anchor (s, r) of pixel (i, j) of an h x w image, from the spec's formula."""
    cx, cy = (j + 0.5) / w, (i + 0.5) / h
    aw, ah = s * math.sqrt(r) * h / w, s / math.sqrt(r)
    return [cx - aw / 2, cy - ah / 2, cx + aw / 2, cy + ah / 2]


@points(2)
def test_multibox_prior_book(student):
    """On a 561 x 728 image with sizes [0.75, 0.5, 0.25] and ratios [1, 2, 0.5]: 5 anchors per pixel, pixel (250, 250)'s anchors in the stated order."""
    X = torch.zeros(1, 3, 561, 728)
    Y = _tensor(student.multibox_prior(X, [0.75, 0.5, 0.25], [1, 2, 0.5]), "multibox_prior")
    assert tuple(Y.shape) == (1, 561 * 728 * 5, 4), \
        f"expected shape (1, {561 * 728 * 5}, 4) (n + m - 1 = 5 anchors per pixel), got {tuple(Y.shape)}"
    pairs = [(0.75, 1), (0.5, 1), (0.25, 1), (0.75, 2), (0.75, 0.5)]
    expected = torch.tensor([_anchor_by_hand(250, 250, s, r, 561, 728) for s, r in pairs])
    assert_close(Y.reshape(561, 728, 5, 4)[250, 250], expected,
                 what="the 5 anchors of pixel (250, 250)", rtol=1e-5, atol=1e-5)


@hidden
@points(2)
def test_multibox_prior_random(student):
    """Random image sizes, sizes and ratios: same anchors as the reference, float32, on the input's device."""
    for h, w, n, m in ((3, 5, 2, 3), (7, 4, 1, 1), (6, 6, 4, 2)):
        X = torch.rand(2, 3, h, w, dtype=torch.float64)
        sizes = sorted(torch.rand(n).mul(0.8).add(0.1).tolist(), reverse=True)
        ratios = [1.0] + torch.rand(m - 1).mul(2.5).add(0.3).tolist()
        assert_close(student.multibox_prior(X, sizes, ratios), ref.multibox_prior(X, sizes, ratios),
                     what=f"multibox_prior ({h}x{w}, {n} sizes, {m} ratios)", hidden=True,
                     rtol=1e-5, atol=1e-6)


@points(1)
def test_box_iou_book(student):
    """IoU of the book's five anchors with the dog and cat boxes (derived by hand)."""
    iou = call_without(student.box_iou, ANCHORS, GROUND_TRUTH[:, 1:], forbidden=FORBIDDEN)
    expected = torch.tensor([[0.0536, 0.0], [0.1417, 0.0], [0.0, 0.5657], [0.0, 0.2059], [0.0, 0.7459]])
    assert_close(_tensor(iou, "box_iou"), expected, what="box_iou(anchors, ground truth)", rtol=0, atol=1e-4)


@hidden
@points(2)
def test_box_iou_matches_torchvision(student):
    """Random (some disjoint, some nested) boxes: the same IoU matrix as torchvision.ops.box_iou, without calling it."""
    a, b = random_boxes(30, 10.0), random_boxes(17, 10.0)
    b[0] = a[0]                                        # identical boxes: IoU 1
    b[1] = torch.tensor([a[1, 0] + 0.1, a[1, 1] + 0.1, a[1, 2] - 0.1, a[1, 3] - 0.1]).clamp(min=0)
    got = call_without(student.box_iou, a, b, forbidden=FORBIDDEN)
    assert_close(got, torchvision.ops.box_iou(a, b), what="box_iou", hidden=True, rtol=1e-5, atol=1e-6)
    a64, b64 = a.double(), b.double()
    assert_close(student.box_iou(a64, b64), torchvision.ops.box_iou(a64, b64), what="box_iou (float64)",
                 hidden=True)


@points(2)
def test_assign_anchor_to_bbox_book(student):
    """The book's example: A0 background, A1 dog, A2 cat, A3 background, A4 cat."""
    got = student.assign_anchor_to_bbox(GROUND_TRUTH[:, 1:], ANCHORS, torch.device("cpu"))
    assert_close(_tensor(got, "assign_anchor_to_bbox"), torch.tensor([-1, 0, 1, -1, 1]),
                 what="assign_anchor_to_bbox (anchor -> box, -1 = background)", kind="exact")


@hidden
@points(2)
def test_assign_anchor_to_bbox_random(student):
    """Random anchors and ground truth (more anchors than boxes): the same assignment as the reference."""
    for n_anc, n_gt in ((40, 3), (12, 5), (25, 1)):
        gt = random_boxes(n_gt)
        near = jittered(gt, 4)
        anchors = torch.cat((random_boxes(n_anc), near))[torch.randperm(n_anc + 4 * n_gt)]
        assert_close(student.assign_anchor_to_bbox(gt, anchors, torch.device("cpu")),
                     ref.assign_anchor_to_bbox(gt, anchors, torch.device("cpu")),
                     what=f"assign_anchor_to_bbox ({n_anc} anchors, {n_gt} boxes)", hidden=True, kind="exact")


@points(2)
def test_offset_boxes_book(student):
    """Offsets of the book's assigned anchors: A1 -> dog, A2 -> cat, A4 -> cat (sigma 0.1 / 0.2, derived by hand)."""
    anchors = ANCHORS[[1, 2, 4]]
    assigned = GROUND_TRUTH[[0, 1, 1], 1:]
    got = _tensor(student.offset_boxes(anchors, assigned), "offset_boxes")
    expected = torch.tensor([[1.4, 10.0, 2.5940, 7.1754], [-1.2, 0.2688, 1.6824, -1.5655],
                             [-0.5714, -1.0, 0.0, 0.6258]])
    assert_close(got, expected, what="offset_boxes", rtol=0, atol=1e-3)


@hidden
@points(1)
def test_offset_boxes_random(student):
    """Random anchors and boxes: the same offsets as the reference."""
    anchors, boxes = random_boxes(20), random_boxes(20)
    assert_close(student.offset_boxes(anchors, boxes), ref.offset_boxes(anchors, boxes),
                 what="offset_boxes", hidden=True, rtol=1e-5, atol=1e-5)


@points(1)
def test_offset_inverse_zero_offsets(student):
    """Zero offsets give back the anchors themselves (the book's NMS example)."""
    got = _tensor(student.offset_inverse(NMS_BOXES, torch.zeros(4, 4)), "offset_inverse")
    assert_close(got, NMS_BOXES, what="offset_inverse(anchors, zeros)", rtol=1e-6, atol=1e-6)


@hidden
@points(2)
def test_offset_inverse_round_trip(student):
    """offset_inverse undoes the reference's offset_boxes on random boxes, and agrees with the reference on random offsets."""
    anchors, boxes = random_boxes(25), random_boxes(25)
    assert_close(student.offset_inverse(anchors, ref.offset_boxes(anchors, boxes)), boxes,
                 what="offset_inverse(anchors, offset_boxes(anchors, boxes))", hidden=True, rtol=1e-4, atol=1e-5)
    offsets = torch.randn(25, 4)
    assert_close(student.offset_inverse(anchors, offsets), ref.offset_inverse(anchors, offsets),
                 what="offset_inverse", hidden=True, rtol=1e-5, atol=1e-6)


@points(3)
def test_multibox_target_book(student):
    """The book's example: class labels [[0, 1, 2, 0, 2]], the mask of the assigned anchors, their offsets."""
    out = student.multibox_target(ANCHORS[None], GROUND_TRUTH[None])
    assert isinstance(out, (tuple, list)) and len(out) == 3, \
        "multibox_target must return (bbox_offset, bbox_mask, class_labels)"
    offset, mask, cls = (_tensor(t, n) for t, n in zip(out, ("bbox_offset", "bbox_mask", "class_labels")))
    assert_close(cls, torch.tensor([[0, 1, 2, 0, 2]]), what="class_labels", kind="exact")
    assert_close(mask, torch.tensor([[0.0] * 4 + [1.0] * 8 + [0.0] * 4 + [1.0] * 4]), what="bbox_mask",
                 kind="exact")
    expected = torch.tensor([[0, 0, 0, 0, 1.4, 10.0, 2.5940, 7.1754, -1.2, 0.2688, 1.6824, -1.5655,
                              0, 0, 0, 0, -0.5714, -1.0, 0.0, 0.6258]])
    assert_close(offset, expected, what="bbox_offset", rtol=0, atol=1e-3)


@hidden
@points(2)
def test_multibox_target_random_batch(student):
    """A batch of 3 random label sets over 54 random anchors: all three outputs agree with the reference."""
    gt = torch.stack([random_boxes(4) for _ in range(3)])
    anchors = torch.cat((random_boxes(30), jittered(gt.reshape(-1, 4), 2)))[None]
    labels = torch.cat((torch.randint(0, 4, (3, 4, 1)).float(), gt), dim=2)
    got = student.multibox_target(anchors, labels)
    exp = ref.multibox_target(anchors, labels)
    for g, e, name in zip(got, exp, ("bbox_offset", "bbox_mask", "class_labels")):
        assert_close(g, e, what=name, hidden=True, rtol=1e-4, atol=1e-4)


@points(2)
def test_nms_book(student):
    """The book's four boxes with scores 0.9, 0.8, 0.7, 0.9 and threshold 0.5: boxes 0 and 3 are kept."""
    scores = NMS_PROBS[1:].max(dim=0).values
    keep = call_without(student.nms, NMS_BOXES, scores, 0.5, forbidden=FORBIDDEN)
    assert_close(_tensor(keep, "nms"), torch.tensor([0, 3]), what="nms(boxes, scores, 0.5)", kind="exact")


@hidden
@points(3)
def test_nms_matches_torchvision(student):
    """Random boxes and scores at several thresholds: the same kept indices, in the same order, as torchvision.ops.nms, without calling it."""
    for n, thr in ((40, 0.5), (60, 0.3), (25, 0.7), (1, 0.5)):
        boxes, scores = random_boxes(n), torch.rand(n)
        got = call_without(student.nms, boxes, scores, thr, forbidden=FORBIDDEN)
        assert_close(got, torchvision.ops.nms(boxes, scores, thr), what=f"nms ({n} boxes, threshold {thr})",
                     hidden=True, kind="exact")


@points(3)
def test_multibox_detection_book(student):
    """The book's NMS example: dog 0.9 and cat 0.9 kept, dog 0.8 and 0.7 suppressed (class -1), in that order."""
    out = _tensor(student.multibox_detection(NMS_PROBS[None], torch.zeros(1, 16), NMS_BOXES[None], 0.5),
                  "multibox_detection")
    expected = torch.tensor([[[0, 0.9, 0.1, 0.08, 0.52, 0.92], [1, 0.9, 0.55, 0.2, 0.9, 0.88],
                              [-1, 0.8, 0.08, 0.2, 0.56, 0.95], [-1, 0.7, 0.15, 0.3, 0.62, 0.91]]])
    assert_close(out, expected, what="multibox_detection", rtol=1e-5, atol=1e-5)


@hidden
@points(3)
def test_multibox_detection_random(student):
    """A batch of 2 with 20 random anchors, 3 classes, random offsets and probabilities (some below pos_threshold): the reference's output."""
    anchors = random_boxes(20)[None]
    logits = torch.randn(2, 4, 20) * 3
    probs = torch.softmax(logits, dim=1)
    probs[0, 1:, :3] = 0.003                       # three anchors below pos_threshold
    offsets = torch.randn(2, 80) * 0.5
    for thr in (0.5, 0.3):
        assert_close(student.multibox_detection(probs, offsets, anchors, thr),
                     ref.multibox_detection(probs, offsets, anchors, thr),
                     what=f"multibox_detection (nms_threshold {thr})", hidden=True, rtol=1e-5, atol=1e-5)
