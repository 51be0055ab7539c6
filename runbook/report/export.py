"""Turning an executed (and already masked) notebook into a report: header, HTML, PDF.

* The **header** is a markdown cell put first: notebook, outcome, cluster context and server,
  time, toolkit version, parameters, and the audit records of every change the run made.
* **Widgets** do not survive a headless run as something a reader can use: nbconvert renders a
  ``widget-view`` output as a script tag that needs the widget manager from a CDN and shows
  "Error displaying widget: model not found" when the state is missing (papermill#400). The HTML
  export therefore replaces each widget view with a static rendering of its saved state (HTML and
  label values, buttons as disabled buttons, input values, and the contents of ``Output`` widgets
  appended as ordinary outputs) or, without state, a short note — and drops the widget state, so
  the report loads no widget JavaScript at all.
* **HTML** comes from nbconvert's ``HTMLExporter`` with ``templates/mesh_report``: the ``lab``
  template without the scripts it loads from a CDN (require.js, MathJax, mermaid, the widget
  manager) and without running ``application/javascript`` outputs; its CSS is inlined and
  ``image/png`` outputs, i.e. matplotlib charts, are embedded as ``data:`` URIs, so a report is
  one self-contained file that an offline browser shows whole.
* **PDF** is rendered from that HTML by the system chromium through Playwright
  (``executable_path``): nbconvert's ``WebPDFExporter`` always launches Playwright's own downloaded
  browser (``chromium.launch`` without ``executable_path``), which this project never downloads.
  Every request other than ``file:``/``data:`` is aborted, so rendering contacts nothing.
"""

from __future__ import annotations

import concurrent.futures
import copy
import functools
import logging
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor

from runbook.audit import AuditRecord
from runbook.errors import InputError
from runbook.markup import escape_html as _e
from runbook.markup import escape_markdown as _md
from runbook.report.masking import SecretMasker
from runbook.report.target import RunTarget

WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
HEADER_TAG = "mesh-runbook-header"
#: nbconvert's ``lab`` template without anything loaded from the network (templates/mesh_report)
TEMPLATES = Path(__file__).parent / "templates"
REPORT_TEMPLATE = "mesh_report"
CHROMIUM_ENV = "MESH_RUNBOOK_CHROMIUM"
#: flags that matter for a headless chromium on a CI machine without a display or GPU
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run")


# ---------------------------------------------------------------------------- header

# left-aligned: JupyterLab's CSS centres tables in markdown cells
_TABLE = '<table style="border-collapse:collapse;margin-left:0">'


@dataclass
class ParameterRow:
    """One parameter as the header shows it."""

    name: str
    value: Any
    given: bool


