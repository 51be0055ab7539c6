"""What every subcommand shares: cluster flags, ``-o`` output, and the one way text reaches a terminal.

``-o json`` prints one JSON object: each table's name → a list of row objects, plus
``findings`` → a list of finding objects when the command diagnoses (DESIGN.md › Command line);
``-o yaml`` the same document as YAML. ``-o csv`` prints each table as a CSV section headed by a
``# <name>`` line. These three are complete and unwrapped, for scripts.

``-o table`` is for a person at a terminal, in kubectl's idiom: upper-case headings, columns three
spaces apart, the columns that matter most (:data:`TABLE_COLUMNS`), the table fitted to the
terminal's width (``$COLUMNS``; 100 when unknown) by shortening values with ``…`` and then leaving
out the least important columns; ``<none>`` for empty values, lists joined with ``,``. ``-o wide``
shows every column, unshortened. Findings follow, their messages wrapped to the width with a
hanging indent; colour only on a terminal, never with ``NO_COLOR`` set (https://no-color.org).

Text from a cluster is data (event messages, webhook URLs, labels): :func:`echo` is the one way
the command line writes text for a terminal, and it makes every control character visible
(``\\x1b``, ``\\u202e``): an event message cannot retitle the terminal, erase a line or reverse the
text around it. :func:`csv_cell` gives CSV cells that a spreadsheet would run as a formula a
leading ``'`` (OWASP, "CSV Injection").
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import math
import os
import re
import shutil
import sys
import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from runbook.controlchars import control_characters

if TYPE_CHECKING:
    import pandas as pd

    from runbook.kube import Cluster
    from runbook.mesh import Finding

FORMATS = ("table", "wide", "json", "yaml", "csv")
#: terminal width when neither ``$COLUMNS`` nor the terminal says
DEFAULT_WIDTH = 100
#: kubectl's column gap (its tabwriter's padding)
GAP = "   "
NONE = "<none>"
ELLIPSIS = "…"
#: no column is shortened below this (or its heading): a name cut shorter no longer tells which
MIN_COLUMN_WIDTH = 12

#: per table, the columns ``-o table`` shows, most important first (kubectl's default view; the
#: rest are in ``-o wide``). Tables not listed show every column.
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "control_planes": ("namespace", "revision", "version", "status", "ready_pods", "tags",
                       "tags_reaching", "services", "deployment"),
    "revision_tags": ("tag", "revision", "target_status", "service_namespace", "service_name",
                      "reached_revisions", "found_in", "namespaces", "webhook"),
    "namespace_injection": ("namespace", "status", "tag", "effective_revision", "target",
                            "claimed_revision", "rev_label", "injection_label"),
    "workloads": ("namespace", "name", "kind", "ready", "desired", "problem", "sidecar_revisions"),
    "replicaset_events": ("namespace", "replicaset", "reason", "count", "last_seen", "message"),
    "webhook_targets": ("configuration", "target_status", "webhook", "tag", "claimed_revision",
                        "service_namespace", "service_name", "failure_policy", "reached_revisions"),
    "messages": ("level", "code", "namespace", "name", "message"),
}

_CONTROL = control_characters()
_CONTROL_BUT_NEWLINE = control_characters(keep="\n")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: spreadsheets run a cell that starts with one of these as a formula (OWASP "CSV Injection")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SEVERITY_COLOUR = {"ERROR": "\x1b[1;31m", "WARNING": "\x1b[33m", "Error": "\x1b[1;31m",
                    "Warning": "\x1b[33m", "NOT TRUSTWORTHY": "\x1b[1;31m"}
_SEVERITY_AT_LINE_START = re.compile(r"^(ERROR|WARNING|Error|Warning|NOT TRUSTWORTHY)\b", re.MULTILINE)


# ----------------------------------------------------------------------------------- arguments


#: the command line's limit on each whole request (kubectl's flag; its syntax)
DEFAULT_REQUEST_TIMEOUT = "3s"
#: the command line's limit on all of a command's requests together
DEFAULT_DEADLINE = "2m"


def add_cluster_args(p: argparse.ArgumentParser) -> None:
    """``--kubeconfig``, ``--context`` and ``--request-timeout``, with kubectl's meaning (plus the
    local sandbox); ``--deadline`` (the whole command) and ``--insecure-plain-http``."""
    p.add_argument("--kubeconfig", help="kubeconfig path (default: $KUBECONFIG or ~/.kube/config)")
    p.add_argument("--context", help="kube context (default: the current context; 'sandbox' "
                                     "without --kubeconfig attaches to the local sandbox, starting "
                                     "one if none runs)")
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
    from runbook.deadline import parse_duration  # only when parsing: keeps --help fast

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_output_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", choices=FORMATS, default="table",
                   help="table (default: fitted to the terminal), wide (every column), or "
                        "json, yaml, csv (complete, for scripts)")


def cluster_from_args(args: argparse.Namespace) -> Cluster:
    """Connect as ``--kubeconfig``/``--context``/``--request-timeout``/``--deadline`` say; a
    sandbox started for ``--context sandbox`` is announced on stderr by the sandbox module."""
    from runbook.kube import connect

    return connect(args.kubeconfig, args.context, request_timeout=args.request_timeout,
                   command_timeout=args.deadline, allow_plain_http=args.insecure_plain_http)


# ----------------------------------------------------------------------- text for a terminal


def terminal_text(value: object) -> str:
    """``value`` as one line with every control character made visible (``\\x1b``, ``\\n``,
    ``\\u202e``), for a table cell or a message."""
    text = str(value)
    # every control character is one str.isprintable refuses (a test checks the whole class):
    # most text has none, and the check is much cheaper than the substitution
    return text if text.isprintable() else _CONTROL.sub(_visible, text)


def _visible_but_newlines(text: str) -> str:
    """``text`` with every control character but its line breaks made visible."""
    # as in terminal_text: most output has none, and the check costs a fraction of the regex
    # (a large diagnosis prints megabytes)
    return text if text.replace("\n", "").isprintable() else _CONTROL_BUT_NEWLINE.sub(_visible, text)


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def use_colour(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set (to anything but "")."""
    return not os.environ.get("NO_COLOR") and stream.isatty()


