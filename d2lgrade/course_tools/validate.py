"""Proof of the graders: ``d2lgrade validate``.

1. ``solutions/`` scores full marks (every test that runs here passes);
2. ``assignments/`` scores 0 on every graded test;
3. every mutant in ``fixtures/mutants/<chapter>/`` fails each test it names;
4. every graded function (a function with a solution region) has at least
   ``MIN_MUTANTS_PER_FUNCTION`` mutants;
5. optionally, isolation "none" gives the same statuses as isolation "process".

A mutant is a plausible student bug, written as a small Python file that redefines one or
more top-level functions or classes of one solution module::

    \"\"\"softmax without subtracting the row maximum: overflows for large logits.\"\"\"
    # module: ch03_basics.softmax_regression
    # catches: test_softmax_regression.py::test_softmax_stable_for_large_logits

    def softmax(X):
        X_exp = X.exp()
        return X_exp / X_exp.sum(dim=1, keepdim=True)

``catches`` lists test ids relative to ``graders/<chapter>/``. Only those tests run against
the mutant, which keeps validation fast as the course grows.
"""
from __future__ import annotations

import ast
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from d2lgrade.course.layout import Course
from d2lgrade.course.stubs import BEGIN, _functions
from d2lgrade.grading.api import run_graders

MIN_MUTANTS_PER_FUNCTION = 2
_HEADER = re.compile(r"^#\s*(module|catches):\s*(.+?)\s*$", re.M)