def header_cell(*, notebook: str, status: str, error: str | None, target: RunTarget, started: str,
                duration_s: float, version: str, parameters: Sequence[ParameterRow],
                audit_records: Sequence[AuditRecord], audit_path: str | None = None,
                unfinished_records: Sequence[AuditRecord] = ()) -> Any:
    """The report's header block as a markdown cell (tagged ``mesh-runbook-header``).

    The cell holds one HTML block (no blank lines, so markdown passes it through unchanged);
    every value is escaped for Markdown too (a value with a blank line in it would otherwise end
    the block and have the rest read as Markdown). Secrets are not handled here: the masker runs
    over the whole notebook, this cell included, afterwards.
    """
    outcome = ("completed" if status == "ok" else f"FAILED — {error}" if error else "FAILED")
    color = "#1a7f37" if status == "ok" else "#cf222e"
    where = target.context or "?"
    if target.is_sandbox:
        where += " (local sandbox)"
    rows = [
        ("Notebook", notebook),
        ("Outcome", outcome),
        ("Cluster context", where),
        ("API server", target.server or (f"unknown — {target.note}" if target.note else "unknown")),
        ("Kubeconfig", target.kubeconfig or "—"),
        ("Started (UTC)", started),
        ("Duration", f"{duration_s:.1f} s"),
        ("Toolkit", f"mesh-runbook {version}"),
    ]
    out = ['<div class="mesh-runbook-header" style="border:1px solid #d0d7de;border-radius:6px;'
           'padding:12px 16px;margin-bottom:16px;font-family:sans-serif">',
           f'<h2 style="margin-top:0">Runbook report: {_md(notebook)}</h2>',
           _TABLE]
    for label, value in rows:
        style = f' style="color:{color};font-weight:bold"' if label == "Outcome" else ""
        out.append(f'<tr><th style="text-align:left;padding-right:16px">{_md(label)}</th>'
                   f'<td{style}>{_md(value)}</td></tr>')
    out.append("</table>")
    out.append("<h3>Parameters</h3>")
    if parameters:
        out.append(_TABLE + '<tr><th style="text-align:left">name</th>'
                   '<th style="text-align:left">value</th><th style="text-align:left">set by</th></tr>')
        for p in parameters:
            out.append(f"<tr><td><code>{_md(p.name)}</code></td><td><code>{_md(repr(p.value))}</code>"
                       f"</td><td>{'this run' if p.given else 'notebook default'}</td></tr>")
        out.append("</table>")
    else:
        out.append("<p>The notebook declares no parameters.</p>")
    out.append("<h3>Changes made during this run (audit records)</h3>")
    if audit_records:
        cols = ("time", "action", "result", "object", "step", "context", "user", "detail")
        out.append(_TABLE + '<tr>'
                   + "".join(f'<th style="text-align:left;padding-right:8px">{c}</th>' for c in cols)
                   + "</tr>")
        for rec in audit_records:
            cells = [rec.time, rec.action, rec.result, rec.object, rec.step, rec.context,
                     rec.user or "?", rec.detail]
            out.append("<tr>" + "".join(f'<td style="padding-right:8px">{_md(c)}</td>' for c in cells)
                       + "</tr>")
        out.append("</table>")
    else:
        out.append("<p>No change to the cluster was recorded during this run.</p>")
    if audit_path:
        out.append(f"<p>Audit file of this run: <code>{_md(audit_path)}</code></p>")
    if unfinished_records:
        # a killed run left these: the change may or may not be on the cluster
        out.append('<h3 style="color:#cf222e">Changes started whose outcome is unknown</h3>'
                   "<p>A run was stopped between sending a change and recording its outcome. "
                   "Compare each object with the cluster (<code>runbook.fix.reconcile</code>) "
                   "before changing it again:</p><ul>")
        out.extend(f"<li>{_md(rec.summary())}</li>" for rec in unfinished_records)
        out.append("</ul>")
    out.append("</div>")
    cell = nbformat.v4.new_markdown_cell("".join(out))
    cell.metadata["tags"] = [HEADER_TAG]
    return cell


# ---------------------------------------------------------------------------- widgets


