"""Statistics over synthetic samples, checked against numpy/pandas computed independently."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import get_type_hints

import numpy as np
import pandas as pd
import pytest

from runbook.errors import ProbeError
from runbook.probe import COLUMNS, ProbeRun, stats


def make_samples(latencies: list[float] | np.ndarray, *, errors: dict[int, str] | None = None,
                 upstream: float | None = None, reused_from: int = 1,
                 qps: float | None = None) -> pd.DataFrame:
    """Samples shaped like the probe's, with known latencies (ms)."""
    n = len(latencies)
    errors = errors or {}
    lat = np.asarray(latencies, dtype=float)
    intended = np.arange(n) / qps if qps else np.cumsum(np.r_[0, lat[:-1]]) / 1000
    rows = []
    for i in range(n):
        reused = i >= reused_from
        connect = 0.0 if reused else 0.2
        total = float(lat[i])
        rows.append({
            "seq": i, "connection_id": 1, "reused": reused, "intended_start": float(intended[i]),
            "actual_start": float(intended[i]) + (0.001 if qps else 0.0),
            "dns_ms": 0.0, "connect_ms": connect,
            "tls_ms": 0.0, "ttfb_ms": total * 0.8, "total_ms": total, "latency_ms": total,
            "status": 0 if i in errors else (503 if i % 10 == 9 else 200), "bytes": 0 if i in errors else 615,
            "server": "" if i in errors else "istio-envoy",
            "upstream_ms": upstream if upstream is not None and i not in errors else math.nan,
            "error_kind": errors.get(i, ""), "error": "boom" if i in errors else "",
        })
    return pd.DataFrame(rows, columns=list(COLUMNS))


def make_run(samples: pd.DataFrame, label: str = "run", qps: float | None = None,
             elapsed: float = 1.0) -> ProbeRun:
    return ProbeRun(samples=samples, url="http://127.0.0.1:31241/productpage", host="bookinfo-gateway.test",
                    method="GET", concurrency=1, qps=qps, count=len(samples), duration=None, timeout=5.0,
                    label=label, started_at=datetime(2023, 10, 27, 6, 33, 28, tzinfo=UTC), elapsed_s=elapsed,
                    scheduled=len(samples) if qps else None)


RNG = np.random.default_rng(7)
LAT = RNG.lognormal(mean=0.0, sigma=0.8, size=1000)  # ms, a realistic long-tailed shape


def test_summary_matches_numpy() -> None:
    samples = make_samples(LAT, errors={3: "timeout", 50: "refused", 51: "refused"})
    s = stats.summarize(samples, elapsed_s=2.0)
    ok = np.delete(LAT, [3, 50, 51])
    for q in (50, 75, 90, 99, 99.9):
        assert s[stats.percentile_key(q)] == pytest.approx(np.percentile(ok, q))
    assert s["min_ms"] == ok.min() and s["max_ms"] == ok.max() and s["mean_ms"] == pytest.approx(ok.mean())
    assert s["count"] == 1000 and s["ok"] == 997 and s["errors"] == 3
    assert s["errors_by_kind"] == {"refused": 2, "timeout": 1}
    assert s["status_codes"] == {"200": 897, "503": 100}
    assert s["achieved_qps"] == 500.0 and s["requested_qps"] is None and s["unsent"] is None
    assert s["send_lag_p50_ms"] is None
    assert list(s)[:7] == ["trustworthy", "verdict", "schedule_kept", "count", "ok", "errors",
                           "errors_by_kind"]


def test_summary_under_a_schedule_reports_lag_and_unsent() -> None:
    samples = make_samples(LAT[:100], qps=100)
    s = stats.summarize(samples, elapsed_s=1.0, requested_qps=100, scheduled=120)
    assert s["unsent"] == 20 and s["send_lag_p50_ms"] == pytest.approx(1.0)


def test_the_summary_record_has_exactly_the_keys_its_type_declares() -> None:
    # RunSummary is what the charts, the report and `-o json` read: a key the type does not
    # declare (a new percentile in SUMMARY_PERCENTILES) or one it promises and lacks is caught here
    declared = set(get_type_hints(stats.RunSummary))
    run = make_run(make_samples(LAT[:100], qps=100), qps=100)
    assert set(run.summary()) == declared
    assert set(stats.summarize(run.samples, elapsed_s=1.0)) == declared - {"label"}
    assert set(get_type_hints(stats.LatencyStats)) == set(stats.latency_stats([]))


def test_percentile_keys() -> None:
    keys = [stats.percentile_key(q) for q in (50, 99, 99.9, 99.99)]
    assert keys == ["p50_ms", "p99_ms", "p99_9_ms", "p99_99_ms"]
    assert math.isnan(stats.percentiles([])["p50_ms"])


def test_histogram_counts_every_value_once() -> None:
    h = stats.histogram(LAT, bins=30)
    assert len(h) == 30 and int(h["count"].sum()) == len(LAT)
    assert h["bin_start_ms"].iloc[0] == pytest.approx(LAT.min())
    assert h["bin_end_ms"].iloc[-1] == pytest.approx(LAT.max())
    ratios = h["bin_end_ms"] / h["bin_start_ms"]
    assert np.allclose(ratios, ratios.iloc[0])  # log-spaced
    assert h["cumulative"].iloc[-1] == pytest.approx(1.0)
    lin = stats.histogram([0.0, 1.0, 2.0, 3.0], bins=3, log=True)  # a zero forces linear bins
    assert lin["count"].tolist() == [1, 1, 2]
    single = stats.histogram([5.0, 5.0], bins=10)
    assert single["count"].tolist() == [2]
    assert stats.histogram([], bins=10).empty


