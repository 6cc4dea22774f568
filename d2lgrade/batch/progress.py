"""What a batch shows while and after it runs: the progress display (tqdm on a terminal) and the score histogram."""
from __future__ import annotations

import io
import os
import sys

from d2lgrade.gradebook import (  # one spelling of every status, batch and gradebook
    IMPORTED,
    STATUS_TEXT,
)


class Progress:
    """tqdm on a terminal; one plain line per student otherwise (logs, CI)."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.count, self.bar, self.running = total, 0, None, []
        self.enabled = enabled and total > 0
        self.tty = sys.stderr.isatty()
        if self.enabled and self.tty:
            try:
                from tqdm import tqdm
                # drawn at once (0/N), then done/total, rate and time left as students finish
                try:
                    size = os.get_terminal_size(sys.stderr.fileno())
                except OSError:
                    size = os.terminal_size((0, 0))
                # a terminal that reports no size (a bare pty) would hide the bar: assume one
                sized = size.columns > 0 and size.lines > 0
                self.bar = tqdm(total=total, unit="student", desc="grading", file=sys.stderr,
                                dynamic_ncols=sized, ncols=None if sized else 100,
                                nrows=None if sized else 24)
            except ImportError:
                pass

    def started(self, student: str) -> None:
        """On a terminal the bar names the students being graded now."""
        self.running.append(student)
        self._describe()

    def _describe(self) -> None:
        if self.bar is not None:
            now = ", ".join(self.running[:3]) + (" ..." if len(self.running) > 3 else "")
            self.bar.set_description_str(f"grading {now}" if now else "grading", refresh=True)

    def update(self, marker: dict) -> None:
        self.count += 1
        if marker["student"] in self.running:
            self.running.remove(marker["student"])
        if not self.enabled:
            return
        status = marker["status"]
        line = f"{marker['student']}: "
        if status in ("graded", "did_not_import"):
            line += f"{marker['score']:g}/{marker['max_score']:g}"
            if status != "graded":
                line += f" ({STATUS_TEXT[status]})"
        else:
            line += STATUS_TEXT.get(status, status)
        if self.bar is not None:
            self.bar.set_postfix_str(f"last: {line}"[:60], refresh=False)
            self._describe()
            self.bar.update(1)
        else:
            print(f"[{self.count}/{self.total}] {line} ({marker.get('elapsed_s', 0):.1f} s)",
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

# -- class files --------------------------------------------------------------------------------

def _percent(r: dict) -> float:
    return 100.0 * r["score"] / r["max_score"] if r["max_score"] else 0.0


def histogram_png(rows: list[dict]) -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    # like summary.md: only submissions that imported count (a broken one is not a zero score)
    scores = [_percent(r) for r in rows if r["status"] in IMPORTED]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.hist(scores, bins=list(range(0, 101, 10)), color="#4C72B0", edgecolor="white")
    ax.set_xlim(0, 100)
    ax.set_xlabel("score (%)")
    ax.set_ylabel("students")
    others = len(rows) - len(scores)
    ax.set_title(f"{len(scores)} submissions that imported"
                 + (f" ({others} others not counted)" if others else ""))
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
