"""Graders for ch09_vision.fine_tuning (D2L 9.2).

The pretrained model is the project's own: ``SmallNet`` pre-trained in the fixture builder
(``conftest.build``) on a synthetic 4-class texture task and cached in ``fixtures/generated/``;
the target task has two classes (checkerboards vs diagonal stripes, noisier) and only 48
training images. The book's ResNet-18 case (``fc`` 512 -> 1000 becomes 512 -> 2) is checked on
torchvision's ``resnet18`` without weights.
"""
import pytest
import torch
from torch import nn

from d2lgrade import GradeFailure, assert_close, call_timeout, hidden, points, reference

MODULE = "ch09_vision.fine_tuning"
ref = reference(MODULE)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


def _pretrained(student, submission, finetune_data):
    net = student.SmallNet(4)
    submission.probe("load_state_dict", net, finetune_data["state"])
    return net


def _split(named):
    head = {k: v for k, v in named.items() if k.startswith("fc.")}
    body = {k: v for k, v in named.items() if not k.startswith("fc.")}
    return body, head


@points(1)
def test_replace_output_layer_resnet18_book(student, submission):
    """ResNet-18's Linear(in_features=512, out_features=1000, bias=True) becomes Linear(in_features=512, out_features=2, bias=True)."""
    net = submission.module("torchvision.models").resnet18()
    out = student.replace_output_layer(net, 2)
    text = submission.probe("repr_", net.fc)
    assert text == "Linear(in_features=512, out_features=2, bias=True)", f"net.fc is {text}"
    assert out is not None and out.remote_type.endswith("ResNet"), "replace_output_layer must return the net"


@points(2)
def test_replace_output_layer_keeps_pretrained(student, submission, finetune_data):
    """On the pretrained SmallNet: the output has 2 columns, fc is a new Linear(32, 2), and every other weight and buffer keeps its pretrained value."""
    net = _pretrained(student, submission, finetune_data)
    student.replace_output_layer(net, 2)
    state = submission.probe("state_dict", net)
    assert tuple(state["fc.weight"].shape) == (2, 32), f"fc.weight has shape {tuple(state['fc.weight'].shape)}"
    for k, v in finetune_data["state"].items():
        if not k.startswith("fc."):
            assert_close(state[k], v, what=f"{k} after replacing the output layer", kind="exact")
    submission.probe("set_mode", net, False)
    out = submission.probe("forward_no_grad", net, finetune_data["test"][0][:5])
    assert tuple(out.shape) == (5, 2), f"the net's output has shape {tuple(out.shape)}, expected (5, 2)"


@hidden
@points(1)
def test_replace_output_layer_fresh_random_head(student, submission, finetune_data):
    """The new head is freshly initialised (different from the old head's rows, different between two calls) with PyTorch's default init range."""
    a = _pretrained(student, submission, finetune_data)
    b = _pretrained(student, submission, finetune_data)
    student.replace_output_layer(a, 3)
    student.replace_output_layer(b, 3)
    wa = submission.probe("state_dict", a)["fc.weight"]
    wb = submission.probe("state_dict", b)["fc.weight"]
    assert tuple(wa.shape) == (3, 32)
    assert not torch.equal(wa, wb), "two new heads are identical: they must be randomly initialised"
    assert not torch.equal(wa, finetune_data["state"]["fc.weight"][:3])
    assert float(wa.abs().max()) <= 1 / 32 ** 0.5 + 1e-6, "the new head is not in nn.Linear's default range"


def _groups(opt):
    groups = opt.param_groups
    if not isinstance(groups, list) or len(groups) != 2:
        raise GradeFailure(f"expected 2 parameter groups, got {len(groups) if isinstance(groups, list) else groups!r}")
    return groups


def _same_tensors(got, expected, what):
    __tracebackhide__ = True
    if len(got) != len(expected):
        raise GradeFailure(f"{what}: {len(got)} tensors, expected {len(expected)}")
    for i, (g, e) in enumerate(zip(got, expected)):
        if tuple(g.shape) != tuple(e.shape) or not torch.equal(g, e):
            raise GradeFailure(f"{what}: tensor {i} is not the expected parameter (shape {tuple(g.shape)}, "
                               f"expected {tuple(e.shape)})")


