"""From-scratch policies: what a "write it yourself" function may execute (grader side).

A grader states, once per graded function, what its code may run::

    from d2lgrade import from_scratch, ops

    from_scratch("ch03_basics.softmax_regression", "softmax",
                 allow=ops.ELEMENTARY, names=["softmax", "log_softmax", "softmin"])

The plugin collects every policy of the collected grader files (and their ``conftest.py``)
and the submission handle pushes them to each fresh child before any student import. In the
child (``d2lgrade.optrace``) the function is wrapped right after its module executes, so
*every* call reaches the trace: the grader's direct calls, calls from probes, and calls
from the student's other functions (``Conv2D.forward`` -> ``corr2d``), in any test.

What a policy can say (all of it checked on what actually runs):

``allow``    ATen ops (``"aten.mul"``) the call may dispatch, e.g. ``ops.ELEMENTARY``;
             ``None`` allows every op not in ``deny``.
``deny``     ATen ops it may never dispatch (``ops.SOFTMAX | ops.CONVOLUTION``).
``names``    name tokens (``"softmax"``) of Python-level torch functions it may not reach
             (``torch.nn.functional.softmax``), also checked statically in the loaded
             definition's source.
``conversions`` whether tensor -> NumPy/Python data (``.numpy()``, ``__array__``,
             ``.tolist()``, DLPack) and NumPy -> tensor are allowed (default: no).
``modules``  extra top-level modules it may import while it runs (the standard library,
             torch and the submission itself are always allowed).
``requires`` graded functions (``"ch03_basics.linear_regression.sgd"``) each top-level
             call must reach; ``updates`` names one of them whose first argument must hold
             every tensor the call returns (the trained parameters are the ones that
             function updated).
``substitute`` trusted code (a function written in the grader, never the reference) that
             stands in for this function inside *other* graded functions when a test of
             theirs fails only because of it (issue 19; see ``plugin``).

A violation (an op or name not allowed, a conversion, a foreign import, a thread or
process started, the trace tampered with, the definition replaced, a required function
never reached) zeroes every test that reached the function, with a message naming the
function and what it ran. A violation is never substituted away.
"""
from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from . import ops
from .errors import GradeFailure

#: Declared policies, by the file that declared them (a grader module or a conftest.py).
#: Kept across pytest sessions of one process (grader modules are imported once).
_DECLARED: dict[str, dict[str, "Policy"]] = {}


@dataclass(frozen=True)
class Policy:
    module: str
    qualname: str
    allow: frozenset | None = None
    deny: frozenset = frozenset()
    names: tuple = ()
    conversions: bool = False
    modules: tuple = ()
    requires: tuple = ()
    updates: str | None = None
    substitute: str | None = None     # source code of a trusted stand-in
    #: Only observed (a ``requires`` target without a policy of its own): nothing is forbidden.
    observe_only: bool = False
    declared_in: str = field(default="", compare=False)

    @property
    def key(self) -> str:
        return f"{self.module}.{self.qualname}"

    @property
    def name(self) -> str:
        return self.qualname

    def to_wire(self) -> dict:
        return {"module": self.module, "qualname": self.qualname,
                "allow": None if self.allow is None else sorted(self.allow),
                "deny": sorted(self.deny), "names": list(self.names),
                "conversions": self.conversions, "modules": list(self.modules),
                "requires": list(self.requires), "updates": self.updates,
                "substitute": self.substitute, "observe_only": self.observe_only}

    def forbids_op(self, op: str) -> bool:
        return op in self.deny or (self.allow is not None and op not in self.allow)


def _caller_file(depth: int = 2) -> str:
    frame = sys._getframe(depth)
    return str(Path(frame.f_globals.get("__file__") or "<unknown>").resolve())


def _substitute_source(fn, qualname: str) -> str:
    if isinstance(fn, str):
        source = textwrap.dedent(fn)
    else:
        source = textwrap.dedent(inspect.getsource(fn))
    tree = ast.parse(source)
    names = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    if names[-1:] != [qualname.split(".")[-1]] and not isinstance(fn, str):
        # A grader function ``_corr2d_by_conv`` stands in for ``corr2d``: bind it by name.
        source += f"\n{qualname.split('.')[-1]} = {names[-1]}\n"
    return source


