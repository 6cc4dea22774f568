"""Feedback a student reads: attachments, the HTML page (in headless Chromium), the terminal
table, and notebook submissions."""
import io
import json
import math
import os
import re
import shutil
import subprocess

import pytest
import torch

from d2lgrade.results.feedback import Feedback, decode_image
from d2lgrade.results.page import render_page
from d2lgrade.intake.notebook import chapter_of, closure
from d2lgrade.intake.cells import extract
from d2lgrade.intake.cells import clean_cell
from d2lgrade.plugin import TestResult as Result
from d2lgrade.results.report import format_table, use_color

nbformat = pytest.importorskip("nbformat")
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook  # noqa: E402


# -- attachments -----------------------------------------------------------------------------
def test_plot_data_is_sanitised_and_reference_follows_visibility():
    lines, att = [], []
    public = Feedback(lines, att, public=True)
    public("reached 0.9")
    public.plot("loss", {"yours": [1.0, float("nan"), math.inf, 0.5]},
                reference={"ref": torch.tensor([1.0, 0.5])})
    assert lines == ["reached 0.9"]
    series = att[0]["series"]
    assert series[0]["y"] == [1.0, None, None, 0.5] and series[0]["x"] == [1.0, 2.0, 3.0, 4.0]
    assert series[1]["reference"] and series[1]["y"] == [1.0, 0.5]
    json.dumps(att)  # plain data only

    att2, called = [], []
    hidden = Feedback([], att2, public=False)
    hidden.plot("loss", {"yours": list(range(5000))}, reference=lambda: called.append(1) or {"r": [1]})
    assert not called, "a hidden test's reference must not even be computed"
    assert [s["reference"] for s in att2[0]["series"]] == [False] and att2[0]["reference_hidden"]
    assert len(att2[0]["series"][0]["y"]) <= 1000 and att2[0]["series"][0]["y"][-1] == 4999


def test_trajectory_and_images():
    att = []
    fb = Feedback([], att, public=True)
    fb.trajectory("gd", {"yours": [(-5, -2), (-3, -1), (0, 0)]}, contour=lambda a, b: a ** 2 + 2 * b ** 2)
    grid = att[0]["contour"]
    assert len(grid["z"]) == len(grid["y"]) and len(grid["z"][0]) == len(grid["x"])
    fb.images("aug", torch.rand(3, 3, 40, 30), labels=["a", "b"])
    imgs = att[1]["images"]
    assert len(imgs) == 3 and imgs[0]["label"] == "a" and decode_image(imgs[0]).shape == (40, 30, 3)
    fb.images("gray", [torch.rand(28, 28)])
    assert decode_image(att[2]["images"][0]).shape == (28, 28, 1)


def _result(name, status, vis="public", message="", attachments=()):
    return Result(f"graders/ch03_basics/test_x.py::{name}", "ch03_basics", name, 2.0, vis,
                      status=status, message=message, attachments=list(attachments))


def test_page_is_self_contained_and_escapes_messages():
    att = []
    Feedback([], att, public=True).plot("curve", {"yours": [3, 2, 1]})
    Feedback([], att, public=True).images("imgs", torch.rand(2, 1, 8, 8))
    results = [_result("test_a", "passed", attachments=att),
               _result("test_b", "failed", message="expected 1, got <script>alert(1)</script>"),
               _result("test_c", "failed", vis="hidden", message="failed: agrees (details hidden)"),
               _result("test_d", "not_run", message="data tier not run"),
               _result("test_e", "failed", message="not implemented yet (NotImplementedError: "
                                                    "softmax: replace this line with your implementation)")]
    page = render_page(results, submission="alice", seed=5, notes=["a note"])
    assert "<script" not in page and "&lt;script&gt;" in page
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)
    assert page.count('src="data:image/png;base64,') == 3
    assert "Not implemented yet: <code>softmax</code>" in page
    assert "2 / 8" in page and "seed 5" in page and "a note" in page and "not run" in page


