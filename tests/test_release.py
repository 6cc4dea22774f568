"""`d2lgrade release`: the student repository has no reference code and its pytest works."""
import ast
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from d2lgrade.course_tools.strip import strip_grader

from d2lgrade.course_tools.release import write_release
from d2lgrade.course.stubs import BEGIN, END, expected_stubs

FAST = ["ch02_preliminaries", "ch03_basics"]


def _norm(line: str) -> str:
    return re.sub(r"\s+", " ", line.strip())


def _regions(source: str) -> list[list[str]]:
    """The code lines of each solution region (comments and blank lines left out)."""
    out, cur = [], None
    for line in source.splitlines():
        if BEGIN.match(line):
            cur = []
        elif END.match(line):
            out.append(cur)
            cur = None
        elif cur is not None and line.strip() and not line.strip().startswith("#"):
            cur.append(_norm(line))
    return out


def _release_text(out: Path) -> dict[Path, list[str]]:
    return {p: [_norm(l) for l in p.read_text(encoding="utf-8", errors="replace").splitlines() if l.strip()]
            for p in out.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def full_release(tmp_path_factory, course):
    out = tmp_path_factory.mktemp("release") / "student"
    report = write_release(course, out)
    return out, report


def test_release_layout(full_release, course):
    out, report = full_release
    assert (out / "README.md").exists() and (out / "tox.ini").exists() and (out / "pyproject.toml").exists()
    assert not (out / "solutions").exists() and not (out / "fixtures" / "mutants").exists()
    assert not (out / "fixtures" / "samples").exists() and not (out / "tests").exists()
    for chapter in course.chapters():
        assert (out / "assignments" / chapter / "__init__.py").exists()
    assert report.kept_tests and report.dropped_hidden > 0


def find_leaks(out: Path, course) -> tuple[list[str], int]:
    """Solution regions (whole, or any two consecutive lines) found in the release."""
    texts = _release_text(out)
    stub_lines = {l for p, ls in texts.items() if "assignments" in p.parts for l in ls}
    stub_text = "\n".join("\n".join(ls) for p, ls in texts.items() if "assignments" in p.parts)
    # assignments/ and .d2lgrade/given/ are exactly the stubs (checked below), whose
    # docstrings, the spec, may spell out code; nothing else may contain a region
    joined = {p: "\n".join(ls) for p, ls in texts.items()
              if not {"assignments", ".d2lgrade"} & set(p.relative_to(out).parts[:1])}
    leaks, checked = [], 0
    for sol in sorted(course.solutions.rglob("*.py")):
        for region in _regions(sol.read_text(encoding="utf-8")):
            if not region:
                continue
            needles = ["\n".join(region)] + ["\n".join(region[i:i + 2]) for i in range(len(region) - 1)]
            # a one-line region counts when it is not also given code somewhere
            if len(region) == 1 and len(region[0]) >= 25 and region[0] not in stub_lines:
                needles.append(region[0])
            for needle in needles:
                if needle in stub_text:
                    continue  # spelled out by the spec itself
                leaks += [f"{sol.relative_to(course.root)} in {p}:\n{needle}"
                          for p, text in joined.items() if needle in text]
            checked += 1
    for p, text in joined.items():
        if "BEGIN SOLUTION" in text or "# catches:" in text:
            if p.relative_to(out).parts[0] != "d2lgrade":  # the engine documents the markers
                leaks.append(f"solution or mutant markers in {p}")
    return leaks, checked


def test_release_leaks_no_reference_code(full_release, course):
    """Grep the release for every solution region (whole, and every two consecutive lines)."""
    out, _ = full_release
    for rel, data in expected_stubs(course).items():
        assert (out / "assignments" / rel).read_bytes() == data
        given = out / ".d2lgrade" / "given" / rel
        assert not given.exists() or given.read_bytes() == data
    leaks, checked = find_leaks(out, course)
    assert checked > 100
    assert not leaks, "\n".join(leaks[:5])


def test_leak_check_finds_a_planted_solution(full_release, course, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(full_release[0], out)
    shutil.copy(course.solutions / "ch03_basics" / "softmax_regression.py",
                out / "graders" / "ch03_basics" / "helpers.py")
    leaks, _ = find_leaks(out, course)
    assert any("softmax_regression.py in" in l for l in leaks)


def test_release_has_no_hidden_test_mutant_or_attack(full_release, course):
    out, _ = full_release
    release_graders = "\n".join(p.read_text() for p in (out / "graders").rglob("*.py"))
    hidden = []
    for path in course.graders.rglob("test_*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                marks = {getattr(d, "id", getattr(d, "attr", "")) for d in node.decorator_list}
                if marks & {"hidden", "after_due_date"}:
                    hidden.append(node.name)
    assert len(hidden) > 50
    for name in hidden:
        assert not re.search(rf"\bdef {name}\(", release_graders), name
    release_bytes = {p.read_bytes() for p in out.rglob("*") if p.is_file()}
    for p in [*course.mutants.rglob("*.py"), *(course.fixtures / "samples").rglob("*.py")]:
        if p.stat().st_size > 200:
            assert p.read_bytes() not in release_bytes, p
    for p in course.mutants.rglob("*.py"):
        assert p.stem not in release_graders


def test_strip_grader_cuts_hidden_reference_and_feedback(course):
    src = '''"""Doc."""
import torch
from d2lgrade import hidden, points, reference

MODULE = "ch02_preliminaries.tensors"
ref = reference(MODULE)


def _only_hidden():
    return 1


def _reference_curve():
    return {"ref": ref.broadcast_add(torch.ones(1), torch.ones(1))}


@points(1)
def test_public(submission, feedback):
    x = torch.ones(1)
    feedback.plot("p", {"a": [1.0]}, reference=lambda: _reference_curve())
    assert x.sum() == 1


@points(1)
def test_public_needs_reference(submission):
    assert ref.flat_copy(torch.ones(2)).shape == (2,)


# the reference reaches 0.93 here
@hidden
@points(1)
def test_hidden(submission):
    assert _only_hidden() == 1
'''
    res = strip_grader(src, course)
    assert res.kept_tests == ["test_public"] and res.needs_reference == ["test_public_needs_reference"]
    assert res.dropped_hidden == 1
    for gone in ("test_hidden", "_only_hidden", "_reference_curve", "0.93", "feedback.plot",
                 "reference(MODULE)", "hidden"):
        assert gone not in res.text, gone
    assert "assert x.sum() == 1" in res.text and "from d2lgrade import points" in res.text
    ast.parse(res.text)


def _run_pytest(root: Path, junit: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "D2L"))}
    env["PYTHONPATH"] = str(root)  # the release's own engine, not this checkout's
    return subprocess.run([sys.executable, "-m", "pytest", "-q", f"--junitxml={junit}"], cwd=root,
                          env=env, capture_output=True, text=True, timeout=600)


def test_release_pytest_fails_on_stubs_and_passes_with_reference(tmp_path, course):
    out = tmp_path / "student"
    report = write_release(course, out, FAST)
    r = _run_pytest(out, tmp_path / "stubs.xml")
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]
    cases = list(ET.parse(tmp_path / "stubs.xml").iter("testcase"))
    assert len(cases) == len(report.kept_tests) > 40
    stub_functions = set()
    for chapter in FAST:
        for p in (out / "assignments" / chapter).glob("*.py"):
            stub_functions |= set(re.findall(r'NotImplementedError\("([\w.]+): ', p.read_text()))
    for case in cases:
        failure = case.find("failure")
        assert failure is not None, f"{case.get('name')} passes on the stubs"
        message = failure.get("message", "")
        named = [f for f in stub_functions if re.search(rf"\b{re.escape(f)}\b", message)]
        assert named, f"{case.get('name')}: the failure does not name the function: {message[:300]}"
    for chapter in FAST:
        for p in (course.solutions / chapter).glob("*.py"):
            shutil.copy(p, out / "assignments" / chapter / p.name)
    r = _run_pytest(out, tmp_path / "ref.xml")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    suites = ET.parse(tmp_path / "ref.xml").getroot()
    suite = suites if suites.tag == "testsuite" else suites.find("testsuite")
    assert int(suite.get("failures")) == 0 and int(suite.get("errors")) == 0


def test_given_code_that_calls_solutions_counts_as_solution(course):
    from d2lgrade.course_tools.strip import solution_names
    path = course.solutions / "ch05_cnn" / "vgg.py"
    names = solution_names(path.read_text(), path)
    assert {"vgg_block", "vgg", "small_vgg"} <= names
