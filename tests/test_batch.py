"""Grading a whole class: grade-batch (local and Ray), kill-and-resume, determinism, exports.

Everything grades chapter 2 only, with small copies of the solution, the stub and the
samples in fixtures/samples, so the file stays well under two minutes on an idle machine.
"""
import base64
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from d2lgrade import batch
from d2lgrade.batch import local, plan
from d2lgrade.batch.ray_backend import gpu_chapters_of, plan_groups

CH = "ch02_preliminaries"
SEED = 424242


def _copy_chapter(src: Path, dest: Path) -> Path:
    shutil.copytree(src / CH, dest / CH, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def _zip_folder(src: Path, archive: Path, wrap: str = "") -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(src.rglob("*.py")):
            zf.write(f, wrap + str(f.relative_to(src)))
    return archive


@pytest.fixture(scope="module")
def class_dir(tmp_path_factory, root):
    """A class of mixed submissions: correct, stub, buggy (zip), hostile, broken, stray."""
    d = tmp_path_factory.mktemp("class")
    samples = root / "fixtures" / "samples"
    _copy_chapter(root / "solutions", d / "alice")
    _copy_chapter(root / "assignments", d / "bob")
    _zip_folder(samples / "student", d / "carol.zip", wrap="carol-work/")
    _copy_chapter(samples / "hostile_runtime", d / "dave")
    _copy_chapter(samples / "hostile_import", d / "erin")
    _copy_chapter(samples / "hostile_grader_killer", d / "eve")
    (d / "frank.zip").write_bytes(b"this is not a zip")
    (d / "grace").mkdir()
    (d / "notes.txt").write_text("not a submission")
    return d


@pytest.fixture(scope="module")
def graded(class_dir, tmp_path_factory, run_cli):
    out = tmp_path_factory.mktemp("batch-out")
    start = time.perf_counter()
    r = run_cli("grade-batch", str(class_dir), "--out", str(out), "--workers", "2",
                "--chapters", CH, "--seed", str(SEED), "--call-timeout", "2", "--timeout", "300")
    assert r.returncode == 0, r.stdout + r.stderr
    return out, r, time.perf_counter() - start


def gradebook(out: Path) -> dict:
    with open(out / "gradebook.csv", newline="") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


def per_test(out: Path, student: str) -> dict:
    data = json.loads((out / student / "results.json").read_text())
    return {t["name"]: (t["status"], t["score"]) for t in data["tests"]}


# -- the mixed batch ---------------------------------------------------------------------------

def test_every_student_gets_a_row_with_a_clear_status(graded):
    out, r, _ = graded
    book = gradebook(out)
    assert list(book) == ["alice", "bob", "carol", "dave", "erin", "eve", "frank", "grace"]
    status = {s: row["status"] for s, row in book.items()}
    assert status == {"alice": "graded", "bob": "graded", "carol": "graded", "dave": "graded",
                      "erin": "did_not_import", "eve": "graded", "frank": "unusable",
                      "grace": "unusable"}
    assert book["alice"][CH] == book["alice"]["score"] == book["alice"]["max_score"] == "19"
    assert book["bob"]["score"] == "0"
    assert 0 < float(book["carol"]["score"]) < 19          # two common bugs
    assert 0 < float(book["dave"]["score"]) < 19           # honest functions still earn points
    assert 0 < float(book["erin"]["score"]) < 19           # one module fails at import
    assert "did not import: ch02_preliminaries/tensors.py, line 3: RuntimeError" in book["erin"]["problem"]
    assert "not a readable zip" in book["frank"]["problem"]
    assert "no chapter packages" in book["grace"]["problem"]
    # A stray file of the class folder is no student: reported, not graded, not a row.
    assert "not a submission, not graded: notes.txt (not a folder or a .zip)" in r.stderr
    assert not (out / "notes.txt").exists()
    # eve's code tries to SIGKILL the process grading it; the sandbox's PID namespace hides
    # that process, so her child just dies and she earns nothing.
    assert book["eve"]["score"] == "0" and book["eve"]["max_score"] == "19"
    # Every student folder has its reports and its completion marker.
    for student in book:
        for name in ("results.json", "junit.xml", "feedback.html", batch.MARKER):
            assert (out / student / name).is_file(), (student, name)
    # Not a terminal: one plain progress line per student.
    assert len(re.findall(r"^\[\d+/8\] ", r.stderr, re.M)) == 8


def test_seeds_are_recorded_and_derived_per_student(graded):
    out, _, _ = graded
    assert json.loads((out / batch.BATCH_FILE).read_text())["seed"] == SEED
    book = gradebook(out)
    assert int(book["alice"]["seed"]) == batch.student_seed(SEED, "alice")
    res = json.loads((out / "alice" / "results.json").read_text())
    assert res["extra_data"]["seed"] == batch.student_seed(SEED, "alice")
    assert res["extra_data"]["batch_seed"] == SEED


def test_summary_and_histogram(graded):
    out, _, _ = graded
    text = (out / batch.SUMMARY).read_text()
    assert "submissions: 8" in text and "graded: 5" in text and "did not import: 1" in text
    assert "- `notes.txt`: not a folder or a .zip" in text
    # Four students (bob, carol, dave and erin or more) fail carol's two bugs' tests.
    top = re.findall(r"^\| `([^`]+)` \| (\d+) \|", text, re.M)
    assert top and int(top[0][1]) >= 3
    assert any("flat_copy" in name for name, _ in top)
    assert "| frank | cannot be graded |" in text
    png = (out / batch.HISTOGRAM).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000


def test_hostile_submissions_are_contained(graded):
    out, _, _ = graded
    dave = per_test(out, "dave")
    assert dave[f"{CH}/test_tensors::test_broadcast_add_book_example"] == ("passed", 1.0)
    assert dave[f"{CH}/test_tensors::test_add_in_place_book_example"][0] == "failed"
    marker = json.loads((out / "eve" / batch.MARKER).read_text())
    assert marker["status"] == "graded" and marker["score"] == 0
    res = json.loads((out / "eve" / "results.json").read_text())
    assert any("namespaces" in p for p in res["extra_data"]["protections"]), res["extra_data"]


def test_a_worker_killed_by_its_submission_is_replaced(tmp_path, run_cli, root, monkeypatch):
    """Without the sandbox (where namespaces are missing) a submission can kill its worker:
    the batch replaces the worker, tries once more, records "crashed" and goes on."""
    subs = tmp_path / "subs"
    _copy_chapter(root / "solutions", subs / "alice")
    _copy_chapter(root / "fixtures" / "samples" / "hostile_grader_killer", subs / "eve")
    out = tmp_path / "out"
    monkeypatch.setenv("D2LGRADE_SANDBOX", "off")
    r = run_cli("grade-batch", str(subs), "--out", str(out), "--workers", "1", "--chapters", CH,
                "--seed", "1", "--call-timeout", "2", "--timeout", "120")
    assert r.returncode == 0, r.stdout + r.stderr
    book = gradebook(out)
    assert book["alice"]["status"] == "graded" and book["alice"]["score"] == "19"
    assert book["eve"]["status"] == "crashed" and "died twice" in book["eve"]["problem"]
    assert "| eve | the grading process died |" in (out / batch.SUMMARY).read_text()


def test_restart_grades_nothing_twice_and_a_new_seed_is_refused(graded, class_dir):
    out, _, _ = graded
    before = {p.parent.name: p.stat().st_mtime_ns for p in out.glob(f"*/{batch.MARKER}")}
    cfg = batch.BatchConfig(class_dir, out, workers=2, chapters=[CH], progress=False)
    info = batch.run_batch(cfg)  # no worker is even started: everything is done
    assert info["graded_now"] == 0 and info["already_done"] == 8 and info["seed"] == SEED
    after = {p.parent.name: p.stat().st_mtime_ns for p in out.glob(f"*/{batch.MARKER}")}
    assert after == before
    # What a restart would grade: nothing; everyone with --force; a changed submission.
    assert plan.prepare(cfg)[2] == []
    force = batch.BatchConfig(class_dir, out, workers=2, chapters=[CH], seed=SEED, force=True)
    assert len(plan.prepare(force)[2]) == 8
    retry = batch.BatchConfig(class_dir, out, workers=2, chapters=[CH], retry_errors=True)
    assert sorted(t["student"] for t in plan.prepare(retry)[2]) == ["frank", "grace"]
    src = class_dir / "alice" / CH / "tensors.py"
    text = src.read_text()
    try:
        src.write_text(text + "\n# changed after grading\n")
        assert [t["student"] for t in plan.prepare(cfg)[2]] == ["alice"]
    finally:
        src.write_text(text)
    with pytest.raises(batch.BatchError, match="seed"):
        batch.run_batch(batch.BatchConfig(class_dir, out, workers=2, chapters=[CH], seed=1))
    with pytest.raises(batch.BatchError, match="chapters"):
        batch.run_batch(batch.BatchConfig(class_dir, out, workers=2, seed=SEED))


def test_a_submission_past_its_time_limit_is_stopped(tmp_path, run_cli):
    subs = tmp_path / "subs"
    pkg = subs / "henry" / CH
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for mod in ("tensors.py", "autograd.py"):
        (pkg / mod).write_text("import time\ntime.sleep(600)\n")
    out = tmp_path / "out"
    start = time.perf_counter()
    r = run_cli("grade-batch", str(subs), "--out", str(out), "--workers", "1", "--chapters", CH,
                "--seed", "1", "--call-timeout", "2", "--timeout", "5")
    assert r.returncode == 0, r.stderr
    row = gradebook(out)["henry"]
    assert row["status"] == "timeout" and "5 s" in row["problem"]
    assert time.perf_counter() - start < 120


# -- kill -9 and resume; determinism ------------------------------------------------------------

def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_sigkill_midway_then_resume_grades_only_the_rest(graded, class_dir, tmp_path, root):
    out_first, _, _ = graded
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("alice", "bob", "carol.zip"):
        src = class_dir / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, subs / name)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "d2lgrade.cli", "grade-batch", str(subs), "--out", str(out),
           "--workers", "1", "--chapters", CH, "--seed", str(SEED)]
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while not list(out.glob(f"*/{batch.MARKER}")):
        assert proc.poll() is None and time.monotonic() < deadline, "no student finished"
        time.sleep(0.05)
    below = local.descendants(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_first = {p.parent.name: p.read_text() for p in out.glob(f"*/{batch.MARKER}")}
    assert 1 <= len(done_first) < 3
    # The worker, its forkserver and any submission child die with the batch.
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in below) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in below if _alive(p)], "processes outlived the killed batch"

    r = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"already done {len(done_first)}" in r.stdout
    for student, text in done_first.items():  # finished work is not touched
        assert (out / student / batch.MARKER).read_text() == text
    book = gradebook(out)
    assert set(book) == {"alice", "bob", "carol"} and {r["status"] for r in book.values()} == {"graded"}
    # Deterministic: the same submissions with the same batch seed, graded in another run
    # (and another worker), get identical per-test results.
    for student in book:
        assert per_test(out, student) == per_test(out_first, student)
        assert book[student]["score"] == gradebook(out_first)[student]["score"]


