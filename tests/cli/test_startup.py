"""``runbook --help`` and every ``runbook <cmd> --help`` import only what they use (issue 15).

Each runs in a fresh interpreter (a test process has pandas loaded already) and reports the
modules it imported; the heavy libraries of the data paths must not be among them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from runbook.cli import COMMANDS

#: what the data paths import and a help must not: seconds of start-up between them
HEAVY = ("pandas", "numpy", "kubernetes", "urllib3", "nbformat", "nbconvert", "nbclient", "jsonschema",
         "papermill", "aiohttp", "matplotlib", "ipywidgets", "jupyter_client", "orjson", "yaml",
         "runbook.mesh", "runbook.kube", "runbook.report.runner", "runbook.sandbox.sandbox",
         "runbook.sandbox.registry.cluster")

_CHILD = """
import contextlib, io, json, os, sys
from runbook.cli import main
code = None
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "help": out.getvalue(), "modules": sorted(sys.modules),
                  "openblas": os.environ.get("OPENBLAS_NUM_THREADS")}))
"""


def _help_of(*argv: str, env: dict[str, str] | None = None) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", _CHILD, *argv, "--help"], capture_output=True,
                          text=True, timeout=60, check=True, env=env)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def _heavy(modules: object) -> list[str]:
    assert isinstance(modules, list)
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]


def test_top_level_help_lists_every_command_and_imports_none_of_them() -> None:
    result = _help_of()
    assert result["code"] == 0
    assert all(name in str(result["help"]) for name in COMMANDS)
    modules = result["modules"]
    assert isinstance(modules, list)
    assert _heavy(modules) == []
    assert not [m for m in modules if m.startswith("runbook.cli.") and m != "runbook.cli.output"]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_command_help_imports_nothing_heavy(command: str) -> None:
    result = _help_of(command)
    assert result["code"] == 0 and f"usage: runbook {command}" in str(result["help"])
    assert _heavy(result["modules"]) == []


def test_the_guard_sees_heavy_imports() -> None:
    # the same child, on a path that needs pandas: the check above is not vacuous
    done = subprocess.run([sys.executable, "-c", _CHILD.replace("main(sys.argv[1:])",
                                                              "import runbook.probe.stats")],
                          capture_output=True, text=True, timeout=60, check=True)
    assert "pandas" in _heavy(json.loads(done.stdout)["modules"])


def test_numpy_starts_no_blas_thread_pool_unless_the_user_asks() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    assert _help_of("diagnose", env=env)["openblas"] == "1"
    assert _help_of("diagnose", env={**env, "OPENBLAS_NUM_THREADS": "4"})["openblas"] == "4"
