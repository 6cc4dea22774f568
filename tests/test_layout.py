"""The engine's layout (issue 17): one home per concern, imports that only go down.

The import graph is read from the source (every ``import``, also inside functions), so a lazy
import that closes a cycle counts too. Imports under ``if TYPE_CHECKING:`` are left out: they
are annotations, never run.

``LAYERS`` is the picture ARCHITECTURE.md draws: a package may import from its own layer's
modules only within itself, and otherwise only from layers below.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "d2lgrade"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _runtime_nodes(tree: ast.AST):
    """Every node, except what sits under ``if TYPE_CHECKING:``."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                todo.extend(child.orelse)
                continue
            todo.append(child)


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    graph = {m: set() for m in mods}
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in mods]
                # ``from . import ops`` depends on the submodule, not on the package's __init__
                targets = subs if len(subs) == len(node.names) else [target, *subs]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            graph[mod] |= {t for t in targets if t in mods and t != mod}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_checker_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles_in_the_engine():
    assert cycles(import_graph()) == []


def _third_party(path: Path) -> set[str]:
    return {a.name.split(".")[0] for n in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(n, (ast.Import, ast.ImportFrom)) and not getattr(n, "level", 0)
            for a in (n.names if isinstance(n, ast.Import) else [ast.alias(n.module or "")])}


def _closure(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(graph[m])
    return seen


def test_the_results_model_does_not_import_pytest():
    graph = import_graph()
    for mod in _closure(graph, "d2lgrade.results.model"):
        names = _third_party(_modules()[mod])
        assert "pytest" not in names and "torch" not in names, mod
    # (the batch's workers run graders, so the batch may reach pytest; its records may not)
    for consumer in ("d2lgrade.results.report", "d2lgrade.results.page", "d2lgrade.gradebook.db",
                     "d2lgrade.gradebook.views"):
        assert "d2lgrade.plugin" not in _closure(graph, consumer), consumer
        assert not any("pytest" in _third_party(_modules()[m]) for m in _closure(graph, consumer)
                       ), f"{consumer} depends on pytest"


#: Bottom to top. "d2lgrade" is the package's own __init__ (the public facade).
LAYERS = [
    {"errors", "paths", "text", "version"},      # facts every layer may use
    {"results"},                                  # the results model and its writers
    {"course", "scratch", "gradebook"},           # the course on disk; from-scratch rules; records
    {"isolation", "intake"},                      # the child and its sandbox; reading a submission
    {"grading"},                                  # running graders on one submission
    {"plugin"},                                   # the pytest hooks
    {"batch"},                                    # a whole class, local or on Ray
    {"export", "course_tools"},                   # platforms; stubs, release, validate, similarity
    {"cli", "d2lgrade"},                          # the command line; the public facade
]


def _package(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else "d2lgrade"


def test_every_engine_module_is_in_a_layer():
    placed = set().union(*LAYERS)
    assert {_package(m) for m in _modules()} <= placed


def test_imports_only_go_down_the_layers():
    layer = {pkg: i for i, pkgs in enumerate(LAYERS) for pkg in pkgs}
    upward = sorted(f"{mod} -> {dep}" for mod, deps in import_graph().items() for dep in deps
                    if _package(mod) != _package(dep) and layer[_package(dep)] >= layer[_package(mod)])
    assert upward == []


#: About 400 lines: one concern fits; a module past this holds several.
MAX_MODULE_LINES = 420


def test_no_engine_module_is_too_long():
    long = {m: n for m, p in _modules().items()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_type_checking_imports_are_not_runtime_edges():
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\nimport b\n")
    seen = {a.name for n in _runtime_nodes(tree) if isinstance(n, ast.Import) for a in n.names}
    assert seen == {"b"}


def test_the_scheduler_picks_one_of_two_backends_behind_one_interface():
    import inspect

    import pytest

    from d2lgrade.batch import BACKENDS, Backend, BatchError, backend_for
    from d2lgrade.batch.scheduler import run_batch
    assert BACKENDS == ("local", "ray")
    for name in BACKENDS:
        backend = backend_for(name)
        assert isinstance(backend, Backend) and backend.name == name
        assert list(inspect.signature(backend.run).parameters) == ["cfg", "todo", "on_done", "on_start"]
    with pytest.raises(BatchError, match="unknown backend"):
        backend_for("slurm")
    # the scheduler reaches a backend only through the interface
    graph = import_graph()
    assert graph["d2lgrade.batch.scheduler"] & {"d2lgrade.batch.local", "d2lgrade.batch.ray_backend"} == set()
    assert "backend_for" in inspect.getsource(run_batch)
