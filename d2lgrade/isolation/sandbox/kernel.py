"""Kernel interfaces through ctypes: prctl, Landlock (file system, network, scopes) and seccomp."""
from __future__ import annotations

import ctypes
import errno
import os
import signal

from d2lgrade.isolation.sandbox.policy import Policy

# -- kernel interfaces (ctypes) ---------------------------------------------------------

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

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


def prctl(option: int, arg: int) -> bool:
    return libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0) == 0


def die_with_parent() -> bool:
    """Ask Linux to SIGKILL this process when its parent ends (``PR_SET_PDEATHSIG``)."""
    return prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def landlock_abi() -> int:
    """Landlock ABI version of this kernel (0 when Landlock is absent or disabled)."""
    abi = libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(0, int(abi))


def landlock(policy: Policy) -> list[str]:
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
    fd = libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size),
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
            if libc.syscall(_SYS_LANDLOCK_ADD_RULE, ctypes.c_int(fd), ctypes.c_int(1),
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
        if not prctl(PR_SET_NO_NEW_PRIVS, 1):
            raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
        if libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(fd), ctypes.c_uint32(0)) != 0:
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


def seccomp() -> str:
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
    if libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP failed")
    return ("seccomp: no new sockets of families UNIX, IPv4, IPv6, packet; no io_uring "
            "(socketpair allowed)")
