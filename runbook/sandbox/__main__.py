"""``python -m runbook.sandbox [--scenario S] [--port N] [--kubeconfig-out P] [--clock M]``.

The ``scale`` scenario's sizes: ``--scenario scale:namespaces=200,replicasets=1000`` or the flags
``--scale-namespaces``, ``--scale-replicasets``, ``--scale-events``, ``--scale-broken`` (which
imply ``--scenario scale``).
"""

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
    parser.add_argument("--engine", choices=("emulated", "kube"), default="emulated")
    for option in ("namespaces", "replicasets", "events", "broken"):
        parser.add_argument(f"--scale-{option}", type=int, default=None, metavar="N",
                            help=f"scale scenario: {option}")
    args = parser.parse_args(argv)
    scenario = args.scenario
    sizes = {o: getattr(args, f"scale_{o}") for o in ("namespaces", "replicasets", "events",
                                                      "broken")}
    given = ",".join(f"{k}={v}" for k, v in sizes.items() if v is not None)
    if given:
        base, _, options = scenario.partition(":")
        if base not in ("scale", "empty"):
            parser.error("--scale-* options need --scenario scale")
        scenario = "scale:" + ",".join(filter(None, (options, given)))
    try:
        return serve(scenario, args.port, args.kubeconfig_out, args.clock, engine=args.engine)
    except RunbookError as exc:
        print(f"sandbox: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
