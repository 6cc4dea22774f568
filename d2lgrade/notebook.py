"""Notebook submissions: the definitions in a Jupyter notebook become chapter modules.

How a notebook maps to the course's modules (read with nbformat, never executed here):

* **Which chapter.** The notebook's metadata ``{"d2lgrade": {"chapter": "ch03_basics"}}``,
  else its file name (``ch03_basics.ipynb``, or any name that starts with the chapter's, such
  as ``ch03_basics_alice.ipynb``), else the folder it is in (``ch03_basics/anything.ipynb``).
* **Which module.** A notebook named after a module and placed in its chapter folder
  (``ch03_basics/softmax_regression.ipynb``) is that module. Any other notebook covers the
  whole chapter: each definition goes to the module(s) whose stub defines that name; helpers
  no stub defines, imports and constants go to every module of the chapter. A code cell that
  starts with ``# d2lgrade: module softmax_regression`` sends itself and the cells after it
  (until the next such line) to that module only: that settles names the book reuses across
  sections (``net``, ``train``...).
* **What is taken.** Only top-level imports, functions, classes and assignments of literal
  constants (``batch_size = 256``) from code cells. Everything else (training runs, prints,
  plots, data loading) is left out, so grading never runs a notebook's experiments. Lines
  starting with ``%`` or ``!`` (IPython magics, shell) and ``name?`` help lines are removed;
  a cell that starts with a cell magic other than ``%%time``/``%%timeit``/``%%capture`` is
  left out. Imports of the book's helper package (``d2l``, ``d2lzh_pytorch``) are removed: the
  stubs already give the helper code a chapter needs.
* **The module file.** The stub of the module (or the submission's own ``.py`` file, when
  it has one) followed by the notebook's definitions, which therefore replace the stub's.
  The file's header lists which cells it came from, so a traceback's line number can be
  traced back to a cell.

A notebook that cannot be read, or a cell that does not parse, gets a note that says so (and
the cell is left out); code that fails when the module is imported fails the tests with the
student's traceback, as for a ``.py`` submission.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from .course import CHAPTER_RE, Course
from .stubs import expected_stubs

TAG = re.compile(r"^\s*#\s*d2lgrade:\s*module\s+([A-Za-z_][A-Za-z0-9_]*)\s*$")
KEPT_CELL_MAGICS = ("%%time", "%%timeit", "%%capture")
BOOK_HELPERS = {"d2l", "d2lzh_pytorch", "d2lzh"}


class NotebookUnreadable(Exception):
    pass


@dataclass
class Piece:
    cell: int           # 1-based index among all cells (what Jupyter users count)
    kind: str           # "import" | "def" | "const"
    names: set[str]
    code: str
    module: str | None  # from a tag, or None


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


def clean_cell(source: str) -> str | None:
    """The cell without IPython syntax; None when the whole cell is not Python."""
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        if lines[0].split()[0] not in KEPT_CELL_MAGICS:
            return None
        lines = lines[1:]
    out = []
    for line in lines:
        stripped = line.lstrip()
        indent = line[:len(line) - len(stripped)]
        if stripped.startswith(("%", "!")) or re.match(r"^[\w.]+\s*=\s*[!%]", stripped) \
                or re.match(r"^[\w.]+\?\??$", stripped):
            out.append(indent + "pass  # IPython line removed")
        else:
            out.append(line)
    return "\n".join(out)


def _literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
        return True
    except Exception:
        return False


def extract(nb, name: str, notes: list[str]) -> list[Piece]:
    """The kept definitions of a notebook, in order."""
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
                mods = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                if any(m.split(".")[0] in BOOK_HELPERS for m in mods):
                    notes.append(f"{name}, cell {index}: `{text.strip()}` removed (the book's helper "
                                 "package is not available when grading; the stubs give its code)")
                    continue
                names = {(a.asname or a.name).split(".")[0] for a in node.names}
                pieces.append(Piece(index, "import", names, text, module))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                pieces.append(Piece(index, "def", {node.name}, text, module))
            elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None \
                    and _literal(node.value):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
                pieces.append(Piece(index, "const", names, text, module))
    return pieces


def _top_names(source: str) -> set[str]:
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def chapter_of(path: Path, nb, chapters: list[str]) -> str | None:
    meta = (nb.metadata.get("d2lgrade") or {}) if hasattr(nb, "metadata") else {}
    if isinstance(meta, dict) and meta.get("chapter") in chapters:
        return meta["chapter"]
    for c in sorted(chapters, key=len, reverse=True):
        if path.stem == c or path.stem.startswith(c):
            return c
    if path.parent.name in chapters:
        return path.parent.name
    m = re.match(r"^ch(\d\d)", path.stem)
    if m:
        found = [c for c in chapters if c.startswith(f"ch{m.group(1)}_")]
        if len(found) == 1:
            return found[0]
    return None


def convert(path: Path, course: Course, existing: dict[str, str] | None = None) -> Conversion:
    """Module sources for one notebook (``existing``: the submission's own .py files)."""
    existing = existing or {}
    conv = Conversion()
    nb = read_notebook(path)
    chapters = course.chapters()
    chapter = chapter_of(path, nb, chapters)
    if chapter is None:
        conv.notes.append(f"{path.name}: cannot tell which chapter this notebook is for; name it "
                          f"after the chapter (e.g. {chapters[0] if chapters else 'ch03_basics'}.ipynb) "
                          "or put it in the chapter's folder")
        return conv
    stubs = {str(rel.with_suffix("")).replace("\\", "/").split("/", 1)[1]: data.decode()
             for rel, data in expected_stubs(course).items()
             if rel.parts[0] == chapter and rel.suffix == ".py" and rel.name != "__init__.py"}
    bases = {m: existing.get(f"{chapter}/{m}.py", src) for m, src in stubs.items()}
    names = {m: _top_names(src) for m, src in stubs.items()}
    all_names = set().union(*names.values()) if names else set()
    pieces = extract(nb, path.name, conv.notes)
    single = path.parent.name == chapter and path.stem in stubs
    for p in pieces:
        if p.module is not None and p.module not in stubs:
            conv.notes.append(f"{path.name}, cell {p.cell}: no module {p.module!r} in {chapter} "
                              f"(known: {', '.join(sorted(stubs))}); the tag is ignored")
            p.module = None
    for module in sorted(stubs):
        chosen = []
        for p in pieces:
            if single:
                take = path.stem == module
            elif p.module is not None:
                take = p.module == module
            elif p.kind == "def":
                take = bool(p.names & names[module]) or not (p.names & all_names)
            else:
                take = True
            if take:
                chosen.append(p)
        if not any(p.kind == "def" for p in chosen):
            # nothing of this module in the notebook: keep the submission's file, or give the
            # stub, so its tests say "not implemented yet: <function>"
            if f"{chapter}/{module}.py" not in existing:
                conv.modules[f"{chapter}/{module}.py"] = bases[module]
            continue
        cells = sorted({p.cell for p in chosen})
        base = bases[module]
        header = (f"\n\n# ---- d2lgrade: from notebook {path.name}, code cells "
                  f"{', '.join(map(str, cells))} ----\n")
        body = []
        for p in chosen:
            body.append(f"# cell {p.cell}\n{p.code}\n")
        conv.modules[f"{chapter}/{module}.py"] = base.rstrip("\n") + header + "\n".join(body)
        conv.notes.append(f"{chapter}/{module}.py: built from {path.name} (code cells "
                          f"{', '.join(map(str, cells))}) after the given code")
    if not any("built from" in n for n in conv.notes):
        conv.notes.append(f"{path.name}: no function or class of {chapter} found in its code cells")
    return conv


def _chapter_root(root: Path) -> Path | None:
    """The folder (root or one level down) that already holds chapter packages."""
    for candidate in (root, *sorted(p for p in root.iterdir() if p.is_dir())):
        if any(CHAPTER_RE.match(p.name) and p.is_dir() for p in candidate.iterdir()):
            return candidate
    return None


def materialize(root: Path, course: Course) -> list[str]:
    """Turn every notebook under ``root`` (a writable copy of the submission) into modules."""
    notes: list[str] = []
    notebooks = sorted(p for p in root.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    for path in notebooks:
        chapter_dir_files = {}
        for py in root.rglob("*.py"):
            rel = py.relative_to(root)
            if len(rel.parts) >= 2 and CHAPTER_RE.match(rel.parts[-2]):
                chapter_dir_files[f"{rel.parts[-2]}/{rel.name}"] = py.read_text(encoding="utf-8", errors="replace")
        try:
            conv = convert(path, course, chapter_dir_files)
        except NotebookUnreadable as exc:
            notes.append(str(exc))
            continue
        notes += conv.notes
        for rel, src in conv.modules.items():
            chapter = rel.split("/")[0]
            # into the chapter folder the submission has, or a new one beside its other
            # chapter folders (or beside the notebook), so that one folder holds them all
            existing = [d for d in root.rglob(chapter) if d.is_dir()]
            target_dir = existing[0] if existing else (_chapter_root(root) or path.parent) / chapter
            target_dir.mkdir(parents=True, exist_ok=True)
            init = target_dir / "__init__.py"
            if not init.exists():
                given = expected_stubs(course).get(Path(chapter) / "__init__.py", b"")
                init.write_bytes(given)
            (target_dir / rel.split("/", 1)[1]).write_text(src, encoding="utf-8")
    return notes
