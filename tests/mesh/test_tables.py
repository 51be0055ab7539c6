"""The inventory tables, read the way the field report read the cluster by hand."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from runbook import kinds as k
from runbook import wellknown as wk
from runbook.mesh import (
    TABLES,
    control_planes,
    frame_records,
    inventory,
    namespace_injection,
    replicaset_events,
    revision_tags,
    webhook_targets,
    workloads,
)
from runbook.snapshot import Snapshot

from .conftest import snapshot_of
from .worlds import REPORT_HASHES, World, report_failure

COLUMNS = {
    "control_planes": [
        "namespace", "revision", "version", "deployment", "image", "desired", "ready_pods",
        "status", "services", "service_ready_endpoints", "injectors", "tags", "tags_reaching",
        "gateways"],
    "revision_tags": [
        "tag", "revision", "configuration", "webhook", "service_namespace", "service_name",
        "service_port", "service_path", "url", "service_exists", "target_status",
        "ready_endpoints", "reached_revisions", "found_in", "namespaces"],
    "namespace_injection": [
        "namespace", "injection_label", "rev_label", "status", "webhooks", "tag",
        "claimed_revision", "target", "effective_revision", "detail", "pod_label_webhooks"],
    "workloads": [
        "namespace", "kind", "name", "deployment", "desired", "current", "ready", "available",
        "conditions", "problem", "sidecar_revisions"],
    "replicaset_events": [
        "namespace", "replicaset", "deployment", "reason", "type", "count", "first_seen",
        "last_seen", "message", "webhook", "url", "target_service", "target_namespace",
        "error_kind"],
    "webhook_targets": [
        "kind", "configuration", "webhook", "injector", "tag", "claimed_revision",
        "failure_policy", "rules", "namespace_selector", "object_selector", "service_namespace",
        "service_name", "service_port", "service_path", "url", "service_exists", "target_status",
        "detail", "ready_endpoints", "endpoint_pods", "reached_revisions", "found_in"],
}
FUNCTIONS: dict[str, Callable[[Any], pd.DataFrame]] = {
    "control_planes": control_planes, "revision_tags": revision_tags,
    "namespace_injection": namespace_injection, "workloads": workloads,
    "replicaset_events": replicaset_events, "webhook_targets": webhook_targets,
}


def row(df: pd.DataFrame, **match: Any) -> dict[str, Any]:
    sel = df
    for col, value in match.items():
        sel = sel[sel[col] == value]
    assert len(sel) == 1, f"{len(sel)} rows match {match}"
    return dict(sel.iloc[0])


@pytest.mark.parametrize("name", TABLES)
def test_columns_are_stable(name: str, seed: World) -> None:
    assert list(FUNCTIONS[name](seed.snapshot()).columns) == COLUMNS[name]
    # an empty cluster gives the same columns and no rows
    empty = FUNCTIONS[name](Snapshot.from_objects([], []))
    assert list(empty.columns) == COLUMNS[name] and empty.empty


def test_control_planes_two_revisions_side_by_side(seed: World) -> None:
    cp = control_planes(seed.snapshot())
    prod = row(cp, namespace="istio-prod")
    assert (prod["revision"], prod["version"], prod["deployment"]) == ("1-18-5", "1.18.5",
                                                                       "istiod-1-18-5")
    assert prod["status"] == "ok" and prod["ready_pods"] == 1
    assert prod["services"] == ["istiod"] and prod["service_ready_endpoints"] == [1]
    assert prod["injectors"] == ["istio-sidecar-injector-1-18-5-istio-prod"]
    # the tag claims 1-18-5 but nothing of 1-18-5 answers its webhooks
    assert prod["tags"] == ["prod-canary"] and prod["tags_reaching"] == []
    assert prod["gateways"] == ["istio-prod/istio-ingressgateway"]
    canary = row(cp, namespace="istio-canary")
    assert (canary["revision"], canary["version"]) == ("1-19-3", "1.19.3")
    # the report's `k get svc -n istio-canary`: a Service named 1-18-5 selects the 1-19-3 pods
    assert canary["services"] == ["istiod-1-18-5", "istiod-revision"]
    assert canary["gateways"] == ["istio-canary/istio-egressgateway",
                                  "istio-canary/istio-ingressgateway"]


def test_revision_tag_points_at_a_missing_service(seed: World) -> None:
    tags = revision_tags(seed.snapshot())
    assert set(tags["webhook"]) == {"rev.namespace.sidecar-injector.istio.io",
                                    "rev.object.sidecar-injector.istio.io"}
    r = row(tags, webhook="rev.namespace.sidecar-injector.istio.io")
    assert (r["tag"], r["revision"], r["configuration"]) == ("prod-canary", "1-18-5",
                                                             "istio-revision-tag-prod-canary")
    assert (r["service_namespace"], r["service_name"], r["service_port"], r["service_path"]) == (
        "istio-system", "istiod-1-18-5", 443, "/inject")
    assert bool(r["service_exists"]) is False
    assert r["target_status"] == "service_not_found"
    assert r["found_in"] == ["istio-canary (revision 1-19-3, 1 ready endpoint)"]
    assert r["namespaces"] == ["l7-traffic-alpha"]


def test_namespace_injection_map(seed: World) -> None:
    inj = namespace_injection(seed.snapshot())
    alpha = row(inj, namespace="l7-traffic-alpha")
    assert alpha["status"] == "target missing"
    assert alpha["rev_label"] == "prod-canary" and pd.isna(alpha["injection_label"])
    assert alpha["webhooks"] == ["istio-revision-tag-prod-canary/rev.namespace.sidecar-injector"
                                 ".istio.io"]
    assert (alpha["tag"], alpha["claimed_revision"]) == ("prod-canary", "1-18-5")
    assert alpha["target"] == "istio-system/istiod-1-18-5:443"
    assert pd.isna(alpha["effective_revision"])
    assert 'service "istiod-1-18-5" not found' in alpha["detail"]
    beta = row(inj, namespace="l7-traffic-beta")
    assert (beta["status"], beta["effective_revision"], beta["target"]) == (
        "ok", "1-18-5", "istio-prod/istiod:443")
    # an unlabelled namespace: no injection, but a pod label istio.io/rev=<rev> would inject
    system = row(inj, namespace="istio-system")
    assert system["status"] == "no injection" and system["webhooks"] == []
    assert len(system["pod_label_webhooks"]) == 3
    assert any("istio.io/rev=prod-canary" in w for w in system["pod_label_webhooks"])


def test_injection_after_the_reports_fix(upstream: Any) -> None:
    from .worlds import seed_world

    inj = namespace_injection(seed_world(upstream, fixed="retarget").snapshot())
    alpha = row(inj, namespace="l7-traffic-alpha")
    # the pods are created again, but by 1.19.3: the tag still claims 1-18-5
    assert (alpha["status"], alpha["claimed_revision"], alpha["effective_revision"]) == (
        "ok", "1-18-5", "1-19-3")
    assert "claims revision 1-18-5 but its target reaches 1-19-3" in alpha["detail"]


def test_workloads_show_the_missing_pods(seed: World) -> None:
    wl = workloads(seed.snapshot())
    rs = wl[(wl["namespace"] == "l7-traffic-alpha") & (wl["kind"] == "ReplicaSet")]
    assert sorted(rs["name"]) == sorted(f"{d}-{h}" for d, h in REPORT_HASHES.items())
    assert (rs["desired"] == 1).all() and (rs["current"] == 0).all()
    assert rs["problem"].str.contains('service "istiod-1-18-5" not found', regex=False).all()
    dep = row(wl, namespace="l7-traffic-alpha", kind="Deployment", name="details-v1")
    # the ReplicaFailure message wins over "does not have minimum availability"
    assert dep["problem"].startswith("Internal error occurred: failed calling webhook")
    assert "ReplicaFailure=True(FailedCreate)" in dep["conditions"]


def test_workloads_sidecar_revisions(healthy: World) -> None:
    wl = workloads(healthy.snapshot())
    dep = row(wl, namespace="shop", kind="Deployment", name="productpage-v1")
    assert dep["sidecar_revisions"] == ["1-19-3"] and dep["ready"] == 1


def test_replicaset_events_parsed(seed: World) -> None:
    ev = replicaset_events(seed.snapshot())
    failed = ev[ev["reason"] == "FailedCreate"]
    assert len(failed) == 6
    first = row(failed, replicaset="details-v1-ccbdcf56")
    assert (first["deployment"], first["type"], first["count"]) == ("details-v1", "Warning", 16)
    assert first["webhook"] == "rev.namespace.sidecar-injector.istio.io"
    assert (first["target_service"], first["target_namespace"], first["error_kind"]) == (
        "istiod-1-18-5", "istio-system", "service_not_found")
    assert first["url"] == "https://istiod-1-18-5.istio-system.svc:443/inject"
    assert first["last_seen"] == pd.Timestamp("2023-10-27T06:00:55Z")
    assert isinstance(ev["first_seen"].dtype, pd.DatetimeTZDtype)
    assert str(ev["first_seen"].dtype.tz) == "UTC"
    ok = ev[ev["reason"] == "SuccessfulCreate"]
    assert ok["webhook"].isna().all()


def test_replicaset_events_from_events_k8s_io(seed: World) -> None:
    """The newer events API (``regarding``/``note``/``series``) gives the same rows."""
    converted = []
    for o in seed.objects:
        if o["kind"] != "Event":
            converted.append(o)
            continue
        converted.append({
            "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": o["metadata"],
            "regarding": o["involvedObject"], "reason": o["reason"], "type": o["type"],
            "note": o["message"], "eventTime": o["firstTimestamp"],
            "series": {"count": o["count"], "lastObservedTime": o["lastTimestamp"]},
            "reportingController": "replicaset-controller"})
    snap = Snapshot.from_objects(converted, [*[kk for kk in snapshot_kinds() if kk != k.EVENTS],
                                             k.EVENTS_V1])
    ev = replicaset_events(snap)
    failed = row(ev, replicaset="details-v1-ccbdcf56", reason="FailedCreate")
    assert failed["count"] == 16 and failed["error_kind"] == "service_not_found"
    assert failed["last_seen"] == pd.Timestamp("2023-10-27T06:00:55Z")


def snapshot_kinds() -> list[k.ResourceKind]:
    from .worlds import KINDS

    return list(KINDS)


def test_webhook_targets(seed: World) -> None:
    wt = webhook_targets(seed.snapshot())
    assert len(wt) == 8
    assert set(wt["kind"]) == {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}
    tag = row(wt, configuration="istio-revision-tag-prod-canary",
              webhook="rev.namespace.sidecar-injector.istio.io")
    assert tag["injector"] and tag["tag"] == "prod-canary" and tag["failure_policy"] == "Fail"
    assert tag["rules"] == "CREATE pods"
    assert tag["namespace_selector"] == "istio.io/rev=prod-canary,!istio-injection"
    assert tag["object_selector"] == "sidecar.istio.io/inject!=false"
    assert tag["detail"] == 'service "istiod-1-18-5" not found'  # the apiserver's own words
    validator = row(wt, configuration="istio-validator-1-19-3-istio-canary")
    assert not validator["injector"] and validator["failure_policy"] == "Ignore"
    assert validator["reached_revisions"] == ["1-19-3"]
    assert validator["endpoint_pods"][0].startswith("istio-canary/istiod-1-19-3-")
    assert validator["target_status"] == "ok" and validator["ready_endpoints"] == 1


def test_different_names_are_recognised_by_labels(renamed: World) -> None:
    snap = renamed.snapshot()
    cp = control_planes(snap)
    assert sorted(zip(cp["namespace"], cp["revision"], cp["version"], strict=True)) == [
        ("mesh-blue", "blue", "1.20.2-distroless"), ("mesh-green", "green", "1.21.0")]
    tags = revision_tags(snap)
    assert set(tags["tag"]) == {"live"} and set(tags["revision"]) == {"blue"}
    assert tags["found_in"].iloc[0] == ["mesh-green (revision green, 1 ready endpoint)"]
    inj = namespace_injection(snap)
    assert row(inj, namespace="storefront")["status"] == "target missing"
    payments = row(inj, namespace="payments")
    assert (payments["status"], payments["effective_revision"]) == ("ok", "blue")


def _namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def _istiod_service(namespace: str, name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"app": "istiod"}, "ports": [{"name": "https-webhook",
                                                                "port": 443, "targetPort": 15017}]}}


def test_upstream_default_injector(fixture_objects: Any) -> None:
    """istioctl's check-inject test data: the default revision's four webhooks."""
    snap = snapshot_of(
        *fixture_objects("webhooks/default-injector.yaml"),
        _namespace("legacy", **{wk.INJECTION_LABEL: "enabled"}),
        _namespace("by-rev", **{wk.REV_LABEL: "default"}),
        _namespace("plain"), _namespace("opted-out", **{wk.INJECTION_LABEL: "disabled"}),
        _namespace("istio-system"), _istiod_service("istio-system", "istiod"))
    inj = namespace_injection(snap)
    assert row(inj, namespace="legacy")["webhooks"] == [
        "istio-sidecar-injector/namespace.sidecar-injector.istio.io"]
    assert row(inj, namespace="by-rev")["webhooks"] == [
        "istio-sidecar-injector/rev.namespace.sidecar-injector.istio.io"]
    plain = row(inj, namespace="plain")
    assert plain["status"] == "no injection"
    # object.* wants sidecar.istio.io/inject=true, rev.object.* wants istio.io/rev=default
    assert sorted(w.split(" ")[0] for w in plain["pod_label_webhooks"]) == [
        "istio-sidecar-injector/object.sidecar-injector.istio.io",
        "istio-sidecar-injector/rev.object.sidecar-injector.istio.io"]
    opted = row(inj, namespace="opted-out")
    assert opted["status"] == "no injection" and opted["pod_label_webhooks"] == []
    # no Endpoints for the Service: it exists but nothing answers
    assert row(inj, namespace="legacy")["status"] == "no endpoints"


def test_upstream_never_match_injector(fixture_objects: Any) -> None:
    snap = snapshot_of(*fixture_objects("webhooks/never-match-injector.yaml"),
                       _namespace("app", **{wk.INJECTION_LABEL: "enabled"}))
    r = row(namespace_injection(snap), namespace="app")
    assert r["status"] == "no injection" and r["pod_label_webhooks"] == []


def test_endpoints_unreadable_falls_back_to_pods(healthy: World) -> None:
    full = healthy.snapshot()
    objects = [o for key, items in full.objects.items() if key != k.ENDPOINTS.key for o in items]
    snap = Snapshot.from_objects(objects, [kk for kk in snapshot_kinds() if kk != k.ENDPOINTS])
    snap.unreadable[k.ENDPOINTS.key] = "forbidden"
    r = row(namespace_injection(snap), namespace="shop")
    assert (r["status"], r["effective_revision"]) == ("ok", "1-19-3")
    wt = webhook_targets(snap)
    assert set(wt["ready_endpoints"]) == {1}


def test_inventory_is_json_ready(seed: World) -> None:
    seed.run_deployment("l7-traffic-alpha", "details-v1", pod_hash="zzzzzzzz",
                        failure=report_failure())
    inv = inventory(seed.snapshot())
    assert list(inv.tables()) == list(TABLES)
    text = json.dumps(inv.to_dict(), allow_nan=False)
    data = json.loads(text)
    alpha = next(r for r in data["namespace_injection"] if r["namespace"] == "l7-traffic-alpha")
    assert alpha["injection_label"] is None and alpha["effective_revision"] is None
    ev = next(r for r in data["replicaset_events"] if r["reason"] == "FailedCreate")
    assert ev["last_seen"] == "2023-10-27T06:00:55Z"
    assert frame_records(pd.DataFrame({"a": [float("nan")], "b": [pd.NaT]})) == [
        {"a": None, "b": None}]


def test_a_replicasets_deployment_is_its_controlling_owner_only() -> None:
    def rs(name: str, *owners: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
            "name": name, "namespace": "shop", "ownerReferences": list(owners)},
            "spec": {"replicas": 1}, "status": {"replicas": 1}}

    owned = rs("web-1", {"kind": "Deployment", "name": "web", "controller": True})
    # a Deployment that only owns it (no controller flag), or a controller of another kind
    adopted = rs("api-1", {"kind": "Deployment", "name": "api"},
                 {"kind": "CronJob", "name": "nightly", "controller": True})
    wl = workloads(snapshot_of(owned, adopted))
    assert row(wl, kind="ReplicaSet", name="web-1")["deployment"] == "web"
    assert pd.isna(row(wl, kind="ReplicaSet", name="api-1")["deployment"])
