"""From-scratch policies: what a "write it yourself" function may execute (grader side).

A grader states, once per graded function, what its code may run::

    from d2lgrade import from_scratch, ops

    from_scratch("ch03_basics.softmax_regression", "softmax",
                 allow=ops.ELEMENTARY, names=["softmax", "log_softmax", "softmin"])

The plugin collects every policy of the collected grader files (and their ``conftest.py``)
and the submission handle pushes them to each fresh child before any student import. In the
child (``d2lgrade.scratch.trace``) the function is wrapped right after its module executes, so
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
# The parts: this module (declaring policies), source.py (the loaded definition's source),
# record.py (what the traces found, in words).
from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

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
