"""Submissions that do not import: found once, told once, with a path the student knows.

When a module of the submission cannot be imported (a syntax error, a missing file, an
exception raised while the module runs), every test of that module fails with the same
``ImportError`` text from the child. ``import_problems`` turns those messages into one record
per module: the file relative to the submission, the line, and the error, so the gradebook,
the summary and the top of the feedback page can say "did not import: file, line, message"
instead of repeating it in each test.

``syntax_problems`` finds syntax errors by parsing the submission's ``.py`` files as text (no
code runs); it catches a broken module whose tests all hide their messages.
"""
from __future__ import annotations

import ast
import re
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

_IMPORTING = re.compile(r"ImportError: importing (?P<module>[\w.]+) failed: (?P<error>[^\n]*)")
_MISSING = re.compile(r"ImportError: the submission has no module (?P<module>[\w.]+)"
                      r"(?: \(expected the file (?P<file>[^)\s]+)\))?")
_FRAME = re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+)')
_SYNTAX_AT = re.compile(r"\((?P<file>[^(),]+), line (?P<line>\d+)\)\s*$")


@dataclass(frozen=True)
class ImportProblem:
    module: str          # ch02_preliminaries.tensors
    file: str            # ch02_preliminaries/tensors.py (relative to the submission)
    line: int | None
    error: str           # SyntaxError: expected ':'
    kind: str            # syntax | missing | exception

    def describe(self) -> str:
        at = f"{self.file}, line {self.line}" if self.line else self.file
        return f"{at}: {self.error}"

    def to_dict(self) -> dict:
        return asdict(self)


def _module_file(module: str) -> str:
    return module.replace(".", "/") + ".py"


def _relative(path: str, module_file: str) -> str | None:
    """``path`` as the student sees it, when it is a file of the submission."""
    p = path.replace("\\", "/")
    if p.endswith("/" + module_file) or p == module_file:
        return module_file
    m = re.search(r"(ch\d\d_[a-z0-9_]+/[^\s\"]+\.py)$", p)
    return m.group(1) if m else None


def _from_message(text: str) -> ImportProblem | None:
    m = _MISSING.search(text)
    if m:
        module = m.group("module")
        file = m.group("file") or _module_file(module)
        return ImportProblem(module, file, None, f"missing file {file}", "missing")
    m = _IMPORTING.search(text)
    if not m:
        return None
    module, error = m.group("module"), m.group("error").strip()
    module_file = _module_file(module)
    file, line = module_file, None
    # The innermost frame that is a file of the submission says where it went wrong.
    for f in _FRAME.finditer(text):
        rel = _relative(f.group("path"), module_file)
        if rel:
            file, line = rel, int(f.group("line"))
    kind = "exception"
    if error.startswith(("SyntaxError", "IndentationError", "TabError")):
        kind = "syntax"
        s = _SYNTAX_AT.search(error)
        if s:
            error = error[: s.start()].rstrip()
            line = line or int(s.group("line"))
    return ImportProblem(module, file, line, error, kind)


def import_problems(results: Iterable) -> list[ImportProblem]:
    """One problem per module that did not import, from test results (``TestResult``
    objects or their dicts), in the order first seen."""
    found: dict[str, ImportProblem] = {}
    for r in results:
        d = r if isinstance(r, dict) else asdict(r)
        if d.get("status") != "failed" or "ImportError" not in (d.get("message") or ""):
            continue
        p = _from_message(d["message"])
        if p is not None and p.module not in found:
            found[p.module] = p
    return list(found.values())


def syntax_problems(root: str | Path, chapters: Iterable[str]) -> list[ImportProblem]:
    """Syntax errors in the ``.py`` files of ``chapters`` under ``root`` (parsed, never run)."""
    root = Path(root)
    out = []
    for chapter in chapters:
        folder = root / chapter
        if not folder.is_dir():
            continue
        for f in sorted(folder.rglob("*.py")):
            if "__pycache__" in f.parts or f.is_symlink():
                continue
            rel = f.relative_to(root).as_posix()
            module = rel.removesuffix(".py").replace("/", ".")
            try:
                source = f.read_bytes()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # SyntaxWarning for odd escapes
                    ast.parse(source, filename=rel)
            except SyntaxError as exc:
                out.append(ImportProblem(module, rel, exc.lineno,
                                         f"{type(exc).__name__}: {exc.msg}", "syntax"))
            except (OSError, ValueError) as exc:  # ValueError: null bytes
                out.append(ImportProblem(module, rel, None, f"cannot be read: {exc}", "syntax"))
    return out


def merge(*lists: Iterable[ImportProblem]) -> list[ImportProblem]:
    """One problem per module; the first list that names a module wins."""
    found: dict[str, ImportProblem] = {}
    for problems in lists:
        for p in problems:
            found.setdefault(p.module, p)
    return list(found.values())


def summary_line(problems: list[ImportProblem]) -> str:
    """``did not import: file, line N: error`` (several joined with ``; ``)."""
    if not problems:
        return ""
    return "did not import: " + "; ".join(p.describe() for p in problems)
