"""Cutting a grader file down to its public part, with the AST, statement by statement (keeping the original text of what stays)."""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from d2lgrade.course.layout import Course
from d2lgrade.course.stubs import BEGIN

GIVEN_DIR = Path(".d2lgrade") / "given"
DROPPED_MARKS = ("hidden", "after_due_date")


class ReleaseError(Exception):
    """The release cannot be written (e.g. OUT exists and is not empty)."""




# -- which reference names are solutions -----------------------------------------------------
def solution_names(source: str, path: Path | None = None, _seen: set | None = None) -> set[str]:
    """Top-level names of a reference module whose code is (or calls) solution code.

    A definition with a solution region counts, and so does given code that uses one (the
    book's ``small_vgg`` calls ``vgg_block``), also through an import from a sibling module
    of the chapter (``path`` is the module's file, to resolve those).
    """
    tree = ast.parse(source)
    begins = [i for i, line in enumerate(source.splitlines(), start=1) if BEGIN.match(line)]
    out = set()
    _seen = set() if _seen is None else _seen
    if path is not None:
        _seen.add(path.resolve())
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if any(node.lineno <= b <= node.end_lineno for b in begins):
                out.add(node.name)
        elif isinstance(node, ast.ImportFrom) and path is not None and node.module:
            if node.level:
                base = path.parent
                for _ in range(node.level - 1):
                    base = base.parent
                target = base.joinpath(*node.module.split(".")).with_suffix(".py")
            else:
                target = path.parent.parent.joinpath(*node.module.split(".")).with_suffix(".py")
            if target.exists() and target.resolve() not in _seen:
                theirs = solution_names(target.read_text(encoding="utf-8"), target, _seen)
                out |= {a.asname or a.name for a in node.names if a.name in theirs}
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                                   ast.Assign, ast.AnnAssign))]
    changed = True
    while changed:
        changed = False
        for node in defs:
            names = _defined(node)
            if names - out and _used(node) & out:
                out |= names
                changed = True
    return out


