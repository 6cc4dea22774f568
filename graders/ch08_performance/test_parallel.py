"""Graders for ch08_performance.parallel (D2L 8.3-8.4): data parallelism and the ``module.`` prefix.

Everything runs on the CPU: a list of devices may name the CPU several times, and
``nn.DataParallel`` without GPUs still wraps the model as ``.module`` (so its state_dict keys
still start with ``module.``, the book's pitfall). Files the student wrote are read in the
student's process with ``torch.load(weights_only=True)`` (probe ``load_tensors``).
"""
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from d2lgrade import GradeFailure, StudentError, assert_close, call_timeout, hidden, points, reference, tier

MODULE = "ch08_performance.parallel"
ref = reference(MODULE)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


def _indexed_batch(n, features=3):
    """X whose row i is filled with i, y = i: every row can be traced back."""
    y = torch.arange(n)
    return y[:, None].float().repeat(1, features), y


@points(2)
def test_split_batch_sizes_and_order(student):
    """10 examples on 3 devices: shards of 4, 3, 3 rows, in order, each X row with its label."""
    X, y = _indexed_batch(10)
    out = student.split_batch(X, y, [CPU, CPU, CPU])
    assert isinstance(out, (tuple, list)) and len(out) == 2, "split_batch must return (X_shards, y_shards)"
    X_shards, y_shards = out
    assert [len(s) for s in X_shards] == [4, 3, 3], f"X shard sizes {[len(s) for s in X_shards]}, expected [4, 3, 3]"
    assert [len(s) for s in y_shards] == [4, 3, 3], f"y shard sizes {[len(s) for s in y_shards]}, expected [4, 3, 3]"
    assert_close(torch.cat(list(X_shards)), X, what="the X shards put back together", kind="exact")
    assert_close(torch.cat(list(y_shards)), y, what="the y shards put back together", kind="exact")


@hidden
@points(1)
def test_split_batch_random(student):
    """Random batch sizes and device counts (as many devices as examples included): the reference's shards."""
    for n, k in ((7, 2), (16, 4), (5, 5), (13, 6)):
        X, y = torch.randn(n, 2, 3), torch.randint(0, 9, (n,))
        got = student.split_batch(X, y, [CPU] * k)
        exp = ref.split_batch(X, y, [CPU] * k)
        assert len(got[0]) == k and len(got[1]) == k
        for g, e in zip(list(got[0]) + list(got[1]), exp[0] + exp[1]):
            assert_close(g, e, what=f"a shard ({n} examples, {k} devices)", hidden=True, kind="exact")


@points(1)
def test_allreduce_sums_in_place(student):
    """allreduce([a, b, c]) writes a + b + c into a, b and c."""
    data = [torch.full((2, 3), float(i + 1)) for i in range(3)]
    student.allreduce(data)
    for i, t in enumerate(data):
        assert_close(t, torch.full((2, 3), 6.0), what=f"data[{i}] after allreduce")


@hidden
@points(1)
def test_allreduce_random(student):
    """Random tensors: every one holds the sum afterwards (float64 kept)."""
    data = [torch.randn(4, 5, dtype=torch.float64) for _ in range(4)]
    expected = sum(d.clone() for d in data)
    student.allreduce(data)
    for t in data:
        assert_close(t, expected, what="a tensor after allreduce", hidden=True, kind="reduction")


def _twin_and_remote(submission):
    twin = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4))
    tnn = submission.module("torch.nn")
    remote = tnn.Sequential(tnn.Linear(6, 16), tnn.ReLU(), tnn.Linear(16, 4))
    submission.probe("load_state_dict", remote, twin.state_dict())
    return twin, remote


def _full_batch_grads(twin, X, y):
    twin.zero_grad()
    F.cross_entropy(twin(X), y, reduction="sum").backward()
    return [p.grad.clone() for p in twin.parameters()]


@points(2)
def test_data_parallel_grads_equal_full_batch(student, submission):
    """Gradients of a data-parallel step on 3 devices (11 examples) equal the full-batch gradient of the summed loss."""
    twin, net = _twin_and_remote(submission)
    X, y = torch.randn(11, 6), torch.randint(0, 4, (11,))
    grads = student.data_parallel_grads(net, X, y, nn.CrossEntropyLoss(reduction="sum"), [CPU] * 3)
    expected = _full_batch_grads(twin, X, y)
    assert isinstance(grads, (list, tuple)) and len(grads) == len(expected), \
        f"expected one gradient per parameter ({len(expected)}), got {grads!r:.200}"
    for i, (g, e) in enumerate(zip(grads, expected)):
        assert_close(g, e, what=f"gradient of parameter {i}", kind="reduction")


