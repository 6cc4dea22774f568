"""What both platform exports share: the course files an autograder carries, and grading one submission into a platform's folder."""
from __future__ import annotations

import json
import sys
from pathlib import Path

CONFIG_NAME = "d2lgrade-autograder.json"
#: What the autograder zip carries from the course root.
COURSE_TOP = ("d2lgrade", "graders", "solutions", "fixtures", "pyproject.toml", "README.md")
#: Never shipped: caches, generated data, the mutants and samples (they are for validation).
SKIP_PARTS = {"__pycache__", ".pytest_cache"}
SKIP_PREFIXES = ("fixtures/generated", "fixtures/mutants", "fixtures/samples")


class ExportError(Exception):
    """The export cannot be made (unknown chapter...)."""


def check_chapters(course, chapters: list[str]) -> list[str]:
    known = course.chapters()
    unknown = [c for c in chapters if c not in known]
    if unknown:
        raise ExportError(f"no graders for chapter(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return list(chapters)


def course_files(root: Path, chapters: list[str]):
    """(path, name in the archive) for every file the autograder needs.

    Graders and solutions of other chapters stay out: the zip holds only this assignment.
    """
    from d2lgrade.course.layout import CHAPTER_RE
    for top in COURSE_TOP:
        p = root / top
        if p.is_file():
            yield p, top
            continue
        for f in sorted(p.rglob("*")):
            rel = f.relative_to(root).as_posix()
            if (not f.is_file() or f.is_symlink() or SKIP_PARTS & set(f.parts)
                    or f.suffix == ".pyc" or rel.startswith(SKIP_PREFIXES)):
                continue
            parts = rel.split("/")
            if (top in ("graders", "solutions") and len(parts) > 2
                    and CHAPTER_RE.match(parts[1]) and parts[1] not in chapters):
                continue
            yield f, rel


def prepare_fixtures() -> None:
    """Build the project's generated data once (setup time, not grading time)."""
    from d2lgrade.course.datasets import fashion_mnist_like
    from d2lgrade.course.layout import find_course
    fashion_mnist_like(find_course().fixtures / "generated" / "fashion_mnist")


def _unusable_results(message: str, seed: int | None) -> dict:
    return {"score": 0.0, "max_score": 0.0, "execution_time": 0.0,
            "output": f"Your submission could not be graded: {message}",
            "visibility": "visible", "stdout_visibility": "hidden",
            "extra_data": {"seed": seed, "error": message}, "tests": []}


def _submission_in(folder: Path) -> Path:
    """The folder itself, or the one zip in it when the upload was a single zip."""
    from d2lgrade.course.layout import CHAPTER_RE
    if folder.is_dir():
        entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
        has_chapters = any(p.is_dir() and (CHAPTER_RE.match(p.name) or any(
            CHAPTER_RE.match(q.name) for q in p.iterdir() if q.is_dir())) for p in entries)
        zips = [p for p in entries if p.suffix.lower() == ".zip"]
        if not has_chapters and len(zips) == 1:
            return zips[0]
    return folder


def _student_seed(seed: int, who: str | None) -> int:
    from d2lgrade.batch.student import student_seed
    return student_seed(seed, who) if who else seed


def grade_to(submission: Path, out: Path, config: dict, who: str | None) -> dict:
    """Grade ``submission`` with an exported config; always writes ``out/results.json``."""
    from d2lgrade.errors import SubmissionUnusable
    from d2lgrade.grading.api import grade
    from d2lgrade.results.report import write_outputs
    seed = _student_seed(int(config["seed"]), who)
    out.mkdir(parents=True, exist_ok=True)
    try:
        run = grade(_submission_in(submission), chapters=config["chapters"], seed=seed,
                    call_timeout=float(config.get("call_timeout", 30.0)))
    except SubmissionUnusable as exc:
        data = _unusable_results(str(exc), seed)
        (out / "results.json").write_text(json.dumps(data, indent=2))
        return data
    except Exception as exc:  # the platform must still get a results.json
        data = _unusable_results(f"internal error ({type(exc).__name__}); please tell your "
                                 "instructor", seed)
        (out / "results.json").write_text(json.dumps(data, indent=2))
        print(f"d2lgrade: internal error: {exc}", file=sys.stderr)
        return data
    from d2lgrade.results.report import format_table
    table = format_table(run.results, seed=seed)
    output = "\n".join([*run.notes, table])
    # the student's page beside results.json (Gradescope keeps /autograder/results/; the
    # Classroom workflow uploads the folder as an artifact)
    data = write_outputs(out, run.results, seed=seed, isolation=run.isolation,
                         execution_time=run.elapsed, output=output,
                         protections=run.protection_report(),
                         page={"submission": who or submission.name, "notes": run.notes})
    print(table)
    return data
