"""Notebooks 00–06 on the real engine: ``runbook demo --engine kube`` starts a seed-incident real
engine, runs the whole series with fixes applied and stops it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runbook.sandbox.process import read_state, sandbox_dir

pytestmark = pytest.mark.notebook


def test_the_demo_runs_every_notebook_on_the_real_engine(engine_binary: Path,
                                                         tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "runbook", "demo", "--engine", "kube",
                           "--out", str(tmp_path / "reports")], capture_output=True, text=True,
                          timeout=1200, check=False, env=dict(os.environ))
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line[:2].isdigit()]
    assert [r[0][:2] for r in rows] == [f"{n:02d}" for n in range(7)], done.stdout
    assert all(r[1] == "ok" for r in rows), done.stdout
    assert "started for the demo, stopped" in done.stdout
    assert (tmp_path / "reports" / "index.html").is_file()
    assert read_state() is None and not list(sandbox_dir().glob("kube-*"))
