"""What a traced call is watched with: the op and name modes, the constants of what counts as an escape, and the originals of patched torch functions."""
from __future__ import annotations

import os
import re
from typing import Any

import torch
from torch.overrides import (
    TorchFunctionMode,
    resolve_name,
)
from torch.utils._python_dispatch import (
    TorchDispatchMode,
)

#: Tensor methods whose result leaves torch (NumPy, Python lists, raw storage, DLPack).
CONVERSION_METHODS = frozenset({"numpy", "__array__", "__array_wrap__", "__dlpack__", "tolist",
                                "untyped_storage", "storage", "_typed_storage"})
#: torch sub-packages whose use during a traced call hides what runs (compiled kernels).
COMPILERS = ("torch._dynamo", "torch._inductor", "torch.utils.cpp_extension", "torch._export",
             "torch.export", "torch.jit._script", "triton")
#: Audit events that start another thread of execution.
PROCESS_EVENTS = frozenset({"os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.exec",
                            "os.system", "subprocess.Popen", "pty.spawn", "os.startfile"})
FRAME_EVENTS = frozenset({"sys._getframe", "sys._current_frames", "object.__getattr__",
                          "sys._current_exceptions"})
GC_EVENTS = frozenset({"gc.get_objects", "gc.get_referrers", "gc.get_referents"})
TRACE_EVENTS = frozenset({"sys.setprofile", "sys.settrace"})
#: Attributes whose reading is audited (frames of tracebacks, generators and coroutines).
FRAME_ATTRS = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back"})
_CONTEXT_FILES = (os.sep + "contextlib.py",)

_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INTROSPECTION_FILES = ("inspect.py", "traceback.py")
_IMPORT_FILES = (os.sep + "importlib" + os.sep + "__init__.py",)


_SITE = re.compile(r"[/\\](?:site|dist)-packages[/\\]([A-Za-z0-9_]+)")


def _package_of(filename: str) -> str | None:
    """The installed top-level package a source file belongs to (None: stdlib, the submission...)."""
    m = _SITE.search(filename or "")
    return m.group(1) if m else None


def _op_name(func) -> str:
    try:
        return f"{func.namespace}.{func._overloadpacket.__name__}"
    except Exception:
        return str(func)


class _Compiled:
    """One policy, ready for the hot path."""

    __slots__ = ("key", "module", "qualname", "allow", "deny", "tokens", "conversions", "modules",
                 "requires", "updates", "observe", "ok")

    def __init__(self, p: dict):
        self.key = f"{p['module']}.{p['qualname']}"
        self.module, self.qualname = p["module"], p["qualname"]
        self.allow = None if p.get("allow") is None else frozenset(p["allow"])
        self.deny = frozenset(p.get("deny") or ())
        self.tokens = frozenset(p.get("names") or ())
        self.conversions = bool(p.get("conversions"))
        self.modules = frozenset(p.get("modules") or ())
        self.requires = tuple(p.get("requires") or ())
        self.updates = p.get("updates")
        self.observe = bool(p.get("observe_only"))
        self.ok: set[str] = set()   # ops already found allowed (the hot path's cache)

    def op_allowed(self, op: str) -> bool:
        if self.observe or op in self.ok:
            return True
        allowed = op not in self.deny and (self.allow is None or op in self.allow)
        if allowed:
            self.ok.add(op)
        return allowed


class _Frame:
    __slots__ = ("pol", "reached", "received")

    def __init__(self, pol: _Compiled):
        self.pol = pol
        self.reached: set[str] = set()
        self.received: set[int] = set()   # storages the ``updates`` function was given


class _OpMode(TorchDispatchMode):
    def __init__(self, tracer):
        super().__init__()
        self.tracer = tracer
        self.names: dict = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        t = self.tracer
        if not t.paused:
            name = self.names.get(func)
            if name is None:
                name = self.names[func] = _op_name(func)
            fr = t.owner
            if fr is not None and name not in fr.pol.ok and not fr.pol.op_allowed(name):
                t.violation(fr.pol, "op", name)
        return func(*args, **(kwargs or {}))


def _has_ndarray(values) -> bool:
    for v in values:
        if type(v).__module__ == "numpy" and type(v).__name__ == "ndarray":
            return True
        if isinstance(v, (list, tuple)) and v and any(type(x).__module__ == "numpy" for x in v[:8]):
            return True
    return False


class _NameMode(TorchFunctionMode):
    def __init__(self, tracer):
        super().__init__()
        self.tracer = tracer
        self.names: dict = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        t = self.tracer
        kwargs = kwargs or {}
        if not t.paused:
            try:
                entry = self.names.get(func)
            except TypeError:
                entry = None
            if entry is None:
                try:
                    name = resolve_name(func) or getattr(func, "__qualname__", None) or repr(func)
                except Exception:
                    name = repr(func)
                entry = (name, frozenset(_SEGMENT.findall(name)), name.rsplit(".", 1)[-1] in CONVERSION_METHODS)
                try:
                    self.names[func] = entry
                except TypeError:
                    pass
            name, segments, conversion = entry
            fr = t.owner
            if fr is not None:
                if not fr.pol.conversions and (conversion or (args and _has_ndarray(args))
                                               or (kwargs and _has_ndarray(kwargs.values()))):
                    t.violation(fr.pol, "conversion", name)
                if fr.pol.tokens and segments & fr.pol.tokens:
                    t.violation(fr.pol, "name", name)
        return func(*args, **kwargs)


def _tensors(value, out: list, depth: int = 0) -> list:
    if isinstance(value, torch.Tensor):
        out.append(value)
    elif depth < 3 and isinstance(value, (list, tuple)):
        for v in value:
            _tensors(v, out, depth + 1)
    elif depth < 3 and isinstance(value, dict):
        for v in value.values():
            _tensors(v, out, depth + 1)
    return out


def _storage(t: torch.Tensor) -> int | None:
    """Where a tensor's data lives, asked of torch itself (a subclass cannot answer for it)."""
    try:
        with _ORIG["DisableTorchFunctionSubclass"]():
            if not torch._C.TensorBase.numel(t):
                return None
            return torch._C.TensorBase.untyped_storage(t).data_ptr()
    except Exception:
        return None


#: Tensor types a from-scratch function may return (a subclass can compute its values later,
#: outside the traced call, when the result is read).
PLAIN_TENSORS = (torch.Tensor, torch.nn.Parameter)


# -- originals of what trace.py patches (kept here: the tracer and the installer both read them)
#: Originals of the patched functions (the tracer itself uses these).
_ORIG: dict[str, Any] = {"_pop_torch_dispatch_stack": torch._C._pop_torch_dispatch_stack,
                         "_pop_torch_function_stack": torch._C._pop_torch_function_stack,
                         "DisableTorchFunctionSubclass": torch._C.DisableTorchFunctionSubclass}
_INSTALLED: dict[str, Any] = {}
