"""The RELIABILITY.md renderer: a failed test is shown as failed, counts add up, cells stay cells."""

from __future__ import annotations

from .report import render


def _data(outcome: str) -> dict:  # type: ignore[type-arg]
    test = "tests/reliability/test_faults.py::test_x[a]"
    return {"rows": {
        "faults": [{"test": test, "flow": "fix", "fault": "update:*:503", "outcome": "a | b\nc",
                    "attempted": 3, "applied": 1, "rolled_back": 1, "lost": 0, "doubled": 0}],
        "bad_input": [{"test": test, "surface": "CLI", "input": "runbook x", "expected": "exit 2",
                       "got": "exit 2", "message": "no — do this", "unchanged": "rv 5 = 5"}],
    }, "outcomes": {test: outcome}}


def test_a_failed_test_shows_as_failed_and_is_listed() -> None:
    text = render(_data("failed"), {}, duration=1.0, quick=False, commit="abc")
    assert "**1 failed**" in text and "## Failed tests" in text
    assert "✘ failed" in text
    assert "| faults injected (API, watch, data plane) | 1 | 0 |" in text


def test_a_passing_run_adds_up_and_escapes_cells() -> None:
    text = render(_data("passed"), {}, duration=1.0, quick=False, commit="abc")
    assert "1 of 1 reliability tests passed." in text and "Failed tests" not in text
    assert "| 3 / 1 / 1 | lost 0, doubled 0 |" in text
    assert "a \\| b c" in text  # a pipe or a newline never breaks the table
    assert "python -m tests.reliability.report" in text  # says how to regenerate
