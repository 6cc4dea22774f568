"""Grading a whole class: every entry of a folder is one student's submission.

``d2lgrade grade-batch SUBMISSIONS_DIR --out DIR`` grades each entry (a folder or a zip) in
isolation and writes, per student, ``DIR/<student>/results.json``, ``junit.xml`` and the
student's page ``feedback.html`` (``report.write_outputs``) and last of all
``DIR/<student>/status.json``, the *completion marker*. Each finished student is recorded at
once in the gradebook database (``DIR/gradebook.sqlite`` or ``--db URL``:
``gradebook.batch_book``); at the end the class files ``DIR/gradebook.csv`` and
``DIR/summary.md`` are written as views of it, with ``DIR/histogram.png``.

Nothing is lost:

* Every file is written atomically (a temporary file, fsync, rename) and the marker comes
  last, so a batch killed at any moment (even with SIGKILL) leaves each student either done
  or not started. Started again, it grades only the students without a marker and never
  regrades finished work unless ``--force`` (or the submission changed since: the marker
  keeps a fingerprint of it).
* A submission that cannot be graded (a broken zip, no chapter packages) gets its row with
  the reason; a stray file of the class folder is reported and not graded. One that hangs past the per-submission limit, or that
  kills the process grading it, gets a row saying so; the worker is replaced (a dead
  worker's submission is tried once more in a fresh worker first) and the batch goes on.

Deterministic: the batch seed is recorded in ``DIR/batch.json`` (reused by a restart) and
each student's seed is derived from it and the student's name, so grading the same
submission twice gives identical scores.

Fast: ``--workers`` grading processes (default: the number of cores) each import torch,
pytest and the graders once and keep a warm forkserver (``handle.warm_up``); every
submission still gets fresh sandboxed children from it. The parent only dispatches work,
enforces the limits and writes the class files; it never runs a grader.
"""
from __future__ import annotations

import io
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path

#: The batch's own record: seed and chapters (a restart reuses them).
BATCH_FILE = "batch.json"
GRADEBOOK = "gradebook.csv"
HISTOGRAM = "histogram.png"
SUMMARY = "summary.md"
RESERVED = {GRADEBOOK, HISTOGRAM, SUMMARY, BATCH_FILE, "gradebook.sqlite"}
#: Default wall-time limit for one submission, in seconds.
DEFAULT_SUBMISSION_TIMEOUT = 900.0
#: A worker is replaced after this many submissions (bounds any slow leak in one process).
TASKS_PER_WORKER = 50
#: How often a submission is tried when the process grading it dies.
ATTEMPTS = 2
#: Time a new worker may take to import torch and start its forkserver.
WORKER_START_TIMEOUT = 180.0

from .gradebook import IMPORTED, STATUS_TEXT  # one spelling of every status, batch and gradebook
# one student's grading and files, shared with the Ray backend (re-exported: batch.MARKER ...)
from .batch_student import (MARKER, BatchError, finish_student, fingerprint,  # noqa: F401
                            grade_outcome, read_marker, student_seed, write_atomic)
#: statuses --retry-errors keeps: the grade is the submission's own (a module that does not
#: import fails the same way again)
GRADED_AS_IS = frozenset({"graded", "did_not_import"})



# -- entries and names ---------------------------------------------------------------------

@dataclass
class Entry:
    student: str
    path: Path
    problem: str | None = None  # why this entry cannot be graded at all
    #: a stray file of the class folder (notes.txt, a link): no student, reported, never graded
    stray: bool = False


