"""Charts render to PNG (Agg) and carry the axes, lines and labels a reader relies on."""

from __future__ import annotations

import io
from datetime import timedelta

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from runbook.probe import ProbeRun, probe
from runbook.ui import charts

from .test_stats import LAT, make_run, make_samples

matplotlib.use("Agg")


def png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60)
    data = buf.getvalue()
    assert data.startswith(b"\x89PNG") and len(data) > 2000
    return data


def texts(fig: Figure) -> list[str]:
    found = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
    return [t for t in found if t]


@pytest.fixture(scope="module")
def measured() -> ProbeRun:
    """A real run with Envoy's upstream header, a new connection per request and some failures."""
    from .conftest import start_backend, stop_backend

    backend, thread = start_backend()
    try:
        ok = probe(backend.url("/delay?ms=2&upstream=1"), count=30, concurrency=2)
        failed = probe(backend.url("/hang"), count=2, timeout=0.05)
    finally:
        stop_backend(backend, thread)
    import pandas as pd

    later = failed.samples.assign(seq=failed.samples["seq"] + 30)
    samples = pd.concat([ok.samples, later], ignore_index=True)
    ok.samples = samples
    return ok


def test_histogram_has_percentile_markers(measured: ProbeRun) -> None:
    fig = charts.latency_histogram(measured)
    png(fig)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "latency (ms)" and ax.get_ylabel() == "requests"
    assert ax.get_xscale() == "log"
    assert len(ax.patches) == 40
    labels = " ".join(texts(fig))
    for name in ("p50", "p90", "p99", "p99.9"):
        assert f" {name} " in labels
    assert len([ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]) == 4  # one per percentile
    assert "2 failed requests (not in the histogram)" in labels


def test_cdf_is_on_a_log_axis(measured: ProbeRun) -> None:
    fig = charts.latency_cdf(measured)
    png(fig)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_ylim() == (0, 1.02)
    step = ax.get_lines()[0]
    y = step.get_ydata()
    assert y[-1] == 1.0 and np.all(np.diff(y) >= 0)


def test_timeline_marks_errors_and_events(measured: ProbeRun) -> None:
    fix_applied = measured.started_at + timedelta(seconds=0.01)
    fig = charts.latency_timeline(measured, events=[(fix_applied, "fix applied"), (0.02, "config pushed")])
    png(fig)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "latency (ms)"
    labels = texts(fig)
    assert " fix applied" in labels and " config pushed" in labels
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "response (30)"
    assert legend[1].startswith("rolling p99")
    assert legend[2] == "failed (timeout 2)"
    event_lines = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-."]
    assert [ln.get_xdata()[0] for ln in event_lines] == pytest.approx([0.01, 0.02])


def test_phase_breakdown(measured: ProbeRun) -> None:
    fig = charts.phase_breakdown_chart(measured)
    png(fig)
    left, right = fig.axes
    assert [t.get_text() for t in left.get_yticklabels()] == ["all", "new connection", "reused connection"]
    legend = [t.get_text() for t in left.get_legend().get_texts()]
    assert legend == ["dns", "connect", "tls", "waiting", "download"]
    assert len(left.patches) == 15 and len(right.patches) == 10


def test_upstream_split(measured: ProbeRun) -> None:
    fig = charts.upstream_split_chart(measured)
    png(fig)
    left, right = fig.axes
    assert left.get_xscale() == "log" and len(left.get_lines()) == 3
    assert [t.get_text() for t in right.get_legend().get_texts()] == ["upstream", "gateway"]
    # without the header the chart says so instead of drawing nothing silently
    plain = make_run(make_samples([1.0, 2.0]))
    shown = texts(charts.upstream_split_chart(plain))
    assert "no x-envoy-upstream-service-time header in the responses" in shown


def test_compare_runs_chart_table() -> None:
    prod = make_run(make_samples(LAT), label="prod")
    canary = make_run(make_samples(LAT * 3, errors={0: "reset"}), label="canary")
    fig = charts.compare_runs_chart([prod, canary])
    png(fig)
    top = fig.axes[0]
    assert top.get_xscale() == "log"
    assert [t.get_text() for t in top.get_legend().get_texts()] == ["prod", "canary"]
    table = fig.axes[1].tables[0]
    cells = {key: cell.get_text().get_text() for key, cell in table.get_celld().items()}
    assert cells[(0, 8)] == "p99_vs_first" and cells[(2, -1)] == "canary"
    assert cells[(1, 8)] == "1.00×" and cells[(2, 1)] == "1"  # canary: one error
    assert cells[(2, 8)] == f"{np.percentile(np.delete(LAT * 3, 0), 99) / np.percentile(LAT, 99):.2f}×"


def test_empty_runs_render() -> None:
    empty = make_run(make_samples([1.0], errors={0: "refused"}))
    # each chart says why it has nothing to draw; the timeline still draws the failed request
    said = {charts.latency_histogram: "no complete responses", charts.latency_cdf: "no complete responses",
            charts.phase_breakdown_chart: "no complete responses",
            charts.upstream_split_chart: "no x-envoy-upstream-service-time header in the responses",
            charts.latency_timeline: "failed (refused 1)"}
    for chart, text in said.items():
        fig = chart(empty)
        png(fig)
        assert text in texts(fig), (chart.__name__, texts(fig))