# -- pure helpers -----------------------------------------------------------------------------

def test_names_seeds_and_fingerprints(tmp_path):
    (tmp_path / "Ann Lee").mkdir()
    (tmp_path / "ann_lee.zip").write_bytes(b"x")
    (tmp_path / "Ann_Lee.zip").write_bytes(b"y")
    (tmp_path / ".DS_Store").write_text("")
    (tmp_path / "summary.md").write_text("")
    entries = batch.discover(tmp_path)
    assert [e.student for e in entries] == ["Ann_Lee", "Ann_Lee-2", "ann_lee", "summary.md_"]
    assert [e.problem is None for e in entries] == [True, True, True, False]
    assert batch.student_seed(1, "a") == batch.student_seed(1, "a") != batch.student_seed(1, "b")
    assert batch.student_seed(1, "a") != batch.student_seed(2, "a")
    f1 = batch.fingerprint(tmp_path / "ann_lee.zip")
    (tmp_path / "ann_lee.zip").write_bytes(b"z")
    assert batch.fingerprint(tmp_path / "ann_lee.zip") != f1
    with pytest.raises(batch.BatchError):
        batch.discover(tmp_path / "missing")


def test_gpu_chapters_are_found_and_get_their_own_task(root):
    found = gpu_chapters_of(root, ["ch02_preliminaries", "ch04_computation", "ch05_cnn"])
    assert found == ["ch04_computation", "ch05_cnn"]
    groups = plan_groups(["ch02_preliminaries", "ch04_computation"], found, 0.5)
    assert groups == [{"chapters": ["ch02_preliminaries"], "num_cpus": 1, "num_gpus": 0},
                      {"chapters": ["ch04_computation"], "num_cpus": 1, "num_gpus": 0.5}]
    assert plan_groups(["ch04_computation"], found, 0) == [
        {"chapters": ["ch04_computation"], "num_cpus": 1, "num_gpus": 0}]


