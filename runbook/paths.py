"""Where mesh-runbook keeps its own files (sandbox state, audit log)."""

from __future__ import annotations

import os
from pathlib import Path


def runbook_home() -> Path:
    """``$MESH_RUNBOOK_HOME`` or ``~/.mesh-runbook`` (tests point it at a temporary directory)."""
    env = os.environ.get("MESH_RUNBOOK_HOME")
    return Path(env) if env else Path("~/.mesh-runbook").expanduser()


#: set to "1" in the kernel environment of headless runs (``runbook run``/``runbook demo``), so that
#: notebooks can tell a person from a batch run (e.g. an exercise check says "not attempted")
HEADLESS_ENV = "MESH_RUNBOOK_HEADLESS"


def is_headless() -> bool:
    """Whether this process is a kernel of a headless notebook run (``$MESH_RUNBOOK_HEADLESS``)."""
    return os.environ.get(HEADLESS_ENV, "") not in ("", "0")
