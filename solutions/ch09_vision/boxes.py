"""D2L 9.3 (目标检测和边界框) and 9.4 (锚框): bounding boxes, anchor boxes, IoU, labelling, NMS.

The book's 9.4 uses MXNet's ``contrib.nd.MultiBoxPrior`` / ``MultiBoxTarget`` /
``MultiBoxDetection``; these are PyTorch versions of the same rules. Conventions:

* a box in *corner* format is (x1, y1, x2, y2) (upper-left, lower-right), in *center*
  format (cx, cy, w, h); the origin is the image's upper-left corner, x goes right, y down;
* anchor coordinates are normalised by the image width (x) and height (y), into [0, 1];
* class labels of ground truth are 0, 1, ...; in the targets and detections, class id 0 /
  -1 mean background (targets shift the classes by one, detections use -1).

``box_iou`` and ``nms`` must be written with tensor operations: calling ``torchvision.ops``
(``box_iou``, ``nms``, ``batched_nms``, ...) is not allowed; the graders compare with it.
"""
import math

import torch


def bbox_to_rect(bbox, color):
    """A ``matplotlib.patches.Rectangle`` for a corner-format box (x1, y1, x2, y2).

    ``xy`` is (x1, y1), ``width`` x2 - x1, ``height`` y2 - y1, ``fill=False``,
    ``edgecolor=color``, ``linewidth=2``. Book: the dog box [60, 45, 378, 516] gives
    xy (60, 45), width 318, height 471.
    """
    from matplotlib.patches import Rectangle
    # BEGIN SOLUTION
    return Rectangle(xy=(bbox[0], bbox[1]), width=bbox[2] - bbox[0], height=bbox[3] - bbox[1],
                     fill=False, edgecolor=color, linewidth=2)
    # END SOLUTION


def box_corner_to_center(boxes):
    """(N, 4) corner boxes (x1, y1, x2, y2) -> (N, 4) center boxes (cx, cy, w, h).

    Same dtype and device as ``boxes``; the input is not modified. Book: the cat box
    [400, 112, 655, 493] is (527.5, 302.5, 255, 381).
    """
    # BEGIN SOLUTION
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    return torch.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), dim=-1)
    # END SOLUTION


def box_center_to_corner(boxes):
    """(N, 4) center boxes (cx, cy, w, h) -> (N, 4) corner boxes; the inverse of the above."""
    # BEGIN SOLUTION
    cx, cy, w, h = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    return torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), dim=-1)
    # END SOLUTION


def multibox_prior(data, sizes, ratios):
    """Anchor boxes centred on every pixel of ``data`` (shape (batch, C, H, W)).

    With n sizes s_1..s_n in (0, 1] and m ratios r_1..r_m > 0, each pixel gets the
    n + m - 1 anchors (s_1, r_1), (s_2, r_1), ..., (s_n, r_1), (s_1, r_2), ..., (s_1, r_m),
    in this order (not all n * m pairs). The anchor (s, r) has width s * sqrt(r) * H / W and
    height s / sqrt(r) in normalised coordinates (so on the image it is s*H*sqrt(r) pixels
    wide and s*H/sqrt(r) high: a square for r = 1), centred on ((j + 0.5) / W, (i + 0.5) / H)
    for pixel row i, column j.

    Returns a float32 tensor of shape (1, H * W * (n + m - 1), 4) in corner format on
    ``data``'s device, pixels in row-major order, the anchors of one pixel consecutive.
    Example: for H, W = 561, 728, sizes [0.75, 0.5, 0.25], ratios [1, 2, 0.5],
    ``Y.reshape(561, 728, 5, 4)[250, 250, 0]`` is about [0.0551, 0.0715, 0.6331, 0.8215].
    """
    # BEGIN SOLUTION
    in_height, in_width = data.shape[-2:]
    device = data.device
    sizes_t = torch.tensor(sizes, dtype=torch.float32, device=device)
    ratios_t = torch.tensor(ratios, dtype=torch.float32, device=device)
    center_h = (torch.arange(in_height, device=device, dtype=torch.float32) + 0.5) / in_height
    center_w = (torch.arange(in_width, device=device, dtype=torch.float32) + 0.5) / in_width
    shift_y, shift_x = torch.meshgrid(center_h, center_w, indexing='ij')
    shift_y, shift_x = shift_y.reshape(-1), shift_x.reshape(-1)
    w = torch.cat((sizes_t * torch.sqrt(ratios_t[0]),
                   sizes_t[0] * torch.sqrt(ratios_t[1:]))) * in_height / in_width
    h = torch.cat((sizes_t / torch.sqrt(ratios_t[0]), sizes_t[0] / torch.sqrt(ratios_t[1:])))
    half = torch.stack((-w, -h, w, h), dim=1) / 2              # (n + m - 1, 4)
    centers = torch.stack((shift_x, shift_y, shift_x, shift_y), dim=1)  # (H * W, 4)
    return (centers[:, None, :] + half[None, :, :]).reshape(1, -1, 4)
    # END SOLUTION


