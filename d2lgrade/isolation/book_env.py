"""What the book's code expects around it, inside the child (issue 15).

``install(submission_dir)`` runs in the child before any student module is imported:

* **The book's helper package.** ``import d2lzh_pytorch as d2l`` (also ``d2lzh`` and ``d2l``)
  gives a module whose attributes are looked up in the submission: the importing module itself,
  then the other modules of its chapter, then earlier chapters, latest first. A function that
  is still a stub is used only when nothing else defines the name (its NotImplementedError says
  what to write). ``d2l.plt`` is ``matplotlib.pyplot`` (Agg). Only the submission's own files
  are searched: they hold the student's code and the stubs' given code, never the reference.
* **Notebook-only and unavailable packages.** When ``IPython`` or ``torchtext`` cannot be
  imported, a stand-in is: ``IPython.display`` functions do nothing (display is for a notebook),
  and any use of ``torchtext`` raises ``ModuleNotFoundError`` with a message that says so. So an
  import at the top of a module sinks only the code that really uses the package.
* **DataLoader workers.** Student ``multiprocessing`` forks (the default start method is reset
  from the grader's forkserver, whose socket the sandbox denies), and tensors between processes
  are pickled by value instead of by passing file descriptors over UNIX sockets (which the
  sandbox also denies), so ``DataLoader(num_workers=4)`` runs without opening any socket.
* **Unresolved names** (``unresolved``): a stand-in for a notebook-level name whose statement
  failed when the module was loaded; any use raises NameError saying which cell and why.
"""
from __future__ import annotations

import ast
import importlib
import importlib.abc
import importlib.machinery
import os
import sys
import types

HELPER_PACKAGES = ("d2lzh_pytorch", "d2lzh", "d2l")
STUB_MARK = "replace this line with your implementation"
_installed: list = []


# ---- unresolved names ----------------------------------------------------------------------

class NotebookNameError(NameError):
    pass


class _Unresolved:
    """A name whose defining statement failed at import; using it raises a clear NameError."""

    __slots__ = ("_message",)

    def __init__(self, message: str):
        object.__setattr__(self, "_message", message)

    def _fail(self, *args, **kwargs):
        raise NotebookNameError(object.__getattribute__(self, "_message"))

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        self._fail()

    def __repr__(self):
        return f"<unresolved: {object.__getattribute__(self, '_message')[:120]}>"

    __call__ = __getitem__ = __setitem__ = __iter__ = __len__ = __bool__ = _fail
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _fail
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __pow__ = _fail
    __matmul__ = __rmatmul__ = __neg__ = __lt__ = __le__ = __gt__ = __ge__ = _fail
    __index__ = __int__ = __float__ = __contains__ = __enter__ = _fail

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        for value in (*args, *(kwargs or {}).values()):
            if isinstance(value, _Unresolved):
                value._fail()
        raise NotebookNameError(f"{getattr(func, '__name__', func)} got a name a notebook cell "
                                "failed to define")


def unresolved(names, cell: int | None, code: str, error: BaseException):
    """Stand-ins for ``names`` (one name or a list) after ``code`` failed with ``error``."""
    where = f"notebook cell {cell}" if cell else "a module-level statement"
    first = code.strip().splitlines()[0] if code.strip() else code
    names = [names] if isinstance(names, str) else list(names)
    out = []
    for name in names:
        msg = (f"name {name!r} is not defined: {where} (`{first[:100]}`) failed when the module "
               f"was loaded: {type(error).__name__}: {str(error)[:300]}")
        out.append(_Unresolved(msg))
    return out[0] if len(out) == 1 else out


# ---- the helper package --------------------------------------------------------------------

def _is_stub(obj) -> bool:
    code = getattr(getattr(obj, "__init__", obj), "__code__", None) if isinstance(obj, type) \
        else getattr(obj, "__code__", None)
    return bool(code) and any(isinstance(c, str) and c.endswith(STUB_MARK) for c in code.co_consts)


def _top_level_names(path: str) -> set[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, ValueError):
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        names.add(n.id)
    return names


