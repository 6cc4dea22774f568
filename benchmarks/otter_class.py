"""The class of 20 submissions for ``otter_compare.py``: one assignment, two formats.

The assignment has three graded functions: ``softmax`` and ``cross_entropy`` (D2L 3.6, module
``ch03_basics.softmax_regression``) and ``corr2d`` (D2L 5.1, ``ch05_cnn.conv_layer``). Each
student below is the source of those functions (a function left out stays a stub), optional
module-level code (``prelude``, both formats) and optional experiment cells that only a
notebook has (``cells``: what a student runs to look at results; d2lgrade's notebook reader
would drop them too, so the chapter folder has only the definitions).

``writes_otter`` puts them into the student notebook that ``otter assign`` made; ``writes_d2l``
into a d2lgrade chapter folder (the course's stubs with the functions replaced).
"""
from __future__ import annotations

import ast
import copy
from dataclasses import dataclass, field
from pathlib import Path

#: graded function -> (d2lgrade module, prefix of its grader tests, Otter question)
FUNCTIONS = {
    "softmax": ("ch03_basics.softmax_regression", "test_softmax_", "softmax"),
    "cross_entropy": ("ch03_basics.softmax_regression", "test_cross_entropy_", "cross_entropy"),
    "corr2d": ("ch05_cnn.conv_layer", "test_corr2d_", "corr2d"),
}


@dataclass
class Student:
    name: str
    group: str                      # correct | one wrong | stub | shortcut
    what: str                       # one line for the table
    code: dict[str, str] = field(default_factory=dict)
    prelude: str = ""
    cells: list[str] = field(default_factory=list)
    expect: str = ""                # where the two tools are expected to differ, and why


SOFTMAX = '''\
def softmax(X):
    X_exp = (X - X.max(dim=1, keepdim=True).values).exp()
    return X_exp / X_exp.sum(dim=1, keepdim=True)
'''
CROSS_ENTROPY = '''\
def cross_entropy(y_hat, y):
    return -torch.log(y_hat.gather(1, y.view(-1, 1)))
'''
CORR2D = '''\
def corr2d(X, K):
    h, w = K.shape
    Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + h, j:j + w] * K).sum()
    return Y
'''
RIGHT = {"softmax": SOFTMAX, "cross_entropy": CROSS_ENTROPY, "corr2d": CORR2D}


def _with(**changes: str) -> dict[str, str]:
    return {**RIGHT, **changes}


