"""istiod ``Push debounce stable`` lines: the report's lines, both upstream shapes, round trips."""

from __future__ import annotations

import glob
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runbook.formats.istiod_log import (
    go_duration,
    log_line,
    log_line_json,
    parse_go_duration,
    parse_push_line,
    parse_push_lines,
    push_debounce_message,
)

SEED_DIR = Path(__file__).resolve().parents[3] / "shared" / "seed"


def _report_push_lines() -> list[str]:
    files = glob.glob(str(SEED_DIR / "*.txt"))
    if not files:
        pytest.skip("field report not found")
    text = Path(files[0]).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if "Push debounce stable" in line]


def test_the_report_lines_parse_field_by_field() -> None:
    lines = _report_push_lines()
    assert len(lines) == 4
    parsed = [parse_push_line(line) for line in lines]
    assert all(p is not None for p in parsed)
    first = parsed[0]
    assert first is not None
    assert first.time == datetime(2023, 10, 27, 6, 0, 55, 741297, tzinfo=UTC)
    assert (first.level, first.scope, first.push_id, first.events) == ("info", "ads", 32, 1)
    assert first.configs == ["Gateway/l7-traffic-alpha/bookinfo-gateway"]
    assert first.config_keys == [("Gateway", "l7-traffic-alpha", "bookinfo-gateway")]
    assert first.quiet_ms == pytest.approx(100.213717)
    assert first.since_push_ms == pytest.approx(100.213544)
    assert (first.full, first.forced, first.more_configs, first.reasons) == (True, None, 0, [])
    assert [p.config_keys[0] for p in parsed if p] == [
        ("Gateway", "l7-traffic-alpha", "bookinfo-gateway"),
        ("VirtualService", "l7-traffic-alpha", "bookinfo"),
        ("Gateway", "l7-traffic-beta", "nginx-sample-gateway"),
        ("VirtualService", "l7-traffic-beta", "nginx-sample"),
    ]
    assert [p.push_id for p in parsed if p] == [32, 33, 38, 39]


@pytest.mark.parametrize(("text", "seconds"), [
    ("100.213717ms", 0.100213717), ("3.801250623s", 3.801250623), ("1m2s", 62.0),
    ("1m2.5s", 62.5), ("1h0m0.5s", 3600.5), ("2h45m", 9900.0), ("1.5µs", 1.5e-6),
    ("1.5μs", 1.5e-6), ("1.5us", 1.5e-6), ("12ns", 12e-9), ("0", 0.0), ("0s", 0.0),
    ("-2h0m0s", -7200.0), ("+5ms", 0.005), (".5s", 0.5), ("5.s", 5.0),
])
def test_parse_go_duration(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("bad", ["", "5", "ms", "1d", "1 s", "1.2.3s", "s5", "-", "1hm"])
def test_parse_go_duration_rejects_what_go_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_go_duration(bad)


@pytest.mark.parametrize("seconds", [
    0.000000012, 0.0000015, 0.1002, 0.100213717, 1.0, 3.801250623, 59.999, 62.5, 3600.5, 9900.0,
    -0.25, -7200.0,
])
def test_go_duration_round_trips(seconds: float) -> None:
    text = go_duration(seconds)
    assert parse_go_duration(text) == pytest.approx(seconds, rel=1e-9)
    assert go_duration(parse_go_duration(text)) == text


WHEN = datetime(2024, 6, 20, 8, 20, 52, 123456, tzinfo=UTC)


@pytest.mark.parametrize("forced_form", [False, True])
@pytest.mark.parametrize("configs", [
    ["Gateway/l7-traffic-alpha/bookinfo-gateway"],
    ["VirtualService/ns/a", "Gateway/ns/b", "DestinationRule/ns/c"],
    ["ServiceEntry//global-entry"],
])
def test_config_form_round_trips_in_text_and_json(configs: list[str], forced_form: bool) -> None:
    msg = push_debounce_message(7, 3, configs, [], 0.1002, 1.5, False, forced_form)
    for line in (log_line(WHEN, "info", "ads", msg), log_line_json(WHEN, "info", "ads", msg)):
        parsed = parse_push_line(line)
        assert parsed is not None
        assert parsed.time == WHEN
        assert (parsed.push_id, parsed.events, parsed.scope) == (7, 3, "ads")
        assert parsed.configs == configs[:1]
        assert parsed.more_configs == len(configs) - 1
        assert parsed.quiet_ms == pytest.approx(100.2)
        assert parsed.since_push_ms == pytest.approx(1500.0)
        if forced_form:
            assert (parsed.full, parsed.forced) == (None, False)
        else:
            assert (parsed.full, parsed.forced) == (False, None)


@pytest.mark.parametrize(("reasons", "named", "more"), [
    ([], ["unknown"], 0),
    (["endpoint"], ["endpoint"], 0),
    (["config", "proxy"], ["config", "proxy"], 0),
    (["endpoint", "service", "proxy", "global"], ["endpoint"], 3),
])
def test_reason_form_is_kept_without_configs(reasons: list[str], named: list[str], more: int) -> None:
    msg = push_debounce_message(12, 40, None, reasons, 0.100540837, 3.801250623, True)
    parsed = parse_push_line(log_line(WHEN, "info", "ads", msg))
    assert parsed is not None
    assert parsed.configs == [] and parsed.more_configs == 0
    assert (parsed.reasons, parsed.more_reasons) == (named, more)
    assert parsed.full is True


def test_kubectl_timestamps_prefix_and_json_nanoseconds() -> None:
    msg = push_debounce_message(1, 1, ["Gateway/a/b"], [], 0.1, 0.1, True)
    prefixed = "2024-06-20T08:20:52.123456789Z " + log_line(WHEN, "info", "ads", msg)
    parsed = parse_push_line(prefixed)
    assert parsed is not None and parsed.time == WHEN
    record = json.dumps({"level": "info", "time": "2024-06-20T08:20:52.123456789Z", "scope": "ads",
                         "msg": msg})
    parsed_json = parse_push_line("2024-06-20T08:20:53Z " + record)
    assert parsed_json is not None
    assert parsed_json.time == WHEN  # nanoseconds truncated to microseconds


@pytest.mark.parametrize("line", [
    "",
    "2023-10-27T06:00:55.741297Z\tinfo\tads\tPush debounce stable[32] 1 for config Gateway/a/b: "
    "1parsec since last change, 1ms since last push, full=true",
    "2023-10-27T06:00:55.741297Z\tinfo\tads\tXDS: Pushing:2023-10-27T06:00:55Z/33 Services:12",
    '{"level":"info","time":"2023-10-27T06:00:55Z","scope":"ads","msg":"ADS: new connection"}',
    '{"msg": 5, "text": "Push debounce stable"}',
    "Push debounce stable[x] 1 for config Gateway/a/b: 1ms since last change, 1ms since last push, "
    "full=true",
])
def test_other_lines_are_not_pushes(line: str) -> None:
    assert parse_push_line(line) is None


def test_parse_push_lines_skips_noise_and_keeps_order() -> None:
    lines = [log_line(WHEN + timedelta(seconds=i), "info", "ads",
                      push_debounce_message(i, 1, [f"Gateway/ns/gw{i}"], [], 0.1, 0.1, True))
             for i in range(3)]
    text = "\n".join([lines[0], "2024-06-20T08:20:52Z\tinfo\tads\tsomething else", lines[1], "",
                      lines[2]])
    assert [p.push_id for p in parse_push_lines(text)] == [0, 1, 2]
