"""Exports to the platforms courses use: a Gradescope autograder and a GitHub Classroom workflow.

``d2lgrade export gradescope OUT.zip --chapters ...`` writes a Gradescope autograder zip:
the course (engine, graders, reference solutions, fixture builders), ``setup.sh`` (installs
the project into ``/autograder/venv``), ``run_autograder`` (grades ``/autograder/submission``,
writes ``/autograder/results/results.json``) and ``d2lgrade-autograder.json`` (chapters,
seed, call timeout).

``d2lgrade export github-classroom OUT_DIR --chapters ...`` writes
``OUT_DIR/.github/workflows/classroom.yml`` for the assignment's template repository. On
every push it checks out the student's repository and the (private) course repository,
grades, and reports the score through GitHub Classroom's grading reporter.

Both runners call back into this module (``python -m d2lgrade.export gradescope-run`` /
``classroom-run``), so the logic is tested here rather than in shell. The roots can be
moved (``--root`` or ``D2LGRADE_AUTOGRADER_ROOT``) so that tests run against a simulated
``/autograder`` tree.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import sys
import time
import zipfile
from pathlib import Path

CONFIG_NAME = "d2lgrade-autograder.json"
#: What the autograder zip carries from the course root.
COURSE_TOP = ("d2lgrade", "graders", "solutions", "fixtures", "pyproject.toml", "README.md")
#: Never shipped: caches, generated data, the mutants and samples (they are for validation).
SKIP_PARTS = {"__pycache__", ".pytest_cache"}
SKIP_PREFIXES = ("fixtures/generated", "fixtures/mutants", "fixtures/samples")


class ExportError(Exception):
    """The export cannot be made (unknown chapter...)."""


def _check_chapters(course, chapters: list[str]) -> list[str]:
    known = course.chapters()
    unknown = [c for c in chapters if c not in known]
    if unknown:
        raise ExportError(f"no graders for chapter(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return list(chapters)


def course_files(root: Path, chapters: list[str]):
    """(path, name in the archive) for every file the autograder needs.

    Graders and solutions of other chapters stay out: the zip holds only this assignment.
    """
    from .course import CHAPTER_RE
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


SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image (Ubuntu base image).
# It installs Python 3.11 and this course's grader into /autograder/venv.
set -euo pipefail
cd /autograder/source
if ! command -v python3.11 >/dev/null 2>&1; then
  apt-get update
  apt-get install -y python3.11 python3.11-venv
fi
python3.11 -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --upgrade pip
# Extra pip options, e.g. an index of CPU-only torch wheels (Gradescope has no GPU): edit
# PIP_ARGS here before uploading.
PIP_ARGS=""
/autograder/venv/bin/python -m pip install $PIP_ARGS /autograder/source
# Build the data fixtures now, so grading a submission does not pay for it.
/autograder/venv/bin/python -c "from d2lgrade.export import prepare_fixtures; prepare_fixtures()"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission: grades /autograder/submission and writes
# /autograder/results/results.json. The root can be moved for a local test:
#   D2LGRADE_AUTOGRADER_ROOT=/tmp/ag D2LGRADE_PYTHON=python3 bash run_autograder
set -uo pipefail
ROOT="${1:-${D2LGRADE_AUTOGRADER_ROOT:-/autograder}}"
PY="${D2LGRADE_PYTHON:-$ROOT/venv/bin/python}"
cd "$ROOT/source"
export PYTHONPATH="$ROOT/source"
exec "$PY" -m d2lgrade.export gradescope-run --root "$ROOT"
"""


def _zip_text(zf: zipfile.ZipFile, name: str, text: str, mode: int = 0o644) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, text)


def export_gradescope(course, dest: Path, *, chapters: list[str], seed: int | None = None,
                      call_timeout: float = 30.0) -> Path:
    chapters = _check_chapters(course, chapters)
    config = {"chapters": chapters, "seed": seed if seed is not None else secrets.randbelow(2**31),
              "call_timeout": call_timeout}
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        _zip_text(zf, "setup.sh", SETUP_SH, 0o755)
        _zip_text(zf, "run_autograder", RUN_AUTOGRADER, 0o755)
        _zip_text(zf, CONFIG_NAME, json.dumps(config, indent=2) + "\n")
        for path, name in course_files(course.root, chapters):
            zf.write(path, name)
    os.replace(tmp, dest)
    return dest


