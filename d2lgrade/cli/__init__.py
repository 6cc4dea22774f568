"""The ``d2lgrade`` command line (``main``): one parser, every subcommand.

``main.py`` holds the parser and the single-submission commands; ``batch.py`` the whole-class
ones (``grade-batch``, ``export``, ``gradebook``, ``similarity``).
"""
from d2lgrade.cli.main import main

__all__ = ["main"]
