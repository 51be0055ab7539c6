"""Response-time charts (matplotlib): they draw what :mod:`runbook.probe.stats` computed, nothing more.

Every function takes one or more :class:`~runbook.probe.http.ProbeRun` and returns a
``matplotlib.figure.Figure`` built without pyplot (no global figure state: notebooks do not pile up
open figures, and threads can draw safely). In Jupyter the figure displays itself; elsewhere call
``fig.savefig("latency.png")``.

Charts: :func:`latency_histogram` (with percentile markers), :func:`latency_cdf` (log x axis, one
or several runs), :func:`latency_timeline` (scatter, rolling p99, errors, labelled events such as
"fix applied"), :func:`phase_breakdown_chart` (dns / connect / tls / waiting / download),
:func:`upstream_split_chart` (gateway vs upstream from ``x-envoy-upstream-service-time``) and
:func:`compare_runs_chart` (overlaid CDFs and a side-by-side table).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator

from runbook.markup import chart_text
from runbook.probe import stats
from runbook.probe.http import ProbeRun

#: percentiles marked on histograms
MARKED_PERCENTILES: tuple[float, ...] = (50, 90, 99, 99.9)
#: one colour per phase, in stats.PHASES order
PHASE_COLORS = {"dns": "#8e6bbf", "connect": "#e49a3c", "tls": "#d1604d", "waiting": "#4c86c6",
                "download": "#5aa469"}
ERROR_COLOR = "#c0392b"

Event = tuple[datetime | float, str]


def _title(run: ProbeRun) -> str:
    path = run.url.split("://", 1)[-1]
    path = path[path.find("/"):] if "/" in path else "/"
    # URL, Host and label come from the user or the cluster: literal text, never mathtext
    return chart_text(f"{run.label} — {run.method} {path} (Host: {run.host})")


def _no_data(ax: Axes, text: str = "no complete responses") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666666")


def _fmt_ms(value: float) -> str:
    if math.isnan(value):
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} µs"
    return f"{value:.3g} ms" if value < 1000 else f"{value / 1000:.3g} s"


def _plain_log(axis: Axis) -> None:
    """A log axis labelled 0.1, 1, 10 … (and 2, 5 between decades) instead of 10⁻¹, 10⁰ …"""
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_formatter(FuncFormatter(lambda _v, _pos: ""))


def latency_histogram(run: ProbeRun, *, bins: int = 40, log: bool = True,
                      marks: Iterable[float] = MARKED_PERCENTILES) -> Figure:
    """Histogram of ``latency_ms`` with vertical percentile markers (p50, p90, p99, p99.9).

    Args:
        run: the probe run.
        bins: number of bins.
        log: log-spaced bins on a log x axis (latency spans decades).
        marks: percentiles to mark.
    """
    fig = Figure(figsize=(9, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ok = stats.ok_samples(run.samples)["latency_ms"]
    hist = stats.histogram(ok, bins=bins, log=log)
    ax.set_title(_title(run))
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("requests")
    if hist.empty:
        _no_data(ax)
        return fig
    widths = hist["bin_end_ms"] - hist["bin_start_ms"]
    ax.bar(hist["bin_start_ms"], hist["count"], width=widths, align="edge", color="#4c86c6",
           edgecolor="white", linewidth=0.5, label=f"{len(ok)} responses")
    if log and float(hist["bin_start_ms"].iloc[0]) > 0:
        ax.set_xscale("log")
        _plain_log(ax.xaxis)
    values = stats.percentiles(ok, marks)
    top = float(hist["count"].max())
    for i, (key, value) in enumerate(values.items()):
        ax.axvline(value, color="#333333", linestyle="--", linewidth=1)
        name = key.removesuffix("_ms").replace("_", ".")
        ax.text(value, top * (0.97 - 0.08 * i), f" {name} {_fmt_ms(value)}", fontsize=8, va="top")
    errors = len(run.samples) - len(ok)
    if errors:
        ax.plot([], [], " ", label=f"{errors} failed requests (not in the histogram)")
    ax.legend(loc="upper right", fontsize=8)
    return fig


def latency_cdf(runs: ProbeRun | Sequence[ProbeRun], *, ax: Axes | None = None) -> Figure:
    """Cumulative distribution of ``latency_ms`` on a log x axis, one line per run.

    The y axis is the fraction of complete responses at or below each latency; horizontal guides
    mark p50, p90 and p99 so the tails of several runs can be read off side by side.
    """
    run_list = [runs] if isinstance(runs, ProbeRun) else list(runs)
    if ax is None:
        fig = Figure(figsize=(9, 4.5), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.get_figure()  # type: ignore[assignment]
    drawn = 0
    for run in run_list:
        points = stats.cdf_points(stats.ok_samples(run.samples)["latency_ms"])
        if points.empty:
            continue
        ax.step(points["latency_ms"], points["fraction"], where="post", label=run.label, linewidth=1.5)
        drawn += 1
    for q in (0.5, 0.9, 0.99):
        ax.axhline(q, color="#999999", linewidth=0.6, linestyle=":")
        ax.text(1.0, q, f" p{q * 100:g}", transform=ax.get_yaxis_transform(), fontsize=7, va="center",
                color="#666666")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("fraction of responses ≤ latency")
    ax.set_ylim(0, 1.02)
    ax.set_title("latency CDF" if len(run_list) != 1 else _title(run_list[0]))
    if not drawn:
        _no_data(ax)
        return fig
    ax.set_xscale("log")
    _plain_log(ax.xaxis)
    ax.grid(True, which="both", axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def latency_timeline(run: ProbeRun, *, events: Iterable[Event] = (), q: float = 99,
                     window_s: float | None = None, log: bool = True) -> Figure:
    """Every request over time, with a rolling percentile, failures marked, and labelled events.

    Args:
        run: the probe run.
        events: ``(time, label)`` pairs drawn as vertical lines — time in seconds from the run start,
            or an aware ``datetime`` (e.g. an audit record's "fix applied" timestamp).
        q: the rolling percentile drawn (99 → rolling p99).
        window_s: its trailing window; default about 1/20 of the run, at least 0.1 s.
        log: log y axis.

    Failed requests are red crosses at the time they failed after (a timeout at the timeout, a
    refusal near zero), so an outage shows as a band of crosses.
    """
    fig = Figure(figsize=(10, 4.5), layout="constrained")
    ax = fig.add_subplot()
    samples = run.samples
    ok = stats.ok_samples(samples)
    ax.set_title(_title(run))
    ax.set_xlabel("time since start (s)" + (" — intended send time" if run.qps else ""))
    ax.set_ylabel("latency (ms)")
    if samples.empty:
        _no_data(ax, "no requests")
        return fig
    ax.scatter(ok["intended_start"], ok["latency_ms"], s=4, alpha=0.35, color="#4c86c6", linewidths=0,
               label=f"response ({len(ok)})")
    span = float(samples["intended_start"].max()) if len(samples) else 0.0
    window = window_s if window_s is not None else max(0.1, span / 20)
    rolling = stats.rolling_percentile(samples, q=q, window_s=window)
    key = stats.percentile_key(q)
    if not rolling.empty:
        ax.plot(rolling["time_s"], rolling[key], color="#d1604d", linewidth=1.5,
                label=f"rolling p{q:g} ({window:.3g} s window)")
    failed = samples[samples["error_kind"] != ""]
    if not failed.empty:
        y = failed["latency_ms"].clip(lower=float(ok["latency_ms"].min()) if len(ok) else 1e-3)
        kinds = ", ".join(f"{k} {n}" for k, n in failed["error_kind"].value_counts().items())
        ax.scatter(failed["intended_start"], y, marker="x", s=22, color=ERROR_COLOR, linewidths=1.2,
                   label=f"failed ({kinds})", zorder=3)
    if log and (samples["latency_ms"] > 0).any():
        ax.set_yscale("log")
        _plain_log(ax.yaxis)
    for when, text in events:
        t = run.at(when)
        ax.axvline(t, color="#2c3e50", linewidth=1.2, linestyle="-.")
        ax.text(t, 1.0, f" {chart_text(text)}", transform=ax.get_xaxis_transform(), rotation=90,
                va="top", ha="right", fontsize=8, color="#2c3e50")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def phase_breakdown_chart(run: ProbeRun) -> Figure:
    """Where the time goes: mean dns / connect / tls / waiting / download, stacked, per group.

    Groups: all requests, those that opened a new connection, those on a reused keep-alive
    connection. Means are used because they add up to the mean total (percentiles do not); the
    right panel shows p50 and p99 per phase for the tails.
    """
    fig = Figure(figsize=(11, 4), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=(3, 2))
    fig.suptitle(_title(run))
    mean = stats.phase_breakdown(run.samples, stat="mean")
    if mean.empty:
        _no_data(left)
        _no_data(right)
        return fig
    groups = list(mean.index)
    bottoms = np.zeros(len(groups))
    for phase in stats.PHASES:
        values = mean[f"{phase}_ms"].to_numpy()
        left.barh(groups, values, left=bottoms, color=PHASE_COLORS[phase], label=phase)
        bottoms += values
    for i, (group, total) in enumerate(zip(groups, bottoms, strict=True)):
        left.text(total, i, f" {_fmt_ms(total)} (n={int(mean.loc[group, 'count'])})", va="center", fontsize=8)
    left.set_xlim(0, float(bottoms.max()) * 1.35)  # room for the totals written after the bars
    left.set_xlabel("mean time (ms)")
    left.set_title("mean per phase (stacked)", fontsize=10)
    left.invert_yaxis()
    left.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=len(stats.PHASES), fontsize=8)
    p50 = stats.phase_breakdown(run.samples, stat="p50").loc["all"]
    p99 = stats.phase_breakdown(run.samples, stat="p99").loc["all"]
    y = np.arange(len(stats.PHASES))
    right.barh(y - 0.2, [p50[f"{p}_ms"] for p in stats.PHASES], height=0.4, color="#4c86c6", label="p50")
    right.barh(y + 0.2, [p99[f"{p}_ms"] for p in stats.PHASES], height=0.4, color="#d1604d", label="p99")
    right.set_yticks(y, list(stats.PHASES))
    right.invert_yaxis()
    right.set_xlabel("ms (all requests)")
    right.set_title("p50 and p99 per phase", fontsize=10)
    right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=8)
    return fig


def upstream_split_chart(run: ProbeRun) -> Figure:
    """Gateway vs upstream: CDFs of total, upstream and ``total − upstream``, plus their percentiles.

    ``upstream`` is Envoy's ``x-envoy-upstream-service-time`` (the upstream service and the
    network to it, whole ms); the rest is the client↔gateway network and the gateway itself.
    """
    fig = Figure(figsize=(11, 4), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=(3, 2))
    fig.suptitle(_title(run))
    split = stats.upstream_split(run.samples)
    if split.empty:
        text = "no x-envoy-upstream-service-time header in the responses"
        _no_data(left, text)
        _no_data(right, text)
        return fig
    colors = {"total": "#333333", "upstream": "#4c86c6", "gateway": "#e49a3c"}
    for part, color in colors.items():
        points = stats.cdf_points(split[f"{part}_ms"].clip(lower=1e-3))
        label = {"total": "total", "upstream": "upstream (x-envoy-upstream-service-time)",
                 "gateway": "gateway + network (total − upstream)"}[part]
        left.step(points["latency_ms"], points["fraction"], where="post", color=color, label=label)
    left.set_xscale("log")
    _plain_log(left.xaxis)
    left.set_xlabel("ms (log scale)")
    left.set_ylabel("fraction of responses")
    left.legend(loc="lower right", fontsize=8)
    left.set_title(f"{len(split)} responses with the header", fontsize=10)
    table = stats.upstream_split_summary(run.samples)
    keys = ["p50_ms", "p90_ms", "p99_ms"]
    x = np.arange(len(keys))
    for i, part in enumerate(("upstream", "gateway")):
        right.bar(x + (i - 0.5) * 0.4, [table.loc[part, k] for k in keys], width=0.4, color=colors[part],
                  label=part)
    right.set_xticks(x, [k.removesuffix("_ms") for k in keys])
    right.set_ylabel("ms")
    right.set_title("percentiles per part", fontsize=10)
    right.legend(fontsize=8)
    return fig


def compare_runs_chart(runs: Sequence[ProbeRun]) -> Figure:
    """Several runs compared: overlaid CDFs (log x) and a side-by-side table of the main figures.

    The table is :func:`runbook.probe.stats.compare_runs`; ratios are to the first run (put the
    baseline — prod, or "before" — first).
    """
    run_list = list(runs)
    fig = Figure(figsize=(11, 4.5 + 0.3 * len(run_list)), layout="constrained")
    top, bottom = fig.subplots(2, 1, height_ratios=(3, 1 + 0.25 * len(run_list)))
    latency_cdf(run_list, ax=top)
    bottom.axis("off")
    table = stats.compare_runs(run_list)
    if table.empty:
        return fig
    cols = ["count", "errors", "achieved_qps", "p50_ms", "p90_ms", "p99_ms", "p99_9_ms", "max_ms",
            "p99_vs_first"]
    cells = []
    for _, row in table.iterrows():
        cells.append([
            f"{int(row['count'])}", f"{int(row['errors'])}", f"{row['achieved_qps']:.1f}",
            *(_fmt_ms(float(row[c])) for c in cols[3:8]),
            "-" if math.isnan(float(row["p99_vs_first"])) else f"{float(row['p99_vs_first']):.2f}×",
        ])
    widget = bottom.table(cellText=cells, rowLabels=list(table.index), colLabels=cols, loc="center",
                          cellLoc="right")
    widget.auto_set_font_size(False)
    widget.set_fontsize(8)
    return fig


__all__ = [
    "MARKED_PERCENTILES", "compare_runs_chart", "latency_cdf", "latency_histogram", "latency_timeline",
    "phase_breakdown_chart", "upstream_split_chart",
]
