"""Render RELIABILITY.md from a run of the reliability suite.

``python -m tests.reliability.report`` runs ``tests/reliability`` (plus the tests elsewhere that the
report refers to: cluster-scoped confirmation, RBAC least privilege) with the ledger pointed at a
temporary file, then writes RELIABILITY.md from the ledger and the JUnit outcomes. The numbers in
the file are the run's own; every row comes from a test that asserted it first (see
``tests/reliability/conftest.py``), and a failed test shows as failed.

Options: ``--out PATH`` (default RELIABILITY.md at the repository root); ``--records JSON
--junit XML`` to render an earlier run without running again; ``--quick`` to leave out the slow
tests (soak, leak scan) — the file then says so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RECORDS_ENV = "RUNBOOK_RELIABILITY_RECORDS"
#: tests outside tests/reliability that the report's security section stands on
REFERENCED = {
    "tests/fix/test_plans.py::test_cluster_scoped_apply_needs_the_context_confirmed":
        "cluster-scoped writes need the context name typed back (confirm=<context>)",
    "tests/test_rbac.py::test_reader_covers_every_read_and_grants_no_write":
        "RBAC reader role: every read the flows make, no write",
    "tests/test_rbac.py::test_fixer_plus_reader_cover_every_fix":
        "RBAC fixer role: exactly the writes the fixes make",
    "tests/test_rbac.py::test_deployer_plus_reader_cover_applying_the_apps":
        "RBAC deployer role: exactly what applying the apps needs",
    "tests/test_markup.py::test_only_runbook_markup_escapes_or_styles":
        "cluster text reaches HTML only through runbook.markup (no other escaping or Styler)",
}
OK, FAILED = "✔", "✘"


def run_suite(records: Path, junit: Path, *, quick: bool) -> tuple[int, float]:
    """Run the suite (and the referenced tests); returns pytest's exit status and the duration."""
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/reliability",
            *REFERENCED, f"--junitxml={junit}"]
    if quick:
        args += ["-m", "not slow"]
    started = time.monotonic()
    env = {**os.environ, RECORDS_ENV: str(records)}
    code = subprocess.run(args, cwd=ROOT, env=env, check=False).returncode
    return code, time.monotonic() - started


def junit_outcomes(path: Path) -> dict[str, str]:
    """``file::name`` (parametrized ids kept) → passed | failed | skipped."""
    out: dict[str, str] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "")
        parts = module.split(".")
        file = "/".join(parts) + ".py"
        nodeid = f"{file}::{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            out[nodeid] = "failed"
        elif case.find("skipped") is not None:
            out[nodeid] = "skipped"
        else:
            out[nodeid] = "passed"
    return out


def _cell(value: Any, limit: int = 240) -> str:
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("|", "\\|")


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]], limit: int = 240) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c, limit) for c in row) + " |" for row in rows]
    return lines


def _mark(outcomes: dict[str, str], test: str) -> str:
    return OK if outcomes.get(test) == "passed" else f"{FAILED} {outcomes.get(test, 'not run')}"


