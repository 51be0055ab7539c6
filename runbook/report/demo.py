"""The whole series against the local sandbox: ``runbook demo``.

Starts (or reuses) a ``seed-incident`` sandbox, runs ``NN-*.ipynb`` in order with the sandbox as
target and ``apply_fixes=True`` where a notebook has that parameter, stops at the first failure,
writes an ``index.html`` that links every report, and stops the sandbox only if it started it.

Each notebook still gets a fresh kernel of its own, but not a cold one: the first kernel starts while
the sandbox does, and the next notebook's kernel starts (and imports that notebook's modules) while
the current notebook runs, so kernel start and imports are off the critical path. Likewise this
process imports the runner (papermill, nbformat, nbconvert, pandas, the Kubernetes client: seconds of
CPU) while the sandbox starts, which is why those imports are inside the functions here. Only process
start and imports are done ahead; the notebooks themselves run one after another, because each one
changes the cluster state the next one reads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from runbook import __version__
from runbook.errors import InputError
from runbook.paths import output_folder, refuse_symlinks
from runbook.report.kernel import RunStart, start_run
from runbook.report.notebooks import DEFAULT_CELL_TIMEOUT_S, discover_notebooks, notebooks_dir, report_files
from runbook.sandbox import SandboxInfo, ensure_running, find_running, stop_running

if TYPE_CHECKING:
    from runbook.report.runner import NotebookRun

DEMO_SCENARIO = "seed-incident"


@dataclass
class DemoResult:
    """What ``runbook demo`` did.

    Attributes:
        runs: the notebooks that ran, in order (the last one may have failed).
        not_run: notebooks after a failure, which were not run.
        index_path: the ``index.html`` linking the reports.
        sandbox: the sandbox used.
        started_sandbox: whether the demo started it (and therefore stopped it unless kept).
        sandbox_stopped: whether it was stopped at the end.
    """

    runs: list[NotebookRun]
    not_run: list[Path]
    index_path: Path
    sandbox: SandboxInfo
    started_sandbox: bool
    sandbox_stopped: bool = False
    failed: NotebookRun | None = field(default=None)

    @property
    def ok(self) -> bool:
        """Whether every notebook ran to the end."""
        return self.failed is None


def run_demo(
    out_dir: str | os.PathLike[str] = "reports",
    *,
    pdf: bool = False,
    keep_sandbox: bool = False,
    notebooks: Sequence[Path] | None = None,
    timeout: float = DEFAULT_CELL_TIMEOUT_S,
    on_start: Callable[[Path], None] | None = None,
    on_done: Callable[[NotebookRun], None] | None = None,
    engine: str = "emulated",
) -> DemoResult:
    """Run the notebook series against a ``seed-incident`` sandbox and write the reports.

    Args:
        out_dir: where executed notebooks, reports and ``index.html`` go.
        pdf: also write PDF reports (needs chromium; checked before anything runs).
        keep_sandbox: leave a sandbox this call started running.
        notebooks: the series (default: :func:`discover_notebooks`).
        timeout: seconds one cell may run.
        on_start, on_done: progress callbacks (the CLI prints a line per notebook).
        engine: the sandbox's engine when the demo starts one (``emulated`` or ``kube``); a
            running sandbox must have it.

    Raises:
        InputError: no notebooks; a running sandbox with another scenario; ``pdf`` without
            chromium; the sandbox does not start.
    """
    series = list(notebooks) if notebooks is not None else discover_notebooks()
    if not series:
        raise InputError(f"no NN-*.ipynb notebooks found in {notebooks_dir()}")
    if pdf:
        from runbook.report.export import require_chromium

        require_chromium()
    # refused before a sandbox starts or a notebook runs: nothing is left half done
    out = output_folder(out_dir)
    refuse_symlinks([out / "index.html", *(f for nb in series for f in report_files(nb, out))])
    kernels = [start_run(series[0], out)]  # the first one starts while the sandbox starts
    try:
        return _run_series(series, out, kernels, pdf=pdf, keep_sandbox=keep_sandbox, timeout=timeout,
                           on_start=on_start, on_done=on_done, engine=engine)
    finally:
        for start in kernels:
            start.discard()  # the ones not run (after a failure, or a refusal); no-op for the others


def _run_series(series: Sequence[Path], out: Path, kernels: list[RunStart], *, pdf: bool,
                keep_sandbox: bool, timeout: float, on_start: Callable[[Path], None] | None,
                on_done: Callable[[NotebookRun], None] | None, engine: str) -> DemoResult:
    """:func:`run_demo` once the first kernel is starting: ``kernels`` gets one per notebook."""
    sandbox = find_running()
    started = sandbox is None
    if sandbox is None:
        starting = _SandboxStart(engine)
        starting.start()
        try:
            _import_runner()
        except BaseException:
            info = starting.result()  # started all the same: stopped, not left behind
            stop_started_sandbox(info)
            raise
        sandbox = starting.result()
    elif sandbox.engine != engine:
        raise InputError(
            f"a sandbox of engine {sandbox.engine!r} is running (pid {sandbox.pid}); the demo was "
            f"asked for {engine!r}",
            hint="stop it first (runbook sandbox stop), or run the demo with --engine "
                 f"{sandbox.engine}")
    elif sandbox.scenario != DEMO_SCENARIO:
        raise InputError(
            f"a sandbox with scenario {sandbox.scenario!r} is running (pid {sandbox.pid}); "
            f"the demo needs {DEMO_SCENARIO!r}",
            hint="stop it first (runbook sandbox stop); the demo never changes a sandbox it did "
                 "not start")
    from runbook.report.parameters import read_parameters
    from runbook.report.runner import run_notebook
    from runbook.report.target import SANDBOX_CONTEXT

    runs: list[NotebookRun] = []
    failed: NotebookRun | None = None
    result = DemoResult(runs=runs, not_run=[], index_path=out / "index.html", sandbox=sandbox,
                        started_sandbox=started)
    try:
        for position, notebook in enumerate(series):
            if on_start is not None:
                on_start(notebook)
            # the sandbox is the target: fixes are applied there (never implicitly elsewhere)
            params = {"apply_fixes": True} if "apply_fixes" in read_parameters(notebook) else {}
            if position + 1 < len(series):
                kernels.append(start_run(series[position + 1], out))  # starts while this one runs
            run = run_notebook(notebook, parameters=params, kubeconfig=str(sandbox.kubeconfig_path),
                               context=SANDBOX_CONTEXT, out_dir=out, timeout=timeout, pdf=pdf,
                               start=kernels[position])
            runs.append(run)
            if on_done is not None:
                on_done(run)
            if not run.ok:
                failed = run
                result.not_run = list(series[position + 1:])
                break
        result.failed = failed
        write_index(result.runs, out, not_run=result.not_run, sandbox=sandbox)
    finally:
        if started and not keep_sandbox:
            result.sandbox_stopped = stop_started_sandbox(sandbox)
    return result


class _SandboxStart(threading.Thread):
    """``ensure_running`` in a thread (a child process and polls on its answers: no work of this
    process's), so that this process imports the runner meanwhile. Every module it needs is imported
    already (:func:`find_running` imported them): the two threads do not import the same modules."""

    def __init__(self, engine: str) -> None:
        super().__init__(name="sandbox-start", daemon=True)
        self.engine = engine
        self.info: SandboxInfo | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.info = ensure_running(scenario=DEMO_SCENARIO, engine=self.engine)
        except BaseException as exc:  # handed to the thread that waits for it
            self.error = exc

    def result(self) -> SandboxInfo:
        """The started sandbox, once it answers; its error otherwise."""
        self.join()
        if self.error is not None:
            raise self.error
        assert self.info is not None
        return self.info


def _import_runner() -> None:
    """Import what running a notebook needs (the names are imported where they are used)."""
    import runbook.markup
    import runbook.report.parameters
    import runbook.report.runner
    import runbook.report.target  # noqa: F401


def stop_started_sandbox(info: SandboxInfo) -> bool:
    """Stop the sandbox ``info`` describes if it still runs; True when stopped.

    Only that process is stopped, never a sandbox somebody else started since.
    """
    current = find_running()
    if current is None or current.pid != info.pid:
        return False
    stop_running()
    return True


def write_index(runs: Sequence[NotebookRun], out_dir: str | os.PathLike[str], *,
                not_run: Sequence[Path] = (), sandbox: SandboxInfo | None = None,
                title: str = "mesh-runbook demo") -> Path:
    """Write ``index.html``: one row per notebook (status, duration, links to its reports).

    Links are relative, so the folder can be copied or served as it is.
    """
    from runbook.markup import escape_html

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for run in runs:
        color = "#1a7f37" if run.ok else "#cf222e"
        status = "ok" if run.ok else f"failed — {run.error}" if run.error else "failed"
        links = [f'<a href="{_rel(run.html_path, out)}">report</a>',
                 f'<a href="{_rel(run.executed_path, out)}">notebook</a>']
        if run.pdf_path is not None:
            links.append(f'<a href="{_rel(run.pdf_path, out)}">pdf</a>')
        changes = len(run.changes)
        rows.append(f"<tr><td>{escape_html(run.name)}</td>"
                    f"<td style=\"color:{color}\">{escape_html(status)}</td>"
                    f"<td>{run.duration_s:.1f} s</td><td>{changes}</td><td>{' · '.join(links)}</td></tr>")
    for path in not_run:
        rows.append(f"<tr><td>{escape_html(path.stem)}</td><td>not run</td><td></td><td></td><td></td></tr>")
    target = (f"sandbox {escape_html(sandbox.url)} (scenario {escape_html(sandbox.scenario)})"
              if sandbox is not None else "")
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    total = sum(r.duration_s for r in runs)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape_html(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border-bottom:1px solid #d0d7de;padding:4px 12px;text-align:left}}</style></head>
<body><h1>{escape_html(title)}</h1>
<p>{now} · mesh-runbook {escape_html(__version__)} · {target} · total {total:.1f} s</p>
<table><tr><th>notebook</th><th>status</th><th>duration</th><th>changes</th><th>files</th></tr>
{chr(10).join(rows)}
</table></body></html>
"""
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def _rel(path: Path, base: Path) -> str:
    from runbook.markup import escape_html

    try:
        return escape_html(path.resolve().relative_to(base.resolve()).as_posix())
    except ValueError:
        return escape_html(path.resolve().as_uri())


__all__ = ["DEMO_SCENARIO", "DemoResult", "run_demo", "stop_started_sandbox", "write_index"]
