"""Graders for ch04_computation.save_load (D2L 4.5).

Every file goes to the test's own ``tmp_path`` (passed to the student as a string). Files
the student wrote are read in the child (probe ``load_tensors``) with
``torch.load(..., weights_only=True)``, the restricted loader that accepts tensors and plain
containers and refuses anything else, so a pickled module (``torch.save(net, path)``) is
reported, never executed, and nothing the student wrote is unpickled by the grader.
"""
import pytest
import torch
from torch import nn

from d2lgrade import assert_close, hidden, points, reference
from d2lgrade.errors import GradeFailure, StudentException

MODULE = "ch04_computation.save_load"
ref = reference(MODULE)


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


def _read(student, path, what):
    """What the student saved at ``path``, read with the safe loader in the child."""
    __tracebackhide__ = True
    if not path.exists():
        raise GradeFailure(f"{what}: nothing was written to the path it was given")
    try:
        return student.submission.probe("load_tensors", str(path))
    except StudentException as exc:
        raise GradeFailure(f"{what}: the file is not a plain tensor/state_dict file that "
                           f"torch.load(path, weights_only=True) can read "
                           f"(was a whole module saved?): {exc.exc_type}") from None


def _same(actual, expected, what, hidden=False):
    """Same container type, keys/length and exactly the same tensors (dtype included)."""
    __tracebackhide__ = True
    if isinstance(expected, torch.Tensor):
        assert_close(actual, expected, what=what, hidden=hidden, kind="exact")
    elif isinstance(expected, (list, tuple)):
        assert isinstance(actual, (list, tuple)) and len(actual) == len(expected), \
            f"{what}: expected a list of {len(expected)} tensors, got {type(actual).__name__}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            _same(a, e, f"{what}[{i}]", hidden)
    else:
        assert isinstance(actual, dict) and list(actual) == list(expected), \
            f"{what}: expected a dict with keys {list(expected)}, got " \
            f"{list(actual) if isinstance(actual, dict) else type(actual).__name__}"
        for k in expected:
            _same(actual[k], expected[k], f"{what}[{k!r}]", hidden)


def _check_round_trip(student, obj, path, what, hidden=False):
    out = student.save_and_load(obj, str(path))
    _same(out, obj, what, hidden)
    items = obj if isinstance(obj, list) else list(obj.values()) if isinstance(obj, dict) else [obj]
    got = out if isinstance(out, list) else list(out.values()) if isinstance(out, dict) else [out]
    assert not any(a is b for a, b in zip(got, items)), \
        f"{what}: returned the object it was given instead of what torch.load read back"
    _same(_read(student, path, what), obj, f"{what}: the saved file", hidden)


@points(1)
def test_save_and_load_book_examples(student, tmp_path):
    """x = ones(3), [x, zeros(4)] and {'x': x, 'y': y} come back exactly, and the file is at the given path."""
    x, y = torch.ones(3), torch.zeros(4)
    _check_round_trip(student, x, tmp_path / "x.pt", "save_and_load(x)")
    _check_round_trip(student, [x, y], tmp_path / "xy.pt", "save_and_load([x, y])")
    _check_round_trip(student, {"x": x, "y": y}, tmp_path / "xy_dict.pt", "save_and_load({'x': x, 'y': y})")


@hidden
@points(1)
def test_save_and_load_random(student, tmp_path):
    """Random tensors of several dtypes, in a tensor, a list and a dict, round-trip exactly."""
    a = torch.randn(3, 5, dtype=torch.float64)
    b = torch.randint(-100, 100, (7,))
    c = torch.rand(2, 2, 2) > 0.5
    _check_round_trip(student, a, tmp_path / "a.pt", "a float64 tensor", hidden=True)
    _check_round_trip(student, [b, a, c], tmp_path / "list.pth", "a list of tensors", hidden=True)
    _check_round_trip(student, {"weight": a, "steps": b, "mask": c}, tmp_path / "d.pt",
                      "a dict of tensors", hidden=True)


