"""The student release: the repository a student receives (``d2lgrade release OUT``).

It holds the stubs (``assignments/``), the public tests only (``graders/``), the engine
(``d2lgrade/``, which has no reference code: it is needed for the pytest plugin and the
Fashion-MNIST-format builder), a README, ``pyproject.toml`` and ``tox.ini``. It never holds
``solutions/``, hidden or after-due-date tests, mutants or the hostile samples.

Grader files are cut with the AST, statement by statement, keeping the original text of what
stays:

* tests marked ``hidden`` / ``after_due_date`` (by decorator or ``pytestmark``) are dropped;
* a public test may use the reference module only for its *given* code (constants, helpers
  outside solution regions). ``feedback(...)`` / ``feedback.plot(...)`` statements that need
  reference solutions (a reference curve) are removed from it; a public test that still needs
  a solution function is dropped and listed in the report;
* of the rest of the file only what the kept tests need stays (fixtures they request, helpers
  they call, imports they use), found by a fixed point over top-level names; comments right
  above a dropped statement go with it.

``reference(MODULE)`` in the release loads the pristine stub from ``.d2lgrade/given/`` (see
``Course.reference_root``), which is enough for the given code public tests use.

The cutting itself is in ``strip``; this module writes the repository around it.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from d2lgrade.course.layout import Course
from d2lgrade.course.stubs import expected_stubs
from d2lgrade.course_tools.strip import GIVEN_DIR, ReleaseError, strip_grader
from d2lgrade.paths import ENGINE_DIR


@dataclass
class ReleaseReport:
    out: Path
    chapters: list[str]
    kept_tests: list[str] = field(default_factory=list)
    dropped_hidden: int = 0
    needs_reference: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [f"wrote {len(self.files)} files to {self.out}",
                 f"chapters: {', '.join(self.chapters)}",
                 f"public tests kept: {len(self.kept_tests)}; hidden/after-due-date tests left "
                 f"out: {self.dropped_hidden}"]
        if self.needs_reference:
            lines.append("public tests left out because they compare with the reference at run "
                         "time: " + ", ".join(self.needs_reference))
        return "\n".join(lines)

# -- the files around the tests ----------------------------------------------------------------
ROOT_CONFTEST = '''"""Loads the grading plugin (d2lgrade) from this repository when it is not installed."""
import importlib.metadata
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _installed() -> bool:
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return False
    return any(ep.value == "d2lgrade.plugin" for ep in importlib.metadata.entry_points(group="pytest11"))


pytest_plugins = [] if _installed() else ["d2lgrade.plugin"]
'''

PYPROJECT = '''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "d2l-course-student"
version = "{version}"
description = "Dive into Deep Learning (PyTorch) course: assignments and public tests"
requires-python = ">=3.11"
dependencies = [
{deps}
]

[project.entry-points.pytest11]
d2lgrade = "d2lgrade.plugin"

[tool.setuptools.packages.find]
include = ["d2lgrade*"]

[tool.setuptools.package-data]
"*" = ["templates/*"]

[tool.pytest.ini_options]
testpaths = ["graders"]
# in-process, so that breakpoint() and pdb work in your code
addopts = "-p no:cacheprovider --import-mode=importlib --d2l-isolation none"
'''

TOX = '''[tox]
requires = tox>=4.11
env_list = py

[testenv]
description = the public tests against your code in assignments/
package = editable
commands =
    pytest {posargs:-q}
'''

GITIGNORE = "__pycache__/\n*.pyc\n.tox/\n*.egg-info/\nfixtures/generated/\n"

README = '''# Dive into Deep Learning: assignments

One folder per chapter in `assignments/` ({chapters}). Each file is one section of the book.

1. Open a file, read the docstring of each function: it is the specification (shapes,
   dtypes, the book's known answer).
2. Replace each `raise NotImplementedError("name: ...")` with your code. Keep the names and
   signatures.
3. Run the public tests:

   ```bash
   python -m pip install tox && tox          # builds an environment (PyTorch) and runs pytest
   # or, in an environment of your own with the dependencies of pyproject.toml:
   python -m pip install -e . && pytest
   pytest graders/{first} -q      # one chapter
   pytest graders/{first} -k book_example   # some tests, by name
   ```

   A test that fails names the function it calls; "not implemented yet" means you have not
   replaced the `raise` there yet. Tests run your code in this process, so `breakpoint()` works.

The public tests check the book's known answers and the shapes. Your submission is graded
with more tests (random inputs, properties, convergence) that you do not see here; passing
the public tests is necessary, not sufficient. Do not edit `graders/` or `d2lgrade/`: they are
replaced when you are graded.

Submit the `assignments/` folder (or a zip of it). Jupyter notebooks are accepted too: name a
notebook after the chapter (`ch03_basics.ipynb`) or put it in the chapter folder
(`assignments/ch03_basics/softmax_regression.ipynb`). Only imports, functions, classes and
constant assignments are taken from a notebook's code cells; `%magics` and `!shell` lines are
ignored. When one notebook covers several sections that reuse a name, start a cell with
`# d2lgrade: module softmax_regression` to send it (and the cells after it) to that section.

Tests marked as needing course data are "not run" unless `D2L_DATA_DIR` points at the course's
data folder.
'''


def _engine_files(course: Course) -> list[Path]:
    """The engine's modules and its templates (the feedback page, the similarity report)."""
    pkg = ENGINE_DIR
    return sorted(p for p in pkg.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                  and (p.suffix == ".py" or p.parent.name == "templates"))


