"""What the book's code expects around it in the child (issue 15): ``d2lzh_pytorch``,
stand-ins for notebook-only and missing packages, DataLoader workers, book-style calls, and
messages about a student's value of the wrong form."""
import shutil
import textwrap
from pathlib import Path

import pytest
import torch

from d2lgrade.errors import StudentException
from d2lgrade.isolation.handle import Submission


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        init = path.parent / "__init__.py"
        if not init.exists():
            init.write_text("")
    return root


@pytest.fixture(params=["process", "none"])
def isolation(request):
    return request.param


def test_helper_package_serves_the_students_own_definitions(tmp_path, isolation):
    sub = _write(tmp_path / "sub", {
        "ch03_basics/linear_regression.py": """
            def sgd(params, lr, batch_size):
                return "ch03 sgd"
            def squared_loss(y_hat, y):
                return "ch03 loss"
        """,
        "ch07_optimization/minibatch_sgd.py": """
            def sgd(params, states, hyperparams):
                return "ch07 sgd"
        """,
        "ch07_optimization/momentum.py": """
            import d2lzh_pytorch as d2l
            import d2lzh
            def which():
                return d2l.sgd(None, None, None), d2l.squared_loss(1, 2), d2lzh.sgd(1, 2, 3)
            def squared_loss(y_hat, y):
                return "own"
            def own_first():
                return d2l.squared_loss(1, 2)
            def figure():
                return type(d2l.plt.Rectangle((0, 0), 1, 1)).__name__
        """,
        "ch03_basics/softmax_regression.py": """
            import d2lzh_pytorch as d2l
            from d2lzh_pytorch import squared_loss
            def later_chapter():
                return d2l.sgd(1, 2, 3), squared_loss(1, 2)
        """,
    })
    s = Submission(str(sub), isolation=isolation)
    try:
        m = s.module("ch07_optimization.momentum")
        # same chapter first (ch07's sgd, not ch03's), then earlier chapters
        assert list(m.which()) == ["ch07 sgd", "own", "ch07 sgd"]
        assert m.own_first() == "own"
        assert m.figure() == "Rectangle"
        # a chapter never sees a later chapter's definitions
        assert list(s.module("ch03_basics.softmax_regression").later_chapter()) == ["ch03 sgd", "ch03 loss"]
    finally:
        s.close()


def test_helper_package_says_what_is_missing(tmp_path):
    sub = _write(tmp_path / "sub", {"ch05_cnn/lenet.py": """
        import d2lzh_pytorch as d2l
        def use():
            return d2l.train_ch5
    """})
    s = Submission(str(sub))
    try:
        with pytest.raises(StudentException, match=r"no module of ch05_cnn or an earlier chapter defines train_ch5"):
            s.module("ch05_cnn.lenet").use()
    finally:
        s.close()


def test_helper_package_never_reaches_the_reference(tmp_path, course):
    """Stubs give only given code: a graded function is still the stub, names that exist only
    inside solution regions are not there, and the reference package cannot be imported."""
    import ast
    sub = tmp_path / "sub"
    shutil.copytree(course.root / "assignments", sub)
    # names bound only inside solution regions of chapter 6 (e.g. helpers inside get_params)
    inner = set()
    for path in (course.solutions / "ch06_rnn").glob("*.py"):
        tree = ast.parse(path.read_text())
        top = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        inner |= {n.name for f in tree.body if isinstance(f, ast.FunctionDef)
                  for n in ast.walk(f) if isinstance(n, ast.FunctionDef) and n is not f} - top
    assert inner, "the test needs a helper defined inside a solution region"
    _write(sub, {"ch06_rnn/probe_reference.py": f"""
        import d2lzh_pytorch as d2l
        def graded():
            import torch
            return d2l.to_onehot(torch.zeros(2, 3), 4)
        def inner_names():
            found = []
            for name in {sorted(inner)!r}:
                try:
                    getattr(d2l, name)
                    found.append(name)
                except AttributeError:
                    pass
            return found
        def reference_importable():
            import importlib
            for name in ("d2lgrade_reference", "d2lgrade_reference.ch06_rnn.rnn_scratch", "solutions"):
                try:
                    importlib.import_module(name)
                    return name
                except Exception:
                    pass
            return None
    """})
    s = Submission(str(sub))
    try:
        m = s.module("ch06_rnn.probe_reference")
        with pytest.raises(StudentException, match="to_onehot: replace this line"):
            m.graded()
        assert m.inner_names() == []
        assert m.reference_importable() is None
    finally:
        s.close()


