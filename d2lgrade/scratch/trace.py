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
# The parts: modes.py (what a call is watched with), tracer.py (the Tracer), this module
# (installation in the process: import hook, audit hook, patched escapes).
from __future__ import annotations

import _thread
import functools
import importlib.abc
import os
import sys
import threading
from typing import Any

import torch

from d2lgrade.scratch.modes import (
    _INSTALLED,
    _ORIG,
    FRAME_EVENTS,
    GC_EVENTS,
    PROCESS_EVENTS,
    TRACE_EVENTS,
)
from d2lgrade.scratch.tracer import Tracer

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
    import torch.overrides as ov
    import torch.utils._python_dispatch as pd
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