def _dependencies(course: Course) -> list[str]:
    try:
        import tomllib
        data = tomllib.loads((course.root / "pyproject.toml").read_text())
        deps = list(data["project"]["dependencies"])
    except Exception:
        deps = ["torch", "torchvision", "numpy", "pandas", "pytest"]
    # the grading-only extras (notebook reading, feedback page) are not needed by students
    return [d for d in deps if not d.startswith(("nbformat", "matplotlib"))]


def write_release(course: Course, out: Path, chapters: list[str] | None = None,
                  force: bool = False) -> ReleaseReport:
    out = Path(out)
    available = course.chapters()
    chapters = list(chapters or available)
    unknown = [c for c in chapters if c not in available]
    if unknown:
        raise ReleaseError(f"no graders for chapter(s) {', '.join(unknown)}; known: {', '.join(available)}")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise ReleaseError(f"{out} exists and is not empty (use --force to replace it)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    report = ReleaseReport(out, chapters)

    def write(rel: str | Path, content: str | bytes) -> None:
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        (target.write_bytes if isinstance(content, bytes) else target.write_text)(content)
        report.files.append(str(rel))

    stubs = {rel: data for rel, data in expected_stubs(course).items() if rel.parts[0] in chapters}
    uses_reference = False
    for chapter in chapters:
        gdir = course.graders / chapter
        tests = sorted(p for p in gdir.rglob("*.py") if "__pycache__" not in p.parts
                       and p.name != "conftest.py")
        free: set[str] = set()
        for path in tests:
            res = strip_grader(path.read_text(encoding="utf-8"), course)
            report.dropped_hidden += res.dropped_hidden
            report.needs_reference += [f"{chapter}/{path.stem}::{t}" for t in res.needs_reference]
            report.kept_tests += [f"{chapter}/{path.stem}::{t}" for t in res.kept_tests]
            uses_reference |= res.uses_reference
            free |= res.free_names
            if res.kept_tests or not path.name.startswith("test_"):
                write(Path("graders") / path.relative_to(course.graders), res.text)
        conftest = gdir / "conftest.py"
        if conftest.exists():
            res = strip_grader(conftest.read_text(encoding="utf-8"), course, extra_roots=free,
                               is_conftest=True)
            uses_reference |= res.uses_reference
            write(Path("graders") / chapter / "conftest.py", res.text)
    for rel, data in sorted(stubs.items()):
        write(Path("assignments") / rel, data)
        if uses_reference and rel.suffix == ".py":
            write(GIVEN_DIR / rel, data)  # given code only: what public tests read from `ref`
    pkg = ENGINE_DIR
    for path in _engine_files(course):
        write(Path("d2lgrade") / path.relative_to(pkg), path.read_bytes())
    from d2lgrade.version import __version__
    deps = ",\n".join(f'    "{d}"' for d in _dependencies(course))
    write("pyproject.toml", PYPROJECT.format(version=__version__, deps=deps))
    write("tox.ini", TOX)
    write("conftest.py", ROOT_CONFTEST)
    write(".gitignore", GITIGNORE)
    write("README.md", README.format(chapters=", ".join(chapters), first=chapters[0]))
    return report
