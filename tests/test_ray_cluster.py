"""grade-batch --backend ray --address against a real multi-node Ray cluster (issue 18).

A head (no CPUs) and two worker nodes run on this machine (tests/ray_cluster.py, in its own
process), with Ray's token authentication on. The driver is the `d2lgrade grade-batch`
command, as an instructor runs it. The course reaches the workers as the job's working_dir
and the submissions through the object store (never a shared path), and in the middle of
the batch a worker node that is grading is killed; later the driver is killed too. The
batch must end with every student graded exactly once and correctly, and a second run
grades only what the first did not finish.
"""
import csv
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="ray is not installed (pip install 'd2lgrade[ray]')")

CH = "ch02_preliminaries"
SEED = 1811
FULL = 19.0
#: solution copies (full marks) and stub copies (zero); the stubs show rows are not mixed up.
STUDENTS = {f"s{i}": "solutions" for i in range(6)} | {"t0": "assignments", "t1": "assignments"}


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    return kids


def _below(pid: int) -> list[int]:
    kids, found, todo = _children(), [], [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            found.append(c)
            todo.append(c)
    return found


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _grading_on(raylet_pid: int) -> bool:
    """A Ray worker below this raylet is running a grading task right now (Ray sets the
    process title to ``ray::<function>`` while a task runs, ``ray::IDLE`` otherwise)."""
    return any(_cmdline(p).startswith("ray::_grade_remote") for p in _below(raylet_pid))


def _markers(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/status.json")}


def _wait_for(cond, what: str, limit: float, proc=None) -> None:
    end = time.monotonic() + limit
    while not cond():
        if proc is not None and proc.poll() is not None:
            log = proc.communicate(timeout=30)[0] if proc.stdout else ""
            pytest.fail(f"the batch ended (exit code {proc.returncode}) before {what}; "
                        f"its output:\n{log[-4000:]}")
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, root):
    """The cluster for this file (the node-kill test leaves one worker node: enough for
    the authentication test)."""
    env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(24))
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen([sys.executable, str(root / "tests" / "ray_cluster.py"), "--workers", "2"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                            cwd=tmp_path_factory.mktemp("ray-cluster"), start_new_session=True)
    try:
        line = proc.stdout.readline()
        if not line:
            pytest.fail(f"the Ray cluster did not start (exit code {proc.wait(30)})")
        info = json.loads(line)

        def kill(i: int) -> None:
            proc.stdin.write(f"kill {i}\n")
            proc.stdin.flush()
            assert json.loads(proc.stdout.readline()) == {"killed": i}

        yield info, env, kill
    finally:
        try:
            proc.stdin.close()
            proc.wait(timeout=90)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _driver(root: Path, subs: Path, out: Path, address: str, env: dict, **kw):
    cmd = [sys.executable, "-m", "d2lgrade.cli", "grade-batch", str(subs), "--out", str(out),
           "--chapters", CH, "--seed", str(SEED), "--call-timeout", "10", "--timeout", "240",
           "--backend", "ray", "--address", address]
    return subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)


def test_cluster_with_a_node_killed_mid_batch_grades_everyone_once(cluster, tmp_path, root):
    info, env, kill = cluster
    subs, out = tmp_path / "subs", tmp_path / "out"
    for student, src in STUDENTS.items():
        shutil.copytree(root / src / CH, subs / student / CH,
                        ignore=shutil.ignore_patterns("__pycache__"))
    victim = info["nodes"][1]

    # Run 1: kill worker node 1 while it grades, then kill the driver itself with students
    # still to go. (Not "after a student is done" too: on a fast machine node 0 can finish
    # everyone else while node 1 grades its first student.)
    first = _driver(root, subs, out, info["address"], env, start_new_session=True)
    try:
        _wait_for(lambda: _grading_on(victim["raylet_pid"]), "a grading task on node 1", 150, first)
        doomed = [p for p in _below(victim["raylet_pid"])]
        killed_at = time.time()
        kill(1)
        _wait_for(lambda: not [p for p in doomed if os.path.exists(f"/proc/{p}")
                               and _cmdline(p)],
                  "the killed node's workers and their sandboxes to end", 30)
        _wait_for(lambda: len(_markers(out)) >= 4, "four students done", 150, first)
        os.killpg(first.pid, signal.SIGKILL)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        log = first.communicate(timeout=30)[0]
    after_first = _markers(out)
    assert 4 <= len(after_first) < len(STUDENTS), log
    # A student finished on the killed node only before the kill; what it was grading
    # then was graded again on the surviving node.
    for m in after_first.values():
        assert m["status"] == "graded", f"{m['student']}: {m['status']}: {m.get('message')}\n{log}"
        if m["placements"][0]["node"] == victim["node_id"][:12]:
            assert m["finished_at"] < killed_at, m

    # Run 2: the same command resumes, on the one node left.
    second = _driver(root, subs, out, info["address"], env)
    log2 = second.communicate(timeout=240)[0]
    assert second.returncode == 0, log2
    assert (f"graded now {len(STUDENTS) - len(after_first)}, already done {len(after_first)}"
            in log2), log2

    final = _markers(out)
    assert sorted(final) == sorted(STUDENTS)
    for student, m in final.items():
        assert m["status"] == "graded", m
        assert m["score"] == (FULL if STUDENTS[student] == "solutions" else 0.0), m
        if student in after_first:  # never regraded
            assert m["finished_at"] == after_first[student]["finished_at"]
        place = m["placements"][0]
        # shipped: the course the worker graded with is Ray's unpacked working_dir
        assert "runtime_resources" in place["course_root"], place
        assert not Path(place["course_root"]).samefile(root)
    with open(out / "gradebook.csv", newline="") as fh:
        rows = [r["student"] for r in csv.DictReader(fh)]
    assert sorted(rows) == sorted(STUDENTS)  # each exactly once


def test_cluster_refuses_a_driver_without_the_token(cluster, tmp_path, root):
    info, env, _ = cluster
    (tmp_path / "subs" / "s0").mkdir(parents=True)
    no_token = {k: v for k, v in env.items() if k != "RAY_AUTH_TOKEN"}
    no_token["HOME"] = str(tmp_path)  # no ~/.ray/auth_token either
    r = _driver(root, tmp_path / "subs", tmp_path / "out1", info["address"], no_token)
    log = r.communicate(timeout=120)[0]
    assert r.returncode == 2, log
    assert "token authentication" in log and "RAY_AUTH_TOKEN" in log, log
    wrong = dict(env, RAY_AUTH_TOKEN=secrets.token_hex(24))
    r = _driver(root, tmp_path / "subs", tmp_path / "out2", info["address"], wrong)
    log = r.communicate(timeout=120)[0]
    assert r.returncode == 2 and "cannot connect to the Ray cluster" in log, log
    assert "check that the token is the cluster's" in log, log
    assert not (tmp_path / "out2" / "s0" / "status.json").exists()