def from_scratch(module: str, qualname: str, *, allow: Iterable[str] | None = None,
                 deny: Iterable[str] = (), names: Iterable[str] = (),
                 conversions: bool = False, modules: Iterable[str] = (),
                 requires: Iterable[str] = (), updates: str | None = None,
                 substitute=None) -> Policy:
    """Declare the from-scratch policy of ``module.qualname`` (a function, or a class whose
    methods are all traced). Call it at the top level of the grader file; see the module
    docstring for the fields. Declaring the same function twice with different policies is
    an error (one home per policy)."""
    requires = tuple(r if r.count(".") >= 2 else f"{module}.{r}" for r in requires)
    if updates is not None:
        updates = updates if updates.count(".") >= 2 else f"{module}.{updates}"
        if updates not in requires:
            requires += (updates,)
    unknown = [op for op in (*(allow or ()), *deny) if "." not in op]
    if unknown:
        raise ValueError(f"from_scratch({qualname}): ATen ops are named 'aten.<op>', got {unknown}")
    policy = Policy(module, qualname, None if allow is None else frozenset(allow), frozenset(deny),
                    tuple(names), bool(conversions), tuple(modules), requires, updates,
                    None if substitute is None else _substitute_source(substitute, qualname),
                    declared_in=_caller_file())
    _register(policy)
    return policy


def _register(policy: Policy) -> None:
    for other_file, declared in _DECLARED.items():
        other = declared.get(policy.key)
        if other is not None and other != policy and other_file != policy.declared_in:
            raise ValueError(f"{policy.key} has two different from-scratch policies "
                             f"({other_file} and {policy.declared_in}); declare it once")
    _DECLARED.setdefault(policy.declared_in, {})[policy.key] = policy


def policies_for(files: Iterable[str | Path]) -> list[Policy]:
    """The policies that the given grader files (and conftest.py files beside or above them)
    declared, plus observe-only entries for ``requires`` targets without a policy."""
    wanted: set[str] = set()
    for f in files:
        p = Path(f).resolve()
        wanted.add(str(p))
        for parent in p.parents:
            wanted.add(str(parent / "conftest.py"))
            if parent.name == "graders":
                break
    chosen: dict[str, Policy] = {}
    for file, declared in _DECLARED.items():
        if file in wanted:
            chosen.update(declared)
    for policy in list(chosen.values()):
        for req in policy.requires:
            if req not in chosen:
                module, _, qualname = req.rpartition(".")
                chosen[req] = Policy(module, qualname, observe_only=True)
    return [chosen[k] for k in sorted(chosen)]


def all_declared() -> dict[str, Policy]:
    return {k: p for declared in _DECLARED.values() for k, p in declared.items()}


# -- the static view: the definition that is actually loaded -----------------------------------
def _definitions(tree: ast.Module, name: str) -> list[ast.AST]:
    """Top-level statements of a module that (re)bind ``name``."""
    found = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            found.append(node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(n, ast.Name) and n.id == name for t in targets for n in ast.walk(t)):
                found.append(node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any((a.asname or a.name.split(".")[0]) == name for a in node.names):
                found.append(node)
    return found


def redefinitions(source: str, name: str) -> list[int]:
    """Line numbers of every top-level binding of ``name`` when there is more than one."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    lines = [n.lineno for n in _definitions(tree, name.split(".")[0])]
    return lines if len(lines) > 1 else []


def _node_at(tree: ast.Module, qualname: str, line: int) -> ast.AST | None:
    """The def (or class) of ``qualname`` whose code starts at ``line`` (decorators included)."""
    parts = qualname.split(".")
    scope = list(tree.body)
    node = None
    for i, part in enumerate(parts):
        cands = [n for n in scope if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                 and n.name == part]
        if not cands:
            return None
        last = i == len(parts) - 1
        if last:
            exact = [n for n in cands if line in (n.lineno, *(d.lineno for d in n.decorator_list))]
            node = exact[-1] if exact else None
        else:
            inside = [n for n in cands if n.lineno <= line <= (n.end_lineno or n.lineno)]
            node = inside[-1] if inside else cands[-1]
        if node is None:
            return None
        scope = list(node.body)
    return node


def loaded_source_uses(source: str, qualname: str, line: int, tokens: Iterable[str]) -> tuple[bool, list[str]]:
    """(found, forbidden names) for the definition of ``qualname`` that starts at ``line``
    (the one Python actually loaded, not the first one in the file)."""
    from .forbidden import names_in
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False, []
    node = _node_at(tree, qualname, line)
    if node is None:
        return False, []
    own = frozenset(n.name for n in tree.body
                    if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))
    return True, names_in(node, set(tokens), own)


#: Decorators and calls that hand a function to TorchScript or torch.compile. Its ops then run
#: without Python: the trace sees only what a composite routine decomposes into (the book's
#: ``torch.rnn_tanh_cell`` is ``addmm`` and ``tanh``), never the routine's name.
_COMPILING = frozenset({"torch.jit.script", "jit.script", "script", "torch.jit.trace", "jit.trace",
                        "trace", "torch.jit.script_if_tracing", "torch.compile"})


def _compiled_helpers(tree: ast.Module) -> dict[str, int]:
    """Module-level names bound to a TorchScript / torch.compile function -> their line."""
    from .forbidden import _dotted
    out: dict[str, int] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for dec in node.decorator_list:
                if _dotted(dec.func if isinstance(dec, ast.Call) else dec) in _COMPILING:
                    out[node.name] = node.lineno
        elif (isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Call)
              and _dotted(node.value.func) in _COMPILING):
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                if isinstance(target, ast.Name):
                    out[target.id] = node.lineno
    return out


def loaded_source_compiled(source: str, qualname: str, line: int) -> list[str]:
    """The module's compiled helpers (``name (line N)``) that the definition of ``qualname``
    starting at ``line`` calls, directly or through the module's other functions. Static: a
    helper imported from another module is not followed."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    compiled = _compiled_helpers(tree)
    node = _node_at(tree, qualname, line) if compiled else None
    if node is None:
        return []
    defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    seen, todo, hits = set(), [node], []
    while todo:
        cur = todo.pop()
        # Arguments and local variables are the function's own (predict_rnn's ``rnn`` argument).
        local = {n.id for n in ast.walk(cur) if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del))}
        local |= {a.arg for n in ast.walk(cur) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                  for a in (*n.args.posonlyargs, *n.args.args, *n.args.kwonlyargs,
                            *filter(None, (n.args.vararg, n.args.kwarg)))}
        for sub in ast.walk(cur):
            if (isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and sub.id not in seen
                    and sub.id not in local):
                seen.add(sub.id)
                if sub.id in compiled:
                    hits.append(f"{sub.id} (line {compiled[sub.id]})")
                elif sub.id in defs:
                    todo.append(defs[sub.id])
    return sorted(hits)


