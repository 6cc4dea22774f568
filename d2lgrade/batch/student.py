"""One student of a batch: seed, fingerprint, grading, and the student's files.

Shared by the local scheduler (``batch``) and the Ray backend (``batch_ray``), which both
import it and never each other's internals: ``grade_outcome`` grades one submission (in a
worker process or a Ray task), ``finish_student`` writes the student's ``results.json``,
``junit.xml`` and ``feedback.html`` (``report.write_outputs``) and then the completion marker
``status.json``, all atomically (``write_atomic``), in the process that owns the output folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from d2lgrade.gradebook import STATUS_TEXT

#: The completion marker of one student (written last).
MARKER = "status.json"


class BatchError(Exception):
    """The batch cannot start (missing folder, a DIR made with another seed...)."""


def student_seed(batch_seed: int, student: str) -> int:
    """The seed of one student: fixed by the batch seed and the student's name."""
    digest = hashlib.sha256(f"{batch_seed}/{student}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def fingerprint(path: Path, limit: int = 256 << 20) -> str:
    """A hash of the submission's files (names and contents), to notice a changed one."""
    h = hashlib.sha256()
    budget = limit
    try:
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                if "__pycache__" in f.parts or f.suffix == ".pyc" or not f.is_file() or f.is_symlink():
                    continue
                h.update(str(f.relative_to(path)).encode() + b"\0")
                size = f.stat().st_size
                if size <= budget:
                    h.update(f.read_bytes())
                    budget -= size
                else:
                    h.update(f"size:{size}".encode())
        elif path.is_file():
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    except OSError as exc:
        h.update(f"unreadable:{exc}".encode())
    return h.hexdigest()[:16]


# -- atomic files ----------------------------------------------------------------------------

def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``path`` so that it is either the old file or the whole new one."""
    if isinstance(data, str):
        data = data.encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_marker(student_dir: Path) -> dict | None:
    try:
        data = json.loads((student_dir / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("student") else None


# -- grading one student (runs in a worker) ---------------------------------------------------

def grade_outcome(task: dict, submission: str | os.PathLike | None = None) -> dict:
    """Grade one task and return what the reports need (test records as dicts).

    Never raises for a bad submission: the outcome's ``status`` says what happened.
    """
    from d2lgrade.course.layout import find_course
    from d2lgrade.errors import SubmissionUnusable
    from d2lgrade.grading.api import grade
    start = time.perf_counter()
    outcome = {"status": "graded", "message": "", "results": [], "notes": [],
               "chapters": task.get("chapters") or []}
    try:
        course = find_course(task.get("course_root"))
        run = grade(submission or task["path"], chapters=task.get("chapters"),
                    seed=task["seed"], isolation="process", course=course,
                    call_timeout=task.get("call_timeout", 30.0))
        outcome["results"] = [r.to_dict() for r in run.results]
        outcome["notes"] = run.notes
        outcome["protections"] = run.protection_report()
        outcome["chapters"] = run.chapters
        outcome["timing"] = run.timing
        if not run.results:
            outcome["status"], outcome["message"] = "unusable", "no tests were collected"
    except SubmissionUnusable as exc:
        outcome["status"], outcome["message"] = "unusable", str(exc)
    except Exception as exc:  # an internal error must not stop the batch either
        outcome["status"] = "error"
        outcome["message"] = f"{type(exc).__name__}: {str(exc)[-1500:]}"
    outcome["elapsed"] = round(time.perf_counter() - start, 3)
    if outcome.get("timing"):  # unpacking and result conversion count as start-up
        t = outcome["timing"]
        extra = max(0.0, outcome["elapsed"] - t["wall_s"])
        t.update(wall_s=outcome["elapsed"], startup_s=round(t["startup_s"] + extra, 4))
    return outcome


def _test_results(outcome_results: list[dict]):
    from d2lgrade.results.model import TestResult
    return [TestResult(**d) for d in outcome_results]


def _protections(outcomes: list[dict]) -> list[str]:
    """What the sandbox reported for this student's children (every chapter group's)."""
    seen = [p for o in outcomes for p in o.get("protections", [])]
    return list(dict.fromkeys(seen)) + ["batch worker"] if seen else ["batch worker (no student code ran)"]


def _sum_timing(parts) -> dict:
    """The time split of a student's chapter groups added up (``d2lgrade.results.timing``)."""
    total: dict = {}
    for part in parts:
        for k, v in (part or {}).items():
            total[k] = _sum_timing([total.get(k), v]) if isinstance(v, dict) else round(total.get(k, 0) + v, 4)
    return total


def finish_student(out_dir: Path, task: dict, outcomes: list[dict], **extra) -> dict:
    """Merge the outcomes of one student, write its reports and, last, its marker."""
    from d2lgrade.results.imports import import_problems, summary_line
    from d2lgrade.results.report import by_chapter, totals, write_outputs
    results = _test_results([r for o in outcomes for r in o["results"]])
    bad = [o for o in outcomes if o["status"] != "graded"]
    status = bad[0]["status"] if bad else "graded"
    message = "; ".join(o["message"] for o in bad if o["message"])
    problems = import_problems(results)
    if problems and status == "graded":  # a status of its own: it never looks graded
        status, message = "did_not_import", summary_line(problems)
    notes = [n for o in outcomes for n in o.get("notes", [])]
    elapsed = sum(o.get("elapsed", 0.0) for o in outcomes)
    output = "\n".join(([f"{STATUS_TEXT[status]}: {message}"] if bad else []) + notes)
    student_dir = out_dir / task["student"]
    page_notes = ([f"{STATUS_TEXT[status]}: {message}"] if bad else []) + notes
    write_outputs(student_dir, results, seed=task["seed"], isolation="process",
                  execution_time=elapsed, output=output,
                  protections=_protections(outcomes), write=write_atomic,
                  page={"submission": Path(task["path"]).name, "notes": page_notes,
                        "late": task.get("late", "")},
                  extra={"student": task["student"], "batch_seed": task["batch_seed"],
                         "status": status})
    score, max_score = totals(results)
    marker = {
        "student": task["student"], "source": str(task["path"]),
        "fingerprint": task["fingerprint"], "seed": task["seed"],
        "batch_seed": task["batch_seed"], "chapters": task.get("chapters"),
        "status": status, "message": message, "notes": notes,
        "score": score, "max_score": max_score,
        "chapter_scores": {c: list(totals(rs)) for c, rs in by_chapter(results).items()},
        "failed": sorted(r.display_name for r in results if r.status == "failed"),
        # the test records the gradebook stores (attachments stay in results.json's page)
        "results": [{k: v for k, v in r.to_dict().items() if k != "attachments"}
                    for r in results],
        "elapsed_s": round(elapsed, 3), "finished_at": time.time(),
        "timing": _sum_timing(o.get("timing") for o in outcomes), **extra,
    }
    write_atomic(student_dir / MARKER, json.dumps(marker, indent=2))
    for stale in student_dir.glob(".*.tmp"):  # left by a worker killed while writing
        stale.unlink(missing_ok=True)
    return marker
