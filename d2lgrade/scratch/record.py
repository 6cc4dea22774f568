"""The grading process's record of what the traces found: violations, in words a student can act on."""
from __future__ import annotations

from pathlib import Path

from d2lgrade.errors import GradeFailure
from d2lgrade.scratch import ops
from d2lgrade.scratch.policies import Policy
from d2lgrade.scratch.source import (
    loaded_source_compiled,
    loaded_source_uses,
    redefinitions,
)


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
            from d2lgrade.text import clean_text
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
