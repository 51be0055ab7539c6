"""istiod's log lines, chiefly ``Push debounce stable`` (pilot/pkg/xds/discovery.go, formats.md §5a).

Text layout: ``<YYYY-MM-DDTHH:MM:SS.ffffffZ>\\t<level>\\t<scope>\\t<message>`` (UTC, microseconds).
JSON layout (``--log_as_json``): one object per line with keys ``level``, ``time``, ``scope``, ``msg``.

The composers (used by the sandbox's emulated istiod) and the parsers (used by
``runbook.mesh.pushes``) live together so that they cannot drift apart; tests round-trip them.
The two message shapes (1.18.5 … 1.30, and master after 1.30)::

    Push debounce stable[%d] %d for config %s: %v since last change, %v since last push, full=%v
    Push debounce stable[%d] %d for reason %s: %v since last change, %v since last push, forced=%v

(either tail with either head). ``%s`` after "for config" is the first ``Kind/namespace/name``
key plus `` and N more configs`` when the push carried more; after "for reason" it is one reason,
``a and b``, or ``a and N more reasons``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from runbook.safeload import load_json
from runbook.timestamps import format_timestamp, parse_timestamp


def go_duration(seconds: float) -> str:
    """Format like Go's ``time.Duration.String()`` (``100.213717ms``, ``3.801250623s``, ``1m2s``)."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_trim(ns / 1_000)}µs"
    if ns < 1_000_000_000:
        return f"{sign}{_trim(ns / 1_000_000)}ms"
    minutes, rest = divmod(ns, 60_000_000_000)
    hours, minutes = divmod(minutes, 60)
    secs = _trim(rest / 1e9)
    out = f"{hours}h" if hours else ""
    out += f"{minutes}m" if hours or minutes else ""
    return f"{sign}{out}{secs}s"


