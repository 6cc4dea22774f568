"""The command line as a new instructor meets it (issue 16): version, help, usage errors."""
import re

import d2lgrade
from d2lgrade.course.layout import find_course


def test_version(run_cli):
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"d2lgrade {d2lgrade.__version__}", r


def test_top_level_help_lists_every_command(run_cli):
    r = run_cli("--help")
    assert r.returncode == 0
    for command in ("grade", "validate", "stubs", "release", "grade-batch", "gradebook",
                    "similarity", "export"):
        assert re.search(rf"^\s+{command}\s", r.stdout, re.M), command
    assert "``" not in r.stdout  # no raw reStructuredText


def test_grade_help_names_chapters_exit_codes_and_every_option(run_cli):
    r = run_cli("grade", "--help")
    assert r.returncode == 0
    for chapter in find_course().chapters():
        assert chapter in r.stdout, chapter
    assert "feedback.html" in r.stdout and "exit codes" in r.stdout.lower()
    # every option has a help text: no option line stands alone without a description
    options = re.findall(r"^  (-[-\w]+)", r.stdout, re.M)
    assert "--isolation" in options and "--hide-after-due-date" in options


def test_export_has_one_parser_per_target(run_cli):
    gs = run_cli("export", "gradescope", "--help")
    gh = run_cli("export", "github-classroom", "--help")
    assert gs.returncode == gh.returncode == 0
    assert "--grader-repo" in gh.stdout and "--grader-repo" not in gs.stdout


def test_unknown_option_and_bad_value_are_one_line_and_exit_2(run_cli):
    for args in (("grade", "x", "--no-such-option"), ("grade", "x", "--seed", "abc"),
                 ("grade-batch", "x", "--workers", "many"), ("no-such-command",)):
        r = run_cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("d2lgrade"), (args, r.stderr)
