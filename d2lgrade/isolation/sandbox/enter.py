"""Entering the sandbox in the child (``enter``) and the per-call limits (``before_call``, ``after_call``)."""
from __future__ import annotations

import ctypes
import os
import resource
import signal
from dataclasses import dataclass

from d2lgrade.isolation.sandbox.kernel import (
    PR_SET_CHILD_SUBREAPER,
    PR_SET_NO_NEW_PRIVS,
    die_with_parent,
    landlock,
    prctl,
    seccomp,
)
from d2lgrade.isolation.sandbox.policy import Limits, Policy
from d2lgrade.isolation.sandbox.processes import (
    cgroup_join,
    kill_descendants,
    private_shm,
    reap,
    supervise,
    unshare,
)

# -- the server's own limits ------------------------------------------------------------

def _vm_size() -> int:
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _rlimits(limits: Limits, cuda: bool) -> tuple[list[str], list[str]]:
    active, missing = [], []

    def setlim(which, soft, hard=None, label=""):
        try:
            cur_soft, cur_hard = resource.getrlimit(which)
            hard = soft if hard is None else hard
            if cur_hard != resource.RLIM_INFINITY:
                hard = min(hard, cur_hard)
                soft = min(soft, hard)
            resource.setrlimit(which, (soft, hard))
            active.append(label)
        except (ValueError, OSError) as exc:
            missing.append(f"{label}: {exc}")

    if cuda:
        missing.append("memory (RLIMIT_AS): not set, CUDA needs a large address space")
    else:
        budget = _vm_size() + limits.memory_mb * 1024 * 1024
        setlim(resource.RLIMIT_AS, budget, label=f"memory: address space +{limits.memory_mb} MiB "
               "(RLIMIT_AS)")
    setlim(resource.RLIMIT_CPU, limits.cpu_s, label=f"CPU time: {limits.cpu_s} s per child, "
           "call limit + 2 s per call (RLIMIT_CPU)")
    setlim(resource.RLIMIT_FSIZE, limits.fsize_bytes,
           label=f"file size and output log: {limits.fsize_bytes >> 20} MiB (RLIMIT_FSIZE)")
    setlim(resource.RLIMIT_NOFILE, limits.nofile, label=f"open files: {limits.nofile}")
    setlim(resource.RLIMIT_CORE, 0, label="no core dumps")
    return active, missing


def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


# -- state in the server ----------------------------------------------------------------

@dataclass
class _Active:
    protections: list[str]
    missing: list[str]
    pid_namespace_init: bool
    limits: Limits


ACTIVE: _Active | None = None


def scrub_environ_block() -> bool:
    """Zero the environment strings the process was started with.

    ``os.environ.clear()`` empties the C ``environ`` array, but ``/proc/self/environ``
    still shows the block the forkserver was exec'd with: the grader's whole environment,
    tokens included. It lives in this (forked, private) stack memory, so overwrite it.
    """
    try:
        with open("/proc/self/stat", "rb") as f:
            stat = f.read()
        fields = stat[stat.rfind(b")") + 2:].split()
        start, end = int(fields[47]), int(fields[48])  # env_start, env_end (fields 50, 51)
        if 0 < start < end and end - start < (64 << 20):
            ctypes.memset(start, 0, end - start)
            return True
    except (OSError, ValueError, IndexError):
        pass
    return False


def _safe(fn, *args):
    """``fn(*args)``, or None if it fails: a missing mechanism is reported, never fatal."""
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001
        return None