def prepare_fixtures() -> None:
    """Build the project's generated data once (setup time, not grading time)."""
    from .course import find_course
    from .datasets import fashion_mnist_like
    fashion_mnist_like(find_course().fixtures / "generated" / "fashion_mnist")


def _unusable_results(message: str, seed: int | None) -> dict:
    return {"score": 0.0, "max_score": 0.0, "execution_time": 0.0,
            "output": f"Your submission could not be graded: {message}",
            "visibility": "visible", "stdout_visibility": "hidden",
            "extra_data": {"seed": seed, "error": message}, "tests": []}


def _submission_in(folder: Path) -> Path:
    """The folder itself, or the one zip in it when the upload was a single zip."""
    from .course import CHAPTER_RE
    if folder.is_dir():
        entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
        has_chapters = any(p.is_dir() and (CHAPTER_RE.match(p.name) or any(
            CHAPTER_RE.match(q.name) for q in p.iterdir() if q.is_dir())) for p in entries)
        zips = [p for p in entries if p.suffix.lower() == ".zip"]
        if not has_chapters and len(zips) == 1:
            return zips[0]
    return folder


def _student_seed(seed: int, who: str | None) -> int:
    from .batch_student import student_seed
    return student_seed(seed, who) if who else seed


def grade_to(submission: Path, out: Path, config: dict, who: str | None) -> dict:
    """Grade ``submission`` with an exported config; always writes ``out/results.json``."""
    from .errors import SubmissionUnusable
    from .grading import grade
    from .report import write_outputs
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
    from .report import format_table
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


def gradescope_run(root: Path) -> int:
    """What ``run_autograder`` does: grade ROOT/submission into ROOT/results."""
    config = json.loads((root / "source" / CONFIG_NAME).read_text())
    who = None
    meta = root / "submission_metadata.json"
    if meta.exists():
        try:
            users = json.loads(meta.read_text()).get("users") or []
            who = users[0].get("email") or str(users[0].get("id")) if users else None
        except (ValueError, AttributeError, IndexError):
            who = None
    grade_to(root / "submission", root / "results", config, who)
    return 0


# -- GitHub Classroom --------------------------------------------------------------------------

CLASSROOM_YML = """# GitHub Classroom autograding for {chapters_text} (written by `d2lgrade export github-classroom`).
# Put this file in the assignment's template repository. Set, in the classroom's organization:
#   variable D2LGRADE_GRADER_REPO  owner/name of the private repository that holds the course
#   secret   D2LGRADE_GRADER_TOKEN a read-only token for that repository
name: Autograding Tests
"on":
  - push
  - workflow_dispatch
  - repository_dispatch
permissions:
  checks: write
  actions: read
  contents: read
jobs:
  run-autograding-tests:
    name: Autograding Tests
    runs-on: ubuntu-latest
    if: github.actor != 'github-classroom[bot]'
    timeout-minutes: 30
    env:
      D2LGRADE_CHAPTERS: "{chapters}"
      D2LGRADE_SEED: "{seed}"
      D2LGRADE_CALL_TIMEOUT: "{call_timeout}"
    steps:
      - name: Check out the submission
        uses: actions/checkout@v4
        with:
          path: submission
      - name: Check out the grader
        uses: actions/checkout@v4
        with:
          repository: ${{{{ vars.D2LGRADE_GRADER_REPO || '{grader_repo}' }}}}
          token: ${{{{ secrets.D2LGRADE_GRADER_TOKEN }}}}
          path: grader
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install the grader
        id: install
        run: python -m pip install ./grader
      - name: Grade
        id: d2lgrade
        run: |
          cd "$GITHUB_WORKSPACE/grader"
          python -m d2lgrade.export classroom-run --submission "$GITHUB_WORKSPACE/submission" --out "$GITHUB_WORKSPACE/d2lgrade-results"
      - name: Autograding Reporter
        uses: classroom-resources/autograding-grading-reporter@v1
        env:
          D2LGRADE_RESULTS: "${{{{ steps.d2lgrade.outputs.result }}}}"
        with:
          runners: d2lgrade
"""


