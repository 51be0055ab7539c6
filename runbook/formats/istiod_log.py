"""istiod's log lines, chiefly ``Push debounce stable`` (pilot/pkg/xds/discovery.go, formats.md §5a).

Text layout: ``<YYYY-MM-DDTHH:MM:SS.ffffffZ>\\t<level>\\t<scope>\\t<message>`` (UTC, microseconds).
"""

from __future__ import annotations

from datetime import UTC, datetime


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
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def log_line(when: datetime, level: str, scope: str, message: str) -> str:
    return f"{log_timestamp(when)}\t{level}\t{scope}\t{message}"


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
