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

from d2lgrade.results.model import TestResult

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


#: ANSI styles of the terminal table.
_STYLE = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}


def use_color(stream=None) -> bool:
    """Colours only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    import os
    import sys
    stream = stream if stream is not None else sys.stdout
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _paint(text: str, style: str, color: bool) -> str:
    if not color or not style:
        return text
    codes = ";".join(_STYLE[s] for s in style.split())
    return f"\033[{codes}m{text}\033[0m"


def _grade_style(score: float, max_score: float) -> str:
    if not max_score:
        return "dim"
    frac = score / max_score
    return "green" if frac >= 1 else "yellow" if frac >= 0.5 else "red"


def format_table(results: list[TestResult], seed: int | None = None, verbose: bool = False,
                 color: bool = False) -> str:
    """The score table: one line per chapter, failing tests listed under it.

    ``color`` adds ANSI colours (pass ``use_color()``); without it the text is plain.
    Padding is computed on the plain text, so columns line up either way.
    """
    lines = []
    width = max([len(c) for c in by_chapter(results)] + [7])
    lines.append(_paint(f"{'chapter':<{width}}  {'score':>13}  {'%':>4}  {'passed':>7}  {'failed':>6}  "
                        f"{'not run':>7}", "bold", color))
    for chapter, rs in by_chapter(results).items():
        score, max_score = totals(rs)
        pct = 100.0 * score / max_score if max_score else 0.0
        count = {s: sum(r.status == s for r in rs) for s in ("passed", "failed", "not_run")}
        style = _grade_style(score, max_score)
        lines.append(f"{chapter:<{width}}  " + _paint(f"{score:>6g} / {max_score:<4g}", style, color)
                     + f"  {pct:>3.0f}%  " + _paint(f"{count['passed']:>7}", "green" if count["passed"] else "", color)
                     + "  " + _paint(f"{count['failed']:>6}", "red" if count["failed"] else "", color)
                     + "  " + _paint(f"{count['not_run']:>7}", "dim" if count["not_run"] else "", color))
        for r in rs:
            if r.status == "failed" or (verbose and r.status != "passed"):
                first = (r.message.strip().splitlines() or [""])[0][:110]
                status = _paint(f"{r.status.upper():7}", "red" if r.status == "failed" else "yellow", color)
                lines.append(f"    {status} {r.name} [{r.points:g}]: " + _paint(first, "dim", color))
    score, max_score = totals(results)
    pct = 100.0 * score / max_score if max_score else 0.0
    lines.append(_paint(f"{'TOTAL':<{width}}  ", "bold", color)
                 + _paint(f"{score:>6g} / {max_score:<4g}  ({pct:.1f}%)", "bold " + _grade_style(score, max_score), color))
    if seed is not None:
        lines.append(_paint(f"seed {seed} (regrade with --seed {seed})", "dim", color))
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


def write_outputs(out_dir: Path, results: list[TestResult], *, page: dict | None = None,
                  write=None, **meta) -> dict:
    """The one writer of a student's outputs: ``results.json`` (Gradescope's format),
    ``junit.xml`` and, unless ``page`` is None, ``feedback.html``.

    Used by ``d2lgrade grade``, the ``grade-batch`` workers and the Gradescope and Classroom
    runners. ``page`` holds the page's options (``submission``, ``notes``, ``late``,
    ``include_after_due_date``); a submission that did not import is said once at the top of
    the page and in the results' ``output``. A page that cannot be drawn is noted in the
    results and never stops grading. ``write(path, bytes_or_text)`` replaces plain writes
    (the batch writes atomically).
    """
    from d2lgrade.results.imports import import_problems, summary_line
    out_dir.mkdir(parents=True, exist_ok=True)
    write = write or _plain_write
    extra = meta.pop("extra", None) or {}
    problems = import_problems(results)
    if problems:
        line = summary_line(problems)
        meta["output"] = line + ("\n" + meta["output"] if meta.get("output") else "")
    data = gradescope_results(results, **meta)
    data["extra_data"].update(extra, did_not_import=[p.to_dict() for p in problems])
    if page is not None:
        from d2lgrade.results.page import render_page
        try:
            html = render_page(results, seed=meta.get("seed"), problems=problems, **page)
            write(out_dir / "feedback.html", html)
            data["extra_data"]["feedback_page"] = "feedback.html"
        except Exception as exc:  # the grade stands without its page
            data["output"] = (data.get("output") or "") + f"\nfeedback.html could not be written: {exc}"
    write(out_dir / "results.json", json.dumps(data, indent=2))
    write(out_dir / "junit.xml", junit_xml(results))
    return data


def _plain_write(path: Path, data: bytes | str) -> None:
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
