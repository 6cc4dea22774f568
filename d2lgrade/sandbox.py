"""The sandbox around the submission's child process (isolation "process").

The parent builds a ``Policy`` (what the child may read and write, its limits) and the child
applies it with ``enter()`` right after the forkserver forks it, before any student code runs:

1. ``setsid`` and ``PR_SET_PDEATHSIG`` (the child dies with the grader's forkserver);
2. cgroup limits when the cgroup tree is writable (root): ``pids.max``, ``memory`` limit;
3. new namespaces with ``unshare``: user (unprivileged), network (no interface but a
   loopback that is down: no network at all), PID and IPC. The process that called
   ``unshare`` stays outside as the **supervisor**: it forks the **server** (PID 1 of the new
   PID namespace), never runs student code, and on ``SIGTERM`` or when the server ends makes
   sure every process the server started is gone (the kernel kills a PID namespace with its
   init; without one the supervisor is a child subreaper and kills what is reparented to it);
4. in the server: rlimits (address space, CPU time, file size, processes, core dumps),
   ``no_new_privs``, and Landlock (file system allow-list, TCP bind/connect denied, signals
   and abstract UNIX sockets scoped to the sandbox).

Every mechanism is detected at run time; one that is missing is listed as missing, never an
error. ``enter`` returns the list of what is active; the child sends it to the parent in its
"ready" message and every grade report carries it (``results.json`` ``extra_data``).

After each call the server kills every other process it started (``kill(-1)`` as the
namespace's init, or its descendants found in ``/proc`` as a subreaper).
"""
from __future__ import annotations

import ctypes
import errno
import glob
import os
import resource
import signal
import sys
import time
from dataclasses import dataclass, field

# -- limits -----------------------------------------------------------------------------

#: Environment variables that change the defaults (for instructors and for tests).
ENV_PREFIX = "D2LGRADE_SANDBOX_"


def _env_num(name: str, default: float) -> float:
    try:
        return float(os.environ.get(ENV_PREFIX + name, default))
    except ValueError:
        return default


@dataclass
class Limits:
    """Resource limits of one submission's child (per child unless it says otherwise)."""
    #: Extra address space the server may map beyond what it had at start (torch imported).
    memory_mb: int = 8192
    #: CPU seconds of one child (hard limit); each call also gets ``call timeout + 2`` s.
    cpu_s: int = 900
    #: Wall-clock seconds the whole submission may spend in calls (parent side, all children).
    submission_wall_s: float = 1200.0
    #: Processes and threads of the sandbox (the server's own threads included).
    nproc: int = 96
    #: Largest file the child may write, its output log included (bytes).
    fsize_bytes: int = 32 * 1024 * 1024
    #: Open files per process.
    nofile: int = 1024
    #: Size of the child's private /dev/shm.
    shm_mb: int = 256
    #: Largest reply the parent reads from the child (bytes).
    reply_bytes: int = 256 * 1024 * 1024

    @classmethod
    def from_env(cls) -> "Limits":
        d = cls()
        return cls(memory_mb=int(_env_num("MEMORY_MB", d.memory_mb)),
                   cpu_s=int(_env_num("CPU_S", d.cpu_s)),
                   submission_wall_s=_env_num("WALL_S", d.submission_wall_s),
                   nproc=int(_env_num("NPROC", d.nproc)),
                   fsize_bytes=int(_env_num("FSIZE_BYTES", d.fsize_bytes)),
                   nofile=int(_env_num("NOFILE", d.nofile)),
                   reply_bytes=int(_env_num("REPLY_BYTES", d.reply_bytes)))


def disabled_parts() -> set[str]:
    """Mechanisms turned off with ``D2LGRADE_SANDBOX_DISABLE=landlock,seccomp,...``.

    Names: namespaces, cgroup, rlimits, landlock, seccomp. Used to test the fallbacks (a
    machine without that mechanism) and to measure each one's cost.
    """
    raw = os.environ.get(ENV_PREFIX.rstrip("_") + "_DISABLE", "")
    return {p.strip().lower() for p in raw.split(",") if p.strip()}


