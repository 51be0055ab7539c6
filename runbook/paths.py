"""Where mesh-runbook keeps its own files (sandbox state, audit log)."""

from __future__ import annotations

import os
from pathlib import Path


def runbook_home() -> Path:
    """``$MESH_RUNBOOK_HOME`` or ``~/.mesh-runbook`` (tests point it at a temporary directory)."""
    env = os.environ.get("MESH_RUNBOOK_HOME")
    return Path(env) if env else Path("~/.mesh-runbook").expanduser()
