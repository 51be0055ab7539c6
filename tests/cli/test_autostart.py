"""``--context sandbox`` with no sandbox running starts one — and says so on stderr (issue 15)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path


def _runbook(home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MESH_RUNBOOK_HOME": str(home)}
    env.pop("KUBECONFIG", None)
    return subprocess.run([sys.executable, "-m", "runbook", *argv], capture_output=True, text=True,
                          timeout=120, env=env)


def test_starting_a_sandbox_is_announced_once_with_pid_and_how_to_stop_it(tmp_path: Path) -> None:
    try:
        first = _runbook(tmp_path, "inventory", "--context", "sandbox", "--table", "control_planes",
                         "-o", "json")
        assert first.returncode == 0, first.stderr
        state = json.loads((tmp_path / "sandbox" / "state.json").read_text())
        lines = first.stderr.splitlines()
        assert len(lines) == 1, first.stderr
        assert re.fullmatch(r"runbook: started a sandbox in the background \(scenario seed-incident, "
                            rf"pid {state['pid']}, {re.escape(state['url'])}\); it keeps running — "
                            r"stop it with: runbook sandbox stop", lines[0]), lines[0]
        assert json.loads(first.stdout)["control_planes"]  # the output itself stays clean
        again = _runbook(tmp_path, "inventory", "--context", "sandbox", "--table", "control_planes",
                         "-o", "json")
        assert again.returncode == 0 and again.stderr == ""  # attached: nothing to announce
    finally:
        stopped = _runbook(tmp_path, "sandbox", "stop")
    assert stopped.returncode == 0 and "stopped sandbox pid" in stopped.stdout