def enabled() -> bool:
    """The sandbox is on unless ``D2LGRADE_SANDBOX=off`` (for measuring its cost)."""
    return os.environ.get("D2LGRADE_SANDBOX", "on").lower() not in ("off", "0", "no", "false")


@dataclass
class Policy:
    """What one child may touch. Built in the parent, applied in the child."""
    read: list[str] = field(default_factory=list)       # folders/files readable (and executable)
    write: list[str] = field(default_factory=list)      # folders fully writable
    devices: list[str] = field(default_factory=list)    # device files readable and writable
    limits: Limits = field(default_factory=Limits)
    enabled: bool = True
    disabled: set = field(default_factory=set)


# -- building the policy (parent) -------------------------------------------------------

_SYSTEM_READ = ["/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/opt",
                "/proc", "/sys"]
# /etc holds secrets (shadow, keys): only what Python, libc and matplotlib read.
_ETC_READ = ["/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
             "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/hosts", "/etc/host.conf",
             "/etc/resolv.conf", "/etc/ssl", "/etc/ca-certificates", "/etc/mime.types",
             "/etc/os-release", "/etc/fonts", "/etc/matplotlibrc", "/etc/alternatives",
             "/etc/python3", "/etc/debian_version"]
# /dev holds disks (readable by root): only these devices.
_DEVICES = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"]
_GPU_DEVICES = ["/dev/nvidia*", "/dev/nvidia-caps/*", "/dev/nvidia-uvm*", "/dev/dri/*"]


def _is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _grant(path: str, secrets: list[str], out: list[str], depth: int = 0) -> None:
    """Add ``path`` to ``out``, or, if a secret lies inside it, its other children."""
    path = os.path.realpath(path)
    if not os.path.exists(path) or any(_is_within(path, s) for s in secrets):
        return
    if not any(_is_within(s, path) for s in secrets):
        out.append(path)
        return
    if depth > 6 or not os.path.isdir(path):
        return
    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        _grant(os.path.join(path, name), secrets, out, depth + 1)


def build_policy(submission_dir: str, scratch_dir: str) -> Policy:
    """The allow-lists for one submission: its own files, Python, public fixtures, scratch.

    Hidden: the course's solutions/, graders/, fixtures/ (except fixtures/generated),
    tests/ and .git, and the grader's working folder. A Python folder that contains one of
    them (the course root on ``sys.path``) is left out as a whole; the engine's own package
    is granted by itself. A virtual environment inside the course root (``.tox``,
    ``.venv``) is granted, since it contains no secret.
    """
    cwd = os.path.realpath(os.getcwd())
    hide: list[str] = []            # never readable
    roots: list[str] = [cwd]        # folders that hold secrets: never granted whole
    public: list[str] = []
    try:
        from .course import find_course
        course = find_course()
        root = str(course.root.resolve())
        roots.append(root)
        hide += [os.path.join(root, n) for n in ("solutions", "graders", "fixtures", "tests",
                                                  ".git", "results")]
        generated = course.fixtures / "generated"  # git-ignored; the graders fill it later
        generated.mkdir(parents=True, exist_ok=True)
        public.append(str(generated))
    except Exception:  # no course (a bare Submission in a test): nothing extra to hide
        pass
    hide.append(os.path.join(cwd, "results"))
    roots = [r for r in roots if r != "/"]
    read: list[str] = []
    # The submission and the course's public fixtures are readable even inside the course.
    for p in [submission_dir, *public]:
        if os.path.exists(p):
            read.append(os.path.realpath(p))
    if os.environ.get("D2L_DATA_DIR"):
        _grant(os.environ["D2L_DATA_DIR"], hide, read)
    # The engine's own package (this file's folder) may live inside the course root; it is
    # public code.
    read.append(os.path.dirname(os.path.realpath(__file__)))
    python = [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,
              *[p for p in sys.path if p]]
    for c in python:
        c = os.path.realpath(c)
        if os.path.exists(c) and not any(_is_within(r, c) for r in roots + hide) \
                and not any(_is_within(c, h) for h in hide):
            read.append(c)
    for c in [*_SYSTEM_READ, *_ETC_READ]:
        _grant(c, hide + roots, read)
    devices = [d for d in _DEVICES if os.path.exists(d)]
    for pattern in _GPU_DEVICES:
        devices += [d for d in glob.glob(pattern) if not os.path.isdir(d)]
    return Policy(read=sorted(set(read)), write=[os.path.realpath(scratch_dir)],
                  devices=devices, limits=Limits.from_env(), enabled=enabled(),
                  disabled=disabled_parts())


