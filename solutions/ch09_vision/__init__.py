"""Chapter 9: computer vision (D2L 9.1-9.4, and the PyTorch versions of 9.4's detection helpers).

Graded: image augmentation pipelines built from torchvision transforms (9.1), fine-tuning a
pretrained network with a new output layer and a 10x learning rate for it (9.2), and the
bounding-box / anchor-box toolkit of 9.3-9.4 (``bbox_to_rect``, box format conversions,
``multibox_prior``, ``box_iou``, anchor labelling, offsets, ``nms``, ``multibox_detection``).
The book's 9.4 is MXNet code without printed output; the PyTorch versions here follow its
rules, and their expected values were derived by hand or checked against ``torchvision.ops``.
"""
