"""What the child may do: its limits (``Limits``) and the file system allow-list (``Policy``), built by the parent."""
from __future__ import annotations

import glob
import os
import sys
from dataclasses import dataclass, field

from d2lgrade.paths import ENGINE_DIR

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
        from d2lgrade.course.layout import find_course
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
    # The engine's own package may live inside the course root; it is public code.
    read.append(os.path.realpath(ENGINE_DIR))
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
