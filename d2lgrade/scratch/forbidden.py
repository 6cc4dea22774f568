"""Forbidden-API checks: "implement softmax yourself" means no torch.softmax inside.

Two independent views, both must be clean:

* static: the function's source in the submission (read as text and parsed in the grading
  process, never executed) must not name a forbidden API in any dotted name or import;
* dynamic: the call is traced in the child (``TorchFunctionMode`` for torch functions, a
  profile hook for Python functions of torch/torchvision/sklearn), so aliases such as
  ``getattr(torch, "soft" + "max")`` are caught too.

Forbidden APIs are given as name tokens ("softmax", "optim", "conv2d"); a token matches a
whole segment of a dotted name (``torch.nn.functional.softmax``, ``torch.optim.sgd.step``).
"""
from __future__ import annotations

import ast
import functools
import re
from pathlib import Path
from typing import Any, Iterable

from d2lgrade.errors import GradeFailure

_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@functools.lru_cache(maxsize=32)
def parsed(source: str) -> ast.Module | None:
    """``ast.parse(source)``, or None on a syntax error; cached, because every test that checks
    a function of a submission reads the same module (the trees are only read, never changed)."""
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):  # ValueError: a null byte in the file
        return None


def _segments(name: str) -> set[str]:
    return set(_SEGMENT.findall(name))


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ".".join(reversed(parts)) if parts else None


def _find_function(tree: ast.Module, qualname: str) -> ast.AST | None:
    scope: list[ast.AST] = list(tree.body)
    node = None
    for part in qualname.split("."):
        node = next((n for n in scope if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                        ast.ClassDef)) and n.name == part), None)
        if node is None:
            return None
        scope = list(node.body)
    return node


def static_uses(source: str, qualname: str, tokens: Iterable[str]) -> list[str]:
    """Dotted names in ``qualname``'s body (or imports in it) that contain a forbidden token."""
    return list(_static_uses(source, qualname, frozenset(tokens)))


@functools.lru_cache(maxsize=256)
def _static_uses(source: str, qualname: str, tokens: frozenset) -> tuple[str, ...]:
    tree = parsed(source)
    if tree is None:
        return ()  # the import itself fails; the dynamic check and the test say so
    fn = _find_function(tree, qualname)
    if fn is None:
        return ()
    return tuple(names_in(fn, set(tokens)))


def names_in(fn: ast.AST, tokens: set[str], own: frozenset = frozenset()) -> list[str]:
    """Dotted names, imports and string constants in a def/class node that contain a token.

    Bare names in ``own`` (the module's own functions and classes, e.g. a call from
    ``net`` to the student's ``softmax``) are not library names and are skipped."""
    # Docstrings are the spec ("do not use torch.softmax"), not code.
    docstrings = {id(n.body[0].value) for n in ast.walk(fn)
                  if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                  and n.body and isinstance(n.body[0], ast.Expr)
                  and isinstance(n.body[0].value, ast.Constant) and isinstance(n.body[0].value.value, str)}
    # So is the message of a stub's ``raise NotImplementedError("...")``.
    skipped = docstrings | {id(arg) for n in ast.walk(fn) if isinstance(n, ast.Raise)
                            and isinstance(n.exc, ast.Call) and _dotted(n.exc.func) == "NotImplementedError"
                            for arg in n.exc.args if isinstance(arg, ast.Constant)}
    # Local variables and arguments are the student's names (the book's ``conv2d = Conv2D(...)``).
    local = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del))}
    local |= {a.arg for n in ast.walk(fn) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
              for a in (*n.args.posonlyargs, *n.args.args, *n.args.kwonlyargs,
                        *filter(None, (n.args.vararg, n.args.kwarg)))}
    hits = set()
    for node in ast.walk(fn):
        if id(node) in skipped:
            continue
        names: list[str] = []
        if isinstance(node, ast.Name):
            if node.id not in own and node.id not in local:
                names.append(node.id)
        elif isinstance(node, ast.Attribute):
            dotted = _dotted(node) or ""
            root, _, rest = dotted.partition(".")
            names.append(rest if root in local or root in own else dotted)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names += [a.name for a in node.names] + [getattr(node, "module", None) or ""]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.append(node.value)  # getattr(F, "softmax")
        for name in names:
            if _segments(name) & tokens:
                hits.add(name)
    return sorted(hits)


def module_source(submission_path: str | Path, module: str) -> str:
    path = Path(submission_path).joinpath(*module.split(".")).with_suffix(".py")
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def call_without(fn: Any, *args: Any, forbidden: Iterable[str], what: str | None = None,
                 **kwargs: Any) -> Any:
    """Call a student function (a ``RemoteFunction``) and fail if it used a forbidden API.

    Returns the call's value so the test can also check it is correct: a stub or an empty
    function must never earn the points of a forbidden-API test.
    """
    __tracebackhide__ = True
    forbidden = list(forbidden)
    what = what or f"{fn.attr}"
    source = module_source(fn.sub.path, fn.module)
    static = static_uses(source, fn.attr, forbidden)
    if static:
        raise GradeFailure(f"{what} must be implemented without {', '.join(forbidden)}; "
                           f"its code uses {', '.join(static)}")
    value, trace = fn.traced(*args, **kwargs)
    used = sorted({n for n in trace.torch_functions + trace.python_calls
                   if _segments(n) & set(forbidden)})
    if used:
        raise GradeFailure(f"{what} must be implemented without {', '.join(forbidden)}; "
                           f"the call reached {', '.join(used[:5])}")
    return value
