"""The diagnosis does only the work its findings need: what it skips, and that the shortcuts it
takes (values decided once per distinct label value, events filtered before they are built,
pod fields read on demand) give the same answers as the long way."""

from __future__ import annotations

from typing import Any

from benchmarks.mesh_bench import scale_snapshot
from runbook import kinds as k
from runbook.kube import FINDINGS_SELECTORS
from runbook.mesh import diagnose
from runbook.mesh.diagnose import _Diagnosis
from runbook.mesh.injection import effective_revision, resolve_injection
from runbook.mesh.injector_chains import missing_proxy_findings
from runbook.mesh.model import _pod, build_model
from runbook.selectors import label_values, selector_from_dict
from runbook.snapshot import Snapshot


def test_diagnosis_builds_only_the_indexes_its_findings_read() -> None:
    model = build_model(scale_snapshot(namespaces=30, replicasets=120, events=600, broken=2))
    findings = diagnose(model)
    assert [f.code for f in findings].count("MR101") == 2
    assert model._events is None  # only the FailedCreate events were built
    # the diagnosis never asks which Deployments are gateways, nor for Deployments by namespace
    # or ReplicaSets by name when no finding names one
    assert not {"gateways", "deployments_by_ns", "replicasets", "pods"} & set(vars(model))
    istiod_pods = {(p.namespace, p.name) for d in model.istiods for p in d.pods}
    unread = [p for pods in model.pods_by_ns.values() for p in pods
              if (p.namespace, p.name) not in istiod_pods]
    assert unread and all(p._ready is None for p in unread)
    # asked afterwards, the tables still get them
    assert model.gateways == [] and model.events() and model.deployments_by_ns and model.replicasets
    assert all(model.pods[(p.namespace, p.name)] is p is model.pod(p.namespace, p.name)
               for p in unread)


def _event(api: str, name: str, reason: str, **extra: Any) -> dict[str, Any]:
    about = {"kind": "ReplicaSet", "namespace": "apps", "name": f"rs-{name}"}
    body: dict[str, Any] = (
        {"involvedObject": about, "message": f"m-{name}", "count": 2} if api == "v1"
        else {"regarding": about, "note": f"m-{name}", "deprecatedCount": 3})
    return {"apiVersion": api, "kind": "Event", "metadata": {"namespace": "apps", "name": name},
            "reason": reason, **body, **extra}


def test_events_with_a_reason_are_the_events_of_that_reason_in_order() -> None:
    # both APIs serve "same" (kept once, from core/v1); "only-v1" comes from events.k8s.io alone
    objects = [_event("v1", "a", "FailedCreate"), _event("v1", "b", "SuccessfulCreate"),
               _event("v1", "same", "FailedCreate"), _event("events.k8s.io/v1", "same", "FailedCreate"),
               _event("events.k8s.io/v1", "only-v1", "FailedCreate"),
               _event("events.k8s.io/v1", "v1-other", "SuccessfulCreate")]
    snap = Snapshot.from_objects(objects, (k.EVENTS, k.EVENTS_V1))
    before = build_model(snap).events_with_reason("FailedCreate")  # built alone
    model = build_model(snap)
    expected = [ev for ev in model.events() if ev.reason == "FailedCreate"]
    assert [(ev.name, ev.count, ev.message) for ev in expected] == [
        ("rs-a", 2, "m-a"), ("rs-same", 2, "m-same"), ("rs-only-v1", 3, "m-only-v1")]
    assert before == expected == model.events_with_reason("FailedCreate")


def test_label_values_tell_apart_every_label_set_a_selector_tells_apart() -> None:
    selectors = [selector_from_dict(s) for s in (
        {"matchLabels": {"istio-injection": "enabled"}},
        {"matchExpressions": [{"key": "istio-injection", "operator": "DoesNotExist"},
                              {"key": "istio.io/rev", "operator": "In", "values": ["blue"]}]},
        {"matchExpressions": [{"key": "istio-injection", "operator": "NotIn", "values": [""]}]},
        {"matchExpressions": [{"key": "istio.io/rev", "operator": "Exists"}]})]
    keys = sorted({key for s in selectors for key in s.keys})
    assert keys == ["istio-injection", "istio.io/rev"]
    label_sets = [{}, {"istio-injection": ""}, {"istio-injection": "enabled"},
                  {"istio.io/rev": "blue"}, {"istio.io/rev": ""}, {"istio.io/rev": "blue", "x": "1"},
                  {"istio-injection": "enabled", "istio.io/rev": "blue", "name": "other"}]
    for a in label_sets:
        for b in label_sets:
            if label_values(a, keys) == label_values(b, keys):
                assert [s.matches(a) for s in selectors] == [s.matches(b) for s in selectors]
    # an absent label and an empty one are different values
    assert label_values({}, keys) != label_values({"istio-injection": ""}, keys)


