"""An expected problem shows in a notebook as its one line, not as a traceback (IPython's
``_render_traceback_`` hook), and the cell still fails."""

from __future__ import annotations

import pytest

from runbook.errors import InputError, RunbookError


def test_ipython_shows_the_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        result = shell.run_cell("from runbook.errors import InputError\n"
                                "raise InputError(\"namespace 'x' does not exist\", "
                                "hint='check the name (kubectl get ns)')")
    finally:
        InteractiveShell.clear_instance()
    out = capsys.readouterr().out
    assert not result.success and isinstance(result.error_in_exec, InputError)
    assert out.strip() == ("InputError: namespace 'x' does not exist — check the name "
                           "(kubectl get ns)")
    assert "Traceback" not in out and "raise" not in out


def test_render_names_the_class_and_the_line() -> None:
    assert RunbookError("a\nb")._render_traceback_() == ["RunbookError: a b"]
