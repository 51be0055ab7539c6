"""Every flow under injected API faults: no crash, no lost or doubled write, every failure explained.

Faults are injected in the sandbox (``parse_fault_spec`` — the same specs as ``runbook sandbox
--faults``); writes are counted twice — what the client sent (its request log) and what the server
committed (the store's commit stream, :class:`~.conftest.WriteCounter`) — and compared with what
the flow reports. Each test records a row for RELIABILITY.md after its assertions.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from runbook import kinds as k
from runbook.apps import app_path
from runbook.errors import ConcurrentChange, PartialApply, Unreachable
from runbook.fix import AuditLog
from runbook.fix.actions import recreate_workloads, relabel_namespace, retarget_webhook, set_tag_revision
from runbook.kube import Cluster, connect
from runbook.kube.apply import apply_manifests
from runbook.kube.objects import comparable
from runbook.mesh.observe import confirm_push, diagnose_cluster, inventory_cluster
from runbook.probe.http import probe
from runbook.sandbox import Sandbox
from runbook.sandbox.apiserver.faults import parse_fault_spec
from tests.probe.conftest import start_backend, stop_backend
from tests.waiting import wait_until

from .conftest import FAST_RETRY, Ledger, WriteCounter, assert_one_clear_line, client_writes

ALPHA = "l7-traffic-alpha"
TAG = "istio-revision-tag-prod-canary"
WEBHOOKS = "mutatingwebhookconfigurations"
#: the client's read timeout in the tests that go beyond it (the sandbox waits longer than this)
SHORT_READ = (2.0, 0.5)


def _inject(sb: Sandbox, spec: str) -> None:
    sb.faults.add(parse_fault_spec(spec))


def _retry_waits(cluster: Cluster, path_part: str) -> list[int]:
    """Attempts of each request whose path contains ``path_part``."""
    return [r.attempts for r in cluster.requests if path_part in r.path]


# ====================================================================== reads: inventory, diagnose


@pytest.fixture(scope="module")
def static_sandbox() -> Iterator[Sandbox]:
    """The seed world on a manual clock: nothing moves, so every read can be compared exactly."""
    with Sandbox(scenario="seed-incident", clock="manual") as sb:
        yield sb


@pytest.fixture(scope="module")
def baseline(static_sandbox: Sandbox) -> dict[str, Any]:
    with connect(static_sandbox.kubeconfig_path, "sandbox") as c:
        return inventory_cluster(c).to_dict()


@pytest.fixture
def reader(static_sandbox: Sandbox) -> Iterator[Cluster]:
    static_sandbox.faults.clear()
    c = connect(static_sandbox.kubeconfig_path, "sandbox", retry=FAST_RETRY, timeout=SHORT_READ)
    yield c
    c.close()
    static_sandbox.faults.clear()


@pytest.mark.parametrize(("spec", "path_part", "attempts"), [
    ("list:pods:503:times=2", "/pods", 3),
    ("list:replicasets.apps:500:times=3", "/replicasets", 4),
    ("list:events:drop:times=2", "/events", 3),
    ("list:deployments:latency=1:times=1", "/deployments", 2),  # beyond the 0.5 s read timeout
    ("list:namespaces:504:times=1", "/namespaces", 2),
])
def test_inventory_survives_transient_read_faults(
        static_sandbox: Sandbox, reader: Cluster, baseline: dict[str, Any], ledger: Ledger,
        spec: str, path_part: str, attempts: int) -> None:
    _inject(static_sandbox, spec)
    inv = inventory_cluster(reader)
    assert inv.to_dict() == baseline  # nothing lost, nothing partial
    assert inv.unreadable == {}
    assert max(_retry_waits(reader, path_part)) == attempts
    assert len(static_sandbox.faults) == 0  # every injected failure really happened
    ledger.record("faults", flow="inventory", fault=spec,
                  outcome=f"same tables as without faults; the list took {attempts} attempts",
                  attempted=0, applied=0, rolled_back=0, lost=0, doubled=0)


def test_429_retry_after_is_honoured_on_reads(static_sandbox: Sandbox, reader: Cluster,
                                               baseline: dict[str, Any], ledger: Ledger) -> None:
    spec = f"list:{WEBHOOKS}:429:retry-after=1,times=1"
    _inject(static_sandbox, spec)
    started = time.monotonic()
    inv = inventory_cluster(reader)
    waited = time.monotonic() - started
    assert inv.to_dict() == baseline
    (record,) = [r for r in reader.requests if r.path.endswith("/" + WEBHOOKS)]
    assert record.attempts == 2 and record.duration_ms >= 1000  # the server said: wait 1 s
    assert waited < 1.0 + 2.0  # … and not much more than that plus the reads themselves
    ledger.record("faults", flow="inventory", fault=spec,
                  outcome=f"waited the Retry-After (1 s, list took {record.duration_ms:.0f} ms), "
                          "then same tables",
                  attempted=0, applied=0, rolled_back=0, lost=0, doubled=0)


def test_a_kind_that_keeps_failing_is_a_finding_not_a_crash(
        static_sandbox: Sandbox, reader: Cluster, ledger: Ledger) -> None:
    spec = f"list:{WEBHOOKS}:503"
    _inject(static_sandbox, spec)
    inv, findings = diagnose_cluster(reader)
    key = k.MUTATING_WEBHOOKS.key
    assert "answered 503" in inv.unreadable[key]
    (finding,) = [f for f in findings if f.code == "MR108"]
    assert finding.severity == "warning" and key in finding.message
    assert "webhook targets, tags and injection cannot be checked" in finding.message
    assert_one_clear_line(finding.message)
    ledger.record("faults", flow="diagnose", fault=spec,
                  outcome="diagnosis completed; warning MR108 names the unreadable kind: "
                          + finding.message[:90] + "…",
                  attempted=0, applied=0, rolled_back=0, lost=0, doubled=0)


def test_latency_beyond_the_read_timeout_is_unreachable_timed_out(
        static_sandbox: Sandbox, reader: Cluster, ledger: Ledger) -> None:
    spec = "list:pods:latency=1"
    _inject(static_sandbox, spec)
    with pytest.raises(Unreachable) as err:
        inventory_cluster(reader)
    message = str(err.value)
    assert "timed out" in message and "while trying to list pods" in message
    assert_one_clear_line(message)
    assert max(_retry_waits(reader, "/pods")) == FAST_RETRY.attempts  # reads were retried
    ledger.record("faults", flow="inventory", fault=spec,
                  outcome=f"{FAST_RETRY.attempts} attempts, then: {message}",
                  attempted=0, applied=0, rolled_back=0, lost=0, doubled=0)


# ====================================================================== fixes: guarded writes


def _retarget(cluster: Cluster) -> Any:
    return retarget_webhook(cluster, TAG, "istio-canary")


def _target_namespaces(cluster: Cluster, name: str = TAG) -> set[str]:
    obj = cluster.get(k.MUTATING_WEBHOOKS, name)
    return {w["clientConfig"]["service"]["namespace"] for w in obj["webhooks"]}


@pytest.mark.parametrize(("spec", "expect"), [
    (f"update:{WEBHOOKS}:503:times=2", "retried (guarded PUT) and applied"),
    (f"update:{WEBHOOKS}:429:retry-after=1,times=1", "waited the Retry-After, applied"),
    (f"update:{WEBHOOKS}:409:times=2", "409 burst: re-read showed nobody else changed it, re-sent"),
    (f"update:{WEBHOOKS}:drop:times=1", "dropped before processing: guarded retry applied it"),
    (f"update:{WEBHOOKS}:drop-response:times=1",
     "applied, answer lost: the retry's stale precondition got 409, read-back shows it applied"),
    (f"update:{WEBHOOKS}:latency=1.5:times=1",
     "timed out (0.5 s); the retry applied it; the late original was refused by its stale rv"),
])
def test_retarget_under_write_faults_applies_exactly_once_and_undoes(
        live_sandbox: Sandbox, writes: WriteCounter, ledger: Ledger, tmp_path: Any,
        spec: str, expect: str) -> None:
    cluster = connect(live_sandbox.kubeconfig_path, "sandbox", retry=FAST_RETRY, timeout=SHORT_READ)
    audit = AuditLog(tmp_path / "audit.jsonl")
    original = comparable(cluster.get(k.MUTATING_WEBHOOKS, TAG))
    plan = _retarget(cluster)
    _inject(live_sandbox, spec)
    sent, logged = len(cluster.requests), len(live_sandbox.requests)
    started = time.monotonic()
    result = plan.apply(cluster, confirm="sandbox", audit=audit)
    took = time.monotonic() - started
    attempted = client_writes(cluster, sent)
    assert result.ok, result.summary()
    assert _target_namespaces(cluster) == {"istio-canary"}
    _wait_until_answered(live_sandbox, logged, attempted)  # a delayed original has its say
    applied = writes.count(k.MUTATING_WEBHOOKS, TAG)
    assert applied == 1, writes.changes  # never twice, never lost
    assert attempted >= 2  # the fault really hit a write
    if "retry-after" in spec:
        assert took >= 1.0
    assert [r.result for r in audit.read()] == ["applied"]
    live_sandbox.faults.clear()
    plan.undo(cluster, confirm="sandbox", audit=audit)
    assert comparable(cluster.get(k.MUTATING_WEBHOOKS, TAG)) == original
    rolled_back = writes.count(k.MUTATING_WEBHOOKS, TAG) - applied
    assert rolled_back == 1
    ledger.record("faults", flow="fix: retarget webhook", fault=spec, outcome=expect,
                  attempted=attempted, applied=applied, rolled_back=rolled_back, lost=0, doubled=0)
    cluster.close()


_WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def _wait_until_answered(sb: Sandbox, logged_before: int, writes_sent: int,
                         timeout: float = 30.0) -> None:
    """Until the sandbox has finished (logged) every write the client sent, late ones included.

    A request the client gave up on (read timeout) is still being processed by the server; it is
    logged when its handler ends, so the request log is the event to wait for.
    """
    wait_until(lambda: sum(1 for r in sb.requests.records()[logged_before:]
                           if r.method in _WRITE_METHODS) >= writes_sent,
               f"the sandbox finishing all {writes_sent} writes", timeout, interval=0.02)


def test_a_sustained_409_burst_is_a_concurrent_change_and_changes_nothing(
        live: Cluster, live_sandbox: Sandbox, writes: WriteCounter, ledger: Ledger,
        tmp_path: Any) -> None:
    spec = f"update:{WEBHOOKS}:409"
    audit = AuditLog(tmp_path / "audit.jsonl")
    plan = _retarget(live)
    _inject(live_sandbox, spec)
    sent = len(live.requests)
    with pytest.raises(ConcurrentChange) as err:
        plan.apply(live, confirm="sandbox", audit=audit)
    attempted = client_writes(live, sent)
    assert_one_clear_line(str(err.value))
    assert "nothing was changed" in str(err.value)
    assert writes.count(k.MUTATING_WEBHOOKS, TAG) == 0
    assert _target_namespaces(live) == {"istio-system"}
    assert [r.result for r in audit.read()] == ["refused"]
    # the burst is over: the same plan applies (its precondition still holds) and undoes
    live_sandbox.faults.clear()
    assert plan.apply(live, confirm="sandbox", audit=audit).ok
    plan.undo(live, confirm="sandbox", audit=audit)
    assert writes.count(k.MUTATING_WEBHOOKS, TAG) == 2
    ledger.record("faults", flow="fix: retarget webhook", fault=spec,
                  outcome=f"refused: {str(err.value)[:110]}…; applied after the burst",
                  attempted=attempted + 2, applied=1, rolled_back=1, lost=0, doubled=0)


def test_relabel_namespace_survives_a_5xx(live: Cluster, live_sandbox: Sandbox,
                                          writes: WriteCounter, ledger: Ledger,
                                          tmp_path: Any) -> None:
    spec = "update:namespaces:503:times=1"
    audit = AuditLog(tmp_path / "audit.jsonl")
    before = comparable(live.get(k.NAMESPACES, ALPHA))
    plan = relabel_namespace(live, ALPHA, "1-19-3")
    _inject(live_sandbox, spec)
    sent = len(live.requests)
    assert plan.apply(live, confirm="sandbox", audit=audit).ok
    attempted = client_writes(live, sent)
    assert live.get(k.NAMESPACES, ALPHA)["metadata"]["labels"]["istio.io/rev"] == "1-19-3"
    assert writes.count(k.NAMESPACES, ALPHA) == 1
    plan.undo(live, confirm="sandbox", audit=audit)
    assert comparable(live.get(k.NAMESPACES, ALPHA)) == before
    assert writes.count(k.NAMESPACES, ALPHA) == 2
    ledger.record("faults", flow="fix: relabel namespace", fault=spec,
                  outcome="retried (guarded PUT) and applied; undo restored the labels",
                  attempted=attempted, applied=1, rolled_back=1, lost=0, doubled=0)


# ------------------------------------------------------------------ a two-step fix, broken midway


SECOND = f"{TAG}-2"


@pytest.fixture
def two_tag_configs(live: Cluster) -> dict[str, Any]:
    """A second configuration of the tag (set-tag then has two steps), and both as they were."""
    first = live.get(k.MUTATING_WEBHOOKS, TAG)
    live.create(k.MUTATING_WEBHOOKS, {**first, "metadata": {
        "name": SECOND, "labels": first["metadata"]["labels"]}})
    return {name: comparable(live.get(k.MUTATING_WEBHOOKS, name)) for name in (TAG, SECOND)}


@pytest.mark.parametrize(("effect", "outcome"), [
    ("500", "partial"),            # the API server keeps failing the second write
    ("drop", "unknown"),           # the connection drops before the server processes it
    ("drop-response", "applied"),  # processed, every answer lost: the read-back settles it
])
def test_set_tag_broken_at_step_two(live: Cluster, live_sandbox: Sandbox,
                                    two_tag_configs: dict[str, Any], writes: WriteCounter,
                                    ledger: Ledger,
                                    tmp_path: Any, effect: str, outcome: str) -> None:
    spec = f"update:{WEBHOOKS}:{effect}:name={SECOND}"
    audit = AuditLog(tmp_path / "audit.jsonl")
    plan = set_tag_revision(live, "prod-canary", "1-19-3")
    assert [s.name for s in plan.steps] == [TAG, SECOND]
    _inject(live_sandbox, spec)
    sent = len(live.requests)
    if outcome == "applied":
        assert plan.apply(live, confirm="sandbox", audit=audit).ok
        message = "both steps applied"
    else:
        with pytest.raises(PartialApply) as err:
            plan.apply(live, confirm="sandbox", audit=audit)
        message = str(err.value)
        assert_one_clear_line(message)
        assert f"completed: MutatingWebhookConfiguration/{TAG}" in message
        assert "undo()" in message
        if outcome == "unknown":
            assert f"outcome unknown: MutatingWebhookConfiguration/{SECOND}" in message
            assert "may still be applied" in message
        assert [s.status for s in err.value.steps] == ["applied", "failed" if outcome == "partial"
                                                       else "unknown"]
    attempted = client_writes(live, sent)
    second_writes = writes.count(k.MUTATING_WEBHOOKS, SECOND)
    assert writes.count(k.MUTATING_WEBHOOKS, TAG) == 1
    assert second_writes == (1 if outcome == "applied" else 0)  # the server's truth
    live_sandbox.faults.clear()
    undo = plan.undo(live, confirm="sandbox", audit=audit)
    for name, was in two_tag_configs.items():
        assert comparable(live.get(k.MUTATING_WEBHOOKS, name)) == was, undo.summary()
    rolled_back = (writes.count(k.MUTATING_WEBHOOKS, TAG) - 1
                   + writes.count(k.MUTATING_WEBHOOKS, SECOND) - second_writes)
    assert rolled_back == 1 + second_writes
    ledger.record("faults", flow="fix: set-tag (2 steps)", fault=spec,
                  outcome=(message if outcome == "applied" else message[:150] + "…")
                  + "; undo after the fault cleared restored both configurations",
                  attempted=attempted, applied=1 + second_writes, rolled_back=rolled_back,
                  lost=0, doubled=0)


def test_undo_of_an_unknown_step_checks_first_and_says_when_it_cannot(
        live: Cluster, live_sandbox: Sandbox, two_tag_configs: dict[str, Any],
        writes: WriteCounter, ledger: Ledger, tmp_path: Any) -> None:
    spec = f"update:{WEBHOOKS}:drop:name={SECOND}"
    still = f"get:{WEBHOOKS}:503:name={SECOND}"
    audit = AuditLog(tmp_path / "audit.jsonl")
    plan = set_tag_revision(live, "prod-canary", "1-19-3")
    _inject(live_sandbox, spec)
    with pytest.raises(PartialApply):
        plan.apply(live, confirm="sandbox", audit=audit)
    _inject(live_sandbox, still)  # the API still fails: the unknown step cannot be checked
    first = plan.undo(live, confirm="sandbox", audit=audit)
    statuses = {s.object: (s.status, s.detail) for s in first.steps}
    assert statuses[f"MutatingWebhookConfiguration/{TAG}"][0] == "undone"
    status, detail = statuses[f"MutatingWebhookConfiguration/{SECOND}"]
    assert status == "failed" and detail.startswith("cannot check whether its change is there")
    assert not first.ok and not plan.undone  # so undo can be run again
    live_sandbox.faults.clear()
    second = plan.undo(live, confirm="sandbox", audit=audit)
    assert second.ok and plan.undone
    assert [(s.object, s.detail) for s in second.steps] == [
        (f"MutatingWebhookConfiguration/{SECOND}", "its change was never applied: nothing to revert")]
    for name, was in two_tag_configs.items():
        assert comparable(live.get(k.MUTATING_WEBHOOKS, name)) == was
    assert writes.count(k.MUTATING_WEBHOOKS, TAG) == 2 and writes.count(k.MUTATING_WEBHOOKS,
                                                                         SECOND) == 0
    ledger.record("faults", flow="fix: set-tag undo", fault=f"{spec} then {still}",
                  outcome="undo reverted step 1, could not check step 2 and said so (not done); "
                          "once the API answered, step 2 was found never applied",
                  attempted=0, applied=1, rolled_back=1, lost=0, doubled=0)


# ------------------------------------------------------------------ recreate


@pytest.fixture
def bookinfo(live: Cluster) -> list[str]:
    """bookinfo applied to the report's namespace (its ReplicaSets fail on the broken webhook)."""
    rows = apply_manifests(live, app_path("bookinfo"), namespace=ALPHA)
    assert set(rows.action) == {"created"}
    return [d["metadata"]["name"] for d in live.list(k.DEPLOYMENTS, ALPHA)]


