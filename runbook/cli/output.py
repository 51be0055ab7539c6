"""What every cluster-facing subcommand shares: cluster flags and ``-o table|json|csv`` output.

``-o json`` prints one JSON object: each table's name → a list of row objects, plus
``findings`` → a list of finding objects when the command diagnoses (DESIGN.md › Command line).
``-o csv`` prints each table as a CSV section headed by a ``# <name>`` line. ``-o table`` prints
each table with a heading, then the findings one per paragraph.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import pandas as pd

from runbook.deadline import parse_duration
from runbook.kube import Cluster, connect
from runbook.mesh import Finding, findings_frame, frame_records

FORMATS = ("table", "json", "csv")


#: the command line's limit on each whole request (kubectl's flag; its syntax)
DEFAULT_REQUEST_TIMEOUT = "3s"
#: the command line's limit on all of a command's requests together
DEFAULT_DEADLINE = "2m"


def add_cluster_args(p: argparse.ArgumentParser) -> None:
    """``--kubeconfig``, ``--context`` and ``--request-timeout``, with kubectl's meaning (plus the
    local sandbox); ``--deadline`` (the whole command) and ``--insecure-plain-http``."""
    p.add_argument("--kubeconfig", help="kubeconfig path (default: $KUBECONFIG or ~/.kube/config)")
    p.add_argument("--context", help="kube context (default: the current context; 'sandbox' "
                                     "without --kubeconfig attaches to the local sandbox)")
    p.add_argument("--request-timeout", type=_duration, default=DEFAULT_REQUEST_TIMEOUT,
                   metavar="DURATION",
                   help="limit on each whole request: connect, headers and body (like kubectl: "
                        f"0 for none, 30 = 30s, 5s, 1m; default {DEFAULT_REQUEST_TIMEOUT})")
    p.add_argument("--deadline", type=_duration, default=DEFAULT_DEADLINE, metavar="DURATION",
                   help="limit on all of the command's requests together, retries included "
                        f"(same syntax; default {DEFAULT_DEADLINE})")
    p.add_argument("--insecure-plain-http", action="store_true",
                   help="allow a kubeconfig server with http:// (credentials travel in clear)")


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_output_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", choices=FORMATS, default="table",
                   help="output format (default: table)")


def cluster_from_args(args: argparse.Namespace) -> Cluster:
    return connect(args.kubeconfig, args.context, request_timeout=args.request_timeout,
                   command_timeout=args.deadline, allow_plain_http=args.insecure_plain_http)


def emit(tables: Mapping[str, pd.DataFrame], fmt: str, *,
         findings: Sequence[Finding] | None = None, extra: Mapping[str, Any] | None = None,
         out: TextIO | None = None) -> None:
    """Print tables (and findings) in ``fmt``."""
    out = out or sys.stdout
    if fmt == "json":
        doc: dict[str, Any] = {name: frame_records(df) for name, df in tables.items()}
        if findings is not None:
            doc["findings"] = [f.to_dict() for f in findings]
        doc.update(extra or {})
        json.dump(doc, out, indent=2, default=str, allow_nan=False)
        out.write("\n")
        return
    if fmt == "csv":
        sections = dict(tables)
        if findings is not None:
            sections["findings"] = findings_frame(findings)
        for i, (name, df) in enumerate(sections.items()):
            if i:
                out.write("\n")
            out.write(f"# {name}\n")
            df.to_csv(out, index=False)
        return
    with pd.option_context("display.max_rows", 500, "display.max_columns", 50,
                           "display.width", 200, "display.max_colwidth", 80):
        for name, df in tables.items():
            out.write(f"== {name} ({len(df)})\n")
            out.write((df.to_string(index=False) if len(df) else "(none)") + "\n\n")
    if findings is not None:
        out.write(format_findings(findings))


def format_findings(findings: Sequence[Finding]) -> str:
    """Findings as readable text: severity, code, subject, message, fix and its command."""
    if not findings:
        return "No findings.\n"
    lines = [f"== findings ({len(findings)})"]
    for f in findings:
        lines.append(f"{f.severity.upper():7} {f.code}  {f.subject}")
        lines.append(f"        {f.message}")
        for ev in f.evidence[:6]:
            lines.append(f"        · {ev}")
        if f.fix is not None:
            lines.append(f"        fix: {f.fix.summary}")
            lines.extend(f"          {c}" for c in f.fix.command.splitlines())
        lines.append("")
    return "\n".join(lines) + "\n"
