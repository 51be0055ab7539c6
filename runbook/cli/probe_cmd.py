"""``runbook probe URL`` — measure response times through an ingress gateway from a terminal.

``-o table`` (default) prints the summary and the errors; ``-o json`` one object with ``samples`` (a
list of row objects), ``summary`` and ``parameters``; ``-o csv`` the samples, one row per request,
as a ``# samples`` section like the other commands (:func:`runbook.cli.output.emit`). Exit status:
0 when every request got a response below 500, 1 when some failed (refused, timeout, reset, dns,
tls, http_protocol, other) or got a 5xx, 2 when the probe could not start (bad URL or parameters).
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import TYPE_CHECKING

from runbook.cli.output import add_output_arg, echo, emit, terminal_width, wrap
from runbook.errors import ProbeError
from runbook.probe.http import DEFAULT_TIMEOUT, MAX_AUTO_CONNECTIONS

if TYPE_CHECKING:
    from runbook.probe.http import ProbeRun

#: requests sent when neither -n nor --duration is given (the run is always bounded)
DEFAULT_COUNT = 100


def configure(p: argparse.ArgumentParser) -> None:
    """Add the ``probe`` arguments."""
    p.description = ("Send bounded HTTP traffic to URL and report latency percentiles, status codes "
                     "and errors. Like curl -HHost:… but measured: e.g. "
                     "runbook probe http://$GATEWAY_URL/productpage --host bookinfo-gateway.test -n 200")
    p.add_argument("url", metavar="URL", help="http:// or https:// URL")
    p.add_argument("--host", help="Host header to send (the gateway routes on it)")
    bound = p.add_mutually_exclusive_group()
    bound.add_argument("-n", "--count", type=int, help=f"number of requests (default {DEFAULT_COUNT})")
    bound.add_argument("--duration", type=float, metavar="S", help="send requests for S seconds")
    p.add_argument("-c", "--concurrency", type=int, metavar="N",
                   help="keep-alive connections in parallel, at most (default: 1; with --qps as many as "
                        f"the schedule needs, up to {MAX_AUTO_CONNECTIONS})")
    p.add_argument("--qps", type=float, metavar="Q",
                   help="fixed rate over all connections; latency then counts from the intended send time")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                   help=f"per-request timeout in seconds (default {DEFAULT_TIMEOUT:g})")
    p.add_argument("-X", "--method", default="GET", help="HTTP method (default GET)")
    p.add_argument("-H", "--header", action="append", default=[], metavar="'NAME: VALUE'",
                   help="extra request header (repeatable)")
    p.add_argument("-k", "--insecure", action="store_true", help="do not verify the TLS certificate")
    p.add_argument("--accept-status", type=_statuses, default=[], metavar="LIST",
                   help="statuses that count as served besides 1xx-3xx, e.g. 404 or 404,4xx "
                        "(default: none; any other answer is a failed request)")
    p.add_argument("--label", help="name of this run in the output")
    add_output_arg(p)
    p.set_defaults(run=run)


def _statuses(text: str) -> list[int]:
    """``404,4xx`` → the statuses it names (a class ``4xx`` is 400–499)."""
    codes: list[int] = []
    for item in filter(None, (part.strip().lower() for part in text.split(","))):
        if len(item) == 3 and item[0] in "12345" and item[1:] == "xx":
            codes += range(int(item[0]) * 100, int(item[0]) * 100 + 100)
        elif item.isdigit() and 100 <= int(item) <= 599:
            codes.append(int(item))
        else:
            raise argparse.ArgumentTypeError(f"{item!r} is not an HTTP status (100-599) or class (4xx)")
    return codes


def _headers(values: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw in values:
        name, sep, value = raw.partition(":")
        if not sep or not name.strip():
            raise ProbeError(f"invalid header {raw!r}", hint="write -H 'Name: value'")
        headers[name.strip()] = value.strip()
    return headers


def run(args: argparse.Namespace) -> int:
    """Run the probe and print the result; returns the exit status."""
    count = args.count
    if count is None and args.duration is None:
        count = DEFAULT_COUNT
    show_bar = args.output == "table" and sys.stderr.isatty()
    from runbook.frames import json_value
    from runbook.probe.http import probe

    result = probe(args.url, host=args.host, count=count, duration=args.duration,
                   concurrency=args.concurrency, qps=args.qps, timeout=args.timeout, method=args.method,
                   headers=_headers(args.header), label=args.label, verify_tls=not args.insecure,
                   accept_status=args.accept_status, progress_bar=show_bar)
    if args.output in ("table", "wide"):
        echo(format_summary(result), end="")
    else:
        emit({"samples": result.samples}, args.output,
             extra={"summary": json_value(result.summary()), "parameters": result.parameters()})
    return exit_status(result)


def exit_status(result: ProbeRun) -> int:
    """1 when a request failed (HTTP >= 400 unless accepted included) or the schedule was not
    kept (the latencies would describe the probe's queue), else 0."""
    summary = result.summary()
    return 1 if summary["errors"] or summary["schedule_kept"] is False else 0


def format_summary(result: ProbeRun) -> str:
    """The verdict (can the numbers be trusted, and why) wrapped to the terminal, what was probed,
    the summary as aligned ``key  value`` lines, then the errors (first message of each kind)."""
    summary = result.summary()
    params = result.parameters()
    width = terminal_width()
    lines = wrap(summary["verdict"], width, "  ", first="")
    lines += wrap(f"probe {params['url']}  Host: {params['host']}"
                  + (f"  label: {params['label']}" if params["label"] != params["host"] else "")
                  + (f"  qps: {params['requested_qps']:g}" if params["requested_qps"] else "")
                  + f"  connections: {summary['connections']} (at most {params['concurrency']})",
                  width, "  ", first="")
    rows: list[tuple[str, str]] = []
    for key, value in summary.items():
        if key in ("label", "verdict") or value is None:
            continue
        if isinstance(value, dict):
            text = ", ".join(f"{k}: {v}" for k, v in value.items()) or "-"
        elif isinstance(value, float):
            text = "-" if math.isnan(value) else (f"{value:.3f}" if key.endswith("_ms") else f"{value:.2f}")
        else:
            text = str(value)
        rows.append((key, text))
    key_width = max(len(k) for k, _ in rows)
    lines += [f"{k:<{key_width}}  {v}" for k, v in rows]
    errors = result.samples[result.samples["error_kind"] != ""]
    if not errors.empty:
        lines.append("errors:")
        for kind, group in errors.groupby("error_kind", sort=True):
            lines += wrap(f"{kind} ×{len(group)}: {group['error'].iloc[0]}", width, "    ", first="  ")
    return "\n".join(lines) + "\n"


__all__ = ["DEFAULT_COUNT", "configure", "exit_status", "format_summary", "run"]
