"""The side of the trust boundary that runs student code.

``Server`` keeps the student's objects in a table and answers requests (import, call,
getattr, probe). It is used two ways:

* in a child process (``python -m d2lgrade.isolation.child``), reading frames from one pipe and
  answering on another, with its stdout/stderr sent to a log file (isolation "process");
* in the grading process itself, through ``LoopbackTransport`` (isolation "none"), so that a
  student can use a debugger. Both paths encode and decode every value the same way, so the
  two modes give the same scores.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import time
import traceback
from typing import Any

import torch
from torch.overrides import TorchFunctionMode, resolve_name

from d2lgrade.isolation import book_env, probes, sandbox, wire

#: Longest traceback text sent back for one exception.
MAX_TRACEBACK_CHARS = 4000


class _Tracer(TorchFunctionMode):
    """Records every torch function the student's call reaches (for forbidden-API checks)."""

    def __init__(self) -> None:
        super().__init__()
        self.torch_functions: set[str] = set()
        self.python_calls: set[str] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        try:
            self.torch_functions.add(resolve_name(func) or getattr(func, "__qualname__", repr(func)))
        except Exception:  # a name is only a hint; never fail the student's call over it
            pass
        return func(*args, **(kwargs or {}))

    def profile(self, frame, event, arg):
        # Python-level calls into library modules (torch.optim, torchvision.ops, ...).
        if event == "call":
            name = frame.f_globals.get("__name__")
            if isinstance(name, str) and name.startswith(("torch", "torchvision", "sklearn")):
                self.python_calls.add(f"{name}.{frame.f_code.co_name}")
        elif event == "c_call":
            mod = getattr(arg, "__module__", None) or ""
            if mod.startswith("torch"):
                self.python_calls.add(f"{mod}.{getattr(arg, '__qualname__', '?')}")

    def as_dict(self) -> dict:
        return {"torch_functions": sorted(self.torch_functions),
                "python_calls": sorted(self.python_calls)}


#: What may hold a tensor; ``_tensors_in`` does not descend into anything else.
_HOLDERS = (torch.Tensor, list, tuple, dict)


def _tensors_in(value: Any, path: list) -> list[tuple[list, torch.Tensor]]:
    """(path, tensor) for each tensor inside nested lists/tuples/dicts of call arguments."""
    if isinstance(value, torch.Tensor):
        return [(path, value)]
    found = []
    if isinstance(value, (list, tuple)):
        items = enumerate(value)
    elif isinstance(value, dict):
        items = ((k, v) for k, v in value.items() if isinstance(k, (str, int)))
    else:
        return found
    for k, v in items:
        if isinstance(v, _HOLDERS):  # scalars (most of a long list) hold no tensor
            found += _tensors_in(v, path + [k])
    return found


def _same_bits(a: torch.Tensor | None, b: torch.Tensor | None) -> bool:
    if a is None or b is None:
        return a is b
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return torch.equal(a.detach().reshape(-1).view(torch.uint8) if a.numel() else a.detach(),
                       b.detach().reshape(-1).view(torch.uint8) if b.numel() else b.detach())


class _ArgWatch:
    """Snapshots the tensors passed into a call so that changes can be written back."""

    def __init__(self, args: list, kwargs: dict, names: dict | None = None):
        self.entries = []
        found = _tensors_in(list(args), ["args"]) + _tensors_in(dict(kwargs), ["kwargs"])
        found += _tensors_in(dict(names or {}), ["globals"])
        for path, t in found:
            grad = t.grad if t.is_leaf else None
            self.entries.append((path, t, t.detach().clone(), grad,
                                 None if grad is None else grad.detach().clone(), t.requires_grad))

    def alias_of(self, t: torch.Tensor) -> dict | None:
        for path, orig, *_ in self.entries:
            if t is orig:
                return {"$arg": path}
        for path, orig, *_ in self.entries:
            if (t.numel() and orig.numel() and t.device == orig.device
                    and t.untyped_storage().data_ptr() == orig.untyped_storage().data_ptr()
                    and orig.storage_offset() == 0 and orig.is_contiguous()
                    and t.dtype == orig.dtype):
                return {"$alias": path, "offset": t.storage_offset(), "size": list(t.shape),
                        "stride": list(t.stride())}
        return None

    def changes(self) -> list[tuple[list, torch.Tensor]]:
        out = []
        for path, t, before, grad_obj, grad_before, req in self.entries:
            grad_now = t.grad if t.is_leaf else None
            if (not _same_bits(t, before) or t.requires_grad != req or grad_now is not grad_obj
                    or not _same_bits(grad_now, grad_before)):
                out.append((path, t))
        return out


