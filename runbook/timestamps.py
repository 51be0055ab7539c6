"""RFC 3339 timestamps, the way Kubernetes and istiod write them — parsed in this one place.

The forms met in practice:

* ``metav1.Time`` (creationTimestamp, lastTransitionTime, event times): seconds and ``Z``,
  ``2023-10-27T06:00:00Z``;
* ``metav1.MicroTime`` (managedFields ``time`` is Time, events.k8s.io ``eventTime`` and leases
  are MicroTime): six fraction digits, ``2023-10-27T06:00:00.123456Z``;
* kubelet's ``kubectl logs --timestamps`` prefix and ``--since-time``: nanoseconds,
  ``2023-10-27T06:00:00.123456789Z`` (fractions beyond microseconds are truncated: a ``datetime``
  holds microseconds);
* istiod's log lines: ``2023-10-27T06:00:00.123456Z``;
* objects written by hand or other tools: any fraction and a numeric offset, ``+02:00``.

Go's ``time.Parse(time.RFC3339, …)`` — what the API server uses to decode them — needs the
seconds and a zone, so a timestamp without either is not one. RFC 3339 (§5.6) allows ``t``/``z``
in lower case; they are read as their upper-case forms. Every timestamp comes back as an aware
``datetime`` in UTC, so any two compare and subtract.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

__all__ = ["format_timestamp", "parse_timestamp", "timestamp_or_none"]

_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(?:\.\d+)?(?:[Zz]|[+-]\d\d:\d\d)")


@lru_cache(maxsize=4096)
def _parse(text: str) -> datetime:
    # objects of one write share their timestamps: a list of thousands parses a handful of strings
    problem = f"invalid RFC 3339 timestamp {text!r} (expected e.g. 2023-10-27T06:00:00Z)"
    if not _RFC3339.fullmatch(text):
        raise ValueError(problem)
    try:
        # Python 3.11 reads Z, offsets and any number of fraction digits (more than six truncated)
        return datetime.fromisoformat(text.upper()).astimezone(UTC)
    except ValueError as exc:  # the right shape but no such date or time (month 13, hour 25)
        raise ValueError(f"{problem}: {exc}") from None


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 timestamp as an aware UTC datetime.

    Args:
        text: ``2023-10-27T06:00:00Z``, ``…:00.123456789Z``, ``…:00+02:00`` (surrounding
            whitespace ignored).

    Raises:
        ValueError: ``text`` is not an RFC 3339 date-time (no seconds, no zone, not a date …).
    """
    return _parse(text.strip())


def timestamp_or_none(value: object) -> datetime | None:
    """:func:`parse_timestamp` for a field read from an object: None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return _parse(value.strip())
    except ValueError:
        return None


def format_timestamp(when: datetime, *, fraction: bool = False) -> str:
    """``when`` as the API writes it: ``2023-10-27T06:00:00Z`` (``metav1.Time``), or with six
    fraction digits (``metav1.MicroTime``) when ``fraction``. A naive ``when`` is taken as UTC."""
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if fraction else "%Y-%m-%dT%H:%M:%SZ")
