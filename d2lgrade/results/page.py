"""The feedback page a student reads: one self-contained HTML file per graded submission.

Written by the trusted grading process after grading (``d2lgrade grade`` writes
``DIR/feedback.html``) from the Jinja2 template ``templates/feedback.html.j2`` with autoescape
on, so text from the submission cannot become markup. No scripts, no external links: inline
CSS (``templates/feedback.css``), and every plot or image is
a PNG data URI drawn here with matplotlib's Agg canvas (``matplotlib.figure.Figure`` with
``FigureCanvasAgg``, so no pyplot state and no display are involved).

What a student sees of each test follows its visibility. Messages are the plugin's, which
already hide expected values of hidden tests; plots of hidden tests never carry reference
series (``d2lgrade.results.feedback`` drops them when they are recorded).
"""
from __future__ import annotations

import base64
import functools
import datetime as _dt
import io
import re
from collections import OrderedDict
from pathlib import Path
from typing import Iterable

from d2lgrade.results.feedback import decode_image
from d2lgrade.results.model import TestResult

STATUS_TEXT = {"passed": "passed", "failed": "failed", "not_run": "not run"}
VISIBILITY_TEXT = {"public": "public", "hidden": "hidden test",
                   "after_due_date": "shown after the due date"}

def _png(fig) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(width: float = 6.4, height: float = 3.4):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot(1, 1, 1)


def _nan(values: list) -> list:
    return [float("nan") if v is None else v for v in values]


def draw_plot(att: dict) -> str:
    fig, ax = _figure()
    for s in att["series"]:
        style = dict(linestyle="--", linewidth=1.6, alpha=0.9) if s["reference"] else dict(linewidth=2)
        ax.plot(_nan(s["x"]), _nan(s["y"]), label=s["label"], **style)
    if att.get("logy"):
        ax.set_yscale("log")
    ax.set_xlabel(att.get("xlabel", ""))
    ax.set_ylabel(att.get("ylabel", ""))
    ax.set_title(att.get("title", ""), fontsize=11)
    ax.grid(True, alpha=0.3)
    if att["series"]:
        ax.legend(fontsize=9)
    return _png(fig)


def draw_trajectory(att: dict) -> str:
    import numpy as np
    fig, ax = _figure(5.2, 4.2)
    grid = att.get("contour")
    if grid:
        Z = np.array([_nan(row) for row in grid["z"]], dtype=float)
        ax.contour(grid["x"], grid["y"], Z, levels=20, cmap="Blues", linewidths=0.8)
    for s in att["series"]:
        style = dict(linestyle="--", marker=".", alpha=0.8) if s["reference"] else dict(marker="o", markersize=3)
        ax.plot(_nan(s["x"]), _nan(s["y"]), label=s["label"], **style)
    ax.set_xlim(*att["xlim"])
    ax.set_ylim(*att["ylim"])
    ax.set_xlabel(att.get("xlabel", ""))
    ax.set_ylabel(att.get("ylabel", ""))
    ax.set_title(att.get("title", ""), fontsize=11)
    if att["series"]:
        ax.legend(fontsize=9)
    return _png(fig)


def image_uri(item: dict) -> str:
    from matplotlib.image import imsave
    a = decode_image(item)
    buf = io.BytesIO()
    if a.shape[2] == 1:
        imsave(buf, a[:, :, 0], cmap="gray", vmin=0, vmax=255, format="png", metadata={"Software": None})
    else:
        imsave(buf, a, format="png", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def render_attachment(att: dict) -> dict:
    """The values the template shows for one attachment; a drawing problem becomes a line of
    text (``error``), never an exception: a report must always be written."""
    kind = att.get("type")
    out = {"kind": kind, "title": att.get("title", ""), "uri": None, "images": [], "note": "",
           "error": None}
    if att.get("reference_hidden"):
        out["note"] = "the reference's curve exists but is not shown for a hidden test"
    try:
        if kind == "images":
            out["images"] = [{"uri": image_uri(i), "label": i["label"]} for i in att["images"]]
        elif kind == "plot":
            out["uri"] = draw_plot(att)
        elif kind == "trajectory":
            out["uri"] = draw_trajectory(att)
    except Exception as exc:
        out["error"] = str(exc)
    return out


def _module_of(r: TestResult) -> str:
    path = r.nodeid.partition("::")[0]
    return path.rsplit("/", 1)[-1].removesuffix(".py")


def _score(rs: list[TestResult]) -> tuple[float, float]:
    return sum(r.score for r in rs), sum(r.max_score for r in rs)


def _pct(score: float, max_score: float) -> float:
    return 100.0 * score / max_score if max_score else 0.0


def _test(r: TestResult) -> dict:
    msg = r.message.strip()
    if r.status == "not_run":
        msg = f"not run: {msg}"
    return {"status": r.status, "id": r.display_name, "badge": STATUS_TEXT.get(r.status, r.status),
            "name": r.name, "visibility": VISIBILITY_TEXT.get(r.visibility, r.visibility),
            "score": r.score, "points": r.points, "message": msg,
            "attachments": [render_attachment(a) for a in r.attachments or []]}


def _chapters(results: Iterable[TestResult]) -> list[dict]:
    by_chapter: OrderedDict[str, list[TestResult]] = OrderedDict()
    for r in sorted(results, key=lambda r: r.chapter):
        by_chapter.setdefault(r.chapter, []).append(r)
    out = []
    for chapter, rs in by_chapter.items():
        modules: OrderedDict[str, list[TestResult]] = OrderedDict()
        for r in rs:
            modules.setdefault(_module_of(r), []).append(r)
        out.append({"name": chapter, **dict(zip(("score", "max_score"), _score(rs))),
                    "count": {k: sum(r.status == k for r in rs) for k in STATUS_TEXT},
                    "modules": [{"name": m, **dict(zip(("score", "max_score"), _score(mrs))),
                                 "tests": [_test(r) for r in mrs]} for m, mrs in modules.items()]})
    return out


@functools.lru_cache(maxsize=1)
def _template():
    import jinja2
    env = jinja2.Environment(loader=jinja2.PackageLoader("d2lgrade.results", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    env.globals.update(pct=_pct, num=lambda v: f"{v:g}")
    return env.get_template("feedback.html.j2")


def render_page(results: list[TestResult], *, submission: str = "", seed: int | None = None,
                notes: Iterable[str] = (), include_after_due_date: bool = True,
                generated: str | None = None, problems: Iterable = (),
                late: str = "") -> str:
    """The whole page as a string (``templates/feedback.html.j2``, every value escaped by
    Jinja2's autoescape). ``problems``: modules that did not import
    (``results.imports.ImportProblem``), told once at the top; ``late``: the deadline line
    (``gradebook.deadlines.Lateness.describe``)."""
    notes = list(notes)
    if not include_after_due_date:
        kept = [r for r in results if r.visibility != "after_due_date"]
        if len(kept) != len(results):
            notes.append(f"{len(results) - len(kept)} test(s) are shown after the due date "
                         "and are not counted here")
        results = kept
    score, max_score = _score(results)
    todo = sorted({m.group(1) for r in results if r.status == "failed"
                   for m in [re.search(r"NotImplementedError: ([\w.]+): ", r.message)] if m})
    return _template().render(
        submission=submission, seed=seed, score=score, max_score=max_score,
        generated=generated or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        problems=[p.describe() for p in problems], late=late, todo=todo, notes=notes,
        chapters=_chapters(results))


def write_feedback_html(path: Path, results: list[TestResult], **kw) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_page(results, **kw), encoding="utf-8")
    return path
