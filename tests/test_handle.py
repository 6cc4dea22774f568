"""The submission handle: call semantics and failure containment, in both isolation modes."""
import textwrap

import pytest
import torch

from d2lgrade.errors import (StaleHandle, StudentCrash, StudentException, StudentExit,
                             StudentTimeout)
from d2lgrade.isolation.handle import Submission

CODE = '''
import os, sys, time, torch

def add_(y, x):
    y += x
    return y

def view15(x):
    return x.view(15)

def sgd(params, lr, batch_size):
    for p in params:
        p.data -= lr * p.grad / batch_size

def gen(n):
    for i in range(n):
        yield torch.tensor([i])

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(2, 1)
    def forward(self, x):
        return self.lin(x)

def same_params(net, opt):
    return net.lin.weight is opt.param_groups[0]["params"][0]

def uses_softmax(X):
    return torch.softmax(X, 1)

def can_import(name):
    import importlib
    try:
        importlib.import_module(name)
        return True
    except ImportError:
        return False

def pid():
    return os.getpid()

def env():
    return dict(os.environ)

def die():
    os._exit(3)

def leave():
    sys.exit(0)

def hang():
    while True:
        pass

def boom():
    raise ValueError("bad input shape")

def huge():
    return torch.zeros(200_000_000)
'''


@pytest.fixture(scope="module")
def sub_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("sub")
    (root / "chx99_demo").mkdir()
    (root / "chx99_demo" / "__init__.py").write_text("")
    (root / "chx99_demo" / "m.py").write_text(textwrap.dedent(CODE))
    return root


@pytest.fixture(params=["process", "none"])
def sub(request, sub_dir):
    s = Submission(str(sub_dir), request.param, call_timeout=5)
    yield s
    s.close()


def test_in_place_change_and_identity_survive(sub):
    m = sub.module("chx99_demo.m")
    y, x = torch.tensor([3, 4]), torch.tensor([1, 2])
    out = m.add_(y, x)
    assert out is y and y.tolist() == [4, 6]


def test_views_share_memory_with_the_argument(sub):
    x = torch.arange(15.0).view(5, 3)
    v = sub.module("chx99_demo.m").view15(x)
    x += 1
    assert v[0].item() == 1.0


def test_data_updates_and_grads_are_written_back(sub):
    w = torch.ones(2, requires_grad=True)
    w.grad = torch.ones(2)
    sub.module("chx99_demo.m").sgd([w], 0.1, 2)
    assert torch.allclose(w.detach(), torch.full((2,), 0.95)) and w.requires_grad


def test_objects_come_back_as_handles(sub):
    m = sub.module("chx99_demo.m")
    assert [t.item() for t in m.gen(3)] == [0, 1, 2]
    net = m.Net()
    assert net(torch.ones(4, 2)).shape == (4, 1)
    assert sub.probe("num_parameters", net) == 3
    assert set(sub.probe("state_dict", net)) == {"lin.weight", "lin.bias"}


def test_traced_calls_report_torch_functions(sub):
    _, trace = sub.module("chx99_demo.m").uses_softmax.traced(torch.randn(2, 3))
    assert trace.uses("softmax")


def test_student_exceptions_carry_the_students_traceback(sub):
    with pytest.raises(StudentException, match="ValueError: bad input shape") as info:
        sub.module("chx99_demo.m").boom()
    assert "m.py" in str(info.value) and "d2lgrade" not in info.value.traceback


def test_child_is_a_separate_process_with_a_clean_environment(sub_dir, monkeypatch, root):
    import os
    monkeypatch.setenv("GRADER_SECRET_TOKEN", "s3cret")
    monkeypatch.chdir(root)
    s = Submission(str(sub_dir), "process", call_timeout=5)
    try:
        m = s.module("chx99_demo.m")
        assert m.pid() != os.getpid()
        assert "GRADER_SECRET_TOKEN" not in m.env()
        assert m.can_import("torch") and not m.can_import("solutions.ch02_preliminaries.tensors")
    finally:
        s.close()


@pytest.mark.parametrize("fn, error", [("die", StudentCrash), ("leave", StudentExit),
                                       ("hang", StudentTimeout)])
def test_crash_exit_and_hang_fail_one_call_and_the_child_restarts(sub_dir, fn, error):
    s = Submission(str(sub_dir), "process", call_timeout=2)
    try:
        m = s.module("chx99_demo.m")
        net = m.Net()
        with pytest.raises(error):
            getattr(m, fn)()
        y = torch.tensor([1])
        assert m.add_(y, torch.tensor([1])).tolist() == [2]   # a fresh child answers
        if fn != "leave":                                        # sys.exit keeps the child
            with pytest.raises(StaleHandle):
                net(torch.ones(1, 2))
    finally:
        s.close()


def test_oversized_replies_are_refused(sub_dir):
    s = Submission(str(sub_dir), "process", call_timeout=20)
    try:
        with pytest.raises(Exception, match="limit"):
            s.module("chx99_demo.m").huge()
    finally:
        s.close()


def test_objects_passed_together_keep_their_links(sub):
    net = torch.nn.Sequential()
    net.lin = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    assert sub.module("chx99_demo.m").same_params(net, opt) is True


def test_child_import_path_ignores_rays_vendored_packages():
    """After a Ray batch in the grader's process, ray/thirdparty_files (a vendored psutil) is
    first on sys.path; the child must not import from it (nltk broke on it in CI)."""
    from d2lgrade.isolation.transport import _added_by_ray
    assert _added_by_ray("/venv/lib/python3.11/site-packages/ray/thirdparty_files")
    assert not _added_by_ray("/venv/lib/python3.11/site-packages")
    assert not _added_by_ray("/course/thirdparty_files")