def test_notebook_only_and_missing_packages_do_not_sink_a_module(tmp_path, isolation):
    sub = _write(tmp_path / "sub", {"ch10_nlp/textcnn.py": """
        from IPython import display
        import torchtext.vocab as Vocab
        import matplotlib.pyplot as plt
        def show():
            display.set_matplotlib_formats("svg")
            return "shown"
        def glove():
            return Vocab.GloVe(name="6B", dim=100)
        def plot():
            plt.figure()
            return "plotted"
    """})
    try:
        import IPython  # noqa: F401
        pytest.skip("IPython is installed here: the stand-in is not used")
    except ImportError:
        pass
    s = Submission(str(sub), isolation=isolation)
    try:
        m = s.module("ch10_nlp.textcnn")
        assert m.show() == "shown" and m.plot() == "plotted"
        with pytest.raises(StudentException, match=r"torchtext.vocab.GloVe is not available where your code is graded"):
            m.glove()
    finally:
        s.close()


def test_dataloader_workers_run_in_the_sandbox(tmp_path):
    sub = _write(tmp_path / "sub", {"ch03_basics/fashion_mnist.py": """
        import torch
        from torch.utils.data import DataLoader, TensorDataset
        def total(workers):
            ds = TensorDataset(torch.arange(40.).view(20, 2), torch.arange(20))
            it = DataLoader(ds, batch_size=4, shuffle=True, num_workers=workers)
            return sum(float(X.sum()) for X, y in it), len(list(it))
    """})
    s = Submission(str(sub))
    try:
        m = s.module("ch03_basics.fashion_mnist")
        assert list(m.total(0)) == list(m.total(4)) == [780.0, 5]
    finally:
        s.close()


def test_with_globals_sets_module_level_names_for_one_call(tmp_path, isolation):
    sub = _write(tmp_path / "sub", {
        "ch07_optimization/gradient_descent.py": """
            eta = 0.4
            def gd_2d(x1, x2, s1, s2):
                return (x1 - eta * 0.2 * x1, x2 - eta * 4 * x2, 0, 0)
            def current_eta():
                return eta
            def train_2d(trainer):
                return trainer(1.0, 1.0, 0, 0)
        """,
        "ch07_optimization/momentum.py": """
            from .gradient_descent import train_2d
            def momentum_2d(x1, x2, v1, v2):
                return (gamma * v1 + eta * 0.2 * x1, 0, 0, 0)
        """,
        "ch03_basics/softmax_regression.py": """
            import torch
            def net(X):
                return X @ W + b
            def step(params, lr):
                loss = net(torch.ones(1, 2)).sum()
                loss.backward()
                for p in params:
                    p.data -= lr * p.grad
                return float(loss)
        """})
    s = Submission(str(sub), isolation=isolation)
    try:
        m = s.module("ch07_optimization.gradient_descent")
        assert [p["name"] for p in m.gd_2d.signature()] == ["x1", "x2", "s1", "s2"]
        out = m.gd_2d.with_globals(eta=0.1)(1.0, 1.0, 0, 0)
        assert list(out) == pytest.approx([0.98, 0.6, 0, 0])
        assert m.current_eta() == 0.4                      # restored after the call
        # a name the module did not have is removed again
        mom = s.module("ch07_optimization.momentum")
        with pytest.raises(StudentException, match="name 'gamma' is not defined"):
            mom.momentum_2d(1.0, 1.0, 0.0, 0)
        # the trainer's module and the update function's module both get the names
        run = m.train_2d.with_globals("ch07_optimization.momentum", eta=0.5, gamma=0.5)
        assert list(run(mom.momentum_2d.value())) == pytest.approx([0.1, 0, 0, 0])
        # tensors: a global that is also an argument stays one tensor, and is written back
        W = torch.zeros(2, 1, requires_grad=True)
        b = torch.zeros(1, requires_grad=True)
        sm = s.module("ch03_basics.softmax_regression")
        assert sm.step.with_globals(W=W, b=b)([W, b], 0.5) == 0.0
        assert torch.equal(W.detach(), torch.full((2, 1), -0.5)) and float(b.detach()) == -0.5
        X = torch.ones(3, 2)
        assert torch.equal(sm.net.with_globals(W=W, b=b)(X), torch.full((3, 1), -1.5))
        with pytest.raises(StudentException, match="name 'W' is not defined"):
            sm.net(X)
    finally:
        s.close()