# -- AST helpers -------------------------------------------------------------------------------
def _defined(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return set()


def _used(node: ast.AST) -> set[str]:
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    for n in ast.walk(node):  # fixture requests are parameter names
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names |= {a.arg for a in n.args.args + n.args.kwonlyargs}
    return names


def _marks(node: ast.AST) -> set[str]:
    out = set()
    for d in getattr(node, "decorator_list", []):
        d = d.func if isinstance(d, ast.Call) else d
        if isinstance(d, ast.Name):
            out.add(d.id)
        elif isinstance(d, ast.Attribute):
            out.add(d.attr)
    return out


def _is_test(node: ast.stmt) -> bool:
    return (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test")) \
        or (isinstance(node, ast.ClassDef) and node.name.startswith("Test"))


def _is_fixture(node: ast.stmt) -> bool:
    return "fixture" in _marks(node)


def _autouse(node: ast.stmt) -> bool:
    for d in getattr(node, "decorator_list", []):
        if isinstance(d, ast.Call) and any(k.arg == "autouse" and getattr(k.value, "value", False)
                                           for k in d.keywords):
            return True
    return False


def _module_marks(tree: ast.Module) -> set[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "pytestmark" for t in node.targets):
            return {n.attr if isinstance(n, ast.Attribute) else n.id
                    for n in ast.walk(node.value) if isinstance(n, (ast.Name, ast.Attribute))}
    return set()


def _feedback_statement(stmt: ast.stmt) -> bool:
    """``feedback(...)`` or ``feedback.<anything>(...)`` as a statement of its own."""
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return False
    f = stmt.value.func
    while isinstance(f, ast.Attribute):
        f = f.value
    return isinstance(f, ast.Name) and f.id == "feedback"


class _Taint:
    """Which top-level names need a reference *solution* (directly or through helpers)."""

    def __init__(self, tree: ast.Module, course: Course) -> None:
        consts = {}
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) \
                    and isinstance(node.value.value, str):
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        consts[t.id] = node.value.value
        self.ref_vars: dict[str, set[str] | None] = {}
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                f = node.value.func
                fname = f.id if isinstance(f, ast.Name) else getattr(f, "attr", "")
                if fname in ("reference", "load_reference") and node.value.args:
                    arg = node.value.args[0]
                    module = arg.value if isinstance(arg, ast.Constant) else consts.get(getattr(arg, "id", ""))
                    names = None
                    if isinstance(module, str):
                        path = course.solutions.joinpath(*module.split(".")).with_suffix(".py")
                        if path.exists():
                            names = solution_names(path.read_text(encoding="utf-8"), path)
                    for t in node.targets:
                        if isinstance(t, ast.Name):
                            self.ref_vars[t.id] = names  # None: unknown module, all tainted
        self.tainted: set[str] = set()
        defs = {n: node for node in tree.body for n in _defined(node) if n not in self.ref_vars}
        changed = True
        while changed:
            changed = False
            for name, node in defs.items():
                if name not in self.tainted and self.needs_solution(node):
                    self.tainted.add(name)
                    changed = True

    def needs_solution(self, node: ast.AST) -> bool:
        attr_ok: set[int] = set()
        for n in ast.walk(node):
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in self.ref_vars:
                names = self.ref_vars[n.value.id]
                if names is None or n.attr in names:
                    return True
                attr_ok.add(id(n.value))
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
                if n.id in self.ref_vars and id(n) not in attr_ok:
                    return True     # the reference module passed around whole
                if n.id in self.tainted:
                    return True
        return False


def _span(node: ast.stmt) -> tuple[int, int]:
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return first, node.end_lineno


@dataclass
class StrippedFile:
    text: str
    kept_tests: list[str]
    dropped_hidden: int
    needs_reference: list[str]
    free_names: set[str]          # names the kept code needs and does not define (fixtures...)
    uses_reference: bool


def strip_grader(source: str, course: Course, *, extra_roots: set[str] = frozenset(),
                 is_conftest: bool = False) -> StrippedFile:
    """The public part of one grader file (or of a conftest, keeping ``extra_roots``)."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    taint = _Taint(tree, course)
    file_hidden = bool(_module_marks(tree) & set(DROPPED_MARKS))
    delete: list[tuple[int, int]] = []
    kept_tests, needs_ref = [], []
    dropped = 0
    keep_nodes: list[ast.stmt] = []
    others: list[ast.stmt] = []
    for node in tree.body:
        if _is_test(node):
            if file_hidden or _marks(node) & set(DROPPED_MARKS):
                dropped += 1
                delete.append(_span(node))
                continue
            body = getattr(node, "body", [])
            cut = [s for s in body if _feedback_statement(s) and taint.needs_solution(s)]
            rest = [s for s in body if s not in cut]
            probe = ast.Module(body=rest, type_ignores=[])
            if taint.needs_solution(probe) or taint.needs_solution(
                    ast.Module(body=[ast.Expr(d) for d in node.decorator_list], type_ignores=[])):
                needs_ref.append(node.name)
                delete.append(_span(node))
                continue
            delete += [_span(s) for s in cut]
            node.body = rest  # what it needs is computed without the cut statements
            kept_tests.append(node.name)
            keep_nodes.append(node)
        else:
            others.append(node)
    # What the kept tests need, to a fixed point over the other top-level statements.
    needed = set(extra_roots)
    for node in keep_nodes:
        needed |= _used(node)
    kept_other: set[int] = set()
    changed = True
    while changed:
        changed = False
        for node in others:
            if id(node) in kept_other or isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            defined = _defined(node)
            always = (not defined and not isinstance(node, ast.Expr)) or _autouse(node) \
                or "pytestmark" in defined or "pytest_plugins" in defined \
                or (is_conftest and defined and any(d.startswith("pytest_") for d in defined))
            docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and node is tree.body[0]
            if docstring or always or defined & needed:
                kept_other.add(id(node))
                needed |= _used(node)
                changed = True
    free = set(needed)
    out_imports: dict[int, str | None] = {}
    for node in others:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                continue
            aliases = [a for a in node.names if (a.asname or a.name).split(".")[0] in needed]
            if not aliases:
                delete.append(_span(node))
            elif len(aliases) != len(node.names):
                new = (ast.ImportFrom(module=node.module, names=aliases, level=node.level)
                       if isinstance(node, ast.ImportFrom) else ast.Import(names=aliases))
                out_imports[node.lineno] = ast.unparse(new) + "\n"
                delete.append(_span(node))
            free -= {(a.asname or a.name).split(".")[0] for a in aliases}
        elif id(node) not in kept_other:
            delete.append(_span(node))
        else:
            free -= _defined(node)
    for node in keep_nodes:
        free -= _defined(node)
    import builtins
    free -= set(dir(builtins))
    # Remove the deleted line ranges, with the comment block right above each.
    drop = [False] * (len(lines) + 2)
    for a, b in delete:
        for i in range(a, b + 1):
            drop[i] = True
        i = a - 1
        while i >= 1 and lines[i - 1].lstrip().startswith("#"):
            drop[i] = True
            i -= 1
    out = []
    for i, line in enumerate(lines, start=1):
        if i in out_imports:
            out.append(out_imports[i])
        if not drop[i]:
            out.append(line)
    text = re.sub(r"\n{4,}", "\n\n\n", "".join(out)).rstrip("\n") + "\n"
    try:
        ast.parse(text)
    except SyntaxError as exc:  # a bug here must never ship a broken file silently
        raise ReleaseError(f"the stripped grader does not parse (line {exc.lineno}): {exc.msg}") from None
    uses_ref = any(v in needed for v in taint.ref_vars)
    return StrippedFile(text, kept_tests, dropped, needs_ref, free, uses_ref)
