"""Text from the submission made safe to show: no terminal control sequences; exit codes in words."""
from __future__ import annotations

import signal

# -- parent side ------------------------------------------------------------------------

_CONTROL = {i for i in range(32)} - {9, 10} | {127} | set(range(0x80, 0xA0))


def clean_text(text: str, limit: int | None = None) -> str:
    """Text from the submission made safe for feedback: no terminal control sequences."""
    text = str(text)
    if limit is not None and len(text) > limit:
        text = text[:limit] + "\n... (truncated)"
    if not any(ord(c) in _CONTROL or 0xD800 <= ord(c) <= 0xDFFF for c in text):
        return text
    out = []
    for c in text:
        o = ord(c)
        if o in _CONTROL:
            out.append("" if c == "\r" else f"\\x{o:02x}")
        elif 0xD800 <= o <= 0xDFFF:
            out.append("?")
        else:
            out.append(c)
    return "".join(out)


def describe_signal(code: int | None) -> str:
    """Why the child ended, in words, from its exit code."""
    if code is None:
        return "exit code unknown"
    if code < 0:
        sig = -code
        reason = {signal.SIGXCPU: "ran out of CPU time", signal.SIGKILL: "was killed",
                  signal.SIGSEGV: "crashed (segmentation fault)",
                  signal.SIGXFSZ: "wrote a file larger than allowed"}.get(sig)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        return f"signal {name}" + (f": it {reason}" if reason else "")
    return f"exit code {code}"
