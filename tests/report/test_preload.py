"""Kernels started ahead of their run: the notebook's imports preloaded, nothing bound, nothing left."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from runbook.audit import AUDIT_COPY_ENV
from runbook.errors import InputError
from runbook.report.kernel import MEMORY_HISTORY_ARGUMENT
from runbook.report.preload import PRELOAD_ENV, load_ipython_extension, notebook_imports, preload
from runbook.report.runner import run_notebook, start_run


def _kernels() -> dict[int, dict[str, str]]:
    """This process's kernel descendants still running (pid → environment), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        try:
            # "pid (comm) state ppid …": comm may hold spaces, so split after its ")"
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except (OSError, ValueError):
            continue
        if entry.name.isdigit() and fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    mine, found = {os.getpid()}, {}
    for _ in range(4):  # descendants a few levels down
        mine |= {pid for pid, ppid in parents.items() if ppid in mine}
    for pid in mine - {os.getpid()}:
        try:
            if b"ipykernel_launcher" in Path(f"/proc/{pid}/cmdline").read_bytes():
                raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                found[pid] = dict(v.decode(errors="replace").partition("=")[::2] for v in raw if v)
        except OSError:
            continue
    return found


def _stdout(path: Path) -> list[str]:
    nb = nbformat.read(str(path), as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []) if o.get("output_type") == "stream").splitlines()


# ---------------------------------------------------------------------------- no kernel needed


def test_the_imports_are_read_from_the_code_cells_magics_included(notebooks: Path) -> None:
    assert notebook_imports(notebooks / "preloaded-imports.ipynb") == [
        "sys", "matplotlib.pyplot", "matplotlib_inline.backend_inline", "pandas", "runbook:app_path",
        "runbook:kinds"]


def test_a_module_that_cannot_be_imported_is_left_to_the_notebook(monkeypatch: pytest.MonkeyPatch) -> None:
    assert preload(["json", "no_such_module_here", "runbook:no_such_name", "runbook:kinds"]) == [
        "no_such_module_here", "runbook:no_such_name"]
    monkeypatch.setenv(PRELOAD_ENV, "not json")
    load_ipython_extension(None)  # a damaged list preloads nothing, and does not fail the kernel


# ---------------------------------------------------------------------------- executed


@pytest.mark.notebook
@pytest.mark.slow
def test_a_kernel_started_ahead_has_the_modules_but_not_the_names(notebooks: Path, tmp_path: Path) -> None:
    notebook = notebooks / "preloaded-imports.ipynb"
    start = start_run(notebook, tmp_path)
    spec = start.kernel.manager.kernel_spec
    assert spec is not None and json.loads(spec.env[PRELOAD_ENV]) == notebook_imports(notebook)
    # what nbclient passes to a kernel it starts: the injected parameters stay out of a history file
    provisioner = start.kernel.manager.provisioner
    assert provisioner is not None
    argv = Path(f"/proc/{provisioner.pid}/cmdline").read_bytes().decode().split("\0")  # type: ignore[attr-defined]
    assert MEMORY_HISTORY_ARGUMENT in argv
    run = run_notebook(notebook, out_dir=tmp_path, start=start)
    run.raise_for_status()
    start.discard()
    lines = _stdout(run.executed_path)
    assert lines[0] == "loaded before the imports: pandas, runbook.apps, runbook.kinds"
    assert lines[1] == "names before the imports: "  # the notebook's namespace is its own
    assert lines[2] == "names after the imports: pandas app_path runbook.kinds"
    assert not _kernels()


@pytest.mark.notebook
@pytest.mark.slow
def test_a_kernel_started_for_another_notebook_is_refused_and_stopped(
        notebooks: Path, tmp_path: Path) -> None:
    start = start_run(notebooks / "preloaded-imports.ipynb", tmp_path)
    with pytest.raises(InputError, match=r"the kernel was started for preloaded-imports\.ipynb"):
        run_notebook(notebooks / "typed-parameters.ipynb", out_dir=tmp_path, start=start)
    start.discard()
    assert not _kernels()
    assert not (tmp_path / "typed-parameters.html").exists()


@pytest.mark.notebook
@pytest.mark.slow
def test_the_demo_starts_each_kernel_ahead_and_leaves_none_behind_when_a_notebook_fails(
        notebooks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runbook.report.demo import run_demo, stop_started_sandbox
    from runbook.sandbox import find_running

    monkeypatch.setenv("MESH_RUNBOOK_HOME", str(tmp_path / "home"))
    series = sorted((notebooks / "failing-series").glob("*.ipynb"))
    ready_at_start: list[bool] = []

    def on_start(path: Path) -> None:
        copies = [env.get(AUDIT_COPY_ENV, "") for env in _kernels().values()]
        ready_at_start.append(any(c.endswith(f"{path.stem}.audit.jsonl") for c in copies))

    try:
        result = run_demo(tmp_path / "out", notebooks=series, on_start=on_start)
    finally:
        running = find_running()
        if running is not None:
            stop_started_sandbox(running)
    assert [r.name for r in result.runs] == ["01-ok", "02-broken"] and not result.ok
    assert ready_at_start == [True, True]  # each notebook's kernel was started before it ran
    assert not _kernels()  # 03-after's kernel, started while 02 ran, was stopped too


@pytest.mark.notebook
@pytest.mark.slow
def test_a_sandbox_that_does_not_start_fails_the_demo_with_its_error_and_no_kernel_left(
        notebooks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import runbook.report.demo as demo

    monkeypatch.setenv("MESH_RUNBOOK_HOME", str(tmp_path / "home"))

    def refuse(**_: object) -> None:
        raise InputError("the sandbox did not start: port in use")

    monkeypatch.setattr(demo, "ensure_running", refuse)  # the start runs in its own thread
    with pytest.raises(InputError, match="the sandbox did not start: port in use"):
        demo.run_demo(tmp_path / "out", notebooks=sorted((notebooks / "series").glob("*.ipynb")))
    assert not _kernels()
    assert not (tmp_path / "out" / "01-connect.html").exists()
