"""The static view of a from-scratch function: the definition Python actually loaded, and what its source uses or compiles."""
from __future__ import annotations

import ast
from typing import Iterable

from d2lgrade.scratch.forbidden import _dotted, names_in, parsed


# -- the static view: the definition that is actually loaded -----------------------------------
def _definitions(tree: ast.Module, name: str) -> list[ast.AST]:
    """Top-level statements of a module that (re)bind ``name``."""
    found = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            found.append(node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(n, ast.Name) and n.id == name for t in targets for n in ast.walk(t)):
                found.append(node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any((a.asname or a.name.split(".")[0]) == name for a in node.names):
                found.append(node)
    return found


def redefinitions(source: str, name: str) -> list[int]:
    """Line numbers of every top-level binding of ``name`` when there is more than one."""
    tree = parsed(source)
    if tree is None:
        return []
    lines = [n.lineno for n in _definitions(tree, name.split(".")[0])]
    return lines if len(lines) > 1 else []


def _node_at(tree: ast.Module, qualname: str, line: int) -> ast.AST | None:
    """The def (or class) of ``qualname`` whose code starts at ``line`` (decorators included)."""
    parts = qualname.split(".")
    scope = list(tree.body)
    node = None
    for i, part in enumerate(parts):
        cands = [n for n in scope if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                 and n.name == part]
        if not cands:
            return None
        last = i == len(parts) - 1
        if last:
            exact = [n for n in cands if line in (n.lineno, *(d.lineno for d in n.decorator_list))]
            node = exact[-1] if exact else None
        else:
            inside = [n for n in cands if n.lineno <= line <= (n.end_lineno or n.lineno)]
            node = inside[-1] if inside else cands[-1]
        if node is None:
            return None
        scope = list(node.body)
    return node


def loaded_source_uses(source: str, qualname: str, line: int, tokens: Iterable[str]) -> tuple[bool, list[str]]:
    """(found, forbidden names) for the definition of ``qualname`` that starts at ``line``
    (the one Python actually loaded, not the first one in the file)."""
    tree = parsed(source)
    if tree is None:
        return False, []
    node = _node_at(tree, qualname, line)
    if node is None:
        return False, []
    own = frozenset(n.name for n in tree.body
                    if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))
    return True, names_in(node, set(tokens), own)


#: Decorators and calls that hand a function to TorchScript or torch.compile. Its ops then run
#: without Python: the trace sees only what a composite routine decomposes into (the book's
#: ``torch.rnn_tanh_cell`` is ``addmm`` and ``tanh``), never the routine's name.
_COMPILING = frozenset({"torch.jit.script", "jit.script", "script", "torch.jit.trace", "jit.trace",
                        "trace", "torch.jit.script_if_tracing", "torch.compile"})


def _compiled_helpers(tree: ast.Module) -> dict[str, int]:
    """Module-level names bound to a TorchScript / torch.compile function -> their line."""
    out: dict[str, int] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for dec in node.decorator_list:
                if _dotted(dec.func if isinstance(dec, ast.Call) else dec) in _COMPILING:
                    out[node.name] = node.lineno
        elif (isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Call)
              and _dotted(node.value.func) in _COMPILING):
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                if isinstance(target, ast.Name):
                    out[target.id] = node.lineno
    return out


def loaded_source_compiled(source: str, qualname: str, line: int) -> list[str]:
    """The module's compiled helpers (``name (line N)``) that the definition of ``qualname``
    starting at ``line`` calls, directly or through the module's other functions. Static: a
    helper imported from another module is not followed."""
    tree = parsed(source)
    if tree is None:
        return []
    compiled = _compiled_helpers(tree)
    node = _node_at(tree, qualname, line) if compiled else None
    if node is None:
        return []
    defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    seen, todo, hits = set(), [node], []
    while todo:
        cur = todo.pop()
        # Arguments and local variables are the function's own (predict_rnn's ``rnn`` argument).
        local = {n.id for n in ast.walk(cur) if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del))}
        local |= {a.arg for n in ast.walk(cur) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                  for a in (*n.args.posonlyargs, *n.args.args, *n.args.kwonlyargs,
                            *filter(None, (n.args.vararg, n.args.kwarg)))}
        for sub in ast.walk(cur):
            if (isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and sub.id not in seen
                    and sub.id not in local):
                seen.add(sub.id)
                if sub.id in compiled:
                    hits.append(f"{sub.id} (line {compiled[sub.id]})")
                elif sub.id in defs:
                    todo.append(defs[sub.id])
    return sorted(hits)
