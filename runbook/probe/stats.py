"""Latency statistics over probe samples: percentiles, histogram, CDF, rolling p99, phases, runs.

Everything here is a pure function of a samples DataFrame (the columns of
:class:`runbook.probe.http.ProbeRun`) and returns plain dicts/DataFrames, so the charts in
:mod:`runbook.ui.charts`, the command line and the notebooks show the same numbers.

Conventions:
* latency statistics use the rows with a complete response (``error_kind == ""``); failures are
  counted by kind instead (a refused connection has no latency worth averaging in);
* percentiles use linear interpolation between closest ranks (numpy's default method), with the
  unit in the key: ``p50_ms``, ``p99_9_ms`` (p99.9);
* ``latency_ms`` is the figure: from the intended send time under a QPS schedule, else the total.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, NotRequired, TypedDict

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from runbook.probe.http import ProbeRun

#: the percentiles a summary reports
SUMMARY_PERCENTILES: tuple[float, ...] = (50, 75, 90, 99, 99.9)



class LatencyStats(TypedDict):
    """:func:`latency_stats` with the default :data:`SUMMARY_PERCENTILES` (ms; NaN without values)."""

    min_ms: float
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    p99_9_ms: float
    max_ms: float
    mean_ms: float


class Measured(TypedDict):
    """What a run measured, before its verdict (see :func:`summarize` for each key)."""

    count: int
    ok: int
    errors: int
    errors_by_kind: dict[str, int]
    status_codes: dict[str, int]
    connections: int
    requested_qps: float | None
    achieved_qps: float
    elapsed_s: float
    scheduled: int | None
    unsent: int | None
    send_lag_p50_ms: float | None
    send_lag_p99_ms: float | None


class RunSummary(Measured, LatencyStats):
    """:func:`summarize`: the verdict, the counts and rates, the latency statistics; the record
    ``runbook probe -o json`` prints as ``summary``, the charts and the incident report read."""

    trustworthy: bool
    verdict: str
    schedule_kept: bool | None
    #: the run's label (:meth:`runbook.probe.http.ProbeRun.summary` adds it)
    label: NotRequired[str]


#: a schedule is kept while requests leave at most this late at the median (ms) …
SCHEDULE_SLACK_P50_MS = 10.0
#: … and at p99 (ms): a busy client machine delays a few requests, too few connections delay all
SCHEDULE_SLACK_P99_MS = 100.0

#: request phases in the order they happen (curl ``-w`` terms in the docstring of phase_breakdown)
PHASES: tuple[str, ...] = ("dns", "connect", "tls", "waiting", "download")


def percentile_key(q: float) -> str:
    """``50`` → ``p50_ms``; ``99.9`` → ``p99_9_ms``."""
    text = f"{q:g}".replace(".", "_")
    return f"p{text}_ms"


def ok_samples(samples: pd.DataFrame) -> pd.DataFrame:
    """The rows that were served: a complete response with an accepted status (see
    :func:`runbook.probe.http.mark_http_failures`)."""
    return samples[samples["error_kind"] == ""]


def _values(values: pd.Series | Sequence[float] | np.ndarray) -> np.ndarray:
    arr = np.asarray(values, dtype="float64")
    return arr[np.isfinite(arr)]


def percentiles(values: pd.Series | Sequence[float] | np.ndarray,
                qs: Iterable[float] = SUMMARY_PERCENTILES) -> dict[str, float]:
    """Percentiles of ``values`` (ms) keyed ``p50_ms`` …; NaN when there are no values."""
    arr = _values(values)
    qs = list(qs)
    if not arr.size:
        return {percentile_key(q): math.nan for q in qs}
    got = np.percentile(arr, qs)
    return {percentile_key(q): float(v) for q, v in zip(qs, got, strict=True)}


def latency_stats(values: pd.Series | Sequence[float] | np.ndarray,
                  qs: Iterable[float] = SUMMARY_PERCENTILES) -> dict[str, float]:
    """``min_ms``, the percentiles, ``max_ms`` and ``mean_ms`` of ``values``."""
    arr = _values(values)
    out: dict[str, float] = {"min_ms": float(arr.min()) if arr.size else math.nan}
    out.update(percentiles(arr, qs))
    out["max_ms"] = float(arr.max()) if arr.size else math.nan
    out["mean_ms"] = float(arr.mean()) if arr.size else math.nan
    return out


def summarize(samples: pd.DataFrame, *, elapsed_s: float, requested_qps: float | None = None,
              scheduled: int | None = None) -> RunSummary:
    """The summary of a run (what ``runbook probe`` prints and ``-o json`` exports).

    Args:
        samples: the run's samples.
        elapsed_s: from the run start to the end of its last request.
        requested_qps: the requested rate (None for a closed loop).
        scheduled: requests in the QPS schedule (None without one).

    Returns:
        ``trustworthy`` and ``verdict`` (:func:`verdict`: was the schedule kept), ``schedule_kept``
        (None without a schedule), ``count`` (requests sent), ``ok`` (served responses), ``errors``
        (failed requests, HTTP >= 400 included), ``errors_by_kind`` ({kind: n}), ``status_codes``
        ({"200": n}, every answer with a status),
        ``connections`` (TCP connections used), ``requested_qps``, ``achieved_qps``
        (count / elapsed_s), ``elapsed_s``, ``scheduled`` and ``unsent`` (scheduled requests that
        the duration cut off: the client fell behind), ``send_lag_p50_ms`` / ``send_lag_p99_ms``
        (how late requests left compared with the schedule, all requests; None without a
        schedule — large values mean the gateway or the client could not keep up), then
        :func:`latency_stats` of ``latency_ms`` over the complete responses.
    """
    count = len(samples)
    ok = ok_samples(samples)
    failed = samples[samples["error_kind"] != ""]
    by_kind = {str(k): int(v) for k, v in failed["error_kind"].value_counts().sort_index().items()}
    answered = samples[samples["status"] > 0]
    codes = {str(k): int(v)
             for k, v in answered["status"].astype("int64").value_counts().sort_index().items()}
    connections = int(samples.loc[samples["connection_id"] > 0, "connection_id"].nunique())
    out: Measured = {
        "count": count,
        "ok": len(ok),
        "errors": len(failed),
        "errors_by_kind": by_kind,
        "status_codes": codes,
        "connections": connections,
        "requested_qps": requested_qps,
        "achieved_qps": count / elapsed_s if elapsed_s > 0 else math.nan,
        "elapsed_s": elapsed_s,
        "scheduled": scheduled,
        "unsent": (scheduled - count) if scheduled is not None else None,
        "send_lag_p50_ms": None,
        "send_lag_p99_ms": None,
    }
    if requested_qps is not None and count:
        lag = (samples["actual_start"] - samples["intended_start"]) * 1e3
        lags = percentiles(lag, (50, 99))
        out["send_lag_p50_ms"], out["send_lag_p99_ms"] = lags["p50_ms"], lags["p99_ms"]
    kept, text = verdict(out)
    stats = latency_stats(ok["latency_ms"])
    return {"trustworthy": kept is not False, "verdict": text, "schedule_kept": kept, **out,
            "min_ms": stats["min_ms"], "p50_ms": stats["p50_ms"], "p75_ms": stats["p75_ms"],
            "p90_ms": stats["p90_ms"], "p99_ms": stats["p99_ms"], "p99_9_ms": stats["p99_9_ms"],
            "max_ms": stats["max_ms"], "mean_ms": stats["mean_ms"]}


def verdict(summary: Measured) -> tuple[bool | None, str]:
    """Whether a run's numbers can be trusted, and one sentence that says so and why.

    Under a schedule, latency counts from each request's intended send time. When requests leave
    late — the median more than :data:`SCHEDULE_SLACK_P50_MS`, p99 more than
    :data:`SCHEDULE_SLACK_P99_MS`, or some never sent before the duration ran out — the probe (too
    few connections, a busy machine) kept them waiting, and the latencies measure its own queue
    as much as the server: the schedule was not kept, and the sentence says by how much.

    Returns:
        ``(schedule_kept, sentence)``; ``schedule_kept`` is None without a schedule (closed loop).
    """
    failed = ""
    if summary["errors"]:
        kinds = ", ".join(f"{kind} ×{n}" for kind, n in summary["errors_by_kind"].items())
        failed = f"; {summary['errors']} of {summary['count']} requests failed ({kinds})"
    if summary["requested_qps"] is None:
        return None, (f"trustworthy as a closed loop over {summary['connections']} connection(s): each "
                      f"request is sent when the previous answer is in — latency per request, not at "
                      f"a set rate{failed}")
    lag50, lag99 = summary["send_lag_p50_ms"], summary["send_lag_p99_ms"]
    unsent = summary["unsent"] or 0
    # both lags come from the same schedule: set together, or both None
    late = lag50 is not None and lag99 is not None and (
        lag50 > SCHEDULE_SLACK_P50_MS or lag99 > SCHEDULE_SLACK_P99_MS)
    rate = f"{summary['achieved_qps']:.1f} of {summary['requested_qps']:g} requests/s"
    if late or unsent:
        how = (f"requests left {lag50:.0f} ms late at the median, {lag99:.0f} ms at p99" if lag50 is not None
               else "no request left")
        never = f", {unsent} never sent" if unsent else ""
        return False, (f"NOT TRUSTWORTHY: the schedule was not kept — {how}{never}, {rate} over "
                       f"{summary['connections']} connection(s); the latencies include the probe's own "
                       f"queue: allow more connections or ask a lower rate{failed}")
    return True, (f"trustworthy: the schedule was kept — {rate}, requests left {lag50:.1f} ms late at "
                  f"the median, {lag99:.1f} ms at p99, over {summary['connections']} connection(s)"
                  f"{failed}")


def histogram(values: pd.Series | Sequence[float] | np.ndarray, *, bins: int = 40,
              log: bool = True) -> pd.DataFrame:
    """Histogram of latencies.

    Args:
        values: latencies in ms.
        bins: number of bins.
        log: logarithmically spaced bins (latency spans decades; linear bins would put nearly all
            requests in the first bin). Falls back to linear when values are not all positive.

    Returns:
        Columns ``bin_start_ms``, ``bin_end_ms``, ``count``, ``fraction``, ``cumulative`` (fraction
        at or below the bin end); empty when there are no values.
    """
    arr = _values(values)
    columns = ["bin_start_ms", "bin_end_ms", "count", "fraction", "cumulative"]
    if not arr.size:
        return pd.DataFrame(columns=columns)
    lo, hi = float(arr.min()), float(arr.max())
    if hi <= lo:
        # one distinct value: a single bin around it
        edges = np.array([lo * 0.95, hi * 1.05]) if lo > 0 else np.array([lo - 0.5, hi + 0.5])
    elif log and lo > 0:
        edges = np.geomspace(lo, hi, bins + 1)
    else:
        edges = np.linspace(lo, hi, bins + 1)
    counts, edges = np.histogram(arr, bins=edges)
    frac = counts / arr.size
    return pd.DataFrame({
        "bin_start_ms": edges[:-1], "bin_end_ms": edges[1:], "count": counts.astype("int64"),
        "fraction": frac, "cumulative": np.cumsum(frac),
    })


def cdf_points(values: pd.Series | Sequence[float] | np.ndarray, *, max_points: int = 2000) -> pd.DataFrame:
    """Empirical CDF: ``latency_ms`` and ``fraction`` of requests at or below it.

    Above ``max_points`` values the curve is sampled at evenly spaced ranks plus the tail ranks
    (the slowest 1 ‰ are kept individually, as the tail is what a latency CDF is read for).
    """
    arr = np.sort(_values(values))
    n = arr.size
    if not n:
        return pd.DataFrame(columns=["latency_ms", "fraction"])
    ranks = np.arange(1, n + 1)
    if n > max_points:
        tail = max(1, n // 1000)
        body = np.unique(np.linspace(0, n - tail - 1, max_points - min(tail, max_points // 2)).astype(int))
        keep = np.unique(np.concatenate([body, np.arange(n - tail, n)]))
        arr, ranks = arr[keep], ranks[keep]
    return pd.DataFrame({"latency_ms": arr, "fraction": ranks / n})


def rolling_percentile(samples: pd.DataFrame, *, q: float = 99, window_s: float = 1.0,
                       time_column: str = "intended_start") -> pd.DataFrame:
    """A trailing-window percentile of ``latency_ms`` over time (complete responses only).

    Args:
        samples: the run's samples.
        q: the percentile (99 → the rolling p99).
        window_s: window length in seconds (trailing: each point covers ``(t − window, t]``).
        time_column: ``intended_start`` (default; equals the actual start without a schedule).

    Returns:
        Columns ``time_s``, ``<percentile_key(q)>`` (e.g. ``p99_ms``) and ``count`` (samples in
        the window), one row per complete response, ordered by time.
    """
    key = percentile_key(q)
    ok = ok_samples(samples).sort_values(time_column)
    if ok.empty:
        return pd.DataFrame(columns=["time_s", key, "count"])
    index = pd.to_timedelta(ok[time_column].to_numpy(), unit="s")
    series = pd.Series(ok["latency_ms"].to_numpy(), index=index)
    window = pd.Timedelta(seconds=window_s)
    rolled = series.rolling(window).quantile(q / 100.0, interpolation="linear")
    counts = series.rolling(window).count()
    return pd.DataFrame({"time_s": ok[time_column].to_numpy(), key: rolled.to_numpy(),
                         "count": counts.to_numpy().astype("int64")})


def phases(samples: pd.DataFrame) -> pd.DataFrame:
    """Per complete response: ``dns_ms``, ``connect_ms``, ``tls_ms``, ``waiting_ms``, ``download_ms``.

    ``waiting_ms`` = ``ttfb_ms − dns − connect − tls`` (sending the request and the server's time
    to the first byte: curl's ``time_starttransfer − time_appconnect``); ``download_ms`` =
    ``total_ms − ttfb_ms``. The five add up to ``total_ms``. Also ``reused`` and ``total_ms``.
    """
    ok = ok_samples(samples)
    setup = ok["dns_ms"] + ok["connect_ms"] + ok["tls_ms"]
    return pd.DataFrame({
        "dns_ms": ok["dns_ms"], "connect_ms": ok["connect_ms"], "tls_ms": ok["tls_ms"],
        "waiting_ms": (ok["ttfb_ms"] - setup).clip(lower=0.0),
        "download_ms": (ok["total_ms"] - ok["ttfb_ms"]).clip(lower=0.0),
        "total_ms": ok["total_ms"], "reused": ok["reused"],
    })


def phase_breakdown(samples: pd.DataFrame, *, stat: str = "mean") -> pd.DataFrame:
    """Where the time goes, per group of requests: all, new connections, reused connections.

    Args:
        samples: the run's samples.
        stat: ``mean`` (the phases then add up to the mean total — use it for stacked bars) or a
            percentile such as ``p50``/``p99`` (per phase; those do not add up).

    Returns:
        Index ``group`` (``all``, ``new connection``, ``reused connection``; empty groups left
        out), columns ``dns_ms``, ``connect_ms``, ``tls_ms``, ``waiting_ms``, ``download_ms``,
        ``total_ms``, ``count``.
    """
    table = phases(samples)
    cols = [f"{p}_ms" for p in PHASES] + ["total_ms"]
    groups = {"all": table, "new connection": table[~table["reused"]],
              "reused connection": table[table["reused"]]}
    rows = {}
    for name, part in groups.items():
        if part.empty:
            continue
        if stat == "mean":
            row = part[cols].mean()
        elif stat.startswith("p"):
            row = part[cols].quantile(float(stat[1:].replace("_", ".")) / 100.0)
        else:
            raise ValueError(f"stat must be 'mean' or a percentile like 'p99', not {stat!r}")
        rows[name] = {**{c: float(row[c]) for c in cols}, "count": len(part)}
    out = pd.DataFrame.from_dict(rows, orient="index", columns=[*cols, "count"])
    out.index.name = "group"
    return out


def upstream_split(samples: pd.DataFrame) -> pd.DataFrame:
    """Per complete response carrying ``x-envoy-upstream-service-time``: gateway vs upstream.

    Returns:
        Columns ``seq``, ``total_ms``, ``upstream_ms`` and ``gateway_ms = total_ms − upstream_ms``:
        the time outside the upstream service (client ↔ gateway network, the gateway itself).
        Envoy reports the upstream time in whole milliseconds, so sub-millisecond requests can
        show small negative ``gateway_ms``; they are kept as measured.
    """
    ok = ok_samples(samples)
    ok = ok[ok["upstream_ms"].notna()]
    return pd.DataFrame({"seq": ok["seq"], "total_ms": ok["total_ms"], "upstream_ms": ok["upstream_ms"],
                         "gateway_ms": ok["total_ms"] - ok["upstream_ms"]}).reset_index(drop=True)


def upstream_split_summary(samples: pd.DataFrame,
                           qs: Iterable[float] = (50, 90, 99)) -> pd.DataFrame:
    """Percentiles and mean of ``total_ms``, ``upstream_ms`` and ``gateway_ms`` (index: part)."""
    split = upstream_split(samples)
    qs = list(qs)
    rows = {}
    for part in ("total", "upstream", "gateway"):
        col = split[f"{part}_ms"]
        rows[part] = {**percentiles(col, qs), "mean_ms": float(col.mean()) if len(col) else math.nan,
                      "count": len(col)}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "part"
    return out


def compare_runs(runs: Sequence[ProbeRun]) -> pd.DataFrame:
    """Several runs side by side (canary vs prod, before vs after), the first one as baseline.

    Returns:
        Index ``label`` (made unique with ``#2``… if repeated); columns ``url``, ``host``,
        ``count``, ``errors``, ``error_rate``, ``requested_qps``, ``achieved_qps``, ``min_ms``,
        ``p50_ms``, ``p75_ms``, ``p90_ms``, ``p99_ms``, ``p99_9_ms``, ``max_ms``, ``mean_ms``,
        and ``p50_vs_first`` / ``p99_vs_first`` (ratios to the first run).
    """
    rows = []
    labels: list[str] = []
    for run in runs:
        s = run.summary()
        # the latency columns by name, whatever SUMMARY_PERCENTILES holds
        fields: Mapping[str, object] = s
        label = run.label
        n = 2
        while label in labels:
            label = f"{run.label} #{n}"
            n += 1
        labels.append(label)
        rows.append({
            "url": run.url, "host": run.host, "count": s["count"], "errors": s["errors"],
            "error_rate": s["errors"] / s["count"] if s["count"] else math.nan,
            "requested_qps": s["requested_qps"], "achieved_qps": s["achieved_qps"],
            **{k: fields[k] for k in latency_stats([])},
        })
    out = pd.DataFrame(rows, index=pd.Index(labels, name="label"))
    if not out.empty:
        for key in ("p50_ms", "p99_ms"):
            base = out[key].iloc[0]
            out[f"{key.removesuffix('_ms')}_vs_first"] = out[key] / base if base else math.nan
    return out


__all__ = [
    "PHASES", "SUMMARY_PERCENTILES", "cdf_points", "compare_runs", "histogram", "latency_stats",
    "ok_samples", "percentile_key", "percentiles", "phase_breakdown", "phases", "rolling_percentile",
    "summarize", "upstream_split", "upstream_split_summary", "verdict",
]