def enter(policy: Policy, close_in_supervisor: list = ()) -> tuple[list[str], list[str]]:
    """Apply ``policy`` to this (new) child. Returns (active protections, missing ones).

    Called once, first thing in the child. Returns only in the server process; the
    supervisor stays in ``supervise`` until the server is gone, then exits.
    """
    global ACTIVE
    active = ["child process", "reduced environment (allow-list)",
              "own session and process group"]
    missing: list[str] = []
    os.setsid()
    die_with_parent()
    if scrub_environ_block():
        active[1] = "reduced environment (allow-list; inherited environment block wiped)"
    else:
        missing.append("wiping the inherited environment block (/proc/self/environ)")
    if not policy.enabled:
        missing.append("sandbox turned off (D2LGRADE_SANDBOX=off)")
        return active, missing
    cuda = any(os.path.basename(d).startswith("nvidia") for d in policy.devices)
    limits = policy.limits
    # cgroups need privileges we drop below, so they come first.
    off = policy.disabled
    for name in sorted(off):
        missing.append(f"{name}: turned off (D2LGRADE_SANDBOX_DISABLE)")
    pids_cg = None if "cgroup" in off else _safe(cgroup_join, "pids", {"pids.max": str(limits.nproc)})
    if pids_cg:
        active.append(f"processes: at most {limits.nproc} (cgroup pids.max)")
    mem_cg = None
    if cuda and "cgroup" not in off:
        mem_bytes = str(limits.memory_mb * 1024 * 1024 + (2 << 30))
        mem_cg = _safe(cgroup_join, "memory", {"memory.limit_in_bytes": mem_bytes}) or \
            _safe(cgroup_join, "memory", {"memory.max": mem_bytes})
        if mem_cg:
            active.append(f"memory: {int(mem_bytes) >> 20} MiB (cgroup)")
    namespaces = [] if "namespaces" in off else (_safe(unshare) or [])
    if namespaces:
        active.append("namespaces: " + ", ".join(namespaces))
    elif "namespaces" not in off:
        missing.append("namespaces: unshare is not allowed here")
    if "network" in namespaces:
        active.append("no network (empty network namespace)")
    else:
        missing.append("network namespace")
    if namespaces and _safe(private_shm, limits.shm_mb):
        policy.write.append("/dev/shm")
        active.append(f"private /dev/shm ({limits.shm_mb} MiB tmpfs in a mount namespace)")
    else:
        missing.append("private /dev/shm (multiprocessing locks and DataLoader workers "
                       "will fail with PermissionError)")
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    pid = os.fork()
    if pid != 0:  # the supervisor: trusted code only
        try:
            for obj in close_in_supervisor:
                obj.close() if hasattr(obj, "close") else os.close(obj)
            supervise(pid, namespaces, [c for c in (pids_cg, mem_cg) if c])
        finally:
            os._exit(1)
    # -- the server --
    die_with_parent()
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    if "pid" in namespaces:
        active.append("process lifetime: all processes killed after each call and at the end "
                      "(PID namespace)")
    else:
        active.append("process lifetime: all processes killed after each call and at the end "
                      "(child subreaper)")
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a full log fails the write, not the process
    signal.signal(signal.SIGXCPU, signal.SIG_DFL)
    if "rlimits" not in off:
        got, lost = _rlimits(limits, cuda)
        active += got
        missing += lost
    if not pids_cg and "rlimits" not in off:
        if "user" in namespaces and os.geteuid() != 0:
            # In a fresh user namespace the per-user count starts at zero: a real cap.
            try:
                n = limits.nproc + _threads()
                resource.setrlimit(resource.RLIMIT_NPROC, (n, n))
                active.append(f"processes: at most {limits.nproc} (RLIMIT_NPROC in a user "
                              "namespace)")
            except (ValueError, OSError) as exc:
                missing.append(f"process count: {exc}")
        else:
            missing.append("process count: no writable pids cgroup, and RLIMIT_NPROC does not "
                           "bind root (processes are still all killed after each call)")
    try:
        if "landlock" in off:
            raise OSError("turned off")
        active += landlock(policy)
    except Exception as exc:  # noqa: BLE001 - a missing mechanism never stops grading
        if "landlock" not in off:
            missing.append(f"file system restrictions (Landlock): {exc}")
        prctl(PR_SET_NO_NEW_PRIVS, 1)
    try:
        if "seccomp" not in off:
            active.append(seccomp())
    except Exception as exc:  # noqa: BLE001
        missing.append(f"socket filter (seccomp): {exc}")
    ACTIVE = _Active(active, missing, os.getpid() == 1, limits)
    return active, missing


def before_call(seconds: float | None) -> None:
    """Per-call CPU limit: what the child used so far plus the call's time limit + 2 s."""
    if ACTIVE is None or not seconds:
        return
    use = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(use.ru_utime + use.ru_stime + seconds + 2)
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    except (ValueError, OSError):
        pass


def after_call() -> None:
    """Kill every process the call started, detached ones included."""
    if ACTIVE is None:
        return
    if ACTIVE.pid_namespace_init:
        try:
            os.kill(-1, signal.SIGKILL)  # PID 1: every other process in the namespace
        except ProcessLookupError:
            return
        except OSError:
            pass
        reap(timeout=2.0)
    else:
        kill_descendants()
