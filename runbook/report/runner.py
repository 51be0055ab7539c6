"""Run one notebook headlessly with papermill and turn it into a report.

Order of work, and why:

1. parameters are checked against the notebook's ``parameters`` cell and typed (a typo is an
   error, not a silent default);
2. papermill executes the notebook in a kernel of *this* interpreter (``runbook.report.kernel``)
   with ``MESH_RUNBOOK_HEADLESS=1``; the kernel appends its audit records (written ahead of each
   write, :mod:`runbook.audit`) to the user's trail itself and to a copy for this run, each
   tagged with the run's id — so a run killed at any point has lost no record, and a re-run
   into the same folder appends to the copy rather than deleting it;
   papermill is given no output path, so nothing unmasked is ever written — the executed notebook
   is taken from nbclient's ``on_notebook_start`` hook (papermill does not return it when a cell
   fails);
3. the header block is put first, then the masking preprocessor runs over the whole notebook;
4. only then are the ``.ipynb``, the HTML (and the PDF) written. A failed run writes them too,
   with papermill's marker at the failing cell, so the report shows where it stopped.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import nbformat
import papermill
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from papermill.exceptions import PapermillExecutionError

from runbook import __version__
from runbook.audit import AuditLog, AuditRecord
from runbook.errors import ConfigError, InputError, NotebookError
from runbook.paths import output_folder, refuse_symlinks
from runbook.report.export import ParameterRow, export_html, export_pdf, header_cell, require_chromium
from runbook.report.kernel import KERNEL_NAME, RunStart, start_run
from runbook.report.masking import (
    MASK,
    MaskSecretsPreprocessor,
    SecretMasker,
    is_secret_name,
    kubeconfig_secrets,
)
from runbook.report.notebooks import DEFAULT_CELL_TIMEOUT_S, report_files
from runbook.report.parameters import NotebookParameter, check_parameters, read_parameters
from runbook.report.target import RunTarget, describe_target


@dataclass
class NotebookRun:
    """The outcome of one headless notebook run.

    Attributes:
        notebook: the notebook that was run.
        status: ``"ok"`` or ``"failed"``.
        started: start time (UTC, ISO 8601).
        duration_s: wall time of the execution, kernel start included (what of it was left: a
            kernel started ahead by :func:`start_run` may be up already).
        executed_path: the executed, masked ``.ipynb``.
        html_path: the HTML report.
        pdf_path: the PDF report, when asked for.
        audit_path: the JSONL copy of this run's audit records (appended to, never truncated:
            earlier runs into the same folder keep theirs); the user's trail holds them too.
        audit_records: every audit record of the run: dry runs and refusals as well as
            changes (see :attr:`changes`).
        unfinished: changes whose outcome is unknown (``started`` records without an outcome in
            the user's trail: a run killed mid-write, this one or an earlier one), to reconcile
            (``runbook.fix.reconcile``).
        parameters: the values the run used, secrets masked (given ones and defaults).
        given: the names set by the caller (the others are the notebook's defaults).
        target: the cluster the run pointed at.
        error: the failure, with notebook, cell and error line (masked), when ``status`` is failed.
    """

    notebook: Path
    status: str
    started: str
    duration_s: float
    executed_path: Path
    html_path: Path
    pdf_path: Path | None
    audit_path: Path
    audit_records: list[AuditRecord] = field(default_factory=list)
    unfinished: list[AuditRecord] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    given: frozenset[str] = frozenset()
    target: RunTarget | None = None
    error: NotebookError | None = None

    @property
    def name(self) -> str:
        """The notebook's file name without ``.ipynb``."""
        return self.notebook.stem

    @property
    def changes(self) -> list[AuditRecord]:
        """The records of what the run really changed (applies and undos that were applied; a
        dry run or a refusal changed nothing)."""
        return [r for r in self.audit_records if r.result == "applied"]

    @property
    def ok(self) -> bool:
        """Whether every cell ran."""
        return self.status == "ok"

    def raise_for_status(self) -> NotebookRun:
        """Raise the run's :class:`NotebookError` if it failed; return the run otherwise."""
        if self.error is not None:
            raise self.error
        return self


@dataclass
class _Progress:
    # filled by nbclient hooks: the notebook object being executed, and the cell running now
    nb: Any = None
    cell_index: int | None = None


def run_notebook(
    path: str | os.PathLike[str],
    *,
    parameters: Mapping[str, Any] | None = None,
    kubeconfig: str | os.PathLike[str] | None = None,
    context: str | None = None,
    out_dir: str | os.PathLike[str] = "reports",
    timeout: float = DEFAULT_CELL_TIMEOUT_S,
    kernel_name: str | None = None,
    pdf: bool = False,
    start: RunStart | None = None,
) -> NotebookRun:
    """Execute a notebook headlessly and write ``<out_dir>/<name>.ipynb`` and ``<name>.html``.

    Args:
        path: the notebook.
        parameters: values for names of its ``parameters`` cell; strings (from a command line)
            are converted to the type of the default. ``apply_fixes`` is never set implicitly:
            against any cluster it stays the notebook's default (False) unless given here.
        kubeconfig: sets the ``kubeconfig`` parameter (made absolute). Without ``context``, the
            ``context`` parameter becomes None: the kubeconfig's current context, as kubectl does.
        context: sets the ``context`` parameter. With neither, the notebook's defaults apply
            (``kubeconfig=None, context="sandbox"``: the local sandbox).
        out_dir: where the executed notebook, the reports and the run's audit file go.
        timeout: seconds one cell may run before the run fails.
        kernel_name: an installed Jupyter kernel to use instead of this interpreter.
        pdf: also print the report to ``<name>.pdf`` with the system chromium.
        start: the run's kernel, started ahead by :func:`start_run` for this notebook and
            ``out_dir`` (``kernel_name`` is then its business). The run asks it to exit when done
            (or refused) and does not wait; the caller waits for it with ``start.discard()``.
            Without it, the kernel is started here and waited for before the run returns.

    Returns:
        The run. A failing cell does not raise: ``status`` is ``"failed"``, ``error`` names the
        notebook, cell and error, and the reports are written; call ``raise_for_status()``.

    Raises:
        InputError: missing notebook, unknown parameter (the valid ones are listed), a value of
            the wrong type, ``pdf`` without chromium, a ``start`` of another notebook or folder.
        ConfigError: ``kubeconfig`` does not exist.
        NotebookError: the kernel could not be started, or the report could not be written.
        KeyboardInterrupt: Ctrl-C, after the reports up to the interrupted cell were written.
    """
    try:
        return _run_notebook(path, parameters=parameters, kubeconfig=kubeconfig, context=context,
                             out_dir=out_dir, timeout=timeout, kernel_name=kernel_name, pdf=pdf,
                             start=start)
    finally:
        if start is not None:
            start.kernel.request_stop()  # also when the run was refused before it took it over


def _run_notebook(path: str | os.PathLike[str], *, parameters: Mapping[str, Any] | None,
                  kubeconfig: str | os.PathLike[str] | None, context: str | None,
                  out_dir: str | os.PathLike[str], timeout: float, kernel_name: str | None,
                  pdf: bool, start: RunStart | None) -> NotebookRun:
    notebook = Path(path).expanduser().resolve()
    if not notebook.is_file():
        raise InputError(f"notebook {path} does not exist",
                         hint="give a .ipynb path or a short name of the series (runbook run 02)")
    chromium = require_chromium() if pdf else None
    given: dict[str, Any] = dict(parameters or {})
    if kubeconfig is not None:
        given["kubeconfig"] = str(kubeconfig)
        if context is None:
            given["context"] = None  # the kubeconfig's current context, as kubectl does
    if context is not None:
        given["context"] = context
    declared = read_parameters(notebook)
    values = check_parameters(notebook, given)
    if isinstance(values.get("kubeconfig"), (str, os.PathLike)):
        kube_path = Path(values["kubeconfig"]).expanduser().resolve()
        if not kube_path.is_file():
            raise ConfigError(f"kubeconfig {values['kubeconfig']} does not exist",
                              hint="pass an existing --kubeconfig, or none to use the local sandbox")
        values["kubeconfig"] = str(kube_path)  # absolute: the kernel runs in the notebook's folder

    out = output_folder(out_dir)
    if start is not None and (start.notebook, start.out) != (notebook, out):
        raise InputError(f"the kernel was started for {start.notebook.name} into {start.out}, "
                         f"not for {notebook.name} into {out}",
                         hint="start_run with the notebook and folder the run uses")
    refuse_symlinks(report_files(notebook, out))
    executed = out / f"{notebook.stem}.ipynb"
    if executed == notebook:
        raise InputError(f"--out {out_dir} would overwrite the notebook itself",
                         hint="choose another output folder")
    html_path = out / f"{notebook.stem}.html"
    pdf_path = out / f"{notebook.stem}.pdf" if pdf else None
    for stale in (html_path, out / f"{notebook.stem}.pdf"):
        stale.unlink(missing_ok=True)  # a failed export must not leave an earlier run's report

    cell_timeout = max(1, math.ceil(timeout))  # nbclient takes whole seconds
    own = start or start_run(notebook, out, kernel_name=kernel_name)
    try:
        return _execute(own, values, declared, given, cell_timeout, pdf_path, chromium)
    finally:
        if start is None:
            own.discard()


def _execute(start: RunStart, values: dict[str, Any], declared: Mapping[str, NotebookParameter],
             given: Mapping[str, Any], cell_timeout: int, pdf_path: Path | None,
             chromium: str | None) -> NotebookRun:
    """Run the notebook in ``start``'s kernel and write its reports (``run_notebook``'s second
    half, once everything is checked)."""
    notebook, out, kernel = start.notebook, start.out, start.kernel
    run_id, audit_path, user_audit, kernel_log = start.run_id, start.audit_path, start.user_audit, kernel.log
    executed, html_path = out / f"{notebook.stem}.ipynb", out / f"{notebook.stem}.html"
    progress = _Progress()

    def on_notebook_start(notebook: Any, **_: Any) -> None:
        progress.nb = notebook

    def on_cell_start(cell: Any, cell_index: int, **_: Any) -> None:
        progress.cell_index = cell_index

    started = datetime.now(UTC)
    clock = time.perf_counter()
    failure: tuple[str, int | None] | None = None  # (error line, cell number)
    interrupted = False
    try:
        papermill.execute_notebook(
            str(notebook), None, parameters=values, kernel_name=KERNEL_NAME, language="python",
            progress_bar=False, log_output=False, request_save_on_cell_execute=False,
            execution_timeout=cell_timeout, start_timeout=60, km=kernel.manager,
            resources={"metadata": {"path": str(notebook.parent)}},
            on_notebook_start=on_notebook_start, on_cell_start=on_cell_start)
    except PapermillExecutionError as exc:
        failure = (f"{exc.ename}: {exc.evalue}" if exc.evalue else str(exc.ename),
                   exc.exec_count if exc.exec_count is not None else exc.cell_index + 1)
    except (CellTimeoutError, DeadKernelError) as exc:
        if progress.nb is None:
            raise NotebookError(f"the kernel failed: {_first_line(exc)}{_tail(kernel_log)}",
                                notebook=notebook.name) from None
        line = (f"cell timed out after {cell_timeout} s" if isinstance(exc, CellTimeoutError)
                else f"the kernel died: {_first_line(exc)}{_tail(kernel_log)}")
        failure = (line, _mark_stopped_cell(progress, line))
    except KeyboardInterrupt:
        if progress.nb is None:
            raise
        # Ctrl-C: still write the report up to where it stopped, then stop as asked
        interrupted = True
        failure = ("interrupted (Ctrl-C)", _mark_stopped_cell(progress, "interrupted (Ctrl-C)"))
    except RuntimeError as exc:
        if progress.nb is not None:
            raise
        # nbclient raises RuntimeError when the kernel does not start in time
        raise NotebookError(f"the kernel could not start: {_first_line(exc)}{_tail(kernel_log)}",
                            notebook=notebook.name) from None
    finally:
        kernel.request_stop()  # it exits while the report is written
    duration = time.perf_counter() - clock
    nb = progress.nb

    if "context" in declared:
        target = describe_target(_as_str(values.get("kubeconfig", _default(declared, "kubeconfig"))),
                                 _as_str(values.get("context", _default(declared, "context"))))
    else:
        target = RunTarget(context=None, note="the notebook has no context parameter")
    masker = SecretMasker(kubeconfig_secrets(target.kubeconfigs))
    effective = {name: values.get(name, p.default) for name, p in declared.items()}
    masker.add(str(v) for k, v in effective.items() if is_secret_name(k) and v is not None)
    # the report lists exactly this run's records; the copy may hold earlier runs' too
    records = [r for r in AuditLog(audit_path).read() if r.run == run_id]
    unknown = user_audit.unfinished()

    status = "ok" if failure is None else "failed"
    error_line = masker.mask(failure[0]) if failure else None
    shown = {k: (MASK if is_secret_name(k) and v is not None else v) for k, v in effective.items()}
    nb.cells.insert(0, header_cell(
        notebook=notebook.name, status=status,
        error=f"cell {failure[1]}: {error_line}" if failure else None, target=target,
        started=started.strftime("%Y-%m-%d %H:%M:%S"), duration_s=duration, version=__version__,
        parameters=[ParameterRow(k, v, k in given) for k, v in shown.items()],
        audit_records=records, audit_path=str(audit_path), unfinished_records=unknown))
    nb, _ = MaskSecretsPreprocessor(masker).preprocess(nb, {})
    nbformat.write(nb, str(executed))
    try:
        export_html(nb, html_path, masker)
        if pdf_path is not None:
            export_pdf(html_path, pdf_path, chromium=chromium)
    except Exception as exc:  # nbconvert/Playwright failures: one line, not a traceback
        raise NotebookError(f"the report could not be written: {masker.mask(_first_line(exc))}",
                            notebook=notebook.name,
                            hint=f"the executed notebook is at {executed}") from exc
    if interrupted:
        raise KeyboardInterrupt

    error = None
    if failure is not None:
        error = NotebookError(error_line or "failed", notebook=notebook.name, cell=failure[1],
                              hint=f"see {html_path}")
    return NotebookRun(
        notebook=notebook, status=status, started=started.isoformat(timespec="seconds"),
        duration_s=duration, executed_path=executed, html_path=html_path, pdf_path=pdf_path,
        audit_path=audit_path, audit_records=records, unfinished=unknown, parameters=shown,
        given=frozenset(given), target=target, error=error)


def _default(declared: Mapping[str, NotebookParameter], name: str) -> Any:
    param = declared.get(name)
    return param.default if param is not None else None


def _as_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _tail(log: IO[bytes], lines: int = 3) -> str:
    """The last lines the kernel process wrote, as a suffix of a one-line message."""
    log.seek(0)
    text = [line.strip() for line in log.read().decode(errors="replace").splitlines() if line.strip()]
    return f" (kernel: {' | '.join(text[-lines:])})" if text else ""


def _mark_stopped_cell(progress: _Progress, line: str) -> int | None:
    """Put the reason into the cell that was running (papermill only marks cell errors)."""
    index = progress.cell_index
    if index is None or index >= len(progress.nb.cells):
        return None
    cell = progress.nb.cells[index]
    cell.setdefault("outputs", []).append(nbformat.v4.new_output(
        "error", ename="NotebookError", evalue=line, traceback=[f"mesh-runbook: {line}"]))
    count = cell.get("execution_count")
    return int(count) if count is not None else index + 1


__all__ = ["DEFAULT_CELL_TIMEOUT_S", "NotebookRun", "RunStart", "report_files", "run_notebook", "start_run"]