class Server:
    """Answers the parent's requests against the student's objects."""

    def __init__(self, submission_dir: str, in_child: bool = True):
        self.submission_dir = os.path.abspath(submission_dir)
        if self.submission_dir not in sys.path:
            sys.path.insert(0, self.submission_dir)
        # the book's helper package, stand-ins, and (only in a child) multiprocessing that
        # works in the sandbox
        book_env.install(self.submission_dir, multiprocessing_fix=in_child)
        self.objects: dict[int, Any] = {}
        self.next_id = 1
        #: From-scratch policies (``d2lgrade.scratch.trace``), installed by the first request.
        self.tracer = None
        #: Seconds the last request spent in student code (import, call, probe), reported
        #: as ``student_s`` for ``d2lgrade.results.timing`` (statistics only; decoding and encoding
        #: are not included).
        self.student_s = 0.0

    # -- references -------------------------------------------------------------------
    def _make_ref(self, obj: Any) -> dict:
        ref_id = self.next_id
        self.next_id += 1
        self.objects[ref_id] = obj
        try:
            text = repr(obj)[:200]
        except Exception:
            text = f"<{type(obj).__qualname__}>"
        return {"$ref": ref_id, "type": f"{type(obj).__module__}.{type(obj).__qualname__}",
                "repr": text, "callable": callable(obj)}

    def _resolve_ref(self, node: dict) -> Any:
        ref_id = node.get("$ref")
        if ref_id not in self.objects:
            raise wire.WireError(f"unknown remote object {ref_id!r}")
        return self.objects[ref_id]

    def _target(self, spec: dict) -> Any:
        if "ref" in spec:
            return self._resolve_ref({"$ref": spec["ref"]})
        name = spec["module"]
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                raise ImportError(f"the submission has no module {name} (expected the file "
                                  f"{name.replace('.', '/')}.py)") from None
            raise ImportError(f"importing {name} failed: {type(exc).__name__}: {exc}") from exc
        except Exception as exc:
            raise ImportError(f"importing {name} failed: {type(exc).__name__}: {exc}") from exc
        attr = spec.get("attr")
        if attr and not hasattr(module, attr):
            raise AttributeError(f"{name} has no {attr} (is it defined at the top level of "
                                 f"{name.replace('.', '/')}.py?)")
        return getattr(module, attr) if attr else module

    # -- requests ---------------------------------------------------------------------
    def handle(self, head: bytes, body: bytearray) -> list:
        """One request (JSON header and body) -> the reply frame's parts."""
        header, blobs = wire.unpack_body(head, body)
        sandbox.before_call(header.get("limit_s"))
        self.student_s = 0.0
        try:
            if self.tracer is not None:
                self.tracer.check_bindings()
            head, rblobs = self._dispatch(header, blobs)
        except BaseException as exc:  # noqa: BLE001 - every student failure becomes a reply
            if isinstance(exc, KeyboardInterrupt):
                raise
            head, rblobs = {"error": _describe(exc, self.submission_dir)}, []
        head["student_s"] = self.student_s
        sandbox.after_call()  # processes the call started end with it
        if self.tracer is not None:
            report = self.tracer.take_report()
            if report:
                head["scratch"] = report
        try:
            return wire.pack(head, rblobs)
        except Exception as exc:  # noqa: BLE001 - e.g. a report the encoder cannot take
            return wire.pack({"error": _describe(exc, self.submission_dir)}, [])

    def _dispatch(self, header: dict, blobs: list[bytes]) -> tuple[dict, list]:
        op = header.get("op")
        decoder = wire.Decoder(blobs, resolve_ref=self._resolve_ref, allow_pickle=True,
                               pickled_blob=header.get("pickled"))
        if op == "ping":
            return {"ok": "pong"}, []
        if op == "policies":  # the first request of a child, before any student import
            from d2lgrade.scratch import trace as optrace
            self.tracer = optrace.install(self.submission_dir, header.get("policies", []))
            return {"ok": None}, []
        if op == "substitute":
            if self.tracer is not None:
                self.tracer.set_substituting([str(k) for k in header.get("keys", [])])
            return {"ok": None}, []
        if op == "release":
            for ref_id in header.get("ids", []):
                self.objects.pop(ref_id, None)
            return {"ok": None}, []
        if op == "getattr":
            start = time.perf_counter()
            try:  # the first use of a module imports it: student code
                value = getattr(self._target(header["target"]), header["name"])
            finally:
                self.student_s = time.perf_counter() - start
            enc = wire.Encoder(make_ref=self._make_ref)
            return {"ok": enc.encode(value)}, enc.blobs
        if op in ("call", "probe"):
            start = time.perf_counter()
            if op == "call":
                fn = self._target(header["target"])  # may import the student's module
            else:
                fn = probes.PROBES[header["name"]]
            self.student_s = time.perf_counter() - start
            args = decoder.decode(header.get("args", []))
            kwargs = decoder.decode(header.get("kwargs", {"$dict": []}))
            names = decoder.decode(header["globals"]) if op == "call" and "globals" in header else None
            watch = _ArgWatch(args, kwargs, names)   # before the shared ones join: watched as arguments
            if names is not None:
                for name, path in (header.get("globals_same") or {}).items():
                    names[str(name)] = wire.follow_path({"args": args, "kwargs": kwargs}, path)
            tracer = _Tracer() if header.get("trace") else None
            start = time.perf_counter()
            try:
                with _module_names(fn, header["target"], names, header.get("globals_in", [])) \
                        if names is not None else contextlib.nullcontext():
                    if tracer is not None:
                        sys.setprofile(tracer.profile)
                        with tracer:
                            try:
                                value = fn(*args, **kwargs)
                            finally:
                                sys.setprofile(None)
                    else:
                        value = fn(*args, **kwargs)
            finally:
                self.student_s += time.perf_counter() - start
            enc = wire.Encoder(make_ref=self._make_ref)
            changes = [[path, enc.tensor(t)] for path, t in watch.changes()]
            enc.alias_of = watch.alias_of  # only the returned value may alias arguments
            reply = {"ok": enc.encode(value), "writeback": changes}
            if tracer is not None:
                reply["trace"] = tracer.as_dict()
            return reply, enc.blobs
        raise wire.WireError(f"unknown op {op!r}")


