"""``python -m tests.differential [--write] [--case PREFIX …]``: run the harness on demand.

Runs every case (or those whose id starts with a ``--case`` prefix) on the emulated engine twice
and on the real engine when it can start, prints the differences, and with ``--write``
regenerates docs/fidelity.md and docs/sandbox.md › LIMITS. Exit status: 0 nothing unexplained,
1 a difference (self check, real engine not in the baseline, or a recorded answer not matched),
2 bad arguments.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys

from tests.differential.cases import all_cases
from tests.differential.report import load_baseline, unexplained, write_docs
from tests.differential.run import run_harness


def _diff(left: object, right: object, lines: int = 30) -> str:
    """The two observations' difference as a unified diff of their JSON (first lines)."""
    a = json.dumps(left, indent=1, ensure_ascii=False, sort_keys=True).splitlines()
    b = json.dumps(right, indent=1, ensure_ascii=False, sort_keys=True).splitlines()
    shown = list(difflib.unified_diff(a, b, "emulated", "other", lineterm="", n=1))
    return "\n".join(f"    {line[:160]}" for line in shown[:lines])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.differential",
                                     description="Compare the emulated engine with the real one.")
    parser.add_argument("--write", action="store_true",
                        help="regenerate docs/fidelity.md and docs/sandbox.md LIMITS")
    parser.add_argument("--case", action="append", default=[], metavar="PREFIX",
                        help="only cases whose id starts with PREFIX (repeatable)")
    args = parser.parse_args(argv)
    cases = [c for c in all_cases() if not args.case or c.id.startswith(tuple(args.case))]
    if not cases:
        print(f"no case id starts with {', '.join(args.case)}: see tests/differential/cases.py",
              file=sys.stderr)
        return 2
    if args.write and args.case:
        print("--write needs every case (drop --case)", file=sys.stderr)
        return 2
    run = run_harness(cases, progress=lambda line: print(line, file=sys.stderr))
    problems = 0
    for difference in run.self_differences():
        problems += 1
        print(f"self check: {difference.case} step {difference.step}: {difference.what}")
        print(_diff(difference.left, difference.right))
    print(f"kubectl: {run.kubectl_version}")
    if run.kube is None:
        print(f"real engine not available: {run.kube_unavailable}")
    for difference in unexplained(run.kube_differences(), load_baseline()):
        problems += 1
        print(f"vs real: {difference.case} step {difference.step}: {difference.what}")
        print(_diff(difference.left, difference.right))
    for case, step, wrong in run.recorded_failures():
        problems += 1
        print(f"recorded: {case} step {step}: {'; '.join(wrong)}")
    if args.write:
        for path in write_docs(run):
            print(f"wrote {path}")
    print(f"{len(cases)} cases, {problems} unexplained differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
