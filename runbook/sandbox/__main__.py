"""``python -m runbook.sandbox [--scenario S] [--port N] [--kubeconfig-out P] [--clock M]``."""

from __future__ import annotations

import argparse
import sys

from runbook.errors import RunbookError
from runbook.sandbox.process import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runbook.sandbox", description=__doc__)
    parser.add_argument("--scenario", default="empty")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--kubeconfig-out", default=None)
    parser.add_argument("--clock", choices=("real", "manual"), default="real")
    args = parser.parse_args(argv)
    try:
        return serve(args.scenario, args.port, args.kubeconfig_out, args.clock)
    except RunbookError as exc:
        print(f"sandbox: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