@dataclass
class Mutant:
    path: Path
    chapter: str
    module: str
    catches: list[str]
    description: str
    source: str

    @property
    def name(self) -> str:
        return f"{self.chapter}/{self.path.stem}"

    def replaced_names(self) -> list[str]:
        tree = ast.parse(self.source)
        return [n.name for n in tree.body
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


class MutantError(Exception):
    pass


def load_mutant(path: Path) -> Mutant:
    source = path.read_text(encoding="utf-8")
    fields = dict((k, v) for k, v in _HEADER.findall(source))
    if "module" not in fields or "catches" not in fields:
        raise MutantError(f"{path}: needs '# module: ...' and '# catches: ...' lines")
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise MutantError(f"{path}:{exc.lineno}: does not parse: {exc.msg}") from None
    doc = ast.get_docstring(tree) or ""
    if not doc:
        raise MutantError(f"{path}: describe the bug in the module docstring")
    chapter = path.parent.name
    if not fields["module"].startswith(chapter + "."):
        raise MutantError(f"{path}: module {fields['module']} is not in chapter {chapter}")
    catches = [c.strip() for c in fields["catches"].split(",") if c.strip()]
    return Mutant(path, chapter, fields["module"], catches, doc.splitlines()[0], source)


def load_mutants(course: Course, chapters: list[str]) -> list[Mutant]:
    out = []
    for chapter in chapters:
        folder = course.mutants / chapter
        if folder.is_dir():
            out += [load_mutant(p) for p in sorted(folder.glob("*.py"))]
    return out


def splice(solution_source: str, mutant: Mutant) -> str:
    """The solution module with the mutant's definitions in place of the originals."""
    sol_tree = ast.parse(solution_source)
    mut_tree = ast.parse(mutant.source)
    lines = solution_source.splitlines(keepends=True)
    replacements = {}
    extra = []
    mut_lines = mutant.source.splitlines(keepends=True)
    for node in mut_tree.body:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        text = "".join(mut_lines[start - 1:node.end_lineno])
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            replacements[node.name] = text
        elif not (isinstance(node, ast.Expr) and isinstance(getattr(node, "value", None), ast.Constant)):
            extra.append(text)  # imports the mutant needs
    spans = []
    for node in sol_tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in replacements:
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            spans.append((start, node.end_lineno, replacements.pop(node.name)))
    if replacements:
        raise MutantError(f"{mutant.path}: {', '.join(replacements)} not defined in {mutant.module}")
    for start, end, text in sorted(spans, reverse=True):
        lines[start - 1:end] = [text if text.endswith("\n") else text + "\n"]
    return "".join(lines) + "\n" + "".join(extra)


def graded_functions(course: Course, chapter: str) -> dict[str, list[str]]:
    """module -> top-level names that contain a solution region."""
    out = {}
    for path in sorted((course.solutions / chapter).rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        functions = _functions(ast.parse(source))
        names = set()
        for number, line in enumerate(source.splitlines(), start=1):
            if BEGIN.match(line):
                owners = [f for f in functions if f[0] < number <= f[1]]
                if owners:
                    names.add(owners[-1][2].split(".")[0])
        if names:
            module = ".".join(path.relative_to(course.solutions).with_suffix("").parts)
            out[module] = sorted(names)
    return out


def grade_mutant(course: Course, m: Mutant, *, seed: int, isolation: str = "process",
                 node_ids: list[str] | None = None):
    """Grade a copy of the solution with the mutant spliced in (all of its chapter's tests,
    or only ``node_ids``)."""
    with tempfile.TemporaryDirectory(prefix="d2lgrade-mutant-") as tmp:
        root = Path(tmp)
        shutil.copytree(course.solutions / m.chapter, root / m.chapter,
                        ignore=shutil.ignore_patterns("__pycache__"))
        target = root.joinpath(*m.module.split(".")).with_suffix(".py")
        target.write_text(splice(target.read_text(encoding="utf-8"), m), encoding="utf-8")
        return run_graders(root, course, [m.chapter], seed=seed, isolation=isolation,
                           node_ids=node_ids)


@dataclass
class ValidationReport:
    problems: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        verdict = ("validate: OK" if self.ok else
                   f"validate: {len(self.problems)} problem(s)\n" + "\n".join(f"  - {p}" for p in self.problems))
        return "\n".join(self.lines + [verdict])


def _statuses(run) -> dict[str, str]:
    return {r.nodeid: r.status for r in run.results}


#: A solution docstring that asks for hand-written code (the function, or its whole module).
_BY_HAND = re.compile(r"without ``|without `|written without|by hand|not allowed|do not use|\bno ``|"
                      r"no (?:convolution|pooling) routines", re.I)
_MODULE_BY_HAND = re.compile(r"not allowed|do not use", re.I)
_CALL_WITHOUT = re.compile(r"call_without\(\s*student\.(\w+)")


def _grader_module_name(tree: ast.Module) -> str | None:
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "MODULE" for t in node.targets)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            return node.value.value
    return None


def declared_policies(course: Course, chapter: str) -> set[str]:
    """``module.qualname`` of every ``from_scratch(...)`` in the chapter's graders (read, not run)."""
    found = set()
    for path in sorted((course.graders / chapter).glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module = _grader_module_name(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "from_scratch"
                    and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)):
                first = node.args[0]
                mod = first.value if isinstance(first, ast.Constant) else module
                if mod:
                    found.add(f"{mod}.{node.args[1].value}")
    return found


def scratch_candidates(course: Course, chapter: str) -> dict[str, str]:
    """Graded functions that look like "write it yourself" ones, with the reason."""
    out: dict[str, str] = {}
    for path in sorted((course.graders / chapter).glob("*.py")):
        source = path.read_text(encoding="utf-8")
        module = _grader_module_name(ast.parse(source))
        for name in _CALL_WITHOUT.findall(source):
            if module:
                out.setdefault(f"{module}.{name}", "its grader uses call_without")
    for module, names in graded_functions(course, chapter).items():
        path = course.solutions.joinpath(*module.split(".")).with_suffix(".py")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module_asks = bool(_MODULE_BY_HAND.search(ast.get_docstring(tree) or ""))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names:
                if _BY_HAND.search(ast.get_docstring(node) or ""):
                    out.setdefault(f"{module}.{node.name}", "its docstring asks for hand-written code")
                elif module_asks:
                    out.setdefault(f"{module}.{node.name}", "its module asks for hand-written code")
    return out


def policy_coverage(course: Course, chapters: list[str]) -> tuple[int, dict[str, str]]:
    """(policies declared, from-scratch-looking functions without one -> reason)."""
    declared, missing = 0, {}
    for chapter in chapters:
        have = declared_policies(course, chapter)
        declared += len(have)
        for key, why in scratch_candidates(course, chapter).items():
            if key not in have:
                missing[key] = why
    return declared, missing


def validate(course: Course, chapters: list[str] | None = None, seed: int = 20261124,
             isolation: str = "process", mutants: bool = True,
             compare_isolation: bool = False, workers: int | None = None,
             strict_policies: bool = False) -> ValidationReport:
    report = ValidationReport()
    chapters = chapters or course.chapters()
    t0 = time.perf_counter()

    declared, missing = policy_coverage(course, chapters)
    report.lines.append(f"from-scratch policies: {declared} declared; {len(missing)} function(s) "
                        f"look from-scratch without one" + (":" if missing else ""))
    report.lines += [f"  {key} ({why})" for key, why in sorted(missing.items())]
    if strict_policies:
        report.problems += [f"{key} has no from_scratch policy ({why})" for key, why in sorted(missing.items())]

    sol = run_graders(course.solutions, course, chapters, seed=seed, isolation=isolation)
    bad = [r for r in sol.results if r.status == "failed"]
    report.problems += [f"solution fails {r.nodeid}: {r.message.splitlines()[0] if r.message else ''}"
                        for r in bad]
    not_run = sum(r.status == "not_run" for r in sol.results)
    report.lines.append(f"solutions:   {sol.score:g} / {sol.max_score:g} "
                        f"({len(sol.results)} tests, {not_run} not run here) in {sol.elapsed:.1f} s")

    stub = run_graders(course.assignments, course, chapters, seed=seed, isolation=isolation)
    report.problems += [f"stub passes {r.nodeid}" for r in stub.results if r.status == "passed"]
    report.lines.append(f"assignments: {stub.score:g} / {stub.max_score:g} in {stub.elapsed:.1f} s")

    if compare_isolation:
        other = "none" if isolation == "process" else "process"
        for name, run, folder in (("solutions", sol, course.solutions),
                                  ("assignments", stub, course.assignments)):
            alt = run_graders(folder, course, chapters, seed=seed, isolation=other)
            if _statuses(alt) != _statuses(run):
                diff = [n for n in _statuses(run) if _statuses(run)[n] != _statuses(alt).get(n)]
                report.problems.append(f"{name}: isolation {other} differs on {', '.join(diff[:5])}")
            report.lines.append(f"{name} with isolation {other}: {alt.score:g} / {alt.max_score:g} "
                                f"in {alt.elapsed:.1f} s")

    if mutants:
        _validate_mutants(course, chapters, seed, isolation, report,
                          workers or min(os.cpu_count() or 1, 4))
    report.lines.append(f"validation took {time.perf_counter() - t0:.1f} s")
    return report


def _validate_mutants(course: Course, chapters: list[str], seed: int, isolation: str,
                      report: ValidationReport, workers: int) -> None:
    try:
        all_mutants = load_mutants(course, chapters)
    except MutantError as exc:
        report.problems.append(str(exc))
        return
    coverage: dict[tuple[str, str], int] = {}
    for m in all_mutants:
        for name in m.replaced_names():
            coverage[(m.module, name)] = coverage.get((m.module, name), 0) + 1
    for chapter in chapters:
        for module, names in graded_functions(course, chapter).items():
            for name in names:
                count = coverage.get((module, name), 0)
                if count < MIN_MUTANTS_PER_FUNCTION:
                    report.problems.append(f"{module}.{name} has {count} mutant(s); "
                                           f"at least {MIN_MUTANTS_PER_FUNCTION} are required")
    caught = 0
    t0 = time.perf_counter()
    for m, outcome in zip(all_mutants, _grade_mutants(course, all_mutants, seed, isolation, workers)):
        if isinstance(outcome, str):
            report.problems.append(outcome)
            continue
        missed = []
        for c in m.catches:
            status = outcome.get(c)
            if status is None:
                missed.append(f"{c} (no such test)")
            elif status == "passed":
                missed.append(c)
            # "not_run": its tier cannot run here; nothing to prove on this machine
        if missed:
            report.problems.append(f"mutant {m.name} ({m.description}) survives {', '.join(missed)}")
        else:
            caught += 1
    report.lines.append(f"mutants:     {caught} / {len(all_mutants)} caught "
                        f"in {time.perf_counter() - t0:.1f} s ({workers} worker(s))")


def _mutant_statuses(course_root: str, mutant_path: str, seed: int, isolation: str) -> dict[str, str] | str:
    """Grade one mutant against the tests it names: ``{"test_x.py::test_y": status}``, or a
    problem message. Runs in a pool worker (or inline); returns plain data only."""
    course = Course(Path(course_root))
    try:
        m = load_mutant(Path(mutant_path))
        run = grade_mutant(course, m, seed=seed, isolation=isolation,
                           node_ids=[str(course.graders / m.chapter / c) for c in m.catches])
    except (MutantError, OSError, RuntimeError) as exc:
        return str(exc)
    return {r.nodeid.split("::", 1)[0].rsplit("/", 1)[-1] + "::" + r.nodeid.split("::", 1)[1]: r.status
            for r in run.results}


def _grade_mutants(course: Course, mutants: list[Mutant], seed: int, isolation: str, workers: int):
    """Outcomes of ``_mutant_statuses`` in the order of ``mutants``. With several workers each
    is a fresh interpreter ("spawn": no inherited forkserver or torch threads) that imports
    torch once and grades many mutants; every mutant still gets its own pytest session and
    its own student child."""
    args = [(str(course.root), str(m.path), seed, isolation) for m in mutants]
    if workers <= 1 or len(mutants) < 2:
        return [_mutant_statuses(*a) for a in args]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_mutant_statuses, *zip(*args), chunksize=4))