@points(2)
def test_finetune_optimizer_param_groups(student, submission, finetune_data):
    """finetune_optimizer(net, 0.01): SGD, group 0 = every non-fc parameter at lr 0.01, group 1 = fc.weight, fc.bias at lr 0.1, weight decay 0.001."""
    net = _pretrained(student, submission, finetune_data)
    student.replace_output_layer(net, 2)
    opt = student.finetune_optimizer(net, 0.01)
    assert opt.remote_type.endswith("SGD"), f"expected torch.optim.SGD, got {opt.remote_type}"
    g0, g1 = _groups(opt)
    body, head = _split(submission.probe("named_parameters", net))
    assert_close(g0["lr"], 0.01, what="group 0's lr")
    assert_close(g1["lr"], 0.1, what="group 1's lr (10 x lr)")
    _same_tensors(g0["params"], list(body.values()), "group 0 (the pretrained layers)")
    _same_tensors(g1["params"], list(head.values()), "group 1 (the new output layer)")
    for i, g in enumerate((g0, g1)):
        assert_close(g["weight_decay"], 0.001, what=f"group {i}'s weight_decay")


@hidden
@points(1)
def test_finetune_optimizer_other_lr_resnet(student, submission):
    """On ResNet-18 with lr 0.05 and weight decay 0: the two groups, their lrs and weight decay are right."""
    net = submission.module("torchvision.models").resnet18()
    student.replace_output_layer(net, 2)
    opt = student.finetune_optimizer(net, 0.05, weight_decay=0.0)
    g0, g1 = _groups(opt)
    body, head = _split(submission.probe("named_parameters", net))
    assert abs(g0["lr"] - 0.05) < 1e-12 and abs(g1["lr"] - 0.5) < 1e-12
    assert g0["weight_decay"] == 0 and g1["weight_decay"] == 0
    _same_tensors(g0["params"], list(body.values()), "group 0")
    _same_tensors(g1["params"], list(head.values()), "group 1")


def _rel_change(before, after):
    b = torch.cat([v.flatten() for v in before.values()])
    a = torch.cat([after[k].flatten() for k in before])
    return float((a - b).norm() / b.norm())


@hidden
@call_timeout(120)
@points(3)
def test_fine_tuning_reaches_threshold(student, submission, finetune_data, feedback):
    """Fine-tuning the pretrained SmallNet (new head, finetune_optimizer lr 0.01, 10 epochs, batch 16) on the 48 target images reaches the expected test accuracy; the pretrained part moves less than the new head."""
    assert finetune_data["source_acc"] > 0.9, "the fixture's pretraining failed"   # 0.985 measured
    net = _pretrained(student, submission, finetune_data)
    student.replace_output_layer(net, 2)
    opt = student.finetune_optimizer(net, 0.01)
    before = submission.probe("named_parameters", net)
    (X, y), (Xt, yt) = finetune_data["train"], finetune_data["test"]
    order = torch.randperm(len(y))
    X, y = X[order], y[order]
    batches = [(X[i:i + 16], y[i:i + 16]) for i in range(0, len(y), 16)]
    student.train(batches, [(Xt, yt)], net, submission.module("torch.nn").CrossEntropyLoss(), opt,
                  torch.device("cpu"), 10)
    submission.probe("set_mode", net, False)
    acc = (submission.probe("forward_no_grad", net, Xt).argmax(1) == yt).float().mean().item()
    after = submission.probe("named_parameters", net)
    body0, head0 = _split(before)
    body_move, head_move = _rel_change(body0, after), _rel_change(head0, after)
    feedback(f"test accuracy {acc:.3f}; relative change: pretrained layers {body_move:.4f}, new head {head_move:.3f}")
    # The reference reaches 0.895-0.902 over 8 seeds (0.85-0.88 after 5 epochs; from scratch
    # about 0.5, chance); pretrained layers move about 0.3-0.5 %, the head 80-110 %.
    assert acc >= 0.8, "the fine-tuned net's test accuracy is too low"
    assert body_move < head_move, "the pretrained layers moved more than the new output layer"
