"""The child's side of from-scratch policies: trace what graded functions actually execute.

``install(submission_dir, policies)`` runs in a fresh child before any student import
(``child.Server``, op ``policies``). From then on:

* an import hook wraps every graded name right after its student module executes, so every
  reference to it (``from .conv_layer import corr2d`` in another student module included)
  is the traced wrapper; a class's methods are wrapped one by one;
* while a wrapped function runs, a ``TorchDispatchMode`` sees every ATen op it dispatches
  (whatever the entry point: ``torch._softmax``, ``torch.ops.aten.*``, ``torch._C._nn.*``,
  mkldnn/slow convolution variants, backward ops of a training loop) and a
  ``TorchFunctionMode`` sees the Python-level torch names (``torch.nn.functional.dropout``)
  and NumPy arrays going in or out; each op is checked against every enclosing policy;
* an audit hook (which cannot be removed) reports imports of foreign modules, threads and
  processes started, profilers or tracers set, frames, tracebacks and the garbage collector
  inspected, and ctypes used during a traced call; the Python functions that switch the
  modes off (``_disable_current_modes``, ``DisableTorchFunction``, ``_ExcludeDispatchKeyGuard``,
  ``redispatch`` ...) are wrapped so that calling them from student code is reported;
* when the outermost traced call ends, the mode stacks are checked (a mode popped or left
  pushed is tampering), ``requires`` (functions the call had to reach) and ``updates``
  (the returned tensors are the ones that function received) are checked.

What was found travels back with every reply (``take_report``): functions reached, their
violations, and where each wrapped definition was loaded from (file and line) so the
grading process can read the source of the definition Python actually uses.

This raises the bar, it is not a proof: the student's code shares this process. Every
escape route we know is either closed or reported; the tests in ``tests/test_optrace.py``
and the attack suite hold each one.
"""
from __future__ import annotations

import _thread
import functools
import importlib.abc
import os
import re
import sys
import threading
import types
from typing import Any

import torch
from torch.overrides import TorchFunctionMode, resolve_name
from torch.utils._python_dispatch import TorchDispatchMode, _get_current_dispatch_mode_stack
from torch.overrides import _get_current_function_mode_stack

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
    def __init__(self, tracer: "Tracer"):
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
    def __init__(self, tracer: "Tracer"):
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


