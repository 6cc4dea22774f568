"""Grading one submission: unpack it, pick chapters, run the graders, write the reports.

The graders run in this (trusted) process under pytest, with the ``d2lgrade.plugin``; the
student's code runs behind the submission handle (a child process unless isolation is
"none"). Reports are written only after pytest has finished and the child is gone.
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from d2lgrade.course.layout import CHAPTER_RE, Course, find_course
from d2lgrade.errors import SubmissionUnusable
from d2lgrade.grading.state import STATE
from d2lgrade.results import timing
from d2lgrade.results.model import TestResult

#: Limits for unpacking a zip submission (a zip bomb is refused, not unpacked).
MAX_ZIP_MEMBERS = 5000
MAX_ZIP_BYTES = 200 * 1024 * 1024


@dataclass
class GradeRun:
    results: list[TestResult]
    seed: int
    isolation: str
    chapters: list[str]
    elapsed: float
    notes: list[str] = field(default_factory=list)
    protections: list[str] = field(default_factory=list)
    missing_protections: list[str] = field(default_factory=list)
    #: Where the time went (``d2lgrade.results.timing.Split.as_dict``).
    timing: dict = field(default_factory=dict)

    def protection_report(self) -> list[str]:
        """For ``results.json``: what was active, then what was missing (marked so)."""
        if self.isolation != "process":
            return ["none (in-process, --isolation none)"]
        if not self.protections:
            return ["child process (no student code ran)"]
        return [*self.protections, *[f"MISSING: {m}" for m in self.missing_protections]]

    @property
    def score(self) -> float:
        return sum(r.score for r in self.results)

    @property
    def max_score(self) -> float:
        return sum(r.max_score for r in self.results)


def _safe_extract(zip_path: Path, dest: Path) -> None:
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SubmissionUnusable(f"{zip_path}: not a readable zip file ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ZIP_MEMBERS:
            raise SubmissionUnusable(f"{zip_path}: {len(infos)} files is more than the "
                                     f"{MAX_ZIP_MEMBERS} allowed")
        if sum(i.file_size for i in infos) > MAX_ZIP_BYTES:
            raise SubmissionUnusable(f"{zip_path}: unpacks to more than {MAX_ZIP_BYTES >> 20} MiB")
        root = dest.resolve()
        for info in infos:
            target = (dest / info.filename).resolve()
            if not str(target).startswith(str(root) + os.sep) and target != root:
                raise SubmissionUnusable(f"{zip_path}: member {info.filename!r} points outside "
                                         "the submission")
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                continue  # symbolic links are not unpacked
            try:
                zf.extract(info, dest)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as exc:
                # e.g. a member whose data is larger than its header says (bad CRC)
                raise SubmissionUnusable(f"{zip_path}: member {info.filename!r} cannot be "
                                         f"unpacked ({exc})") from None


def _find_chapter_root(path: Path) -> Path:
    """The folder that holds the chNN_* packages (a zip often wraps them in one folder)."""
    for candidate in (path, *sorted(p for p in path.iterdir() if p.is_dir())):
        if any(CHAPTER_RE.match(p.name) and p.is_dir() for p in candidate.iterdir()):
            return candidate
    raise SubmissionUnusable(f"{path}: no chapter packages (folders named like ch03_basics) found")


def _has_notebooks(path: Path) -> bool:
    return any(".ipynb_checkpoints" not in p.parts for p in path.rglob("*.ipynb"))


def _with_notebooks(folder: Path, course: Course | None, notes: list[str]) -> None:
    """Write the modules of every notebook in ``folder`` (a private copy) beside it."""
    from d2lgrade.intake.notebook import materialize
    notes.extend(materialize(folder, course or find_course()))


@contextlib.contextmanager
def prepared_submission(path: str | os.PathLike, course: Course | None = None,
                        notes: list[str] | None = None):
    """Yield the folder of chapter packages for a submission folder, zip or notebook.

    Notebooks (``.ipynb``, alone or inside the folder/zip) are turned into chapter modules in
    a private copy (``d2lgrade.intake.notebook``); what that conversion says goes to ``notes``.
    """
    path = Path(path)
    if not path.exists():
        raise SubmissionUnusable(f"{path}: no such file or folder")
    if path.is_dir() and not _has_notebooks(path):
        yield _find_chapter_root(path.resolve())
        return
    if path.is_file() and path.suffix.lower() not in (".zip", ".ipynb"):
        raise SubmissionUnusable(f"{path}: a submission is a folder, a .zip or a .ipynb notebook")
    tmp = Path(tempfile.mkdtemp(prefix="d2lgrade-sub-"))
    try:
        if path.is_dir():
            shutil.copytree(path, tmp, dirs_exist_ok=True, symlinks=True,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        elif path.suffix.lower() == ".ipynb":
            from d2lgrade.intake.cells import NotebookUnreadable, read_notebook
            try:
                read_notebook(path)
            except NotebookUnreadable as exc:
                raise SubmissionUnusable(str(exc)) from None
            shutil.copy(path, tmp / path.name)
        else:
            _safe_extract(path, tmp)
        found: list[str] = []
        if _has_notebooks(tmp):
            _with_notebooks(tmp, course, found)
        if notes is not None:
            notes.extend(found)
        try:
            root = _find_chapter_root(tmp)
        except SubmissionUnusable as exc:
            raise SubmissionUnusable("; ".join([str(exc), *found])) from None
        yield root
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class _Collector:
    """A pytest plugin object that keeps the session's results after it ends."""

    def __init__(self) -> None:
        self.results: list[TestResult] = []
        self.seed: int | None = None
        self.protections: tuple[list, list] = ([], [])
        self.collected_at: float | None = None

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected_at = time.perf_counter()  # pytest start-up and grader imports end here

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem):
        # Per chapter: the test with its fixtures' setup and teardown (d2lgrade.results.timing).
        with timing.chapter_part(item.nodeid):
            yield

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        state = session.config.stash[STATE]
        state.close()  # the child is gone before anything is reported
        self.results = list(state.results.values())
        self.seed = state.seed
        self.protections = (state.protections, state.missing_protections)


