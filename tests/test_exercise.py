"""The exercise-check result type."""

from runbook.check_result import ExerciseCheck, not_attempted


def test_a_check_passes_only_when_every_line_holds() -> None:
    check = ExerciseCheck("re-point the tag")
    assert not check.passed  # nothing checked yet
    check.add(True, "tag calls istio-prod/istiod")
    assert check.passed
    check.add(False, "pods still carry 1-19-3 sidecars")
    assert not check.passed and check.still_wrong == ["pods still carry 1-19-3 sidecars"]
    assert "not done yet" in check.summary() and "✗ pods still carry" in check.summary()


def test_headless_runs_say_not_attempted() -> None:
    check = not_attempted("re-point the tag")
    assert not check.passed and not check.attempted
    assert "not attempted" in check.summary()
