"""d2lgrade side by side with Otter-Grader: one assignment, one class, both tools, interleaved.

The assignment: ``softmax`` and ``cross_entropy`` (D2L 3.6) and ``corr2d`` (D2L 5.1).

* Otter: the master notebook ``benchmarks/otter/d2l_softmax_corr2d.ipynb`` (questions, reference
  code and exception-based tests, public and hidden) goes through ``otter assign``; each
  submission is graded with ``otter run`` (Otter's grading without containers: it executes the
  notebook in a fresh Jupyter kernel, then the tests in that kernel). ``otter grade`` needs a
  Docker engine, which this machine does not run.
* d2lgrade: the same functions' tests of our graders, unchanged (``test_softmax_*`` and
  ``test_cross_entropy_*`` of ``graders/ch03_basics/test_softmax_regression.py``,
  ``test_corr2d_*`` of ``graders/ch05_cnn/test_conv_layer.py``), cut out into a small course
  (its ``solutions/`` and ``graders/``) so that ``--course`` grades only this assignment.
  Per submission: ``d2lgrade grade`` (a fresh command, like ``otter run``), sandboxed child
  process (the default). For the class: ``d2lgrade grade-batch``.
* The class: 20 generated submissions (``otter_class.py``), each written in both formats.

Timings: per round, each submission is graded by one tool and then the other (the order
alternates between rounds); then ``grade-batch`` grades the whole class. The Otter class time
is its loop over ``otter run`` (Otter has no batch mode without Docker): the sum of its
per-submission times in that round. pytest-benchmark is not used here: it times one callable
in consecutive rounds, and this comparison needs two external commands interleaved.
The report states the machine load of each round: the cores that other processes kept
busy (from /proc/stat, less the CPU time of this script's commands and their descendants).

    python benchmarks/otter_compare.py [--rounds 2] [--students 20] [--batch-workers 1 2]
                                       [--keep DIR] [--json FILE]
    tox -e otter                     (installs the pinned otter-grader and runs this)
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from otter_class import CLASS, FUNCTIONS, Student, writes_d2l, writes_otter  # noqa: E402

MASTER = ROOT / "benchmarks" / "otter" / "d2l_softmax_corr2d.ipynb"
SEED = 2026
CHAPTERS = sorted({module.split(".")[0] for module, _, _ in FUNCTIONS.values()})


def tool(name: str) -> str:
    """The console script next to this interpreter (the venv's), else the one on PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        sys.exit(f"{name} not found: install it (tox -e otter installs otter-grader)")
    return found


# -- the two assignments ----------------------------------------------------------------------
def cut_grader(source: str, prefixes: tuple[str, ...]) -> str:
    """The grader file without the tests of other functions (everything else kept as written)."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    drop = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_") \
                and not node.name.startswith(prefixes):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            drop.append((start, node.end_lineno))
    for start, end in reversed(drop):
        del lines[start - 1:end]
    return "".join(lines)


def build_d2l_course(dest: Path) -> Path:
    """A course root holding only this assignment: reference modules and the cut graders."""
    modules = sorted({module for module, _, _ in FUNCTIONS.values()})
    for module in modules:
        chapter, name = module.split(".")
        (dest / "solutions" / chapter).mkdir(parents=True, exist_ok=True)
        (dest / "graders" / chapter).mkdir(parents=True, exist_ok=True)
        needed = ["__init__.py", f"{name}.py"] + (["linear_regression.py"] if chapter == "ch03_basics" else [])
        for f in needed:
            shutil.copy(ROOT / "solutions" / chapter / f, dest / "solutions" / chapter / f)
        prefixes = tuple(p for m, p, _ in FUNCTIONS.values() if m == module)
        grader = (ROOT / "graders" / chapter / f"test_{name}.py").read_text()
        (dest / "graders" / chapter / f"test_{name}.py").write_text(cut_grader(grader, prefixes))
    (dest / "fixtures" / "generated").mkdir(parents=True)
    return dest


def build_otter(dest: Path, env: dict) -> tuple[Path, Path, float]:
    """``otter assign`` on the master notebook: (autograder zip, student notebook, seconds)."""
    start = time.perf_counter()
    proc = subprocess.run([tool("otter"), "assign", "-v", str(MASTER), str(dest)], env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0 or "All autograder tests passed" not in proc.stdout + proc.stderr:
        sys.exit(f"otter assign failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    (zip_path,) = (dest / "autograder").glob("*.zip")
    return zip_path, dest / "student" / MASTER.name, seconds


def write_class(students: list[Student], dest: Path, student_nb: Path) -> None:
    import nbformat
    template = nbformat.read(str(student_nb), as_version=4)
    for s in students:
        (dest / "otter").mkdir(parents=True, exist_ok=True)
        writes_otter(s, template, dest / "otter" / f"{s.name}.ipynb")
        writes_d2l(s, ROOT / "assignments", dest / "d2l" / s.name)


def otter_test_names() -> dict[str, list[str]]:
    """Question -> its test functions in the master notebook, in order (Otter reports
    numbered cases, "softmax - 3", not function names)."""
    import nbformat
    names: dict[str, list[str]] = {}
    question, in_tests = None, False
    for cell in nbformat.read(str(MASTER), as_version=4).cells:
        text = cell.source.strip()
        if cell.cell_type == "raw" and text.startswith("# BEGIN QUESTION"):
            question = re.search(r"^name:\s*(\S+)", text, re.M).group(1)
        elif cell.cell_type == "raw" and text in ("# BEGIN TESTS", "# END TESTS"):
            in_tests = text == "# BEGIN TESTS"
        elif cell.cell_type == "code" and in_tests:
            fn = next(n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef))
            names.setdefault(question, []).append(fn.name)
    return names


# -- grading ----------------------------------------------------------------------------------
def grade_otter(nb: Path, autograder: Path, out: Path, env: dict) -> tuple[float, dict]:
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    proc = subprocess.run([tool("otter"), "run", "-a", str(autograder), "-o", str(out),
                           "--no-logo", str(nb)], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0 or not (out / "results.json").exists():
        return seconds, {"error": (proc.stdout + proc.stderr)[-2000:]}
    data = json.loads((out / "results.json").read_text())
    names = otter_test_names()
    question_of = {q: fn for fn, (_, _, q) in FUNCTIONS.items()}
    scores, failed = {}, {}
    for t in data["tests"]:
        fn = question_of.get(t["name"])
        if fn is None:
            continue  # the "Public Tests" summary
        scores[fn] = float(t.get("score", 0))
        cases = re.findall(rf"{re.escape(t['name'])} - (\d+) result:\n\s*❌", t.get("output", ""))
        failed[fn] = [names[t["name"]][int(c) - 1] for c in cases]
    return seconds, {"scores": scores, "failed": failed}


def _by_function(results: dict) -> dict:
    scores, failed = {fn: 0.0 for fn in FUNCTIONS}, {fn: [] for fn in FUNCTIONS}
    for t in results["tests"]:
        test = t["name"].rsplit("::", 1)[-1].split(" ")[0]
        for fn, (_, prefix, _) in FUNCTIONS.items():
            if test.startswith(prefix):
                scores[fn] += float(t["score"])
                if t["score"] < t["max_score"]:
                    failed[fn].append(test)
    return {"scores": scores, "failed": failed}


def grade_d2l(sub: Path, course: Path, out: Path, env: dict) -> tuple[float, dict]:
    start = time.perf_counter()
    proc = subprocess.run([tool("d2lgrade"), "--course", str(course), "grade", str(sub),
                           "--out", str(out), "--seed", str(SEED)],
                          env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0 or not (out / "results.json").exists():
        return seconds, {"error": (proc.stdout + proc.stderr)[-2000:]}
    return seconds, _by_function(json.loads((out / "results.json").read_text()))


def grade_batch(subs: Path, course: Path, out: Path, workers: int, env: dict) -> tuple[float, dict]:
    start = time.perf_counter()
    proc = subprocess.run([tool("d2lgrade"), "--course", str(course), "grade-batch", str(subs),
                           "--out", str(out), "--workers", str(workers), "--seed", str(SEED),
                           "--chapters", *CHAPTERS, "--no-progress", "--force"],
                          env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"grade-batch failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    per = {}
    for marker in out.glob("*/status.json"):
        m = json.loads(marker.read_text())
        per[m["student"]] = {"elapsed": m["elapsed_s"], "status": m["status"],
                             "score": m.get("score")}
    return wall, per


# -- machine load -----------------------------------------------------------------------------
def adopt_orphans() -> None:
    """Become the reaper of our orphaned descendants (Linux). ``d2lgrade grade`` leaves its
    forkserver to exit after it; without this its CPU time would count as other sessions'."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def reap_orphans() -> None:
    """Collect the adopted descendants that have exited (their CPU time becomes ours)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def cpu_snapshot() -> tuple[float, float, float] | None:
    """(wall, CPU seconds the whole machine was busy, CPU seconds of this script's finished
    commands); None where /proc/stat is missing. Between two snapshots the difference of the
    last two is what other sessions used while we measured."""
    reap_orphans()
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    # user, nice, system, irq, softirq (not idle, iowait, steal; guest time is inside user)
    busy = sum(fields[i] for i in (0, 1, 2, 5, 6)) / os.sysconf("SC_CLK_TCK")
    ours = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter(), busy, ours.ru_utime + ours.ru_stime


def others_cores(before, after) -> float | None:
    """Cores that processes other than ours kept busy, on average, between two snapshots."""
    if before is None or after is None:
        return None
    wall, busy, ours = (a - b for a, b in zip(after, before))
    return (busy - ours) / wall


# -- report -----------------------------------------------------------------------------------
def spread(xs: list[float]) -> str:
    xs = sorted(xs)
    if len(xs) >= 4:
        q = statistics.quantiles(xs, n=4)
        return f"{statistics.median(xs):.2f} s (IQR {q[0]:.2f}-{q[2]:.2f}, range {xs[0]:.2f}-{xs[-1]:.2f})"
    return f"{statistics.median(xs):.2f} s (range {xs[0]:.2f}-{xs[-1]:.2f})"


def score_text(r: dict) -> str:
    if "error" in r:
        return "error"
    return " ".join(f"{r['scores'].get(fn, 0):g}" for fn in FUNCTIONS) + \
        f" = {sum(r['scores'].get(fn, 0) for fn in FUNCTIONS):g}"


def report(students, times, results, batches, otter_assign_s, ns, loads=()) -> str:
    out = []
    o_all = [t for s in students for t in times["otter"][s.name]]
    d_all = [t for s in students for t in times["d2l"][s.name]]
    paired = [o / d for s in students for o, d in zip(times["otter"][s.name], times["d2l"][s.name])]
    out.append(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
               f"{len(students)} submissions x {ns.rounds} rounds, interleaved")
    if loads:
        cores = ", ".join("n/a" if c is None else f"{max(c, 0.0):.2f}" for c, _ in loads)
        out.append(f"machine load per round: other processes kept {cores} of {os.cpu_count()} cores busy "
                   f"(machine CPU time less this script's commands); 1-min load average at the end of "
                   f"each round: {', '.join(f'{la:.2f}' for _, la in loads)}")
    out.append(f"otter assign (build the autograder, run the tests on the solution): {otter_assign_s:.1f} s")
    out.append("")
    out.append("| per submission (fresh command) | median (IQR, range) |")
    out.append("| --- | --- |")
    out.append(f"| Otter `otter run` (no container) | {spread(o_all)} |")
    out.append(f"| d2lgrade `d2lgrade grade` (sandboxed child) | {spread(d_all)} |")
    out.append(f"| ratio Otter / d2lgrade, per submission and round | "
               f"{statistics.median(paired):.2f}x (range {min(paired):.2f}-{max(paired):.2f}) |")
    out.append("")
    out.append("| class of %d | wall per round | median |" % len(students))
    out.append("| --- | --- | --- |")
    o_class = [sum(times["otter"][s.name][r] for s in students) for r in range(ns.rounds)]
    d_class = [sum(times["d2l"][s.name][r] for s in students) for r in range(ns.rounds)]
    out.append(f"| Otter: loop of `otter run`, one at a time | {', '.join(f'{x:.1f} s' for x in o_class)} | {statistics.median(o_class):.1f} s |")
    out.append(f"| d2lgrade: loop of `d2lgrade grade`, one at a time | {', '.join(f'{x:.1f} s' for x in d_class)} | {statistics.median(d_class):.1f} s |")
    for w in ns.batch_workers:
        walls = [b[0] for b in batches[w]]
        grading = [statistics.mean(p["elapsed"] for p in b[1].values()) for b in batches[w]]
        out.append(f"| d2lgrade: `grade-batch --workers {w}` | {', '.join(f'{x:.1f} s' for x in walls)} | "
                   f"{statistics.median(walls):.1f} s (grading per submission in a worker: "
                   f"{statistics.median(grading):.2f} s) |")
    for w in ns.batch_workers:
        walls = [b[0] for b in batches[w]]
        out.append(f"| ratio Otter loop / `grade-batch --workers {w}` | | "
                   f"{statistics.median(o_class) / statistics.median(walls):.1f}x |")
    out.append("")
    out.append("Scores per submission (softmax /10, cross_entropy /4, corr2d /5 = /19):")
    out.append("")
    out.append("| submission | what | Otter | d2lgrade | same? |")
    out.append("| --- | --- | --- | --- | --- |")
    diffs = []
    for s in students:
        o, d = results["otter"][s.name], results["d2l"][s.name]
        same = "error" not in o and "error" not in d and all(
            abs(o["scores"].get(fn, 0) - d["scores"][fn]) < 1e-9 for fn in FUNCTIONS)
        out.append(f"| {s.name} | {s.what} | {score_text(o)} | {score_text(d)} | {'yes' if same else '**no**'} |")
        if not same:
            diffs.append((s, o, d))
    for s, o, d in diffs:
        out.append("")
        out.append(f"{s.name}: " + (s.expect or "NOT EXPECTED: look at both reports"))
        for label, r in (("Otter", o), ("d2lgrade", d)):
            if "error" in r:
                out.append(f"  {label}: error: {r['error'][-400:]}")
                continue
            for fn in FUNCTIONS:
                out.append(f"  {label} {fn}: {r['scores'].get(fn, 0):g}, failed: "
                           f"{', '.join(r['failed'].get(fn, [])) or '-'}")
    for w in ns.batch_workers:
        # grade-batch seeds each student from the batch seed, so its inputs differ from grade's
        off = sorted({s.name for _, per in batches[w] for s in students
                      if "error" in results["d2l"][s.name] or per[s.name]["status"] != "graded"
                      or abs(per[s.name]["score"] - sum(results["d2l"][s.name]["scores"].values())) > 1e-9})
        out.append("")
        out.append(f"grade-batch --workers {w} gives the same totals as d2lgrade grade: "
                   f"{'yes, for every submission and round' if not off else 'NO: ' + ', '.join(off)}")
    unexpected = [s.name for s, _, _ in diffs if not s.expect]
    expected_missing = [s.name for s in students if s.expect and s not in [x for x, _, _ in diffs]]
    out.append("")
    out.append(f"differences: {len(diffs)} ({', '.join(s.name for s, _, _ in diffs) or 'none'}); "
               f"unexpected: {', '.join(unexpected) or 'none'}; expected but equal: "
               f"{', '.join(expected_missing) or 'none'}")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--students", type=int, default=len(CLASS), help="the first N of the class")
    parser.add_argument("--batch-workers", type=int, nargs="+", default=[1])
    parser.add_argument("--keep", help="build in this folder and keep it (default: a temporary one)")
    parser.add_argument("--json", help="also write the raw timings and scores here")
    ns = parser.parse_args()
    students = CLASS[:ns.students]

    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    work = Path(ns.keep) if ns.keep else Path(tempfile.mkdtemp(prefix="otter-compare-"))
    if ns.keep and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    try:
        course = build_d2l_course(work / "course")
        autograder, student_nb, assign_s = build_otter(work / "otter-dist", env)
        write_class(students, work / "class", student_nb)
        times = {"otter": {s.name: [] for s in students}, "d2l": {s.name: [] for s in students}}
        results = {"otter": {}, "d2l": {}}
        batches = {w: [] for w in ns.batch_workers}
        loads = []
        adopt_orphans()
        for r in range(ns.rounds):
            before = cpu_snapshot()
            for s in students:
                order = ("otter", "d2l") if r % 2 == 0 else ("d2l", "otter")
                for which in order:
                    out = work / "results" / f"round{r}" / which / s.name
                    if which == "otter":
                        t, res = grade_otter(work / "class" / "otter" / f"{s.name}.ipynb", autograder, out, env)
                    else:
                        t, res = grade_d2l(work / "class" / "d2l" / s.name, course, out, env)
                    reap_orphans()
                    times[which][s.name].append(t)
                    prev = results[which].get(s.name)
                    if prev is not None and prev != res:
                        print(f"warning: {which} scored {s.name} differently in round {r + 1}", file=sys.stderr)
                    results[which].setdefault(s.name, res)
                print(f"round {r + 1}/{ns.rounds} {s.name}: otter {times['otter'][s.name][-1]:.2f} s, "
                      f"d2lgrade {times['d2l'][s.name][-1]:.2f} s", file=sys.stderr, flush=True)
            for w in ns.batch_workers:
                wall, per = grade_batch(work / "class" / "d2l", course,
                                        work / "results" / f"round{r}" / f"batch{w}", w, env)
                batches[w].append((wall, per))
                print(f"round {r + 1}/{ns.rounds} grade-batch --workers {w}: {wall:.1f} s",
                      file=sys.stderr, flush=True)
            loads.append((others_cores(before, cpu_snapshot()), os.getloadavg()[0]))
        text = report(students, times, results, batches, assign_s, ns, loads)
        print(text)
        if ns.json:
            Path(ns.json).write_text(json.dumps({"times": times, "results": results,
                                                 "batches": {w: b for w, b in batches.items()},
                                                 "load": loads}, indent=1))
        bad = [n for which in results for n, r in results[which].items() if "error" in r]
        return 1 if bad else 0
    finally:
        if not ns.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
