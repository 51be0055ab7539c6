"""``runbook run`` and ``runbook demo`` end to end: sandbox lifecycle, table, exit status, reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runbook.cli import main
from runbook.report.demo import stop_started_sandbox
from runbook.report.export import find_chromium
from runbook.report.notebooks import NOTEBOOKS_ENV
from runbook.sandbox import ensure_running, find_running

pytestmark = [pytest.mark.notebook, pytest.mark.slow]


@pytest.fixture
def no_sandbox_left(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A home of the test's own (no sandbox of another test is seen); what it starts is stopped."""
    monkeypatch.setenv("MESH_RUNBOOK_HOME", str(tmp_path_factory.mktemp("home")))
    yield
    running = find_running()
    if running is not None:
        stop_started_sandbox(running)


def test_run_unknown_parameter_exits_2_listing_valid_names(
        notebooks: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(notebooks / "typed-parameters.ipynb"), "-p", "namspace", "bookinfo",
                 "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown parameter namspace for typed-parameters.ipynb" in err
    assert "valid: kubeconfig, context, apply_fixes, count" in err


def test_run_failing_cell_exits_1_naming_notebook_cell_and_error(
        notebooks: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(notebooks / "failing-cell.ipynb"), "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 1
    assert ("runbook run: failing-cell.ipynb, cell 4: ValueError: webhook target not found: "
            "istio-system/istiod-1-18-5") in err
    assert out.startswith("failing-cell: failed in ")
    assert (tmp_path / "failing-cell.html").is_file() and (tmp_path / "failing-cell.ipynb").is_file()


def test_run_a_short_name_against_a_cluster_given_by_kubeconfig(
        notebooks: Path, tmp_path: Path, sandbox: Any, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(NOTEBOOKS_ENV, str(notebooks / "series"))
    code = main(["run", "01", "--kubeconfig", str(sandbox.kubeconfig_path), "--context", "sandbox",
                 "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("01-connect: ok in ")
    html = (tmp_path / "01-connect.html").read_text()
    assert f"connected sandbox {sandbox.url} True" in html
    assert "kube-system" in html
    assert sandbox.token not in html and sandbox.token not in (tmp_path / "01-connect.ipynb").read_text()


def test_demo_runs_the_series_and_stops_the_sandbox_it_started(
        notebooks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], no_sandbox_left: None) -> None:
    monkeypatch.setenv(NOTEBOOKS_ENV, str(notebooks / "series"))
    assert find_running() is None
    code = main(["demo", "--out", str(tmp_path / "reports")])
    out = capsys.readouterr().out
    assert code == 0, out
    rows = out.splitlines()
    assert rows[0].split() == ["NOTEBOOK", "STATUS", "DURATION", "REPORT"]
    assert rows[1].split()[:2] == ["01-connect", "ok"] and rows[2].split()[:2] == ["02-apply", "ok"]
    assert rows[1].endswith(str(tmp_path / "reports" / "01-connect.html"))
    assert "started for the demo, stopped" in out
    assert find_running() is None
    connect = (tmp_path / "reports" / "01-connect.html").read_text()
    assert "connected sandbox https://127.0.0.1:" in connect
    assert "istio-canary" in connect  # the seed-incident world
    apply = (tmp_path / "reports" / "02-apply.html").read_text()
    assert "apply_fixes = True" in apply
    index = (tmp_path / "reports" / "index.html").read_text()
    assert 'href="01-connect.html"' in index and 'href="02-apply.ipynb"' in index
    assert "scenario seed-incident" in index


def test_demo_reuses_a_running_sandbox_and_leaves_it_running(
        notebooks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], no_sandbox_left: None) -> None:
    monkeypatch.setenv(NOTEBOOKS_ENV, str(notebooks / "series"))
    running = ensure_running("seed-incident")
    code = main(["demo", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "was already running; left running" in out
    still = find_running()
    assert still is not None and still.pid == running.pid


def test_demo_stops_at_the_failing_notebook(
        notebooks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], no_sandbox_left: None) -> None:
    monkeypatch.setenv(NOTEBOOKS_ENV, str(notebooks / "failing-series"))
    code = main(["demo", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "runbook demo: 02-broken.ipynb, cell 3: ZeroDivisionError: division by zero" in err
    rows = {line.split()[0]: line for line in out.splitlines()[1:4]}
    assert rows["01-ok"].split()[1] == "ok"
    assert rows["02-broken"].split()[1:4] == ["failed", "(cell", "3)"]
    assert rows["03-after"].split()[1:3] == ["not", "run"]
    assert not (tmp_path / "03-after.html").exists() and (tmp_path / "02-broken.html").is_file()
    assert "not run" in (tmp_path / "index.html").read_text()
    assert find_running() is None  # stopped although the demo failed


def test_demo_refuses_a_sandbox_with_another_scenario(
        notebooks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], no_sandbox_left: None) -> None:
    monkeypatch.setenv(NOTEBOOKS_ENV, str(notebooks / "series"))
    running = ensure_running("empty")
    code = main(["demo", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "a sandbox with scenario 'empty' is running" in err
    still = find_running()
    assert still is not None and still.pid == running.pid
    assert not list(tmp_path.iterdir())


def test_run_with_pdf_prints_the_report_with_the_system_chromium(
        notebooks: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if find_chromium() is None:
        pytest.skip("chromium is not installed (.ci/run installs it with apt)")
    code = main(["run", str(notebooks / "audit-and-widgets.ipynb"), "--pdf", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    pdf = tmp_path / "audit-and-widgets.pdf"
    assert str(pdf) in out
    assert pdf.read_bytes().startswith(b"%PDF-") and pdf.stat().st_size > 10_000


def test_run_with_the_notebook_defaults_attaches_to_the_local_sandbox(
        notebooks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], no_sandbox_left: None) -> None:
    monkeypatch.setenv(NOTEBOOKS_ENV, str(notebooks / "series"))
    code = main(["run", "01-connect", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("01-connect: ok in ")
    running = find_running()
    assert running is not None and running.scenario == "seed-incident"
    assert f"the notebook started a local sandbox ({running.url}, pid {running.pid})" in err
    html = (tmp_path / "01-connect.html").read_text()
    assert f"connected sandbox {running.url} True" in html
    assert "sandbox (local sandbox)" in html and running.token not in html
