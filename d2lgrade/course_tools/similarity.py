"""Similar submissions in a class, function by function (``d2lgrade similarity CLASS_DIR``).

Each submission (folder, zip or notebook, unpacked as for grading) is cut into its functions
and methods (``ch03_basics.softmax_regression:softmax``, ``...:Trainer.fit``). The same
function of two students is compared with copydetect's winnowing fingerprints
(copydetect 0.5.0: Pygments tokens, names replaced by placeholders, so renaming variables
does not hide a copy). Code every student was given does not count: every k-gram that
occurs in the stubs (``assignments/``) or in the book's code (``--boilerplate`` files:
``.py`` whole, ``.md``/``.txt`` their ```python fences, ``.ipynb`` their code cells) is
taken out before comparing, so an unfilled stub or the book's own ``softmax`` matches
nothing.

The score of a pair is, for each student, the share of their (non-boilerplate) code that
also occurs in the other's same functions; pairs are ranked by the larger share. The HTML
report (one self-contained file: no scripts, no links outside it) lists the most similar
pairs and shows each shared function side by side with the matching code marked;
``similarity.json`` holds the same numbers for tools. Similar is not proof of copying: the
report is for a person to read.

All k-grams are kept (window 1, copydetect's ``guarantee_threshold == noise_threshold``), so
scores do not depend on Python's per-process string hashing.
"""
from __future__ import annotations

import ast
import html
import io
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import combinations
from pathlib import Path
from typing import Iterable

#: copydetect's noise threshold: matches shorter than this many filtered characters do not count.
NOISE_CHARS = 25
#: A function with less own code than this (filtered characters) is not compared.
MIN_OWN_CHARS = 40
REPORT_HTML = "similarity.html"
REPORT_JSON = "similarity.json"


@dataclass
class FunctionCode:
    key: str           # module:qualname
    file: str          # path relative to the submission
    line: int
    source: str


@dataclass
class StudentCode:
    student: str
    functions: dict[str, FunctionCode] = field(default_factory=dict)


@dataclass
class FunctionMatch:
    key: str
    share_a: float
    share_b: float
    overlap: int       # matching filtered characters
    html_a: str = ""   # code with <mark>s (escaped)
    html_b: str = ""
    line_a: int = 0
    line_b: int = 0
    file: str = ""


@dataclass
class PairResult:
    a: str
    b: str
    share_a: float     # of a's own code, the part found in b
    share_b: float
    functions: list[FunctionMatch]

    @property
    def score(self) -> float:
        return max(self.share_a, self.share_b)

    @property
    def overlap(self) -> int:
        """Matching own code, in filtered characters (100 % of very little is little)."""
        return sum(m.overlap for m in self.functions)


@dataclass
class SimilarityReport:
    pairs: list[PairResult]
    students: list[str]
    skipped: list[tuple[str, str]]
    functions_compared: int
    boilerplate: list[str]
    class_dir: str
    created_at: str
    names: dict[str, str] = field(default_factory=dict)


class SimilarityError(Exception):
    """The comparison cannot run (no class folder, copydetect missing...)."""


# -- cutting code into functions ----------------------------------------------------------

def functions_of(source: str, module: str, file: str) -> dict[str, FunctionCode]:
    """Top-level functions and class methods of one module (the last definition of a name
    wins, as when the module runs). A module that does not parse gives nothing."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return {}
    lines = source.splitlines(keepends=True)

    def segment(node: ast.AST) -> str:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        return "".join(lines[start - 1:node.end_lineno])

    out: dict[str, FunctionCode] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            key = f"{module}:{node.name}"
            out[key] = FunctionCode(key, file, node.lineno, segment(node))
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    key = f"{module}:{node.name}.{item.name}"
                    out[key] = FunctionCode(key, file, item.lineno, segment(item))
    return out


def code_of(root: Path) -> dict[str, FunctionCode]:
    """Every function of the chapter packages under ``root``."""
    from d2lgrade.course.layout import CHAPTER_RE
    out: dict[str, FunctionCode] = {}
    for chapter in sorted(p for p in root.iterdir() if p.is_dir() and CHAPTER_RE.match(p.name)):
        for f in sorted(chapter.rglob("*.py")):
            if "__pycache__" in f.parts or f.is_symlink():
                continue
            rel = f.relative_to(root).as_posix()
            try:
                source = f.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            out.update(functions_of(source, rel.removesuffix(".py").replace("/", "."), rel))
    return out


_FENCE = re.compile(r"^```+\s*(?:python|py)\s*$\n(.*?)^```+\s*$", re.M | re.S)


def python_blocks(path: Path) -> list[str]:
    """The Python code in a boilerplate file (see the module docstring)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".py":
            return [path.read_text(encoding="utf-8", errors="replace")]
        if suffix == ".ipynb":
            nb = json.loads(path.read_text(encoding="utf-8"))
            return ["".join(c.get("source", "")) if isinstance(c.get("source"), list)
                    else str(c.get("source", ""))
                    for c in nb.get("cells", []) if c.get("cell_type") == "code"]
        return _FENCE.findall(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return []


def boilerplate_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file()
                            and f.suffix.lower() in (".py", ".md", ".txt", ".ipynb")
                            and "__pycache__" not in f.parts)
        elif p.is_file():
            files.append(p)
        else:
            raise SimilarityError(f"{p}: no such boilerplate file or folder")
    return files


