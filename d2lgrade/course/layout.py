"""Where the course lives: solutions, stubs, graders, fixtures, mutants.

The course root is found, in this order: the ``--course`` option, the ``D2LGRADE_COURSE``
environment variable, the nearest folder above the current directory that holds both
``graders/`` and ``solutions/``, and the folder above this package (an editable install).
"""
from __future__ import annotations

import importlib.util
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from d2lgrade.paths import ENGINE_PARENT

CHAPTER_RE = re.compile(r"^ch(\d\d)_[a-z0-9_]+$")


@dataclass(frozen=True)
class Course:
    root: Path

    @property
    def solutions(self) -> Path:
        return self.root / "solutions"

    @property
    def reference_root(self) -> Path:
        """Where ``load_reference`` reads: ``solutions/``, or in a student release (which has
        none) the pristine stubs in ``.d2lgrade/given/`` (given code only)."""
        return self.solutions if self.solutions.is_dir() else self.root / ".d2lgrade" / "given"

    @property
    def assignments(self) -> Path:
        return self.root / "assignments"

    @property
    def graders(self) -> Path:
        return self.root / "graders"

    @property
    def fixtures(self) -> Path:
        return self.root / "fixtures"

    @property
    def mutants(self) -> Path:
        return self.fixtures / "mutants"

    def chapters(self) -> list[str]:
        """Chapters that have graders, in order."""
        return sorted(p.name for p in self.graders.iterdir()
                      if p.is_dir() and CHAPTER_RE.match(p.name))


def _looks_like_course(path: Path) -> bool:
    # a student release (d2lgrade.course_tools.release) has assignments/ instead of solutions/
    return (path / "graders").is_dir() and ((path / "solutions").is_dir()
                                            or (path / "assignments").is_dir())


def find_course(explicit: str | os.PathLike | None = None) -> Course:
    candidates: list[Path] = []
    if explicit:
        candidates.append(Path(explicit))
    if os.environ.get("D2LGRADE_COURSE"):
        candidates.append(Path(os.environ["D2LGRADE_COURSE"]))
    here = Path.cwd().resolve()
    candidates += [here, *here.parents]
    candidates.append(ENGINE_PARENT)
    for c in candidates:
        if _looks_like_course(c):
            return Course(c.resolve())
    raise FileNotFoundError("no course found: run inside the d2lgrade repository, or set "
                            "--course / D2LGRADE_COURSE to a folder with graders/ and solutions/")


_REFERENCE_PREFIX = "d2lgrade_reference"


def load_reference(module: str, course: Course | None = None) -> ModuleType:
    """Import a reference solution module in the grading process (never in the child).

    It is imported under its own package name (``d2lgrade_reference.<module>``), so it can
    never be confused with the student's module of the same name.
    """
    course = course or find_course()
    name = f"{_REFERENCE_PREFIX}.{module}"
    if name in sys.modules:
        return sys.modules[name]
    parts = module.split(".")
    # Make the parent packages exist so relative imports inside the reference work.
    pkg_path = course.reference_root
    for depth in range(len(parts)):
        pkg_name = ".".join([_REFERENCE_PREFIX, *parts[:depth]])
        if pkg_name not in sys.modules:
            pkg = ModuleType(pkg_name)
            pkg.__path__ = [str(pkg_path)]
            sys.modules[pkg_name] = pkg
            init = pkg_path / "__init__.py"
            if depth and init.exists():
                exec(compile(init.read_text(), str(init), "exec"), pkg.__dict__)
        if depth < len(parts) - 1:
            pkg_path = pkg_path / parts[depth]
    path = course.reference_root.joinpath(*parts).with_suffix(".py")
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    from d2lgrade.results import timing
    if timing.enabled():  # benchmarks: time spent in reference code
        timing.instrument_reference(mod)
    return mod