# -- kernel interfaces (ctypes) ---------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER = 0x00020000, 0x08000000, 0x10000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000

_SYS_LANDLOCK_CREATE_RULESET, _SYS_LANDLOCK_ADD_RULE, _SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
_LL_EXECUTE, _LL_WRITE_FILE, _LL_READ_FILE, _LL_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_LL_ALL_ABI1 = (1 << 13) - 1
_LL_REFER, _LL_TRUNCATE, _LL_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_LL_NET_BIND_TCP, _LL_NET_CONNECT_TCP = 1 << 0, 1 << 1
_LL_SCOPE_ABSTRACT_UNIX, _LL_SCOPE_SIGNAL = 1 << 0, 1 << 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _prctl(option: int, arg: int) -> bool:
    return _libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0) == 0


def die_with_parent() -> bool:
    """Ask Linux to SIGKILL this process when its parent ends (``PR_SET_PDEATHSIG``)."""
    return _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def landlock_abi() -> int:
    """Landlock ABI version of this kernel (0 when Landlock is absent or disabled)."""
    abi = _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(0, int(abi))


def _landlock(policy: Policy) -> list[str]:
    """Apply the file system allow-list, no TCP, and scoping. Returns what it covered."""
    abi = landlock_abi()
    if abi < 1:
        raise OSError("Landlock is not available in this kernel")
    fs = _LL_ALL_ABI1 | (_LL_REFER if abi >= 2 else 0) | (_LL_TRUNCATE if abi >= 3 else 0) \
        | (_LL_IOCTL_DEV if abi >= 5 else 0)
    net = (_LL_NET_BIND_TCP | _LL_NET_CONNECT_TCP) if abi >= 4 else 0
    scoped = (_LL_SCOPE_ABSTRACT_UNIX | _LL_SCOPE_SIGNAL) if abi >= 6 else 0
    attr = _RulesetAttr(fs, net, scoped)
    size = 8 if abi < 4 else (16 if abi < 6 else 24)
    fd = _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size),
                       ctypes.c_uint32(0))
    if fd < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    read = _LL_EXECUTE | _LL_READ_FILE | _LL_READ_DIR
    file_rights = _LL_EXECUTE | _LL_READ_FILE | _LL_WRITE_FILE | (fs & (_LL_TRUNCATE | _LL_IOCTL_DEV))

    def add(path: str, access: int) -> None:
        try:
            pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return
        try:
            if not os.path.isdir(path):
                access &= file_rights  # files take file rights only
            rule = _PathBeneathAttr(access & fs, pfd)
            if _libc.syscall(_SYS_LANDLOCK_ADD_RULE, ctypes.c_int(fd), ctypes.c_int(1),
                             ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
                raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
        finally:
            os.close(pfd)

    try:
        for p in policy.read:
            add(p, read)
        if os.path.isdir("/dev"):
            add("/dev", _LL_READ_DIR)
        for p in policy.devices:
            add(p, _LL_READ_FILE | _LL_WRITE_FILE | _LL_TRUNCATE | _LL_IOCTL_DEV)
        for p in policy.write:
            add(p, fs)
        if not _prctl(PR_SET_NO_NEW_PRIVS, 1):
            raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
        if _libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(fd), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(fd)
    covered = [f"landlock ABI {abi}: file system allow-list (read: submission, Python, "
               "public fixtures; write: scratch only)"]
    if net:
        covered.append("landlock: TCP bind/connect denied")
    if scoped:
        covered.append("landlock: signals and abstract UNIX sockets scoped to the sandbox")
    return covered


# -- seccomp ----------------------------------------------------------------------------

# (AUDIT_ARCH, socket, io_uring_setup) per architecture; others get no filter (reported).
_SECCOMP_ARCHES = {"x86_64": (0xC000003E, 41, 425), "aarch64": (0xC00000B7, 198, 425)}
_AF_UNIX, _AF_INET, _AF_INET6, _AF_PACKET = 1, 2, 10, 17


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def _seccomp() -> str:
    """Deny creating sockets by address family (UNIX paths, IP, raw) and io_uring.

    A network namespace already leaves IP with nowhere to go; this also covers machines
    without one. ``AF_UNIX`` is denied because connecting to a UNIX socket by path (a
    docker or X11 socket, ``/dev/log``) is not a file access Landlock checks.
    ``socketpair`` (pipes between processes) stays allowed. io_uring could open sockets
    without the ``socket`` system call.
    """
    import platform
    arch = _SECCOMP_ARCHES.get(platform.machine())
    if arch is None:
        raise OSError(f"no seccomp filter for {platform.machine()}")
    audit_arch, nr_socket, nr_io_uring = arch
    LD, JEQ, JGE, RET = 0x20, 0x15, 0x35, 0x06
    ALLOW, DENY = 0x7FFF0000, 0x00050000 | errno.EACCES
    NOSYS = 0x00050000 | errno.ENOSYS
    prog = [
        (LD, 0, 0, 4),                      # arch
        (JEQ, 1, 0, audit_arch),
        (RET, 0, 0, NOSYS),                 # another ABI (i386 via int 0x80): refuse all
        (LD, 0, 0, 0),                      # syscall number
        (JGE, 0, 1, 0x40000000),            # x32 system calls
        (RET, 0, 0, NOSYS),
        (JEQ, 0, 1, nr_io_uring),
        (RET, 0, 0, DENY),
        (JEQ, 1, 0, nr_socket),
        (RET, 0, 0, ALLOW),
        (LD, 0, 0, 16),                     # socket(domain, ...): low word of args[0]
        (JEQ, 4, 0, _AF_UNIX),
        (JEQ, 3, 0, _AF_INET),
        (JEQ, 2, 0, _AF_INET6),
        (JEQ, 1, 0, _AF_PACKET),
        (RET, 0, 0, ALLOW),
        (RET, 0, 0, DENY),
    ]
    arr = (_SockFilter * len(prog))(*[_SockFilter(*ins) for ins in prog])
    fprog = _SockFprog(len(prog), arr)
    if _libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP failed")
    return ("seccomp: no new sockets of families UNIX, IPv4, IPv6, packet; no io_uring "
            "(socketpair allowed)")


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


def _cgroup_join(controller: str, settings: dict[str, str]) -> str | None:
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


def _unshare() -> list[str]:
    """New namespaces for the server; the names of those created."""
    uid, gid = os.geteuid(), os.getegid()
    attempts = [(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC, True),
                (CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC, False),
                (CLONE_NEWUSER | CLONE_NEWPID, True), (CLONE_NEWPID, False),
                (CLONE_NEWUSER | CLONE_NEWNET, True), (CLONE_NEWNET, False)]
    for flags, user in attempts:
        if _libc.unshare(ctypes.c_int(flags)) != 0:
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


_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 1 << 14, 1 << 18


def _private_shm(size_mb: int) -> bool:
    """A private, size-capped tmpfs on /dev/shm (for multiprocessing's semaphores and
    DataLoader workers), gone with the namespace. Needs a mount namespace."""
    if not os.path.isdir("/dev/shm") or _libc.unshare(ctypes.c_int(CLONE_NEWNS)) != 0:
        return False
    if _libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return False
    opts = f"size={size_mb}m,mode=1777".encode()
    return _libc.mount(b"tmpfs", b"/dev/shm", b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
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
        _reap(timeout=1.0)
    return killed


def _reap(timeout: float = 0.0) -> None:
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


def _supervise(server_pid: int, namespaces: list[str], cgroups: list[str] = ()) -> None:
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
    supervisor stays in ``_supervise`` until the server is gone, then exits.
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
    pids_cg = None if "cgroup" in off else _safe(_cgroup_join, "pids", {"pids.max": str(limits.nproc)})
    if pids_cg:
        active.append(f"processes: at most {limits.nproc} (cgroup pids.max)")
    mem_cg = None
    if cuda and "cgroup" not in off:
        mem_bytes = str(limits.memory_mb * 1024 * 1024 + (2 << 30))
        mem_cg = _safe(_cgroup_join, "memory", {"memory.limit_in_bytes": mem_bytes}) or \
            _safe(_cgroup_join, "memory", {"memory.max": mem_bytes})
        if mem_cg:
            active.append(f"memory: {int(mem_bytes) >> 20} MiB (cgroup)")
    namespaces = [] if "namespaces" in off else (_safe(_unshare) or [])
    if namespaces:
        active.append("namespaces: " + ", ".join(namespaces))
    elif "namespaces" not in off:
        missing.append("namespaces: unshare is not allowed here")
    if "network" in namespaces:
        active.append("no network (empty network namespace)")
    else:
        missing.append("network namespace")
    if namespaces and _safe(_private_shm, limits.shm_mb):
        policy.write.append("/dev/shm")
        active.append(f"private /dev/shm ({limits.shm_mb} MiB tmpfs in a mount namespace)")
    else:
        missing.append("private /dev/shm (multiprocessing locks and DataLoader workers "
                       "will fail with PermissionError)")
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    pid = os.fork()
    if pid != 0:  # the supervisor: trusted code only
        try:
            for obj in close_in_supervisor:
                obj.close() if hasattr(obj, "close") else os.close(obj)
            _supervise(pid, namespaces, [c for c in (pids_cg, mem_cg) if c])
        finally:
            os._exit(1)
    # -- the server --
    die_with_parent()
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
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
        active += _landlock(policy)
    except Exception as exc:  # noqa: BLE001 - a missing mechanism never stops grading
        if "landlock" not in off:
            missing.append(f"file system restrictions (Landlock): {exc}")
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
    try:
        if "seccomp" not in off:
            active.append(_seccomp())
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
        _reap(timeout=2.0)
    else:
        kill_descendants()


# -- parent side ------------------------------------------------------------------------

_CONTROL = {i for i in range(32)} - {9, 10} | {127} | set(range(0x80, 0xA0))


def clean_text(text: str, limit: int | None = None) -> str:
    """Text from the submission made safe for feedback: no terminal control sequences."""
    text = str(text)
    if limit is not None and len(text) > limit:
        text = text[:limit] + "\n... (truncated)"
    if not any(ord(c) in _CONTROL or 0xD800 <= ord(c) <= 0xDFFF for c in text):
        return text
    out = []
    for c in text:
        o = ord(c)
        if o in _CONTROL:
            out.append("" if c == "\r" else f"\\x{o:02x}")
        elif 0xD800 <= o <= 0xDFFF:
            out.append("?")
        else:
            out.append(c)
    return "".join(out)


def describe_signal(code: int | None) -> str:
    """Why the child ended, in words, from its exit code."""
    if code is None:
        return "exit code unknown"
    if code < 0:
        sig = -code
        reason = {signal.SIGXCPU: "ran out of CPU time", signal.SIGKILL: "was killed",
                  signal.SIGSEGV: "crashed (segmentation fault)",
                  signal.SIGXFSZ: "wrote a file larger than allowed"}.get(sig)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        return f"signal {name}" + (f": it {reason}" if reason else "")
    return f"exit code {code}"