@hidden
@points(2)
def test_data_parallel_grads_stale_grads_and_net_unchanged(student, submission):
    """A net that already holds gradients: the result is still the step's own gradient, for several device counts, and the net's weights are unchanged."""
    twin, net = _twin_and_remote(submission)
    submission.probe("vjp", net, [torch.randn(5, 6)], [])          # leaves stale .grad on net
    before = submission.probe("state_dict", net)
    for n, k in ((9, 2), (12, 4)):
        X, y = torch.randn(n, 6), torch.randint(0, 4, (n,))
        grads = student.data_parallel_grads(net, X, y, nn.CrossEntropyLoss(reduction="sum"), [CPU] * k)
        for g, e in zip(grads, _full_batch_grads(twin, X, y)):
            assert_close(g, e, what=f"a gradient ({n} examples, {k} devices)", hidden=True, kind="reduction")
    after = submission.probe("state_dict", net)
    for k_ in before:
        assert torch.equal(before[k_], after[k_]), "data_parallel_grads changed the net's weights"


# -- the module. prefix ---------------------------------------------------------------
def _plain_net():
    return nn.Sequential(OrderedDict(linear=nn.Linear(10, 4),
                                     submodule=nn.Sequential(nn.ReLU(), nn.Linear(4, 1))))


@points(1)
def test_strip_module_prefix_book(student):
    """The state_dict of DataParallel(Linear(10, 1)) has keys module.weight, module.bias; stripped, it loads into Linear(10, 1)."""
    net = nn.DataParallel(nn.Linear(10, 1))
    state = net.state_dict()
    assert list(state) == ["module.weight", "module.bias"]  # the book's pitfall, on this machine too
    stripped = student.strip_module_prefix(state)
    assert list(stripped) == ["weight", "bias"], f"keys after stripping: {list(stripped)}"
    new_net = nn.Linear(10, 1)
    new_net.load_state_dict(stripped)
    assert_close(new_net.weight.detach(), net.module.weight.detach(), what="the loaded weight")


@hidden
@points(2)
def test_strip_module_prefix_only_leading(student):
    """Only a leading 'module.' is removed, once: keys such as 'module.linear.weight', 'module.submodule.1.bias' and unprefixed keys come out right, in order."""
    for state in (nn.DataParallel(_plain_net()).state_dict(), _plain_net().state_dict(),
                  nn.DataParallel(nn.DataParallel(nn.Linear(2, 2))).state_dict()):
        got = student.strip_module_prefix(state)
        exp = ref.strip_module_prefix(state)
        assert list(got) == list(exp), f"keys after stripping: {list(got)}"
        for k in exp:
            assert torch.equal(got[k], exp[k])


def _read(submission, path, what):
    __tracebackhide__ = True
    if not path.exists():
        raise GradeFailure(f"{what}: nothing was written to the path it was given")
    try:
        return submission.probe("load_tensors", str(path))
    except StudentError:
        raise GradeFailure(f"{what}: the file is not a state_dict that torch.load(path, "
                           "weights_only=True) can read (was a whole module saved?)") from None


@points(2)
def test_save_state_dict_data_parallel_without_prefix(student, submission, tmp_path):
    """save_state_dict(DataParallel(net)) writes the plain model's keys (no 'module.'), which load into the unwrapped model."""
    tnn = submission.module("torch.nn")
    inner = tnn.Linear(10, 1)
    net = tnn.DataParallel(inner)
    path = tmp_path / "dp.pt"
    student.save_state_dict(net, str(path))
    saved = _read(submission, path, "save_state_dict(DataParallel(Linear(10, 1)))")
    assert list(saved) == ["weight", "bias"], \
        f"saved keys {list(saved)}; expected ['weight', 'bias'] (the model without its DataParallel wrapper)"
    expected = submission.probe("state_dict", inner)
    fresh = nn.Linear(10, 1)
    fresh.load_state_dict(saved)
    assert_close(fresh.weight.detach(), expected["weight"], what="the saved weight", kind="exact")


@hidden
@points(1)
def test_save_state_dict_plain_net(student, submission, tmp_path):
    """save_state_dict of an unwrapped net saves its own state_dict (same keys and tensors)."""
    tnn = submission.module("torch.nn")
    net = tnn.Sequential(tnn.Linear(3, 5), tnn.BatchNorm1d(5))
    path = tmp_path / "plain.pt"
    student.save_state_dict(net, str(path))
    saved = _read(submission, path, "save_state_dict(net)")
    expected = submission.probe("state_dict", net)
    assert list(saved) == list(expected)
    for k in expected:
        assert torch.equal(saved[k], expected[k])


@points(2)
def test_load_state_dict_any_prefixed_file(student, submission, tmp_path):
    """A file saved from a DataParallel model (keys with 'module.') loads into a plain Linear(10, 1)."""
    src = nn.DataParallel(nn.Linear(10, 1))
    path = tmp_path / "prefixed.pt"
    torch.save(src.state_dict(), path)
    net = submission.module("torch.nn").Linear(10, 1)
    student.load_state_dict_any(net, str(path))
    got = submission.probe("state_dict", net)
    assert_close(got["weight"], src.module.weight.detach(), what="the loaded weight", kind="exact")
    assert_close(got["bias"], src.module.bias.detach(), what="the loaded bias", kind="exact")


