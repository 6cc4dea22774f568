"""`d2lgrade validate` is part of the test suite: the graders prove themselves."""
from d2lgrade.validate import validate


def test_validate_whole_course(course):
    """Solutions 100%, stubs 0, every mutant caught, same statuses in both isolation modes."""
    report = validate(course, compare_isolation=True)
    print(report.text())
    assert report.ok, report.text()
