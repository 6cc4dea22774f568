"""Shortcut attacks (issue 14): submissions that replace one from-scratch function with a
shortcut and do none of the work.

Each folder in ``fixtures/attacks/shortcuts/`` is the reference solution with one function
replaced (``shortcut_source.py`` describes the layout); ``shortcuts.json`` says, per attack,
which grader tests call that function (measured by ``measure.py``: those tests fail when the
function raises) and must therefore earn nothing, which tests are its honest siblings and
must still pass, and which expected-zero tests the engine paid out when the attack was
written (``earns_today``).

An attack that still earns credit is a strict xfail (``UNDETECTED``): the detection is built
on branch wt/scratch; remove an attack's name from ``UNDETECTED`` when it earns nothing.
The sibling check is never an xfail: detection must not take points from honest code.

Grading runs in this process (``run_graders``, as ``validate`` does), only the attack's
expected-zero and sibling tests, one run per attack shared by its two checks.
"""
import importlib.util
import json
from pathlib import Path

import pytest

from d2lgrade.course.layout import Course
from d2lgrade.grading.api import run_graders

ROOT = Path(__file__).resolve().parent.parent
SHORTCUTS = ROOT / "fixtures" / "attacks" / "shortcuts"
MANIFEST = json.loads((SHORTCUTS / "shortcuts.json").read_text())
SEED = 11  # the seed measure.py used for the manifest

_spec = importlib.util.spec_from_file_location("shortcut_source", SHORTCUTS / "shortcut_source.py")
source = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(source)

#: Attacks that earned credit when they were written (issue 14). Remove a name once the
#: attack earns nothing; strict xfail makes an attack that is caught already fail loudly here.
UNDETECTED = {
    # pays only in a gpu-tier test (skipped where CUDA is missing); the test now gives each
    # timed call a fresh amount of work, which no GPU run here has confirmed yet
    "run_overlapped_memoised",
}

#: Siblings left out of the re-check to keep this module fast: training runs of 5-20 s
#: that do not call the attacked function (measure.py still checks them).
SLOW_SIBLINGS = {
    "test_mlp.py::test_train_mlp_concise_converges", "test_mlp.py::test_train_mlp_concise_learns",
    "test_translation.py::test_fr_en_small_translator",
    "test_translation.py::test_translator_learns_generated_corpus",
    "test_gru.py::test_gru_converges_and_memorises", "test_lstm.py::test_lstm_converges_and_memorises",
    "test_rnn_scratch.py::test_train_random_sampling_converges",
    "test_rnn_scratch.py::test_train_converges_and_memorises",
}

#: The attack classes of issue 14 and how many attacks each must have at least.
CLASSES = {"private_entry_point": 3, "untraced_library": 3, "second_definition": 2,
           "trace_in_one_test": 2, "trains_on_eval_data": 2, "lying_object": 2,
           "detects_grading": 2, "inflated_timing": 2}

_runs: dict[str, dict] = {}


def graded(name: str) -> dict:
    """``{"file.py::test": TestResult}`` for the attack's expected-zero and sibling tests."""
    if name not in _runs:
        entry = MANIFEST[name]
        tests = entry["expected_zero"] + [t for t in entry["siblings"] if t not in SLOW_SIBLINGS]
        course = Course(ROOT)
        folder = course.graders / entry["chapter"]
        run = run_graders(SHORTCUTS / name, course, [entry["chapter"]], seed=SEED,
                          isolation="process", node_ids=[str(folder / t) for t in tests],
                          call_timeout=60)
        _runs[name] = {r.nodeid.rsplit("/", 1)[-1]: r for r in run.results}
    return _runs[name]


def _case(name: str):
    if name in UNDETECTED:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason="issue 14: detection not built yet"))
    return name


@pytest.mark.parametrize("name", [_case(n) for n in sorted(MANIFEST)])
def test_shortcut_earns_nothing(name):
    entry = MANIFEST[name]
    results = graded(name)
    ran = [t for t in entry["expected_zero"] if results[t].status != "not_run"]
    if not ran:
        pytest.skip(f"the tests this shortcut pays in do not run here: {entry['expected_zero']}")
    paid = {t: results[t].score for t in ran if results[t].score > 0}
    assert not paid, f"{name} ({entry['class']}, {entry['function']}) still earns: {paid}"


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_honest_siblings_still_pass(name):
    results = graded(name)
    wrong = {t: results[t].message[:300] for t in MANIFEST[name]["siblings"]
             if t in results and results[t].status == "failed"}
    assert not wrong, f"the honest functions next to {MANIFEST[name]['function']} lost points: {wrong}"


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_attack_is_the_solution_but_for_the_shortcut(name):
    """Outside its SHORTCUT blocks the attack is today's solution; the manifest's grader files
    are still the ones that reach the attacked module (else: measure.py --resync NAME)."""
    entry = MANIFEST[name]
    assert (entry["files"], entry["modules"]) == source.involved(ROOT, entry["chapter"], entry["module"]), \
        f"the grader files reaching {entry['module']} changed: run measure.py --resync {name}"
    folder = SHORTCUTS / name
    found = sorted(".".join(p.relative_to(folder).with_suffix("").parts) for p in folder.rglob("*.py")
                   if p.name != "__init__.py")
    assert found == entry["modules"], f"{name} holds {found}, the manifest says {entry['modules']}"
    for module in entry["modules"]:
        path = folder.joinpath(*module.split(".")).with_suffix(".py")
        text = path.read_text()
        solution = ROOT.joinpath("solutions", *module.split(".")).with_suffix(".py").read_text()
        assert bool(source.blocks(text)) == (module == entry["module"]), \
            f"{path.name}: shortcut blocks belong in {entry['module']} only"
        drift = source.honest_drift(text, solution)
        assert drift is None, f"{path.relative_to(ROOT)}: {drift}; run measure.py --resync {name}"
    replaced = {n for n, _ in source.blocks(folder.joinpath(*entry["module"].split(".")).with_suffix(".py").read_text())}
    assert replaced <= {entry["function"], None}, f"{name} replaces {replaced}, not only {entry['function']}"


def test_manifest_covers_issue_14():
    folders = {p.name for p in SHORTCUTS.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == set(MANIFEST)
    per_class = {c: [n for n, e in MANIFEST.items() if e["class"] == c] for c in CLASSES}
    assert set(e["class"] for e in MANIFEST.values()) == set(CLASSES)
    for klass, least in CLASSES.items():
        assert len(per_class[klass]) >= least, (klass, per_class[klass])
    attacked = {(e["chapter"][:4], e["function"]) for e in MANIFEST.values()}
    for wanted in [("ch03", f) for f in ("softmax", "cross_entropy", "relu", "dropout", "train_softmax_scratch")] + \
                  [("ch05", f) for f in ("corr2d", "corr2d_multi_in", "corr2d_multi_in_out",
                                         "corr2d_multi_in_out_1x1", "Conv2D")]:
        assert wanted in attacked, wanted
    for name, entry in MANIFEST.items():
        assert entry["description"] and entry["expected_zero"], name
        assert not set(entry["expected_zero"]) & set(entry["siblings"]), name
        assert set(entry["earns_today"]) <= set(entry["expected_zero"]), name
