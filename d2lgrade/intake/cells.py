"""Reading a notebook's cells: which statements define what, and the pieces of code each module needs."""
from __future__ import annotations

import ast
import builtins
import io
import re
import symtable
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

TAG = re.compile(r"^\s*#\s*d2lgrade:\s*module\s+([A-Za-z_][A-Za-z0-9_]*)\s*$")
KEPT_CELL_MAGICS = ("%%time", "%%timeit", "%%capture")
BUILTINS = set(dir(builtins)) | {"__name__", "__file__", "__doc__", "__builtins__", "__spec__"}


class NotebookUnreadable(Exception):
    pass


@dataclass
class Piece:
    cell: int           # 1-based index among all cells (what Jupyter users count)
    kind: str           # "import" | "def" | "assign" | "other"
    names: set[str]     # names it binds (for "other": names it rebinds or changes in place)
    code: str
    module: str | None  # from a tag, or None
    reads: set[str] = field(default_factory=set)


@dataclass
class Conversion:
    modules: dict[str, str] = field(default_factory=dict)   # "ch03_basics/mlp.py" -> source
    notes: list[str] = field(default_factory=list)


def read_notebook(path: Path):
    import nbformat
    try:
        return nbformat.read(str(path), as_version=4)
    except Exception as exc:
        raise NotebookUnreadable(f"{path.name}: not a readable Jupyter notebook "
                                 f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None


# ---- cells ----------------------------------------------------------------------------------

def logical_line_starts(code: str) -> tuple[set[int], int]:
    """Lines (1-based) that start a logical line, i.e. not inside brackets nor after a backslash
    (IPython syntax counts only there: ``% x`` inside a call is Python), and the last line this
    is known for (tokenize stops at an unterminated string or bracket)."""
    starts: set[int] = set()
    depth, at_start, known = 0, True, 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            known = tok.end[0]
            if tok.type in (tokenize.NEWLINE, tokenize.NL):
                if depth == 0:
                    at_start = True
                continue
            if tok.type in (tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
                continue
            if at_start:
                starts.add(tok.start[0])
                at_start = False
            if tok.type == tokenize.OP and tok.string in "([{":
                depth += 1
            elif tok.type == tokenize.OP and tok.string in ")]}":
                depth = max(0, depth - 1)
        known = max(known, len(code.splitlines()))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return starts, known


def clean_cell(source: str) -> str | None:
    """The cell without IPython syntax; None when the whole cell is not Python."""
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        if lines[0].split()[0] not in KEPT_CELL_MAGICS:
            return None
        lines = lines[1:]
    starts, known = logical_line_starts("\n".join(lines))
    out = []
    for number, line in enumerate(lines, start=1):
        stripped = line.lstrip()
        indent = line[:len(line) - len(stripped)]
        ipython = (stripped.startswith(("%", "!")) or re.match(r"^[\w.]+\s*=\s*[!%]", stripped)
                   or re.match(r"^[\w.]+\?\??$", stripped))
        if ipython and (number in starts or number > known):
            out.append(indent + "pass  # IPython line removed")
        else:
            out.append(line)
    return "\n".join(out)


def reads(source: str) -> set[str]:
    """Module-level names a top-level statement reads (function bodies and classes included)."""
    try:
        table = symtable.symtable(source, "<cell>", "exec")
    except SyntaxError:
        return set()
    names = {s.get_name() for s in table.get_symbols() if s.is_referenced()}

    def walk(t: symtable.SymbolTable) -> None:
        for child in t.get_children():
            names.update(s.get_name() for s in child.get_symbols()
                         if s.is_referenced() and (s.is_global() or s.is_declared_global()))
            walk(child)
    walk(table)
    return names - BUILTINS


def plain_targets(node: ast.stmt) -> set[str] | None:
    """Names an assignment to plain names (``a = ...``, ``a, b = ...``) binds; else None."""
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign) and node.value is not None and node.simple:
        targets = [node.target]
    else:
        return None
    names: set[str] = set()
    for t in targets:
        for e in (t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t]):
            e = e.value if isinstance(e, ast.Starred) else e
            if not isinstance(e, ast.Name):
                return None
            names.add(e.id)
    return names


def _touched(node: ast.stmt) -> set[str]:
    """Names a statement that is not kept binds or changes (for the notes)."""
    names = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            names.add(n.id)
        elif isinstance(n, (ast.Subscript, ast.Attribute)) and isinstance(n.ctx, ast.Store):
            base = n.value
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                base = base.value
            if isinstance(base, ast.Name):
                names.add(base.id)
    return names


def extract(nb, name: str, notes: list[str]) -> list[Piece]:
    """Every top-level statement of the notebook's code cells, in order, as pieces."""
    pieces: list[Piece] = []
    module = None
    for index, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        first = next((l for l in source.splitlines() if l.strip()), "")
        tag = TAG.match(first)
        if tag:
            module = tag.group(1)
        code = clean_cell(source)
        if code is None:
            continue
        try:
            tree = ast.parse(code)
        except SyntaxError as exc:
            notes.append(f"{name}, cell {index}, line {exc.lineno}: {exc.msg}; the cell is left out")
            continue
        lines = code.splitlines()
        for node in tree.body:
            start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            text = "\n".join(lines[start - 1:node.end_lineno])
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                    continue
                if any(a.name == "*" for a in node.names):
                    kind, names = "import", set()
                else:
                    kind = "import"
                    names = {(a.asname or a.name).split(".")[0] for a in node.names}
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                kind, names = "def", {node.name}
            elif plain_targets(node) is not None:
                kind, names = "assign", plain_targets(node)
            else:
                kind, names = "other", _touched(node)
            pieces.append(Piece(index, kind, names, text, module,
                                reads(text) if kind in ("def", "assign") else set()))
    return pieces
