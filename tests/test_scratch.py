"""From-scratch functions are graded by what runs (issue 14) and dependent tests by their own
code (issue 19), end to end: shortcut submissions against the real graders.

Each submission is the reference with a few functions replaced (``validate.splice``, as
mutants are made), graded in the sandboxed child on the grader files concerned. A shortcut
must earn nothing on *any* test that reaches the function (its own tests, the tests of the
code built on it, convergence tests), with a message that names the function and what it
ran; tests of untouched functions keep their points.
"""
import ast
import shutil
from pathlib import Path

import pytest

from d2lgrade.course.layout import Course
from d2lgrade.grading.api import run_graders
from d2lgrade.course_tools.validate import Mutant, splice

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)

SOFTMAX = "test_softmax_regression.py"
MLP = "test_mlp.py"
DROPOUT = "test_dropout.py"
CONV = "test_conv_layer.py"
CHANNELS = "test_channels.py"


def build(tmp_path: Path, replacements: dict[str, str], chapters=("ch03_basics", "ch05_cnn")) -> Path:
    """A copy of the reference chapters with the given definitions replaced (new helpers are
    appended)."""
    sub = tmp_path / "sub"
    for chapter in chapters:
        shutil.copytree(COURSE.solutions / chapter, sub / chapter)
    for module, source in replacements.items():
        path = sub.joinpath(*module.split(".")).with_suffix(".py")
        original = path.read_text()
        defined = {n.name for n in ast.parse(original).body if hasattr(n, "name")}
        tree = ast.parse(source)
        lines = source.splitlines(keepends=True)
        mine = "".join("".join(lines[n.lineno - 1:n.end_lineno]) for n in tree.body
                       if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in defined)
        extra = "".join("".join(lines[n.lineno - 1:n.end_lineno]) for n in tree.body
                        if not (isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in defined))
        mutant = Mutant(path, module.split(".")[0], module, [], "", mine)
        path.write_text(splice(original, mutant) + "\n" + extra)
    return sub


def grade(sub: Path, chapter: str, files: list[str], seed: int = 3):
    nodes = [str(COURSE.graders / chapter / f) for f in files]
    run = run_graders(sub, COURSE, [chapter], seed=seed, isolation="process", node_ids=nodes,
                      call_timeout=30)
    return {r.display_name: r for r in run.results}


def passed(results) -> set[str]:
    return {n for n, r in results.items() if r.status == "passed"}


def named(results, *prefixes: str) -> set[str]:
    return {n for n in results if n.split("::")[1].startswith(prefixes)}


def reaching(results, *functions: str) -> set[str]:
    """Tests that reached any of the (short-named) functions, directly or through other code."""
    return {n for n, r in results.items() if any(u.rsplit(".", 1)[-1] in functions for u in r.uses)}


# -- class 1: private or alternate entry points, equivalents by another name --------------------
ENTRY_POINTS_CH03 = {
    "ch03_basics.softmax_regression": '''
def softmax(X):
    return torch._softmax(X, 1, False)

def cross_entropy(y_hat, y):
    return torch._C._nn.nll_loss(torch.log(y_hat), y, None, 0, -100).view(-1, 1)
''',
    "ch03_basics.mlp": '''
import torch.nn.functional as F

def relu(X):
    return F.leaky_relu(X, 0.0)
''',
    "ch03_basics.dropout": '''
def dropout(X, drop_prob):
    if not X.is_floating_point():
        X = X.float()
    return torch.native_dropout(X, drop_prob, True)[0] if drop_prob < 1 else torch.zeros_like(X)
''',
}


