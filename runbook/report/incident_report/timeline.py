"""One timeline of the incident: fix, rollout and push events on the recording's clock, and the
charts that draw them over every request."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from runbook.audit import AuditRecord
from runbook.markup import chart_text
from runbook.probe import ProbeRun
from runbook.report.incident_report.recording import as_failures
from runbook.timestamps import parse_timestamp
from runbook.ui.charts import ERROR_COLOR, latency_timeline

#: columns of :func:`events_frame`
EVENT_COLUMNS = ["time", "t_s", "event", "source", "detail"]
#: push markers drawn at most (a busy control plane pushes often; the events table lists them all)
MAX_PUSH_MARKERS = 3


# ------------------------------------------------------------------------------------ events


@dataclass(frozen=True)
class TimelineEvent:
    """Something that happened during the incident, at a wall-clock time.

    Attributes:
        time: when (UTC).
        label: short text for the chart's marker (``fix applied``).
        source: where the time comes from: ``audit`` (the record of a change), ``rollout``
            (the moment the wait saw every Deployment complete), ``istiod`` (a push line's time),
            ``report``.
        detail: one line for the events table.
        marker: drawn on the timeline (False: listed in the table only).
    """

    time: datetime
    label: str
    source: str
    detail: str = ""
    marker: bool = True


def audit_events(records: Sequence[AuditRecord], label: str) -> list[TimelineEvent]:
    """The moment a change took effect: the first record of ``records`` that was applied.

    A plan of several steps (six Deployments restarted) is one event at its first applied step,
    with the number of steps in the detail.
    """
    applied = [r for r in records if r.result == "applied" and r.action in ("apply", "reset")]
    if not applied:
        return []
    first = applied[0]
    more = f" (+{len(applied) - 1} more objects)" if len(applied) > 1 else ""
    return [TimelineEvent(parse_timestamp(first.time), label, "audit",
                          f"{first.object}{more}: {first.step} — context {first.context}, "
                          f"user {first.user or '?'}")]


def push_events(pushes: pd.DataFrame, namespace: str, revisions: Iterable[str], *,
                 since: datetime | None = None, limit: int = MAX_PUSH_MARKERS) -> list[TimelineEvent]:
    """istiod pushes that concern ``namespace`` by the revisions that watch it, as events.

    Args:
        pushes: :func:`runbook.mesh.observe.config_pushes` (one row per config of a push).
        revisions: the revisions expected to push the namespace's config.
        since: ignore pushes before this time.
        limit: pushes drawn as markers; later ones are listed (``marker=False``).
    """
    if pushes.empty:
        return []
    wanted = set(revisions)
    rows = pushes[(pushes["config_namespace"] == namespace) & pushes["revision"].isin(wanted)]
    if since is not None:
        rows = rows[rows["time"] >= pd.Timestamp(since)]
    out: list[TimelineEvent] = []
    for (rev, push_id), group in rows.groupby(["revision", "push_id"], sort=False):
        first = group.iloc[0]
        named = ", ".join(f"{r.kind!s}/{r.config_name!s}" for r in group.itertuples() if r.config_name)
        more = int(first["more_configs"] or 0)
        kind = "full" if first["full"] is True or first["forced"] is True else "incremental"
        detail = (f"istiod {rev} ({first['istiod_pod']}) push [{push_id}], {kind}: "
                  f"{named or first['reasons'] or 'configs'}" + (f" and {more} more configs" if more else ""))
        when = pd.Timestamp(first["time"]).to_pydatetime()
        out.append(TimelineEvent(when, f"istiod {rev} push [{push_id}]", "istiod", detail))
    out.sort(key=lambda e: e.time)
    return [dataclasses.replace(e, marker=i < limit) for i, e in enumerate(out)]


def events_frame(events: Sequence[TimelineEvent], run: ProbeRun | None = None) -> pd.DataFrame:
    """The events as a table (:data:`EVENT_COLUMNS`), in time order; ``t_s`` is seconds from the
    recording's start (NaN without a run): negative for what happened before it."""
    rows = []
    for e in sorted(events, key=lambda e: e.time):
        rows.append({"time": e.time.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3],
                     "t_s": round(run.at(e.time), 3) if run is not None else math.nan,
                     "event": e.label, "source": e.source, "detail": e.detail})
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)


def recovery(run: ProbeRun, changed_at: datetime | None) -> dict[str, Any]:
    """When the recording's failures stopped, counted from the change that fixed them.

    Returns:
        ``failed_before`` / ``served_before`` (requests due before ``changed_at``), ``failed_after``
        / ``served_after``, ``first_served_after_s`` (seconds from the change to the first request
        served after it, None when none was), ``last_failure_after_s`` (to the last failure after
        it, None when none failed). Times are intended send times (the probe's schedule).
    """
    s = as_failures(run).samples
    served = s["error_kind"] == ""
    t_change = run.at(changed_at) if changed_at is not None else -math.inf
    before, after = s["intended_start"] < t_change, s["intended_start"] >= t_change
    first_ok = s.loc[after & served, "intended_start"]
    last_bad = s.loc[after & ~served, "intended_start"]
    return {
        "failed_before": int((before & ~served).sum()), "served_before": int((before & served).sum()),
        "failed_after": int((after & ~served).sum()), "served_after": int((after & served).sum()),
        "first_served_after_s": float(first_ok.min() - t_change) if len(first_ok) and changed_at else None,
        "last_failure_after_s": float(last_bad.max() - t_change) if len(last_bad) and changed_at else None,
    }


