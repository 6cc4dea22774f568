"""The gradebook wing: what a course remembers about its students' submissions.

* ``db``: the database (SQLite beside the batch output by default, any SQLAlchemy URL such as
  PostgreSQL otherwise). Every graded submission is a new row; nothing is overwritten.
* ``deadlines``: due dates, per-student extensions, late policies, submission times.
* ``roster``: the class list (submission folder or file name -> student id, name, e-mail).
* ``imports``: "did not import" problems found in the test results of a submission.
* ``views``: the gradebook CSV, the summary and a student's history, read from the database.
* ``lms``: the same grades in Canvas and Moodle import formats.

Nothing here imports torch or pytest.
"""
from __future__ import annotations

#: Every status a submission can have, and how reports spell it out.
STATUS_TEXT = {
    "graded": "graded",
    "did_not_import": "did not import",
    "unusable": "cannot be graded",
    "timeout": "stopped at the time limit",
    "crashed": "the grading process died",
    "error": "internal error",
}

#: Statuses whose tests ran on importable code: the only ones class statistics count.
IMPORTED = frozenset({"graded"})