class Tracer:
    """Wraps graded functions and checks what they execute against their policies."""

    def __init__(self, submission_dir: str, policies: list[dict]):
        self.submission_dir = os.path.abspath(submission_dir) + os.sep
        self.policies = {c.key: c for c in map(_Compiled, policies)}
        self.by_module: dict[str, list[_Compiled]] = {}
        for c in self.policies.values():
            self.by_module.setdefault(c.module, []).append(c)
        self.substitutes: dict[str, Any] = {}
        self._substitute_src = {f"{p['module']}.{p['qualname']}": p["substitute"]
                                for p in policies if p.get("substitute")}
        self.substituting: set[str] = set()
        self.stack: list[_Frame] = []
        #: The innermost frame with rules (ops, names, conversions and imports are its own:
        #: a shortcut in corr2d is corr2d's, not that of the Conv2D that called it).
        self.owner: _Frame | None = None
        self.paused = 0
        self._internal = 0
        self.bindings: list[tuple[Any, str, Any, _Compiled]] = []   # (owner, attr, wrapper, policy)
        self._reached: dict[str, list[int]] = {}
        self._violations: list[dict] = []
        self._seen: set = set()
        self._loaded: list[dict] = []
        self._liars: dict[type, set[str]] = {}   # tensor subclasses graded functions returned
        self._ops = _OpMode(self)
        self._names = _NameMode(self)
        self._depth = (0, 0)

    # -- reports -----------------------------------------------------------------------
    def violation(self, pol: _Compiled | None, kind: str, detail: str) -> None:
        key = pol.key if pol is not None else "*"
        mark = (key, kind, detail)
        if mark in self._seen:
            return
        self._seen.add(mark)
        self._violations.append({"function": key, "kind": kind, "detail": str(detail)[:300]})

    def escape(self, kind: str, detail: str) -> None:
        """Something that hides work from the trace: a violation of every enclosing policy."""
        frames = [fr for fr in self.stack if not fr.pol.observe]
        if not frames:
            self.violation(None, kind, detail)
        for fr in frames:
            self.violation(fr.pol, kind, detail)

    def take_report(self) -> dict | None:
        if not (self._reached or self._violations or self._loaded):
            return None
        report = {"reached": self._reached, "violations": self._violations, "loaded": self._loaded}
        self._reached, self._violations, self._loaded = {}, [], []
        return report

    # -- calls -------------------------------------------------------------------------
    def student_caller(self, depth: int) -> bool:
        self._internal += 1
        try:
            frame = sys._getframe(depth + 1)
        except ValueError:
            return False
        finally:
            self._internal -= 1
        return frame.f_code.co_filename.startswith(self.submission_dir)

    def _set_owner(self) -> None:
        self.owner = next((fr for fr in reversed(self.stack) if not fr.pol.observe), None)

    def call(self, pol: _Compiled, fn, args, kwargs):
        if self.paused:
            return fn(*args, **kwargs)
        key = pol.key
        nested = bool(self.stack) or (key in self._substitute_src and self.student_caller(2))
        count = self._reached.setdefault(key, [0, 0])
        count[0] += 1
        count[1] += nested
        for fr in self.stack:
            fr.reached.add(key)
            if fr.pol.updates == key and args:
                self.paused += 1   # our own bookkeeping is not the student's work
                try:
                    fr.received.update(p for p in map(_storage, _tensors(args[0], [])) if p)
                finally:
                    self.paused -= 1
        if nested and key in self.substituting:
            sub = self._substitute(key)
            if sub is not None:
                self.paused += 1
                try:
                    return sub(*args, **kwargs)
                finally:
                    self.paused -= 1
        frame = _Frame(pol)
        self._push(frame)
        try:
            result = fn(*args, **kwargs)
            if not pol.observe:
                self.paused += 1
                try:
                    lying = [type(t) for t in _tensors(result, []) if type(t) not in PLAIN_TENSORS]
                finally:
                    self.paused -= 1
                if lying:
                    self.violation(pol, "lying", lying[0].__qualname__)
                    for cls in lying:
                        self._liars.setdefault(cls, set()).add(key)
        finally:
            self._pop(frame)
        if not pol.observe:
            self.paused += 1
            try:
                self._after(frame, fn, args, result)
            finally:
                self.paused -= 1
        return result

    def _after(self, frame: _Frame, fn, args, result) -> None:
        pol = frame.pol
        for req in pol.requires:
            if req not in frame.reached:
                self.violation(pol, "requires", req)
        if pol.updates is not None:
            returned = [_storage(t) for t in _tensors(result, [])]
            if not returned or any(p not in frame.received for p in returned):
                self.violation(pol, "updates", pol.updates)
        if getattr(fn, "__name__", "") == "__init__" and args:
            shadow = [b[1] for b in self.bindings if b[3] is pol and b[1] in getattr(args[0], "__dict__", {})]
            if shadow:
                self.violation(pol, "rebound", f"{pol.qualname}: self.{shadow[0]}")

    def _push(self, frame: _Frame) -> None:
        if not self.stack:
            self._internal += 1
            try:
                self._names.__enter__()
                self._ops.__enter__()
                self._depth = (len(_get_current_dispatch_mode_stack()), len(_get_current_function_mode_stack()))
            finally:
                self._internal -= 1
        self.stack.append(frame)
        self._set_owner()

    def _pop(self, frame: _Frame) -> None:
        while self.stack:
            if self.stack.pop() is frame:
                break
        self._set_owner()
        if self.stack:
            return
        self._internal += 1
        try:
            dstack, fstack = _get_current_dispatch_mode_stack(), _get_current_function_mode_stack()
            intact = (dstack[-1:] == [self._ops] and fstack[-1:] == [self._names]
                      and (len(dstack), len(fstack)) == self._depth)
            if not intact:
                self.stack.append(frame)   # attribute it to the call that ends here
                self.escape("tamper", "the op trace was switched off or replaced (mode stack changed)")
                self.stack.pop()
                self.owner = None
            self._unwind(dstack, fstack)
        finally:
            self._internal -= 1

    def _unwind(self, dstack, fstack) -> None:
        """Leave both modes, whatever the student did to the stacks in between."""
        if self._ops in dstack:
            while _get_current_dispatch_mode_stack() and _get_current_dispatch_mode_stack()[-1] is not self._ops:
                _ORIG["_pop_torch_dispatch_stack"]()
            try:
                self._ops.__exit__(None, None, None)
            except Exception:
                pass
        if self._names in fstack:
            while _get_current_function_mode_stack() and _get_current_function_mode_stack()[-1] is not self._names:
                _ORIG["_pop_torch_function_stack"]()
            try:
                self._names.__exit__(None, None, None)
            except Exception:
                pass

    # -- substitution (issue 19) ----------------------------------------------------------
    def _substitute(self, key: str):
        if key not in self.substitutes and key in self._substitute_src:
            namespace: dict = {"__name__": "d2lgrade_substitute", "torch": torch}
            try:
                exec(compile(self._substitute_src[key], f"<substitute {key}>", "exec"), namespace)
                self.substitutes[key] = namespace[key.rsplit(".", 1)[-1]]
            except Exception:
                self.substitutes[key] = None
        return self.substitutes.get(key)

    def set_substituting(self, keys: list[str]) -> None:
        self.substituting = {k for k in keys if k in self._substitute_src}

    # -- wrapping ----------------------------------------------------------------------
    def wrap_module(self, module: types.ModuleType) -> None:
        for pol in self.by_module.get(module.__name__, ()):
            top, _, rest = pol.qualname.partition(".")
            obj = module.__dict__.get(top)
            if obj is None:
                continue
            if isinstance(obj, type):
                self._wrap_class(pol, obj, rest or None)
            elif not rest:
                self._wrap_attr(pol, module, top, obj)

    def _wrap_class(self, pol: _Compiled, cls: type, only: str | None) -> None:
        for attr, value in list(vars(cls).items()):
            if only is not None and attr != only:
                continue
            inner = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
            if not isinstance(inner, types.FunctionType):
                continue
            wrapper = self._wrapper(pol, inner)
            if isinstance(value, staticmethod):
                wrapper = staticmethod(wrapper)
            elif isinstance(value, classmethod):
                wrapper = classmethod(wrapper)
            setattr(cls, attr, wrapper)
            self.bindings.append((cls, attr, wrapper, pol))

    def _wrap_attr(self, pol: _Compiled, owner, attr: str, obj) -> None:
        if getattr(obj, "__d2l_traced__", None) is not None:
            return
        if not callable(obj):
            self._loaded.append({"function": pol.key, "qualname": pol.qualname, "file": None,
                                 "line": None, "type": f"{type(obj).__module__}.{type(obj).__qualname__}"})
            return
        wrapper = self._wrapper(pol, obj)
        setattr(owner, attr, wrapper)
        self.bindings.append((owner, attr, wrapper, pol))

    def _wrapper(self, pol: _Compiled, fn):
        code = getattr(fn, "__code__", None)
        key = pol.key
        self._loaded.append({"function": key, "qualname": getattr(fn, "__qualname__", "?"),
                             "file": getattr(code, "co_filename", None),
                             "line": getattr(code, "co_firstlineno", None),
                             "type": f"{type(fn).__module__}.{type(fn).__qualname__}"})
        tracer = self

        def traced(*args, **kwargs):
            return tracer.call(pol, fn, args, kwargs)
        for name in ("__module__", "__name__", "__qualname__", "__doc__"):
            try:
                setattr(traced, name, getattr(fn, name))
            except Exception:
                pass
        traced.__d2l_traced__ = key
        return traced

    def check_bindings(self) -> None:
        """Before each request: every wrapper still in place (a student function that rebinds
        a graded name at run time, or swaps its module's class, is reported and re-wrapped)."""
        for i, (owner, attr, wrapper, pol) in enumerate(self.bindings):
            current = owner.__dict__.get(attr) if hasattr(owner, "__dict__") else None
            if current is wrapper:
                continue
            if not pol.observe:
                self.violation(pol, "rebound", f"{getattr(owner, '__name__', owner)}.{attr}")
            if current is not None and not isinstance(owner, type):
                new = self._wrapper(pol, current)
                setattr(owner, attr, new)
                self.bindings[i] = (owner, attr, new, pol)
        for module in {id(o): o for o, *_ in self.bindings if isinstance(o, types.ModuleType)}.values():
            if type(module) is not types.ModuleType:
                for pol in self.by_module.get(module.__name__, ()):
                    if not pol.observe:
                        self.violation(pol, "rebound", f"{module.__name__} (its module class)")

    # -- the audit hook -----------------------------------------------------------------
    def _who(self, importing: bool = False) -> str:
        """'student' when the frame that caused an event (skipping inspect/traceback, or the
        import machinery for an import) is the submission's, 'lib' otherwise."""
        self._internal += 1
        try:
            frame = sys._getframe(3)   # _who, audit, the hook, then the code that caused it
        except ValueError:
            return "lib"
        finally:
            self._internal -= 1
        skip = _IMPORT_FILES if importing else _INTROSPECTION_FILES
        while frame is not None and (frame.f_code.co_filename.endswith(skip)
                                     or frame.f_code.co_filename.startswith("<frozen importlib")):
            frame = frame.f_back
        if frame is not None and frame.f_code.co_filename.startswith(self.submission_dir):
            return "student"
        return "lib"

    def audit(self, event: str, args: tuple) -> None:
        if self._internal or self.paused:
            return
        traced = bool(self.stack)
        if event == "import":
            if traced and self._who(importing=True) == "student":
                self._check_import(str(args[0]))
        elif event == "exec":
            # A module's code runs: also what importlib.import_module (not audited as an
            # import) and loading a file by hand come down to.
            if traced and args and self._who(importing=True) == "student":
                top = _package_of(getattr(args[0], "co_filename", ""))
                if top:
                    self._check_import(top)
        elif event in GC_EVENTS:
            if self._who() == "student":
                self.escape("tamper", f"{event}() (looking for the grader's objects)")
        elif event in FRAME_EVENTS:
            if traced and (event != "object.__getattr__" or (len(args) > 1 and args[1] in FRAME_ATTRS)):
                if self._who() == "student":
                    self.escape("tamper", f"{event if event != 'object.__getattr__' else args[1]} "
                                          "(inspecting the caller's frames)")
        elif event in TRACE_EVENTS:
            if traced:
                self.escape("tamper", f"{event}()")
        elif event in PROCESS_EVENTS:
            if traced:
                self.escape("process", event)
        elif event.startswith("ctypes."):
            if traced or self._who() == "student":
                self.escape("tamper", f"{event} (ctypes)")
        elif event == "object.__setattr__":
            if len(args) > 1 and args[1] == "__code__" and self._who() == "student":
                self.escape("tamper", "replaced a function's __code__")

    def _check_import(self, name: str) -> None:
        top = name.partition(".")[0]
        if name.startswith(COMPILERS):
            self.escape("compile", name)
            return
        if top in sys.stdlib_module_names or top == "torch" or top.startswith("_"):
            return
        if os.path.exists(os.path.join(self.submission_dir, top)) or \
                os.path.exists(os.path.join(self.submission_dir, top + ".py")):
            return
        fr = self.owner
        if fr is not None and top not in fr.pol.modules:
            self.violation(fr.pol, "module", top)

    def escape_api(self, label: str) -> None:
        """A function that switches tracing off was called: reported when student code called
        it itself (torch calls these too, around printing a tensor or calling our modes)."""
        if not self.stack or self.paused or self._internal:
            return
        self._internal += 1
        try:
            frame = sys._getframe(2)   # escape_api, the guard, then its caller
            while frame is not None and frame.f_code.co_filename.endswith(_CONTEXT_FILES):
                frame = frame.f_back
        finally:
            self._internal -= 1
        if frame is None or not frame.f_code.co_filename.startswith(self.submission_dir):
            return
        if frame.f_code.co_name in ("__torch_function__", "__torch_dispatch__"):
            # A tensor subclass at work inside whatever function it was passed to: the
            # function that returned it is the one to blame (if one of ours did).
            cls = frame.f_locals.get("cls", type(frame.f_locals.get("self")))
            owners = self._liars.get(cls)
            if owners:
                for key in owners:
                    pol = self.policies.get(key)
                    if pol is not None:
                        self.violation(pol, "lying", f"{cls.__qualname__} ({label})")
                return
        self.escape("tamper", label)

    def thread_started(self) -> None:
        if self.stack and not self.paused and not self._internal:
            self.escape("thread", "started a thread")

    def conversion(self, label: str) -> None:
        fr = self.owner
        if fr is not None and not self.paused and not self._internal and not fr.pol.conversions:
            self.violation(fr.pol, "conversion", label)


