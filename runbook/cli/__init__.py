"""``runbook …`` — the same functions as the notebooks, for terminals, scripts and CI.

Each subcommand lives in its own module here and registers itself through ``register``.
Exit status: 0 when there is no error finding, 1 when there are error findings, 2 when the
command could not run (bad input, unreachable cluster); the reason is one line on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from runbook.errors import RunbookError

#: subcommand modules, in the order ``runbook --help`` lists them
COMMAND_MODULES = (
    "runbook.cli.sandbox_cmd",
    "runbook.cli.inventory_cmd",
    "runbook.cli.diagnose_cmd",
    "runbook.cli.analyze_cmd",
    "runbook.cli.probe_cmd",
    "runbook.cli.run_cmd",
    "runbook.cli.demo_cmd",
)


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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="runbook",
        description="Runbooks for Kubernetes clusters with several Istio control-plane revisions.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except RunbookError as exc:
        print(f"runbook {args.command}: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"runbook {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