def test_alternate_entry_points_ch03_earn_nothing(tmp_path):
    sub = build(tmp_path, ENTRY_POINTS_CH03, chapters=("ch03_basics",))
    results = grade(sub, "ch03_basics", [SOFTMAX, MLP, DROPOUT])
    own = named(results, "test_softmax_", "test_cross_entropy_", "test_relu_", "test_dropout_p",
                "test_dropout_half", "test_dropout_keep", "test_dropout_expectation",
                "test_dropout_dtype", "test_dropout_gradient")
    hit = reaching(results, "softmax", "cross_entropy", "relu", "dropout")
    assert own <= hit and named(results, "test_net_", "test_train_scratch", "test_mlp_net") <= hit
    assert not (passed(results) & hit), sorted(passed(results) & hit)
    messages = {n: results[n].message for n in hit}
    assert "aten._softmax" in messages["ch03_basics/test_softmax_regression::test_softmax_known_values"]
    assert "aten.nll_loss" in messages["ch03_basics/test_softmax_regression::test_cross_entropy_book_example"]
    assert "aten.leaky_relu" in messages["ch03_basics/test_mlp::test_relu_book_example"]
    assert "aten.native_dropout" in messages["ch03_basics/test_dropout::test_dropout_keep_rate"]
    # the rest of the chapter is graded normally
    assert "ch03_basics/test_softmax_regression::test_accuracy_book_example" in passed(results)


ENTRY_POINTS_CH05 = {
    "ch05_cnn.conv_layer": '''
def corr2d(X, K):
    return torch._C._nn.thnn_conv2d(X.float()[None, None], K.float()[None, None], list(K.shape))[0, 0]
''',
    "ch05_cnn.channels": '''
def corr2d_multi_in(X, K):
    return torch.ops.aten._convolution(X.float()[None], K.float()[None], None, [1, 1], [0, 0], [1, 1],
                                       False, [0, 0], 1, False, False, True, True)[0, 0]

def corr2d_multi_in_out(X, K):
    return torch.mkldnn_convolution(X.float()[None], K.float(), None, [0, 0], [1, 1], [1, 1], 1)[0]

def corr2d_multi_in_out_1x1(X, K):
    return getattr(torch._C._VariableFunctions, "conv" + "2d")(X[None], K)[0]
''',
}


def test_alternate_entry_points_ch05_earn_nothing(tmp_path):
    """The issue's example: chapter 5 with four such shortcuts scored 91/91."""
    sub = build(tmp_path, ENTRY_POINTS_CH05, chapters=("ch05_cnn",))
    results = grade(sub, "ch05_cnn", [CONV, CHANNELS])
    assert passed(results) == set(), sorted(passed(results))
    assert "aten._slow_conv2d_forward" in results["ch05_cnn/test_conv_layer::test_corr2d_book_example"].message
    # corr2d is a shortcut: the layer built on it earns nothing either (no substitution)
    assert "corr2d must be written from scratch" in results["ch05_cnn/test_conv_layer::test_conv2d_layer_forward"].message
    assert "aten._convolution" in results["ch05_cnn/test_channels::test_multi_in_book_example"].message
    assert "aten.mkldnn_convolution" in results["ch05_cnn/test_channels::test_multi_in_out_book_example"].message


# -- class 2: libraries the trace does not follow, reached with names built at run time ---------
UNTRACED = {
    "ch03_basics.softmax_regression": '''
def softmax(X):
    import importlib
    special = importlib.import_module("sci" + "py.spec" + "ial")
    return torch.from_numpy(getattr(special, "soft" + "max")(X.detach().numpy(), axis=1))

def cross_entropy(y_hat, y):
    values = [[-__import__("math").log(row[int(k)])] for row, k in zip(y_hat.tolist(), y.tolist())]
    return torch.tensor(values, dtype=y_hat.dtype)
''',
    "ch03_basics.mlp": '''
def relu(X):
    np = __import__("num" + "py")
    return torch.as_tensor(np.maximum(np.asarray(X), 0))
''',
}


def test_untraced_libraries_earn_nothing(tmp_path):
    sub = build(tmp_path, UNTRACED, chapters=("ch03_basics",))
    results = grade(sub, "ch03_basics", [SOFTMAX, MLP])
    hit = reaching(results, "softmax", "cross_entropy", "relu")
    assert named(results, "test_softmax_", "test_cross_entropy_", "test_relu_", "test_net_") <= hit
    assert not (passed(results) & hit), sorted(passed(results) & hit)
    m = results["ch03_basics/test_softmax_regression::test_softmax_known_values"].message
    assert "softmax" in m and ("scipy" in m or "NumPy" in m)
    assert "NumPy/Python" in results["ch03_basics/test_softmax_regression::test_cross_entropy_book_example"].message
    assert "NumPy/Python" in results["ch03_basics/test_mlp::test_relu_book_example"].message