# -- process-wide installation ------------------------------------------------------------
#: Originals of the patched functions (the tracer itself uses these).
_ORIG: dict[str, Any] = {"_pop_torch_dispatch_stack": torch._C._pop_torch_dispatch_stack,
                         "_pop_torch_function_stack": torch._C._pop_torch_function_stack,
                         "DisableTorchFunctionSubclass": torch._C.DisableTorchFunctionSubclass}
_INSTALLED: dict[str, Any] = {}

#: torch._C members that switch the op trace off (or run kernels around it).
_ESCAPES_C = ("_pop_torch_dispatch_stack", "_pop_torch_function_stack", "_unset_dispatch_mode",
              "_DisableTorchDispatch", "DisableTorchFunction",
              "DisableTorchFunctionSubclass", "_DisablePythonDispatcher", "_ExcludeDispatchKeyGuard",
              "ExcludeDispatchKeyGuard", "_SetExcludeDispatchKeyGuard", "_ForceDispatchKeyGuard",
              "_dispatch_tls_set_dispatch_key_excluded", "_dispatch_tls_set_dispatch_key_included",
              "_set_torch_function_state", "_set_skip_next_torch_function",
              "_skip_one_hop_torch_function")
#: Functions that tell whether a trace is running: student code that asks is looking for the
#: grader (code that is honest only while it sees the trace).
_DETECTORS_C = ("_is_torch_function_mode_enabled", "_is_torch_function_enabled",
                "_is_torch_function_all_disabled", "_get_torch_function_state", "_len_torch_dispatch_stack",
                "_len_torch_function_stack", "_get_dispatch_mode", "_get_dispatch_stack_at",
                "_get_function_stack_at", "_dispatch_tls_is_dispatch_key_excluded",
                "_dispatch_tls_is_dispatch_key_included", "_dispatch_tls_local_include_set",
                "_dispatch_tls_local_exclude_set", "_is_key_in_tls", "_peek_should_skip_torch_function")
