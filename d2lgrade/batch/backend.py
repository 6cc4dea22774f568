"""The interface every batch backend implements, and the choice between them.

A backend grades a list of tasks (one per student, from ``plan.prepare``) somewhere: worker
processes on this machine (``local.LocalBackend``) or a Ray cluster
(``ray_backend.RayBackend``). The scheduler does everything else: it plans the batch, records
each finished student in the gradebook through ``on_done``, and writes the class files, so a
new backend (a queue, a cluster scheduler) only has to implement ``run``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Protocol, runtime_checkable

from d2lgrade.batch.student import BatchError

if TYPE_CHECKING:  # annotations only
    from d2lgrade.batch.plan import BatchConfig

#: The names ``--backend`` accepts.
BACKENDS = ("local", "ray")


@runtime_checkable
class Backend(Protocol):
    """What the scheduler needs from a backend."""

    name: str

    def run(self, cfg: "BatchConfig", todo: list[dict], on_done: Callable[[dict], None],
            on_start: Callable[[str], None] | None = None) -> None:
        """Grade every task in ``todo``. In this process, call ``on_done(marker)`` once per
        student as soon as the student's files and completion marker are written
        (``student.finish_student``), and ``on_start(student)`` when grading of a student
        starts, where the backend can tell. One student's failure (a crash, a time-out, a
        lost worker or node) is that student's marker, never an exception; ``BatchError`` is
        for a backend that cannot run at all (no cluster to connect to)."""


def backend_for(name: str) -> Backend:
    """The backend called ``name`` (one of ``BACKENDS``)."""
    if name == "local":
        from d2lgrade.batch.local import LocalBackend
        return LocalBackend()
    if name == "ray":
        from d2lgrade.batch.ray_backend import RayBackend
        return RayBackend()
    raise BatchError(f"unknown backend {name!r}: use one of {', '.join(BACKENDS)}")
