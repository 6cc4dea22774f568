"""The submission handle: how graders reach student code.

Graders write ``student = submission.module("ch03_basics.softmax_regression")`` and then
``student.softmax(X)`` or ``net = student.LeNet(); net(X)``. Every call travels through a
transport to a ``child.Server``:

* ``ProcessTransport`` (isolation "process"): a child process per submission, restarted
  after a crash, an exit or a timeout. Only data comes back (``wire``, no pickle).
* ``LoopbackTransport`` (isolation "none"): the same server in this process, for debugging.

Semantics shared by both modes, so that graders can be written as if calls were local:
tensors passed in that the student modifies in place (values or ``.grad``) are written back
into the caller's tensors; a returned tensor that is an argument (or a view of one) comes
back as that argument (or a view of it); objects that are not data come back as
``RemoteObject`` handles that can be called, have attributes read, and be passed back in.
"""
# The parts: transport.py (the channel to the child), this module (the Submission),
# remote.py (stand-ins for the student's objects).
from __future__ import annotations

import os
import tempfile
import time
from typing import Any

import torch

from d2lgrade.errors import (
    BadReply,
    StudentCrash,
    StudentException,
    StudentExit,
    StudentTimeout,
)
from d2lgrade.isolation import wire
from d2lgrade.isolation.remote import RemoteModule, RemoteObject
from d2lgrade.isolation.transport import (
    DEFAULT_CALL_TIMEOUT,
    LoopbackTransport,
    ProcessTransport,
    Trace,
    link_book_data,
)
from d2lgrade.results import timing
from d2lgrade.text import clean_text


