"""kubectl's human-readable shapes: ages (``4m37s``) and ``kubectl describe``'s Events section.

The field report found the cause in the last lines of ``kubectl describe rs``::

    Events:
      Type     Reason        Age                    From                   Message
      ----     ------        ----                   ----                   -------
      Warning  FailedCreate  113s (x16 over 4m37s)  replicaset-controller  Error creating: …

Both the sandbox (which serves the ages of ``kubectl get`` tables) and the notebooks (which show
what ``kubectl describe`` would have printed, next to the parsed table) use these, so the shapes
are defined once. Sources (kubernetes/kubernetes, Apache-2.0):

* ages: ``k8s.io/apimachinery/pkg/util/duration.HumanDuration``;
* events: ``k8s.io/kubectl/pkg/describe/describe.go`` ``DescribeEvents`` — events sorted by
  ``lastTimestamp`` (``SortableEvents``); Age is ``<last> (x<count> over <first>)`` when the event
  has a ``series`` or a count above 1, else the age of ``eventTime`` (or ``firstTimestamp`` when
  that is zero); From is ``source.component``, else ``reportingController``; columns aligned by a
  tabwriter with two spaces of padding, each line indented by two spaces.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from runbook.timestamps import timestamp_or_none


def human_duration(seconds: float) -> str:
    """``k8s.io/apimachinery/pkg/util/duration.HumanDuration``."""
    whole = math.floor(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 60 * 2:
        return f"{whole}s"
    minutes = int(seconds // 60)
    if minutes < 10:
        s = int(seconds) % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = int(seconds // 3600)
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def since(value: Any, now: datetime) -> str:
    """``translateTimestampSince``: the age of a timestamp, ``<unknown>`` when there is none."""
    when = timestamp_or_none(value)
    if when is None:
        return "<unknown>"
    return human_duration((now - when).total_seconds())


def event_age(event: Mapping[str, Any], now: datetime) -> str:
    """The Age cell of ``kubectl describe``: ``113s (x16 over 4m37s)`` for a repeated event."""
    first = since(event.get("eventTime"), now) if event.get("eventTime") else since(
        event.get("firstTimestamp"), now)
    series = event.get("series")
    if series:
        return f"{since(series.get('lastObservedTime'), now)} (x{series.get('count')} over {first})"
    count = int(event.get("count") or 0)
    if count > 1:
        return f"{since(event.get('lastTimestamp'), now)} (x{count} over {first})"
    return first


def describe_events(events: Iterable[Mapping[str, Any]], *, kind: str | None = None,
                    namespace: str | None = None, name: str | None = None,
                    now: datetime | None = None) -> str:
    """The Events section ``kubectl describe <kind> [<name>] -n <namespace>`` prints.

    Args:
        events: core/v1 Events (raw API objects), e.g. a snapshot's ``events``.
        kind, namespace, name: keep only the events about such objects (``involvedObject``), as
            kubectl's field-selected read does; None keeps every value.
        now: the time ages are counted from (default: now — kubectl uses its own clock).

    Returns:
        With ``name``: that object's section — ``Events:  <none>`` when nothing matches, else the
        header, the dashes and one line per event, aligned like kubectl's tabwriter. Without:
        one such section per object (sorted by name), each under its ``Name:`` and
        ``Namespace:`` lines, as ``kubectl describe rs -n <ns>`` prints them (other fields left
        out); ``No events found.`` when there is none.
    """
    now = now or datetime.now(UTC)
    by_object: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for e in events:
        ref = e.get("involvedObject") or {}
        ns = ref.get("namespace") or (e.get("metadata") or {}).get("namespace") or ""
        if ((kind is None or ref.get("kind") == kind) and (name is None or ref.get("name") == name)
                and (namespace is None or ns == namespace)):
            by_object.setdefault((ns, str(ref.get("name") or "")), []).append(e)
    if name is not None:
        return _events_section([e for items in by_object.values() for e in items], now)
    if not by_object:
        return "No events found."
    blocks = []
    for (ns, obj), items in sorted(by_object.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        blocks.append(f"Name:         {obj}\nNamespace:    {ns}\n" + _events_section(items, now))
    return "\n\n".join(blocks)


def _events_section(events: list[Mapping[str, Any]], now: datetime) -> str:
    if not events:
        return "Events:  <none>"
    # SortableEvents: by lastTimestamp (events without one first: Go's zero time is the earliest)
    epoch = datetime.min.replace(tzinfo=UTC)
    events = sorted(events, key=lambda e: timestamp_or_none(e.get("lastTimestamp")) or epoch)
    rows = [("Type", "Reason", "Age", "From", "Message"),
            ("----", "------", "----", "----", "-------")]
    for e in events:
        source = (e.get("source") or {}).get("component") or e.get("reportingController") or ""
        rows.append((str(e.get("type") or ""), str(e.get("reason") or ""), event_age(e, now),
                     str(source), str(e.get("message") or "").strip()))
    widths = [max(len(r[i]) for r in rows) + 2 for i in range(4)]
    lines = ["  " + "".join(cell.ljust(w) for cell, w in zip(r[:4], widths, strict=True)) + r[4]
             for r in rows]
    return "\n".join(["Events:", *lines])


__all__ = ["describe_events", "event_age", "human_duration", "since"]
