"""``runbook …`` — the same functions as the notebooks, for terminals, scripts and CI.

Each subcommand lives in its own module here (``configure`` adds its arguments, ``run`` runs it).
Only the chosen subcommand's module is imported, and each imports what it needs inside ``run``:
``runbook --help`` must answer as fast as ``kubectl`` does, not after pandas, the official client
and papermill have loaded (``tests/cli/test_startup.py`` guards the import set).

Exit status: 0 when there is no error finding, 1 when there are error findings, 2 when the
command could not run (bad input, unreachable cluster); the reason is one line on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from runbook.gcpause import paused_gc

#: subcommand → (its module, its line in ``runbook --help``), in the order the help lists them
COMMANDS: dict[str, tuple[str, str]] = {
    "sandbox": ("runbook.cli.sandbox_cmd", "run the embedded Kubernetes API server (or control it)"),
    "inventory": ("runbook.cli.inventory_cmd", "tabulate the mesh: revisions, tags, injection, webhooks"),
    "diagnose": ("runbook.cli.diagnose_cmd", "find why pods are not created, and propose fixes"),
    "analyze": ("runbook.cli.analyze_cmd", "check Istio config (files or the cluster's)"),
    "probe": ("runbook.cli.probe_cmd", "measure HTTP response times (through an ingress gateway)"),
    "run": ("runbook.cli.run_cmd", "execute one notebook headlessly and write its report"),
    "demo": ("runbook.cli.demo_cmd", "run the notebook series on the embedded sandbox and write reports"),
}


class _Parser(argparse.ArgumentParser):
    """argparse with refusals on one line, like every other error of the command line."""

    def error(self, message: str) -> NoReturn:
        # argparse's default prints the whole usage block first; a script's log (and a person in
        # an incident) needs the one line that says what is wrong and where to look
        self.exit(2, f"{self.prog}: {' '.join(message.split())} — see {self.prog} --help\n")

    def format_help(self) -> str:
        # the subcommands' descriptions are their module docstrings, written for Sphinx: a
        # terminal shows ``literal`` markup as noise
        return super().format_help().replace("``", "")


def chosen_command(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv``: the first argument that is not an option (``runbook``
    itself has no options but ``-h``)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser, with the arguments of the subcommand that ``argv`` chooses (every subcommand
    is listed; the others are not configured, so their modules are not imported)."""
    parser = _Parser(
        prog="runbook",
        description="Runbooks for Kubernetes clusters with several Istio control-plane revisions.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = chosen_command(argv)
    for name, (module, summary) in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=summary)
        if name == chosen:
            importlib.import_module(module).configure(p)
    return parser


#: what commands built and leave to the end of the process (:func:`leave_for_exit`)
_LEFT_FOR_EXIT: list[object] = []


def leave_for_exit(*objects: object) -> None:
    """Leave ``objects`` to the end of the process: the console script exits without freeing them.

    A diagnosis of a large cluster holds millions of parsed objects; freeing them one by one takes
    a tenth of a second that nobody waits for, since the operating system reclaims the memory at
    once. When :func:`main` is called in a process that goes on (a test), they are freed as it
    returns.
    """
    _LEFT_FOR_EXIT.extend(objects)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``) and return its exit status."""
    try:
        return _run(argv)
    finally:
        _LEFT_FOR_EXIT.clear()


def console() -> NoReturn:
    """The ``runbook`` console script: :func:`main`, then the process ends without freeing what
    the command left (:func:`leave_for_exit`); its output is flushed first."""
    code = _run(None)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        sys.exit(code)  # the usual exit then reports what could not be written
    os._exit(code)


@paused_gc
def _parsed(argv: list[str]) -> argparse.Namespace:
    """``argv`` parsed. Parsing imports the chosen command's module and its options' converters
    (a duration's brings urllib3): modules live as long as the process, and the collector's
    passes over them (about 20 before ``runbook diagnose`` starts) would find nothing."""
    return build_parser(argv).parse_args(argv)


def _run(argv: Sequence[str] | None) -> int:
    # The command line does no linear algebra, but OpenBLAS starts a thread per core when numpy
    # loads; on a busy 2-core machine that made `runbook diagnose` 0.1 s of CPU and ~0.4 s of wall
    # time slower (benchmarks/cli_bench.py). A value the user set is kept.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parsed(argv)
    from runbook.cli.output import echo  # imported by parsing, with the collector paused
    from runbook.errors import RunbookError

    try:
        return int(args.run(args) or 0)
    except RunbookError as exc:
        echo(f"runbook {args.command}: {exc.one_line()}", sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        echo(f"runbook {args.command}: interrupted", sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    console()
