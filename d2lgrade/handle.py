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
from __future__ import annotations

import os
import select
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from . import timing, wire
from .sandbox import clean_text, describe_signal
from .errors import (BadReply, StaleHandle, StudentCrash, StudentException, StudentExit,
                     StudentTimeout)

#: Default limit for one call into student code, in seconds (a marker can change it).
DEFAULT_CALL_TIMEOUT = 30.0
#: Time allowed for a new child to import torch and say it is ready.
STARTUP_TIMEOUT = 60.0
#: How much of the child's own output is kept for error messages.
LOG_TAIL_CHARS = 1500


class LoopbackTransport:
    """Runs the server in this process (``--isolation none``)."""

    name = "none"

    def __init__(self, submission_dir: str):
        from .child import Server
        _forget_submission_modules(submission_dir)
        self.server = Server(submission_dir, in_child=False)
        self.submission_dir = submission_dir

    def exchange(self, frame: bytes, timeout: float) -> bytes:
        return self.server.handle(frame)

    def close(self) -> None:
        if self.server.tracer is not None:
            from .optrace import uninstall
            uninstall(self.server.tracer)
        from . import book_env
        book_env.uninstall()
        _forget_submission_modules(self.submission_dir)
        if self.server.submission_dir in sys.path:
            sys.path.remove(self.server.submission_dir)


def _forget_submission_modules(submission_dir: str) -> None:
    """Drop modules imported from a submission so the next one is imported afresh."""
    root = os.path.abspath(submission_dir)
    for name, mod in list(sys.modules.items()):
        path = getattr(mod, "__file__", None) or ""
        if path and os.path.abspath(path).startswith(root + os.sep):
            del sys.modules[name]
    for name in [n for n in sys.modules if n.split(".")[0].startswith("ch") and
                 n.split(".")[0][2:4].isdigit()]:
        del sys.modules[name]


#: Environment variables the child keeps; everything else (tokens, secrets) is dropped.
CHILD_ENV_KEEP = ("PATH", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS",
                  "MKL_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "VIRTUAL_ENV")

_FORKSERVER = None


def _forkserver():
    """A multiprocessing context whose server has torch imported once.

    Each child is a fork of that warm server (about 0.1 s) rather than a new interpreter
    that imports torch again (about 1.5 s). The server never runs a torch op, so no
    OpenMP threads exist when it forks.
    """
    global _FORKSERVER
    if _FORKSERVER is None:
        import multiprocessing
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["torch", "torchvision", "d2lgrade.child"])
        _FORKSERVER = ctx
    return _FORKSERVER


def warm_up() -> None:
    """Start the forkserver now, so its torch import overlaps the grader's own start-up."""
    from multiprocessing import forkserver
    _forkserver()
    forkserver.ensure_running()


def _added_by_ray(path: str) -> bool:
    """Ray puts its vendored packages (psutil, ...) first on the grader's import path when a
    Ray batch ran in this process; a child must import what a fresh interpreter would."""
    return os.path.basename(path) == "thirdparty_files" and os.path.basename(os.path.dirname(path)) == "ray"


def _child_entry(submission_dir: str, scratch_dir: str, log_path: str, env: dict,
                 conn_in, conn_out, parent_cwd: str, policy=None) -> None:
    """First code of a new child: reduced environment, output to a log, then the sandbox."""
    # The grader's working folder (often the course root, with solutions/ and graders/)
    # is on the inherited import path; the submission must not import from it.
    sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != parent_cwd
                   and not _added_by_ray(p)]
    os.environ.clear()
    os.environ.update(env)
    os.chdir(scratch_dir)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    os.close(devnull)
    from . import sandbox
    if policy is None:
        policy = sandbox.Policy(enabled=False)
    # Returns in the server only; the supervisor waits outside and never comes back here.
    active, missing = sandbox.enter(policy, close_in_supervisor=[conn_in, conn_out])
    from .child import serve
    serve(submission_dir, conn_in.fileno(), conn_out.fileno(),
          info={"protections": active, "missing": missing})


