"""One RFC 3339 parser for every timestamp the API, kubelet and istiod write."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

import runbook
from runbook.timestamps import format_timestamp, parse_timestamp, timestamp_or_none

SEED = datetime(2023, 10, 27, 6, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expected"), [
    # metav1.Time: creationTimestamp, lastTransitionTime, event first/lastTimestamp
    ("2023-10-27T06:00:00Z", SEED),
    # metav1.MicroTime (events.k8s.io eventTime) and istiod's log lines
    ("2023-10-27T06:00:00.123456Z", SEED + timedelta(microseconds=123456)),
    # kubelet's `kubectl logs --timestamps` prefix: nanoseconds, truncated to microseconds
    ("2023-10-27T06:00:00.123456789Z", SEED + timedelta(microseconds=123456)),
    ("2023-10-27T06:00:00.5Z", SEED + timedelta(milliseconds=500)),
    # numeric offsets (kubectl rollout restart writes local time; audit records write +00:00)
    ("2023-10-27T08:00:00+02:00", SEED),
    ("2023-10-27T01:30:00.250-04:30", SEED + timedelta(milliseconds=250)),
    ("2023-10-27T06:00:00.000+00:00", SEED),
    # RFC 3339 §5.6: t and z may be lower case
    ("2023-10-27t06:00:00z", SEED),
    (" 2023-10-27T06:00:00Z\n", SEED),
])
def test_every_form_kubernetes_writes_reads_as_the_same_utc_instant(text: str, expected: datetime) -> None:
    when = parse_timestamp(text)
    assert when == expected
    assert when.utcoffset() == timedelta(0)
    assert timestamp_or_none(text) == expected


@pytest.mark.parametrize("text", [
    "2023-10-27T06:00:00",          # no zone: Go's time.RFC3339 refuses it
    "2023-10-27T06:00Z",            # no seconds
    "2023-10-27",                   # a date
    "2023-10-27 06:00:00Z",         # a space is ISO 8601, not what the API writes
    "2023-13-27T06:00:00Z",         # no such month
    "2023-10-27T06:00:00+0200",     # offset without its colon
    "20231027T060000Z",             # ISO basic form
    "yesterday",
    "",
])
def test_what_is_not_an_rfc_3339_timestamp_is_refused_with_its_text(text: str) -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_timestamp(text)
    assert timestamp_or_none(text) is None


@pytest.mark.parametrize("value", [None, 0, 1698386400, ["2023-10-27T06:00:00Z"], {}])
def test_a_field_that_is_not_a_string_has_no_time(value: object) -> None:
    assert timestamp_or_none(value) is None


def test_formatting_writes_what_the_api_writes_and_reads_back() -> None:
    when = SEED.astimezone(timezone(timedelta(hours=2))) + timedelta(microseconds=42)
    assert format_timestamp(when) == "2023-10-27T06:00:00Z"
    assert format_timestamp(when, fraction=True) == "2023-10-27T06:00:00.000042Z"
    assert parse_timestamp(format_timestamp(when, fraction=True)) == when
    assert format_timestamp(datetime(2023, 10, 27, 6)) == "2023-10-27T06:00:00Z"


def _parses_iso_text(path: Path) -> list[int]:
    """Lines that call ``datetime.fromisoformat`` (the parser this module wraps)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr == "fromisoformat"]


def test_no_other_module_parses_timestamps_itself() -> None:
    package = Path(runbook.__file__).parent
    # schema.py checks OpenAPI's `format: date-time`, which kube-openapi accepts in more layouts
    allowed = {package / "timestamps.py", package / "schema.py"}
    offenders = {str(p.relative_to(package)): lines for p in sorted(package.rglob("*.py"))
                 if p not in allowed and (lines := _parses_iso_text(p))}
    assert offenders == {}, "parse RFC 3339 with runbook.timestamps.parse_timestamp/timestamp_or_none"
