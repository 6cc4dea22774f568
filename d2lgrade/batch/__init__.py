"""Grading a whole class (``d2lgrade grade-batch``): see ``scheduler`` for the whole story.

The names a caller needs, from the module that defines each.
"""
from d2lgrade.batch.backend import BACKENDS, Backend, backend_for
from d2lgrade.batch.plan import (
                                 BATCH_FILE,
                                 GRADEBOOK,
                                 HISTOGRAM,
                                 SUMMARY,
                                 BatchConfig,
                                 Entry,
                                 discover,
)
from d2lgrade.batch.scheduler import run_batch
from d2lgrade.batch.student import (
                                 MARKER,
                                 BatchError,
                                 fingerprint,
                                 read_marker,
                                 student_seed,
                                 write_atomic,
)

__all__ = ["BACKENDS", "BATCH_FILE", "GRADEBOOK", "HISTOGRAM", "MARKER", "SUMMARY", "Backend",
           "BatchConfig", "BatchError", "Entry", "backend_for", "discover", "fingerprint",
           "read_marker", "run_batch", "student_seed", "write_atomic"]