def test_rollout_restart_under_5xx_restarts_each_deployment_once(
        live: Cluster, live_sandbox: Sandbox, bookinfo: list[str], writes: WriteCounter,
        ledger: Ledger, tmp_path: Any) -> None:
    spec = "update:deployments:503:times=3"
    plan = recreate_workloads(live, ALPHA)
    _inject(live_sandbox, spec)
    sent = len(live.requests)
    assert plan.apply(live, audit=AuditLog(tmp_path / "a.jsonl")).ok
    attempted = client_writes(live, sent)
    # 3 retries; more when a controller's status write moved the resourceVersion (re-read, re-sent)
    assert attempted >= len(bookinfo) + 3
    assert [writes.count(k.DEPLOYMENTS, d, ALPHA) for d in bookinfo] == [1] * len(bookinfo)
    ledger.record("faults", flow="fix: recreate (rollout restart)", fault=spec,
                  outcome=f"{len(bookinfo)} Deployments restarted once each",
                  attempted=attempted, applied=len(bookinfo), rolled_back=0, lost=0, doubled=0)


def test_deleting_replicasets_with_lost_answers_never_deletes_the_recreated_namesake(
        live: Cluster, live_sandbox: Sandbox, bookinfo: list[str], writes: WriteCounter,
        ledger: Ledger, tmp_path: Any) -> None:
    spec = "delete:replicasets:drop-response:times=3"
    plan = recreate_workloads(live, ALPHA, method="delete-replicasets")
    names = [s.name for s in plan.steps]
    _inject(live_sandbox, spec)
    sent = len(live.requests)
    assert plan.apply(live, audit=AuditLog(tmp_path / "a.jsonl")).ok
    attempted = client_writes(live, sent)
    deleted = [writes.count(k.REPLICA_SETS, n, ALPHA, "DELETED") for n in names]
    assert deleted == [1] * len(names), writes.changes  # the controller's new namesake survives
    assert attempted > len(names)  # the lost answers were retried (guarded by uid)
    ledger.record("faults", flow="fix: recreate (delete ReplicaSets)", fault=spec,
                  outcome="answers lost: the uid-guarded retry found each one gone; "
                          "no recreated ReplicaSet deleted",
                  attempted=attempted, applied=len(names), rolled_back=0, lost=0, doubled=0)


