"""``runbook demo`` — the whole incident on the embedded sandbox, as reports.

Starts (or reuses) a ``seed-incident`` sandbox, executes the numbered notebooks in order with the
sandbox as target and fixes applied, writes each executed notebook and its HTML report plus an
``index.html`` to ``--out`` (default ``./reports``), and prints a table: notebook, status,
duration, report. A sandbox the demo started is stopped at the end (unless ``--keep-sandbox``); one
that was already running is used as it is and left running.

The notebooks come from the source checkout, or — for a non-editable install — from
``<prefix>/share/mesh-runbook/notebooks``, or from ``$MESH_RUNBOOK_NOTEBOOKS``
(``runbook.report.notebooks``). Exit status: 0 when every notebook ran, 1 when one failed (the
notebook, cell and error are named; later notebooks are not run), 2 when the demo could not start.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from runbook.cli.output import echo
from runbook.report.notebooks import DEFAULT_CELL_TIMEOUT_S
from runbook.sandbox.engines import ENGINES

if TYPE_CHECKING:
    from runbook.report.demo import DemoResult
    from runbook.report.runner import NotebookRun


def configure(p: argparse.ArgumentParser) -> None:
    """Add the ``demo`` arguments."""
    p.description = ("Start (or reuse) a seed-incident sandbox, execute notebooks/NN-*.ipynb in "
                     "order with fixes applied, and write an HTML report per notebook plus index.html.")
    p.add_argument("--out", default="reports", metavar="DIR",
                   help="folder for executed notebooks and reports (default ./reports)")
    p.add_argument("--pdf", action="store_true", help="also write PDFs (needs the system chromium)")
    p.add_argument("--keep-sandbox", action="store_true",
                   help="leave the sandbox running when the demo started it")
    p.add_argument("--engine", choices=ENGINES, default="emulated",
                   help="the sandbox's engine when the demo starts one: emulated (default) or "
                        "kube (a real control plane; see runbook sandbox --help)")
    p.add_argument("--timeout", type=float, default=DEFAULT_CELL_TIMEOUT_S, metavar="S",
                   help=f"seconds one cell may run (default {DEFAULT_CELL_TIMEOUT_S:g})")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from runbook.report.demo import run_demo

    def started(notebook: Path) -> None:
        echo(f"running {notebook.name} …", sys.stderr)

    result = run_demo(args.out, pdf=args.pdf, keep_sandbox=args.keep_sandbox,
                      timeout=args.timeout, on_start=started, engine=args.engine)
    echo(format_table(result))
    if result.failed is not None and result.failed.error is not None:
        echo(f"runbook demo: {result.failed.error.one_line()}", sys.stderr)
        return 1
    return 0


def format_table(result: DemoResult) -> str:
    """The demo's summary: one row per notebook, then the index and what happened to the sandbox."""
    rows: list[tuple[str, str, str, str]] = [("NOTEBOOK", "STATUS", "DURATION", "REPORT")]
    rows += [(r.name, _status(r), f"{r.duration_s:.1f} s", str(r.html_path)) for r in result.runs]
    rows += [(p.stem, "not run", "", "") for p in result.not_run]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join([row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].rjust(widths[2]),
                        row[3]]).rstrip() for row in rows]
    total = sum(r.duration_s for r in result.runs)
    lines.append(f"total {total:.1f} s — index {result.index_path}")
    sandbox = result.sandbox
    if result.started_sandbox:
        fate = "stopped" if result.sandbox_stopped else "left running (runbook sandbox stop)"
        lines.append(f"sandbox {sandbox.url} (scenario {sandbox.scenario}) started for the demo, {fate}")
    else:
        lines.append(f"sandbox {sandbox.url} (scenario {sandbox.scenario}) was already running; "
                     "left running")
    return "\n".join(lines)


def _status(run: NotebookRun) -> str:
    if run.ok:
        return "ok"
    return f"failed (cell {run.error.cell})" if run.error is not None and run.error.cell else "failed"
