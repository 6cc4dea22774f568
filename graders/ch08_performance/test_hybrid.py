"""Graders for ch08_performance.hybrid (D2L 8.1, hybrid programming the PyTorch way: TorchScript).

``GatedNet`` (given code) branches on its input: a trace would freeze one branch, so the tests
feed inputs that take both. The saved program is loaded and run in a fresh process without the
student's code (fixture ``fresh_child``); the eager outputs come from the student's own net.
"""
import shutil
from pathlib import Path

import pytest
import torch

from d2lgrade import GradeFailure, StudentError, assert_close, hidden, points, reference

MODULE = "ch08_performance.hybrid"
ref = reference(MODULE)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


def _both_signs(n_in=8):
    pos = torch.rand(4, n_in) + 0.1
    return pos, -pos


def _eager(submission, net, X):
    return submission.probe("forward_no_grad", net, X)


def _is_script_module(obj):
    return "torch.jit" in getattr(obj, "remote_type", "") and "Script" in obj.remote_type


@points(1)
def test_fancy_func_book(student):
    """fancy_func(1, 2, 3, 4) is 10 (the book)."""
    assert student.fancy_func(1, 2, 3, 4) == 10


@hidden
@points(1)
def test_fancy_func_tensors(student):
    """fancy_func on tensors is the sum of its four arguments."""
    a, b, c, d = torch.randn(4, 3)
    assert_close(student.fancy_func(a, b, c, d), a + b + c + d, what="fancy_func", hidden=True)


@points(2)
def test_to_torchscript_mlp_same_outputs(student, submission):
    """The scripted HybridNet is a torch.jit ScriptModule and gives the eager net's outputs."""
    net = student.HybridNet()
    scripted = student.to_torchscript(net)
    assert _is_script_module(scripted), f"to_torchscript must return a ScriptModule, got {scripted.remote_type}"
    X = torch.randn(16, 512)
    assert_close(submission.probe("forward_no_grad", scripted, X), _eager(submission, net, X),
                 what="scripted HybridNet(X)", kind="reduction")


@hidden
@points(2)
def test_to_torchscript_keeps_control_flow(student, submission):
    """The scripted GatedNet follows the eager branch for positive and negative inputs alike."""
    net = student.GatedNet()
    scripted = student.to_torchscript(net)
    assert _is_script_module(scripted), "to_torchscript must return a ScriptModule"
    for X in _both_signs():
        assert_close(submission.probe("forward_no_grad", scripted, X), _eager(submission, net, X),
                     what="scripted GatedNet(X)", hidden=True, kind="reduction")


def _load_and_run(fresh_child, path, inputs):
    """torch.jit.load(path) in a process without the student's code; its outputs on inputs."""
    __tracebackhide__ = True
    if not path.exists() or path.stat().st_size == 0:
        raise GradeFailure("save_scripted wrote nothing to the path it was given")
    assert fresh_child.module("importlib.util").find_spec("ch08_performance") is None
    # The sandbox lets each child read only its own scratch folder: hand over the bytes.
    copy = Path(fresh_child.scratch_dir) / path.name
    shutil.copyfile(path, copy)
    try:
        loaded = fresh_child.module("torch.jit").load(str(copy))
        return [fresh_child.probe("forward_no_grad", loaded, X) for X in inputs]
    except StudentError as exc:
        raise GradeFailure("the saved file does not load and run with torch.jit.load in a process "
                           f"without your code ({getattr(exc, 'exc_type', type(exc).__name__)}); was it saved with torch.jit.save?") from None


@points(2)
def test_save_scripted_runs_without_class(student, submission, fresh_child, tmp_path):
    """The saved HybridNet loads with torch.jit.load in a process without the student's code and gives the eager outputs."""
    net = student.HybridNet()
    path = tmp_path / "hybrid.pt"
    student.save_scripted(net, str(path))
    X = torch.randn(8, 512)
    (out,) = _load_and_run(fresh_child, path, [X])
    assert_close(out, _eager(submission, net, X), what="the loaded program's output", kind="reduction")


@hidden
@points(2)
def test_save_scripted_gated_both_branches(student, submission, fresh_child, tmp_path):
    """The saved GatedNet, loaded without its class, follows the eager branch for both signs of input."""
    net = student.GatedNet(8, 5)
    path = tmp_path / "gated.pt"
    student.save_scripted(net, str(path))
    inputs = list(_both_signs())
    for out, X in zip(_load_and_run(fresh_child, path, inputs), inputs):
        assert_close(out, _eager(submission, net, X), what="the loaded GatedNet's output", hidden=True,
                     kind="reduction")
