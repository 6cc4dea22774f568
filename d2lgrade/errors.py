"""Exceptions whose messages are safe to show a student.

``StudentError`` and its subclasses describe what the submission did (raised, exited,
crashed, hung): they carry only the student's own information. ``GradeFailure`` is an
assertion whose message the tolerance/grading helpers wrote with the test's visibility in
mind. The pytest plugin shows these messages as they are; any other assertion in a hidden
test is reduced to a generic line so that expected values never leak.
"""


class StudentError(Exception):
    """Something the submission did made the test fail."""


class StudentException(StudentError):
    """Student code raised an exception (shown with the student's own traceback)."""

    def __init__(self, message: str, exc_type: str = "Exception", traceback: str = ""):
        super().__init__(message)
        self.exc_type = exc_type
        self.traceback = traceback


class StudentExit(StudentError):
    """Student code called ``sys.exit``/``exit``/``quit``."""


class StudentCrash(StudentError):
    """The child process died (``os._exit``, a signal, out of memory)."""


class StudentTimeout(StudentError):
    """A call into the submission ran past its time limit; the child was killed."""


class StaleHandle(StudentError):
    """A remote object from a child that has since been restarted."""


class BadReply(StudentError):
    """The child answered with something that is not a well-formed message."""


class GradeFailure(AssertionError):
    """An assertion with a message fit for the test's visibility."""


class SubmissionUnusable(Exception):
    """The submission cannot be graded at all (missing path, broken zip, no chapters)."""