# ====================================================================== config apply


def test_apply_refuses_everything_when_validation_fails_under_a_5xx(
        live: Cluster, live_sandbox: Sandbox, writes: WriteCounter, ledger: Ledger) -> None:
    spec = "patch:gateways:503:times=1"
    _inject(live_sandbox, spec)
    rows = apply_manifests(live, app_path("bookinfo-gateway"), namespace=ALPHA)
    failed = rows[rows.action == "failed"]
    assert len(failed) == 1 and set(rows.action) == {"failed", "not-applied"}
    error = str(failed.error.iloc[0])
    assert "answered 503" in error and "patch gateways" in error
    assert_one_clear_line(error)
    assert writes.count(k.GATEWAYS, "bookinfo-gateway", ALPHA) == 0  # nothing applied
    assert writes.count(k.VIRTUAL_SERVICES, "bookinfo", ALPHA) == 0
    again = apply_manifests(live, app_path("bookinfo-gateway"), namespace=ALPHA)
    assert set(again.action) == {"created"}
    ledger.record("faults", flow="config apply", fault=spec,
                  outcome="validation (server dry run) failed: nothing applied, rows explain; "
                          "the re-run created all",
                  attempted=len(again), applied=len(again), rolled_back=0, lost=0, doubled=0)


@pytest.mark.parametrize("effect", ["drop-response", "latency=1"])
def test_apply_with_a_lost_answer_is_settled_by_the_idempotent_reapply(
        live_sandbox: Sandbox, writes: WriteCounter, ledger: Ledger, effect: str) -> None:
    spec = f"patch:virtualservices:{effect}:skip=1,times=1"  # skip: let the dry run through
    cluster = connect(live_sandbox.kubeconfig_path, "sandbox", retry=FAST_RETRY, timeout=SHORT_READ)
    _inject(live_sandbox, spec)
    sent, logged = len(cluster.requests), len(live_sandbox.requests)
    rows = apply_manifests(cluster, app_path("bookinfo-gateway"), namespace=ALPHA)
    attempted = client_writes(cluster, sent)
    assert list(rows.action) == ["created", "created"], rows.error.tolist()
    _wait_until_answered(live_sandbox, logged, attempted)
    assert writes.count(k.VIRTUAL_SERVICES, "bookinfo", ALPHA) == 1  # sent twice, applied once
    assert writes.count(k.GATEWAYS, "bookinfo-gateway", ALPHA) == 1
    ledger.record("faults", flow="config apply", fault=spec,
                  outcome="the answer was lost; server-side apply re-sent once (a no-op): "
                          "created, committed once",
                  attempted=attempted, applied=2, rolled_back=0, lost=0, doubled=0)
    cluster.close()


