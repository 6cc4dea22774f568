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

Where each part lives: ``policy`` (limits and the allow-list, built by the parent), ``kernel``
(prctl, Landlock, seccomp through ctypes), ``processes`` (cgroups, namespaces, the supervisor)
and ``enter`` (what the child runs, and the per-call limits). This module is the interface.
"""
from d2lgrade.isolation.sandbox.enter import (
           after_call,
           before_call,
           enter,
           scrub_environ_block,
)
from d2lgrade.isolation.sandbox.kernel import die_with_parent, landlock_abi
from d2lgrade.isolation.sandbox.policy import (
           Limits,
           Policy,
           build_policy,
           disabled_parts,
           enabled,
)
from d2lgrade.isolation.sandbox.processes import kill_descendants, remove_cgroups

__all__ = ["Limits", "Policy", "after_call", "before_call", "build_policy", "die_with_parent",
           "disabled_parts", "enabled", "enter", "kill_descendants", "landlock_abi",
           "remove_cgroups", "scrub_environ_block"]
