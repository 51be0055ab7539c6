"""The mesh functions against the living sandbox: diagnose, fix, roll out, confirm pushes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runbook.apps import app_path
from runbook.errors import InputError
from runbook.fix import AuditLog, plan_fix
from runbook.fix.actions import recreate_workloads
from runbook.kube import Cluster, connect
from runbook.kube.apply import apply_manifests
from runbook.mesh.observe import config_pushes, confirm_push, diagnose_cluster
from runbook.mesh.pushes import PUSH_COLUMNS
from runbook.mesh.rollout import POD_COLUMNS, wait_for_rollout
from runbook.sandbox import Sandbox

ALPHA, BETA = "l7-traffic-alpha", "l7-traffic-beta"


@pytest.fixture
def live_sandbox() -> Iterator[tuple[Sandbox, Cluster]]:
    """The seed world on a real clock with fast pod starts (polling code needs time to pass), and
    the official client on it."""
    with Sandbox(scenario="seed-incident", pod_start_seconds=0.05) as sb:
        c = connect(sb.kubeconfig_path, "sandbox")
        yield sb, c
        c.close()


@pytest.fixture
def live(live_sandbox: tuple[Sandbox, Cluster]) -> Cluster:
    return live_sandbox[1]


def _lists(sandbox: Sandbox, resource: str) -> int:
    return sum(1 for r in sandbox.requests.records()
               if r.verb == "list" and r.path.endswith(f"/{resource}"))


def test_a_rollout_wait_lists_pods_and_replicasets_at_most_once_per_poll(
        live_sandbox: tuple[Sandbox, Cluster]) -> None:
    sandbox, cluster = live_sandbox
    sandbox.requests.clear()
    done = wait_for_rollout(cluster, "istio-canary", timeout=30, poll=0.1, progress=False)
    assert done.ok and len(done.pods) == 3, done.summary()
    # one poll when the world is settled; a later poll only when the first did not add up
    polls = _lists(sandbox, "deployments")
    assert 1 <= _lists(sandbox, "pods") == _lists(sandbox, "replicasets") <= polls
    apply_manifests(cluster, app_path("bookinfo"), namespace=ALPHA)
    sandbox.requests.clear()
    stuck = wait_for_rollout(cluster, ALPHA, timeout=0.5, poll=0.1, progress=False)
    assert not stuck.ok
    # polls that find Deployments incomplete list nothing more; the table lists once at the end
    assert _lists(sandbox, "deployments") >= 1
    assert _lists(sandbox, "pods") == _lists(sandbox, "replicasets") == 1


def test_bookinfo_stays_down_and_the_rollout_names_why(live: Cluster) -> None:
    apply_manifests(live, app_path("bookinfo"), namespace=ALPHA)
    rollout = wait_for_rollout(live, ALPHA, timeout=1.0, poll=0.1, progress=False)
    assert not rollout.ok and len(rollout.stuck) == 6
    assert 'service "istiod-1-18-5" not found' in rollout.stuck[0]
    assert "02-diagnose-pods-not-created" in rollout.summary()
    assert list(rollout.pods.columns) == POD_COLUMNS and rollout.pods.empty


def test_a_refused_rollout_ends_at_the_second_look_not_at_the_timeout(live: Cluster) -> None:
    apply_manifests(live, app_path("bookinfo"), namespace=ALPHA)
    rollout = wait_for_rollout(live, ALPHA, timeout=30, poll=0.1, progress=False,
                               stop_when_refused=True)
    assert not rollout.ok and rollout.refused and len(rollout.stuck) == 6
    assert rollout.seconds < 10, rollout.seconds  # one poll after the first look, not 30 s
    assert "refused: ReplicaFailure" in rollout.summary()
    # the controller was seen retrying: every stuck line counts more than one FailedCreate
    assert all("FailedCreate (x1)" not in line for line in rollout.stuck), rollout.stuck


def test_a_rollout_that_can_complete_is_not_cut_short_by_stop_when_refused(live: Cluster) -> None:
    apply_manifests(live, app_path("bookinfo"), namespace=BETA)
    rollout = wait_for_rollout(live, BETA, timeout=30, poll=0.1, progress=False,
                               stop_when_refused=True)
    assert rollout.ok and not rollout.refused, rollout.summary()


def test_diagnose_fix_recreate_ends_with_sidecars_of_the_revision_behind_the_service(
        live: Cluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    apply_manifests(live, app_path("bookinfo"), namespace=ALPHA)
    wait_for_rollout(live, ALPHA, timeout=0.5, poll=0.1, progress=False)
    _, findings = diagnose_cluster(live, namespace=ALPHA)
    (chain,) = [f for f in findings if f.code == "MR101"]
    assert chain.fix is not None and chain.fix.params["service_namespace"] == "istio-canary"
    audit = AuditLog(tmp_path / "audit.jsonl")
    plan_fix(live, chain.fix).apply(live, confirm="sandbox", audit=audit)
    recreate_workloads(live, ALPHA).apply(live, audit=audit)
    rollout = wait_for_rollout(live, ALPHA, timeout=30, poll=0.1, progress=False)
    assert rollout.ok, rollout.summary()
    assert len(rollout.pods) == 6
    assert set(rollout.pods.ready) == {"2/2"} and set(rollout.pods.status) == {"Running"}
    # the Service istio-canary/istiod-1-18-5 selects the 1-19-3 istiod: the report's surprise
    assert set(rollout.pods.revision) == {"1-19-3"}
    assert set(rollout.pods.proxy_image) == {"docker.io/istio/proxyv2:1.19.3"}
    _, after = diagnose_cluster(live, namespace=ALPHA)
    assert not [f for f in after if f.severity == "error"]
    assert len(audit.read()) == 7


def test_diagnose_refuses_an_unknown_namespace(live: Cluster) -> None:
    with pytest.raises(InputError, match="namespace 'l7-traffic-gamma' does not exist"):
        diagnose_cluster(live, namespace="l7-traffic-gamma")


def test_each_revision_pushes_the_config_of_the_namespaces_it_watches(live: Cluster) -> None:
    apply_manifests(live, app_path("bookinfo-gateway"), namespace=ALPHA)
    alpha = confirm_push(live, "Gateway", "bookinfo-gateway", ALPHA, timeout=10, poll=0.1)
    assert alpha.confirmed, alpha.summary
    assert alpha.expected == ["1-19-3"] and alpha.not_watching == ["1-18-5"]
    vs = confirm_push(live, "VirtualService", "bookinfo", ALPHA, timeout=10, poll=0.1)
    assert vs.confirmed, vs.summary
    apply_manifests(live, app_path("sample-gateway-fixed"), namespace=BETA)
    beta = confirm_push(live, "Gateway", "nginx-sample-gateway", BETA, timeout=10, poll=0.1)
    assert beta.confirmed and beta.expected == ["1-18-5"], beta.summary
    frame = config_pushes(live)
    assert list(frame.columns) == list(PUSH_COLUMNS)
    assert set(frame.revision) == {"1-18-5", "1-19-3"}


def test_confirm_push_of_an_unknown_kind_is_bad_input(live: Cluster) -> None:
    with pytest.raises(InputError, match="unknown kind 'Gatewy'"):
        confirm_push(live, "Gatewy", "x", ALPHA)


def test_waiting_on_an_empty_namespace_says_so(live: Cluster) -> None:
    rollout = wait_for_rollout(live, BETA, timeout=0.5, poll=0.1, progress=False)
    assert rollout.summary() == f"no Deployments in {BETA}: nothing to wait for"