class Submission:
    """One submission's code behind a transport. Restarts the child when it dies."""

    def __init__(self, path: str, isolation: str = "process", scratch_dir: str | None = None,
                 call_timeout: float = DEFAULT_CALL_TIMEOUT):
        if isolation not in ("process", "none"):
            raise ValueError(f"unknown isolation {isolation!r} (use 'process' or 'none')")
        self.path = os.path.abspath(path)
        self.isolation = isolation
        self.call_timeout = call_timeout
        self._own_scratch = scratch_dir is None
        if scratch_dir is None:
            self._scratch_base = tempfile.mkdtemp(prefix="d2lgrade-scratch-")
            scratch_dir = os.path.join(self._scratch_base, "work")
            os.mkdir(scratch_dir)
            link_book_data(self._scratch_base)
        self.scratch_dir = scratch_dir
        self.generation = 0
        self._transport = None
        self.restarts = 0
        self._policy = None
        #: Protections active in the last child (and ones that could not be applied).
        self.protections: list[str] = []
        self.missing_protections: list[str] = []
        #: Wall-clock seconds spent in calls, summed over every child of this submission.
        self.time_spent = 0.0
        #: Seed for the child's random generators, applied before the next request.
        self._seed: int | None = None
        self._seed_pending = False
        #: From-scratch policies pushed to every fresh child before any student import, and
        #: what their traces found (``d2lgrade.scratch``); empty without policies.
        from d2lgrade.scratch.record import ScratchRecord
        self.scratch = ScratchRecord(self.path)
        self._policies_pending = False

    # -- transport lifecycle -----------------------------------------------------------
    def _connect(self):
        if self._transport is not None and getattr(self._transport, "alive", True):
            return self._transport
        if self._transport is not None:
            self._transport.close()
            self.restarts += 1
        self.generation += 1
        if self.isolation == "process":
            if self._policy is None:
                from d2lgrade.isolation.sandbox import build_policy
                self._policy = build_policy(self.path, self.scratch_dir)
            start = time.perf_counter()
            self._transport = ProcessTransport(self.path, self.scratch_dir, self._policy)
            timing.current.startup_s += time.perf_counter() - start
            timing.current.child_starts += 1
            self._seed_pending = self._seed is not None  # a restarted child starts unseeded
            self.protections = self._transport.protections
            self.missing_protections = self._transport.missing
        else:
            self._transport = LoopbackTransport(self.path)
        self._policies_pending = bool(self.scratch.policies)
        return self._transport

    def set_policies(self, policies: list) -> None:
        """From-scratch policies (``d2lgrade.scratch.policies.Policy``) for every child from now on."""
        self.scratch.policies = list(policies)
        if self._transport is not None:
            self._policies_pending = bool(policies)

    def reseed(self, seed: int) -> None:
        """Seed the child's ``random``, numpy and torch before its next request (the plugin
        does this per test, so student code that draws random numbers, such as a network's
        initial weights, behaves the same in every regrade). With isolation "none" student
        code already shares the grader's generators, seeded per test."""
        if self.isolation == "process":
            self._seed, self._seed_pending = seed, True

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._own_scratch:
            import shutil
            shutil.rmtree(self._scratch_base, ignore_errors=True)

    # -- requests ----------------------------------------------------------------------
    def _request(self, header: dict, blobs: list[bytes], timeout: float | None,
                 arg_roots: dict | None = None) -> tuple[Any, dict]:
        __tracebackhide__ = True  # pytest shows the student's frames, not ours
        timeout = timeout or self.call_timeout
        if self.isolation == "process":
            budget = (self._policy.limits.submission_wall_s if self._policy is not None
                      else float("inf"))
            if self.time_spent >= budget:
                raise StudentTimeout(f"the submission used up its total time budget "
                                     f"({budget:g} s of calls); this test was not run")
            timeout = min(timeout, max(1.0, budget - self.time_spent))
        transport = self._connect()
        if self._policies_pending:
            self._policies_pending = False
            start = time.perf_counter()  # installing the op trace: part of a child's start
            self._request({"op": "policies", "policies": [p.to_wire() for p in self.scratch.policies]},
                          [], None)
            if self.scratch.substituting:
                self._request({"op": "substitute", "keys": sorted(self.scratch.substituting)}, [], None)
            timing.current.startup_s += time.perf_counter() - start
        if self._seed_pending:
            self._seed_pending = False
            self.probe("seed", self._seed)
        header = {**header, "limit_s": timeout}
        frame = wire.pack(header, blobs)
        start = time.monotonic()
        try:
            reply = transport.exchange(frame, timeout)
        except (StudentTimeout, StudentCrash, BadReply):
            self._transport = None  # next request starts a fresh child
            raise
        finally:
            self.time_spent += time.monotonic() - start
        try:
            head, rblobs = wire.unpack_body(*reply)
        except (wire.WireError, KeyError, TypeError, ValueError) as exc:
            raise BadReply(f"the submission's process sent an unusable reply: {exc}") from None
        spent = head.get("student_s")
        if isinstance(spent, float):  # the child's own figure, bounded by what we measured
            timing.current.student_s += min(max(spent, 0.0), time.monotonic() - start)
        timing.current.calls += 1
        if "scratch" in head:
            self.scratch.absorb(head["scratch"])  # raises GradeFailure on a violation
        try:
            if "error" in head:
                raise self._error(head["error"])
            generation = self.generation
            decoder = wire.Decoder(rblobs, resolve_ref=lambda n: self._resolve(n, arg_roots, generation))
            # Write back in-place changes first, so returned views see the new values.
            for path, node in head.get("writeback", []):
                _write_back(_follow(arg_roots, path), decoder.tensor(node))
            return decoder.decode(head.get("ok")), head
        except (wire.WireError, KeyError, TypeError, ValueError) as exc:
            raise BadReply(f"the submission's process sent an unusable reply: {exc}") from None

    def _resolve(self, node: dict, arg_roots: dict | None, generation: int) -> Any:
        if "$ref" in node:
            return RemoteObject(self, int(node["$ref"]), generation,
                                clean_text(node.get("type", "?"), 200),
                                clean_text(node.get("repr", ""), 200), bool(node.get("callable")))
        orig = _follow(arg_roots, node["$arg"] if "$arg" in node else node["$alias"])
        if "$arg" in node:
            return orig
        if not isinstance(orig, torch.Tensor) or not orig.is_contiguous():
            raise wire.WireError("alias of something that is not a contiguous tensor")
        offset = orig.storage_offset() + int(node["offset"])
        return orig.as_strided([int(s) for s in node["size"]], [int(s) for s in node["stride"]],
                               offset)

    @staticmethod
    def _error(err: dict) -> Exception:
        # Everything here was written by the submission: no terminal control sequences.
        kind, etype = err.get("kind"), clean_text(err.get("type", "Exception"), 200)
        message = clean_text(err.get("message", ""), 2000)
        tb = clean_text(err.get("traceback", ""), 4000)
        if kind == "exit":
            return StudentExit(f"the submission {message}")
        if etype == "NotImplementedError":
            return StudentException(f"not implemented yet (NotImplementedError: {message})",
                                    etype, tb)
        return StudentException(f"{etype}: {message}\n{tb}".rstrip(), etype, tb)

    def _encode_call(self, args: tuple, kwargs: dict,
                     names: dict | None = None) -> tuple[dict, list, dict]:
        """Header fields, blobs and argument roots for a call.

        Data is encoded as data, remote handles as references, and anything else (a module
        or optimizer the grader built) is pickled: all such objects of one call in a single
        pickle, so references between them survive. Pickle is fine in this direction: the
        parent is the trusted sender.
        """
        pickled: list = []

        def make_ref(obj: Any) -> dict:
            if isinstance(obj, RemoteObject):
                obj._check_generation()
                return {"$ref": obj._id}
            pickled.append(obj)
            return {"$pickled": len(pickled) - 1}

        enc = wire.Encoder(make_ref=make_ref)
        fields = {"args": enc.encode(list(args)), "kwargs": enc.encode(dict(kwargs))}
        roots = {"args": list(args), "kwargs": dict(kwargs)}
        if names is not None:
            if not all(isinstance(k, str) and k.isidentifier() for k in names):
                raise TypeError("module-level names must be identifiers")
            # a tensor that is also an argument (``W`` read by the book's ``net`` and passed
            # in ``params=[W, b]``) stays one tensor in the child
            same = {k: path for k, v in names.items()
                    if isinstance(v, torch.Tensor) and (path := _path_of(v, roots)) is not None}
            own = {k: v for k, v in names.items() if k not in same}
            fields["globals"] = enc.encode(own)
            fields["globals_same"] = same
            roots["globals"] = own
        if pickled:
            import pickle
            fields["pickled"] = enc._blob(pickle.dumps(pickled))
        return fields, enc.blobs, roots

    def _ref_json(self, obj: Any) -> dict:
        if isinstance(obj, RemoteObject):
            obj._check_generation()
            return {"$ref": obj._id}
        raise TypeError

    def call(self, target: dict, args: tuple = (), kwargs: dict | None = None, *,
             timeout: float | None = None, trace: bool = False, names: dict | None = None,
             names_in: tuple = ()) -> Any:
        """Call ``target`` in the child. ``names``: module-level names set in the function's
        module (and in the modules ``names_in`` lists) for this call only, then restored; a
        tensor among them that the call changes is written back like an argument."""
        __tracebackhide__ = True  # pytest shows the student's frames, not ours
        fields, blobs, roots = self._encode_call(args, kwargs or {}, names)
        header = {"op": "call", "target": target, "trace": trace, **fields}
        if names is not None:
            header["globals_in"] = [str(m) for m in names_in]
        value, head = self._request(header, blobs, timeout, roots)
        if trace:
            t = head.get("trace") or {}
            return value, Trace([str(x) for x in t.get("torch_functions", [])],
                                [str(x) for x in t.get("python_calls", [])])
        return value

    def probe(self, name: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        """Run a trusted helper from ``d2lgrade.isolation.probes`` in the child."""
        __tracebackhide__ = True  # pytest shows the student's frames, not ours
        fields, blobs, roots = self._encode_call(args, kwargs)
        value, _ = self._request({"op": "probe", "name": name, **fields}, blobs, timeout, roots)
        return value

    def substituting(self, keys):
        """Context: trusted stand-ins for ``keys`` inside other graded functions (issue 19)."""
        import contextlib

        @contextlib.contextmanager
        def scope():
            self.scratch.substituting = set(keys)
            if self._transport is not None and not self._policies_pending:
                self._request({"op": "substitute", "keys": sorted(keys)}, [], None)
            try:
                yield
            finally:
                self.scratch.substituting = set()
                if self._transport is not None and not self._policies_pending:
                    try:
                        self._request({"op": "substitute", "keys": []}, [], None)
                    except Exception:  # a dead child starts without substitutes anyway
                        pass
        return scope()

    def getattr(self, target: dict, name: str) -> Any:
        value, _ = self._request({"op": "getattr", "target": target, "name": name}, [], None)
        return value

    def module(self, name: str) -> "RemoteModule":
        return RemoteModule(self, name)


def _path_of(t: torch.Tensor, roots: dict) -> list | None:
    """Where tensor ``t`` (this very object) sits among a call's arguments, or None."""
    def walk(value: Any, path: list, depth: int) -> list | None:
        if value is t:
            return path
        if depth < 4 and isinstance(value, (list, tuple)):
            items = enumerate(value)
        elif depth < 4 and type(value) is dict:
            items = ((k, v) for k, v in value.items() if isinstance(k, (str, int)))
        else:
            return None
        for k, v in items:
            found = walk(v, path + [k], depth + 1)
            if found is not None:
                return found
        return None
    return walk({"args": roots["args"], "kwargs": roots["kwargs"]}, [], 0)


def _follow(roots: dict | None, path: list) -> Any:
    if roots is None:
        raise wire.WireError("reference to an argument of a call that has none")
    return wire.follow_path(roots, path)


def _write_back(orig: Any, new: torch.Tensor) -> None:
    """Make the caller's tensor look like the child's after the call (values and .grad)."""
    if not isinstance(orig, torch.Tensor):
        raise wire.WireError("write-back to something that is not a tensor")
    with torch.no_grad():
        if orig.shape == new.shape and orig.dtype == new.dtype:
            orig.copy_(new.to(orig.device))
        else:
            orig.data = new.to(orig.device)
    if orig.is_leaf:
        if new.requires_grad != orig.requires_grad and (orig.is_floating_point() or orig.is_complex()):
            orig.requires_grad_(new.requires_grad)
        orig.grad = None if new.grad is None else new.grad.to(orig.device)
