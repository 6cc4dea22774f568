"""The notebook loader keeps what the kept code needs (issue 15, item 1): plain-name
assignments in the dependency closure of the definitions, in cell order, guarded; magics only at
the start of a logical line; every piece it cannot keep reported with its cell."""
import nbformat
import pytest
import torch
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from d2lgrade.errors import StudentException
from d2lgrade.isolation.handle import Submission
from d2lgrade.intake.cells import clean_cell
from d2lgrade.intake.notebook import closure, materialize
from d2lgrade.intake.cells import extract


def test_percent_inside_brackets_is_python_not_a_magic():
    src = "%matplotlib inline\nprint('epoch %d, loss %.4f'\n      % (1, 0.5))\n!ls"
    out = clean_cell(src)
    compile(out, "cell", "exec")
    assert "% (1, 0.5))" in out and "matplotlib" not in out and "!ls" not in out


def _nb(*cells):
    return new_notebook(cells=[new_markdown_cell("intro")] + [new_code_cell(c) for c in cells])


def test_closure_keeps_the_assignments_definitions_read_and_nothing_else():
    nb = _nb("import torch\nX = torch.ones(6, 8)\nX[:, 2:6] = 0\nprint(X)",
             "loss = torch.nn.MSELoss()\nn = 3\nwidth = n * 2\nunused = torch.zeros(10)",
             "def train(y):\n    return loss(torch.zeros(width), y)")
    notes = []
    pieces = extract(nb, "nb.ipynb", notes)
    kept, missing = closure(pieces, set())
    codes = [p.code for p in kept]
    assert codes == ["import torch", "loss = torch.nn.MSELoss()", "n = 3", "width = n * 2",
                     "def train(y):\n    return loss(torch.zeros(width), y)"]
    assert missing == set() and notes == []
    assert [p.cell for p in kept] == [2, 3, 3, 3, 4]     # cell numbers count markdown cells


def _grade_notebook(tmp_path, course, cells, chapter="ch03_basics"):
    root = tmp_path / "sub"
    root.mkdir()
    nbformat.write(_nb(*cells), str(root / f"{chapter}.ipynb"))
    notes = materialize(root, course)
    return root, notes


def test_a_failing_notebook_statement_does_not_sink_the_module(tmp_path, course):
    root, notes = _grade_notebook(tmp_path, course, [
        "# d2lgrade: module house_prices\nimport torch\nimport pandas as pd\n"
        "train_data = pd.read_csv('../data/not-there/train.csv')\nloss = torch.nn.MSELoss()",
        "def log_rmse(net, features, labels):\n"
        "    return loss(net(features), labels).item() + len(train_data)",
        "def get_net(feature_num):\n    return torch.nn.Linear(feature_num, 1)",
    ])
    s = Submission(str(root))
    try:
        m = s.module("ch03_basics.house_prices")
        net = m.get_net(2)                                 # the module loaded
        with pytest.raises(StudentException) as info:
            m.log_rmse(net, torch.zeros(4, 2), torch.zeros(4, 1))
        msg = str(info.value)
        assert "name 'train_data' is not defined: notebook cell 2" in msg
        assert "FileNotFoundError" in msg
    finally:
        s.close()
    assert any("house_prices.py: built from ch03_basics.ipynb (code cells 2-4)" in n for n in notes)


def test_names_no_kept_cell_assigns_are_reported_with_their_cell(tmp_path, course):
    _, notes = _grade_notebook(tmp_path, course, [
        "# d2lgrade: module polynomial\nwith open('corpus.txt') as f:\n    raw = f.read().split()",
        "counts = {w: raw.count(w) for w in raw}",
        "def fit_and_plot(a, b, c, d):\n    return counts, num_epochs",
        "fit_and_plot(1, 2, 3, 4)",
    ])
    text = "\n".join(notes)
    assert "`fit_and_plot` reads `num_epochs`, but no code cell of this module assigns it" in text
    assert "only cell 2 sets it (`with open('corpus.txt') as f:`)" in text
    assert "cells left out (experiments and other code no kept function needs): 2, 5" in text


def test_an_unresolved_name_passed_to_torch_says_which_cell(tmp_path, course):
    root, _ = _grade_notebook(tmp_path, course, [
        "# d2lgrade: module linear_regression\nimport torch\nw = torch.load('../data/missing.pt')",
        "def linreg(X, w_, b):\n    return torch.mm(X, w) + b",
    ])
    s = Submission(str(root))
    try:
        with pytest.raises(StudentException, match=r"name 'w' is not defined: notebook cell 2"):
            s.module("ch03_basics.linear_regression").linreg(torch.ones(2, 2), None, 0.0)
    finally:
        s.close()


def test_a_notebook_definition_replaces_the_stubs_instead_of_standing_beside_it(tmp_path, course):
    root, _ = _grade_notebook(tmp_path, course, [
        "# d2lgrade: module softmax_regression\nimport torch",
        "def softmax(X):\n    X_exp = X.exp()\n    return X_exp / X_exp.sum(dim=1, keepdim=True)",
    ])
    import ast
    src = (root / "ch03_basics" / "softmax_regression.py").read_text(encoding="utf-8")
    tops = [n.name for n in ast.parse(src).body if isinstance(n, ast.FunctionDef)]
    assert tops.count("softmax") == 1          # one definition: the from-scratch checks see one
    assert "cross_entropy" in tops             # the stub's other functions stay
    assert "X_exp.sum(dim=1, keepdim=True)" in src


def test_without_redefined_drops_decorated_definitions_too():
    from d2lgrade.intake.notebook import without_redefined
    base = "import torch\n\n@torch.no_grad()\ndef f(x):\n    raise NotImplementedError\n\n\nclass C:\n    pass\n\ndef g():\n    return 1\n"
    out = without_redefined(base, {"f", "C"})
    assert "def f" not in out and "no_grad" not in out and "class C" not in out
    assert "def g():\n    return 1" in out and out.startswith("import torch")
    # given code that uses a definition at module level keeps it (an alias must not break)
    assert "class C" in without_redefined(base + "D = C\n", {"C"})
