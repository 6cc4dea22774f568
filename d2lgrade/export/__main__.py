"""The runners the platforms call back: ``python -m d2lgrade.export gradescope-run | classroom-run``."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from d2lgrade.export.classroom import classroom_run
from d2lgrade.export.gradescope import gradescope_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m d2lgrade.export")
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("gradescope-run", help="Grade ROOT/submission into ROOT/results")
    g.add_argument("--root", default=os.environ.get("D2LGRADE_AUTOGRADER_ROOT", "/autograder"))
    c = sub.add_parser("classroom-run", help="Grade a GitHub Classroom checkout")
    c.add_argument("--submission", required=True)
    c.add_argument("--out", required=True)
    ns = parser.parse_args(argv)
    start = time.perf_counter()
    if ns.command == "gradescope-run":
        code = gradescope_run(Path(ns.root))
    else:
        code = classroom_run(Path(ns.submission), Path(ns.out))
    print(f"d2lgrade: graded in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