# -- fingerprints ---------------------------------------------------------------------------

def _copydetect():
    try:
        from copydetect import CodeFingerprint, compare_files
        from copydetect.utils import get_token_coverage, highlight_overlap
    except ImportError:
        raise SimilarityError("copydetect is not installed (pip install copydetect==0.5.0)") from None
    return CodeFingerprint, compare_files, get_token_coverage, highlight_overlap


class Fingerprinter:
    def __init__(self, boilerplate_code: Iterable[str], k: int = NOISE_CHARS):
        self.CodeFingerprint, self.compare, self.coverage, self.highlight = _copydetect()
        self.k = k
        self.boilerplate: set = set()
        for code in boilerplate_code:
            self.boilerplate |= self._raw(code).hashes

    def _raw(self, code: str):
        # A ".py" name tells Pygments the language; fp= keeps copydetect off the disk.
        return self.CodeFingerprint("code.py", self.k, 1, fp=io.StringIO(code))

    def of(self, code: str):
        fp = self._raw(code)
        common = fp.hashes & self.boilerplate
        if common:
            fp.hashes = fp.hashes - common
            fp.hash_idx = {h: i for h, i in fp.hash_idx.items() if h not in common}
            fp.token_coverage = self.coverage(fp.hash_idx, self.k, len(fp.filtered_code))
        return fp

    def marked(self, code: str, slices) -> str:
        if len(slices) == 0 or slices.shape[-1] == 0:
            return html.escape(code)
        text, _ = self.highlight(code, slices, "<mark>", "</mark>", escape_html=True)
        return text


# -- comparing a class ------------------------------------------------------------------------

def compare_class(codes: list[StudentCode], fingerprinter: Fingerprinter, *,
                  min_own: int = MIN_OWN_CHARS) -> tuple[list[PairResult], int]:
    """Every pair of students that shares own code in some function, most similar first."""
    prints: dict[str, dict[str, object]] = {}
    for sc in codes:
        prints[sc.student] = {}
        for key, fn in sc.functions.items():
            fp = fingerprinter.of(fn.source)
            if fp.token_coverage >= min_own:
                prints[sc.student][key] = fp
    keys = sorted({k for p in prints.values() for k in p})
    by_student = {sc.student: sc for sc in codes}
    totals = {s: sum(fp.token_coverage for fp in p.values()) for s, p in prints.items()}
    matches: dict[tuple[str, str], list[FunctionMatch]] = {}
    for key in keys:
        holders = sorted(s for s, p in prints.items() if key in p)
        # Only pairs that share at least one fingerprint can match: an index saves the rest.
        index: dict[int, set[str]] = {}
        for s in holders:
            for h in prints[s][key].hashes:
                index.setdefault(h, set()).add(s)
        pairs = {tuple(sorted(pair)) for group in index.values() if len(group) > 1
                 for pair in combinations(sorted(group), 2)}
        for a, b in sorted(pairs):
            fa, fb = prints[a][key], prints[b][key]
            overlap, (sa, sb), (sla, slb) = fingerprinter.compare(fa, fb)
            if overlap <= 0:
                continue
            ca, cb = by_student[a].functions[key], by_student[b].functions[key]
            matches.setdefault((a, b), []).append(FunctionMatch(
                key, float(sa), float(sb), int(overlap),
                fingerprinter.marked(ca.source, sla), fingerprinter.marked(cb.source, slb),
                ca.line, cb.line, ca.file))
    results = []
    for (a, b), fms in matches.items():
        # the share of each student's own code (all compared functions) found in the other's
        own_a = sum(m.share_a * prints[a][m.key].token_coverage for m in fms)
        own_b = sum(m.share_b * prints[b][m.key].token_coverage for m in fms)
        fms.sort(key=lambda m: (-max(m.share_a, m.share_b), m.key))
        results.append(PairResult(a, b, own_a / totals[a] if totals[a] else 0.0,
                                  own_b / totals[b] if totals[b] else 0.0, fms))
    results.sort(key=lambda p: (-p.score, p.a, p.b))
    return results, len(keys)