@hidden
@points(2)
def test_load_state_dict_any_all_combinations(student, submission, tmp_path):
    """Files with and without the prefix load into wrapped and unwrapped nets, strictly (a wrong file raises)."""
    tnn = submission.module("torch.nn")
    for i, (save_wrapped, load_wrapped) in enumerate(((False, False), (True, False), (False, True), (True, True))):
        src = _plain_net()
        path = tmp_path / f"combo{i}.pt"
        torch.save((nn.DataParallel(src) if save_wrapped else src).state_dict(), path)
        inner = tnn.Sequential(OrderedDict(linear=tnn.Linear(10, 4),
                                           submodule=tnn.Sequential(tnn.ReLU(), tnn.Linear(4, 1))))
        net = tnn.DataParallel(inner) if load_wrapped else inner
        student.load_state_dict_any(net, str(path))
        got = submission.probe("state_dict", inner)
        for k, v in src.state_dict().items():
            assert torch.equal(got[k], v), f"{k} was not loaded (saved wrapped={save_wrapped}, net wrapped={load_wrapped})"
    torch.save(nn.Linear(3, 3).state_dict(), tmp_path / "wrong.pt")
    with pytest.raises(StudentError):
        student.load_state_dict_any(tnn.Linear(10, 1), str(tmp_path / "wrong.pt"))


# -- gpu tier -------------------------------------------------------------------------
@tier("gpu")
@call_timeout(120)
@points(2)
def test_data_parallel_on_cuda(student, submission, tmp_path):
    """On CUDA: split_batch puts shards on the GPU, data_parallel_grads on two CUDA replicas equals the CPU full-batch gradient, and a CUDA DataParallel net saves without the prefix."""
    cuda = torch.device("cuda:0")
    X, y = _indexed_batch(10)
    X_shards, y_shards = student.split_batch(X, y, [cuda, CPU])
    assert X_shards[0].device.type == "cuda" and y_shards[0].device.type == "cuda", "shard 0 is not on cuda:0"
    assert X_shards[1].device.type == "cpu", "shard 1 is not on the CPU"
    twin, net = _twin_and_remote(submission)
    Xr, yr = torch.randn(12, 6), torch.randint(0, 4, (12,))
    grads = student.data_parallel_grads(net, Xr, yr, nn.CrossEntropyLoss(reduction="sum"), [cuda, cuda])
    for g, e in zip(grads, _full_batch_grads(twin, Xr, yr)):
        assert g.device.type == "cuda", "the gradients must be on devices[0]"
        assert_close(g.cpu(), e, what="a gradient computed on CUDA", rtol=1e-3, atol=1e-3)
    tnn = submission.module("torch.nn")
    inner = tnn.Linear(10, 1).cuda()
    path = tmp_path / "cuda_dp.pt"
    student.save_state_dict(tnn.DataParallel(inner), str(path))
    assert list(_read(submission, path, "save_state_dict(DataParallel(cuda net))")) == ["weight", "bias"]


@tier("gpu")
@call_timeout(300)
@points(2)
def test_data_parallel_step_cuda_speedup(student, submission, feedback, median_seconds):
    """The student's data-parallel gradient step for a CNN (batch 64, 3 x 64 x 64, about 170 GFLOP) is at least 3x faster on one CUDA device than on the CPU (median of 5 after a warm-up, synchronised)."""
    tnn = submission.module("torch.nn")
    net = tnn.Sequential(tnn.Conv2d(3, 64, 3, padding=1), tnn.ReLU(), tnn.Conv2d(64, 128, 3, padding=1), tnn.ReLU(),
                         tnn.Conv2d(128, 128, 3, padding=1), tnn.ReLU(),
                         tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), tnn.Linear(128, 10))
    X, y = torch.rand(64, 3, 64, 64), torch.randint(0, 10, (64,))
    loss = nn.CrossEntropyLoss(reduction="sum")
    tc = submission.module("torch.cuda")
    # the batch (3 MB) is sent once and stays in the student's process; a timed call sends the devices
    step = submission.module("functools").partial(student.data_parallel_grads.value(), net, X, y, loss)
    cpu = median_seconds(lambda: step([CPU]), lambda: None, repeats=3)
    gpu = median_seconds(lambda: step([torch.device("cuda:0")]), tc.synchronize)
    feedback(f"data_parallel_grads (CNN, batch 64, 3x64x64): CPU {cpu:.3f} s, CUDA {gpu:.4f} s ({cpu / gpu:.1f}x)")
    assert cpu / gpu >= 3.0, f"the step on CUDA is only {cpu / gpu:.1f}x faster than on the CPU"