# -- terminal --------------------------------------------------------------------------------
def test_table_colours_only_when_asked(monkeypatch):
    results = [_result("test_a", "passed"), _result("test_b", "failed", message="wrong")]
    plain = format_table(results, seed=1)
    coloured = format_table(results, seed=1, color=True)
    assert "\033[" not in plain and "\033[" in coloured
    assert re.sub(r"\033\[[0-9;]*m", "", coloured) == plain
    assert "FAILED  test_b [2]: wrong" in plain and "TOTAL" in plain

    class Tty(io.StringIO):
        def isatty(self):
            return True
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color(Tty()) and not use_color(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color(Tty())


# -- notebooks -------------------------------------------------------------------------------
def test_clean_cell_strips_ipython_syntax():
    src = "%matplotlib inline\nimport torch\n!pip install d2l\nfiles = !ls\ntorch.ones?\ndef f():\n    %time g()\n    return 1"
    out = clean_cell(src)
    compile(out, "cell", "exec")
    assert "import torch" in out and "return 1" in out and "!" not in out and "%" not in out
    assert clean_cell("%%bash\necho hi") is None
    assert clean_cell("%%time\nx = 1").strip() == "x = 1"


def test_extract_keeps_definitions_and_reports_bad_cells():
    nb = new_notebook(cells=[
        new_markdown_cell("text"),
        new_code_cell("import torch\nimport d2lzh_pytorch as d2l\nN = 3\nW = torch.zeros(N)\nprint(W)"),
        new_code_cell("def f(x):\n    return x + N\nf(1)"),
        new_code_cell("def broken(:\n    pass"),
        new_code_cell("# d2lgrade: module mlp\nclass Net:\n    pass"),
    ])
    notes = []
    pieces = extract(nb, "nb.ipynb", notes)
    assert [(p.kind, sorted(p.names), p.module) for p in pieces] == [
        ("import", ["torch"], None), ("import", ["d2l"], None), ("assign", ["N"], None),
        ("assign", ["W"], None), ("other", [], None), ("def", ["f"], None), ("other", [], None),
        ("def", ["Net"], "mlp")]
    kept, missing = closure(pieces, set())
    assert [p.code for p in kept] == ["import torch", "import d2lzh_pytorch as d2l", "N = 3",
                                      "def f(x):\n    return x + N", "class Net:\n    pass"]
    assert missing == set()
    assert any("cell 4" in n and "left out" in n for n in notes)


def test_chapter_of_notebook(tmp_path):
    chapters = ["ch02_preliminaries", "ch03_basics"]
    nb = new_notebook()
    assert chapter_of(tmp_path / "ch03_basics.ipynb", nb, chapters) == "ch03_basics"
    assert chapter_of(tmp_path / "ch03_basics_alice.ipynb", nb, chapters) == "ch03_basics"
    assert chapter_of(tmp_path / "ch02_preliminaries" / "x.ipynb", nb, chapters) == "ch02_preliminaries"
    assert chapter_of(tmp_path / "ch02.ipynb", nb, chapters) == "ch02_preliminaries"
    assert chapter_of(tmp_path / "homework.ipynb", nb, chapters) is None
    nb.metadata["d2lgrade"] = {"chapter": "ch03_basics"}
    assert chapter_of(tmp_path / "homework.ipynb", nb, chapters) == "ch03_basics"


def _reference_notebook(course, chapter, path, tagged=True):
    cells = [new_markdown_cell(f"# {chapter}"),
             new_code_cell("%matplotlib inline\nimport torch\nimport d2lzh_pytorch as d2l")]
    for p in sorted((course.solutions / chapter).glob("*.py")):
        if p.name != "__init__.py":
            tag = f"# d2lgrade: module {p.stem}\n" if tagged else ""
            cells.append(new_code_cell(tag + p.read_text()))
            cells.append(new_code_cell("!nvidia-smi\nx = torch.ones(3)\nprint(x)\nx?"))
    nbformat.write(new_notebook(cells=cells), str(path))


def test_notebook_of_the_reference_scores_full_marks(tmp_path, run_cli, course):
    nb = tmp_path / "ch02_preliminaries.ipynb"
    _reference_notebook(course, "ch02_preliminaries", nb, tagged=False)
    r = run_cli("grade", str(nb), "--out", str(tmp_path / "out"), "--seed", "3")
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["score"] == res["max_score"] > 0, [t["output"] for t in res["tests"] if t["score"] == 0]
    assert "built from ch02_preliminaries.ipynb" in res["output"]


def test_broken_notebook_is_a_clear_error(tmp_path, run_cli):
    bad = tmp_path / "ch02_preliminaries.ipynb"
    bad.write_text("{ this is not json")
    r = run_cli("grade", str(bad), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "not a readable Jupyter notebook" in r.stderr


# -- the page in a real browser --------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
C0_BLUE = (31, 119, 180)  # matplotlib's first line colour: the student's train-loss curve


def _chromium(tmp_path, *args):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_feedback_page_renders_with_plots_in_chromium(tmp_path, run_cli, course):
    """A notebook with the reference's polynomial fitting (the rest of ch03 left as stubs) is
    graded; its feedback page shows the loss curves in headless Chromium."""
    nb = tmp_path / "ch03_basics.ipynb"
    src = (course.solutions / "ch03_basics" / "polynomial.py").read_text()
    nbformat.write(new_notebook(cells=[new_code_cell("%%time\n" + src),
                                       new_code_cell("fit_and_plot(*make_poly_data()[1:])")]), str(nb))
    out = tmp_path / "out"
    r = run_cli("grade", str(nb), "--out", str(out), "--seed", "4", "--chapters", "ch03_basics")
    assert r.returncode == 0, r.stderr
    page = (out / "feedback.html").read_text()
    res = json.loads((out / "results.json").read_text())
    poly = [t for t in res["tests"] if "test_polynomial" in t["name"]]
    assert poly and all(t["status"] == "passed" for t in poly)
    assert any("not implemented yet" in t["output"] for t in res["tests"])

    dom = _chromium(tmp_path, "--dump-dom", (out / "feedback.html").as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    imgs = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)"', dom.stdout)
    assert {alt for _, alt in imgs} >= {"Cubic fit: loss per epoch", "Two training samples: loss per epoch"}
    assert "could not be drawn" not in dom.stdout and "test_fit_cubic_recovers_weights" in dom.stdout

    shot = tmp_path / "page.png"
    r = _chromium(tmp_path, "--window-size=1000,16000", "--hide-scrollbars", f"--screenshot={shot}",
                  (out / "feedback.html").as_uri())
    assert shot.exists() and shot.stat().st_size > 10_000, r.stderr[-2000:]
    import matplotlib.image
    import numpy as np
    pixels = (matplotlib.image.imread(str(shot))[:, :, :3] * 255).astype(int)
    blue = (((pixels - np.array(C0_BLUE)) ** 2).sum(-1) < 300).sum()
    assert blue > 200, "the plots' curves do not show in the screenshot"
    if os.environ.get("D2LGRADE_KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["D2LGRADE_KEEP_SCREENSHOT"])


def test_section_notebook_in_a_zip_next_to_py_files(tmp_path, run_cli, course):
    """assignments-like zip: autograd.py as a file, tensors as tensors.ipynb in the chapter folder."""
    import zipfile
    sol = course.solutions / "ch02_preliminaries"
    nb = new_notebook(cells=[new_code_cell("import torch"),
                             new_code_cell((sol / "tensors.py").read_text()),
                             new_code_cell("print(broadcast_add(torch.ones(2, 1), torch.ones(1, 2)))")])
    archive = tmp_path / "sub.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("work/ch02_preliminaries/__init__.py", (sol / "__init__.py").read_text())
        zf.writestr("work/ch02_preliminaries/autograd.py", (sol / "autograd.py").read_text())
        zf.writestr("work/ch02_preliminaries/tensors.ipynb", nbformat.writes(nb))
        zf.writestr("work/ch02_preliminaries/.ipynb_checkpoints/tensors-checkpoint.ipynb", "{broken")
    r = run_cli("grade", str(archive), "--out", str(tmp_path / "out"), "--seed", "5")
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["score"] == res["max_score"] > 0, [t["output"] for t in res["tests"] if t["score"] == 0]
    assert "ch02_preliminaries/tensors.py: built from tensors.ipynb" in res["output"]


def test_chapter_notebook_joins_the_other_chapter_folders(tmp_path, course):
    from d2lgrade.intake.notebook import materialize
    (tmp_path / "work" / "ch02_preliminaries").mkdir(parents=True)
    nb = new_notebook(cells=[new_code_cell((course.solutions / "ch03_basics" / "polynomial.py").read_text())])
    nbformat.write(nb, str(tmp_path / "ch03_basics.ipynb"))
    notes = materialize(tmp_path, course)
    built = tmp_path / "work" / "ch03_basics"
    assert (built / "polynomial.py").exists() and (built / "__init__.py").exists()
    assert "raise NotImplementedError" in (built / "mlp.py").read_text()  # stubs for the rest
    assert any("polynomial.py: built from ch03_basics.ipynb" in n for n in notes)


def test_page_can_leave_out_after_due_date_tests():
    results = [_result("test_a", "passed"), _result("test_late", "failed", vis="after_due_date")]
    assert "test_late" in render_page(results)
    page = render_page(results, include_after_due_date=False)
    assert "test_late" not in page and "2 / 2" in page and "after the due date" in page