CLASS: list[Student] = [
    # -- correct, in different styles -------------------------------------------------------
    Student("s01_reference", "correct", "the reference code", _with()),
    Student("s02_indexing", "correct", "amax, fancy indexing, explicit float32", _with(
        softmax='''\
def softmax(X):
    m = X.amax(dim=1, keepdim=True)
    e = torch.exp(X - m)
    return e / torch.sum(e, dim=1, keepdim=True)
''',
        cross_entropy='''\
def cross_entropy(y_hat, y):
    return -torch.log(y_hat[torch.arange(y_hat.shape[0]), y]).reshape(-1, 1)
''',
        corr2d='''\
def corr2d(X, K):
    k_h, k_w = K.shape
    out_h, out_w = X.shape[0] - k_h + 1, X.shape[1] - k_w + 1
    Y = torch.zeros(out_h, out_w, dtype=torch.float32)
    for i in range(out_h):
        for j in range(out_w):
            Y[i, j] = torch.sum(X[i:i + k_h, j:j + k_w] * K)
    return Y
''')),
    Student("s03_vectorised", "correct", "logsumexp softmax, corr2d summed over kernel offsets", _with(
        softmax='''\
def softmax(X):
    return torch.exp(X - torch.logsumexp(X, dim=1, keepdim=True))
''',
        cross_entropy='''\
def cross_entropy(y_hat, y):
    return -(y_hat.log().gather(1, y.unsqueeze(1)))
''',
        corr2d='''\
def corr2d(X, K):
    h, w = K.shape
    H, W = X.shape[0] - h + 1, X.shape[1] - w + 1
    Y = torch.zeros((H, W))
    for a in range(h):
        for b in range(w):
            Y = Y + K[a, b] * X[a:a + H, b:b + W]
    return Y
''')),
    Student("s04_with_experiments", "correct",
            "the reference code plus the book's experiment cells (notebook only)", _with(),
            cells=['''\
X = torch.ones((6, 8))
X[:, 2:6] = 0
K = torch.tensor([[1.0, -1.0]])
Y = corr2d(X, K)
print(Y)
''', '''\
w = torch.randn((1, 2), requires_grad=True)
for step in range(10):
    l = ((corr2d(X, w) - Y) ** 2).sum()
    l.backward()
    with torch.no_grad():
        w -= 0.03 * w.grad
    w.grad.zero_()
print("learned kernel", w.detach())
''', '''\
probs = softmax(torch.randn(2, 5))
print(probs, probs.sum(dim=1))
print(cross_entropy(torch.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]]), torch.tensor([0, 2])))
''']),
    # -- one function wrong ---------------------------------------------------------------------
    Student("s05_softmax_no_shift", "one wrong", "softmax without subtracting the row maximum (the book's)", _with(
        softmax='''\
def softmax(X):
    X_exp = X.exp()
    return X_exp / X_exp.sum(dim=1, keepdim=True)
''')),
    Student("s06_softmax_dim0", "one wrong", "softmax normalises columns", _with(
        softmax='''\
def softmax(X):
    X_exp = (X - X.max(dim=0, keepdim=True).values).exp()
    return X_exp / X_exp.sum(dim=0, keepdim=True)
''')),
    Student("s07_softmax_in_place", "one wrong", "softmax overwrites its input", _with(
        softmax='''\
def softmax(X):
    X -= X.max(dim=1, keepdim=True).values
    X.exp_()
    return X / X.sum(dim=1, keepdim=True)
''')),
    Student("s08_ce_mean", "one wrong", "cross_entropy averages (a scalar)", _with(
        cross_entropy='''\
def cross_entropy(y_hat, y):
    return -torch.log(y_hat.gather(1, y.view(-1, 1))).mean()
''')),
    Student("s09_ce_numpy", "one wrong", "cross_entropy through numpy (no gradient)", _with(
        cross_entropy='''\
import numpy as np


def cross_entropy(y_hat, y):
    picked = y_hat.detach().numpy()[np.arange(len(y)), y.numpy()]
    return torch.from_numpy(-np.log(picked)).view(-1, 1)
''')),
    Student("s10_ce_flat", "one wrong", "cross_entropy returns shape (n,)", _with(
        cross_entropy='''\
def cross_entropy(y_hat, y):
    return -torch.log(y_hat.gather(1, y.view(-1, 1))).view(-1)
''')),
    Student("s11_corr2d_flipped", "one wrong", "corr2d flips the kernel (true convolution)", _with(
        corr2d='''\
def corr2d(X, K):
    K = torch.flip(K, (0, 1))
    h, w = K.shape
    Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + h, j:j + w] * K).sum()
    return Y
''')),
    Student("s12_corr2d_off_by_one", "one wrong", "corr2d output one row and column short", _with(
        corr2d='''\
def corr2d(X, K):
    h, w = K.shape
    Y = torch.zeros((X.shape[0] - h, X.shape[1] - w))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + h, j:j + w] * K).sum()
    return Y
''')),
    Student("s13_corr2d_int", "one wrong", "corr2d keeps the input dtype (int64 for the book's example)", _with(
        corr2d='''\
def corr2d(X, K):
    h, w = K.shape
    Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1), dtype=X.dtype)
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + h, j:j + w] * K).sum()
    return Y
''')),
    Student("s14_corr2d_item", "one wrong", "corr2d stores .item() (no gradient)", _with(
        corr2d='''\
def corr2d(X, K):
    h, w = K.shape
    Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + h, j:j + w] * K).sum().item()
    return Y
''')),
    # -- stubs ------------------------------------------------------------------------------------
    Student("s15_stub", "stub", "nothing written"),
    Student("s16_softmax_only", "stub", "softmax written, the rest left", {"softmax": SOFTMAX}),
    Student("s17_ce_only", "stub", "cross_entropy written, the rest left", {"cross_entropy": CROSS_ENTROPY}),
    # -- shortcuts --------------------------------------------------------------------------------
    Student("s18_builtins", "shortcut", "torch.softmax, F.nll_loss, F.conv2d", {
        "softmax": '''\
def softmax(X):
    return torch.softmax(X, dim=1)
''',
        "cross_entropy": '''\
import torch.nn.functional as F


def cross_entropy(y_hat, y):
    return F.nll_loss(torch.log(y_hat), y, reduction="none").view(-1, 1)
''',
        "corr2d": '''\
import torch.nn.functional as F


def corr2d(X, K):
    return F.conv2d(X[None, None].float(), K[None, None].float())[0, 0]
'''},
        expect=""),
    Student("s19_builtin_alias", "shortcut", "softmax through torch.special.softmax", _with(
        softmax='''\
def softmax(X):
    return torch.special.softmax(X, dim=1)
'''),
        expect="Otter's no-builtin test patches torch.softmax, F.softmax and Tensor.softmax "
               "(and log_softmax); the alias torch.special.softmax is not on that list. d2lgrade "
               "reads the function's source (the name segment 'softmax') and traces the call."),
    Student("s20_patch_checker", "shortcut",
            "replaces torch.testing.assert_close with a no-op and returns shaped nonsense", {
        "softmax": '''\
def softmax(X):
    return (X * 0 + 1) / X.shape[1]
''',
        "cross_entropy": '''\
def cross_entropy(y_hat, y):
    return y_hat[:, :1] * 0 + 1
''',
        "corr2d": '''\
def corr2d(X, K):
    return X[:X.shape[0] - K.shape[0] + 1, :X.shape[1] - K.shape[1] + 1] * K.sum()
'''},
        prelude='''\
import torch.testing
torch.testing.assert_close = lambda *args, **kwargs: None
''',
        expect="Otter runs its tests in the student's kernel, after the student's cells: the "
               "patched torch.testing.assert_close passes every comparison. d2lgrade compares in "
               "the grading process; the patch changes only the sandboxed child."),
]


