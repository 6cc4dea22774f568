"""The Ray backend of ``grade-batch``: the same batch on a Ray cluster.

Each student becomes one Ray task per *chapter group*: chapters whose graders have
``@tier("gpu")`` tests form the GPU group, which asks Ray for ``--gpus`` GPUs (so Ray places
it on a node that has them and sets ``CUDA_VISIBLE_DEVICES``); the other chapters run as a
CPU task. A Ray worker is a long-lived process, so torch, pytest and the graders are
imported once per worker, and every submission still gets fresh sandboxed children from
the worker's forkserver, exactly as with the local backend.

The submission travels as zip bytes (a folder is zipped by the driver) and the results
come back as data; only the driver writes files, with the same atomic writes and
completion markers as the local backend, so kill-and-resume works the same way.

Running on a real cluster: see README.md ("Running on a Ray cluster"). In short: every
node needs this project's Python environment (torch included, e.g. one container image);
``--address HEAD:6379`` or ``ray://HEAD:10001`` connects (with the cluster's token when it
uses token authentication), and the course folder is shipped to the workers as the job's
``working_dir``. A task lost with its node is run once more elsewhere (``max_retries=1``);
tests/test_ray_cluster.py kills a node mid-batch.
"""
from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
import time
import zipfile
from pathlib import Path

GPU_MARK = re.compile(r"""tier\(\s*["']gpu["']\s*\)""")
#: Files left out of the course folder shipped to a remote cluster.
SHIP_EXCLUDES = [".git", ".tox", ".venv", "fixtures/generated", "fixtures/mutants",
                 "**/__pycache__", "*.pyc", "results", "out", ".benchmarks"]
MAX_PAYLOAD = 200 * 1024 * 1024


def gpu_chapters_of(course_root: Path, chapters: list[str]) -> list[str]:
    """Chapters among ``chapters`` whose graders have ``@tier("gpu")`` tests."""
    found = []
    for ch in chapters:
        for f in sorted((course_root / "graders" / ch).rglob("*.py")):
            if GPU_MARK.search(f.read_text(errors="replace")):
                found.append(ch)
                break
    return found


def plan_groups(chapters: list[str], gpu_chapters: list[str], gpus: float) -> list[dict]:
    """Split one student's chapters into Ray tasks with their resource requests."""
    if gpus <= 0:
        return [{"chapters": chapters, "num_cpus": 1, "num_gpus": 0}]
    gpu = [c for c in chapters if c in gpu_chapters]
    cpu = [c for c in chapters if c not in gpu_chapters]
    groups = []
    if cpu:
        groups.append({"chapters": cpu, "num_cpus": 1, "num_gpus": 0})
    if gpu:
        groups.append({"chapters": gpu, "num_cpus": 1, "num_gpus": gpus})
    return groups


def submission_bytes(path: Path) -> bytes:
    """A submission as zip bytes: a zip as it is, a folder zipped (no symlinks, no caches)."""
    if path.is_file():
        if path.stat().st_size > MAX_PAYLOAD:
            raise ValueError(f"{path.name}: larger than {MAX_PAYLOAD >> 20} MiB")
        return path.read_bytes()
    buf = io.BytesIO()
    total = 0
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(path.rglob("*")):
            if f.is_symlink() or not f.is_file() or "__pycache__" in f.parts:
                continue
            total += f.stat().st_size
            if total > MAX_PAYLOAD:
                raise ValueError(f"{path.name}: larger than {MAX_PAYLOAD >> 20} MiB")
            zf.write(f, str(f.relative_to(path)))
    return buf.getvalue()


def _put_submission(ray, path: Path, tries: int = 3):
    """The submission's bytes in the object store. A file that cannot be read, or a store or
    connection that fails for a moment (a node just lost, a loaded machine), is tried again
    before the student is recorded as an error."""
    for attempt in range(tries):
        try:
            return ray.put(submission_bytes(path))
        except OSError:
            if attempt == tries - 1:
                raise
            time.sleep(1.0 + attempt)


