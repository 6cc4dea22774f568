"""The processes around the server: cgroups, new namespaces, and the supervisor that kills what the server leaves."""
from __future__ import annotations

import ctypes
import glob
import os
import resource
import signal
import time

from d2lgrade.isolation.sandbox.kernel import (
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    libc,
)

# -- cgroups (root, or a delegated tree) ------------------------------------------------

def _cgroup_dirs(controller: str) -> list[str]:
    """Candidate folders for a new cgroup of ``controller`` (v1 and v2)."""
    out = []
    try:
        lines = open("/proc/self/cgroup").read().splitlines()
    except OSError:
        return out
    for line in lines:
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            out.append(os.path.join("/sys/fs/cgroup", controller, path.lstrip("/")))
        elif names == "":
            for mount in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
                base = os.path.join(mount, path.lstrip("/"))
                if os.path.exists(os.path.join(base, "cgroup.controllers")):
                    out.append(base)
    return out


def cgroup_join(controller: str, settings: dict[str, str]) -> str | None:
    """Create a cgroup with ``settings``, move this process into it; its folder or None."""
    name = f"d2lgrade-{os.getpid()}"
    for base in _cgroup_dirs(controller):
        path = os.path.join(base, name)
        try:
            os.mkdir(path)
        except OSError:
            continue
        try:
            for key, value in settings.items():
                with open(os.path.join(path, key), "w") as f:
                    f.write(value)
            with open(os.path.join(path, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
            return path
        except OSError:
            try:
                os.rmdir(path)
            except OSError:
                pass
    return None


def remove_cgroups(pid: int) -> None:
    """Remove the (empty) cgroups a child with ``pid`` created (called by the parent)."""
    for pattern in (f"/sys/fs/cgroup/*/d2lgrade-{pid}", f"/sys/fs/cgroup/*/*/d2lgrade-{pid}",
                    f"/sys/fs/cgroup/*/*/*/d2lgrade-{pid}", f"/sys/fs/cgroup/d2lgrade-{pid}"):
        for path in glob.glob(pattern):
            try:
                os.rmdir(path)
            except OSError:
                pass


# -- namespaces -------------------------------------------------------------------------

def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def unshare() -> list[str]:
    """New namespaces for the server; the names of those created."""
    uid, gid = os.geteuid(), os.getegid()
    attempts = [(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC, True),
                (CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC, False),
                (CLONE_NEWUSER | CLONE_NEWPID, True), (CLONE_NEWPID, False),
                (CLONE_NEWUSER | CLONE_NEWNET, True), (CLONE_NEWNET, False)]
    for flags, user in attempts:
        if libc.unshare(ctypes.c_int(flags)) != 0:
            continue
        if user:
            # Map our own ids only (allowed without privileges); root keeps uid 0 but loses
            # its capabilities outside the namespace (no CAP_DAC_OVERRIDE, CAP_KILL, ...).
            try:
                _write("/proc/self/setgroups", "deny")
            except OSError:
                pass
            try:
                _write("/proc/self/uid_map", f"{uid} {uid} 1")
                _write("/proc/self/gid_map", f"{gid} {gid} 1")
            except OSError:
                pass  # ids show as the overflow id inside; access checks are unchanged
        names = [n for f, n in ((CLONE_NEWUSER, "user"), (CLONE_NEWNET, "network"),
                                (CLONE_NEWPID, "pid"), (CLONE_NEWIPC, "ipc")) if flags & f]
        return names
    return []


libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 1 << 14, 1 << 18


def private_shm(size_mb: int) -> bool:
    """A private, size-capped tmpfs on /dev/shm (for multiprocessing's semaphores and
    DataLoader workers), gone with the namespace. Needs a mount namespace."""
    if not os.path.isdir("/dev/shm") or libc.unshare(ctypes.c_int(CLONE_NEWNS)) != 0:
        return False
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return False
    opts = f"size={size_mb}m,mode=1777".encode()
    return libc.mount(b"tmpfs", b"/dev/shm", b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                       opts) == 0


# -- the supervisor ---------------------------------------------------------------------

class _Stop(Exception):
    pass


def _children_of(pid: int) -> list[int]:
    if pid == os.getpid():
        # Fast path: the kernel's list of our direct children (orphans come to us as
        # subreaper, so an empty list means no descendants at all).
        try:
            kids = []
            for tid in os.listdir("/proc/self/task"):
                with open(f"/proc/self/task/{tid}/children") as f:
                    kids += [int(k) for k in f.read().split()]
            return kids
        except OSError:
            pass
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            out.append(int(entry))
    return out


def kill_descendants(root: int | None = None) -> int:
    """SIGKILL every descendant of ``root`` (default: this process) and reap them."""
    root = os.getpid() if root is None else root
    killed = 0
    for _ in range(50):
        todo, found = [root], []
        while todo:
            kids = _children_of(todo.pop())
            found += kids
            todo += kids
        if not found:
            break
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        reap(timeout=1.0)
    return killed


def reap(timeout: float = 0.0) -> None:
    """Collect exited children (orphans are reparented to us as subreaper or PID 1)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() >= deadline:
                return
            time.sleep(0.005)


def supervise(server_pid: int, namespaces: list[str], cgroups: list[str] = ()) -> None:
    """Wait for the server; then make sure nothing it started survives; exit like it."""
    def stop(signum, frame):
        raise _Stop

    signal.signal(signal.SIGTERM, stop)
    status = None
    try:
        while status is None:
            pid, st = os.waitpid(server_pid, 0)
            if pid == server_pid:
                status = st
    except _Stop:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            os.kill(server_pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            status = os.waitpid(server_pid, 0)[1]
        except ChildProcessError:
            status = 0
    # With a PID namespace the kernel has killed everything in it when its init (the
    # server) was reaped; without one, orphans were reparented to us (subreaper).
    kill_descendants()
    for path in cgroups:  # leave our cgroups and remove them (the parent retries)
        try:
            _write(os.path.join(os.path.dirname(path), "cgroup.procs"), str(os.getpid()))
            os.rmdir(path)
        except OSError:
            pass
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)