def run_graders(submission_dir: Path, course: Course, chapters: list[str], *, seed: int | None,
                isolation: str, node_ids: list[str] | None = None,
                call_timeout: float = 30.0, quiet: bool = True) -> GradeRun:
    """Run the graders of ``chapters`` (or just ``node_ids``) against one submission."""
    targets = node_ids or [str(course.graders / c) for c in chapters]
    args = [*targets, "--d2l-submission", str(submission_dir), "--d2l-isolation", isolation,
            "--d2l-course", str(course.root), "--d2l-call-timeout", str(call_timeout),
            "-p", "no:cacheprovider", "--import-mode=importlib", "--rootdir", str(course.root)]
    if seed is not None:
        args += ["--d2l-seed", str(seed)]
    if quiet:
        args += ["-q", "--no-header", "-W", "ignore::pytest.PytestAssertRewriteWarning",
                 # Its end-of-session gc.collect() over torch's heap cost ~0.2 s a
                 # submission (a third of a warm batch worker's time for chapter 2), for
                 # warnings that quiet mode never shows.
                 "-p", "no:unraisableexception"]
    collector = _Collector()
    split = timing.reset()
    start = time.perf_counter()
    sink = io.StringIO()
    if quiet:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            code = pytest.main(args, plugins=[collector])
    else:
        code = pytest.main(args, plugins=[collector])
    elapsed = time.perf_counter() - start
    split.startup_s += (collector.collected_at or start) - start
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        raise RuntimeError(f"the graders could not run (pytest exit code {int(code)}):\n"
                           f"{sink.getvalue()[-3000:]}")
    return GradeRun(collector.results, collector.seed, isolation, chapters, elapsed,
                    protections=collector.protections[0],
                    missing_protections=collector.protections[1],
                    timing=split.as_dict(elapsed))


def select_chapters(course: Course, submission_dir: Path, requested: list[str] | None) -> tuple[list[str], list[str]]:
    """(chapters to grade, notes). Without a request: every graded chapter the submission has."""
    available = course.chapters()
    present = {p.name for p in submission_dir.iterdir() if p.is_dir() and CHAPTER_RE.match(p.name)}
    notes = []
    if requested:
        unknown = [c for c in requested if c not in available]
        if unknown:
            raise SubmissionUnusable(f"no graders for chapter(s) {', '.join(unknown)}; "
                                     f"known: {', '.join(available)}")
        for c in requested:
            if c not in present:
                notes.append(f"{c}: not in the submission, every test of it fails")
        return list(requested), notes
    chosen = [c for c in available if c in present]
    if not chosen:
        raise SubmissionUnusable(f"{submission_dir}: none of the graded chapters "
                                 f"({', '.join(available)}) is in the submission")
    return chosen, notes


def grade(submission: str | os.PathLike, *, chapters: list[str] | None = None,
          seed: int | None = None, isolation: str = "process", course: Course | None = None,
          call_timeout: float = 30.0) -> GradeRun:
    course = course or find_course()
    nb_notes: list[str] = []
    with prepared_submission(submission, course, nb_notes) as sub_dir:
        chosen, notes = select_chapters(course, sub_dir, chapters)
        run = run_graders(sub_dir, course, chosen, seed=seed, isolation=isolation,
                          call_timeout=call_timeout)
    run.notes = nb_notes + notes
    return run