_DETECTORS_PY = (("torch.utils._python_dispatch", "_get_current_dispatch_mode"),
                 ("torch.utils._python_dispatch", "_get_current_dispatch_mode_stack"),
                 ("torch.utils._python_dispatch", "is_in_torch_dispatch_mode"),
                 ("torch.utils._python_dispatch", "_is_in_torch_dispatch_mode"),
                 ("torch.utils._python_dispatch", "_is_in_non_infra_torch_dispatch_mode"),
                 ("torch.utils._python_dispatch", "any_torch_dispatch_mode_on_stack"),
                 ("torch.overrides", "_get_current_function_mode"),
                 ("torch.overrides", "_get_current_function_mode_stack"),
                 ("torch.overrides", "_is_torch_function_mode_enabled"),
                 ("sys", "getprofile"), ("sys", "gettrace"))
_CONVERSIONS = (("torch", "from_numpy"), ("torch", "frombuffer"), ("torch", "from_dlpack"),
                ("torch.utils.dlpack", "from_dlpack"), ("torch.utils.dlpack", "to_dlpack"),
                ("torch._C", "_from_dlpack"), ("torch._C", "_to_dlpack"), ("torch", "asarray"))


class _Holder:
    tracer: Tracer | None = None


def _current() -> Tracer | None:
    return _Holder.tracer