def _safe_name(name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "student"
    return name[:100]


def discover(submissions_dir: str | os.PathLike) -> list[Entry]:
    """One entry per folder or zip (sorted); other visible files are ``stray`` entries (reported
    and skipped, no gradebook row)."""
    root = Path(submissions_dir)
    if not root.is_dir():
        raise BatchError(f"{root}: not a folder of submissions")
    entries: list[Entry] = []
    seen: Counter = Counter()
    for p in sorted(root.iterdir(), key=lambda p: p.name):
        if p.name.startswith((".", "__")):
            continue  # .DS_Store, __MACOSX, hidden folders
        stem = p.name[:-4] if p.is_file() and p.name.lower().endswith(".zip") else p.name
        name = _safe_name(stem)
        if name.lower() in RESERVED:  # a student folder must not shadow a class file
            name += "_"
        seen[name] += 1
        if seen[name] > 1:
            name = f"{name}-{seen[name]}"
        problem = None
        if p.is_symlink():
            problem = "a symbolic link, not a folder or a .zip"
        elif not (p.is_dir() or (p.is_file() and p.name.lower().endswith(".zip"))):
            problem = "not a folder or a .zip"
        entries.append(Entry(name, p.resolve() if not p.is_symlink() else p.absolute(), problem,
                             stray=problem is not None))
    return entries


def run_task(task: dict) -> dict:
    """Grade one student in this process and write everything (the worker's job)."""
    outcome = grade_outcome(task)
    return finish_student(Path(task["out"]), task, [outcome], worker=os.getpid(),
                          attempt=task.get("attempt", 1))


# -- the worker process -----------------------------------------------------------------------

def _die_with_parent(parent: int) -> None:
    """SIGKILL this worker when the batch ends (the student children ask the same in
    ``sandbox.enter``; the sandbox module does not import torch)."""
    from .sandbox import die_with_parent
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
    multiprocessing.get_context("forkserver").set_forkserver_preload(["torch", "d2lgrade.child"])
    forkserver.ensure_running()
    import pytest  # noqa: F401
    import torch  # noqa: F401
    from . import grading, plugin, report  # noqa: F401
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


def _descendants(pid: int) -> list[int]:
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
    victims = _descendants(pid)
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
                   PYTHONPATH=os.pathsep.join(p for p in (str(Path(__file__).resolve().parent.parent),
                                                          os.environ.get("PYTHONPATH")) if p))
        # Workers share the cores: torch's thread pools (in the worker and in the
        # submission's children, which keep these variables) get their share, unless set.
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(var, str(threads))
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log = open(log_dir / f"worker-{index}.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from d2lgrade.batch import worker_main; worker_main()"],
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


# -- the batch ----------------------------------------------------------------------------

@dataclass
class BatchConfig:
    submissions: Path
    out: Path
    workers: int
    seed: int | None = None
    chapters: list[str] | None = None
    force: bool = False
    retry_errors: bool = False
    timeout: float = DEFAULT_SUBMISSION_TIMEOUT
    call_timeout: float = 30.0
    backend: str = "local"
    progress: bool = True
    ray_address: str | None = None   # Ray: cluster address (None: a local Ray)
    gpus: float = 0.0                # Ray: GPUs requested for chapters with GPU-tier tests
    gpu_chapters: list[str] | None = None  # Ray: those chapters (None: found in the graders)
    # the gradebook (d2lgrade.gradebook.batch_book): database, roster, deadlines
    db: str | None = None            # SQLAlchemy URL or SQLite path (None: DIR/gradebook.sqlite)
    roster: Path | None = None
    deadlines: Path | None = None
    assignment: str | None = None
    due: str | None = None
    late_policy: str | None = None
    submitted_at: str | None = None  # one time for every submission (else zip/file times)
    times_csv: Path | None = None    # student,submitted_at