# ====================================================================== push confirmation


def test_confirm_push_retries_log_reads_and_names_logs_it_cannot_read(
        live: Cluster, live_sandbox: Sandbox, ledger: Ledger) -> None:
    apply_manifests(live, app_path("bookinfo-gateway"), namespace=ALPHA)
    spec = "get:pods:503:times=2"
    _inject(live_sandbox, spec)
    status = confirm_push(live, "Gateway", "bookinfo-gateway", ALPHA, timeout=10, poll=0.1)
    assert status.confirmed, status.summary
    assert not status.unreadable
    ledger.record("faults", flow="confirm_push", fault=spec,
                  outcome="log reads retried; " + status.summary[:100],
                  attempted=0, applied=0, rolled_back=0, lost=0, doubled=0)

    persistent = "get:pods:503:ns=istio-canary"
    _inject(live_sandbox, persistent)
    status = confirm_push(live, "VirtualService", "bookinfo", ALPHA, timeout=0.5, poll=0.1)
    assert not status.confirmed
    assert "logs not readable: istio-canary/istiod-" in status.summary
    assert "answered 503" in status.summary and "retry" in status.summary
    assert "\n" not in status.summary
    ledger.record("faults", flow="confirm_push", fault=persistent,
                  outcome="not confirmed, and says why: " + status.summary.split("; ")[-1][:120],
                  attempted=0, applied=0, rolled_back=0, lost=0, doubled=0)


