"""The attack suite: hostile submissions in fixtures/attacks/ against the sandboxed child.

Each attack is a chapter-2 submission; ``fixtures/attacks/attacks.json`` says which tests
must pass (its honest parts, or nothing), what the feedback must say, and which extra checks
apply (no file outside scratch, results.json intact, no surviving process, no secret or
hidden test in the feedback, no connection reached the listeners below). An attack that
needs a protection this machine lacks (``needs``) is skipped with that reason.

Grading runs in this process (``run_graders``, as ``validate`` does) so the forkserver stays
warm; each attack takes one to three seconds.
"""
import json
import os
import socket
import time
import zipfile
from pathlib import Path

import pytest

from d2lgrade.course.layout import Course
from d2lgrade.errors import SubmissionUnusable
from d2lgrade.grading.api import prepared_submission, run_graders
from d2lgrade.results.report import write_outputs

ROOT = Path(__file__).resolve().parent.parent
ATTACKS = ROOT / "fixtures" / "attacks"
MANIFEST = json.loads((ATTACKS / "attacks.json").read_text())
MARK = "d2lgrade-attack-marker"
CANARY = "d2lgrade-attack-canary"
PORT = 47391
UNIX_PATH = "/tmp/d2lgrade-attack.sock"

# A secret in the grader's environment (as a CI token would be: set at import, so a
# forkserver started by this module has it too), and small limits so the resource attacks
# end quickly (set only while this module runs).
SECRET = f"grader-secret-{os.getpid()}-{time.time_ns()}"
os.environ["D2LGRADE_ATTACK_SECRET"] = SECRET
NPROC = 64
SMALL_LIMITS = {"D2LGRADE_SANDBOX_MEMORY_MB": "1024", "D2LGRADE_SANDBOX_NPROC": str(NPROC),
                "D2LGRADE_SANDBOX_REPLY_BYTES": str(64 << 20)}


@pytest.fixture(autouse=True, scope="module")
def _small_limits():
    mp = pytest.MonkeyPatch()
    for key, value in SMALL_LIMITS.items():
        mp.setenv(key, value)
    yield
    mp.undo()


def grade(path: Path, out: Path, scope: str = "tensors"):
    course = Course(ROOT)
    nodes = ([str(course.graders / "ch02_preliminaries" / "test_tensors.py")]
             if scope == "tensors" else None)
    with prepared_submission(path) as sub:
        run = run_graders(sub, course, ["ch02_preliminaries"], seed=11, isolation="process",
                          node_ids=nodes, call_timeout=2)
    data = write_outputs(out, run.results, seed=run.seed, isolation=run.isolation,
                         execution_time=run.elapsed, protections=run.protection_report())
    return run, data


def short(name: str) -> str:
    return name.split("::", 1)[1]


def canary_places(tmp_path: Path) -> list[Path]:
    home = Path(os.path.expanduser("~"))
    dirs = [Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"), home, Path("/root"), ROOT,
            ROOT / "fixtures", ATTACKS, tmp_path, tmp_path / "out"]
    dirs += [p for p in ATTACKS.iterdir() if p.is_dir()]
    dirs += [p / "ch02_preliminaries" for p in ATTACKS.iterdir() if p.is_dir()]
    found = []
    for d in dirs:
        try:
            found += [p for p in d.glob(CANARY + "*")]
        except OSError:
            pass
    return found


def survivors() -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if MARK.encode() in cmd:
            found.append(f"{pid}: {cmd[:120]!r}")
    return found


