"""`d2lgrade validate` is part of the test suite: the graders prove themselves."""
from d2lgrade.course_tools.validate import validate


def test_validate_whole_course(course):
    """Solutions 100%, stubs 0, every mutant caught, same statuses in both isolation modes."""
    report = validate(course, compare_isolation=True)
    print(report.text())
    assert report.ok, report.text()


def test_validate_reports_survivors_in_parallel(tmp_path):
    """A mutant its named test cannot see, and a function with too few mutants, are problems;
    a caught mutant is not (graded by two pool workers)."""
    from pathlib import Path

    from d2lgrade.course.layout import Course
    from d2lgrade.course.stubs import write_stubs
    (tmp_path / "solutions/ch99_toy").mkdir(parents=True)
    (tmp_path / "solutions/ch99_toy/__init__.py").write_text("")
    (tmp_path / "solutions/ch99_toy/m.py").write_text(
        '"""toy"""\n\ndef double(x):\n    """2 x"""\n    # BEGIN SOLUTION\n    return 2 * x\n'
        '    # END SOLUTION\n\n\ndef half(x):\n    """x / 2"""\n    # BEGIN SOLUTION\n'
        '    return x / 2\n    # END SOLUTION\n')
    (tmp_path / "graders/ch99_toy").mkdir(parents=True)
    (tmp_path / "graders/ch99_toy/test_m.py").write_text(
        "from d2lgrade import points\n\n@points(1)\ndef test_double(submission):\n"
        "    assert submission.module('ch99_toy.m').double(3) == 6\n\n@points(1)\n"
        "def test_half(submission):\n    assert submission.module('ch99_toy.m').half(4) == 2\n")
    mutants = tmp_path / "fixtures/mutants/ch99_toy"
    mutants.mkdir(parents=True)
    (mutants / "m_triple.py").write_text('"""triples"""\n# module: ch99_toy.m\n'
                                         "# catches: test_m.py::test_double\n\ndef double(x):\n    return 3 * x\n")
    (mutants / "m_square.py").write_text('"""squares: 3 * 3 is not 6, but the test only tries 2"""\n'
                                         "# module: ch99_toy.m\n# catches: test_m.py::test_half\n\n"
                                         "def double(x):\n    return x * x\n")
    course = Course(Path(tmp_path))
    write_stubs(course)
    report = validate(course, workers=2)
    text = report.text()
    assert "mutant ch99_toy/m_square" in text and "survives test_m.py::test_half" in text, text
    assert "ch99_toy.m.half has 0 mutant(s)" in text, text
    assert "m_triple" not in text, text
    assert "mutants:     1 / 2 caught" in text, text
