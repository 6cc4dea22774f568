import sys
from pathlib import Path

import pytest

from d2lgrade.course.layout import Course

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def course() -> Course:
    return Course(ROOT)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def run_cli():
    """Run the d2lgrade command as a user would, in a fresh interpreter."""
    import subprocess

    def run(*args: str, timeout: float = 600):
        return subprocess.run([sys.executable, "-m", "d2lgrade.cli", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)
    return run