def _grade_remote(task: dict, payload: bytes) -> dict:
    """Runs on a Ray worker: unpack the payload and grade it (see batch.grade_outcome)."""
    import ray

    from d2lgrade.batch.student import grade_outcome
    from d2lgrade.course.layout import find_course
    tmp = tempfile.mkdtemp(prefix="d2lgrade-ray-")
    try:
        path = os.path.join(tmp, "submission.zip")
        with open(path, "wb") as fh:
            fh.write(payload)
        outcome = grade_outcome(task, path)
        outcome["message"] = outcome["message"].replace(path, task["path"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ctx = ray.get_runtime_context()
    outcome["placement"] = {"node": ctx.get_node_id()[:12], "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
                            "resources": {k: v for k, v in ctx.get_assigned_resources().items()},
                            "chapters": task.get("chapters"),
                            # the shipped working_dir on a cluster, the driver's folder locally
                            "course_root": str(find_course(task.get("course_root")).root),
                            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}
    return outcome


#: What a driver needs when the cluster uses Ray's token authentication (Ray 2.60: on when
#: the head was started with RAY_AUTH_MODE=token or with a token in ~/.ray/auth_token).
TOKEN_HINT = ("the cluster uses token authentication: give this machine the cluster's token "
              "(print it on the head with `ray get-auth-token`) in RAY_AUTH_TOKEN, in a file "
              "named by RAY_AUTH_TOKEN_PATH, or in ~/.ray/auth_token, and set RAY_AUTH_MODE=token")


def _connect(cfg, course_root: Path) -> bool:
    """Connect to (or start) Ray. True when the course is shipped as the working_dir."""
    import ray
    if ray.is_initialized():
        return False
    if cfg.ray_address:
        from d2lgrade.batch.student import BatchError
        # A loopback address is no shortcut: Ray replaces it with this node's routable IP
        # (services.resolve_ip_for_localhost), so a cluster must listen on that address.
        try:
            ray.init(address=cfg.ray_address, log_to_driver=False,
                     runtime_env={"working_dir": str(course_root), "excludes": SHIP_EXCLUDES})
        except ray.exceptions.AuthenticationError as exc:
            raise BatchError(f"cannot connect to the Ray cluster at {cfg.ray_address}: "
                             f"{TOKEN_HINT} ({str(exc).split('.')[0]})") from None
        except (ConnectionError, RuntimeError, ValueError) as exc:
            hint = (f"; if {TOKEN_HINT}, check that the token is the cluster's"
                    if os.environ.get("RAY_AUTH_MODE", "").lower() == "token" else "")
            raise BatchError(f"cannot connect to the Ray cluster at {cfg.ray_address}: "
                             f"{exc}{hint}") from None
        return True
    # A local Ray for this batch only, on the loopback address.
    ray.init(address="local", num_cpus=cfg.workers, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1")
    return False


def run_ray(cfg, todo: list[dict], on_done) -> None:
    import ray

    from d2lgrade.batch.student import finish_student
    from d2lgrade.course.layout import find_course
    course = find_course()
    started_here = not ray.is_initialized()
    shipped = _connect(cfg, course.root)
    try:
        remote = ray.remote(max_retries=1)(_grade_remote)
        all_chapters = course.chapters()
        gpu_chapters = (cfg.gpu_chapters if cfg.gpu_chapters is not None
                        else gpu_chapters_of(course.root, all_chapters))
        cap = max(1, int(ray.cluster_resources().get("CPU", cfg.workers)))
        # (student task, group) pairs still to submit; results gathered per student.
        pending_groups = []
        outcomes: dict[str, list] = {}
        expected: dict[str, int] = {}
        tasks = {t["student"]: t for t in todo}
        for task in todo:
            groups = plan_groups(task["chapters"] or all_chapters, gpu_chapters, cfg.gpus)
            if not task["chapters"]:
                groups = [dict(g, chapters=None) for g in groups] if len(groups) == 1 else groups
            expected[task["student"]] = len(groups)
            outcomes[task["student"]] = []
            for g in groups:
                pending_groups.append((task, g))
        payloads: dict[str, object] = {}
        in_flight: dict[object, tuple[dict, dict, float]] = {}

        def complete(student: str, outcome: dict) -> None:
            outcomes[student].append(outcome)
            if len(outcomes[student]) == expected[student]:
                task = tasks[student]
                on_done(finish_student(cfg.out, task, outcomes[student], backend="ray",
                                       placements=[o.get("placement") for o in outcomes[student]]))
                payloads.pop(student, None)

        while pending_groups or in_flight:
            while pending_groups and len(in_flight) < cap:
                task, g = pending_groups.pop(0)
                student = task["student"]
                if student not in payloads:
                    try:
                        payloads[student] = _put_submission(ray, Path(task["path"]))
                    except ValueError as exc:  # too large: the submission's own problem
                        complete(student, {"status": "unusable", "message": str(exc), "results": []})
                        continue
                    except OSError as exc:  # the store or the cluster: --retry-errors regrades it
                        complete(student, {"status": "error", "results": [], "message":
                                           f"could not send the submission to the cluster ({exc})"})
                        continue
                sub_task = dict(task, chapters=g["chapters"],
                                course_root=None if shipped else str(course.root))
                ref = remote.options(num_cpus=g["num_cpus"], num_gpus=g["num_gpus"]).remote(
                    sub_task, payloads[student])
                in_flight[ref] = (task, g, time.monotonic())
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=1.0)
            for ref in ready:
                task, g, t0 = in_flight.pop(ref)
                try:
                    outcome = ray.get(ref)
                except ray.exceptions.TaskCancelledError:
                    continue  # already recorded as a timeout
                except ray.exceptions.RayError as exc:
                    outcome = {"status": "crashed", "results": [],
                               "message": "the process grading this submission died twice "
                                          f"({type(exc).__name__}); a submission that kills its "
                                          "grader gets no credit",
                               "elapsed": round(time.monotonic() - t0, 3)}
                complete(task["student"], outcome)
            now = time.monotonic()
            for ref, (task, g, t0) in list(in_flight.items()):
                if now - t0 > cfg.timeout:
                    ray.cancel(ref, force=True)
                    in_flight.pop(ref)
                    complete(task["student"], {
                        "status": "timeout", "results": [], "elapsed": cfg.timeout,
                        "message": f"grading took longer than the {cfg.timeout:g} s allowed "
                                   "for one submission and was stopped"})
    finally:
        if started_here:
            ray.shutdown()


class RayBackend:
    """A Ray cluster (``--ray-address``, or a local one): one Ray task per student and chapter
    group, GPU chapters on GPU nodes; ``on_start`` is not called (Ray does not say when a
    task starts)."""

    name = "ray"

    def run(self, cfg, todo: list[dict], on_done, on_start=None) -> None:
        run_ray(cfg, todo, on_done)