def _trim(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"


def log_timestamp(when: datetime) -> str:
    """istiod's text-mode timestamp: UTC with microseconds and a literal ``Z``."""
    return format_timestamp(when, fraction=True)


def log_line(when: datetime, level: str, scope: str, message: str) -> str:
    """One text-mode line; the ``default`` scope (or ``""``) has no scope column, as istiod's
    console encoder prints it (``<time>\tinfo\tFLAG: --domain="cluster.local"``)."""
    if scope in ("", "default"):
        return f"{log_timestamp(when)}\t{level}\t{message}"
    return f"{log_timestamp(when)}\t{level}\t{scope}\t{message}"


def xds_push_message(version: str, services: int, connected: int, full: bool = True) -> str:
    """What istiod's ``AdsPushAll`` logs after a debounced push (1.18 … 1.30, scope ``ads``):
    ``XDS: Pushing:<version> Services:<n> ConnectedEndpoints:<n> Version:<version>`` for a full
    push, ``XDS: Incremental Pushing:<version> ConnectedEndpoints:<n> Version:<version>`` for an
    endpoint-only one. ``version`` is ``<RFC 3339 time>/<push counter>``."""
    if full:
        return (f"XDS: Pushing:{version} Services:{services} ConnectedEndpoints:{connected} "
                f"Version:{version}")
    return f"XDS: Incremental Pushing:{version} ConnectedEndpoints:{connected} Version:{version}"


def push_debounce_message(push_id: int, events: int, configs: list[str] | None, reasons: list[str],
                          quiet_seconds: float, since_push_seconds: float, full: bool,
                          forced_form: bool = False) -> str:
    """The ``Push debounce stable[...]`` message.

    Args:
        configs: ``Kind/namespace/name`` keys (``for config`` form); None for the reason form.
        reasons: push reasons used when ``configs`` is None.
        forced_form: the newer (post-1.30 master) spelling that ends in ``forced=``.
    """
    if configs:
        what = f"for config {configs[0]}"
        if len(configs) > 1:
            what += f" and {len(configs) - 1} more configs"
    else:
        if not reasons:
            r = "unknown"
        elif len(reasons) == 1:
            r = reasons[0]
        elif len(reasons) == 2:
            r = f"{reasons[0]} and {reasons[1]}"
        else:
            r = f"{reasons[0]} and {len(reasons) - 1} more reasons"
        what = f"for reason {r}"
    tail = f"forced={str(full).lower()}" if forced_form else f"full={str(full).lower()}"
    return (
        f"Push debounce stable[{push_id}] {events} {what}: {go_duration(quiet_seconds)} since last "
        f"change, {go_duration(since_push_seconds)} since last push, {tail}"
    )



def log_line_json(when: datetime, level: str, scope: str, message: str) -> str:
    """The same line in istiod's JSON mode (``--log_as_json``)."""
    return json.dumps({"level": level, "time": log_timestamp(when), "scope": scope, "msg": message},
                      ensure_ascii=False)


# ------------------------------------------------------------------------------------- parsing

# Go's time.ParseDuration units in nanoseconds; "µs" is U+00B5, "μs" is U+03BC (Go accepts both).
_GO_UNITS_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
                "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_GO_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def _go_duration_ns(text: str) -> Decimal:
    s = text.strip()
    sign = -1 if s.startswith("-") else 1
    body = s[1:] if s[:1] in "+-" else s
    if body == "0":
        return Decimal(0)
    if not body:
        raise ValueError(f"invalid Go duration {text!r}")
    total, pos = Decimal(0), 0
    while pos < len(body):
        m = _GO_PART.match(body, pos)
        if not m:
            raise ValueError(f"invalid Go duration {text!r}")
        # Decimal keeps "100.213717ms" exact (no binary-float noise in the milliseconds column)
        total += Decimal(m.group(1)) * _GO_UNITS_NS[m.group(2)]
        pos = m.end()
    return sign * total


def parse_go_duration(text: str) -> float:
    """Seconds in a Go ``time.Duration`` string (``100.213717ms``, ``3.8s``, ``1m2.5s``, ``-2h``).

    Follows ``time.ParseDuration``: an optional sign, then one or more decimal numbers each with a
    unit (ns, us/µs/μs, ms, s, m, h); ``0`` alone is allowed. Inverse of :func:`go_duration`.

    Raises:
        ValueError: anything else (empty, a missing or unknown unit).
    """
    return float(_go_duration_ns(text) / 1_000_000_000)


def _go_duration_ms(text: str) -> float:
    return float(_go_duration_ns(text) / 1_000_000)


@dataclass
class PushLine:
    """One parsed ``Push debounce stable`` line.

    Attributes:
        time: when istiod logged it (UTC); None when the line carried no timestamp.
        level, scope: the log level (``info``) and scope (``ads``).
        push_id: the push counter in brackets.
        events: how many debounced events the push merged.
        configs: the ``Kind/namespace/name`` keys named (istiod names only the first one).
        more_configs: N of "and N more configs" (configs the line does not name).
        reasons: the push reasons named (the "for reason" form; empty for the config form).
        more_reasons: N of "and N more reasons".
        quiet_ms: time since the last change (Go duration, in milliseconds).
        since_push_ms: time since the last push, in milliseconds.
        full: ``full=`` of 1.18 … 1.30 lines; None on newer lines, which print ``forced=`` instead
            and do not say whether the push was full.
        forced: ``forced=`` of newer lines; None on ``full=`` lines.
    """

    time: datetime | None
    level: str
    scope: str
    push_id: int
    events: int
    configs: list[str] = field(default_factory=list)
    more_configs: int = 0
    reasons: list[str] = field(default_factory=list)
    more_reasons: int = 0
    quiet_ms: float = 0.0
    since_push_ms: float = 0.0
    full: bool | None = None
    forced: bool | None = None

    @property
    def config_keys(self) -> list[tuple[str, str, str]]:
        """``configs`` split into (kind, namespace, name); namespace is ``""`` for cluster scope."""
        out = []
        for key in self.configs:
            kind, _, rest = key.partition("/")
            namespace, _, name = rest.partition("/")
            out.append((kind, namespace, name))
        return out


_PUSH_MESSAGE = re.compile(
    r"Push debounce stable\[(?P<id>\d+)\] (?P<events>\d+) for "
    r"(?:config (?P<config>[^\s:]+)(?: and (?P<more>\d+) more configs)?|reason (?P<reason>.+?)): "
    r"(?P<quiet>\S+) since last change, (?P<since>\S+) since last push, "
    r"(?P<flag>full|forced)=(?P<value>true|false)\s*$")
# optional `kubectl logs --timestamps` prefix, then istiod's own tab-separated layout
_TEXT_LINE = re.compile(
    r"^(?:\d{4}-\d\d-\d\dT\S+ )?(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)\t"
    r"(?P<level>\w+)\t(?P<scope>[^\t]+)\t(?P<msg>.*)$")
_KUBE_TS_PREFIX = re.compile(r"^\d{4}-\d\d-\d\dT\S+ (?=\{)")


def parse_push_message(message: str, *, when: datetime | None = None, level: str = "info",
                       scope: str = "ads") -> PushLine | None:
    """Parse the message part of a ``Push debounce stable`` line; None for any other message."""
    m = _PUSH_MESSAGE.search(message)
    if not m:
        return None
    configs: list[str] = []
    reasons: list[str] = []
    more_reasons = 0
    if m.group("config"):
        configs = [m.group("config")]
    else:
        first, sep, rest = m.group("reason").partition(" and ")
        reasons = [first]
        if sep:
            more = re.fullmatch(r"(\d+) more reasons", rest)
            if more:
                more_reasons = int(more.group(1))
            else:
                reasons.append(rest)
    value = m.group("value") == "true"
    is_full = m.group("flag") == "full"
    try:
        quiet_ms = _go_duration_ms(m.group("quiet"))
        since_ms = _go_duration_ms(m.group("since"))
    except ValueError:
        return None
    return PushLine(
        time=when, level=level, scope=scope, push_id=int(m.group("id")),
        events=int(m.group("events")), configs=configs, more_configs=int(m.group("more") or 0),
        reasons=reasons, more_reasons=more_reasons, quiet_ms=quiet_ms,
        since_push_ms=since_ms, full=value if is_full else None,
        forced=None if is_full else value)


def parse_push_line(line: str) -> PushLine | None:
    """Parse one istiod log line (text or JSON mode); None unless it is a ``Push debounce stable``.

    Accepts istiod's text layout, its JSON layout (``{"level":…,"time":…,"scope":…,"msg":…}``),
    either one behind a ``kubectl logs --timestamps`` prefix, and a bare message without timestamp.
    """
    raw = line.rstrip("\r\n")
    if "Push debounce stable" not in raw:
        return None
    body = _KUBE_TS_PREFIX.sub("", raw, count=1).strip()
    if body.startswith("{"):
        try:
            record = load_json(body, "an istiod log line")
        except ValueError:
            return None
        if not isinstance(record, dict) or not isinstance(record.get("msg"), str):
            return None
        when = None
        if isinstance(record.get("time"), str):
            try:
                when = parse_timestamp(record["time"])
            except ValueError:
                when = None
        return parse_push_message(record["msg"], when=when, level=str(record.get("level", "")),
                                  scope=str(record.get("scope", "")))
    m = _TEXT_LINE.match(raw)
    if m:
        return parse_push_message(m.group("msg"), when=parse_timestamp(m.group("time")),
                                  level=m.group("level"), scope=m.group("scope"))
    return parse_push_message(raw, when=None, level="", scope="")


def parse_push_lines(text: str) -> list[PushLine]:
    """Every ``Push debounce stable`` line of a log (other lines are skipped)."""
    out = []
    for line in text.splitlines():
        parsed = parse_push_line(line)
        if parsed is not None:
            out.append(parsed)
    return out