def _namespaces(fn: Any, target: dict, also_in: list) -> list[dict]:
    """The module namespaces a call's ``globals`` go into: the module the function was defined
    in (a traced wrapper keeps its ``__module__``), the module the grader named it through
    (``from .a import f`` in module b), and any module listed in ``also_in``."""
    found: list[dict] = []

    def add(module_name: Any) -> None:
        module = sys.modules.get(module_name) if isinstance(module_name, str) else None
        if module is not None and all(vars(module) is not ns for ns in found):
            found.append(vars(module))
    target_fn = getattr(fn, "__func__", fn)                   # bound methods
    add(getattr(target_fn, "__module__", None))
    if isinstance(target.get("module"), str):
        add(target["module"])
    for name in also_in:
        if not isinstance(name, str):
            raise wire.WireError("globals_in must list module names")
        importlib.import_module(name)
        add(name)
    if not found:
        raise TypeError(f"cannot tell which module {type(fn).__name__} reads its globals from")
    return found


@contextlib.contextmanager
def _module_names(fn: Any, target: dict, names: Any, also_in: list):
    """Module-level ``names`` set for one call, then restored: the book's ``gd_2d(x1, x2, s1,
    s2)`` reads a global ``eta``, its ``get_params()`` reads ``num_inputs``."""
    if not isinstance(names, dict) or not all(isinstance(k, str) and k.isidentifier() for k in names):
        raise wire.WireError("globals must map identifiers to values")
    with probes.names_set(_namespaces(fn, target, list(also_in)), names):
        yield


def _describe(exc: BaseException, submission_dir: str) -> dict:
    if isinstance(exc, SystemExit):
        return {"kind": "exit", "type": "SystemExit", "message": f"called sys.exit({exc.code!r})"}
    origin = exc.__cause__ if isinstance(exc, ImportError) and exc.__cause__ else exc
    frames = traceback.extract_tb(origin.__traceback__)
    # Show the student their own frames; the harness frames say nothing useful to them.
    own = [f for f in frames if os.path.abspath(f.filename).startswith(submission_dir)] or frames[-1:]
    text = "".join(traceback.format_list(own))
    text += "".join(traceback.format_exception_only(type(origin), origin))
    kind = "wire" if isinstance(exc, wire.WireError) else "exception"
    try:
        message = str(exc)[:2000]
    except Exception:  # a hostile exception whose __str__ raises
        message = f"<{type(exc).__name__}>"
    return {"kind": kind, "type": type(exc).__name__, "message": message,
            "traceback": text[-MAX_TRACEBACK_CHARS:]}


# -- the child process ------------------------------------------------------------------
def _read_exact(fd: int, n: int) -> bytearray:
    buf = bytearray(n)
    view, pos = memoryview(buf), 0
    while pos < n:
        got = os.readv(fd, [view[pos:pos + (1 << 22)]])
        if not got:
            raise EOFError
        pos += got
    return buf


def serve(submission_dir: str, fd_in: int, fd_out: int, info: dict | None = None) -> None:
    server = Server(submission_dir)
    wire.write_frame(fd_out, wire.pack({"ok": "ready", **(info or {})}, []))
    while True:
        try:
            prefix = bytes(_read_exact(fd_in, 16))
        except EOFError:
            return
        head_len, body_len = wire.unpack_lengths(prefix)
        head = bytes(_read_exact(fd_in, head_len))
        wire.write_frame(fd_out, server.handle(head, _read_exact(fd_in, body_len)))


def main() -> None:
    parser = argparse.ArgumentParser(description="d2lgrade child: runs one submission")
    parser.add_argument("--submission", required=True)
    parser.add_argument("--fd-in", type=int, required=True)
    parser.add_argument("--fd-out", type=int, required=True)
    ns = parser.parse_args()
    serve(ns.submission, ns.fd_in, ns.fd_out)


if __name__ == "__main__":
    main()
