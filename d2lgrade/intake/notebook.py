"""Notebook submissions: a Jupyter notebook's code becomes chapter modules.

How a notebook maps to the course's modules (read with nbformat, never executed here):

* **Which chapter.** The notebook's metadata ``{"d2lgrade": {"chapter": "ch03_basics"}}``,
  else its file name (``ch03_basics.ipynb``, or any name that starts with the chapter's, such
  as ``ch03_basics_alice.ipynb``), else the folder it is in (``ch03_basics/anything.ipynb``).
* **Which module.** A notebook named after a module and placed in its chapter folder
  (``ch03_basics/softmax_regression.ipynb``) is that module. Any other notebook covers the
  whole chapter: each definition goes to the module(s) whose stub defines that name; helpers
  no stub defines and imports go to every module of the chapter. A code cell that starts with
  ``# d2lgrade: module softmax_regression`` sends itself and the cells after it (until the
  next such line) to that module only: that settles names the book reuses across sections
  (``net``, ``train``...).
* **What is taken.** Every top-level import, ``def`` and ``class``; and the notebook-level
  objects those definitions read: assignments to plain names (``loss = nn.MSELoss()``,
  ``features, labels = get_data()``) that a kept definition reads, and what those read in turn,
  in cell order. Nothing else runs: experiments, prints, plots, training runs, and statements
  that change an object in place (``X[:, 2:6] = 0``, ``net.apply(init)``). IPython syntax
  (``%magic`` and ``!shell`` at the start of a line, ``name?``, cell magics other than
  ``%%time``/``%%timeit``/``%%capture``) is removed.
* **Failing notebook-level code does not sink the module.** Each kept assignment and import
  runs guarded: when it fails at import (a data file the book reads from ``../data``, a package
  that is not installed) its names become stand-ins that raise a NameError saying which cell
  failed and why, the moment a function uses them; everything else in the module loads.
* **Notebook-only imports.** ``IPython.display`` and the book's helper package
  (``import d2lzh_pytorch as d2l``) stay: the child provides them (``d2lgrade`` ``book_env``:
  display does nothing, ``d2l.name`` is the student's own definition).
* **The module file.** The stub of the module (or the submission's own ``.py`` file, when it
  has one) followed by the notebook's pieces, which therefore replace the stub's definitions.
  The file's header lists which cells it came from, and each piece is preceded by its cell
  number, so a traceback's line can be traced back to a cell.
* **Feedback.** A note per module built; a note for each cell that does not parse; a note
  when a kept function reads a name no kept cell assigns (with the cell of the statement that
  does, when it is not a plain assignment), and one line listing the cells left out as
  experiments.

Reading cells is in ``cells``; this module builds the chapter modules from them.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

from d2lgrade.course.layout import CHAPTER_RE, Course
from d2lgrade.course.stubs import expected_stubs
from d2lgrade.intake.cells import (
    Conversion,
    NotebookUnreadable,
    Piece,
    extract,
    read_notebook,
)

GUARD = "__d2lgrade_unresolved"
RUNTIME = "d2lgrade.isolation.book_env"
# ---- modules --------------------------------------------------------------------------------

def _top_names(source: str) -> set[str]:
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
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


def closure(pool: list[Piece], base_names: set[str]) -> tuple[list[Piece], set[str]]:
    """The pieces of ``pool`` a module keeps, and the names its definitions read that nothing binds.

    Imports and definitions are always kept; an assignment is kept when a kept piece reads a
    name it binds (every assignment to that name, in cell order, as the notebook ran them)."""
    keep = {id(p) for p in pool if p.kind in ("import", "def")}
    needed = set().union(*(p.reads for p in pool if p.kind == "def")) if pool else set()
    changed = True
    while changed:
        changed = False
        for p in pool:
            if p.kind == "assign" and id(p) not in keep and p.names & needed:
                keep.add(id(p))
                needed |= p.reads
                changed = True
    bound = set(base_names)
    for p in pool:
        if id(p) in keep:
            bound |= p.names
    if any(p.kind == "import" and not p.names for p in pool if id(p) in keep):
        bound |= needed          # a star import may bind anything
    return [p for p in pool if id(p) in keep], needed - bound


def _indent(code: str) -> str:
    return "\n".join(("    " + l) if l.strip() else l for l in code.splitlines())


def _guarded(p: Piece) -> str:
    """The piece, run so that a failure leaves stand-ins for its names instead of an error."""
    names = sorted(p.names)
    if not names:
        return p.code
    target = ", ".join(names) if len(names) > 1 else names[0]
    targets = f"[{', '.join(repr(n) for n in names)}]" if len(names) > 1 else repr(names[0])
    return (f"try:\n{_indent(p.code)}\nexcept Exception as __d2lgrade_exc:\n"
            f"    {target} = {GUARD}({targets}, {p.cell}, {p.code.splitlines()[0]!r}, __d2lgrade_exc)")


# packages the child provides even where they are not installed (``book_env``)
CHILD_PROVIDES = {"d2lzh_pytorch", "d2lzh", "d2l", "IPython", "torchtext"}


def _needs_guard(p: Piece) -> bool:
    """Whether a piece can fail at import for reasons outside the student's control."""
    if p.kind == "def":
        return False
    tree = ast.parse(p.code).body[0]
    if p.kind == "import":
        import importlib.util
        mods = [tree.module or ""] if isinstance(tree, ast.ImportFrom) else [a.name for a in tree.names]
        for m in mods:
            top = m.split(".")[0]
            if not top or top in CHILD_PROVIDES:
                continue
            try:
                if importlib.util.find_spec(top) is None:
                    return True
            except (ImportError, ValueError):
                return True
        return False
    try:
        ast.literal_eval(tree.value)
        return False          # a constant cannot fail
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return True