class StaticWidgetsPreprocessor(Preprocessor):
    """Replace widget views with static renderings of their saved state; drop the widget state."""

    def preprocess(self, nb: Any, resources: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        widgets = nb.metadata.get("widgets") or {}
        state = (widgets.get(WIDGET_STATE_MIME) or {}).get("state") or {}
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = self.static_outputs(cell.get("outputs", []), state)
        nb.metadata.pop("widgets", None)
        return nb, resources

    def static_outputs(self, outputs: Iterable[Any], state: dict[str, Any]) -> list[Any]:
        """The outputs with every widget view replaced (recursively for ``Output`` contents)."""
        result: list[Any] = []
        for output in outputs:
            data = output.get("data") or {}
            if WIDGET_VIEW_MIME not in data:
                result.append(output)
                continue
            model_id = str((data.get(WIDGET_VIEW_MIME) or {}).get("model_id", ""))
            nested: list[Any] = []
            body = _render_widget(model_id, state, nested, depth=0)
            plain = str(data.get("text/plain") or "widget")
            if model_id in state:
                note = "static view of an interactive widget (its controls do not work in a report)"
            else:
                note = ("interactive widget whose state was not saved by the headless run; "
                        "its actions are recorded in the printed outputs")
            html_text = ('<div class="mesh-runbook-widget" style="border:1px dashed #8c959f;'
                         'padding:6px 10px;margin:4px 0"><div style="font-size:smaller;'
                         f'color:#57606a">{_e(note)}</div>{body}</div>')
            result.append(nbformat.v4.new_output(
                "display_data", data={"text/html": html_text, "text/plain": f"[{note}] {plain}"}))
            result.extend(self.static_outputs(
                (nbformat.from_dict(o) for o in nested), state))
        return result


_BOXES = {"VBoxModel", "BoxModel", "GridBoxModel", "AccordionModel", "TabModel", "StackModel"}


def _render_widget(model_id: str, state: dict[str, Any], nested: list[Any], depth: int) -> str:
    model = state.get(model_id)
    if not isinstance(model, dict) or depth > 25:
        return ""
    name = str(model.get("model_name", ""))
    s = model.get("state") or {}
    desc = str(s.get("description") or "")
    label = f"<b>{_e(desc)}</b> " if desc else ""
    if name in _BOXES or name == "HBoxModel":
        children = [_render_widget(str(c).removeprefix("IPY_MODEL_"), state, nested, depth + 1)
                    for c in s.get("children") or []]
        direction = "row" if name == "HBoxModel" else "column"
        return (f'<div style="display:flex;flex-direction:{direction};gap:6px">'
                + "".join(f"<div>{c}</div>" for c in children if c) + "</div>")
    if name in ("HTMLModel", "HTMLMathModel"):
        return label + str(s.get("value") or "")  # the notebook's own HTML, masked beforehand
    if name == "LabelModel":
        return _e(s.get("value") or "")
    if name in ("ButtonModel", "ToggleButtonModel"):
        return f"<button disabled>{_e(desc or 'button')}</button>"
    if name == "OutputModel":
        outputs = s.get("outputs") or []
        nested.extend(outputs)
        return "<em>(output shown below)</em>" if outputs else ""
    if name == "PasswordModel":
        return label + "[masked]"
    if "_options_labels" in s and "index" in s:
        labels, index = s.get("_options_labels") or [], s.get("index")
        picked = ([labels[i] for i in index if 0 <= i < len(labels)] if isinstance(index, list)
                  else labels[index] if isinstance(index, int) and 0 <= index < len(labels) else "—")
        return label + f"<code>{_e(picked)}</code>"
    if "value" in s:
        return label + f"<code>{_e(s.get('value'))}</code>"
    return f"<em>[{_e(name.removesuffix('Model') or 'widget')}]</em>"


# ---------------------------------------------------------------------------- HTML / PDF


def notebook_html(nb: Any, masker: SecretMasker | None = None) -> str:
    """The report HTML of a masked notebook (widgets made static, charts embedded)."""
    nb = copy.deepcopy(nb)
    nb, _ = StaticWidgetsPreprocessor().preprocess(nb, {})
    body, _ = _html_exporter().from_notebook_node(nb)
    # defence in depth: the notebook was masked already, but no known secret leaves in any spelling
    return masker.mask_known(body) if masker is not None else str(body)


@functools.lru_cache(maxsize=1)
def _html_exporter() -> HTMLExporter:
    # one exporter per process: its compiled templates make every later report ~5x faster.
    # Its own logger at ERROR: "Alternative text is missing on N image(s)" for every chart is noise
    # on the command line (nbconvert fills in a generic alt text itself).
    log = logging.getLogger("runbook.report.nbconvert")
    log.setLevel(logging.ERROR)
    return HTMLExporter(template_name=REPORT_TEMPLATE, extra_template_basedirs=[str(TEMPLATES)],
                        log=log)


def export_html(nb: Any, path: str | os.PathLike[str], masker: SecretMasker | None = None) -> Path:
    """Write the report HTML of a masked notebook to ``path``."""
    out = Path(path)
    out.write_text(notebook_html(nb, masker), encoding="utf-8")
    return out


def find_chromium() -> str | None:
    """The system chromium: ``$MESH_RUNBOOK_CHROMIUM``, ``/usr/bin/chromium``, or on ``PATH``."""
    for candidate in (os.environ.get(CHROMIUM_ENV), "/usr/bin/chromium"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    """:func:`find_chromium` or an InputError that says how to get one."""
    found = find_chromium()
    if found is None:
        raise InputError("--pdf needs a chromium browser and none was found",
                         hint=f"install it (apt-get install chromium) or set ${CHROMIUM_ENV}")
    return found


def export_pdf(html_path: str | os.PathLike[str], pdf_path: str | os.PathLike[str], *,
               chromium: str | None = None, timeout_s: float = 60.0) -> Path:
    """Print a report HTML file to PDF with the system chromium (no network, no download).

    Raises:
        InputError: no chromium is installed.
    """
    executable = chromium or require_chromium()
    source, target = Path(html_path).resolve(), Path(pdf_path)

    def render() -> None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS),
                                         headless=True, timeout=timeout_s * 1000,
                                         handle_sigint=False, handle_sigterm=False,
                                         handle_sighup=False)
            try:
                page = browser.new_page()
                # a report is self-contained: CDN scripts (MathJax, require.js) are not fetched
                page.route("**/*", lambda route: route.continue_()
                           if route.request.url.startswith(("file:", "data:")) else route.abort())
                page.emulate_media(media="print")
                page.goto(source.as_uri(), wait_until="load", timeout=timeout_s * 1000)
                page.pdf(path=str(target), print_background=True)
            finally:
                browser.close()

    # Playwright's sync API refuses to run inside an asyncio loop (a Jupyter kernel): use a thread
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(render).result()
    return target


__all__ = [
    "CHROMIUM_ARGS",
    "HEADER_TAG",
    "ParameterRow",
    "StaticWidgetsPreprocessor",
    "export_html",
    "export_pdf",
    "find_chromium",
    "header_cell",
    "notebook_html",
    "require_chromium",
]