class _Item:
    def __init__(self, path):
        self.path = path


def test_a_value_of_the_wrong_form_is_the_students_not_a_grader_error():
    from d2lgrade.grading.messages import wrong_form
    with pytest.raises(ValueError) as info:
        embed, oov = torch.zeros(5, 3)          # the book returns one value, the test wants two
    msg = wrong_form(_Item(Path(__file__)), info, "public")
    assert msg.startswith("your result does not have the form this test expects (ValueError: too many values")
    assert "embed, oov = torch.zeros(5, 3)" in msg
    hidden = wrong_form(_Item(Path(__file__)), info, "hidden")
    assert "torch.zeros" not in hidden and "ValueError" in hidden
    with pytest.raises(NameError) as info:
        undefined_in_the_grader  # noqa: F821 - a real grader bug stays a grader error
    assert wrong_form(_Item(Path(__file__)), info, "public") is None


def test_every_probe_name_is_defined_once():
    """A probe defined twice silently replaces the first (``parameters`` of a module was once
    shadowed by a signature helper)."""
    import ast
    import collections
    import d2lgrade.isolation.probes as probes
    tree = ast.parse(Path(probes.__file__).read_text(encoding="utf-8"))
    counts = collections.Counter(n.name for n in tree.body if isinstance(n, ast.FunctionDef))
    assert [n for n, c in counts.items() if c > 1] == []
    assert probes.PROBES["parameters"].__code__.co_varnames[0] == "module"


def test_with_globals_calls_are_traced_by_from_scratch_policies(tmp_path):
    """A book-shaped call is a graded call like any other: the issue-14 policy still applies."""
    from d2lgrade import ops
    from d2lgrade.scratch.policies import Policy
    from d2lgrade.scratch.record import ScratchViolation
    sub = _write(tmp_path / "sub", {"ch99_book/softmax.py": """
        import torch
        def net(X):
            E = (X @ W + b).exp()
            return E / E.sum(1, keepdim=True)
        def net_shortcut(X):
            return torch.softmax(X @ W + b, 1)
    """})
    s = Submission(str(sub), "process")
    s.set_policies([Policy("ch99_book.softmax", name, allow=ops.ELEMENTARY, names=("softmax",))
                    for name in ("net", "net_shortcut")])
    try:
        m = s.module("ch99_book.softmax")
        W, b, X = torch.randn(3, 2), torch.zeros(2), torch.randn(4, 3)
        assert torch.allclose(m.net.with_globals(W=W, b=b)(X), torch.softmax(X @ W, 1))
        assert "ch99_book.softmax.net" not in s.scratch.violations
        with pytest.raises(ScratchViolation, match="softmax"):
            m.net_shortcut.with_globals(W=W, b=b)(X)
    finally:
        s.close()


def test_the_books_relative_data_paths_find_the_course_data(tmp_path):
    """``'../data/airfoil_self_noise.dat'`` (7.3) opens in the child's working folder, read only."""
    import os
    data = os.environ.get("D2L_DATA_DIR")
    if not data or not (Path(data) / "airfoil_self_noise.dat").exists():
        pytest.skip("D2L_DATA_DIR with airfoil_self_noise.dat is not set (the data tier)")
    sub = _write(tmp_path / "sub", {"ch07_optimization/minibatch_sgd.py": """
        def first_line():
            with open('../data/airfoil_self_noise.dat') as f:
                return f.readline()
        def write():
            with open('../data/planted.txt', 'w') as f:
                f.write('x')
    """})
    s = Submission(str(sub))
    try:
        m = s.module("ch07_optimization.minibatch_sgd")
        with open(Path(data) / "airfoil_self_noise.dat") as f:
            assert m.first_line() == f.readline()
        with pytest.raises(StudentException, match="OSError|PermissionError|Read-only"):
            m.write()
        assert not (Path(data) / "planted.txt").exists()
    finally:
        s.close()