def echo(text: str, stream: TextIO | None = None, *, end: str = "\n") -> None:
    """Write ``text`` for a person: the one gate of the command line's terminal output.

    Every control character but the line breaks is made visible, whatever the caller already did,
    then severities (and the probe's ``NOT TRUSTWORTHY``) at the start of a line are coloured when
    :func:`use_colour` allows.
    """
    stream = stream or sys.stdout
    safe = _visible_but_newlines(text + end)
    if use_colour(stream):
        safe = _SEVERITY_AT_LINE_START.sub(lambda m: f"{_SEVERITY_COLOUR[m.group()]}{m.group()}\x1b[0m",
                                           safe)
    stream.write(safe)


class GuardedStream(io.TextIOBase):
    """A text stream that passes everything written to it through :func:`echo`'s escaping: for
    code below the command line that prints for itself (the sandbox server's start lines)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(_visible_but_newlines(text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()


def terminal_width() -> int:
    """``$COLUMNS``, else the terminal's width, else :data:`DEFAULT_WIDTH` (a pipe, a CI log)."""
    return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns


def display_width(text: str) -> int:
    """Columns ``text`` takes on a terminal (East Asian wide characters take two)."""
    from wcwidth import wcswidth

    width = wcswidth(text)
    return width if width >= 0 else len(text)


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` columns, ending in ``…`` when cut."""
    if display_width(text) <= width:
        return text
    from wcwidth import wcwidth

    out, used = [], 0
    for char in text:
        w = max(wcwidth(char), 0)
        if used + w > width - 1:
            break
        out.append(char)
        used += w
    return "".join(out) + ELLIPSIS


def cell_text(value: Any) -> str:
    """A table cell as kubectl prints it: ``<none>`` for empty values, lists joined with ``,``,
    ``key=value`` pairs, whole numbers without ``.0``, controls made visible."""
    if value is None or (isinstance(value, str | float) and (value == "" or value != value)):
        return NONE
    if isinstance(value, Mapping):
        return ",".join(f"{terminal_text(k)}={cell_text(v)}" for k, v in value.items()) or NONE
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(cell_text(v) for v in value) or NONE
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        return cell_text(value.item())
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:g}"
    text = str(value)
    if text == "NaT":
        return NONE
    return terminal_text(text)


def format_table(df: pd.DataFrame, *, width: int, columns: Sequence[str] | None = None,
                 wide: bool = False) -> str:
    """``df`` as a kubectl-style table.

    Args:
        df: the table.
        width: columns available; ignored when ``wide``.
        columns: which columns, most important first (default: all, in order); ``wide`` shows all.
        wide: every column, nothing shortened (``-o wide``).

    Returns:
        The lines, without a final newline; every line at most ``width`` columns unless ``wide``.
    """
    names = [str(c) for c in df.columns]
    chosen = names if wide or columns is None else [c for c in columns if c in names]
    headers = [c.upper() for c in chosen]
    rows = [[cell_text(v) for v in row] for row in df[chosen].itertuples(index=False, name=None)]
    natural = [max([display_width(h), *(display_width(r[i]) for r in rows)])
               for i, h in enumerate(headers)]
    widths = natural if wide else _fit(natural, [display_width(h) for h in headers], width)
    lines = []
    for cells in [headers, *rows]:
        shown = [shorten(c, w) for c, w in zip(cells, widths, strict=False)]
        padded = [c + " " * (w - display_width(c)) for c, w in zip(shown[:-1], widths, strict=False)]
        lines.append(GAP.join([*padded, shown[-1]]).rstrip())
    return "\n".join(lines)


def _fit(natural: list[int], heading: list[int], width: int) -> list[int]:
    """Column widths that fit ``width``: the least important (last) columns are left out until the
    rest fit at :data:`MIN_COLUMN_WIDTH`, then the widest values are shortened first. The first
    column (what a row is about: a namespace, a name) is never shortened."""
    floors = [min(n, max(h, MIN_COLUMN_WIDTH)) for n, h in zip(natural, heading, strict=True)]
    floors[0] = natural[0]
    count = len(natural)
    while count > 1 and sum(floors[:count]) + len(GAP) * (count - 1) > width:
        count -= 1
    budget = width - len(GAP) * (count - 1)
    # the largest cap for which every column shortened to max(cap, its floor) still fits
    low, high = 0, max(natural[:count])
    while low < high:
        cap = (low + high + 1) // 2
        if sum(min(n, max(cap, f)) for n, f in zip(natural[:count], floors, strict=False)) <= budget:
            low = cap
        else:
            high = cap - 1
    return [min(n, max(low, f)) for n, f in zip(natural[:count], floors, strict=False)]


def wrap(text: str, width: int, indent: str, first: str | None = None) -> list[str]:
    """``text`` (escaped) wrapped to ``width`` with a hanging ``indent``; ``first`` starts line 1
    (default: the indent)."""
    first = indent if first is None else first
    text = terminal_text(text)
    width = max(width, len(indent) + 20)
    if text == text.strip() and text.isprintable() and text:
        if len(first) + len(text) <= width:
            # what textwrap returns for a line that fits and holds only single-width spaces; a
            # diagnosis prints thousands of such lines, and textwrap's chunking is most of its
            # output time
            return [first + text]
        lines = _fill_words(text, width, indent, first)
        if lines is not None:
            return lines
    return textwrap.wrap(text, width=width,
                         initial_indent=first, subsequent_indent=indent,
                         break_long_words=True, break_on_hyphens=False) or [first.rstrip()]


def _fill_words(text: str, width: int, indent: str, first: str) -> list[str] | None:
    """Greedy filling of words separated by single spaces: textwrap's lines for such text (its
    chunks are then exactly the words and the spaces between), without its regex chunking. None
    when textwrap would do more than fill: a run of spaces, or a word longer than some line's
    room (textwrap breaks it across lines).

    Each line ends at the last space that still fits: the same break as adding words one by one
    while they fit, found by one search per line instead of one step per word.
    """
    room = width - max(len(first), len(indent))
    if "  " in text or max(map(len, text.split(" "))) > room:
        return None
    lines: list[str] = []
    prefix, start = first, 0
    while len(prefix) + len(text) - start > width:
        end = text.rfind(" ", start, start + width - len(prefix) + 1)
        lines.append(prefix + text[start:end])
        prefix, start = indent, end + 1
    lines.append(prefix + text[start:])
    return lines


def format_findings(findings: Sequence[Finding], *, width: int | None = None) -> str:
    """Findings as readable text: severity, code, subject, then the message, evidence and fix
    wrapped to ``width`` with a hanging indent. A fix's command stays on one line: it is meant
    to be copied, and a shell cannot take a line break inside its quoted JSON."""
    width = width or terminal_width()
    if not findings:
        return "No findings.\n"
    pad = " " * 8
    lines = [f"== findings ({len(findings)})"]
    # a large cluster's findings repeat evidence and fixes (45 % of 8,000 wrapped texts on the
    # scale world): each text is wrapped once
    wrapped = functools.cache(wrap)
    for f in findings:
        lines += wrapped(f"{f.code}  {f.subject}", width, pad, f"{f.severity.upper():7} ")
        lines += wrapped(f.message, width, pad)
        for ev in f.evidence[:6]:
            lines += wrapped(ev, width, pad + "  ", pad + "· ")
        if f.fix is not None:
            lines += wrapped(f.fix.summary, width, pad + "     ", pad + "fix: ")
            lines += [pad + "  " + terminal_text(c) for c in f.fix.command.splitlines()]
        lines.append("")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------- csv


def csv_cell(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula: text starting with ``= + - @``, a tab or a
    carriage return gets a leading ``'`` (OWASP); numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write_csv(df: pd.DataFrame, out: TextIO) -> None:
    """``df`` as CSV, formula-safe (:func:`csv_cell`); on a terminal, controls made visible."""
    from runbook.frames import json_value

    to_terminal = out.isatty()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([str(c) for c in df.columns])
    for row in df.itertuples(index=False, name=None):
        cells = []
        for value in row:
            value = json_value(value)
            if isinstance(value, list | dict):
                value = cell_text(value) if value else ""
            cell = "" if value is None else csv_cell(value)
            cells.append(terminal_text(cell) if to_terminal and isinstance(cell, str) else cell)
        writer.writerow(cells)


# ------------------------------------------------------------------------------------- emit


def emit(tables: Mapping[str, pd.DataFrame], fmt: str, *,
         findings: Sequence[Finding] | None = None, extra: Mapping[str, Any] | None = None,
         out: TextIO | None = None) -> None:
    """Print tables (and findings) in ``fmt`` (one of :data:`FORMATS`)."""
    out = out or sys.stdout
    if fmt in ("json", "yaml"):
        import json

        from runbook.frames import frame_records, json_value

        doc: dict[str, Any] = {name: frame_records(df) for name, df in tables.items()}
        if findings is not None:
            doc["findings"] = [f.to_dict() for f in findings]
        doc.update({k: json_value(v) for k, v in (extra or {}).items()})
        if fmt == "json":
            # ensure_ascii: every control and non-ASCII character is a \u escape, safe anywhere
            json.dump(doc, out, indent=2, default=str, allow_nan=False)
            out.write("\n")
        else:
            import yaml

            # allow_unicode=False: controls and non-ASCII characters are written as escapes
            yaml.safe_dump(doc, out, sort_keys=False, allow_unicode=False, width=math.inf)
        return
    if fmt == "csv":
        from runbook.mesh import findings_frame

        sections = dict(tables)
        if findings is not None:
            sections["findings"] = findings_frame(findings)
        for i, (name, df) in enumerate(sections.items()):
            if i:
                out.write("\n")
            out.write(f"# {name}\n")
            write_csv(df, out)
        return
    width = terminal_width()
    for name, df in tables.items():
        echo(f"== {name} ({len(df)})", out)
        if len(df):
            echo(format_table(df, width=width, columns=TABLE_COLUMNS.get(name), wide=fmt == "wide"), out)
        else:
            echo("(none)", out)
        echo("", out)
    if findings is not None:
        echo(format_findings(findings, width=width), out, end="")