def _guard(orig, label: str, report):
    if not callable(orig):   # a flag such as _is_in_torch_dispatch_mode: nothing to wrap
        return None
    @functools.wraps(orig, updated=())
    def guarded(*args, **kwargs):
        t = _Holder.tracer
        if t is not None:
            report(t, label)
        return orig(*args, **kwargs)
    return guarded


def _replace_everywhere(replacements: dict[int, Any]) -> None:
    """Point every loaded torch module's global that is an original at its replacement
    (functions and classes only: ``id(False)`` must never be a key)."""
    for name, mod in list(sys.modules.items()):
        if not (name == "torch" or name.startswith(("torch.", "torchvision"))) or mod is None:
            continue
        d = getattr(mod, "__dict__", None)
        if not isinstance(d, dict):
            continue
        for attr, value in list(d.items()):
            new = replacements.get(id(value))
            if new is not None and value is not new:
                d[attr] = new


def _install_process_hooks() -> None:
    if _INSTALLED:
        return
    replacements: dict[int, Any] = {}
    for attr in _ESCAPES_C:
        orig = getattr(torch._C, attr, None)
        if orig is None:
            continue
        _ORIG.setdefault(attr, orig)
        replacements[id(orig)] = _guard(orig, f"torch._C.{attr}", Tracer.escape_api)
    import torch.utils._python_dispatch as pd
    import torch.overrides as ov
    for mod, attr in ((pd, "_disable_current_modes"), (pd, "_pop_mode"), (pd, "_pop_mode_temporarily"),
                      (ov, "_pop_mode"), (ov, "_pop_mode_temporarily"), (ov, "_no_torch_function_mode")):
        orig = getattr(mod, attr, None)
        if orig is not None:
            replacements[id(orig)] = _guard(orig, f"{mod.__name__}.{attr}", Tracer.escape_api)
    for attr in _DETECTORS_C:
        orig = getattr(torch._C, attr, None)
        if orig is not None and id(orig) not in replacements:
            replacements[id(orig)] = _guard(orig, f"torch._C.{attr} (looking for the grader's trace)",
                                            Tracer.escape_api)
    for modname, attr in _DETECTORS_PY:
        mod = sys.modules.get(modname) or __import__(modname, fromlist=["_"])
        orig = getattr(mod, attr, None)
        if orig is not None and id(orig) not in replacements:
            replacements[id(orig)] = guarded = _guard(orig, f"{modname}.{attr} (looking for the grader's trace)",
                                                      Tracer.escape_api)
            if modname == "sys" and guarded is not None:
                setattr(sys, attr, guarded)
    for modname, attr in _CONVERSIONS:
        mod = sys.modules.get(modname) or __import__(modname, fromlist=["_"])
        orig = getattr(mod, attr, None)
        if orig is not None and id(orig) not in replacements:
            replacements[id(orig)] = _guard(orig, f"{modname}.{attr}", Tracer.conversion)
    replacements = {k: v for k, v in replacements.items() if callable(v)}
    _replace_everywhere(replacements)
    redispatch = torch._ops.OpOverload.redispatch
    torch._ops.OpOverload.redispatch = _guard(redispatch, "OpOverload.redispatch", Tracer.escape_api)
    handle = torch._C._DispatchOperatorHandle
    try:
        handle.redispatch_boxed = _guard(handle.redispatch_boxed, "redispatch_boxed", Tracer.escape_api)
    except (AttributeError, TypeError):
        pass
    for mod in (_thread, threading):
        for attr in ("start_new_thread", "_start_new_thread", "start_joinable_thread",
                     "_start_joinable_thread"):
            orig = getattr(mod, attr, None)
            if orig is not None:
                setattr(mod, attr, _guard(orig, "thread", lambda t, _label: t.thread_started()))

    def hook(event, args):
        t = _Holder.tracer
        if t is not None and event in _AUDITED:
            t.audit(event, args)
    sys.addaudithook(hook)
    _INSTALLED["hook"] = hook


