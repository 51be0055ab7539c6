"""``python -m tests.analyzer_parity [--record --oracle PATH --istioctl PATH] [--case PREFIX …]``.

Without ``--record``: compares runbook's answer with the recorded one for every case, prints
matches per code and every difference the baseline does not explain, and writes
docs/analyzer-parity.md. With ``--record``: first runs the oracle over each case and stores its
answer beside it, after checking that every message istioctl itself prints offline is one the
oracle prints (tests/analyzer_parity/README.md says how to build both; they are measuring
instruments, never dependencies of the project nor of CI). Exit status: 0 nothing unexplained,
1 an unexplained or stale difference, 2 bad arguments or a recording that failed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import yaml

from tests.analyzer_parity.corpus import (
    DOC,
    RECORDING,
    Case,
    all_cases,
    istioctl_answers,
    load_baseline,
    load_recording,
    render_doc,
    run_corpus,
    scores,
)

#: istioctl exits 79 when it printed messages at or above --failure-threshold (Error)
ISTIOCTL_FOUND_ISSUES = 79
ISTIOCTL_OFFLINE = ("analyze", "--use-kube=false", "--all-namespaces", "-o", "json")


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def record(oracle: str, istioctl: str, cases: list[Case]) -> str | None:
    """Record the oracle's answer for each case; the error when it cannot be trusted.

    istioctl itself is asked too (offline, where it reads Istio config only): every message it
    prints must be one the oracle prints, else the oracle is not measuring what istioctl does.
    """
    offline_messages = 0
    for case in cases:
        answer = _run([oracle, str(case.path)])
        if answer.returncode != 0:
            return f"{case.id}: {oracle} exit {answer.returncode}: {answer.stderr.strip()[:400]}"
        offline = _run([istioctl, *ISTIOCTL_OFFLINE, str(case.path)])
        if offline.returncode not in (0, ISTIOCTL_FOUND_ISSUES) or "Error(s) adding files" in offline.stderr:
            return f"{case.id}: istioctl exit {offline.returncode}: {offline.stderr.strip()[:400]}"
        answers = istioctl_answers(answer.stdout)
        unseen = Counter(a.key for a in istioctl_answers(offline.stdout)) - Counter(a.key for a in answers)
        if unseen:
            return f"{case.id}: istioctl prints {sorted(unseen)} that the oracle does not"
        offline_messages += len(istioctl_answers(offline.stdout))
        rows = [{"code": a.code, "resource": a.resource, "message": a.message} for a in answers]
        case.recorded_path.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    version = _run([oracle, "version"]).stdout.strip()
    RECORDING.write_text(yaml.safe_dump({
        "istioctl": version,
        "recorded": datetime.now(UTC).strftime("%Y-%m-%d"),
        "command": "analyze-files CASE (tests/analyzer_parity/oracle)",
        "istioctl_offline_messages": offline_messages,
    }, sort_keys=False), encoding="utf-8")
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.analyzer_parity",
                                     description="Measure runbook analyze against istioctl analyze.")
    parser.add_argument("--record", action="store_true", help="record istioctl's answers first")
    parser.add_argument("--oracle", metavar="PATH",
                        help="analyze-files built from tests/analyzer_parity/oracle (with --record)")
    parser.add_argument("--istioctl", metavar="PATH",
                        help="istioctl of the same Istio, to cross-check the oracle (with --record)")
    parser.add_argument("--case", action="append", default=[], metavar="PREFIX",
                        help="only cases whose id (topic/name) starts with PREFIX (repeatable)")
    args = parser.parse_args(argv)
    cases = [c for c in all_cases() if not args.case or c.id.startswith(tuple(args.case))]
    if not cases:
        print("no case matches: see tests/analyzer_parity/cases/", file=sys.stderr)
        return 2
    if args.record:
        if not all(p and Path(p).is_file() for p in (args.oracle, args.istioctl)):
            print("--record needs --oracle PATH and --istioctl PATH (see tests/analyzer_parity/README.md)",
                  file=sys.stderr)
            return 2
        if args.case:
            print("--record records every case (drop --case): the recording names one istioctl",
                  file=sys.stderr)
            return 2
        if (error := record(args.oracle, args.istioctl, cases)) is not None:
            print(f"recording failed: {error}", file=sys.stderr)
            return 2
    results = run_corpus(cases)
    known = load_baseline()
    explained = {k.key() for k in known}
    problems = 0
    for r in results:
        for d in r.differences:
            if d.as_baseline_key() not in explained:
                problems += 1
                print(f"{d.case}: {'only istioctl' if d.side == 'missing' else 'only ours'} "
                      f"{d.code} {d.resource}")
    occurring = {d.as_baseline_key() for r in results for d in r.differences}
    ran = {r.case.id for r in results}
    for k in known:
        if k.case in ran and k.key() not in occurring:
            problems += 1
            print(f"baseline entry no longer occurs: {k.case} {k.side} {k.code} {k.resource}")
    per_code, total = scores(results)
    for code, s in per_code.items():
        print(f"{code}: matched {s.matched}, only ours {s.extra}, only istioctl {s.missing}")
    print(f"overall: precision {total.precision}, recall {total.recall} over {len(results)} cases")
    if not args.case:
        DOC.write_text(render_doc(results, known, load_recording()), encoding="utf-8")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
