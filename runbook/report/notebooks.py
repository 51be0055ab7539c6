"""Where the runbook notebooks are, and which one ``02`` means.

The notebooks live in the repository's top-level ``notebooks/`` (DESIGN.md › Names). A wheel
cannot put a top-level folder inside the import package, so ``pyproject.toml`` installs them as
data files into ``<prefix>/share/mesh-runbook/notebooks`` (``[tool.setuptools.data-files]``). The
directory is looked up in this order:

1. ``$MESH_RUNBOOK_NOTEBOOKS`` (an explicit override, e.g. a team's own fork of the series);
2. the source checkout the package is imported from (editable installs, running from the repo);
3. ``share/mesh-runbook/notebooks`` under the interpreter's data prefix (a virtualenv or the
   system), then under the user scheme (``pip install --user``).

The series is whatever ``NN-*.ipynb`` files that directory holds, sorted by ``NN`` — never a list
written down in code.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
from pathlib import Path

from runbook.errors import InputError

NOTEBOOKS_ENV = "MESH_RUNBOOK_NOTEBOOKS"
#: seconds one cell of a notebook may run (the runner's default; defined here, beside the series,
#: so that ``runbook run --help`` does not import papermill to print it)
DEFAULT_CELL_TIMEOUT_S = 300.0
_SERIES_NAME = re.compile(r"^(\d+)-[^/]+\.ipynb$")
_SHARE = Path("share") / "mesh-runbook" / "notebooks"


def notebook_dirs() -> list[Path]:
    """The candidate notebook directories, in lookup order (they may not exist)."""
    candidates: list[Path] = []
    env = os.environ.get(NOTEBOOKS_ENV)
    if env:
        candidates.append(Path(env).expanduser())
    source_root = Path(__file__).resolve().parents[2]
    if (source_root / "pyproject.toml").is_file():
        candidates.append(source_root / "notebooks")
    for scheme in (None, f"{os.name}_user"):
        try:
            data = sysconfig.get_path("data", scheme) if scheme else sysconfig.get_path("data")
        except KeyError:
            continue
        candidates.append(Path(data) / _SHARE)
    candidates.append(Path(sys.prefix) / _SHARE)
    unique: list[Path] = []
    for path in candidates:
        if path not in unique:
            unique.append(path)
    return unique


def notebooks_dir() -> Path:
    """The directory the series is run from (see the module docstring for the order).

    Raises:
        InputError: none of the candidates exists.
    """
    candidates = notebook_dirs()
    env = os.environ.get(NOTEBOOKS_ENV)
    if env and not candidates[0].is_dir():
        raise InputError(f"${NOTEBOOKS_ENV}={env} is not a directory")
    for path in candidates:
        if path.is_dir():
            return path
    raise InputError("the runbook notebooks were not found (looked in "
                     + ", ".join(str(p) for p in candidates) + ")",
                     hint=f"reinstall mesh-runbook or set ${NOTEBOOKS_ENV} to the notebooks folder")


def series_key(path: Path) -> tuple[int, str]:
    """Sort key: the number prefix, then the name (``02-x`` before ``10-y``)."""
    match = _SERIES_NAME.match(path.name)
    return (int(match.group(1)) if match else sys.maxsize, path.stem)


def discover_notebooks(directory: str | Path | None = None) -> list[Path]:
    """The ``NN-*.ipynb`` notebooks of a directory (default :func:`notebooks_dir`), sorted by NN."""
    root = Path(directory) if directory is not None else notebooks_dir()
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.is_file() and _SERIES_NAME.match(p.name)),
                  key=series_key)


def resolve_notebook(name: str | Path, directory: str | Path | None = None) -> Path:
    """A notebook path from a path or a short name.

    ``name`` may be an existing path, the file name with or without ``.ipynb``
    (``02-diagnose-pods-not-created``), or just the number (``02`` or ``2``).

    Raises:
        InputError: nothing matches, or a short name matches several notebooks (all are listed).
    """
    path = Path(name).expanduser()
    if path.suffix == ".ipynb" and path.is_file():
        return path.resolve()
    if path.is_file():
        raise InputError(f"{name} is not a notebook (expected a .ipynb file)",
                         hint="give a .ipynb path or a short name of the series (02)")
    text = str(name)
    if os.sep in text:  # a path, not a short name
        raise InputError(f"notebook {name} does not exist",
                         hint="give a .ipynb path or a short name of the series (02)")
    series = discover_notebooks(directory)
    stem = text.removesuffix(".ipynb")
    if stem.isdigit():
        matches = [p for p in series if int(series_key(p)[0]) == int(stem)]
    else:
        matches = [p for p in series if p.stem == stem] or [p for p in series if p.stem.startswith(stem)]
    if len(matches) == 1:
        return matches[0].resolve()
    where = Path(directory) if directory is not None else notebooks_dir()
    available = ", ".join(p.stem for p in series) or "none"
    if not matches:
        raise InputError(f"no notebook {name!r} in {where}", hint=f"available: {available}")
    raise InputError(f"{name!r} matches several notebooks: {', '.join(p.stem for p in matches)}",
                     hint="give more of the name")


def report_files(notebook: Path, out: Path) -> list[Path]:
    """Every file a run of ``notebook`` writes into ``out`` (executed notebook, reports, audit)."""
    return [out / f"{notebook.stem}{suffix}" for suffix in (".ipynb", ".html", ".pdf",
                                                           ".audit.jsonl")]


__all__ = [
    "NOTEBOOKS_ENV",
    "discover_notebooks",
    "notebook_dirs",
    "notebooks_dir",
    "report_files",
    "resolve_notebook",
    "series_key",
]
