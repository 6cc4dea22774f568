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

The parts: ``plan`` (the batch's files, entries, settings and what is left to grade), this
module (one batch from start to class files), ``backend`` (the interface every backend
implements), ``local`` and ``ray_backend`` (the two backends), ``student`` (one student's
grading and files, shared by both), ``progress`` (the progress display and histogram).
"""
from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

from d2lgrade.batch.backend import backend_for
from d2lgrade.batch.plan import HISTOGRAM, BatchConfig, prepare, record_failure
from d2lgrade.batch.progress import Progress, histogram_png
from d2lgrade.batch.student import BatchError, write_atomic


def run_batch(cfg: BatchConfig) -> dict:
    """Grade what is missing, record each student in the gradebook as they finish, then write
    the class files (views of the gradebook) and the histogram. Returns counts."""
    from d2lgrade.gradebook.batch_book import BatchBook
    from d2lgrade.gradebook.rows import GradebookError
    seed, entries, todo, done = prepare(cfg)
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
            backend_for(cfg.backend).run(cfg, rest, on_done, on_start=progress.started)
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
