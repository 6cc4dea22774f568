"""Grade reports: the terminal table, Gradescope ``results.json`` and JUnit XML.

All three are written by the trusted grading process from ``plugin.TestResult`` records,
after the submission's child has been stopped.
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import OrderedDict
from pathlib import Path
from typing import Iterable

from .plugin import TestResult

#: Gradescope's names for our visibilities.
GRADESCOPE_VISIBILITY = {"public": "visible", "hidden": "hidden", "after_due_date": "after_due_date"}


def totals(results: Iterable[TestResult]) -> tuple[float, float]:
    results = list(results)
    return sum(r.score for r in results), sum(r.max_score for r in results)


def by_chapter(results: Iterable[TestResult]) -> "OrderedDict[str, list[TestResult]]":
    out: OrderedDict[str, list[TestResult]] = OrderedDict()
    for r in sorted(results, key=lambda r: r.chapter):
        out.setdefault(r.chapter, []).append(r)
    return out


def format_table(results: list[TestResult], seed: int | None = None, verbose: bool = False) -> str:
    """A plain-text score table: one line per chapter, failing tests listed under it."""
    lines = []
    width = max([len(c) for c in by_chapter(results)] + [7])
    lines.append(f"{'chapter':<{width}}  {'score':>13}  {'passed':>7}  {'failed':>6}  {'not run':>7}")
    for chapter, rs in by_chapter(results).items():
        score, max_score = totals(rs)
        count = {s: sum(r.status == s for r in rs) for s in ("passed", "failed", "not_run")}
        lines.append(f"{chapter:<{width}}  {score:>6g} / {max_score:<4g}  {count['passed']:>7}  "
                     f"{count['failed']:>6}  {count['not_run']:>7}")
        for r in rs:
            if r.status == "failed" or (verbose and r.status != "passed"):
                first = (r.message.strip().splitlines() or [""])[0][:110]
                lines.append(f"    {r.status.upper():7} {r.name} [{r.points:g}]: {first}")
    score, max_score = totals(results)
    pct = 100.0 * score / max_score if max_score else 0.0
    lines.append(f"{'TOTAL':<{width}}  {score:>6g} / {max_score:<4g}  ({pct:.1f}%)")
    if seed is not None:
        lines.append(f"seed {seed} (regrade with --seed {seed})")
    return "\n".join(lines)


def gradescope_results(results: list[TestResult], *, seed: int, isolation: str,
                       execution_time: float, output: str = "",
                       protections: list[str] | None = None) -> dict:
    """The Gradescope autograder ``results.json`` structure.

    Tests that did not run (missing tier) keep ``max_score`` 0, so they do not count.
    """
    score, max_score = totals(results)
    tests = []
    for r in results:
        tests.append({
            "name": r.display_name,
            "score": r.score,
            "max_score": r.max_score,
            "status": {"passed": "passed", "failed": "failed"}.get(r.status, "skipped"),
            "output": r.message if r.status != "not_run" else f"not run: {r.message}",
            "visibility": GRADESCOPE_VISIBILITY[r.visibility],
            "extra_data": {"nodeid": r.nodeid, "tier": r.tier, "duration_s": round(r.duration, 3)},
        })
    return {
        "score": score,
        "max_score": max_score,
        "execution_time": round(execution_time, 2),
        "output": output,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": {"seed": seed, "isolation": isolation,
                       "protections": protections or [],
                       "not_run": sum(r.status == "not_run" for r in results)},
        "tests": tests,
    }


def junit_xml(results: list[TestResult]) -> bytes:
    suites = ET.Element("testsuites")
    for chapter, rs in by_chapter(results).items():
        suite = ET.SubElement(suites, "testsuite", name=chapter, tests=str(len(rs)),
                              failures=str(sum(r.status == "failed" for r in rs)),
                              skipped=str(sum(r.status == "not_run" for r in rs)),
                              time=f"{sum(r.duration for r in rs):.3f}")
        for r in rs:
            case = ET.SubElement(suite, "testcase", classname=chapter, name=r.name,
                                 time=f"{r.duration:.3f}")
            ET.SubElement(case, "properties").append(ET.Element(
                "property", name="points", value=f"{r.points:g}"))
            if r.status == "failed":
                ET.SubElement(case, "failure", message=(r.message.splitlines() or [""])[0][:200]).text = r.message
            elif r.status == "not_run":
                ET.SubElement(case, "skipped", message=r.message[:200])
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True)


def write_outputs(out_dir: Path, results: list[TestResult], **meta) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    data = gradescope_results(results, **meta)
    (out_dir / "results.json").write_text(json.dumps(data, indent=2))
    (out_dir / "junit.xml").write_bytes(junit_xml(results))
    return data
