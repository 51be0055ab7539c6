"""The injection failure chains reproduced on the emulated cluster (over HTTP, official client):
the injector deadlock — diagnosed, its way out applied, istiod back — and pods admitted without a
sidecar under ``failurePolicy: Ignore``."""

from __future__ import annotations

from typing import Any

from runbook import kinds as k
from runbook import wellknown as wk
from runbook.apps import app_path
from runbook.fix import plan_fix
from runbook.fix.actions import set_tag_revision
from runbook.kube import Cluster
from runbook.kube.apply import apply_manifests
from runbook.mesh.findings import Finding
from runbook.mesh.observe import diagnose_cluster
from tests.mesh_live.helpers import failing_bookinfo_chain

PROD = "istio-prod"          # revision 1-18-5, served by Service istio-prod/istiod
BETA = "l7-traffic-beta"     # bound to 1-18-5
PROD_INJECTOR = "istio-sidecar-injector-1-18-5-istio-prod"



def _only(findings: list[Finding], code: str) -> Finding:
    found = [f for f in findings if f.code == code]
    assert len(found) == 1, [(f.code, f.message) for f in findings]
    return found[0]


def _istiod_ready(cluster: Cluster) -> int:
    dep = cluster.get(k.DEPLOYMENTS, "istiod-1-18-5", PROD)
    return int((dep.get("status") or {}).get("readyReplicas") or 0)


def _scale_istiod(cluster: Cluster, replicas: int) -> None:
    cluster.patch(k.DEPLOYMENTS, "istiod-1-18-5", {"spec": {"replicas": replicas}}, PROD)


def test_the_injector_deadlock_and_its_way_out(seed_sandbox, world_settle, cluster: Cluster) -> None:  # type: ignore[no-untyped-def]
    assert _istiod_ready(cluster) == 1
    # an operator "injects everything in istio-prod too" and istiod's template lost its opt-out
    _scale_istiod(cluster, 0)
    world_settle(seed_sandbox, 1.0)
    cluster.patch(k.NAMESPACES, PROD, {"metadata": {"labels": {wk.REV_LABEL: "1-18-5"}}})
    cluster.patch(k.DEPLOYMENTS, "istiod-1-18-5", [
        {"op": "remove", "path": "/spec/template/metadata/labels/sidecar.istio.io~1inject"}],
        PROD, patch_type="json")
    _scale_istiod(cluster, 1)
    world_settle(seed_sandbox, 30.0)
    assert _istiod_ready(cluster) == 0                    # nothing can start it

    _, findings = diagnose_cluster(cluster)
    lock = _only(findings, "MR111")
    assert lock.subject.name == PROD_INJECTOR
    chain = next(f for f in findings if f.code == "MR101" and f.subject.name == PROD)
    assert "see MR111" in chain.message
    # the per-pod webhook takes istiod's istio.io/rev label: the way out is the disable label
    command = f"kubectl label namespace {PROD} {wk.INJECTION_LABEL}=disabled --overwrite"
    assert lock.fix is None and command in lock.message
    cluster.patch(k.NAMESPACES, PROD, {"metadata": {"labels": {
        wk.INJECTION_LABEL: "disabled", wk.REV_LABEL: None}}})
    # the ReplicaSet controller retries with back-off; istiod's pod passes admission now
    world_settle(seed_sandbox, 120.0)
    assert _istiod_ready(cluster) == 1
    assert "MR111" not in [f.code for f in diagnose_cluster(cluster)[1]]


def test_failure_policy_ignore_starts_pods_without_sidecars(
        seed_sandbox, world_settle, cluster: Cluster) -> None:  # type: ignore[no-untyped-def]
    cfg: dict[str, Any] = cluster.get(k.MUTATING_WEBHOOKS, PROD_INJECTOR)
    cluster.patch(k.MUTATING_WEBHOOKS, PROD_INJECTOR, [
        {"op": "replace", "path": f"/webhooks/{i}/failurePolicy", "value": "Ignore"}
        for i in range(len(cfg["webhooks"]))], patch_type="json")
    _scale_istiod(cluster, 0)                        # the injector's target answers nobody
    world_settle(seed_sandbox, 1.0)
    apply_manifests(cluster, app_path("bookinfo"), namespace=BETA)
    world_settle(seed_sandbox, 5.0)
    pods = cluster.list(k.PODS, BETA)
    assert pods and not any(c["name"] == "istio-proxy" for p in pods
                            for c in p["spec"]["containers"])

    finding = _only(diagnose_cluster(cluster, namespace=BETA)[1], "MR112")
    assert finding.subject.name == BETA and "repair the target first" in finding.message
    assert finding.fix is not None and "productpage-v1" in finding.fix.params["deployments"]