class BookHelpers(types.ModuleType):
    """``d2lzh_pytorch``: names from the submission's own modules."""

    def __init__(self, name: str, submission_dir: str):
        super().__init__(name, "The book's helper package, served from this submission's modules.")
        self.__dict__["_root"] = submission_dir
        self.__dict__["_index"] = None

    def _modules(self) -> dict[str, list[tuple[str, set[str]]]]:
        """chapter -> [(module name, top-level names)] in file-name order."""
        if self._index is None:
            import re
            index = {}
            root = self._root
            for chapter in sorted(os.listdir(root)):
                folder = os.path.join(root, chapter)
                if not (re.match(r"^ch\d\d_\w+$", chapter) and os.path.isdir(folder)):
                    continue
                index[chapter] = [(f"{chapter}.{f[:-3]}", _top_level_names(os.path.join(folder, f)))
                                  for f in sorted(os.listdir(folder))
                                  if f.endswith(".py") and f != "__init__.py"]
            self.__dict__["_index"] = index
        return self._index

    def _candidates(self, caller: str) -> list[str]:
        index = self._modules()
        chapters = sorted(index)
        chapter = caller.split(".")[0] if caller.split(".")[0] in index else (chapters[-1] if chapters else "")
        order = [caller] if caller in {m for c in chapters for m, _ in index[c]} else []
        for c in reversed([c for c in chapters if c <= chapter]):
            order += [m for m, _ in reversed(index[c]) if m != caller]
        return order

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        if name == "plt":
            import matplotlib
            if "matplotlib.pyplot" not in sys.modules:
                matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            return plt
        frame = sys._getframe(1)
        while frame is not None and (frame.f_code.co_filename.startswith("<frozen")
                                     or frame.f_globals.get("__name__", "").startswith("importlib")):
            frame = frame.f_back                      # ``from d2lzh_pytorch import name``
        caller = frame.f_globals.get("__name__", "") if frame is not None else ""
        names = {m: ns for c in self._modules().values() for m, ns in c}
        stub, problems = None, []
        for modname in self._candidates(caller):
            if name not in names.get(modname, ()):
                continue
            module = sys.modules.get(modname)
            if module is None:
                try:
                    module = importlib.import_module(modname)
                except Exception as exc:  # noqa: BLE001 - keep looking; say so if nothing is found
                    problems.append(f"{modname} failed to import ({type(exc).__name__}: {exc})")
                    continue
            if name not in vars(module):        # still importing, or bound later
                continue
            value = vars(module)[name]
            if _is_stub(value):
                stub = stub or value
                continue
            return value
        if stub is not None:
            return stub
        chapter = caller.split(".")[0]
        where = f"{chapter} or an earlier chapter" if chapter.startswith("ch") else "the submission"
        extra = "; " + "; ".join(problems[:3]) if problems else ""
        raise AttributeError(f"{self.__name__}.{name}: the book's helper package is served from your "
                             f"own code here, and no module of {where} defines {name}{extra}")


# ---- stand-ins for packages that cannot be imported here -----------------------------------

class _Missing:
    """Any use says the package is not available where the code is graded."""

    def __init__(self, what: str):
        self._what = what

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Missing(f"{self._what}.{name}")

    def __call__(self, *args, **kwargs):
        raise ModuleNotFoundError(f"{self._what} is not available where your code is graded "
                                  f"({self._what.split('.')[0]} is not installed); code that needs "
                                  "it cannot run here")

    def __repr__(self):
        return f"<unavailable {self._what}>"


def _ipython_module(name: str) -> types.ModuleType:
    mod = types.ModuleType(name, "Stand-in: IPython is not installed where the code is graded.")
    if name == "IPython":
        mod.version_info = (8, 0, 0, "stand-in")   # matplotlib reads it
        mod.get_ipython = lambda: None            # "not inside IPython"
        mod.display = _ipython_module("IPython.display")
        mod.__path__ = []
    else:
        noop = lambda *a, **k: None               # noqa: E731 - display has nothing to show here
        for attr in ("display", "clear_output", "set_matplotlib_formats", "HTML", "Image",
                     "Markdown", "SVG", "Javascript"):
            setattr(mod, attr, noop)
    return mod


def _missing_module(name: str) -> types.ModuleType:
    mod = types.ModuleType(name, f"Stand-in: {name.split('.')[0]} is not installed here.")
    mod.__path__ = []

    def __getattr__(attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Missing(f"{name}.{attr}")
    mod.__getattr__ = __getattr__
    return mod


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves the helper package (always) and the stand-ins (after every real finder failed)."""

    def __init__(self, submission_dir: str, standins: bool):
        self.submission_dir = submission_dir
        self.standins = standins

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.split(".")[0]
        if fullname in HELPER_PACKAGES:
            own = os.path.join(self.submission_dir, fullname)
            if os.path.exists(own + ".py") or os.path.isdir(own):
                return None              # the submission brings its own: that one is imported
            return importlib.machinery.ModuleSpec(fullname, self)
        if self.standins and top in ("IPython", "torchtext"):
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                try:
                    if finder.find_spec(fullname, path, target) is not None:
                        return None          # the real package is there
                except Exception:
                    continue
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        name = spec.name
        if name in HELPER_PACKAGES:
            return BookHelpers(name, self.submission_dir)
        if name.split(".")[0] == "IPython":
            return _ipython_module(name)
        return _missing_module(name)

    def exec_module(self, module):
        pass


# ---- multiprocessing that works in the sandbox ----------------------------------------------

def _fork_and_copy_tensors() -> None:
    import multiprocessing
    from multiprocessing.reduction import ForkingPickler
    try:
        multiprocessing.set_start_method("fork", force=True)
    except (RuntimeError, ValueError):
        pass
    for cls in [k for k in ForkingPickler._extra_reducers
                if getattr(k, "__module__", "").split(".")[0] == "torch"]:
        del ForkingPickler._extra_reducers[cls]


def install(submission_dir: str, *, multiprocessing_fix: bool = True) -> None:
    """Set up the book's environment for this process (the child)."""
    if _installed:
        return
    finder = _Finder(os.path.abspath(submission_dir), standins=True)
    sys.meta_path.insert(0, finder)
    _installed.append(finder)
    if multiprocessing_fix:
        _fork_and_copy_tensors()


def uninstall() -> None:
    """Undo ``install`` (isolation "none": the grading process runs the server itself)."""
    while _installed:
        finder = _installed.pop()
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)
        for name in list(sys.modules):
            mod = sys.modules[name]
            if name in HELPER_PACKAGES or getattr(getattr(mod, "__spec__", None), "loader", None) is finder:
                del sys.modules[name]