# ------------------------------------------------------------------------------------ charts


def markers(run: ProbeRun, events: Sequence[TimelineEvent], *, min_gap: float = 0.03
            ) -> list[tuple[datetime, str]]:
    """The events drawn on a chart of ``run``: those marked and inside the recording, in time
    order; an event closer than ``min_gap`` of the run's length to the previous marker joins its
    label (``rollout complete · istiod 1-19-3 push [2]``) so that labels never overlap."""
    span = max(run.elapsed_s, 1e-9)
    out: list[tuple[datetime, str]] = []
    for e in sorted(events, key=lambda e: e.time):
        if not e.marker or not -0.05 <= run.at(e.time) <= run.elapsed_s + 0.05:
            continue
        if out and (run.at(e.time) - run.at(out[-1][0])) < min_gap * span:
            out[-1] = (out[-1][0], f"{out[-1][1]} · {e.label}")
        else:
            out.append((e.time, e.label))
    return out


def _label_boxes(fig: Figure) -> None:
    # marker labels are drawn over the data: a light box keeps them readable
    for ax in fig.axes:
        for text in ax.texts:
            text.set_bbox({"facecolor": "white", "alpha": 0.75, "edgecolor": "none", "pad": 1.0})


def timeline_chart(run: ProbeRun, events: Sequence[TimelineEvent]) -> Figure:
    """Every request of the recording over time, failures (HTTP >= 400 too) as red crosses, and a
    vertical marker per event that falls inside the recording (:func:`markers`)."""
    fig = latency_timeline(as_failures(run), events=markers(run, events))
    fig.axes[0].set_title(chart_text(f"{run.label}: {run.method} {_path(run.url)} (Host: {run.host}) "
                                     f"at {run.qps:g}/s — HTTP >= 400 counted as failed", limit=200))
    _label_boxes(fig)
    return fig


#: outcome class → colour of :func:`outcomes_chart` (served green, client errors amber, the rest red)
_CLASS_COLOURS = {"2xx/3xx": "#5aa469", "4xx": "#e0b040", "5xx": "#e4743c", "no answer": ERROR_COLOR}


def outcomes_chart(run: ProbeRun, events: Sequence[TimelineEvent], *, bin_s: float | None = None
                   ) -> Figure:
    """Requests per time bin, stacked by outcome class (served, 4xx, 5xx, no answer), with the
    same event markers as :func:`timeline_chart`: when users stopped getting errors, at a glance.

    Args:
        bin_s: the bin width; default about 1/30 of the run and at least five requests' worth of
            the probe's rate, so that a bin's mix means something.
    """
    s = run.samples
    fig = Figure(figsize=(10, 3.2), layout="constrained")
    ax = fig.add_subplot()
    span = float(s["intended_start"].max()) if len(s) else 0.0
    width = bin_s or _nice(max(span / 30, 5 / run.qps if run.qps else 0.1, 0.1))
    ax.set_title(chart_text(f"{run.label}: outcome of each request, per {width:g} s of intended "
                            "send time", limit=200))
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel(f"requests per {width:g} s")
    if s.empty:
        ax.text(0.5, 0.5, "no requests", ha="center", va="center", transform=ax.transAxes)
        return fig
    classes = np.where(s["error_kind"] != "", "no answer",
                       np.where(s["status"] >= 500, "5xx", np.where(s["status"] >= 400, "4xx", "2xx/3xx")))
    bins = np.floor(s["intended_start"].to_numpy() / width).astype(int)
    counts = pd.crosstab(bins, classes)
    bottom = np.zeros(len(counts))
    x = counts.index.to_numpy() * width
    for name, colour in _CLASS_COLOURS.items():
        if name not in counts.columns:
            continue
        values = counts[name].to_numpy()
        ax.bar(x, values, width=width, bottom=bottom, align="edge", color=colour, label=name,
               edgecolor="white", linewidth=0.5)
        bottom += values
    for when, label in markers(run, events):
        t = run.at(when)
        ax.axvline(t, color="#2c3e50", linewidth=1.2, linestyle="-.")
        ax.text(t, 1.0, f" {chart_text(label)}", transform=ax.get_xaxis_transform(), rotation=90,
                va="top", ha="right", fontsize=8, color="#2c3e50")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    _label_boxes(fig)
    return fig


def _nice(value: float) -> float:
    """The smallest of 0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10 … that is >= ``value``."""
    scale = 10 ** math.floor(math.log10(value))
    return next(m * scale for m in (1, 2, 2.5, 5, 10) if m * scale >= value - 1e-12)


def _path(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return rest[rest.find("/"):] if "/" in rest else "/"