def box_iou(boxes1, boxes2):
    """Pairwise intersection over union of corner boxes: (N, 4) and (M, 4) -> (N, M).

    IoU = |A ∩ B| / (|A| + |B| - |A ∩ B|), 0 for disjoint boxes. Same dtype as the inputs.
    Do not call ``torchvision.ops``.
    """
    # BEGIN SOLUTION
    def area(b):
        return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    upper_left = torch.max(boxes1[:, None, :2], boxes2[None, :, :2])
    lower_right = torch.min(boxes1[:, None, 2:], boxes2[None, :, 2:])
    inter_wh = (lower_right - upper_left).clamp(min=0)
    inter = inter_wh[..., 0] * inter_wh[..., 1]
    union = area(boxes1)[:, None] + area(boxes2)[None, :] - inter
    return inter / union
    # END SOLUTION


def assign_anchor_to_bbox(ground_truth, anchors, device, iou_threshold=0.5):
    """Assign ground-truth boxes to anchors; returns an int64 (num_anchors,) map, -1 = none.

    ``ground_truth`` (G, 4) and ``anchors`` (A, 4) are corner boxes. Rule of D2L 9.4: first,
    repeatedly take the largest entry of the IoU matrix, assign that box to that anchor and
    discard the anchor's row and the box's column, until every box has an anchor (G times);
    then every remaining anchor whose best IoU is >= ``iou_threshold`` gets its best box.
    Book example: anchors A0..A4 get [-1, 0, 1, -1, 1] (dog = 0, cat = 1).
    """
    # BEGIN SOLUTION
    num_anchors, num_gt = anchors.shape[0], ground_truth.shape[0]
    jaccard = box_iou(anchors, ground_truth)
    anchors_bbox_map = torch.full((num_anchors,), -1, dtype=torch.long, device=device)
    max_ious, indices = torch.max(jaccard, dim=1)
    anc_i = torch.nonzero(max_ious >= iou_threshold).reshape(-1)
    anchors_bbox_map[anc_i] = indices[anc_i].to(device)
    jaccard = jaccard.clone()
    for _ in range(num_gt):
        max_idx = torch.argmax(jaccard)
        box_idx = (max_idx % num_gt).long()
        anc_idx = (max_idx // num_gt).long()
        anchors_bbox_map[anc_idx] = box_idx
        jaccard[:, box_idx] = -1
        jaccard[anc_idx, :] = -1
    return anchors_bbox_map
    # END SOLUTION


def offset_boxes(anchors, assigned_bb, eps=1e-6):
    """Offsets of assigned boxes relative to their anchors, (A, 4) corner boxes -> (A, 4).

    With centers (x_a, y_a, w_a, h_a) and (x_b, y_b, w_b, h_b) and the usual constants
    (mu = 0, sigma_x = sigma_y = 0.1, sigma_w = sigma_h = 0.2):
    ``(10 (x_b - x_a) / w_a, 10 (y_b - y_a) / h_a, 5 log(eps + w_b / w_a), 5 log(eps + h_b / h_a))``.
    """
    # BEGIN SOLUTION
    c_anc = box_corner_to_center(anchors)
    c_assigned = box_corner_to_center(assigned_bb)
    offset_xy = 10 * (c_assigned[:, :2] - c_anc[:, :2]) / c_anc[:, 2:]
    offset_wh = 5 * torch.log(eps + c_assigned[:, 2:] / c_anc[:, 2:])
    return torch.cat([offset_xy, offset_wh], dim=1)
    # END SOLUTION


def offset_inverse(anchors, offset_preds):
    """Boxes (corner format) from anchors and predicted offsets; the inverse of ``offset_boxes``
    (up to its ``eps``): center xy = offset_xy * anchor_wh / 10 + anchor_xy,
    wh = exp(offset_wh / 5) * anchor_wh."""
    # BEGIN SOLUTION
    anc = box_corner_to_center(anchors)
    pred_xy = offset_preds[:, :2] * anc[:, 2:] / 10 + anc[:, :2]
    pred_wh = torch.exp(offset_preds[:, 2:] / 5) * anc[:, 2:]
    return box_center_to_corner(torch.cat((pred_xy, pred_wh), dim=1))
    # END SOLUTION


def multibox_target(anchors, labels):
    """Training targets of anchors: ``(bbox_offset, bbox_mask, class_labels)``.

    ``anchors`` (1, A, 4); ``labels`` (batch, G, 5) with rows (class, x1, y1, x2, y2). Per
    example, anchors are assigned with ``assign_anchor_to_bbox`` (threshold 0.5). Returns
    ``bbox_offset`` (batch, A * 4) float32: ``offset_boxes`` for assigned anchors and 0 for
    background ones; ``bbox_mask`` (batch, A * 4) float32: 1 for the 4 entries of each
    assigned anchor, 0 otherwise; ``class_labels`` (batch, A) int64: class + 1, 0 for
    background. Book example: ``class_labels`` = [[0, 1, 2, 0, 2]].
    """
    # BEGIN SOLUTION
    batch_size, anchors = labels.shape[0], anchors.squeeze(0)
    batch_offset, batch_mask, batch_class_labels = [], [], []
    device, num_anchors = anchors.device, anchors.shape[0]
    for i in range(batch_size):
        label = labels[i, :, :]
        anchors_bbox_map = assign_anchor_to_bbox(label[:, 1:], anchors, device)
        bbox_mask = ((anchors_bbox_map >= 0).float().unsqueeze(-1)).repeat(1, 4)
        class_labels = torch.zeros(num_anchors, dtype=torch.long, device=device)
        assigned_bb = torch.zeros((num_anchors, 4), dtype=torch.float32, device=device)
        indices_true = torch.nonzero(anchors_bbox_map >= 0).reshape(-1)
        bb_idx = anchors_bbox_map[indices_true]
        class_labels[indices_true] = label[bb_idx, 0].long() + 1
        assigned_bb[indices_true] = label[bb_idx, 1:].float()
        offset = offset_boxes(anchors, assigned_bb) * bbox_mask
        batch_offset.append(offset.reshape(-1))
        batch_mask.append(bbox_mask.reshape(-1))
        batch_class_labels.append(class_labels)
    return (torch.stack(batch_offset), torch.stack(batch_mask), torch.stack(batch_class_labels))
    # END SOLUTION


def nms(boxes, scores, iou_threshold):
    """Non-maximum suppression: indices (int64) of the boxes kept, by decreasing score.

    Repeatedly keep the highest-scoring remaining box and drop every remaining box whose IoU
    with it is greater than ``iou_threshold``. Same result as ``torchvision.ops.nms`` (which
    must not be called; nor may anything else in ``torchvision.ops``).
    """
    # BEGIN SOLUTION
    order = torch.argsort(scores, dim=-1, descending=True)
    keep = []
    while order.numel() > 0:
        i = order[0]
        keep.append(i)
        if order.numel() == 1:
            break
        iou = box_iou(boxes[i, :].reshape(-1, 4), boxes[order[1:], :].reshape(-1, 4)).reshape(-1)
        order = order[1:][iou <= iou_threshold]
    return torch.stack(keep).long() if keep else torch.zeros(0, dtype=torch.long,
                                                                device=boxes.device)
    # END SOLUTION


def multibox_detection(cls_probs, offset_preds, anchors, nms_threshold=0.5,
                       pos_threshold=0.009999999):
    """Predicted boxes after NMS, per anchor: (batch, A, 6) float32 rows
    (class id, confidence, x1, y1, x2, y2).

    ``cls_probs`` (batch, 1 + num_classes, A) with row 0 the background; ``offset_preds``
    (batch, A * 4); ``anchors`` (1, A, 4). Per example: each anchor's class is the most
    probable non-background class, its confidence that probability, its box
    ``offset_inverse(anchors, offsets)``. ``nms`` (over all anchors, regardless of class)
    keeps some; suppressed anchors get class -1, as do kept ones whose confidence is below
    ``pos_threshold`` (their confidence becomes 1 - confidence). Rows: the kept anchors first
    (by decreasing confidence), then the suppressed ones (by decreasing confidence).
    Book example: rows [0, 0.9, 0.1, 0.08, 0.52, 0.92], [1, 0.9, 0.55, 0.2, 0.9, 0.88],
    [-1, 0.8, ...], [-1, 0.7, ...].
    """
    # BEGIN SOLUTION
    device, batch_size = cls_probs.device, cls_probs.shape[0]
    anchors = anchors.squeeze(0)
    num_classes, num_anchors = cls_probs.shape[1], cls_probs.shape[2]
    out = []
    for i in range(batch_size):
        cls_prob, offset_pred = cls_probs[i], offset_preds[i].reshape(-1, 4)
        conf, class_id = torch.max(cls_prob[1:], 0)
        predicted_bb = offset_inverse(anchors, offset_pred)
        keep = nms(predicted_bb, conf, nms_threshold)
        all_idx = torch.arange(num_anchors, dtype=torch.long, device=device)
        combined = torch.cat((keep, all_idx))
        uniques, counts = combined.unique(return_counts=True)
        non_keep = uniques[counts == 1]
        non_keep = non_keep[torch.argsort(conf[non_keep], descending=True, stable=True)]
        all_id_sorted = torch.cat((keep, non_keep))
        class_id = class_id.clone()
        class_id[non_keep] = -1
        class_id = class_id[all_id_sorted]
        conf, predicted_bb = conf[all_id_sorted].clone(), predicted_bb[all_id_sorted]
        below_min_idx = conf < pos_threshold
        class_id[below_min_idx] = -1
        conf[below_min_idx] = 1 - conf[below_min_idx]
        pred_info = torch.cat((class_id.unsqueeze(1).float(), conf.unsqueeze(1), predicted_bb), dim=1)
        out.append(pred_info)
    return torch.stack(out)
    # END SOLUTION
