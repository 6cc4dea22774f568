"""The feedback page a student reads: one self-contained HTML file per graded submission.

Written by the trusted grading process after grading (``d2lgrade grade`` writes
``DIR/feedback.html``). No scripts, no external links: inline CSS, and every plot or image is
a PNG data URI drawn here with matplotlib's Agg canvas (``matplotlib.figure.Figure`` with
``FigureCanvasAgg``, so no pyplot state and no display are involved).

What a student sees of each test follows its visibility. Messages are the plugin's, which
already hide expected values of hidden tests; plots of hidden tests never carry reference
series (``d2lgrade.feedback`` drops them when they are recorded).
"""
from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import re
from collections import OrderedDict
from pathlib import Path
from typing import Iterable

from .feedback import decode_image
from .results import TestResult

STATUS_TEXT = {"passed": "passed", "failed": "failed", "not_run": "not run"}
VISIBILITY_TEXT = {"public": "public", "hidden": "hidden test",
                   "after_due_date": "shown after the due date"}

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;margin:0;
 background:#f6f7f9;color:#1d2330;line-height:1.45}
main{max-width:980px;margin:0 auto;padding:24px}
h1{margin:0 0 4px;font-size:26px}h2{font-size:20px;margin:0}h3{font-size:15px;margin:16px 0 6px;
 color:#4a5468}
.meta{color:#5b6578;font-size:13px}.total{font-size:20px;margin:8px 0}
.bar{height:10px;background:#e2e5ea;border-radius:5px;overflow:hidden;margin:6px 0 2px}
.bar>span{display:block;height:100%;background:#2f9e44}
table.summary{border-collapse:collapse;width:100%;background:#fff;margin:16px 0;
 box-shadow:0 1px 2px #0001}
table.summary th,table.summary td{padding:6px 10px;text-align:left;border-bottom:1px solid #e6e8ec}
table.summary td.num{text-align:right;font-variant-numeric:tabular-nums}
section.chapter{background:#fff;margin:18px 0;padding:14px 18px;border-radius:6px;
 box-shadow:0 1px 2px #0001}
.chapter-head{display:flex;justify-content:space-between;align-items:baseline}
.test{border-left:4px solid #ccd;padding:6px 10px;margin:8px 0;background:#fbfbfc}
.test.passed{border-color:#2f9e44}.test.failed{border-color:#e03131}.test.not_run{border-color:#adb5bd}
.test-head{display:flex;gap:10px;align-items:baseline;flex-wrap:wrap}
.badge{font-size:12px;font-weight:600;padding:1px 7px;border-radius:9px;color:#fff;background:#868e96}
.passed .badge{background:#2f9e44}.failed .badge{background:#e03131}
.name{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}
.pts{margin-left:auto;font-variant-numeric:tabular-nums;font-weight:600}
.vis{font-size:12px;color:#6c7689}
pre.msg{white-space:pre-wrap;word-break:break-word;background:#f1f3f5;padding:8px;border-radius:4px;
 font-size:12.5px;margin:6px 0 2px}
figure{margin:10px 0}figure img{max-width:100%;height:auto;border:1px solid #e6e8ec}
figcaption{font-size:12.5px;color:#5b6578}
.images{display:flex;flex-wrap:wrap;gap:8px}.images figure{margin:0;text-align:center}
.images img{width:96px;height:auto;image-rendering:pixelated}
.notes{background:#fff4e6;border:1px solid #ffd8a8;padding:8px 12px;border-radius:4px}
.problem{background:#ffe3e3;border:1px solid #ffa8a8;padding:8px 12px;border-radius:4px}
.late{font-weight:600}
"""


def _esc(text: str) -> str:
    return html.escape(str(text), quote=True)


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


def render_attachment(att: dict) -> str:
    """HTML of one attachment; a drawing problem becomes a line of text, never an error."""
    kind = att.get("type")
    note = ""
    if att.get("reference_hidden"):
        note = " (the reference's curve exists but is not shown for a hidden test)"
    try:
        if kind == "images":
            cells = "".join(f'<figure><img src="{image_uri(i)}" alt="{_esc(i["label"] or "image")}">'
                            f'<figcaption>{_esc(i["label"])}</figcaption></figure>'
                            for i in att["images"])
            return (f'<div class="attachment"><h3>{_esc(att["title"])}</h3>'
                    f'<div class="images">{cells}</div></div>')
        uri = draw_plot(att) if kind == "plot" else draw_trajectory(att) if kind == "trajectory" else None
        if uri is None:
            return f'<p class="meta">(unknown attachment type {_esc(kind)})</p>'
        return (f'<figure class="attachment {kind}"><img src="{uri}" alt="{_esc(att["title"])}">'
                + (f'<figcaption>{_esc(note.strip(" ()"))}</figcaption>' if note else "") + "</figure>")
    except Exception as exc:  # a report must always be written
        return f'<p class="meta">(the plot "{_esc(att.get("title", ""))}" could not be drawn: {_esc(exc)})</p>'


def _module_of(r: TestResult) -> str:
    path = r.nodeid.partition("::")[0]
    return path.rsplit("/", 1)[-1].removesuffix(".py")


def _by_chapter(results: Iterable[TestResult]) -> "OrderedDict[str, list[TestResult]]":
    out: OrderedDict[str, list[TestResult]] = OrderedDict()
    for r in sorted(results, key=lambda r: r.chapter):
        out.setdefault(r.chapter, []).append(r)
    return out


def _score(rs: list[TestResult]) -> tuple[float, float]:
    return sum(r.score for r in rs), sum(r.max_score for r in rs)


def _pct(score: float, max_score: float) -> float:
    return 100.0 * score / max_score if max_score else 0.0


def _bar(score: float, max_score: float) -> str:
    return f'<div class="bar"><span style="width:{_pct(score, max_score):.1f}%"></span></div>'


def _test_html(r: TestResult) -> str:
    test = r.name
    msg = r.message.strip()
    if r.status == "not_run":
        msg = f"not run: {msg}"
    parts = [f'<div class="test {r.status}" id="{_esc(r.display_name)}">',
             '<div class="test-head">',
             f'<span class="badge">{STATUS_TEXT.get(r.status, r.status)}</span>',
             f'<span class="name">{_esc(test)}</span>',
             f'<span class="vis">{_esc(VISIBILITY_TEXT.get(r.visibility, r.visibility))}</span>',
             f'<span class="pts">{r.score:g} / {r.points:g}</span></div>']
    if msg:
        parts.append(f'<pre class="msg">{_esc(msg)}</pre>')
    parts += [render_attachment(a) for a in r.attachments or []]
    parts.append("</div>")
    return "".join(parts)


def render_page(results: list[TestResult], *, submission: str = "", seed: int | None = None,
                notes: Iterable[str] = (), include_after_due_date: bool = True,
                generated: str | None = None, problems: Iterable = (),
                late: str = "") -> str:
    """The whole page as a string. ``problems``: modules that did not import
    (``gradebook.imports.ImportProblem``), told once at the top; ``late``: the deadline line
    (``gradebook.deadlines.Lateness.describe``)."""
    notes = list(notes)
    problems = list(problems)
    if not include_after_due_date:
        kept = [r for r in results if r.visibility != "after_due_date"]
        if len(kept) != len(results):
            notes.append(f"{len(results) - len(kept)} test(s) are shown after the due date "
                         "and are not counted here")
        results = kept
    score, max_score = _score(results)
    generated = generated or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = [f"<h1>Feedback{(': ' + _esc(submission)) if submission else ''}</h1>",
            f'<p class="total">Score <b>{score:g} / {max_score:g}</b> ({_pct(score, max_score):.1f}%)</p>',
            _bar(score, max_score),
            f'<p class="meta">graded {generated}'
            + (f" · seed {seed} (a regrade with this seed uses the same inputs)" if seed is not None else "")
            + "</p>"]
    if problems:
        body.append('<div class="problem"><b>Did not import</b> (the tests of these modules '
                    'could not run; fix this first)<ul>'
                    + "".join(f"<li><code>{_esc(p.describe())}</code></li>" for p in problems)
                    + "</ul></div>")
    if late:
        body.append(f'<p class="late">Deadline: {_esc(late)}</p>')
    todo = sorted({m.group(1) for r in results if r.status == "failed"
                   for m in [re.search(r"NotImplementedError: ([\w.]+): ", r.message)] if m})
    if todo:
        body.append('<p class="meta">Not implemented yet: '
                    + ", ".join(f"<code>{_esc(t)}</code>" for t in todo) + "</p>")
    if notes:
        body.append('<div class="notes"><b>Notes</b><ul>'
                    + "".join(f"<li>{_esc(n)}</li>" for n in notes) + "</ul></div>")
    chapters = _by_chapter(results)
    rows = []
    for chapter, rs in chapters.items():
        s, m = _score(rs)
        count = {k: sum(r.status == k for r in rs) for k in STATUS_TEXT}
        rows.append(f'<tr><td><a href="#{_esc(chapter)}">{_esc(chapter)}</a></td>'
                    f'<td class="num">{s:g} / {m:g}</td><td class="num">{_pct(s, m):.0f}%</td>'
                    f'<td class="num">{count["passed"]}</td><td class="num">{count["failed"]}</td>'
                    f'<td class="num">{count["not_run"]}</td></tr>')
    body.append('<table class="summary"><thead><tr><th>chapter</th><th>score</th><th>%</th>'
                '<th>passed</th><th>failed</th><th>not run</th></tr></thead><tbody>'
                + "".join(rows) + "</tbody></table>")
    for chapter, rs in chapters.items():
        s, m = _score(rs)
        body.append(f'<section class="chapter" id="{_esc(chapter)}"><div class="chapter-head">'
                    f'<h2>{_esc(chapter)}</h2><b>{s:g} / {m:g}</b></div>{_bar(s, m)}')
        modules: OrderedDict[str, list[TestResult]] = OrderedDict()
        for r in rs:
            modules.setdefault(_module_of(r), []).append(r)
        for module, mrs in modules.items():
            ms, mm = _score(mrs)
            body.append(f"<h3>{_esc(module)} — {ms:g} / {mm:g}</h3>")
            body += [_test_html(r) for r in mrs]
        body.append("</section>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>Feedback{(' · ' + _esc(submission)) if submission else ''}</title>"
            f"<style>{CSS}</style></head><body><main>" + "\n".join(body) + "</main></body></html>\n")


def write_feedback_html(path: Path, results: list[TestResult], **kw) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_page(results, **kw), encoding="utf-8")
    return path
