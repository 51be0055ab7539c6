"""The generic harness for the real notebooks (``notebooks/NN-*.ipynb``).

For every notebook: it is committed without outputs, its first code cell is tagged ``parameters``
and declares ``kubeconfig = None`` and ``context = "sandbox"`` (and ``apply_fixes = False`` when it
has that parameter: a notebook that changes the cluster must default to not changing it), and it
executes top to bottom with ``runbook.report.run_notebook`` against a fresh ``seed-incident``
sandbox of its own — on its own, as DESIGN.md requires ("runnable on its own or after the previous
ones"). Notebooks with ``apply_fixes`` run twice: with the default (preview/dry run) and applied.
The whole series in order is ``runbook demo`` (tests/report/test_cli.py, benchmarks/demo_bench.py).

The sandbox here is built directly with a *real* clock: the shared ``sandbox`` fixture uses a manual
clock, which a notebook kernel (another process) cannot advance, so controllers would never act.
New notebooks need no registration: the list is discovered from the folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from runbook.report import read_parameters, run_notebook
from runbook.report.notebooks import discover_notebooks

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
SERIES = discover_notebooks(NOTEBOOK_DIR)
#: seconds one cell may take in these tests (the demo's whole run must stay under 90 s)
CELL_TIMEOUT_S = 120


def _series_params() -> list[Any]:
    if not SERIES:
        # an empty parameter list must not fail the suite: one skip that says why
        return [pytest.param(None, marks=pytest.mark.skip(
            reason=f"no NN-*.ipynb notebooks in {NOTEBOOK_DIR} yet"))]
    return [pytest.param(path, id=path.stem) for path in SERIES]


def _execution_params() -> list[Any]:
    out: list[Any] = []
    for param in _series_params():
        path = param.values[0]
        if path is None:
            out.append(pytest.param(None, None, marks=param.marks))
            continue
        out.append(pytest.param(path, False, id=f"{path.stem}-defaults"))
        if "apply_fixes" in read_parameters(path):
            out.append(pytest.param(path, True, id=f"{path.stem}-apply"))
    return out


@pytest.mark.parametrize("notebook", _series_params())
def test_committed_without_outputs(notebook: Path) -> None:
    nb = nbformat.read(str(notebook), as_version=4)
    dirty = [index for index, cell in enumerate(nb.cells) if cell.cell_type == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert dirty == [], f"{notebook.name}: cells {dirty} have outputs or an execution count (clear them)"
    assert "papermill" not in nb.metadata, f"{notebook.name} was saved from a papermill run"


@pytest.mark.parametrize("notebook", _series_params())
def test_first_code_cell_is_the_parameters_cell(notebook: Path) -> None:
    nb = nbformat.read(str(notebook), as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code, f"{notebook.name} has no code cell"
    assert "parameters" in code[0].metadata.get("tags", []), (
        f"{notebook.name}: the first code cell must be tagged 'parameters'")
    params = read_parameters(notebook)
    assert "kubeconfig" in params and params["kubeconfig"].default is None, (
        f"{notebook.name}: needs `kubeconfig = None`")
    assert "context" in params and params["context"].default == "sandbox", (
        f'{notebook.name}: needs `context = "sandbox"`')
    if "apply_fixes" in params:
        assert params["apply_fixes"].default is False, (
            f"{notebook.name}: `apply_fixes` must default to False (never change a cluster unasked)")


@pytest.fixture
def fresh_sandbox() -> Iterator[Any]:
    """A fresh seed-incident sandbox with a real clock, stopped after the test."""
    from runbook.sandbox import Sandbox

    with Sandbox(scenario="seed-incident", clock="real") as sb:
        yield sb


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize(("notebook", "apply_fixes"), _execution_params())
def test_executes_top_to_bottom_on_a_fresh_sandbox(
        notebook: Path, apply_fixes: bool, fresh_sandbox: Any, tmp_path: Path) -> None:
    params = {"apply_fixes": True} if apply_fixes else {}
    run = run_notebook(notebook, parameters=params, kubeconfig=str(fresh_sandbox.kubeconfig_path),
                       context="sandbox", out_dir=tmp_path, timeout=CELL_TIMEOUT_S)
    run.raise_for_status()  # names the notebook, the cell and the error line
    assert run.html_path.is_file() and run.executed_path.is_file()
    assert fresh_sandbox.token not in run.html_path.read_text()
    if not apply_fixes:
        # with the default parameters a notebook previews and dry-runs; it leaves nothing changed.
        # A sandbox-only experiment (notebook 05's fault window) may change an object for a few
        # seconds, but must record both changes and put the object back exactly as it was.
        assert _left_changed(run.audit_records) == [], (
            f"{notebook.name} left changes behind although apply_fixes is False")


def _left_changed(records: list[Any]) -> list[str]:
    """Objects whose configuration after the last applied change differs from before the first."""
    first_before: dict[str, Any] = {}
    last_after: dict[str, Any] = {}
    for record in records:
        if record.result != "applied":
            continue
        first_before.setdefault(record.object, record.before)
        last_after[record.object] = record.after
    return [obj for obj, before in first_before.items() if last_after[obj] != before]