class ProcessTransport:
    """A child process that imports the submission; killed and restarted on trouble."""

    name = "process"

    def __init__(self, submission_dir: str, scratch_dir: str, policy=None):
        import multiprocessing.connection as mpc
        from . import sandbox
        self.policy = policy or sandbox.build_policy(submission_dir, scratch_dir)
        self.submission_dir = submission_dir
        self.scratch_dir = scratch_dir
        self.log_path = os.path.join(scratch_dir, "child-output.log")
        env = {k: v for k, v in os.environ.items() if k in CHILD_ENV_KEEP}
        env.update(HOME=scratch_dir, TMPDIR=scratch_dir, PYTHONDONTWRITEBYTECODE="1",
                   PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
        child_in, self._to_child = mpc.Pipe(duplex=False)
        self._from_child, child_out = mpc.Pipe(duplex=False)
        ctx = _forkserver()
        self.proc = ctx.Process(target=_child_entry, daemon=False,
                                args=(submission_dir, scratch_dir, self.log_path, env,
                                      child_in, child_out, os.path.abspath(os.getcwd()),
                                      self.policy))
        self.proc.start()
        child_in.close()
        child_out.close()
        self.to_child = self._to_child.fileno()
        self.from_child = self._from_child.fileno()
        header, _ = wire.unpack(self._read_frame(time.monotonic() + STARTUP_TIMEOUT, "start"))
        if header.get("ok") != "ready":
            raise StudentCrash("the grading child did not start")
        self.protections = [str(p) for p in header.get("protections", [])][:50]
        self.missing = [str(p) for p in header.get("missing", [])][:50]

    def _log_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(max(0, os.path.getsize(self.log_path) - LOG_TAIL_CHARS))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        text = clean_text(text).strip()
        return f"\nLast output of the submission:\n{text}" if text else ""

    def _read_exact(self, n: int, deadline: float, what: str) -> bytes:
        chunks = []
        while n:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self.from_child], [], [], max(0.0, remaining))
            if not ready:
                self.kill()
                raise StudentTimeout(f"{what} did not finish within its time limit "
                                     f"and was stopped{self._log_tail()}")
            chunk = os.read(self.from_child, min(n, 1 << 20))
            if not chunk:
                self.proc.join(timeout=5)
                code = self.proc.exitcode
                self.kill()
                raise StudentCrash(f"the submission's process ended during {what} "
                                   f"({describe_signal(code)}){self._log_tail()}")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _read_frame(self, deadline: float, what: str) -> bytes:
        prefix = self._read_exact(16, deadline, what)
        try:
            head_len, body_len = wire.unpack_lengths(prefix)
        except wire.WireError as exc:
            self.kill()
            raise BadReply(f"the submission's process sent an unusable reply: {exc}") from None
        cap = self.policy.limits.reply_bytes
        if head_len + body_len > cap:
            self.kill()
            raise BadReply(f"the submission's reply ({(head_len + body_len) >> 20} MiB) is larger "
                           f"than the {cap >> 20} MiB limit")
        return prefix + self._read_exact(head_len + body_len, deadline, what)

    def exchange(self, frame: bytes, timeout: float) -> bytes:
        try:
            view = memoryview(frame)
            while view:
                view = view[os.write(self.to_child, view):]
        except (BrokenPipeError, OSError):
            code = self.proc.exitcode
            self.kill()
            raise StudentCrash(f"the submission's process is gone (exit code {code})"
                               f"{self._log_tail()}") from None
        return self._read_frame(time.monotonic() + timeout, "the call")

    @property
    def alive(self) -> bool:
        return self.to_child != -1 and self.proc.is_alive()

    def kill(self) -> None:
        """End the child and every process it started.

        The supervisor gets SIGTERM first: it kills the server and waits until the server's
        PID namespace (or subtree) is empty. SIGKILL to the process group is the fallback.
        """
        if self.proc.pid is not None:
            if self.proc.exitcode is None:
                try:
                    os.kill(self.proc.pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    pass
                self.proc.join(timeout=5)
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.join(timeout=10)
            from .sandbox import remove_cgroups
            remove_cgroups(self.proc.pid)
        for conn in (self._to_child, self._from_child):
            conn.close()
        self.to_child = self.from_child = -1

    def close(self) -> None:
        if self.to_child != -1:
            self.kill()


@dataclass
class Trace:
    """What a traced call reached: torch functions and library Python functions."""
    torch_functions: list[str] = field(default_factory=list)
    python_calls: list[str] = field(default_factory=list)

    def uses(self, *names: str) -> list[str]:
        """Names in the trace that contain any of ``names`` (e.g. ``"softmax"``)."""
        return sorted({n for n in self.torch_functions + self.python_calls
                       for pat in names if pat in n})


def _link_book_data(base: str) -> None:
    """``base/data`` -> ``D2L_DATA_DIR``: the child works in ``base/work``, so the book's own
    relative paths (``'../data/airfoil_self_noise.dat'``) find the course's data files (read
    only: the sandbox grants ``D2L_DATA_DIR`` for reading and nothing more)."""
    data = os.environ.get("D2L_DATA_DIR")
    if data and os.path.isdir(data):
        try:
            os.symlink(os.path.abspath(data), os.path.join(base, "data"), target_is_directory=True)
        except OSError:
            pass  # only a convenience for the book's paths


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
            _link_book_data(self._scratch_base)
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
        from .policies import ScratchRecord
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
                from .sandbox import build_policy
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
        """From-scratch policies (``d2lgrade.policies.Policy``) for every child from now on."""
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
            head, rblobs = wire.unpack(reply)
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
        """Run a trusted helper from ``d2lgrade.probes`` in the child."""
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
    if roots is None or not isinstance(path, list) or not path:
        raise wire.WireError("reference to an argument of a call that has none")
    node: Any = roots
    for key in path:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            raise wire.WireError(f"bad argument path {path!r:.100}") from None
    return node


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


class RemoteObject:
    """A student object that stays in the child: call it, read attributes, pass it back."""

    __slots__ = ("_sub", "_id", "_generation", "_type", "_repr", "_callable")

    def __init__(self, sub: Submission, ref_id: int, generation: int, type_name: str,
                 text: str, is_callable: bool):
        object.__setattr__(self, "_sub", sub)
        object.__setattr__(self, "_id", ref_id)
        object.__setattr__(self, "_generation", generation)
        object.__setattr__(self, "_type", type_name)
        object.__setattr__(self, "_repr", text)
        object.__setattr__(self, "_callable", is_callable)

    def _check_generation(self) -> None:
        if self._generation != self._sub.generation:
            raise StaleHandle(f"this {self._type} came from an earlier run of the submission, "
                              "which was restarted after a crash, exit or timeout")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        self._check_generation()
        return self._sub.getattr({"ref": self._id}, name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._check_generation()
        self._sub.probe("setattr_", self, name, value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True  # pytest shows the student's frames, not ours
        self._check_generation()
        return self._sub.call({"ref": self._id}, args, kwargs)

    def __iter__(self):
        self._check_generation()
        return iter(self._sub.probe("materialize", self))

    def __getitem__(self, key: Any) -> Any:
        self._check_generation()
        return self._sub.probe("getitem", self, key)

    def __repr__(self) -> str:
        return f"<remote {self._type}: {self._repr}>"

    @property
    def remote_type(self) -> str:
        return self._type


class RemoteModule:
    """A student module by name; attributes are resolved lazily in the current child."""

    def __init__(self, sub: Submission, name: str):
        self._sub = sub
        self._name = name

    def __getattr__(self, attr: str) -> "RemoteFunction":
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return RemoteFunction(self._sub, self._name, attr)

    @property
    def submission(self) -> Submission:
        return self._sub

    def __repr__(self) -> str:
        return f"<student module {self._name}>"


class RemoteFunction:
    """``module.attr`` in the child, looked up at call time (one round trip per call)."""

    def __init__(self, sub: Submission, module: str, attr: str):
        self.sub, self.module, self.attr = sub, module, attr

    @property
    def target(self) -> dict:
        return {"module": self.module, "attr": self.attr}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True  # pytest shows the student's frames, not ours
        return self.sub.call(self.target, args, kwargs)

    def traced(self, *args: Any, **kwargs: Any) -> tuple[Any, Trace]:
        """Call and also report which torch/library functions the call reached."""
        return self.sub.call(self.target, args, kwargs, trace=True)

    def value(self) -> Any:
        """The attribute itself (a constant, or a handle to a function or class)."""
        return self.sub.getattr({"module": self.module}, self.attr)

    def with_globals(self, *names_in: str, **names: Any) -> "BookCall":
        """This function called the book's way: ``student.gd_2d.with_globals(eta=0.1)(x1, x2,
        s1, s2)`` sets the module-level ``eta`` in the student's module for that call only.
        ``names_in``: further student modules that get the names too (a trainer in one module
        calling an update function of another)."""
        return BookCall(self.sub, self.target, names, names_in)

    def signature(self) -> list[dict]:
        """The function's parameters in the child: ``[{"name", "kind", "has_default"}]``
        (``kind`` as ``inspect.Parameter.kind.name``), to tell the book's signature from the
        stub's."""
        return self.sub.probe("signature_of", self.value())

    def __repr__(self) -> str:
        return f"<student {self.module}.{self.attr}>"


class BookCall:
    """A student function with module-level names set around each call (``with_globals``)."""

    def __init__(self, sub: Submission, target: dict, names: dict, names_in: tuple = ()):
        self.sub, self.target, self.names, self.names_in = sub, target, dict(names), tuple(names_in)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True  # pytest shows the student's frames, not ours
        return self.sub.call(self.target, args, kwargs, names=self.names, names_in=self.names_in)

    def traced(self, *args: Any, **kwargs: Any) -> tuple[Any, Trace]:
        return self.sub.call(self.target, args, kwargs, trace=True, names=self.names,
                             names_in=self.names_in)

    def __repr__(self) -> str:
        return f"<book call {self.target} with {sorted(self.names)}>"


def with_globals(fn: "RemoteFunction | RemoteObject", *names_in: str, **names: Any) -> BookCall:
    """``fn.with_globals(...)`` for any handle, also one from ``.value()`` (a RemoteObject,
    whose own attributes belong to the student)."""
    if isinstance(fn, RemoteFunction):
        return fn.with_globals(*names_in, **names)
    if isinstance(fn, RemoteObject):
        fn._check_generation()
        return BookCall(fn._sub, {"ref": fn._id}, names, names_in)
    raise TypeError(f"with_globals needs a student function handle, not {type(fn).__name__}")
