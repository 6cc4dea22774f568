"""The similarity report: copies found function by function (renamed variables too), the
stubs' and the book's code not counted, an HTML report with the code side by side."""
import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from d2lgrade.course_tools import similarity
from d2lgrade.course.layout import Course

STUB = '''"""A small chapter for the similarity tests."""
import torch


def scale_given(x):
    """Given code: every student has it unchanged."""
    x = torch.as_tensor(x, dtype=torch.float32)
    return (x.reshape(-1, 1) * 2 + 1).clamp(min=0.0, max=100.0)


def corr2d(X, K):
    """Two-dimensional cross-correlation of X with the kernel K."""
    raise NotImplementedError("corr2d: write this function")


def pool2d(X, pool_size, mode="max"):
    """Max or average pooling of a 2-D input."""
    raise NotImplementedError("pool2d: write this function")
'''

ALICE_CORR = '''
def corr2d(X, K):
    """Two-dimensional cross-correlation of X with the kernel K."""
    h, w = K.shape
    out = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (X[i:i + h, j:j + w] * K).sum()
    return out
'''

# alice's corr2d with every name changed and other comments
BOB_CORR = '''
def corr2d(X, K):
    """Two-dimensional cross-correlation of X with the kernel K."""
    # my own work, honestly
    kh, kw = K.shape
    result = torch.zeros((X.shape[0] - kh + 1, X.shape[1] - kw + 1))
    for row in range(result.shape[0]):
        for col in range(result.shape[1]):  # slide the window
            result[row, col] = (X[row:row + kh, col:col + kw] * K).sum()
    return result
'''

DAVE_CORR = '''
def corr2d(X, K):
    """Two-dimensional cross-correlation of X with the kernel K."""
    patches = X.unfold(0, K.shape[0], 1).unfold(1, K.shape[1], 1)
    return torch.einsum("ijkl,kl->ij", patches.float(), K.float())
'''

ALICE_POOL = '''
def pool2d(X, pool_size, mode="max"):
    """Max or average pooling of a 2-D input."""
    ph, pw = pool_size
    rows = [[X[a:a + ph, b:b + pw] for b in range(X.shape[1] - pw + 1)]
            for a in range(X.shape[0] - ph + 1)]
    reduce = torch.amax if mode == "max" else torch.mean
    return torch.stack([torch.stack([reduce(cell) for cell in r]) for r in rows])
'''

BOOK_POOL = '''
def pool2d(X, pool_size, mode='max'):
    p_h, p_w = pool_size
    Y = torch.zeros((X.shape[0] - p_h + 1, X.shape[1] - p_w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            if mode == 'max':
                Y[i, j] = X[i: i + p_h, j: j + p_w].max()
            elif mode == 'avg':
                Y[i, j] = X[i: i + p_h, j: j + p_w].mean()
    return Y
'''

BOOK = f"""# 汇聚层

书中的代码:

```python
import torch
{BOOK_POOL}
```

Some text between blocks.

```python
X = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
pool2d(X, (2, 2))
```
"""


def _module(corr: str | None, pool: str | None) -> str:
    text = STUB
    if corr:
        text = re.sub(r"\ndef corr2d.*?write this function\"\)\n", corr, text, flags=re.S)
    if pool:
        text = re.sub(r"\ndef pool2d.*?write this function\"\)\n", pool, text, flags=re.S)
    return text