# ====================================================================== the probe (data plane)


@pytest.mark.parametrize(("path", "kind", "status"), [
    ("/delay?ms=1500", "timeout", 0),  # slower than the probe's timeout
    ("/partial", "", 0),               # the answer is cut mid-body (kind checked below)
    ("/status?code=503", "http_503", 503),  # the gateway answers 503: a failed request too
    ("/rst", "", 0),                   # reset without an answer
])
def test_the_probe_keeps_failures_as_rows(ledger: Ledger, path: str, kind: str,
                                          status: int) -> None:
    backend, thread = start_backend()
    try:
        started = time.monotonic()
        run = probe(backend.url(path), count=4, concurrency=2, timeout=0.3)
        took = time.monotonic() - started
    finally:
        stop_backend(backend, thread)
    samples = run.samples
    assert len(samples) == 4 and took < 3.0  # bounded: no request outlives its timeout
    if status:
        assert set(samples.status) == {status} and set(samples.error_kind) == {kind}
    else:
        assert (samples.error_kind != "").all()
        if kind:
            assert set(samples.error_kind) == {kind}
        assert all("\n" not in e and e for e in samples.error)
    summary = run.summary()
    ledger.record("faults", flow="probe", fault=f"backend {path}",
                  outcome=f"{len(samples)} rows, errors by kind {summary['errors_by_kind'] or '-'}, "
                          f"status codes {summary['status_codes']}; run took {took:.1f} s",
                  attempted=0, applied=0, rolled_back=0, lost=0, doubled=0)


