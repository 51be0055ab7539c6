"""Run benchmarks and print a markdown table; exit 1 when a target is missed."""

from __future__ import annotations

import argparse
import os
import sys

from benchmarks import Result, discover, markdown


def main() -> int:
    available = discover()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"which to run (default all): {', '.join(available)}")
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in available]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(available)}")
    results: list[Result] = []
    loads = []
    for name in args.names or list(available):
        # the machine may be shared: every figure is read with the load it was measured under
        load = "/".join(f"{x:.2f}" for x in os.getloadavg())
        loads.append(f"{name} {load}")
        print(f"running {name} (load average 1/5/15 min at start: {load}) …", file=sys.stderr, flush=True)
        results.extend(available[name]())
    print(f"load average (1/5/15 min) at the start of each benchmark, {os.cpu_count()} CPUs: "
          + "; ".join(loads) + "\n")
    print(markdown(results))
    return 1 if any(r.passed is False for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