def test_cdf_points_keep_the_tail() -> None:
    pts = stats.cdf_points(LAT)
    assert len(pts) == 1000 and pts["fraction"].iloc[-1] == 1.0
    assert pts["latency_ms"].is_monotonic_increasing
    big = RNG.lognormal(size=50_000)
    sampled = stats.cdf_points(big, max_points=500)
    assert len(sampled) <= 600
    assert sampled["latency_ms"].iloc[-1] == big.max()
    assert (sampled["latency_ms"].tail(50).to_numpy() == np.sort(big)[-50:]).all()  # slowest 1 ‰ kept
    # fractions are exact ranks of the original data
    i = 123
    assert sampled["fraction"].iloc[i] == pytest.approx(
        np.searchsorted(np.sort(big), sampled["latency_ms"].iloc[i], side="right") / big.size)


def test_rolling_percentile_matches_a_direct_window() -> None:
    lat = np.r_[np.full(100, 1.0), np.full(100, 20.0)]  # latency jumps at t = 1 s
    samples = make_samples(lat, qps=100)
    rolled = stats.rolling_percentile(samples, q=99, window_s=0.5)
    assert list(rolled.columns) == ["time_s", "p99_ms", "count"]
    assert rolled["p99_ms"].iloc[40] == 1.0 and rolled["p99_ms"].iloc[-1] == 20.0
    t = rolled["time_s"].iloc[120]
    window = samples[(samples["intended_start"] > t - 0.5) & (samples["intended_start"] <= t)]["latency_ms"]
    assert rolled["p99_ms"].iloc[120] == pytest.approx(np.percentile(window, 99))
    assert rolled["count"].iloc[120] == len(window)


def test_phases_add_up_to_the_total() -> None:
    samples = make_samples(LAT[:50], errors={7: "reset"})
    ph = stats.phases(samples)
    parts = ph[[f"{p}_ms" for p in stats.PHASES]].sum(axis=1)
    assert np.allclose(parts, ph["total_ms"]) and len(ph) == 49
    table = stats.phase_breakdown(samples)
    assert list(table.index) == ["all", "new connection", "reused connection"]
    assert table.loc["new connection", "count"] == 1 and table.loc["new connection", "connect_ms"] == 0.2
    means = table.loc["all", [f"{p}_ms" for p in stats.PHASES]].sum()
    assert means == pytest.approx(table.loc["all", "total_ms"])
    p99 = stats.phase_breakdown(samples, stat="p99")
    assert p99.loc["all", "total_ms"] == pytest.approx(np.percentile(ph["total_ms"], 99))
    with pytest.raises(ValueError, match="stat must be"):
        stats.phase_breakdown(samples, stat="median")


def test_upstream_split() -> None:
    samples = make_samples([5.0, 8.0, 12.0, 3.0], upstream=3.0, errors={2: "timeout"})
    split = stats.upstream_split(samples)
    assert split["gateway_ms"].tolist() == [2.0, 5.0, 0.0]
    table = stats.upstream_split_summary(samples)
    assert table.loc["upstream", "p50_ms"] == 3.0 and table.loc["gateway", "count"] == 3
    assert stats.upstream_split(make_samples([1.0])).empty


def test_compare_runs_table() -> None:
    prod = make_run(make_samples(LAT), label="prod", elapsed=2.0)
    canary = make_run(make_samples(LAT * 2, errors={1: "reset"}), label="canary")
    again = make_run(make_samples(LAT), label="prod")
    table = stats.compare_runs([prod, canary, again])
    assert list(table.index) == ["prod", "canary", "prod #2"]
    assert table.loc["canary", "errors"] == 1 and table.loc["canary", "error_rate"] == pytest.approx(0.001)
    assert table.loc["prod", "p50_vs_first"] == 1.0
    expected = np.percentile(np.delete(LAT * 2, 1), 99) / np.percentile(LAT, 99)
    assert table.loc["canary", "p99_vs_first"] == pytest.approx(expected)
    assert table.loc["prod", "achieved_qps"] == 500.0


def test_run_at_places_wall_clock_events() -> None:
    run = make_run(make_samples([1.0]))
    assert run.at(run.started_at + timedelta(seconds=2.5)) == 2.5
    assert run.at(4) == 4.0
    with pytest.raises(ProbeError, match="timezone"):
        run.at(datetime(2023, 10, 27, 6, 33, 30))


def test_verdict_says_by_how_much_a_schedule_was_not_kept() -> None:
    kept = make_samples(np.full(100, 5.0), qps=100)  # every request left 1 ms late
    s = stats.summarize(kept, elapsed_s=1.0, requested_qps=100, scheduled=100)
    assert s["trustworthy"] is True and s["schedule_kept"] is True
    assert s["verdict"].startswith("trustworthy: the schedule was kept — 100.0 of 100 requests/s")
    late = kept.copy()
    late["actual_start"] = late["intended_start"] + np.linspace(0, 2.0, 100)  # falling behind
    s = stats.summarize(late, elapsed_s=3.0, requested_qps=100, scheduled=100)
    assert s["trustworthy"] is False and s["schedule_kept"] is False
    assert s["verdict"].startswith("NOT TRUSTWORTHY: the schedule was not kept — requests left 1000 ms "
                                   "late at the median, 1980 ms at p99, 33.3 of 100 requests/s")
    # a duration that ran out before the schedule did is not kept either, however punctual the rest
    s = stats.summarize(kept, elapsed_s=1.0, requested_qps=100, scheduled=150)
    assert s["schedule_kept"] is False and ", 50 never sent" in s["verdict"]
    closed = stats.summarize(make_samples(LAT), elapsed_s=2.0)
    assert closed["schedule_kept"] is None and closed["trustworthy"] is True
    assert closed["verdict"].startswith("trustworthy as a closed loop over 1 connection(s)")
