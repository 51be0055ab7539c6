"""Importing a notebook's modules in its kernel before its first cell runs.

A kernel started ahead of its run (``runbook demo`` starts the next notebook's kernel while the
current one runs) loads this module as an IPython extension; it imports what the notebook's own
import statements and ``%matplotlib`` magic will import — pandas, matplotlib, the ``runbook`` names —
so that their cost is paid while the previous notebook runs, not in the notebook's import cell.

Nothing is bound in the notebook's namespace: the import cell still binds its names, and an import
that fails here is left to fail there, with the notebook's own error. Only the module cache (and
``runbook``'s lazily loaded attributes) are filled, exactly as the import cell would fill them.

The list travels in :data:`PRELOAD_ENV` (JSON), written by :func:`notebook_imports` in the process
that starts the kernel.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
from pathlib import Path
from typing import Any

#: the kernel's environment variable holding the JSON list of what to import
PRELOAD_ENV = "MESH_RUNBOOK_PRELOAD"
#: the IPython extension name a kernel is started with (``--IPKernelApp.extensions``)
EXTENSION = __name__
#: what ``%matplotlib`` imports (IPython's pylabtools): the slowest line of a plotting notebook
MATPLOTLIB_MAGIC_IMPORTS = ("matplotlib.pyplot", "matplotlib_inline.backend_inline")


def notebook_imports(path: str | os.PathLike[str]) -> list[str]:
    """What a notebook's code cells import at their top level, in order, without duplicates.

    ``module`` for ``import module``; ``module:name`` for ``from module import name`` (the name
    is looked up, which loads a lazily exported one). Relative imports and cells that are not
    Python once their IPython magic lines are left out are skipped.
    """
    # the JSON as it is, not nbformat: importing nbformat costs more than a second (its jsonschema
    # format checkers compile grammars), and a notebook this cannot read just preloads nothing
    try:
        cells = json.loads(Path(path).read_text(encoding="utf-8")).get("cells") or []
    except (OSError, ValueError, AttributeError):
        return []
    found: dict[str, None] = {}
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source") or ""
        lines = ("".join(source) if isinstance(source, list) else str(source)).splitlines()
        if any(line.strip().startswith("%matplotlib") for line in lines):
            found.update(dict.fromkeys(MATPLOTLIB_MAGIC_IMPORTS))
        # magics and shell escapes are IPython syntax; the imports are plain Python lines
        python = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)
        try:
            tree = ast.parse(python)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                found.update(dict.fromkeys(alias.name for alias in node.names))
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.update(dict.fromkeys(f"{node.module}:{alias.name}" for alias in node.names
                                           if alias.name != "*"))
    return list(found)


def preload(entries: list[str]) -> list[str]:
    """Import ``entries`` (:func:`notebook_imports`' form); return the ones that failed."""
    failed = []
    for entry in entries:
        module, _, name = entry.partition(":")
        try:
            loaded = importlib.import_module(module)
            if name and not hasattr(loaded, name):
                importlib.import_module(f"{module}.{name}")  # ``from package import submodule``
        except Exception:  # the notebook's import cell reports it, with the notebook's own error
            failed.append(entry)
    return failed


def load_ipython_extension(ipython: Any) -> None:
    """IPython's entry point: import what :data:`PRELOAD_ENV` lists."""
    raw = os.environ.get(PRELOAD_ENV)
    if not raw:
        return
    try:
        entries = json.loads(raw)
    except ValueError:
        return
    if isinstance(entries, list):
        preload([str(e) for e in entries])


def preload_environment(notebook: Path) -> dict[str, str]:
    """The kernel environment that makes :func:`load_ipython_extension` preload ``notebook``."""
    return {PRELOAD_ENV: json.dumps(notebook_imports(notebook))}


__all__ = ["EXTENSION", "PRELOAD_ENV", "load_ipython_extension", "notebook_imports", "preload",
           "preload_environment"]