# -- class 3: a second definition after an honest-looking one --------------------------------
def test_second_definition_is_the_one_checked(tmp_path):
    sub = build(tmp_path, {}, chapters=("ch03_basics",))
    path = sub / "ch03_basics" / "softmax_regression.py"
    path.write_text(path.read_text() + "\n\nimport torch.nn.functional as F\n\n\ndef softmax(X):\n"
                    "    return F.softmax(X, dim=1)\n")
    results = grade(sub, "ch03_basics", [SOFTMAX])
    hit = reaching(results, "softmax")
    assert named(results, "test_softmax_", "test_net_", "test_train_scratch") <= hit
    assert not (passed(results) & hit)
    m = results["ch03_basics/test_softmax_regression::test_softmax_known_values"].message
    assert "defines softmax 2 times" in m and "F.softmax" in m, m


# -- class 4: every test that calls the function is traced -----------------------------------
def test_dependent_tests_of_a_shortcut_earn_nothing(tmp_path):
    """corr2d by F.conv2d: the conv-layer and learn-kernel tests built on it pay nothing."""
    sub = build(tmp_path, {"ch05_cnn.conv_layer": '''
import torch.nn.functional as F

def corr2d(X, K):
    return F.conv2d(X.float()[None, None], K.float()[None, None])[0, 0]
'''}, chapters=("ch05_cnn",))
    results = grade(sub, "ch05_cnn", [CONV, CHANNELS])
    hit = reaching(results, "corr2d")
    assert named(results, "test_corr2d", "test_learn_kernel", "test_multi_in") <= hit
    assert not (passed(results) & hit), sorted(passed(results) & hit)
    assert passed(results) == named(results, "test_1x1")   # the one function not built on corr2d
    forward = results["ch05_cnn/test_conv_layer::test_conv2d_layer_forward"].message
    assert "corr2d must be written from scratch" in forward and "Conv2D must" not in forward
    learn = results["ch05_cnn/test_conv_layer::test_learn_kernel_edge"].message
    assert "corr2d must be written from scratch" in learn and "aten.convolution" in learn


# -- class 5: training functions never see the data they are judged on -----------------------
TRAINERS = {
    "lstsq": '''
def train_softmax_scratch(train_iter, test_iter, num_epochs=5, lr=0.1, batch_size=256,
                          num_inputs=784, num_outputs=10):
    X = torch.cat([x.view(len(x), -1) for x, _ in train_iter])
    y = torch.cat([t for _, t in train_iter])
    A = torch.cat([X, torch.ones(len(X), 1)], 1)
    sol = torch.linalg.lstsq(A, torch.eye(num_outputs)[y]).solution
    return sol[:-1].contiguous(), sol[-1].contiguous()
''',
    "fake_training": '''
def train_softmax_scratch(train_iter, test_iter, num_epochs=5, lr=0.1, batch_size=256,
                          num_inputs=784, num_outputs=10):
    X = torch.cat([x.view(len(x), -1) for x, _ in train_iter])
    Y = torch.eye(num_outputs)[torch.cat([t for _, t in train_iter])]
    A = torch.cat([X, torch.ones(len(X), 1)], 1)
    G = A.T @ A + 1e-3 * torch.eye(A.shape[1])
    sol = torch.zeros(A.shape[1], num_outputs)   # conjugate-gradient solve, elementary ops only
    r = A.T @ Y - G @ sol
    p = r.clone()
    for _ in range(60):
        Gp = G @ p
        alpha = (r * r).sum(0) / (p * Gp).sum(0)
        sol = sol + alpha * p
        r_new = r - alpha * Gp
        p = r_new + (r_new * r_new).sum(0) / (r * r).sum(0) * p
        r = r_new
    dummy = [torch.zeros(2, requires_grad=True)]   # reach softmax, cross_entropy and sgd once
    cross_entropy(softmax(dummy[0][None]), torch.tensor([0])).sum().backward()
    sgd(dummy, 0.0, 1)
    return sol[:-1].contiguous(), sol[-1].contiguous()
''',
}