def _student(d: Path, corr: str | None, pool: str | None) -> Path:
    (d / "ch05_cnn").mkdir(parents=True)
    (d / "ch05_cnn" / "__init__.py").write_text("")
    (d / "ch05_cnn" / "conv_layer.py").write_text(_module(corr, pool))
    return d


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    base = tmp_path_factory.mktemp("sim")
    course_root = base / "course"
    (course_root / "graders" / "ch05_cnn").mkdir(parents=True)
    _student(course_root / "assignments", None, None)
    cls = base / "class"
    _student(cls / "alice", ALICE_CORR, ALICE_POOL)
    _student(cls / "bob", BOB_CORR, BOOK_POOL)
    _student(cls / "carol", None, None)                  # the stub, unchanged
    _student(cls / "dave", DAVE_CORR, BOOK_POOL)
    with zipfile.ZipFile(cls / "erin.zip", "w") as zf:   # alice's work, zipped
        for f in (cls / "alice").rglob("*.py"):
            zf.write(f, "erin-hw/" + str(f.relative_to(cls / "alice")))
    (cls / "notes.txt").write_text("not a submission")
    (cls / "frank.zip").write_bytes(b"not a zip")
    book = base / "book.md"
    book.write_text(BOOK, encoding="utf-8")
    return Course(course_root), cls, book


def _pairs(report):
    return {(p.a, p.b): p for p in report.pairs}


def test_copies_are_found_function_by_function(setting):
    course, cls, _ = setting
    report = similarity.run_similarity(cls, course=course)
    pairs = _pairs(report)
    assert report.pairs[0].a == "alice" and report.pairs[0].b == "erin"
    assert report.pairs[0].score == pytest.approx(1.0)
    # renaming every variable does not hide a copied function
    corr = {m.key: m for m in pairs[("alice", "bob")].functions}["ch05_cnn.conv_layer:corr2d"]
    assert min(corr.share_a, corr.share_b) > 0.9
    # alice's pool2d is her own: bob's (the book's) does not match it
    assert "ch05_cnn.conv_layer:pool2d" not in {m.key for m in pairs[("alice", "bob")].functions}
    # the stub's code and the given helper match nothing
    assert all("carol" not in (p.a, p.b) for p in report.pairs)
    assert all(not m.key.endswith(":scale_given") for p in report.pairs for m in p.functions)
    assert {name for name, _ in report.skipped} == {"notes.txt", "frank.zip"}
    assert "carol" in report.students
    # dave wrote corr2d another way: only the book's pool2d links him to bob
    assert [m.key for m in pairs[("bob", "dave")].functions] == ["ch05_cnn.conv_layer:pool2d"]


def test_the_books_code_does_not_count(setting):
    course, cls, book = setting
    report = similarity.run_similarity(cls, course=course, boilerplate=[book])
    pairs = _pairs(report)
    assert ("bob", "dave") not in pairs
    assert pairs[("alice", "erin")].score == pytest.approx(1.0)
    assert str(book) in report.boilerplate


def test_html_report_is_self_contained_with_code_side_by_side(setting, tmp_path):
    course, cls, _ = setting
    report = similarity.run_similarity(cls, course=course, names={"alice": "Alice <Adams>"})
    html_path, json_path = similarity.write_report(report, tmp_path, top=2)
    page = html_path.read_text()
    assert page.count('<section class="pair"') == 2
    assert "alice and erin: 100 %" in page
    assert "Alice &lt;Adams&gt;" in page                       # escaped
    assert "<mark>" in page and 'class="side"' in page
    assert "<script" not in page and "http" not in page         # nothing loaded from outside
    assert "notes.txt" in page and "frank.zip" in page
    data = json.loads(json_path.read_text())
    assert len(data["pairs"]) == 2 and data["pairs"][0]["score"] == pytest.approx(1.0)
    assert data["pairs"][0]["functions"][0]["function"].startswith("ch05_cnn.conv_layer:")


def test_threshold_hides_weaker_pairs(setting, tmp_path):
    course, cls, _ = setting
    report = similarity.run_similarity(cls, course=course)
    similarity.write_report(report, tmp_path, threshold=0.99)
    assert tmp_path.joinpath("similarity.html").read_text().count('<section class="pair"') == 1