def test_the_probe_against_a_closed_port_reports_refused(ledger: Ledger) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = probe(f"http://127.0.0.1:{port}/", count=3, timeout=0.5)
    assert set(run.samples.error_kind) == {"refused"}
    ledger.record("faults", flow="probe", fault="nothing listens (closed port)",
                  outcome="3 rows of error_kind refused: " + run.samples.error.iloc[0][:60],
                  attempted=0, applied=0, rolled_back=0, lost=0, doubled=0)


def test_unguarded_write_with_a_dropped_connection_is_reported_not_retried(
        live: Cluster, live_sandbox: Sandbox, writes: WriteCounter, ledger: Ledger) -> None:
    """The raw client: a create (no precondition) is never repeated; the error says to check."""
    for effect, happened in (("drop", 0), ("drop-response", 1)):
        name = f"cm-{effect}"
        spec = f"create:configmaps:{effect}:times=1"
        _inject(live_sandbox, spec)
        sent = len(live.requests)
        with pytest.raises(Unreachable) as err:
            live.create(k.CONFIG_MAPS, {"metadata": {"name": name, "namespace": "default"}})
        assert err.value.maybe_applied
        assert client_writes(live, sent) == 1  # not retried: it might have been applied
        message = str(err.value)
        assert "may have applied the create" in message and "check the object" in message
        assert_one_clear_line(message)
        assert writes.count(k.CONFIG_MAPS, name, "default") == happened  # the server's truth
        ledger.record("faults", flow="raw create (unguarded)", fault=spec,
                      outcome=f"not retried; {'was' if happened else 'was not'} applied; "
                              "the error says it may have been and to check",
                      attempted=1, applied=happened, rolled_back=0, lost=0, doubled=0)