def collect_class(class_dir: str | os.PathLike, course=None) -> tuple[list[StudentCode], list[tuple[str, str]]]:
    """The code of every submission in ``class_dir``, and the entries that have none."""
    from d2lgrade.batch.plan import discover
    from d2lgrade.course.layout import find_course
    from d2lgrade.errors import SubmissionUnusable
    from d2lgrade.grading.api import prepared_submission
    course = course or find_course()
    codes, skipped = [], []
    for entry in discover(class_dir):
        if entry.problem:
            skipped.append((entry.path.name, entry.problem))
            continue
        try:
            with prepared_submission(entry.path, course) as root:
                functions = code_of(root)
        except SubmissionUnusable as exc:
            skipped.append((entry.path.name, str(exc).replace(str(entry.path), entry.path.name)))
            continue
        if not functions:
            skipped.append((entry.path.name, "no Python functions found"))
            continue
        codes.append(StudentCode(entry.student, functions))
    return codes, skipped


def stub_code(course) -> list[str]:
    """The given code: every stub module of the course."""
    return [f.read_text(encoding="utf-8") for f in sorted(course.assignments.rglob("*.py"))
            if "__pycache__" not in f.parts]


def run_similarity(class_dir: str | os.PathLike, *, course=None, boilerplate=(),
                   names: dict[str, str] | None = None, k: int = NOISE_CHARS,
                   min_own: int = MIN_OWN_CHARS) -> SimilarityReport:
    from d2lgrade.course.layout import find_course
    if not Path(class_dir).is_dir():
        raise SimilarityError(f"{class_dir}: not a folder of submissions")
    course = course or find_course()
    extra = boilerplate_files(boilerplate)
    fingerprinter = Fingerprinter([*stub_code(course),
                                   *(b for f in extra for b in python_blocks(f))], k)
    codes, skipped = collect_class(class_dir, course)
    pairs, n_functions = compare_class(codes, fingerprinter, min_own=min_own)
    return SimilarityReport(
        pairs=pairs, students=[c.student for c in codes], skipped=skipped,
        functions_compared=n_functions,
        boilerplate=["assignments/ (the stubs)", *(str(f) for f in extra)],
        class_dir=str(Path(class_dir)), names=dict(names or {}),
        created_at=datetime.now(timezone.utc).replace(microsecond=0).isoformat())


# -- the report ---------------------------------------------------------------------------------

def _template():
    import jinja2
    env = jinja2.Environment(loader=jinja2.PackageLoader("d2lgrade.course_tools", "templates"),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    return env.get_template("similarity.html.j2")


def report_json(report: SimilarityReport, top: int) -> dict:
    return {
        "class_dir": report.class_dir, "created_at": report.created_at,
        "students": report.students, "skipped": [list(s) for s in report.skipped],
        "functions_compared": report.functions_compared, "boilerplate": report.boilerplate,
        "pairs": [{"a": p.a, "b": p.b, "score": round(p.score, 4), "overlap_chars": p.overlap,
                   "share_a": round(p.share_a, 4), "share_b": round(p.share_b, 4),
                   "functions": [{"function": m.key, "share_a": round(m.share_a, 4),
                                  "share_b": round(m.share_b, 4), "overlap_chars": m.overlap}
                                 for m in p.functions]}
                  for p in report.pairs[:top]],
    }


def write_report(report: SimilarityReport, out: str | os.PathLike, *, top: int = 20,
                 threshold: float = 0.0) -> tuple[Path, Path]:
    """Write ``similarity.html`` and ``similarity.json`` into ``out``; returns their paths."""
    from markupsafe import Markup
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shown = [p for p in report.pairs if p.score >= threshold][:top]
    pairs = [{"n": i + 1, "a": p.a, "b": p.b, "score": p.score, "share_a": p.share_a,
              "share_b": p.share_b, "overlap": p.overlap, "name_a": report.names.get(p.a, ""),
              "name_b": report.names.get(p.b, ""),
              "functions": [{"key": m.key, "file": m.file, "share_a": m.share_a,
                             "share_b": m.share_b, "line_a": m.line_a, "line_b": m.line_b,
                             "html_a": Markup(m.html_a), "html_b": Markup(m.html_b)}
                            for m in p.functions]}
             for i, p in enumerate(shown)]
    buckets = [0] * 10
    for p in report.pairs:
        buckets[min(9, int(p.score * 10))] += 1
    page = _template().render(report=report, pairs=pairs, threshold=threshold, top=top,
                              buckets=buckets, total_pairs=len(report.pairs),
                              student_pairs=len(report.students) * (len(report.students) - 1) // 2)
    html_path, json_path = out / REPORT_HTML, out / REPORT_JSON
    html_path.write_text(page, encoding="utf-8")
    json_path.write_text(json.dumps(report_json(report, top), indent=2), encoding="utf-8")
    return html_path, json_path