def export_github_classroom(course, dest: Path, *, chapters: list[str], seed: int | None = None,
                            call_timeout: float = 30.0, grader_repo: str = "") -> Path:
    chapters = _check_chapters(course, chapters)
    seed = seed if seed is not None else secrets.randbelow(2**31)
    path = dest / ".github" / "workflows" / "classroom.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CLASSROOM_YML.format(chapters=" ".join(chapters), chapters_text=", ".join(chapters),
                                         seed=seed, call_timeout=f"{call_timeout:g}",
                                         grader_repo=grader_repo or "OWNER/COURSE-REPOSITORY"))
    return path


def classroom_results(data: dict) -> dict:
    """Gradescope-style results → the JSON that GitHub Classroom's grading reporter reads."""
    tests = []
    for t in data["tests"]:
        if t["status"] == "skipped":
            continue  # not run here (tier): counts neither way
        tests.append({"name": t["name"], "status": "pass" if t["status"] == "passed" else "fail",
                      "score": t["score"], "max_score": t["max_score"],
                      "message": t["output"] if t["status"] != "passed" else "",
                      "test_code": "", "filename": "", "line_no": 0,
                      "execution_time": f"{t.get('extra_data', {}).get('duration_s', 0):.2f}s"})
    if not data["tests"] and data.get("extra_data", {}).get("error"):
        status = "error"
        tests.append({"name": "submission", "status": "error", "score": 0, "max_score": 0,
                      "message": data["output"], "test_code": "", "filename": "", "line_no": 0,
                      "execution_time": "0s"})
    else:
        status = "pass" if all(t["status"] == "pass" for t in tests) else "fail"
    return {"version": 1, "status": status, "max_score": data["max_score"], "tests": tests}


def classroom_run(submission: Path, out: Path) -> int:
    """What the workflow's grading step does; reads its settings from D2LGRADE_* variables."""
    config = {"chapters": os.environ["D2LGRADE_CHAPTERS"].split(),
              "seed": int(os.environ.get("D2LGRADE_SEED", "0")),
              "call_timeout": float(os.environ.get("D2LGRADE_CALL_TIMEOUT", "30"))}
    data = grade_to(submission, out, config, os.environ.get("GITHUB_REPOSITORY"))
    result = classroom_results(data)
    (out / "classroom.json").write_text(json.dumps(result, indent=2))
    encoded = base64.b64encode(json.dumps(result).encode()).decode()
    if os.environ.get("GITHUB_OUTPUT"):
        with open(os.environ["GITHUB_OUTPUT"], "a") as fh:
            fh.write(f"result={encoded}\n")
    line = f"Points {data['score']:g}/{data['max_score']:g}"
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a") as fh:
            fh.write(f"## d2lgrade: {line}\n\n")
            for t in result["tests"]:
                fh.write(f"- {'✅' if t['status'] == 'pass' else '❌'} `{t['name']}` "
                         f"{t['score']:g}/{t['max_score']:g}\n")
    print(line)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m d2lgrade.export")
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("gradescope-run", help="Grade ROOT/submission into ROOT/results")
    g.add_argument("--root", default=os.environ.get("D2LGRADE_AUTOGRADER_ROOT", "/autograder"))
    c = sub.add_parser("classroom-run", help="Grade a GitHub Classroom checkout")
    c.add_argument("--submission", required=True)
    c.add_argument("--out", required=True)
    ns = parser.parse_args(argv)
    start = time.perf_counter()
    if ns.command == "gradescope-run":
        code = gradescope_run(Path(ns.root))
    else:
        code = classroom_run(Path(ns.submission), Path(ns.out))
    print(f"d2lgrade: graded in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
