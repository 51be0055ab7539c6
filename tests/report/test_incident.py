"""runbook.report.incident_report: the incident as one report (notebook 06).

Pure parts with plain data (outcomes, HTTP errors as failures, events, markers, recovery, grouped
audit rows, the summary's HTML); then the whole flow against a seed-incident sandbox with a real
clock — replay only on the sandbox and only when the incident is not live, the background probe
across the fix (503s, then 200s, with the fix, rollout and push events on its clock), the summary,
a dry run that changes nothing, and the exercise's check before and after its solution; finally
notebook 06 itself after the incident was fixed (the replay path the demo takes).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from matplotlib.figure import Figure

from runbook import kinds as k
from runbook.exercises import check_report_exercise
from runbook.fix import AuditLog, AuditRecord, proposed_fix, run_fix
from runbook.fix.actions import set_tag_revision
from runbook.fix.flow import recreate_suggestion
from runbook.kube import Cluster, connect
from runbook.mesh.observe import diagnose_cluster, read_mesh
from runbook.mesh.pushes import pushes_frame
from runbook.mesh.rollout import wait_for_rollout
from runbook.probe import COLUMNS, ProbeRun
from runbook.report import run_notebook
from runbook.report.incident_report import (
    IncidentReport,
    Measurement,
    Recording,
    TimelineEvent,
    as_failures,
    audit_events,
    comparison_table,
    events_frame,
    group_records,
    incident_live,
    markers,
    outcomes,
    push_events,
    recovery,
    replay_incident,
    sections_record,
)
from runbook.sandbox import Sandbox
from runbook.ui.tables import tidy
from tests.sandbox_dataplane.helpers import CANARY, PROD, free_node_ports, move_node_ports

NS, TAG = "l7-traffic-alpha", "istio-revision-tag-prod-canary"
HOST, PAGE = "bookinfo-gateway.test", "/productpage"
NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "06-incident-report.ipynb"
T0 = datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC)


def _run(rows: list[tuple[float, int, str]], *, qps: float = 10.0, label: str = "run") -> ProbeRun:
    """A ProbeRun from (intended_start, status, error_kind) rows; latency 1 ms for 503s, 20 ms else."""
    records = []
    for seq, (t, status, kind) in enumerate(rows):
        latency = 1.0 if status >= 400 else 20.0 if not kind else 5000.0
        records.append({"seq": seq, "connection_id": 1, "reused": seq > 0, "intended_start": t,
                        "actual_start": t, "dns_ms": 0.0, "connect_ms": 0.0, "tls_ms": 0.0,
                        "ttfb_ms": latency, "total_ms": latency, "latency_ms": latency,
                        "status": status, "bytes": 19 if status == 503 else 0 if kind else 3360,
                        "server": "" if kind else "istio-envoy", "upstream_ms": float("nan"),
                        "error_kind": kind, "error": "timed out" if kind else ""})
    samples = pd.DataFrame(records, columns=list(COLUMNS))
    end = max((r[0] for r in rows), default=0.0) + 0.05
    return ProbeRun(samples=samples, url=f"http://127.0.0.1:32232{PAGE}", host=HOST, method="GET",
                    concurrency=1, qps=qps, count=None, duration=end, timeout=5.0, label=label,
                    started_at=T0, elapsed_s=end, scheduled=len(rows))


def _incident_run() -> ProbeRun:
    """2 s of 503s, a timeout, then 2 s of 200s, at 10/s."""
    rows = [(i / 10, 503, "") for i in range(20)] + [(2.0, 0, "timeout")]
    rows += [(2.1 + i / 10, 200, "") for i in range(20)]
    return _run(rows)


# ------------------------------------------------------------------------------- pure parts


def test_http_errors_count_as_failures_without_touching_the_run() -> None:
    run = _incident_run()
    failed = as_failures(run)
    assert (run.samples["error_kind"] == "").sum() == 40  # the probe's own view is unchanged
    kinds = failed.samples["error_kind"].value_counts().to_dict()
    assert kinds == {"": 20, "http_503": 20, "timeout": 1}
    summary = failed.summary()
    assert (summary["ok"], summary["errors"]) == (20, 21)
    assert summary["p50_ms"] == pytest.approx(20.0)  # the served requests' latency, not the 503s'


def test_outcomes_table_says_what_users_got_and_when() -> None:
    table = outcomes(_incident_run().samples)
    assert list(table["outcome"]) == ["HTTP 200", "HTTP 503", "timeout"]  # served first
    assert list(table["level"]) == ["served", "failed", "failed"]
    row = table.set_index("outcome").loc["HTTP 503"]
    assert (row["requests"], row["first_s"], row["last_s"]) == (20, 0.0, pytest.approx(1.9))
    assert row["share"] == pytest.approx(20 / 41)
    assert row["detail"] == "19 bytes, server: istio-envoy"
    assert table.set_index("outcome").loc["timeout", "detail"] == "timed out"
    assert outcomes(_run([]).samples).empty


def test_comparison_counts_failures_apart_from_latency() -> None:
    before = _run([(i / 10, 503, "") for i in range(10)], label="before")
    after = _run([(i / 10, 200, "") for i in range(10)], label="after")
    table = comparison_table([before, after])
    assert list(table.index) == ["before", "after"]
    assert list(table["failed"]) == [10, 0] and list(table["served"]) == [0, 10]
    assert table.loc["before", "outcomes"] == "HTTP 503 × 10"
    assert pd.isna(table.loc["before", "p50_ms"]) and table.loc["after", "p50_ms"] == 20.0


def test_recovery_is_counted_from_the_change() -> None:
    run = _incident_run()
    rec = recovery(run, T0 + timedelta(seconds=1.5))
    assert (rec["failed_before"], rec["served_before"]) == (15, 0)
    assert (rec["failed_after"], rec["served_after"]) == (6, 20)
    assert rec["first_served_after_s"] == pytest.approx(0.6)
    assert rec["last_failure_after_s"] == pytest.approx(0.5)
    assert recovery(run, None)["first_served_after_s"] is None


def test_markers_inside_the_recording_and_close_ones_share_a_label() -> None:
    run = _incident_run()  # 4.15 s long
    at = lambda s: T0 + timedelta(seconds=s)  # noqa: E731
    events = [TimelineEvent(at(-5), "sandbox reset", "audit"),
              TimelineEvent(at(1.5), "fix applied", "audit"),
              TimelineEvent(at(2.2), "rollout complete", "rollout"),
              TimelineEvent(at(2.25), "istiod 1-19-3 push [2]", "istiod"),
              TimelineEvent(at(3.0), "probe after", "report", marker=False),
              TimelineEvent(at(60), "later", "report")]
    assert markers(run, events) == [(at(1.5), "fix applied"),
                                    (at(2.2), "rollout complete · istiod 1-19-3 push [2]")]
    table = events_frame(events, run)
    assert list(table["event"])[:2] == ["sandbox reset", "fix applied"]
    assert list(table["t_s"])[:2] == [-5.0, 1.5]


def test_push_events_from_istiod_log_lines() -> None:
    log = "\n".join([
        "2026-01-05T10:00:01.000000Z\tinfo\tads\tPush debounce stable[7] 1 for config "
        "Gateway/l7-traffic-alpha/bookinfo-gateway: 100.1ms since last change, 100.1ms since last push, "
        "full=true",
        "2026-01-05T10:00:02.500000Z\tinfo\tads\tPush debounce stable[8] 3 for config "
        "ServiceEntry/l7-traffic-alpha/productpage.l7-traffic-alpha.svc.cluster.local and 2 more configs: "
        "100.2ms since last change, 100.2ms since last push, full=false",
        "2026-01-05T10:00:03.000000Z\tinfo\tads\tPush debounce stable[9] 1 for config "
        "Gateway/l7-traffic-beta/nginx-sample-gateway: 100.1ms since last change, 100.1ms since last "
        "push, full=true",
    ])
    pod = {"metadata": {"namespace": "istio-canary", "name": "istiod-1-19-3-abc",
                        "labels": {"istio.io/rev": "1-19-3"}}}
    frame = pushes_frame({("istio-canary", "istiod-1-19-3-abc"): log}, [pod])
    events = push_events(frame, NS, ["1-19-3"], since=T0 + timedelta(seconds=2))
    assert [e.label for e in events] == ["istiod 1-19-3 push [8]"]  # [7] is too early, [9] elsewhere
    assert "incremental" in events[0].detail and "and 2 more configs" in events[0].detail
    assert push_events(frame, NS, ["1-18-5"]) == []  # a revision that does not watch the namespace
    many = push_events(frame, NS, ["1-19-3"], limit=1)
    assert [e.marker for e in many] == [True, False]


def test_audit_rows_are_grouped_per_step_and_events_take_the_first_applied() -> None:
    def rec(obj: str, result: str = "applied", action: str = "apply", ms: int = 0) -> AuditRecord:
        return AuditRecord(action=action, plan="Rollout restart", step="rollout restart",
                           context="prod-eu", server="https://k8s", user="alice", object=obj,
                           result=result, time=(T0 + timedelta(milliseconds=ms)).isoformat())
    records = [rec("Deployment/ns/a", "dry-run", "dry-run"), rec("Deployment/ns/b", "dry-run", "dry-run"),
               rec("Deployment/ns/a", ms=10), rec("Deployment/ns/b", ms=20), rec("Deployment/ns/c", ms=30)]
    rows = group_records(records)
    assert list(rows["object"]) == ["Deployment/ns/a (+1 more: b)", "Deployment/ns/a (+2 more: b, c)"]
    assert list(rows["result"]) == ["dry-run", "applied"]
    assert rows["time"].iloc[1] == "2026-01-05 10:00:00.010"
    (event,) = audit_events(records, "workloads recreated")
    assert event.time == T0 + timedelta(milliseconds=10)
    assert "(+2 more objects)" in event.detail and "user alice" in event.detail
    assert audit_events(records[:2], "nothing applied") == []


def test_summary_record_escapes_what_it_shows() -> None:
    record = sections_record("Incident <x>", False, [("What was wrong", ["a <b> & c"])], ["kubectl get ns"])
    assert "&lt;b&gt; &amp; c" in record.html and "<b>" not in record.text.replace("a <b>", "")
    assert record.text.splitlines()[0] == "✗ Incident <x>"
    assert "$ kubectl get ns" in record.text and record.ok is False


def test_lists_in_cells_read_as_text() -> None:
    frame = tidy(pd.DataFrame({"services": [["istiod-1-18-5", "istiod-revision"], []], "n": [1, 2]}))
    assert list(frame["services"]) == ["istiod-1-18-5, istiod-revision", "—"]


class _Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(503)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/productpage"
    server.shutdown()
    server.server_close()
    thread.join()


def test_recording_runs_until_stopped_and_its_schedule_ends_there(local_server: str) -> None:
    recording = Recording(local_server, HOST, qps=50, concurrency=2, max_seconds=60).start(lead_s=0.3)
    assert recording.running
    run = recording.stop(tail_s=0.2)
    assert not recording.running and run is not None
    assert 0.4 <= run.elapsed_s < 5  # stopped long before its 60 s bound
    summary = run.summary()
    assert summary["status_codes"] == {"503": summary["count"]}
    # the schedule ends where it was stopped: nothing "unsent" because of the stop itself
    assert summary["unsent"] is not None and summary["unsent"] <= 2


# ------------------------------------------------------------------------------- the living sandbox


@pytest.fixture
def world() -> Iterator[tuple[Sandbox, Cluster]]:
    """A fresh seed-incident sandbox (real clock); the gateways on node ports free right now."""
    with Sandbox(scenario="seed-incident", clock="real") as sb:
        cluster = connect(sb.kubeconfig_path, "sandbox")
        prod, canary, prod_status, canary_status = free_node_ports(4)
        move_node_ports(cluster, PROD, {"http2": prod, "status-port": prod_status})
        move_node_ports(cluster, CANARY, {"http2": canary, "status-port": canary_status})
        yield sb, cluster
        cluster.close()


def _targets(cluster: Cluster) -> list[str]:
    hooks = cluster.get(k.MUTATING_WEBHOOKS, TAG)["webhooks"]
    return [f"{h['clientConfig']['service']['namespace']}/{h['clientConfig']['service']['name']}"
            for h in hooks]


def _fix_it(cluster: Cluster, audit: AuditLog) -> None:
    _, findings = diagnose_cluster(cluster, namespace=NS)
    assert run_fix(cluster, proposed_fix(findings, NS), apply=True, confirm=cluster.context,
                   audit=audit).status == "applied"


@pytest.mark.slow
def test_replay_only_on_the_sandbox_and_only_when_the_incident_is_not_live(
        world: tuple[Sandbox, Cluster], tmp_path: Path) -> None:
    _sb, cluster = world
    audit = AuditLog(tmp_path / "audit.jsonl")
    live = replay_incident(cluster, NS, audit=audit)
    assert (live.live, live.reset) == (True, False) and "nothing to replay" in live.note

    _fix_it(cluster, audit)
    assert _targets(cluster) == ["istio-canary/istiod-1-18-5"] * 2
    kept = replay_incident(cluster, NS, enabled=False, audit=audit)
    assert (kept.live, kept.reset) == (False, False) and "replay_incident = False" in kept.note
    # a connection that is not the sandbox is never reset, whatever the parameter says
    elsewhere = replay_incident(dataclasses.replace(cluster, is_sandbox=False), NS, audit=audit)
    assert not elsewhere.reset and "is not the sandbox" in elsewhere.note
    assert _targets(cluster) == ["istio-canary/istiod-1-18-5"] * 2

    replayed = replay_incident(cluster, NS, audit=audit)
    assert (replayed.live, replayed.reset, replayed.live_after) == (False, True, True)
    assert replayed.scenario == "seed-incident"
    assert _targets(cluster) == ["istio-system/istiod-1-18-5"] * 2  # the broken webhook is back
    _, findings = diagnose_cluster(cluster, namespace=NS)
    assert incident_live(findings, NS)
    (record,) = [r for r in audit.read() if r.action == "reset"]
    assert (record.result, record.object, record.context) == ("applied", "sandbox/seed-incident", "sandbox")
    assert "sandbox reset" in str(replayed) and "runbook sandbox reset" in replayed.record().text


@pytest.mark.slow
def test_the_incident_before_during_and_after_the_fix(
        world: tuple[Sandbox, Cluster], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _sb, cluster = world
    monkeypatch.setenv("MESH_RUNBOOK_AUDIT", str(tmp_path / "audit.jsonl"))
    monkeypatch.setenv("MESH_RUNBOOK_HOME", str(tmp_path / "home"))
    report = IncidentReport(cluster, namespace=NS, gateway_namespace=CANARY, host=HOST, path=PAGE,
                            apply_fixes=True)
    assert not report.replay(True).reset  # fresh: the incident is live
    report.deploy()
    assert set(report.deployed["action"]) == {"created"}  # type: ignore[index]
    report.findings_before()
    assert [f.code for f in report.findings if f.severity == "error"] == ["MR101"]

    before = report.measure("before", seconds=1, qps=20)
    assert before.ok and before.served() == (0, before.served()[1]) and before.served()[1] >= 15
    assert set(outcomes(before.run.samples)["outcome"]) == {"HTTP 503"}  # type: ignore[union-attr]
    assert "503 Service Unavailable" in before.head.text()  # type: ignore[union-attr]

    report.start_recording(qps=20, lead_s=0.5)
    fix = report.fix()
    assert report.attempt is not None and report.attempt.status == "applied", str(fix)
    report.recreate()
    assert report.recreated is not None and report.recreated.status == "applied"
    assert "ready after" in report.wait(60).title
    confirmed = report.confirm_pushes(10).data
    assert list(confirmed["confirmed"]) == [True, True]
    report.stop_recording(tail_s=1.0)
    report.findings_after()
    after = report.measure("after", seconds=1, qps=20)
    assert after.served()[0] == after.served()[1] > 0

    # the recording: failures, then served requests — after the fix, never before it
    run, fixed = report.timeline, report.fixed_at()
    assert run is not None and fixed is not None
    rec = recovery(run, fixed)
    assert rec["failed_before"] > 0 and rec["served_before"] == 0
    assert rec["served_after"] > 0 and rec["first_served_after_s"] is not None
    served_at = as_failures(run).samples.query("error_kind == ''")["intended_start"]
    assert served_at.min() >= run.at(fixed)

    events = report.events()
    labels = [e.label for e in events]
    assert {"fix applied", "workloads recreated", "rollout complete"} <= set(labels)
    assert any(e.source == "istiod" and e.time >= run.started_at for e in events)
    order = [labels.index(x) for x in ("fix applied", "workloads recreated", "rollout complete")]
    assert order == sorted(order)
    chart = report.timeline_chart()
    assert isinstance(chart, Figure)
    assert len(chart.axes[0].lines) >= 1 + len(markers(run, events))  # rolling p99 + one line per marker

    summary = report.summary()
    assert summary.ok and "resolved" in summary.title
    assert "MR105 warning" in summary.text
    assert "istioctl tag set prod-canary --revision 1-18-5" in summary.text
    assert "recovery: first request served" in summary.text
    applied = [r for r in report.change_records() if r.result == "applied"]
    assert [r.object for r in applied].count(f"MutatingWebhookConfiguration/{TAG}") == 1
    assert len(applied) == 1 + 6

    # the exercise: not done before its solution, done after it
    not_yet = check_report_exercise(read_mesh(cluster), NS)
    assert not not_yet.passed
    assert any(w.startswith("MR105 still reported") for w in not_yet.still_wrong)
    set_tag_revision(cluster, "prod-canary", "1-18-5").apply(cluster, confirm=cluster.context)
    half = check_report_exercise(read_mesh(cluster), NS)
    assert [w.split(":")[0] for w in half.still_wrong] == ["6 pods have another sidecar"]
    assert run_fix(cluster, recreate_suggestion(NS), apply=True).status == "applied"
    assert wait_for_rollout(cluster, NS, timeout=60, progress=False).ok
    done = check_report_exercise(read_mesh(cluster), NS)
    assert done.passed, done.summary()

    # the report regenerated without replaying: nothing to fix, nothing left to do
    again = IncidentReport(cluster, namespace=NS, gateway_namespace=CANARY, host=HOST, path=PAGE,
                           apply_fixes=True)
    assert again.replay(False).note.startswith("replay_incident = False")
    again.findings_before()
    again.fix()
    again.recreate()
    assert again.attempt is not None and again.attempt.status == "nothing-to-do"
    assert "sidecars from revision 1-18-5" in again.wait(60).title
    again.findings_after()
    text = again.summary().text
    assert "resolved" in text and "nothing was changed: nothing needed fixing" in text
    assert "nothing: no error or warning finding is left" in text


@pytest.mark.slow
def test_without_apply_fixes_nothing_is_changed(
        world: tuple[Sandbox, Cluster], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _sb, cluster = world
    monkeypatch.setenv("MESH_RUNBOOK_AUDIT", str(tmp_path / "audit.jsonl"))
    report = IncidentReport(cluster, namespace=NS, gateway_namespace=CANARY, host=HOST, path=PAGE)
    report.replay(True)
    report.deploy()
    report.findings_before()
    report.fix()
    assert report.attempt is not None and report.attempt.status == "dry-run"
    report.recreate()
    assert report.recreated is not None and report.recreated.applied is None
    rollout = report.wait(60)
    assert rollout.ok is False and report.rollout_done_at is None
    assert _targets(cluster) == ["istio-system/istiod-1-18-5"] * 2
    assert [r for r in report.change_records() if r.result == "applied"] == []
    summary = report.summary()
    assert summary.title == f"Incident in {NS}: not resolved (nothing was applied)"
    assert "apply_fixes = False" in summary.text and "MR101 error" in summary.text


@pytest.mark.slow
def test_a_gateway_that_cannot_be_reached_is_said_not_raised(world: tuple[Sandbox, Cluster]) -> None:
    _sb, cluster = world
    report = IncidentReport(cluster, namespace=NS, gateway_namespace="no-such-namespace", host=HOST,
                            path=PAGE)
    m = report.measure("before", seconds=1)
    assert not m.ok and "no Service no-such-namespace/istio-ingressgateway" in m.error
    assert "not measured" in m.headline() and "not measured" in m.outcomes_view().text  # type: ignore[union-attr]
    note = report.start_recording()
    assert report.recording is None and "no timeline recording" in note.title
    assert "nothing was recorded" in report.timeline_chart().title  # type: ignore[union-attr]


@pytest.mark.slow
@pytest.mark.notebook
def test_notebook_06_replays_an_incident_that_was_fixed(tmp_path: Path) -> None:
    """What ``runbook demo`` does: notebook 06 after the fix (here made directly) resets the
    sandbox, then reports the incident before and after its own fix."""
    with Sandbox(scenario="seed-incident", clock="real") as sb:
        cluster = connect(sb.kubeconfig_path, "sandbox")
        _fix_it(cluster, AuditLog(tmp_path / "earlier.jsonl"))
        cluster.close()
        run = run_notebook(NOTEBOOK, parameters={"apply_fixes": True}, kubeconfig=str(sb.kubeconfig_path),
                           context="sandbox", out_dir=tmp_path / "out", timeout=120)
        run.raise_for_status()
    actions = [(r.action, r.object) for r in run.audit_records if r.result == "applied"]
    assert actions[0] == ("reset", "sandbox/seed-incident")
    assert ("apply", f"MutatingWebhookConfiguration/{TAG}") in actions
    nb = nbformat.read(str(run.executed_path), as_version=4)
    text = "\n".join(str(o.get("text", "")) + str((o.get("data") or {}).get("text/plain", ""))
                     for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "sandbox reset to scenario seed-incident: the incident is live again" in text
    html = run.html_path.read_text()
    if "is held by another program" not in text:  # another sandbox on this machine holds the port
        assert "before: 0 of" in text and "HTTP 503" in text
        assert "after: " in text and "HTTP 200" in text
        assert "fix applied" in html and "data:image/png;base64" in html
    assert "Incident in l7-traffic-alpha: resolved" in text
    assert "not attempted" in text
    assert sb.token not in html


def test_a_measurement_whose_schedule_was_not_kept_says_so_in_its_headline() -> None:
    kept = _run([(i / 10, 200, "") for i in range(20)])
    assert "NOT TRUSTWORTHY" not in Measurement("before", kept.url, HOST, run=kept).headline()
    late = dataclasses.replace(kept, samples=kept.samples.assign(
        actual_start=kept.samples["intended_start"] + [i * 0.05 for i in range(20)]))
    headline = Measurement("before", late.url, HOST, run=late).headline()
    assert headline.startswith("before: 20 of 20 requests served")
    assert "— NOT TRUSTWORTHY: the schedule was not kept — requests left " in headline
