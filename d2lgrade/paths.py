"""Where the engine itself lives on disk (one answer for every module that needs it)."""
from pathlib import Path

#: The ``d2lgrade`` package folder: public code that the sandbox lets the child read, that a
#: release copies, and whose frames are the engine's own in a traceback.
ENGINE_DIR = Path(__file__).resolve().parent
#: The folder that holds the package: on ``PYTHONPATH`` for worker processes, and the course
#: root when the engine runs from a course checkout.
ENGINE_PARENT = ENGINE_DIR.parent