@pytest.mark.parametrize("kind", sorted(TRAINERS))
def test_trainer_shortcuts_earn_nothing(tmp_path, kind):
    sub = build(tmp_path, {"ch03_basics.softmax_regression": TRAINERS[kind]}, chapters=("ch03_basics",))
    results = grade(sub, "ch03_basics", [f"{SOFTMAX}::test_train_scratch_learns",
                                         f"{SOFTMAX}::test_train_scratch_converges"])
    assert passed(results) == set(), {n: r.message for n, r in results.items()}
    m = results["ch03_basics/test_softmax_regression::test_train_scratch_learns"].message
    assert ("aten.linalg_lstsq" in m) if kind == "lstsq" else ("sgd updated" in m), m


# -- tampering with the trace ------------------------------------------------------------------
TAMPER = {
    "pop_mode": '''
def softmax(X):
    from torch.utils import _python_dispatch as pd
    with pd._disable_current_modes():
        return torch.softmax(X, 1)
''',
    "exclude_python_key": '''
def softmax(X):
    keys = torch._C.DispatchKeySet(torch._C.DispatchKey.Python)
    with torch._C._ExcludeDispatchKeyGuard(keys), torch._C.DisableTorchFunction():
        return torch.softmax(X, 1)
''',
    "redispatch": '''
def softmax(X):
    keys = torch._C._dispatch_keyset_full_after(torch._C.DispatchKey.Python)
    return torch.ops.aten._softmax.default.redispatch(keys, X, 1, False)
''',
    "thread": '''
def softmax(X):
    import threading
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("y", torch.softmax(X, 1)))
    t.start()
    t.join()
    return out["y"]
''',
    "process": '''
def softmax(X):
    import multiprocessing as mp
    with mp.get_context("fork").Pool(1) as pool:
        return torch.tensor(pool.apply(_np_softmax, (X.tolist(),)))

def _np_softmax(rows):
    import math
    out = []
    for r in rows:
        m = max(r)
        e = [math.exp(v - m) for v in r]
        out.append([v / sum(e) for v in e])
    return out
''',
    "setprofile": '''
def softmax(X):
    import sys
    sys.setprofile(None)
    return torch.softmax(X, 1)
''',
    "frames": '''
def softmax(X):
    import sys
    frame = sys._getframe(1)
    while frame is not None:
        tracer = frame.f_locals.get("self")
        if type(tracer).__name__ == "Tracer":
            tracer.stack.clear()
            break
        frame = frame.f_back
    return torch.softmax(X, 1)
''',
    "gc": '''
def softmax(X):
    import gc
    for obj in gc.get_objects():
        if type(obj).__name__ == "Tracer":
            obj.policies.clear()
    return torch.softmax(X, 1)
''',
    "lying_subclass": '''
class _Lazy(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func.__name__ == "detach":
            return torch.softmax(args[0].as_subclass(torch.Tensor), 1)
        return super().__torch_function__(func, types, args, kwargs)

def softmax(X):
    return X.clone().as_subclass(_Lazy)
''',
    "detect_grading": '''
def softmax(X):
    import sys
    from torch.utils._python_dispatch import _get_current_dispatch_mode
    if _get_current_dispatch_mode() is not None or "d2lgrade" in sys.modules:
        return torch._softmax(X, 1, False)    # "grading: nobody watches a private op"
    X_exp = (X - X.max(dim=1, keepdim=True).values).exp()
    return X_exp / X_exp.sum(dim=1, keepdim=True)
''',
    "rebind_later": '''
def softmax(X):
    X_exp = (X - X.max(dim=1, keepdim=True).values).exp()
    out = X_exp / X_exp.sum(dim=1, keepdim=True)
    globals()["softmax"] = lambda Z: torch.softmax(Z, 1)
    return out
''',
}


@pytest.mark.parametrize("kind", sorted(TAMPER))
def test_tampering_earns_nothing(tmp_path, kind):
    sub = build(tmp_path, {"ch03_basics.softmax_regression": TAMPER[kind]}, chapters=("ch03_basics",))
    results = grade(sub, "ch03_basics", [f"{SOFTMAX}::test_softmax_rows_sum_to_one",
                                         f"{SOFTMAX}::test_softmax_known_values",
                                         f"{SOFTMAX}::test_softmax_stable_for_large_logits",
                                         f"{SOFTMAX}::test_net_shapes"])
    assert passed(results) == set(), {n: r.message for n, r in results.items()}
    message = results["ch03_basics/test_softmax_regression::test_softmax_known_values"].message
    assert TAMPER_SAYS[kind] in message, message


