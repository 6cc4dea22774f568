"""Graders for ch04_computation.devices (D2L 4.6).

The fast tier checks the device-agnostic behaviour on whatever machine grades (on a machine
without CUDA: everything on the CPU, and nothing may hard-code ``'cuda'``). The tests that
need a GPU carry ``@tier("gpu")`` and are reported "not run" where there is none.
Expected devices are computed here from ``torch.cuda.device_count()``.
"""
import pytest
import torch
from torch import nn

from d2lgrade import assert_close, hidden, points, reference, tier

MODULE = "ch04_computation.devices"
ref = reference(MODULE)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


def _expected_device(i):
    return torch.device(f"cuda:{i}") if torch.cuda.device_count() > i else torch.device("cpu")


def _check_device(actual, expected, what):
    __tracebackhide__ = True
    assert isinstance(actual, torch.device), \
        f"{what} must return a torch.device, got {type(actual).__name__} {actual!r}"
    assert actual == expected, f"{what} returned {actual!r}; on this machine expected {expected!r}"


@points(1)
def test_try_gpu(student):
    """try_gpu() is cuda:0 when there is a GPU and cpu otherwise (on this machine: the device computed here)."""
    _check_device(student.try_gpu(), _expected_device(0), "try_gpu()")


@hidden
@points(1)
def test_try_gpu_indices(student):
    """Other indices, up to one past the number of GPUs, give the right device."""
    for i in range(torch.cuda.device_count() + 2):
        _check_device(student.try_gpu(i), _expected_device(i), f"try_gpu({i})")


@points(1)
def test_try_all_gpus(student):
    """try_all_gpus() lists one device per GPU, or [device('cpu')] when there is none."""
    expected = [torch.device(f"cuda:{i}") for i in range(torch.cuda.device_count())] or [torch.device("cpu")]
    devices = student.try_all_gpus()
    assert isinstance(devices, list) and all(isinstance(d, torch.device) for d in devices), \
        f"try_all_gpus() must return a list of torch.device, got {devices!r}"
    assert devices == expected, f"try_all_gpus() returned {devices!r}; on this machine expected {expected!r}"


@hidden
@points(1)
def test_try_all_gpus_matches_reference(student):
    """try_all_gpus() agrees with the reference on this machine, and with try_gpu for every index."""
    devices = student.try_all_gpus()
    assert devices == ref.try_all_gpus(), "try_all_gpus() does not match the reference on this machine"
    if devices[0].type == "cuda":
        assert [student.try_gpu(i) for i in range(len(devices))] == devices, \
            "try_gpu(i) and try_all_gpus() disagree"


@points(1)
def test_predict_on_cpu(student):
    """The book's nn.Linear(3, 1) on torch.rand(2, 3): predict_on(net, X, 'cpu') is net(X), on the CPU, with its graph."""
    net = nn.Linear(3, 1)
    X = torch.rand(2, 3)
    with torch.no_grad():
        expected = net(X)
    for device in ("cpu", torch.device("cpu")):
        out = student.predict_on(net, X, device)
        assert_close(out, expected, what=f"predict_on(net, X, {device!r})", kind="reduction")
        assert out.requires_grad, "the result must keep its autograd graph (like net(x))"


@hidden
@points(2)
def test_predict_on_random(student, submission):
    """A net created in the student's process and random inputs on the reference device: the result matches, X is unchanged."""
    device = ref.try_gpu()
    nn_remote = submission.module("torch.nn")
    net = nn_remote.Linear(5, 3)
    params = submission.probe("state_dict", net)
    r = nn.Linear(5, 3)
    r.load_state_dict(params)
    X = torch.randn(7, 5)
    X0 = X.clone()
    out = student.predict_on(net, X, device)
    with torch.no_grad():
        expected = r.to(device)(X0.to(device))
    assert_close(out, expected, what="predict_on(net, X, device)", hidden=True, kind="reduction")
    assert_close(X, X0, what="X after the call (it must not change)", hidden=True)
    for p in submission.probe("parameters", net):
        assert p.device.type == device.type, "the net itself must be moved to the device"


@tier("gpu")
@points(1)
def test_try_gpu_on_gpu(student):
    """With CUDA: try_gpu() is cuda:0, try_gpu(device_count()) is cpu, try_all_gpus() lists every GPU."""
    n = torch.cuda.device_count()
    _check_device(student.try_gpu(), torch.device("cuda:0"), "try_gpu()")
    _check_device(student.try_gpu(n), torch.device("cpu"), f"try_gpu({n})")
    assert student.try_all_gpus() == [torch.device(f"cuda:{i}") for i in range(n)], \
        "try_all_gpus() must list every GPU"


@tier("gpu")
@points(2)
def test_predict_on_cuda(student, submission):
    """With CUDA: the net and X are moved to cuda, the result stays there and matches the CPU result."""
    net = submission.module("torch.nn").Linear(3, 1)
    r = nn.Linear(3, 1)
    r.load_state_dict(submission.probe("state_dict", net))
    X = torch.rand(2, 3)
    out = student.predict_on(net, X, "cuda")
    assert out.device.type == "cuda", f"the result must stay on the GPU, got one on {out.device}"
    assert X.device.type == "cpu", "X itself must not be moved (X.to(device) makes a copy)"
    with torch.no_grad():
        expected = r(X).cuda()
    assert_close(out, expected, what="predict_on(net, X, 'cuda')", kind="reduction")
    assert all(p.device.type == "cuda" for p in submission.probe("parameters", net)), \
        "the net's parameters must be on the GPU after the call"
