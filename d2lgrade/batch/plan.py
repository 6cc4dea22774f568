"""What a batch is: its files, its entries (one per student), its settings, and the tasks still to grade (a restart skips finished students)."""
from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from d2lgrade.batch.student import (
    BatchError,
    fingerprint,
    finish_student,
    read_marker,
    student_seed,
    write_atomic,
)

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



def prepare(cfg: BatchConfig) -> tuple[int, list[Entry], list[dict], dict]:
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
