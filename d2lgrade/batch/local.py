"""The local backend: worker processes on this machine, each grading one student at a time with a warm forkserver."""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

from d2lgrade.batch.plan import (
    ATTEMPTS,
    TASKS_PER_WORKER,
    WORKER_START_TIMEOUT,
    BatchConfig,
    record_failure,
)
from d2lgrade.batch.student import (
    finish_student,
    grade_outcome,
    read_marker,
)
from d2lgrade.paths import ENGINE_PARENT


def run_task(task: dict) -> dict:
    """Grade one student in this process and write everything (the worker's job)."""
    outcome = grade_outcome(task)
    return finish_student(Path(task["out"]), task, [outcome], worker=os.getpid(),
                          attempt=task.get("attempt", 1))


# -- the worker process -----------------------------------------------------------------------

def _die_with_parent(parent: int) -> None:
    """SIGKILL this worker when the batch ends (the student children ask the same in
    ``sandbox.enter``; the sandbox module does not import torch)."""
    from d2lgrade.isolation.sandbox import die_with_parent
    die_with_parent()
    if os.getppid() != parent:  # the parent was already gone before we asked
        os._exit(1)


def worker_main() -> None:
    """A grading worker: reads tasks (JSON lines) on stdin, answers on the result fd."""
    fd = int(os.environ.pop("D2LGRADE_RESULT_FD"))
    _die_with_parent(int(os.environ.pop("D2LGRADE_PARENT_PID")))
    # The imports a submission would otherwise pay for: the forkserver first (it imports
    # torch in its own process, in parallel with ours), then torch, pytest, our plugin.
    # (The same context and preload list as handle._forkserver(), which imports torch at
    # its top, so it is not imported yet; handle finds this server running.)
    import multiprocessing
    from multiprocessing import forkserver
    multiprocessing.get_context("forkserver").set_forkserver_preload(["torch", "d2lgrade.isolation.child"])
    forkserver.ensure_running()

    out = os.fdopen(fd, "w", buffering=1)
    out.write(json.dumps({"ready": os.getpid()}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        task = json.loads(line)
        try:
            marker = run_task(task)
            reply = {"done": task["student"], "status": marker["status"]}
        except Exception as exc:  # writing the reports failed: the parent records it
            reply = {"failed": task["student"], "message": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc), found before anything is killed."""
    children: dict[int, list[int]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(name))
    found, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            found.append(c)
            todo.append(c)
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL a worker, its forkserver and every submission child below them."""
    victims = descendants(pid)
    for target in (pid, *victims):
        try:
            pgid = os.getpgid(target)
            if pgid == target:       # children call setsid(): kill their whole group
                os.killpg(pgid, signal.SIGKILL)
            else:
                os.kill(target, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class Worker:
    """One grading process and the task it is working on."""

    def __init__(self, course_root: Path, log_dir: Path, index: int, threads: int = 1):
        r, w = os.pipe()
        env = dict(os.environ, D2LGRADE_RESULT_FD=str(w), D2LGRADE_PARENT_PID=str(os.getpid()),
                   PYTHONPATH=os.pathsep.join(p for p in (str(ENGINE_PARENT),
                                                          os.environ.get("PYTHONPATH")) if p))
        # Workers share the cores: torch's thread pools (in the worker and in the
        # submission's children, which keep these variables) get their share, unless set.
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(var, str(threads))
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log = open(log_dir / f"worker-{index}.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from d2lgrade.batch.local import worker_main; worker_main()"],
            stdin=subprocess.PIPE, stdout=self.log, stderr=self.log, pass_fds=(w,),
            cwd=course_root, env=env, start_new_session=True)
        os.close(w)
        self.fd = r
        self.buf = b""
        self.ready = False
        self.started = time.monotonic()
        self.task: dict | None = None
        self.deadline = 0.0
        self.sent_at = 0.0
        self.done_tasks = 0

    def send(self, task: dict, timeout: float) -> None:
        self.task = task
        self.sent_at = time.time()
        self.deadline = time.monotonic() + timeout
        self.proc.stdin.write((json.dumps(task) + "\n").encode())
        self.proc.stdin.flush()

    def read_messages(self) -> list[dict] | None:
        """Complete messages now available, or None when the worker is gone."""
        chunk = os.read(self.fd, 65536)
        if not chunk:
            return None
        self.buf += chunk
        *lines, self.buf = self.buf.split(b"\n")
        return [json.loads(x) for x in lines if x.strip()]

    def stop(self, kill: bool = False) -> None:
        if kill:
            kill_tree(self.proc.pid)
        else:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=30 if not kill else 10)
        except subprocess.TimeoutExpired:
            kill_tree(self.proc.pid)
            self.proc.wait(timeout=10)
        os.close(self.fd)
        self.log.close()


def run_local(cfg: BatchConfig, todo: list[dict], on_done, on_start=None) -> None:
    """Grade ``todo`` with ``cfg.workers`` worker processes; ``on_start(student)`` when a
    student is sent to a worker, ``on_done(marker)`` when they are finished."""
    from d2lgrade.course.layout import find_course
    course_root = find_course().root
    queue = deque(todo)
    log_dir = cfg.out / ".logs"
    workers: list[Worker] = []
    index = 0

    n = max(1, min(cfg.workers, len(queue)))
    threads = max(1, (os.cpu_count() or 1) // n)

    def spawn() -> Worker:
        nonlocal index
        index += 1
        return Worker(course_root, log_dir, index, threads)

    workers = [spawn() for _ in range(n)]
    try:
        while queue or any(w.task for w in workers):
            for w in workers:
                if w.ready and w.task is None and queue:
                    w.send(queue.popleft(), cfg.timeout)
                    if on_start is not None:
                        on_start(w.task["student"])
            now = time.monotonic()
            deadlines = [w.deadline if w.task else w.started + WORKER_START_TIMEOUT
                         for w in workers if w.task or not w.ready]
            wait = max(0.0, min(deadlines, default=now + 1.0) - now)
            readable, _, _ = select.select([w.fd for w in workers], [], [], min(wait, 1.0))
            for i, w in enumerate(list(workers)):
                replace = False
                if w.fd in readable:
                    msgs = w.read_messages()
                    if msgs is None:  # the worker died
                        replace = True
                        code = w.proc.poll()
                        w.stop(kill=True)
                        code = w.proc.returncode if code is None else code
                        task = w.task
                        marker = read_marker(cfg.out / task["student"]) if task else None
                        if (marker and marker.get("seed") == task["seed"]
                                and marker.get("finished_at", 0) >= w.sent_at):
                            on_done(marker)  # it died after finishing this student
                        elif task is not None:
                            task["attempt"] = task.get("attempt", 1) + 1
                            if task["attempt"] <= ATTEMPTS:
                                queue.appendleft(task)
                            else:
                                on_done(record_failure(
                                    cfg, task, "crashed",
                                    f"the process grading this submission died twice (exit code "
                                    f"{code}); a submission that kills its grader gets no credit",
                                    elapsed=round(time.monotonic() - w.deadline + cfg.timeout, 3)))
                        elif not w.ready:
                            raise RuntimeError(f"a grading worker could not start (exit code "
                                               f"{code}); see {log_dir}")
                    else:
                        for m in msgs:
                            if "ready" in m:
                                w.ready = True
                            elif "done" in m or "failed" in m:
                                task, w.task = w.task, None
                                w.done_tasks += 1
                                if "failed" in m:
                                    on_done(record_failure(cfg, task, "error", m["message"]))
                                else:
                                    marker = read_marker(cfg.out / task["student"])
                                    on_done(marker or record_failure(
                                        cfg, task, "error", "the worker wrote no marker"))
                        if w.task is None and w.done_tasks >= TASKS_PER_WORKER:
                            w.stop()
                            replace = True
                elif w.task is not None and time.monotonic() > w.deadline:
                    task = w.task
                    w.stop(kill=True)
                    replace = True
                    on_done(record_failure(cfg, task, "timeout",
                                           f"grading took longer than the {cfg.timeout:g} s "
                                           "allowed for one submission and was stopped",
                                           elapsed=cfg.timeout))
                elif not w.ready and time.monotonic() > w.started + WORKER_START_TIMEOUT:
                    w.stop(kill=True)
                    raise RuntimeError(f"a grading worker did not start within "
                                       f"{WORKER_START_TIMEOUT:g} s; see {log_dir}")
                if replace:
                    workers[i] = spawn() if queue else None
            workers = [w for w in workers if w is not None]
            if not workers and queue:
                workers = [spawn()]
    finally:
        for w in workers:
            w.stop(kill=w.task is not None)


class LocalBackend:
    """Worker processes on this machine (``--workers``), each reused for many students."""

    name = "local"

    def run(self, cfg: BatchConfig, todo: list[dict], on_done, on_start=None) -> None:
        run_local(cfg, todo, on_done, on_start=on_start)