def test_a_revision_removed_while_its_tag_still_points_at_it(
        seed_sandbox, world_settle, cluster: Cluster) -> None:  # type: ignore[no-untyped-def]
    # the incident fixed the good way (the tag really serves 1-18-5) …
    set_tag_revision(cluster, "prod-canary", "1-18-5").apply(cluster, confirm="sandbox")
    # … then revision 1-18-5 is uninstalled while the tag still names it
    cluster.delete(k.DEPLOYMENTS, "istiod-1-18-5", PROD)
    cluster.delete(k.SERVICES, "istiod", PROD)
    cluster.delete(k.MUTATING_WEBHOOKS, PROD_INJECTOR)
    world_settle(seed_sandbox, 1.0)

    _, findings = diagnose_cluster(cluster)
    tag = next(f for f in findings if f.subject.name == "istio-revision-tag-prod-canary")
    assert tag.code == "IST0139"
    assert any("claims revision 1-18-5, which no istiod runs any more" in e
               for e in tag.evidence)
    assert tag.fix is not None and tag.fix.action == "set-tag-revision"
    assert tag.fix.command == "istioctl tag set prod-canary --revision 1-19-3 -i istio-canary --overwrite"
    # the namespace labelled with the removed revision itself: MR104
    assert any(f.code == "MR104" and f.subject.name == BETA for f in findings)

    plan_fix(cluster, tag.fix).apply(cluster, confirm="sandbox")
    apply_manifests(cluster, app_path("bookinfo"), namespace="l7-traffic-alpha")
    world_settle(seed_sandbox, 5.0)
    pods = cluster.list(k.PODS, "l7-traffic-alpha")
    assert pods and all(any(c["name"] == "istio-proxy" for c in p["spec"]["containers"])
                        for p in pods)


def test_connection_refused_names_the_wrong_target_port(seed_sandbox, world_settle, cluster: Cluster) -> None:  # type: ignore[no-untyped-def]
    svc = cluster.get(k.SERVICES, "istiod", PROD)
    index = next(i for i, p in enumerate(svc["spec"]["ports"]) if p["port"] == 443)
    cluster.patch(k.SERVICES, "istiod", [
        {"op": "replace", "path": f"/spec/ports/{index}/targetPort", "value": 15018}],
        PROD, patch_type="json")
    world_settle(seed_sandbox, 1.0)
    apply_manifests(cluster, app_path("bookinfo"), namespace=BETA)
    world_settle(seed_sandbox, 5.0)
    chain = next(f for f in diagnose_cluster(cluster, namespace=BETA)[1]
                 if f.code == "MR101")
    assert "connection refused" in chain.message
    assert (f"Service {PROD}/istiod sends port 443 to targetPort 15018, but istiod "
            "istiod-1-18-5 listens on") in chain.message


def test_no_endpoints_names_the_istiod_without_pods_and_scaling_it_back_ends_it(
        seed_sandbox, world_settle, cluster: Cluster) -> None:  # type: ignore[no-untyped-def]
    _scale_istiod(cluster, 0)
    world_settle(seed_sandbox, 1.0)
    chain = failing_bookinfo_chain(seed_sandbox, world_settle, cluster, BETA)
    assert any(e.endswith('/inject?timeout=10s": no endpoints available for service "istiod"')
               for e in chain.evidence)
    assert ("finds no istiod to answer (no endpoints available for service \"istiod\"); istiod "
            "istiod-1-18-5 (revision 1-18-5) has 0/0 ready pods — bring the istiod pods back "
            f"(kubectl get pods -n {PROD} -l app=istiod)") in chain.message

    _scale_istiod(cluster, 1)
    world_settle(seed_sandbox, 120.0)   # istiod back; the ReplicaSets retry with back-off
    pods = cluster.list(k.PODS, BETA)
    assert pods and all(any(c["name"] == "istio-proxy" for c in p["spec"]["containers"])
                        for p in pods)
    assert not [f for f in diagnose_cluster(cluster, namespace=BETA)[1] if f.code == "MR101"]
