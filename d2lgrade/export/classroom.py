"""The GitHub Classroom workflow (``d2lgrade export github-classroom``) and the runner the workflow calls back."""
from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from d2lgrade.export.common import check_chapters, grade_to

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
    chapters = check_chapters(course, chapters)
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
