"""The ``Tracer``: the policies of one child, the traced calls in flight and what they reached and broke."""
from __future__ import annotations

import os
import sys
import types
from typing import Any

import torch
from torch.overrides import (
    _get_current_function_mode_stack,
)
from torch.utils._python_dispatch import (
    _get_current_dispatch_mode_stack,
)

from d2lgrade.scratch.modes import (
    _CONTEXT_FILES,
    _IMPORT_FILES,
    _INTROSPECTION_FILES,
    _ORIG,
    COMPILERS,
    FRAME_ATTRS,
    FRAME_EVENTS,
    GC_EVENTS,
    PLAIN_TENSORS,
    PROCESS_EVENTS,
    TRACE_EVENTS,
    _Compiled,
    _Frame,
    _NameMode,
    _OpMode,
    _package_of,
    _storage,
    _tensors,
)


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