# -- the grading process's record of what the traces found ------------------------------------
class ScratchViolation(GradeFailure):
    """A from-scratch rule was broken (the message is safe to show in any test)."""


def _short(key: str) -> str:
    """``ch05_cnn.conv_layer.Conv2D.forward`` -> ``Conv2D.forward`` (module paths are chNN_x.y)."""
    return key.split(".", 2)[-1] if key.count(".") >= 2 else key


def describe(key: str, kind: str, detail: str) -> str:
    """The student's message for one violation (names the function and what ran)."""
    name = "your code" if key == "*" else _short(key)
    lead = (f"{name} must be written from scratch" if key != "*"
            else "from-scratch functions get no credit")
    if kind == "op":
        family = ops.family_of(detail)
        what = f" ({family})" if family else " (not an elementary tensor operation)"
        return f"{lead}, but the call ran {detail}{what}"
    if kind == "name":
        return f"{lead}, but it uses {detail}"
    if kind == "conversion":
        return f"{lead} in torch, but it moved data to or from NumPy/Python ({detail})"
    if kind == "module":
        return f"{lead}, but it used the module {detail} while running"
    if kind == "thread":
        return f"{lead}, but it {detail} (work the trace cannot see)"
    if kind == "process":
        return f"{lead}, but it started another process ({detail})"
    if kind == "compile":
        return f"{lead}, but it compiled code ({detail}), which hides what runs"
    if kind == "tamper":
        return f"{lead}, but the submission tampered with the grader's trace: {detail}"
    if kind == "requires":
        return f"{name} must use {_short(detail)}, but the call never reached it"
    if kind == "updates":
        return (f"{name} must return the parameters that {_short(detail)} updated; the tensors it "
                f"returned are not the ones {_short(detail)} received")
    if kind == "lying":
        return (f"{name} must return plain tensors, but it returned a {detail}: a tensor subclass "
                f"can compute or misreport its values outside the call")
    if kind == "rebound":
        return f"{name} was replaced while the submission ran ({detail}); keep one definition"
    if kind == "definition":
        return f"{lead} with def in your submission, but it is {detail}"
    if kind == "redefined":
        return f"{detail}; Python uses the last one, so keep a single definition of {name}"
    return f"{lead}: {kind} {detail}"