class Listeners:
    """TCP/UDP on 127.0.0.1:PORT, a UNIX socket in /tmp and an abstract one."""

    def __init__(self):
        self.socks = []
        for family, kind, address in ((socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", PORT)),
                                      (socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", PORT)),
                                      (socket.AF_UNIX, socket.SOCK_STREAM, UNIX_PATH),
                                      (socket.AF_UNIX, socket.SOCK_STREAM, "\0d2lgrade-attack")):
            s = socket.socket(family, kind)
            try:
                if family == socket.AF_UNIX and not address.startswith("\0"):
                    Path(address).unlink(missing_ok=True)
                s.bind(address)
                if kind == socket.SOCK_STREAM:
                    s.listen(8)
                s.setblocking(False)
                self.socks.append(s)
            except OSError:
                s.close()

    def reached(self) -> list[str]:
        got = []
        for s in self.socks:
            try:
                if s.type == socket.SOCK_STREAM:
                    conn, _ = s.accept()
                    conn.close()
                else:
                    s.recv(100)
                got.append(str(s.getsockname()))
            except (BlockingIOError, OSError):
                pass
        return got

    def close(self):
        for s in self.socks:
            s.close()
        Path(UNIX_PATH).unlink(missing_ok=True)


@pytest.fixture(scope="module")
def active_protections(tmp_path_factory) -> list[str]:
    """What the sandbox manages on this machine (from grading a harmless attack)."""
    run, _ = grade(ATTACKS / "missing_function", tmp_path_factory.mktemp("probe"))
    assert run.protections, "no protections reported"
    return run.protections


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_attack(name, tmp_path, active_protections):
    entry = MANIFEST[name]
    need = entry.get("needs")
    if need and not any(need in p for p in active_protections):
        pytest.skip(f"needs the '{need}' protection, which this machine does not have")
    source = ATTACKS / name / "ch02_preliminaries" / "tensors.py"
    before = source.read_bytes() if source.is_file() else None
    listeners = Listeners() if "no_connection" in entry["checks"] else None
    try:
        run, data = grade(ATTACKS / name, tmp_path / "out", entry["scope"])
        if "wait_later" in entry["checks"]:
            time.sleep(2.5)  # the detached forger would strike now
        tests = {short(t["name"]): t for t in data["tests"]}
        passed = sorted(n for n, t in tests.items() if t["status"] == "passed")
        assert passed == entry["passed"], {n: tests[n]["output"][:300] for n in tests
                                           if (n in passed) != (n in entry["passed"])}
        for test, text in entry["output"].items():
            assert text in tests[test]["output"], tests[test]["output"][:500]
        assert data["extra_data"]["protections"] == run.protection_report()
        everything = json.dumps(data)
        checks = entry["checks"]
        if "no_leak" in checks:
            assert "def test_" not in everything and "LEAK" not in everything
        if "no_secret" in checks:
            assert SECRET not in everything and "FOUND" not in everything
        if "results_intact" in checks:
            assert json.loads((tmp_path / "out" / "results.json").read_text()) == data
            assert "FORGED" not in everything
        if "no_canary" in checks:
            found = canary_places(tmp_path) + [p for p in Path("/tmp").glob(CANARY + "*")]
            for p in found:
                p.unlink(missing_ok=True)
            assert not found, f"written outside the sandbox: {found}"
        if "source_intact" in checks:
            assert source.read_bytes() == before, "the submission changed its own files"
        if "no_survivors" in checks:
            assert not survivors(), survivors()
        if "nproc_capped" in checks:
            out = tests["test_flat_copy_is_independent"]["output"]
            n = int(out.split("STARTED ", 1)[1].split()[0])
            assert 0 < n <= NPROC, out
        if "feedback_clean" in checks:
            assert "\x1b" not in everything and "\x07" not in everything
            assert len(everything) < 200_000
        if listeners is not None:
            assert not listeners.reached(), "a connection from the child reached the grader"
    finally:
        if listeners is not None:
            listeners.close()


def test_every_attack_has_an_expected_outcome():
    # shortcuts/ holds the shortcut attacks of issue 14, with their own manifest and tests
    # (tests/test_shortcuts.py).
    folders = {p.name for p in ATTACKS.iterdir() if p.is_dir()} - {"shortcuts"}
    assert folders == set(MANIFEST) and len(MANIFEST) >= 20
    for name, entry in MANIFEST.items():
        assert entry["description"] and entry["scope"] in ("tensors", "chapter"), name


def test_protections_are_reported(active_protections):
    text = " ".join(active_protections)
    assert "child process" in text and "process lifetime" in text


# -- zip input --------------------------------------------------------------------------

def test_zip_bomb_is_refused(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ch02_preliminaries/__init__.py", "")
        zf.writestr("ch02_preliminaries/zeros.bin", b"\0" * (210 << 20))
    assert archive.stat().st_size < 1 << 20
    with pytest.raises(SubmissionUnusable, match="unpacks to more than"):
        with prepared_submission(archive):
            pass


def test_zip_that_lies_about_its_sizes_is_refused(tmp_path):
    """A member whose header claims a few bytes but whose data is much larger."""
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ch02_preliminaries/__init__.py", "")
        zf.writestr("ch02_preliminaries/tensors.py", "x = 1\n" * 100000)
    data = bytearray(good.read_bytes())
    size = (600000).to_bytes(4, "little")
    # Shrink the declared size in the central directory and the local header to 10 bytes.
    for sig in (b"PK\x01\x02", b"PK\x03\x04"):
        start = 0
        while (i := data.find(sig, start)) != -1:
            off = i + (24 if sig == b"PK\x01\x02" else 22)
            if data[off:off + 4] == size:
                data[off:off + 4] = (10).to_bytes(4, "little")
            start = i + 4
    bad = tmp_path / "liar.zip"
    bad.write_bytes(bytes(data))
    with pytest.raises(SubmissionUnusable, match="liar.zip"):
        with prepared_submission(bad):
            pass


def test_zip_symlink_out_of_the_submission_is_not_followed(tmp_path):
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ch02_preliminaries/__init__.py", "")
        info = zipfile.ZipInfo("ch02_preliminaries/tensors.py")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, str(ROOT / "solutions/ch02_preliminaries/tensors.py"))
    run, data = grade(archive, tmp_path / "out")
    tests = {short(t["name"]): t for t in data["tests"]}
    assert data["score"] == 0
    assert "no module" in tests["test_broadcast_add_book_example"]["output"]


# -- fallbacks --------------------------------------------------------------------------

def test_without_any_kernel_mechanism_grading_still_completes(tmp_path, monkeypatch):
    """A machine with none of them: each is reported missing, nothing crashes, and the
    child-process protections (exit, crash, hang, detached processes) still hold."""
    monkeypatch.setenv("D2LGRADE_SANDBOX_DISABLE", "namespaces,cgroup,rlimits,landlock,seccomp")
    for name in ("os_exit", "infinite_loop", "detached_survivors"):
        entry = MANIFEST[name]
        run, data = grade(ATTACKS / name, tmp_path / name, entry["scope"])
        passed = sorted(short(t["name"]) for t in data["tests"] if t["status"] == "passed")
        assert passed == entry["passed"], name
        report = data["extra_data"]["protections"]
        assert sum(p.startswith("MISSING: ") for p in report) >= 5, report
        assert any("child subreaper" in p for p in report), report
        assert not survivors(), survivors()


def test_submission_time_budget_spans_children(tmp_path, monkeypatch):
    """Per-submission wall time: after the budget is spent, calls fail at once."""
    from d2lgrade.errors import StudentTimeout
    from d2lgrade.isolation.handle import Submission
    monkeypatch.setenv("D2LGRADE_SANDBOX_WALL_S", "2.5")
    (tmp_path / "m.py").write_text("def loop():\n    while True:\n        pass\n\n\n"
                                   "def ok():\n    return 1\n")
    sub = Submission(str(tmp_path), call_timeout=1.5)
    try:
        m = sub.module("m")
        assert m.ok() == 1
        for _ in range(2):               # 1.5 s, then the 1 s that is left
            with pytest.raises(StudentTimeout, match="time limit"):
                m.loop()
        start = time.monotonic()
        with pytest.raises(StudentTimeout, match="total time budget"):
            m.ok()
        assert time.monotonic() - start < 0.5
    finally:
        sub.close()