def test_scores_do_not_depend_on_the_hash_seed(setting, tmp_path, root):
    """The same class compared in two interpreters with different PYTHONHASHSEED."""
    import subprocess
    import sys
    course, cls, _ = setting
    code = ("import sys, json; from d2lgrade.course_tools import similarity; from d2lgrade.course.layout import Course; from pathlib import Path;"
            "r = similarity.run_similarity(sys.argv[1], course=Course(Path(sys.argv[2])));"
            "print(json.dumps([(p.a, p.b, round(p.score, 6)) for p in r.pairs]))")
    outs = [subprocess.run([sys.executable, "-c", code, str(cls), str(course.root)],
                           capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2")]
    assert outs[0] == outs[1] and json.loads(outs[0])


def test_functions_of_takes_methods_and_the_last_definition():
    src = ("import torch\n\nclass Net:\n    def forward(self, x):\n        return x\n\n"
           "def f(x):\n    return 1\n\n@staticmethod\ndef f(x):\n    return 2\n")
    fns = similarity.functions_of(src, "ch05_cnn.m", "ch05_cnn/m.py")
    assert set(fns) == {"ch05_cnn.m:Net.forward", "ch05_cnn.m:f"}
    assert fns["ch05_cnn.m:f"].source.startswith("@staticmethod") and fns["ch05_cnn.m:f"].line == 11
    assert similarity.functions_of("def broken(:\n", "m", "m.py") == {}


def test_python_blocks_from_markdown_notebooks_and_py(tmp_path):
    md = tmp_path / "book.md"
    md.write_text(BOOK, encoding="utf-8")
    assert len(similarity.python_blocks(md)) == 2
    nb = tmp_path / "n.ipynb"
    nb.write_text(json.dumps({"cells": [{"cell_type": "code", "source": ["x = 1\n", "y = 2\n"]},
                                        {"cell_type": "markdown", "source": "text"}]}))
    assert similarity.python_blocks(nb) == ["x = 1\ny = 2\n"]
    with pytest.raises(similarity.SimilarityError, match="no such boilerplate"):
        similarity.boilerplate_files([tmp_path / "missing"])


def test_a_missing_class_folder_says_so(setting, tmp_path):
    course, _, _ = setting
    with pytest.raises(similarity.SimilarityError, match="not a folder of submissions"):
        similarity.run_similarity(tmp_path / "nope", course=course)


def test_the_real_course_stub_is_boilerplate(root, tmp_path):
    """Two copies of the chapter 5 solution match; the chapter 5 stub matches nothing."""
    cls = tmp_path / "class"
    for name in ("alice", "bob"):
        shutil.copytree(root / "solutions" / "ch05_cnn", cls / name / "ch05_cnn")
    shutil.copytree(root / "assignments" / "ch05_cnn", cls / "carol" / "ch05_cnn")
    report = similarity.run_similarity(cls, course=Course(root))
    assert [(p.a, p.b) for p in report.pairs] == [("alice", "bob")]
    assert report.pairs[0].score == pytest.approx(1.0)
    assert report.functions_compared >= 10


BOOK_TEXT = Path("/work/shared/course/seeds")


@pytest.mark.skipif(not list(BOOK_TEXT.glob("002_*.txt")),
                    reason="the course text (shared/course/seeds/002_*.txt) is not on this machine")
def test_the_books_own_code_is_taken_out(root, tmp_path):
    """Two copies of the chapter 5 reference: with the book as boilerplate, the functions the
    book writes out (corr2d is the book's code) no longer match, and the matched code shrinks."""
    cls = tmp_path / "class"
    for name in ("alice", "bob"):
        shutil.copytree(root / "solutions" / "ch05_cnn", cls / name / "ch05_cnn")
    plain = similarity.run_similarity(cls, course=Course(root)).pairs[0]
    with_book = similarity.run_similarity(cls, course=Course(root),
                                          boilerplate=list(BOOK_TEXT.glob("002_*.txt"))).pairs[0]
    assert "ch05_cnn.conv_layer:corr2d" in {m.key for m in plain.functions}
    assert "ch05_cnn.conv_layer:corr2d" not in {m.key for m in with_book.functions}
    assert with_book.overlap < 0.8 * plain.overlap