@points(1)
def test_save_state_dict_mlp(student, submission, tmp_path):
    """save_state_dict(MLP(), path) writes exactly net.state_dict(): hidden.weight, hidden.bias, output.weight, output.bias."""
    net = student.MLP()
    path = tmp_path / "net.pt"
    student.save_state_dict(net, str(path))
    _same(_read(student, path, "save_state_dict(net, path)"), submission.probe("state_dict", net), "the saved state_dict")


def _bn_net():
    """A net with buffers (BatchNorm's running statistics), trained a little so they are not defaults."""
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(8, 3) * 2 + 1)
    return net


@hidden
@points(1)
def test_save_state_dict_with_buffers(student, tmp_path):
    """A net with BatchNorm: the file holds every parameter and buffer of its state_dict, exactly."""
    net = _bn_net()
    path = tmp_path / "bn.pt"
    student.save_state_dict(net, str(path))
    _same(_read(student, path, "save_state_dict(net, path)"), dict(net.state_dict()), "the saved state_dict", hidden=True)


@points(1)
def test_load_state_dict_round_trip(student, submission, tmp_path):
    """A state_dict saved from another MLP is loaded into net in place: same weights, same outputs."""
    src = ref.MLP()
    path = tmp_path / "net.pt"
    torch.save(src.state_dict(), path)
    net = student.MLP()
    student.load_state_dict(net, str(path))
    _same(submission.probe("state_dict", net), dict(src.state_dict()), "net's state_dict after loading")
    X = torch.randn(2, 3)
    with torch.no_grad():
        expected = src(X)
    assert_close(net(X), expected, what="net(X) after loading")


@hidden
@points(2)
def test_load_state_dict_buffers_and_strict(student, submission, tmp_path):
    """Buffers are loaded too; a file with a missing key or a wrong shape raises instead of loading silently."""
    src = _bn_net()
    path = tmp_path / "bn.pt"
    torch.save(src.state_dict(), path)
    net = student.load_state_dict(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(),
                                                nn.Linear(4, 2)), str(path))
    _same(submission.probe("state_dict", net), dict(src.state_dict()), "the loaded state_dict", hidden=True)

    bad = dict(ref.MLP().state_dict())
    del bad["output.bias"]
    torch.save(bad, tmp_path / "missing.pt")
    wrong = dict(ref.MLP().state_dict())
    wrong["hidden.weight"] = torch.randn(2, 4)
    torch.save(wrong, tmp_path / "wrong.pt")
    for name, what in (("missing.pt", "a file without output.bias"), ("wrong.pt", "a hidden.weight of the wrong shape")):
        try:
            student.load_state_dict(student.MLP(), str(tmp_path / name))
        except StudentException as exc:
            assert exc.exc_type != "NotImplementedError", "load_state_dict is not implemented"
            continue
        raise AssertionError(f"loading {what} into an MLP must raise an error (strict loading)")


@points(1)
def test_rebuild_mlp_identical_outputs(student, tmp_path):
    """A net rebuilt from the saved state_dict gives exactly the same outputs: Y2 == Y."""
    src = ref.MLP()
    path = tmp_path / "net.pt"
    torch.save(src.state_dict(), path)
    net2 = student.rebuild_mlp(str(path))
    X = torch.randn(2, 3)
    with torch.no_grad():
        Y = src(X)
    assert_close(net2(X), Y, what="net2(X) (must equal net(X) exactly)", kind="exact")


@hidden
@points(1)
def test_rebuild_mlp_random(student, submission, tmp_path):
    """Nets with random large weights are rebuilt exactly (state and outputs)."""
    for i in range(2):
        src = ref.MLP()
        with torch.no_grad():
            for p in src.parameters():
                p.normal_(0, 3)
        path = tmp_path / f"net{i}.pt"
        torch.save(src.state_dict(), path)
        net2 = student.rebuild_mlp(str(path))
        _same(submission.probe("state_dict", net2), dict(src.state_dict()), "the rebuilt state_dict", hidden=True)
        X = torch.randn(20, 3)
        with torch.no_grad():
            Y = src(X)
        assert_close(net2(X), Y, what="net2(X)", hidden=True, kind="exact")