def test_namespaces_decided_alike_still_get_their_own_records() -> None:
    model = build_model(scale_snapshot(namespaces=6, replicasets=24, events=24, broken=3))
    recs = resolve_injection(model)
    same = [r for r in recs if r.matching and r.labels.get("istio.io/rev") == "live"]
    assert len(same) >= 2 and same[0].matching == same[1].matching
    assert same[0].matching is not same[1].matching  # a caller may change one record's list
    assert [r.namespace for r in recs] == list(model.namespaces)
    assert all(r.effective_revision == effective_revision(r.matching) for r in recs)


def test_pod_readiness_and_owner_are_read_from_the_pod_on_demand() -> None:
    def raw(ready: str, **meta: Any) -> dict[str, Any]:
        return {"metadata": {"namespace": "apps", "name": "p", **meta},
                "status": {"phase": "Running",
                           "conditions": [{"type": "Initialized", "status": "True"},
                                          {"type": "Ready", "status": ready}]}}

    owned = _pod(raw("True", ownerReferences=[
        {"kind": "Node", "name": "n"}, {"kind": "ReplicaSet", "name": "rs-1", "controller": True}]))
    assert (owned.ready, owned.owner_kind, owned.owner_name, owned.phase) == (
        True, "ReplicaSet", "rs-1", "Running")
    assert owned.owner == ("ReplicaSet", "rs-1")
    assert not _pod(raw("False")).ready
    assert not _pod(raw("True", deletionTimestamp="2024-01-01T00:00:00Z")).ready
    bare = _pod({"metadata": {"name": "p"}})
    assert (bare.ready, bare.owner_kind, bare.owner_name, bare.phase) == (False, None, None, "")


def test_a_webhooks_retarget_plan_is_made_once_per_diagnosis() -> None:
    model = build_model(scale_snapshot(namespaces=30, replicasets=120, events=600, broken=2))
    state = _Diagnosis(model)
    hook = next(w for w in model.webhooks if w.target is not None
                and w.target.status == "service_not_found")
    assert state.plan_for_missing(hook) is state.plan_for_missing(hook)


def test_missing_proxy_reads_the_pods_in_snapshot_order_and_any_status_annotation_counts() -> None:
    def ns(name: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "labels": {"istio-injection": "enabled"}}}

    def pod(namespace: str, name: str, annotations: dict[str, str] | None = None,
            containers: tuple[str, ...] = ("app",)) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"namespace": namespace, "name": name, "annotations": annotations or {}},
                "spec": {"containers": [{"name": c} for c in containers]}}

    objects = [ns("a"), ns("b"), pod("b", "bare-1"), pod("a", "bare-2"),
               pod("a", "unreadable-status", {"sidecar.istio.io/status": "{not json"}),
               pod("b", "proxied", containers=("app", "istio-proxy")), pod("a", "bare-3")]
    model = build_model(Snapshot.from_objects(objects, (k.NAMESPACES, k.PODS)))
    assert model.pod("a", "unreadable-status").sidecar_revision is None  # type: ignore[union-attr]
    assert [f.subject.name for f in missing_proxy_findings(model)] == ["bare-1", "bare-2", "bare-3"]


def test_the_findings_read_only_the_events_the_findings_selectors_keep() -> None:
    """``runbook diagnose`` without tables lists events with FINDINGS_SELECTORS: the findings over
    what that selector keeps are the findings over every event."""
    full = scale_snapshot(namespaces=30, replicasets=120, events=600, broken=2)
    terms = dict(term.split("=", 1) for term in
                 FINDINGS_SELECTORS[k.EVENTS.key]["field_selector"].split(","))
    assert set(terms) == {"involvedObject.kind", "reason"}  # each is applied below
    kept = [ev for ev in full.items(k.EVENTS)
            if ev["involvedObject"]["kind"] == terms["involvedObject.kind"]
            and ev["reason"] == terms["reason"]]
    assert 0 < len(kept) < len(full.items(k.EVENTS)) / 5
    narrowed = Snapshot(objects={**full.objects, k.EVENTS.key: kept})

    def essence(snapshot: Snapshot) -> list[tuple[Any, ...]]:
        return [(f.code, f.severity, f.subject, f.message, f.namespaces, f.fix)
                for f in diagnose(snapshot)]

    assert essence(narrowed) == essence(full)
