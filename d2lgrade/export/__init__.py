"""Exports to the platforms courses use: a Gradescope autograder and a GitHub Classroom workflow.

``d2lgrade export gradescope OUT.zip --chapters ...`` writes a Gradescope autograder zip:
the course (engine, graders, reference solutions, fixture builders), ``setup.sh`` (installs
the project into ``/autograder/venv``), ``run_autograder`` (grades ``/autograder/submission``,
writes ``/autograder/results/results.json``) and ``d2lgrade-autograder.json`` (chapters,
seed, call timeout).

``d2lgrade export github-classroom OUT_DIR --chapters ...`` writes
``OUT_DIR/.github/workflows/classroom.yml`` for the assignment's template repository. On
every push it checks out the student's repository and the (private) course repository,
grades, and reports the score through GitHub Classroom's grading reporter.

Both runners call back into this module (``python -m d2lgrade.export gradescope-run`` /
``classroom-run``), so the logic is tested here rather than in shell. The roots can be
moved (``--root`` or ``D2LGRADE_AUTOGRADER_ROOT``) so that tests run against a simulated
``/autograder`` tree.

The parts: ``common`` (course files, grading into a folder), ``gradescope``, ``classroom``, and
``__main__`` (the runners).
"""
from d2lgrade.export.classroom import export_github_classroom
from d2lgrade.export.common import ExportError
from d2lgrade.export.gradescope import export_gradescope

__all__ = ["ExportError", "export_github_classroom", "export_gradescope"]