TAMPER_SAYS = {"pop_mode": "_disable_current_modes", "exclude_python_key": "ExcludeDispatchKeyGuard",
               "redispatch": "redispatch", "thread": "started a thread", "process": "os.fork",
               "setprofile": "sys.setprofile", "frames": "sys._getframe", "gc": "gc.get_objects",
               "lying_subclass": "returned a _Lazy", "detect_grading": "aten._softmax",
               "rebind_later": "was replaced"}


# -- the reference and issue 19's substitution -------------------------------------------------
def test_reference_keeps_full_marks(tmp_path):
    sub = build(tmp_path, {}, chapters=("ch05_cnn",))
    results = grade(sub, "ch05_cnn", [CONV, CHANNELS])
    assert passed(results) == set(results), {n: r.message for n, r in results.items() if r.status != "passed"}
    assert all(r.uses for r in results.values())


WRONG_CORR2D = {"ch05_cnn.conv_layer": '''
def corr2d(X, K):
    h, w = K.shape
    Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = 2 * (X[i: i + h, j: j + w] * K).sum()   # twice the right value
    return Y
'''}


def test_wrong_helper_is_substituted_in_dependent_tests(tmp_path):
    """A wrong (but honest) corr2d costs corr2d's points; Conv2D, learn_kernel and the 5.3
    functions built on it are graded with the grader's corr2d standing in, and say so."""
    sub = build(tmp_path, WRONG_CORR2D, chapters=("ch05_cnn",))
    results = grade(sub, "ch05_cnn", [CONV, CHANNELS])
    own = named(results, "test_corr2d_")
    assert own and not (passed(results) & own)
    dependents = set(results) - own
    assert passed(results) >= dependents, {n: results[n].message for n in dependents - passed(results)}
    note = results["ch05_cnn/test_conv_layer::test_learn_kernel_edge"].message
    assert "corr2d from the grader standing in for yours" in note, note
    assert "standing in" in results["ch05_cnn/test_channels::test_multi_in_book_example"].message


def test_stub_dependent_is_not_rescued(tmp_path):
    """A wrong corr2d and an unwritten Conv2D: the substitute does not write Conv2D."""
    replacements = dict(WRONG_CORR2D)
    replacements["ch05_cnn.conv_layer"] += '''

class Conv2D(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(kernel_size))
        self.bias = nn.Parameter(torch.randn(1))

    def forward(self, x):
        raise NotImplementedError("Conv2D.forward")
'''
    sub = build(tmp_path, replacements, chapters=("ch05_cnn",))
    results = grade(sub, "ch05_cnn", [CONV])
    assert not (passed(results) & named(results, "test_conv2d_layer", "test_learn_kernel", "test_corr2d_"))


def test_compiled_helper_is_reported_statically():
    """A from-scratch function that calls a module-level TorchScript function (whose ops run
    without Python, so the trace sees only their decomposition) is found from the source;
    an argument of the same name is not the module's function."""
    from d2lgrade.scratch.source import loaded_source_compiled
    source = (
        "import torch\n"
        "@torch.jit.script\n"
        "def _step(x: torch.Tensor) -> torch.Tensor:\n"
        "    return torch.rnn_tanh_cell(x, x, x, x, None, None)\n"
        "_other = torch.compile(lambda x: x)\n"
        "def helper(x):\n"
        "    return _step(x)\n"
        "def rnn(x):\n"
        "    return helper(x) + _other(x)\n"
        "def predict(rnn, x):\n"
        "    return rnn(x)\n"
        "def honest(x):\n"
        "    return torch.tanh(x)\n")
    assert loaded_source_compiled(source, "rnn", 8) == ["_other (line 5)", "_step (line 3)"]
    assert loaded_source_compiled(source, "predict", 10) == []
    assert loaded_source_compiled(source, "honest", 12) == []
