"""run_notebook on small notebooks of our own: parameters, failures, header, audit, widgets, charts."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

from runbook.audit import AuditLog
from runbook.errors import ConfigError, InputError, NotebookError
from runbook.paths import runbook_home
from runbook.report import NotebookRun, run_notebook
from runbook.report.export import export_pdf, find_chromium

from .conftest import PlantedKubeconfig

slow = [pytest.mark.notebook, pytest.mark.slow]


def _stdout(run: NotebookRun) -> str:
    nb = nbformat.read(str(run.executed_path), as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []) if o.get("output_type") == "stream")


# ---------------------------------------------------------------------------- no kernel needed


def test_unknown_parameter_is_refused_listing_the_valid_ones(notebooks: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        run_notebook(notebooks / "typed-parameters.ipynb", parameters={"namspace": "x"},
                     out_dir=tmp_path)
    message = str(err.value)
    assert "unknown parameter namspace for typed-parameters.ipynb" in message
    assert "valid: kubeconfig, context, apply_fixes, count, ratio, label, hosts, limit" in message
    assert not list(tmp_path.iterdir())  # nothing ran, nothing written


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("count", "seven", "parameter count='seven': expected int (default 3)"),
    ("apply_fixes", "maybe", "parameter apply_fixes='maybe': expected true or false (default False)"),
    ("ratio", "1,5", "parameter ratio='1,5': expected float (default 0.5)"),
    ("hosts", "a.example", "parameter hosts='a.example': expected a list literal"),
])
def test_badly_typed_value_is_refused(notebooks: Path, tmp_path: Path, name: str, value: str,
                                      expected: str) -> None:
    with pytest.raises(InputError, match=re.escape(expected)):
        run_notebook(notebooks / "typed-parameters.ipynb", parameters={name: value}, out_dir=tmp_path)


def test_missing_kubeconfig_is_a_config_error(notebooks: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"kubeconfig .*nope does not exist"):
        run_notebook(notebooks / "typed-parameters.ipynb", kubeconfig=tmp_path / "nope", out_dir=tmp_path)


def test_missing_notebook_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        run_notebook(tmp_path / "missing.ipynb", out_dir=tmp_path)


# ---------------------------------------------------------------------------- executed


@pytest.mark.parametrize("_", [None], ids=["typed"])
@pytest.mark.notebook
@pytest.mark.slow
def test_parameters_are_typed_and_the_kernel_is_this_interpreter(
        notebooks: Path, planted_kubeconfig: PlantedKubeconfig, tmp_path: Path, _: None) -> None:
    run = run_notebook(
        notebooks / "typed-parameters.ipynb",
        parameters={"count": "7", "ratio": "0.25", "apply_fixes": "yes", "label": "two words",
                    "hosts": '["a.example", "b.example"]', "limit": "None"},
        kubeconfig=str(planted_kubeconfig.path), out_dir=tmp_path / "out")
    run.raise_for_status()
    lines = _stdout(run).splitlines()
    values = json.loads(lines[0])
    assert values == {
        "kubeconfig": ["str", str(planted_kubeconfig.path.resolve())],
        "context": ["NoneType", None],  # --kubeconfig alone: the file's current context
        "apply_fixes": ["bool", True], "count": ["int", 7], "ratio": ["float", 0.25],
        "label": ["str", "two words"], "hosts": ["list", ["a.example", "b.example"]],
        "limit": ["NoneType", None]}
    env = json.loads(lines[1].removeprefix("ENV "))
    assert env["executable"] == sys.executable
    assert env["headless"] == "1"
    # the kernel writes the user's trail itself (written ahead), and a copy for the run
    assert env["audit"] == str((runbook_home() / "audit.jsonl").resolve())
    assert env["cwd"] == str(notebooks)  # like Jupyter: the notebook's folder
    # the header names the cluster the kubeconfig's current context points at
    html = run.html_path.read_text()
    assert run.target is not None and run.target.context == "prod-eu"
    assert "prod-eu" in html and planted_kubeconfig.server in html
    assert "mesh-runbook 0.1.0" in html and "Parameters" in html
    # a value's quotes read as quotes, not as the character references that escaped them
    assert "<code>'two words'</code>" in html and "&amp;#" not in html
    assert run.parameters["count"] == 7 and "count" in run.given and "ratio" in run.given


@pytest.mark.notebook
@pytest.mark.slow
def test_failing_cell_is_named_and_the_report_is_still_written(notebooks: Path, tmp_path: Path) -> None:
    run = run_notebook(notebooks / "failing-cell.ipynb", out_dir=tmp_path / "out")
    assert run.status == "failed" and not run.ok
    assert run.error is not None and run.error.cell == 4 and run.error.notebook == "failing-cell.ipynb"
    assert str(run.error).startswith(
        "failing-cell.ipynb, cell 4: ValueError: webhook target not found: istio-system/istiod-1-18-5")
    with pytest.raises(NotebookError):
        run.raise_for_status()
    html = run.html_path.read_text()
    assert "before the failure" in html and "never reached" not in _stdout(run)
    assert "An Exception was encountered at" in html  # papermill's marker, linking the cell
    assert "FAILED — cell 4: ValueError" in html       # the header says it too
    executed = nbformat.read(str(run.executed_path), as_version=4)
    assert any(o.get("output_type") == "error" for c in executed.cells for o in c.get("outputs", []))


@pytest.mark.notebook
@pytest.mark.slow
def test_a_cell_that_runs_too_long_fails_the_run(notebooks: Path, tmp_path: Path) -> None:
    run = run_notebook(notebooks / "slow-cell.ipynb", out_dir=tmp_path / "out", timeout=2)
    assert run.error is not None and run.error.cell == 2
    assert "cell timed out after 2 s" in str(run.error)
    assert "cell timed out after 2 s" in run.html_path.read_text()


@pytest.mark.notebook
@pytest.mark.slow
def test_audit_records_widgets_and_charts(notebooks: Path, tmp_path: Path) -> None:
    run = run_notebook(notebooks / "audit-and-widgets.ipynb", context="prod-eu-never-contacted",
                       out_dir=tmp_path / "out")
    run.raise_for_status()
    # the record the notebook's "fix" appended went to the run's file, into the report, and into
    # the user's audit trail
    assert [r.object for r in run.audit_records] == [
        "MutatingWebhookConfiguration/istio-revision-tag-prod-canary"]
    assert run.audit_path == tmp_path / "out" / "audit-and-widgets.audit.jsonl"
    assert [r.object for r in AuditLog(runbook_home() / "audit.jsonl").read()][-1:] == [
        "MutatingWebhookConfiguration/istio-revision-tag-prod-canary"]
    html = run.html_path.read_text()
    header = html[html.index("class=\"mesh-runbook-header"):html.index("Audit file of this run")]
    assert "MutatingWebhookConfiguration/istio-revision-tag-prod-canary" in header
    assert "service istio-system/istiod-1-18-5 -&gt; istio-canary/istiod-1-18-5" in header
    # widgets: a static rendering, no widget JavaScript, no "Error displaying widget"
    assert "application/vnd.jupyter.widget-view+json" not in html
    assert "application/vnd.jupyter.widget-state+json" not in html
    assert "Error displaying widget" not in html and "html-manager" not in html
    assert "applied: webhook retargeted by the panel" in html  # the Output widget's content
    assert "<b>Preview</b> of the change" in html
    assert re.search(r"<button disabled[^>]*>Apply</button>", html)
    # the chart is embedded, the report is one file
    assert re.search(r'<img[^>]+src="data:image/png;base64,[A-Za-z0-9+/]{100}', html)
    # the executed notebook keeps the widget outputs for Jupyter
    executed = nbformat.read(str(run.executed_path), as_version=4)
    assert "widgets" in executed.metadata

    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no chromium: PDF not checked")
    pdf = export_pdf(run.html_path, tmp_path / "out" / "report.pdf", chromium=chromium)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and len(data) > 10_000


@pytest.mark.notebook
@pytest.mark.slow
def test_a_foreign_python3_kernelspec_is_not_used(notebooks: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # outside a virtualenv (pip --user, a system Python) or with JUPYTER_PREFER_ENV_PATH=0, a
    # user-level "python3" kernelspec of another interpreter wins Jupyter's lookup by name; the
    # runner does not look its kernel up by name, so it still runs this interpreter
    spec_dir = tmp_path / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps(
        {"argv": ["/bin/false", "{connection_file}"], "display_name": "broken", "language": "python"}))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "0")
    run = run_notebook(notebooks / "typed-parameters.ipynb", out_dir=tmp_path / "out")
    run.raise_for_status()
    assert json.loads(_stdout(run).splitlines()[1].removeprefix("ENV "))["executable"] == sys.executable
    # asking for that kernel by name does use it, and says it could not start
    with pytest.raises(NotebookError, match=r"typed-parameters\.ipynb: the kernel"):
        run_notebook(notebooks / "typed-parameters.ipynb", out_dir=tmp_path / "out2",
                     kernel_name="python3")


def test_the_demo_index_counts_changes_not_dry_runs(tmp_path: Path) -> None:
    from runbook.audit import AuditRecord
    from runbook.report.demo import write_index
    from runbook.report.runner import NotebookRun

    def record(action: str, result: str) -> AuditRecord:
        return AuditRecord(action, "Rollout restart", "patch", "sandbox", "https://127.0.0.1:1",
                           "sandbox", "Deployment/ns/details-v1", result)

    run = NotebookRun(Path("05-ingress-latency.ipynb"), "ok", "2026-12-07T00:00:00Z", 1.0,
                      tmp_path / "05.ipynb", tmp_path / "05.html", None, tmp_path / "a.jsonl",
                      [record("dry-run", "dry-run")] * 3 + [record("apply", "refused"),
                                                            record("apply", "applied"),
                                                            record("undo", "applied")])
    assert [r.action for r in run.changes] == ["apply", "undo"]
    index = write_index([run], tmp_path).read_text()
    assert "<td>1.0 s</td><td>2</td>" in index