# -- Ray ----------------------------------------------------------------------------------------

def test_ray_backend_same_scores_and_gpu_placement(graded, class_dir, tmp_path):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'd2lgrade[ray]')")
    out_local, _, _ = graded
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("alice", "carol.zip", "frank.zip"):
        src = class_dir / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, subs / name)
    out = tmp_path / "out"
    start = time.perf_counter()
    # A local cluster on the loopback address; it declares one GPU so that the GPU request
    # can be placed (CUDA is absent, so GPU-tier tests would still report "not run").
    ray.init(address="local", num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1")
    try:
        info = batch.run_batch(batch.BatchConfig(
            subs, out, workers=2, seed=SEED, chapters=[CH], backend="ray", gpus=1,
            gpu_chapters=[CH], progress=False))
    finally:
        ray.shutdown()
    assert info["by_status"] == {"graded": 2, "unusable": 1}
    book = gradebook(out)
    for student in ("alice", "carol"):
        assert per_test(out, student) == per_test(out_local, student)
        assert book[student]["score"] == gradebook(out_local)[student]["score"]
    placement = json.loads((out / "alice" / batch.MARKER).read_text())["placements"][0]
    assert placement["resources"].get("GPU") == 1.0 and placement["gpu_ids"]
    assert placement["cuda_visible_devices"] == placement["gpu_ids"][0]
    assert "not a readable zip" in book["frank"]["problem"]
    assert time.perf_counter() - start < 60


# -- exports ------------------------------------------------------------------------------------

def test_gradescope_autograder_zip_grades_a_simulated_autograder_tree(tmp_path, run_cli, root):
    archive = tmp_path / "autograder.zip"
    r = run_cli("export", "gradescope", str(archive), "--chapters", CH, "--seed", "11")
    assert r.returncode == 0, r.stderr
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
        mode = zf.getinfo("run_autograder").external_attr >> 16
    assert {"setup.sh", "run_autograder", "d2lgrade-autograder.json", "pyproject.toml",
            f"graders/{CH}/test_tensors.py", f"solutions/{CH}/tensors.py"} <= names
    assert not any(n.startswith(("graders/ch03", "fixtures/mutants", "fixtures/samples")) for n in names)
    assert mode & 0o111
    # A simulated /autograder: source/ is the unpacked zip, submission/ the student's upload.
    ag = tmp_path / "autograder"
    (ag / "source").mkdir(parents=True)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(ag / "source")
    shutil.copy(ag / "source" / "run_autograder", ag / "run_autograder")
    assert subprocess.run(["bash", "-n", str(ag / "source" / "setup.sh")]).returncode == 0
    (ag / "submission_metadata.json").write_text(json.dumps({"users": [{"email": "s@uni.edu"}]}))
    (ag / "submission").mkdir()
    _zip_folder(root / "fixtures" / "samples" / "student", ag / "submission" / "upload.zip")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(D2LGRADE_AUTOGRADER_ROOT=str(ag), D2LGRADE_PYTHON=sys.executable)
    p = subprocess.run(["bash", str(ag / "run_autograder")], env=env, capture_output=True,
                       text=True, timeout=300, cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    res = json.loads((ag / "results" / "results.json").read_text())
    assert res["score"] == 15 and res["max_score"] == 19
    assert res["extra_data"]["seed"] == batch.student_seed(11, "s@uni.edu")
    assert {t["visibility"] for t in res["tests"]} == {"visible", "hidden"}
    # the student's page beside the results, from the same writer as grade and grade-batch
    page = (ag / "results" / "feedback.html").read_text()
    assert "s@uni.edu" in page and "<b>15 / 19</b>" in page
    assert res["extra_data"]["feedback_page"] == "feedback.html"
    # An unusable upload still produces a results.json that says why.
    shutil.rmtree(ag / "submission")
    (ag / "submission").mkdir()
    (ag / "submission" / "README.txt").write_text("oops")
    p = subprocess.run(["bash", str(ag / "run_autograder")], env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    res = json.loads((ag / "results" / "results.json").read_text())
    assert res["score"] == 0 and "could not be graded" in res["output"]
    # What setup.sh installs builds as a package, with the pytest plugin's entry point
    # (built without isolation, so only where setuptools is importable: no network).
    pytest.importorskip("setuptools", reason="setuptools is needed to build the wheel offline")
    wheels = tmp_path / "wheels"
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "-q", "-w", str(wheels), str(ag / "source")], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    with zipfile.ZipFile(next(wheels.glob("d2lgrade-*.whl"))) as whl:
        entry_points = next(n for n in whl.namelist() if n.endswith("entry_points.txt"))
        assert "d2lgrade.plugin" in whl.read(entry_points).decode()


def _workflow_steps(text: str) -> tuple[dict, list[dict]]:
    """(job env, steps) of the exported workflow, with PyYAML when it is there."""
    try:
        import yaml
    except ImportError:
        yaml = None
    if yaml is not None:
        job = yaml.safe_load(text)["jobs"]["run-autograding-tests"]
        return job["env"], job["steps"]
    env = dict(re.findall(r'^      (D2LGRADE_\w+): "([^"]*)"', text, re.M))
    steps = []
    for block in re.split(r"^      - ", text, flags=re.M)[1:]:
        step = {}
        m = re.search(r"id: (\S+)", block)
        if m:
            step["id"] = m.group(1)
        m = re.search(r"run: \|\n((?:          .*\n?)+)", block) or re.search(r"run: (.+)", block)
        if m:
            step["run"] = "\n".join(line[10:] if line.startswith(" " * 10) else line
                                    for line in m.group(1).splitlines())
        steps.append(step)
    return env, steps


def test_github_classroom_workflow_commands_grade_and_report(tmp_path, run_cli, root):
    r = run_cli("export", "github-classroom", str(tmp_path / "template"), "--chapters", CH,
                "--seed", "5", "--grader-repo", "course/d2l-grader")
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "template" / ".github" / "workflows" / "classroom.yml").read_text()
    env_vars, steps = _workflow_steps(text)
    assert "classroom-resources/autograding-grading-reporter@v1" in text
    assert "course/d2l-grader" in text and "runners: d2lgrade" in text
    runs = [s for s in steps if "run" in s]
    assert [s.get("id") for s in runs] == ["install", "d2lgrade"]
    assert runs[0]["run"].strip() == "python -m pip install ./grader"  # not run: it would install
    # A simulated runner workspace: the student's repository and the grader checkout.
    ws = tmp_path / "workspace"
    _copy_chapter(root / "solutions", ws / "submission")
    (ws / "grader").symlink_to(root)
    gh_out, gh_summary = tmp_path / "github_output", tmp_path / "step_summary"
    env = dict(os.environ, **env_vars, GITHUB_OUTPUT=str(gh_out), GITHUB_STEP_SUMMARY=str(gh_summary),
               GITHUB_WORKSPACE=str(ws), GITHUB_REPOSITORY="course/hw2-alice")
    for step in runs[1:]:
        assert "${{" not in step["run"]  # everything it needs comes from the environment
        p = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=ws, env=env,
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
    assert "Points 19/19" in p.stdout and "Points 19/19" in gh_summary.read_text()
    encoded = dict(line.split("=", 1) for line in gh_out.read_text().splitlines())["result"]
    result = json.loads(base64.b64decode(encoded))
    assert result["status"] == "pass" and result["max_score"] == 19
    assert sum(t["score"] for t in result["tests"]) == 19
    assert all({"name", "status", "score", "message"} <= set(t) for t in result["tests"])