_AUDITED = frozenset({"import", "exec", "object.__setattr__"} | PROCESS_EVENTS | FRAME_EVENTS | GC_EVENTS
                     | TRACE_EVENTS | {"ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle",
                                       "ctypes.cdata", "ctypes.cdata/buffer", "ctypes.addressof",
                                       "ctypes.call_function", "ctypes.create_string_buffer",
                                       "ctypes.string_at", "ctypes.wstring_at", "ctypes.PyObj_FromPtr",
                                       "ctypes.set_errno", "ctypes.get_errno"})


class _Finder(importlib.abc.MetaPathFinder):
    """Wraps graded names right after their student module has executed."""

    def __init__(self, tracer: Tracer):
        self.tracer = tracer

    def find_spec(self, name, path, target=None):
        if name not in self.tracer.by_module:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        origin = os.path.abspath(spec.origin or "")
        if spec.loader is None or not origin.startswith(self.tracer.submission_dir):
            return spec
        spec.loader = _Loader(spec.loader, self.tracer)
        return spec


class _Loader(importlib.abc.Loader):
    def __init__(self, inner, tracer: Tracer):
        self._inner, self._tracer = inner, tracer

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        self._tracer.wrap_module(module)

    def __getattr__(self, name):   # get_source, get_filename ... (tracebacks, linecache)
        return getattr(self._inner, name)


def install(submission_dir: str, policies: list[dict]) -> Tracer:
    """Start tracing graded functions in this process (replaces an earlier tracer)."""
    _install_process_hooks()
    tracer = Tracer(submission_dir, policies)
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _Finder)]
    sys.meta_path.insert(0, _Finder(tracer))
    _Holder.tracer = tracer
    for name in list(tracer.by_module):   # already imported (isolation "none" reuses modules)
        mod = sys.modules.get(name)
        if mod is not None and os.path.abspath(getattr(mod, "__file__", "") or "").startswith(tracer.submission_dir):
            tracer.wrap_module(mod)
    return tracer


def uninstall(tracer: Tracer) -> None:
    """Stop tracing (isolation "none": the grading process keeps its hooks, inactive)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not (isinstance(f, _Finder) and f.tracer is tracer)]
    if _Holder.tracer is tracer:
        _Holder.tracer = None