class ScratchRecord:
    """What the children's traces reported for one submission (kept across restarts).

    ``violations`` is sticky: once a function broke its policy, every test that reaches it
    fails (``absorb`` raises at the call; the plugin zeroes earlier tests at the end).
    """

    def __init__(self, submission_path: str):
        self.path = str(Path(submission_path).resolve())
        self.policies: list[Policy] = []
        self.violations: dict[str, list[str]] = {}
        self.reached: set[str] = set()     # in the current test
        self.nested: set[str] = set()      # ... called from other student code
        self.substituting: set[str] = set()
        self._checked: set = set()

    @property
    def by_key(self) -> dict[str, Policy]:
        return {p.key: p for p in self.policies}

    def begin_test(self) -> None:
        self.reached, self.nested = set(), set()

    def uses(self) -> list[str]:
        """Policed functions (not observe-only) the current test reached."""
        known = self.by_key
        return sorted(k for k in self.reached if k in known and not known[k].observe_only)

    def _add(self, key: str, message: str) -> None:
        messages = self.violations.setdefault(key, [])
        if message not in messages and len(messages) < 5:
            messages.append(message)

    def broken(self, keys) -> list[str]:
        """Messages of the violations that concern ``keys`` (global tampering included)."""
        keys = [k for k in keys if k in self.by_key and not self.by_key[k].observe_only]
        out = [m for k in keys for m in self.violations.get(k, [])]
        if keys and "*" in self.violations:
            out += self.violations["*"]
        return out

    def absorb(self, report: dict) -> None:
        if not isinstance(report, dict):
            return
        for entry in report.get("loaded") or []:
            if isinstance(entry, dict):
                self._check_loaded(entry)
        for v in report.get("violations") or []:
            if isinstance(v, dict):
                key, kind, detail = str(v.get("function")), str(v.get("kind")), str(v.get("detail"))
                if key == "*" or key in self.by_key:
                    self._add(key, describe(key, kind, detail))
        reached = report.get("reached") or {}
        now = {str(k) for k in reached}
        self.reached |= now
        self.nested |= {str(k) for k, v in reached.items() if isinstance(v, list) and len(v) > 1 and v[1]}
        messages = self.broken(now)
        if messages:
            from .sandbox import clean_text
            raise ScratchViolation(clean_text("\n".join(dict.fromkeys(messages)), 2000))

    def substitutable(self) -> list[str]:
        """Helpers with a trusted stand-in that the current test reached from other graded
        code, and that broke no rule (a shortcut is never substituted away)."""
        known = self.by_key
        return sorted(k for k in self.nested if k in known and known[k].substitute
                      and k not in self.violations and "*" not in self.violations)

    # -- the loaded definition ------------------------------------------------------------
    def _check_loaded(self, entry: dict) -> None:
        key = str(entry.get("function"))
        pol = self.by_key.get(key)
        if pol is None or pol.observe_only:
            return
        file, line, qualname = entry.get("file"), entry.get("line"), str(entry.get("qualname"))
        mark = (key, file, line, qualname)
        if mark in self._checked:
            return
        self._checked.add(mark)
        if not file or not isinstance(line, int):
            self._add(key, describe(key, "definition", f"a {entry.get('type', 'non-function')} object"))
            return
        path = Path(str(file))
        try:
            inside = path.resolve().is_relative_to(self.path)
        except (OSError, ValueError):
            inside = False
        if not inside:
            where = "a library function" if "site-packages" in str(path) or "/lib/python" in str(path) \
                else "code from outside the submission"
            self._add(key, describe(key, "definition", f"{where} ({qualname})"))
            return
        try:
            source = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            source = ""
        rel = path.resolve().relative_to(self.path)
        found, hits = loaded_source_uses(source, qualname, line, pol.names)
        if not found and qualname.rsplit(".", 1)[-1] not in (pol.qualname.rsplit(".", 1)[-1], "<lambda>"):
            self._add(key, describe(key, "definition",
                                    f"replaced by {qualname} (line {line} of {rel}), e.g. by a decorator"))
        elif not found:
            self._add(key, describe(key, "definition",
                                    f"not a def statement (line {line} of {rel})"))
        elif hits:
            self._add(key, describe(key, "name", f"{', '.join(hits)} (line {line} of {rel})"))
        compiled = loaded_source_compiled(source, qualname, line) if found else []
        if compiled:
            self._add(key, describe(key, "compile", f"it calls the TorchScript/torch.compile function "
                                                    f"{', '.join(compiled)} of {rel}"))
        module_file = Path(self.path).joinpath(*pol.module.split(".")).with_suffix(".py")
        try:
            module_source = module_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        lines = redefinitions(module_source, pol.qualname.split(".")[0])
        if lines:
            self._add(key, describe(key, "redefined",
                                    f"{module_file.relative_to(self.path)} defines "
                                    f"{pol.qualname.split('.')[0]} {len(lines)} times (lines "
                                    f"{', '.join(map(str, lines))})"))