def render(data: dict[str, Any], junit: dict[str, str], *, duration: float | None,
           quick: bool, commit: str) -> str:
    """The whole RELIABILITY.md text."""
    rows: dict[str, list[dict[str, Any]]] = data.get("rows", {})
    outcomes: dict[str, str] = {**junit, **data.get("outcomes", {})}
    mine = {t: o for t, o in outcomes.items() if t.startswith("tests/reliability/")}
    failed = sorted(t for t, o in outcomes.items() if o == "failed")
    faults, bad, soak = rows.get("faults", []), rows.get("bad_input", []), rows.get("soak", [])
    security, leaks = rows.get("security", []), rows.get("leaks", [])
    sums = {key: sum(int(r.get(key, 0)) for r in faults)
            for key in ("attempted", "applied", "rolled_back", "lost", "doubled")}
    survived = sum(1 for r in faults if outcomes.get(r["test"]) == "passed")
    refused = sum(1 for r in bad if outcomes.get(r["test"]) == "passed")
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# Reliability and security — measured",
        "",
        "Produced from a run of the test suite, not written by hand: every row below was recorded "
        "by a test *after* its assertions held (tests/reliability/conftest.py), and a failed test "
        "shows as failed. Regenerate with:",
        "",
        "```bash",
        ".venv/bin/python -m tests.reliability.report          # runs the suite (~90 s), writes "
        "this file",
        "```",
        "",
        f"Run: {when}, commit `{commit}`"
        + (f", {duration:.0f} s" if duration is not None else "")
        + f"; {sum(1 for o in mine.values() if o == 'passed')} of {len(mine)} reliability tests "
          f"passed" + (f", **{len(failed)} failed**" if failed else "")
        + (" (quick run: the slow soak and leak scan were left out)" if quick else "") + ".",
        "",
        "## Summary",
        "",
        *_table(["what", "tried", "held", "notes"], [
            ["faults injected (API, watch, data plane)", len(faults), survived,
             "no crash; every failure explained in one line"],
            ["bad inputs (CLI, Python API, notebook parameters)", len(bad), refused,
             "one line with what to do; no traceback, no credential; cluster resourceVersion "
             "unchanged"],
            ["writes under faults: attempted / applied / rolled back",
             f"{sums['attempted']} / {sums['applied']} / {sums['rolled_back']}",
             f"lost {sums['lost']}, doubled {sums['doubled']}",
             "attempted counts every write request sent, retries included; applied and rolled "
             "back are the configuration changes the sandbox committed"],
            ["concurrency soak", len(soak), sum(1 for r in soak
                                                if outcomes.get(r["test"]) == "passed"),
             _soak_line(soak)],
            ["leak scan: planted secrets × outputs scanned",
             f"{_leak_counts(leaks)[0]} × {_leak_counts(leaks)[1]}",
             f"{_leak_counts(leaks)[2]} found", "every value and its base64, in every output"],
            ["security checks", len(security) + len(REFERENCED),
             sum(1 for r in security if outcomes.get(r["test"]) == "passed")
             + sum(1 for t in REFERENCED if outcomes.get(t) == "passed"), ""],
        ]),
        "",
    ]
    if failed:
        out += ["## Failed tests", "", *[f"- `{t}`" for t in failed], ""]
    out += [
        "## Faults injected and survived",
        "",
        "Faults are sandbox fault specs (`runbook sandbox --faults SPEC`, docs/sandbox.md › "
        "Faults) or probe targets. *attempted*: write requests the client sent (its request "
        "log, retries included); *applied*: configuration changes the sandbox committed "
        "(counted from its store's commit stream, so a write whose answer was lost still counts "
        "and a repeated one would count twice); *rolled back*: commits made by undo; *lost* / "
        "*doubled*: acknowledged writes missing from the store / committed twice.",
        "",
        *_table(["flow", "fault", "outcome", "attempted", "applied", "rolled back", "lost",
                 "doubled", "test"],
                [[r["flow"], f"`{r['fault']}`", r["outcome"], r["attempted"], r["applied"],
                  r["rolled_back"], r["lost"], r["doubled"], _mark(outcomes, r["test"])]
                 for r in faults]),
        "",
        "## Bad input tried and refused",
        "",
        "Each row: the input, the expected exit status (command line) or exception class / failed "
        "row (Python), what came back, the one line the user sees, and the sandbox store's "
        "resourceVersion before and after (nothing changed).",
        "",
        *_table(["surface", "input", "expected", "got", "message", "cluster", "test"],
                [[r["surface"], f"`{r['input']}`", r["expected"], r["got"], r["message"],
                  r["unchanged"], _mark(outcomes, r["test"])] for r in bad], limit=300),
        "",
        "## Concurrency soak",
        "",
    ]
    for r in soak:
        out += _table(["measure", "value"], [[k, v] for k, v in r.items() if k != "test"]
                      + [["test", _mark(outcomes, r["test"])]])
        out.append("")
    if not soak:
        out += ["(not run)", ""]
    out += [
        "## Security",
        "",
        *_table(["check", "how", "result", "test"],
                [[r["check"], r["how"], r["result"], _mark(outcomes, r["test"])]
                 for r in security]
                + [[why, f"`{test}`", "(test outside tests/reliability)", _mark(outcomes, test)]
                   for test, why in REFERENCED.items()]),
        "",
        "### Leak scan",
        "",
        "Planted: a token, a password and a client key in the kubeconfig (besides the sandbox's "
        "own tokens), a Secret in the cluster and a literal password in a Deployment's env, an "
        "`Authorization` header for the probe (also malformed, and a password in a probe URL), a "
        "password given as a notebook parameter, a rejected token. Each value (and its base64) "
        "is searched for in everything the flow produced:",
        "",
        *(_table(["output", "bytes scanned", "secrets searched", "found", "test"],
                 [[r["sink"], r["scanned_bytes"], r["planted"], r["found"],
                   _mark(outcomes, r["test"])] for r in leaks]) if leaks else ["(not run)"]),
        "",
    ]
    return "\n".join(out)


def _soak_line(soak: list[dict[str, Any]]) -> str:
    if not soak:
        return "not run"
    r = soak[0]
    return (f"{r['updates']} guarded updates in {r['load_seconds']:g} s by several clients, "
            f"{r['conflicts_retried']} conflicts retried, {r['watch_streams']} watch streams; "
            "nothing lost, every change seen")


def _leak_counts(leaks: list[dict[str, Any]]) -> tuple[int, int, int]:
    if not leaks:
        return 0, 0, 0
    return int(leaks[0]["planted"]), len(leaks), sum(int(r["found"]) for r in leaks)


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.report",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "RELIABILITY.md"))
    parser.add_argument("--records", help="render this ledger (JSON) instead of running")
    parser.add_argument("--junit", help="the JUnit XML of the same run (with --records)")
    parser.add_argument("--quick", action="store_true", help="leave out the slow tests")
    args = parser.parse_args(argv)
    duration: float | None = None
    code = 0
    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
        records = Path(args.records) if args.records else Path(tmp) / "records.json"
        junit = Path(args.junit) if args.junit else Path(tmp) / "junit.xml"
        if not args.records:
            code, duration = run_suite(records, junit, quick=args.quick)
        data = json.loads(records.read_text())
        outcomes = junit_outcomes(junit) if junit.exists() else {}
        text = render(data, outcomes, duration=duration, quick=args.quick, commit=_commit())
    Path(args.out).write_text(text + "\n")
    print(f"wrote {args.out} (pytest exit status {code})")
    return code


if __name__ == "__main__":
    sys.exit(main())
