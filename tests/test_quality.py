"""ruff and mypy are part of the test suite: a change that breaks either fails CI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    exe = Path(sys.executable).parent / name
    if not exe.exists():
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return str(exe)


def test_ruff_is_clean() -> None:
    result = subprocess.run([_tool("ruff"), "check", "runbook", "tests", "benchmarks"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_is_clean() -> None:
    result = subprocess.run([_tool("mypy")], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
