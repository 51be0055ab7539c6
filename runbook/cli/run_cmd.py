"""``runbook run NOTEBOOK`` — execute one notebook headlessly against any cluster, write its report.

NOTEBOOK is a path or a short name of the series (``02``, ``02-diagnose-pods-not-created``).
``--kubeconfig``/``--context`` set the notebook's ``kubeconfig``/``context`` parameters: with
neither, the notebook's defaults apply (the local sandbox); ``--kubeconfig`` alone means that
file's current context, like kubectl; ``--context`` alone a context of ``$KUBECONFIG`` or
``~/.kube/config``. ``-p NAME VALUE`` sets any other parameter, converted to the type of its
default (``-p apply_fixes true``); an unknown name is an error that lists the valid ones. Fixes are
never applied unless ``-p apply_fixes true`` says so.

Writes ``OUT/NAME.ipynb``, ``OUT/NAME.html`` (``OUT/NAME.pdf`` with ``--pdf``) and the run's audit
file ``OUT/NAME.audit.jsonl``, secrets masked. Exit status: 0 when every cell ran, 1 when a cell
failed (notebook, cell and error on stderr; the report shows where it stopped), 2 when the run
could not start (bad input, missing kubeconfig, no chromium for ``--pdf``).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from runbook.cli.output import echo
from runbook.report.notebooks import DEFAULT_CELL_TIMEOUT_S

if TYPE_CHECKING:
    from runbook.report.runner import NotebookRun


def configure(p: argparse.ArgumentParser) -> None:
    """Add the ``run`` arguments."""
    p.description = ("Execute a runbook notebook without Jupyter against any cluster and write the "
                     "executed notebook plus an HTML report (secrets masked). "
                     "E.g. runbook run 02 --context prod-eu -p namespace bookinfo")
    p.add_argument("notebook", metavar="NOTEBOOK",
                   help="a .ipynb path or a short name of the series (02, 02-diagnose-…)")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"),
                   help="set a parameter of the notebook's parameters cell (repeatable)")
    p.add_argument("--kubeconfig", metavar="K",
                   help="kubeconfig file; alone, its current context is used (default: the "
                        "notebook's parameters, i.e. the local sandbox)")
    p.add_argument("--context", metavar="C",
                   help="kube context; alone, a context of $KUBECONFIG or ~/.kube/config (default: "
                        "the notebook's, 'sandbox')")
    p.add_argument("--out", default="reports", metavar="DIR",
                   help="folder for the executed notebook and reports (default ./reports)")
    p.add_argument("--pdf", action="store_true", help="also write a PDF (needs the system chromium)")
    p.add_argument("--timeout", type=float, default=DEFAULT_CELL_TIMEOUT_S, metavar="S",
                   help=f"seconds one cell may run (default {DEFAULT_CELL_TIMEOUT_S:g})")
    p.add_argument("--kernel", metavar="NAME",
                   help="an installed Jupyter kernel to use (default: this Python)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from runbook.report.notebooks import resolve_notebook
    from runbook.report.runner import run_notebook
    from runbook.sandbox import find_running

    notebook = resolve_notebook(args.notebook)
    parameters = {name: value for name, value in args.parameter}
    echo(f"running {notebook.name} …", sys.stderr)
    before = find_running()
    result = run_notebook(notebook, parameters=parameters, kubeconfig=args.kubeconfig,
                          context=args.context, out_dir=args.out, timeout=args.timeout,
                          kernel_name=args.kernel, pdf=args.pdf)
    echo(summary_line(result))
    after = find_running()
    if before is None and after is not None:
        # the notebook attached to "the local sandbox" and started one: it stays, so that the next
        # notebook of the series finds the state this one left
        echo(f"runbook run: the notebook started a local sandbox ({after.url}, pid {after.pid}); "
             "it keeps running for the next notebook — stop it with: runbook sandbox stop",
             sys.stderr)
    if result.error is not None:
        echo(f"runbook run: {result.error.one_line()}", sys.stderr)
        return 1
    return 0


def summary_line(run: NotebookRun) -> str:
    """One line: notebook, status, duration, changes, report path."""
    changes = len(run.audit_records)
    files = [str(run.html_path)] + ([str(run.pdf_path)] if run.pdf_path else [])
    return (f"{run.name}: {run.status} in {run.duration_s:.1f} s, "
            f"{changes} change{'s' if changes != 1 else ''} recorded — report {', '.join(files)}")