def without_redefined(base: str, names: set[str]) -> str:
    """``base`` (the given code) without its top-level functions and classes named in
    ``names``: the student's definitions replace them in place of standing beside them (Python
    would use the later one anyway, but two definitions of a graded function are reported as a
    redefinition by the from-scratch checks, and the stub's is dead code)."""
    try:
        tree = ast.parse(base)
    except SyntaxError:
        return base
    # a definition the given code itself uses at module level (``MyListDense = MyDense``) stays
    used = {n.id for node in tree.body
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    lines = base.splitlines(keepends=True)
    drop: list[tuple[int, int]] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                and node.name in names and node.name not in used:
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            drop.append((start - 1, node.end_lineno))
    for start, end in reversed(drop):
        del lines[start:end]
    return "".join(lines)


def _module_source(base: str, notebook: str, pieces: list[Piece]) -> str:
    base = without_redefined(base, {n for p in pieces if p.kind == "def" for n in p.names})
    cells = sorted({p.cell for p in pieces})
    guards = [p for p in pieces if _needs_guard(p)]
    header = (f"\n\n# ---- d2lgrade: from notebook {notebook}, code cells "
              f"{_cell_list(cells)} ----\n")
    if guards:
        header += f"from {RUNTIME} import unresolved as {GUARD}\n"
    body, last = [], None
    for p in pieces:
        if p.cell != last:
            body.append(f"\n# cell {p.cell}")
            last = p.cell
        body.append(_guarded(p) if p in guards else p.code)
    return base.rstrip("\n") + header + "\n".join(body) + "\n"


def _cell_list(cells: list[int]) -> str:
    """1, 2, 3, 5 -> "1-3, 5"."""
    out, run = [], []
    for c in sorted(set(cells)):
        if run and c == run[-1] + 1:
            run.append(c)
        else:
            if run:
                out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
            run = [c]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(out)


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
    used: set[int] = set()
    for module in sorted(stubs):
        pool = []
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
                pool.append(p)
        if not any(p.kind == "def" for p in pool):
            # nothing of this module in the notebook: keep the submission's file, or give the
            # stub, so its tests say "not implemented yet: <function>"
            if f"{chapter}/{module}.py" not in existing:
                conv.modules[f"{chapter}/{module}.py"] = bases[module]
            continue
        base_names = _top_names(bases[module]) if bases[module].strip() else set()
        chosen, missing = closure(pool, base_names)
        used |= {id(p) for p in chosen}
        conv.modules[f"{chapter}/{module}.py"] = _module_source(bases[module], path.name, chosen)
        cells = sorted({p.cell for p in chosen})
        conv.notes.append(f"{chapter}/{module}.py: built from {path.name} (code cells "
                          f"{_cell_list(cells)}) after the given code")
        for name in sorted(missing):
            readers = sorted({n for q in chosen if q.kind == "def" and name in q.reads
                              for n in q.names})
            setters = [q for q in pool if q.kind == "other" and name in q.names]
            who = f"`{'`, `'.join(readers)}` reads" if readers else "kept code reads"
            if setters:
                q = setters[-1]
                why = (f"only cell {q.cell} sets it (`{q.code.splitlines()[0][:60]}`), which is not "
                       "an assignment to a plain name and is not run")
            else:
                why = "no code cell of this module assigns it"
            conv.notes.append(f"{chapter}/{module}.py: {who} `{name}`, but {why}; calls that "
                              "need it fail with NameError")
    left = sorted({p.cell for p in pieces if id(p) not in used and p.kind in ("assign", "other")}
                  - {p.cell for p in pieces if id(p) in used})
    if left:
        conv.notes.append(f"{path.name}: cells left out (experiments and other code no kept "
                          f"function needs): {_cell_list(left)}")
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
            existing = [d for d in root.rglob(chapter) if d.is_dir()]
            target_dir = existing[0] if existing else (_chapter_root(root) or path.parent) / chapter
            target_dir.mkdir(parents=True, exist_ok=True)
            init = target_dir / "__init__.py"
            if not init.exists():
                given = expected_stubs(course).get(Path(chapter) / "__init__.py", b"")
                init.write_bytes(given)
            (target_dir / rel.split("/", 1)[1]).write_text(src, encoding="utf-8")
    return notes
