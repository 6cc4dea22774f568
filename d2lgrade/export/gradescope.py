"""The Gradescope autograder zip (``d2lgrade export gradescope``) and the runner Gradescope calls back."""
from __future__ import annotations

import json
import os
import secrets
import zipfile
from pathlib import Path

from d2lgrade.export.common import CONFIG_NAME, check_chapters, course_files, grade_to

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
    chapters = check_chapters(course, chapters)
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