class Progress:
    """tqdm on a terminal; one plain line per student otherwise (logs, CI)."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.count, self.bar, self.running = total, 0, None, []
        self.enabled = enabled and total > 0
        self.tty = sys.stderr.isatty()
        if self.enabled and self.tty:
            try:
                from tqdm import tqdm
                # drawn at once (0/N), then done/total, rate and time left as students finish
                try:
                    size = os.get_terminal_size(sys.stderr.fileno())
                except OSError:
                    size = os.terminal_size((0, 0))
                # a terminal that reports no size (a bare pty) would hide the bar: assume one
                sized = size.columns > 0 and size.lines > 0
                self.bar = tqdm(total=total, unit="student", desc="grading", file=sys.stderr,
                                dynamic_ncols=sized, ncols=None if sized else 100,
                                nrows=None if sized else 24)
            except ImportError:
                pass

    def started(self, student: str) -> None:
        """On a terminal the bar names the students being graded now."""
        self.running.append(student)
        self._describe()

    def _describe(self) -> None:
        if self.bar is not None:
            now = ", ".join(self.running[:3]) + (" ..." if len(self.running) > 3 else "")
            self.bar.set_description_str(f"grading {now}" if now else "grading", refresh=True)

    def update(self, marker: dict) -> None:
        self.count += 1
        if marker["student"] in self.running:
            self.running.remove(marker["student"])
        if not self.enabled:
            return
        status = marker["status"]
        line = f"{marker['student']}: "
        if status in ("graded", "did_not_import"):
            line += f"{marker['score']:g}/{marker['max_score']:g}"
            if status != "graded":
                line += f" ({STATUS_TEXT[status]})"
        else:
            line += STATUS_TEXT.get(status, status)
        if self.bar is not None:
            self.bar.set_postfix_str(f"last: {line}"[:60], refresh=False)
            self._describe()
            self.bar.update(1)
        else:
            print(f"[{self.count}/{self.total}] {line} ({marker.get('elapsed_s', 0):.1f} s)",
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _prepare(cfg: BatchConfig) -> tuple[int, list[Entry], list[dict], dict]:
    """Seed, entries, tasks still to do, and the markers already there."""
    entries = discover(cfg.submissions)
    cfg.out.mkdir(parents=True, exist_ok=True)
    record_path = cfg.out / BATCH_FILE
    record = None
    if record_path.exists():
        try:
            record = json.loads(record_path.read_text())
        except ValueError:
            record = None
    chapters = sorted(cfg.chapters) if cfg.chapters else None
    if record and not cfg.force:
        if cfg.seed is not None and cfg.seed != record.get("seed"):
            raise BatchError(f"{cfg.out} was graded with seed {record.get('seed')}; use that "
                             "seed, --force to regrade everyone, or another --out")
        if chapters != record.get("chapters"):
            raise BatchError(f"{cfg.out} was graded with chapters {record.get('chapters') or 'all'}; "
                             "use the same --chapters, --force to regrade everyone, or another --out")
        seed = int(record["seed"])
    else:
        import secrets
        seed = cfg.seed if cfg.seed is not None else secrets.randbelow(2**31)
    write_atomic(record_path, json.dumps({"seed": seed, "chapters": chapters,
                                          "call_timeout": cfg.call_timeout}, indent=2))
    done: dict[str, dict] = {}
    todo: list[dict] = []
    for e in entries:
        if e.stray:
            continue
        task = {"student": e.student, "path": str(e.path), "seed": student_seed(seed, e.student),
                "batch_seed": seed, "chapters": chapters, "call_timeout": cfg.call_timeout,
                "out": str(cfg.out), "fingerprint": fingerprint(e.path), "problem": e.problem}
        marker = read_marker(cfg.out / e.student)
        if (marker and not cfg.force and marker.get("fingerprint") == task["fingerprint"]
                and marker.get("batch_seed") == seed
                and not (cfg.retry_errors and marker.get("status") not in GRADED_AS_IS)):
            done[e.student] = marker
        else:
            todo.append(task)
    return seed, entries, todo, done


def record_failure(cfg: BatchConfig, task: dict, status: str, message: str, **extra) -> dict:
    outcome = {"status": status, "message": message, "results": [], "notes": [],
               "elapsed": extra.pop("elapsed", 0.0)}
    return finish_student(cfg.out, task, [outcome], **extra)


def run_local(cfg: BatchConfig, todo: list[dict], on_done, on_start=None) -> None:
    """Grade ``todo`` with ``cfg.workers`` worker processes; ``on_start(student)`` when a
    student is sent to a worker, ``on_done(marker)`` when they are finished."""
    from .course import find_course
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


def run_batch(cfg: BatchConfig) -> dict:
    """Grade what is missing, record each student in the gradebook as they finish, then write
    the class files (views of the gradebook) and the histogram. Returns counts."""
    from .gradebook.batch_book import BatchBook
    from .gradebook.db import GradebookError
    seed, entries, todo, done = _prepare(cfg)
    try:
        book = BatchBook.open(out=cfg.out, entries=entries, chapters=cfg.chapters, seed=seed,
                              submissions=cfg.submissions, db=cfg.db, roster=cfg.roster,
                              deadlines=cfg.deadlines, assignment=cfg.assignment, due=cfg.due,
                              late_policy=cfg.late_policy, submitted_at=cfg.submitted_at,
                              times_csv=cfg.times_csv,
                              options={"chapters": cfg.chapters, "force": cfg.force})
    except (ValueError, GradebookError) as exc:  # a bad roster, deadline or URL: nothing graded
        raise BatchError(str(exc)) from None
    skipped = {e.student: e for e in entries if e.stray}
    for e in skipped.values():
        print(f"not a submission, not graded: {e.path.name} ({e.problem})", file=sys.stderr)
    book.report_roster()
    for task in todo:  # the deadline line goes on the student's page
        lateness, _ = book.lateness(task["student"])
        task["late"] = lateness.describe() if lateness.due_at else ""
    markers = dict(done)
    for marker in markers.values():  # a resumed batch: stored once (idempotent per marker)
        book.record(marker)
    progress = Progress(len(todo), cfg.progress)
    start = time.perf_counter()

    def on_done(marker: dict) -> None:
        markers[marker["student"]] = marker
        book.record(marker)  # committed now: a kill -9 of the batch loses nothing finished
        progress.update(marker)

    # Entries that cannot be submissions (bad zip, empty folder) get a row, never a worker.
    rest = []
    for task in todo:
        if task["problem"]:
            on_done(record_failure(cfg, task, "unusable", f"{Path(task['path']).name}: "
                                   f"{task['problem']}"))
        else:
            rest.append(task)
    try:
        if rest:
            if cfg.backend == "ray":
                from .batch_ray import run_ray
                run_ray(cfg, rest, on_done)
            else:
                run_local(cfg, rest, on_done, on_start=progress.started)
    finally:
        progress.close()
    elapsed = time.perf_counter() - start
    rows = [markers[e.student] for e in entries if e.student in markers]
    book.write_views(lambda name, text: write_atomic(cfg.out / name, text))
    try:
        write_atomic(cfg.out / HISTOGRAM, histogram_png(rows))
    except ImportError:  # matplotlib missing: the gradebook and summary still stand
        pass
    book.close()
    return {"seed": seed, "students": len(entries) - len(skipped), "graded_now": len(todo),
            "already_done": len(done), "elapsed": elapsed,
            "skipped": [e.path.name for e in skipped.values()],
            "by_status": dict(Counter(r["status"] for r in rows))}


# -- class files --------------------------------------------------------------------------------

def _percent(r: dict) -> float:
    return 100.0 * r["score"] / r["max_score"] if r["max_score"] else 0.0


def histogram_png(rows: list[dict]) -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    # like summary.md: only submissions that imported count (a broken one is not a zero score)
    scores = [_percent(r) for r in rows if r["status"] in IMPORTED]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.hist(scores, bins=list(range(0, 101, 10)), color="#4C72B0", edgecolor="white")
    ax.set_xlim(0, 100)
    ax.set_xlabel("score (%)")
    ax.set_ylabel("students")
    others = len(rows) - len(scores)
    ax.set_title(f"{len(scores)} submissions that imported"
                 + (f" ({others} others not counted)" if others else ""))
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
