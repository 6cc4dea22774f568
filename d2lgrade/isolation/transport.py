"""How the grading process talks to the child: in-process loopback (isolation "none") or a sandboxed child from the forkserver."""
from __future__ import annotations

import os
import select
import signal
import sys
import time
from dataclasses import dataclass, field

from d2lgrade.errors import (
    BadReply,
    StudentCrash,
    StudentTimeout,
)
from d2lgrade.isolation import wire
from d2lgrade.text import clean_text, describe_signal

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
        from d2lgrade.isolation.child import Server
        _forget_submission_modules(submission_dir)
        self.server = Server(submission_dir, in_child=False)
        self.submission_dir = submission_dir

    def exchange(self, frame: list, timeout: float) -> tuple[bytes, bytearray]:
        return wire.split(self.server.handle(*wire.split(frame)))

    def close(self) -> None:
        if self.server.tracer is not None:
            from d2lgrade.scratch.trace import uninstall
            uninstall(self.server.tracer)
        from d2lgrade.isolation import book_env
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
        ctx.set_forkserver_preload(["torch", "torchvision", "d2lgrade.isolation.child"])
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
    from d2lgrade.isolation import sandbox
    if policy is None:
        policy = sandbox.Policy(enabled=False)
    # Returns in the server only; the supervisor waits outside and never comes back here.
    active, missing = sandbox.enter(policy, close_in_supervisor=[conn_in, conn_out])
    from d2lgrade.isolation.child import serve
    serve(submission_dir, conn_in.fileno(), conn_out.fileno(),
          info={"protections": active, "missing": missing})


class ProcessTransport:
    """A child process that imports the submission; killed and restarted on trouble."""

    name = "process"

    def __init__(self, submission_dir: str, scratch_dir: str, policy=None):
        import multiprocessing.connection as mpc

        from d2lgrade.isolation import sandbox
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
        header, _ = wire.unpack_body(*self._read_frame(time.monotonic() + STARTUP_TIMEOUT, "start"))
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

    def _read_into(self, buf: bytearray, deadline: float, what: str) -> bytearray:
        view, pos = memoryview(buf), 0
        while pos < len(buf):
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self.from_child], [], [], max(0.0, remaining))
            if not ready:
                self.kill()
                raise StudentTimeout(f"{what} did not finish within its time limit "
                                     f"and was stopped{self._log_tail()}")
            got = os.readv(self.from_child, [view[pos:pos + (1 << 22)]])
            if not got:
                self.proc.join(timeout=5)
                code = self.proc.exitcode
                self.kill()
                raise StudentCrash(f"the submission's process ended during {what} "
                                   f"({describe_signal(code)}){self._log_tail()}")
            pos += got
        return buf

    def _read_frame(self, deadline: float, what: str) -> tuple[bytes, bytearray]:
        """(JSON header, body) of the child's next frame; the body is read straight into
        the buffer that large decoded tensors then use."""
        prefix = bytes(self._read_into(bytearray(16), deadline, what))
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
        head = bytes(self._read_into(bytearray(head_len), deadline, what))
        return head, self._read_into(bytearray(body_len), deadline, what)

    def exchange(self, frame: list, timeout: float) -> tuple[bytes, bytearray]:
        try:
            wire.write_frame(self.to_child, frame)
        except (BrokenPipeError, OSError):
            code = self.proc.exitcode
            self.kill()
            raise StudentCrash(f"the submission's process is gone (exit code {code})"
                               f"{self._log_tail()}") from None
        return self._read_frame(time.monotonic() + timeout, "the call")

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
            from d2lgrade.isolation.sandbox import remove_cgroups
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


def link_book_data(base: str) -> None:
    """``base/data`` -> ``D2L_DATA_DIR``: the child works in ``base/work``, so the book's own
    relative paths (``'../data/airfoil_self_noise.dat'``) find the course's data files (read
    only: the sandbox grants ``D2L_DATA_DIR`` for reading and nothing more)."""
    data = os.environ.get("D2L_DATA_DIR")
    if data and os.path.isdir(data):
        try:
            os.symlink(os.path.abspath(data), os.path.join(base, "data"), target_is_directory=True)
        except OSError:
            pass  # only a convenience for the book's paths