# -- writing the two formats ------------------------------------------------------------------
def _replace_function(source: str, name: str, new: str) -> str:
    """``source`` with the top-level function ``name`` (decorators included) replaced by ``new``."""
    tree = ast.parse(source)
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    lines = source.splitlines(keepends=True)
    return "".join(lines[:start - 1]) + new.rstrip("\n") + "\n" + "".join(lines[node.end_lineno:])


def writes_d2l(student: Student, stubs: Path, dest: Path) -> None:
    """A chapter folder: the course's stubs, with the student's functions put in their place."""
    modules = {module for module, _, _ in FUNCTIONS.values()}
    for module in sorted(modules):
        chapter, name = module.split(".")
        (dest / chapter).mkdir(parents=True, exist_ok=True)
        for given in ("__init__.py", *(["linear_regression.py"] if chapter == "ch03_basics" else [])):
            (dest / chapter / given).write_text((stubs / chapter / given).read_text())
        source = (stubs / chapter / f"{name}.py").read_text()
        for fn, (fn_module, _, _) in FUNCTIONS.items():
            if fn_module == module and fn in student.code:
                source = _replace_function(source, fn, student.code[fn])
        if student.prelude and module == FUNCTIONS["softmax"][0]:
            source = source.rstrip("\n") + "\n\n\n" + student.prelude
        (dest / chapter / f"{name}.py").write_text(source)


def writes_otter(student: Student, template, dest: Path) -> None:
    """The student notebook ``otter assign`` wrote, with the answer cells filled in."""
    import nbformat
    nb = copy.deepcopy(template)
    cells = []
    for cell in nb.cells:
        source = cell.source
        cells.append(cell)
        if cell.cell_type == "code" and source.strip() == "import torch" and student.prelude:
            cells.append(nbformat.v4.new_code_cell(student.prelude.rstrip("\n")))
        for fn in FUNCTIONS:
            if cell.cell_type == "code" and source.lstrip().startswith(f"def {fn}(") \
                    and fn in student.code:
                cell.source = student.code[fn].rstrip("\n")
    # experiment cells go after the last answer cell's check, as a student would add them
    last_check = max(i for i, c in enumerate(cells) if "grader.check(" in c.source)
    extra = [nbformat.v4.new_code_cell(c.rstrip("\n")) for c in student.cells]
    nb.cells = cells[:last_check + 1] + extra + cells[last_check + 1:]
    nbformat.write(nb, str(dest))
