"""The pure part of ``runbook diagnose`` at the issue's scale: inventory + diagnose over a snapshot.

Issue 4's budget is 3 s for a full diagnosis of 2,000 namespaces / 10,000 ReplicaSets / 50,000
events including the HTTP reads; the pure part here gets <= 1.0 s. The snapshot is built in memory
(raw API-shaped dicts, as ``runbook.kube.read_snapshot`` returns them): two control planes, a
revision tag whose Service is missing (the field report's incident) bound to 40 namespaces whose
ReplicaSets fail, 1,960 healthy injected namespaces. Each ReplicaSet has 5 events on average
(SuccessfulCreate/SuccessfulDelete with per-pod messages, FailedCreate with the shared admission
error), so the message cache is exercised the way a real cluster does.
"""

from __future__ import annotations

import gc
import json
import resource
import time
import tracemalloc
from typing import Any

from benchmarks import Result, at_most
from runbook import kinds as k
from runbook.formats import admission as fmt
from runbook.mesh import diagnose, inventory
from runbook.snapshot import Snapshot

NAMESPACES = 2_000
REPLICASETS = 10_000
EVENTS = 50_000
BROKEN_NAMESPACES = 40
NAME = "mesh"


def _meta(name: str, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name, "uid": f"uid-{namespace}-{name}", "resourceVersion": "1",
                         "creationTimestamp": "2023-10-27T05:00:00Z"}
    if namespace:
        m["namespace"] = namespace
    m.update(extra)
    return m


def _injector(name: str, selector_value: str, svc_ns: str, svc: str, rev: str,
              tag: str | None = None) -> dict[str, Any]:
    labels = {"app": "sidecar-injector", "istio.io/rev": rev}
    if tag:
        labels["istio.io/tag"] = tag

    def hook(hook_name: str, ns_expr: list[dict[str, Any]], obj_expr: list[dict[str, Any]]
             ) -> dict[str, Any]:
        return {"name": hook_name, "clientConfig": {"service": {
            "name": svc, "namespace": svc_ns, "path": "/inject", "port": 443}},
            "failurePolicy": "Fail", "sideEffects": "None", "admissionReviewVersions": ["v1"],
            "namespaceSelector": {"matchExpressions": ns_expr},
            "objectSelector": {"matchExpressions": obj_expr},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                       "resources": ["pods"], "scope": "*"}]}

    not_false = {"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]}
    return {"apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration", "metadata": _meta(name, labels=labels),
            "webhooks": [
                hook("rev.namespace.sidecar-injector.istio.io",
                     [{"key": "istio.io/rev", "operator": "In", "values": [selector_value]},
                      {"key": "istio-injection", "operator": "DoesNotExist"}], [not_false]),
                hook("rev.object.sidecar-injector.istio.io",
                     [{"key": "istio.io/rev", "operator": "DoesNotExist"},
                      {"key": "istio-injection", "operator": "DoesNotExist"}],
                     [not_false, {"key": "istio.io/rev", "operator": "In",
                                  "values": [selector_value]}])]}


def scale_snapshot(namespaces: int = NAMESPACES, replicasets: int = REPLICASETS,
                   events: int = EVENTS, broken: int = BROKEN_NAMESPACES) -> Snapshot:
    """A cluster of the given size, as raw objects per kind."""
    objs: dict[str, list[dict[str, Any]]] = {kind.key: [] for kind in (
        k.NAMESPACES, k.PODS, k.SERVICES, k.ENDPOINTS, k.DEPLOYMENTS, k.REPLICA_SETS, k.EVENTS,
        k.CONFIG_MAPS, k.MUTATING_WEBHOOKS, k.VALIDATING_WEBHOOKS)}
    ip = 0

    def pod(ns: str, name: str, labels: dict[str, str], owner: str, rev: str | None) -> None:
        nonlocal ip
        ip += 1
        ann = {"sidecar.istio.io/status": json.dumps({"containers": ["istio-proxy"],
                                                      "revision": rev})} if rev else {}
        objs[k.PODS.key].append({
            "metadata": _meta(name, ns, labels=labels, annotations=ann, ownerReferences=[
                {"kind": "ReplicaSet", "name": owner, "controller": True}]),
            "spec": {"containers": [{"name": "app", "image": "app:1"}]},
            "status": {"phase": "Running", "podIP": f"10.{ip // 65536}.{ip // 256 % 256}.{ip % 256}",
                       "conditions": [{"type": "Ready", "status": "True"}]}})

    def service(ns: str, name: str, selector: dict[str, str], pods: list[str], port: int) -> None:
        objs[k.SERVICES.key].append({"metadata": _meta(name, ns), "spec": {
            "type": "ClusterIP", "clusterIP": "10.96.0.1", "selector": selector,
            "ports": [{"name": "http", "port": port, "targetPort": port}]}})
        objs[k.ENDPOINTS.key].append({"metadata": _meta(name, ns), "subsets": [{
            "addresses": [{"ip": "10.0.0.1", "targetRef": {"kind": "Pod", "namespace": ns,
                                                           "name": p}} for p in pods],
            "ports": [{"name": "http", "port": port}]}] if pods else []})

    # control planes: revisions blue (ns cp-blue) and green (ns cp-green); tag "live" → missing
    for rev in ("blue", "green"):
        ns = f"cp-{rev}"
        objs[k.NAMESPACES.key].append({"metadata": _meta(ns)})
        sel = {"app": "istiod", "istio.io/rev": rev}
        objs[k.DEPLOYMENTS.key].append({"metadata": _meta("istiod", ns, labels=sel), "spec": {
            "replicas": 2, "selector": {"matchLabels": sel}, "template": {
                "metadata": {"labels": sel}, "spec": {"containers": [
                    {"name": "discovery", "image": f"docker.io/istio/pilot:1.2{len(rev)}.0"}]}}},
            "status": {"replicas": 2, "readyReplicas": 2}})
        objs[k.REPLICA_SETS.key].append({"metadata": _meta("istiod-abc", ns, ownerReferences=[
            {"kind": "Deployment", "name": "istiod", "controller": True}]),
            "spec": {"replicas": 2}, "status": {"replicas": 2, "readyReplicas": 2}})
        for i in range(2):
            pod(ns, f"istiod-abc-{i}", sel, "istiod-abc", None)
        objs[k.SERVICES.key].append({"metadata": _meta(f"istiod-{rev}", ns), "spec": {
            "selector": sel, "ports": [{"name": "https-webhook", "port": 443,
                                        "targetPort": 15017}]}})
        objs[k.ENDPOINTS.key].append({"metadata": _meta(f"istiod-{rev}", ns), "subsets": [{
            "addresses": [{"ip": "10.1.0.1", "targetRef": {"kind": "Pod", "namespace": ns,
                                                           "name": f"istiod-abc-{i}"}}
                          for i in range(2)], "ports": [{"name": "https-webhook", "port": 15017}]}]})
        objs[k.MUTATING_WEBHOOKS.key].append(_injector(f"injector-{rev}", rev, ns, f"istiod-{rev}",
                                                       rev))
    objs[k.MUTATING_WEBHOOKS.key].append(_injector("tag-live", "live", "istio-system",
                                                   "istiod-blue", "blue", tag="live"))
    failure = fmt.failed_create(fmt.internal_error(fmt.webhook_call_failed(
        "rev.namespace.sidecar-injector.istio.io",
        fmt.webhook_service_url("istiod-blue", "istio-system", 443, "/inject"),
        fmt.service_not_found("istiod-blue"))))

    per_ns = max(1, replicasets // namespaces)
    events_per_rs = events / replicasets
    made_events = 0
    for n in range(namespaces):
        ns = f"app-{n:04d}"
        is_broken = n < broken
        labels = {"istio.io/rev": "live" if is_broken else ("blue" if n % 2 else "green")}
        objs[k.NAMESPACES.key].append({"metadata": _meta(ns, labels=labels)})
        for r in range(per_ns):
            dep = f"svc{r}"
            rs = f"{dep}-7d9f8c6b5"
            sel = {"app": dep}
            objs[k.DEPLOYMENTS.key].append({"metadata": _meta(dep, ns), "spec": {
                "replicas": 1, "selector": {"matchLabels": sel},
                "template": {"metadata": {"labels": sel}}},
                "status": {"replicas": 0 if is_broken else 1,
                           "readyReplicas": 0 if is_broken else 1}})
            status: dict[str, Any] = {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}
            if is_broken:
                status = {"replicas": 0, "conditions": [
                    {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                     "message": failure.removeprefix("Error creating: ")}]}
            objs[k.REPLICA_SETS.key].append({"metadata": _meta(rs, ns, labels=sel, ownerReferences=[
                {"kind": "Deployment", "name": dep, "controller": True}]),
                "spec": {"replicas": 1}, "status": status})
            pods = [] if is_broken else [f"{rs}-x{r}"]
            for p in pods:
                pod(ns, p, sel, rs, labels["istio.io/rev"])
            service(ns, dep, sel, pods, 8080)
            # this RS's share of the 50,000 events
            want = round((n * per_ns + r + 1) * events_per_rs) - made_events
            for e in range(want):
                if is_broken:
                    reason, typ, msg, count = "FailedCreate", "Warning", failure, 16
                else:
                    reason, typ = ("SuccessfulCreate", "Normal") if e % 2 == 0 else (
                        "SuccessfulDelete", "Normal")
                    msg, count = f"Created pod: {rs}-{e:05d}", 1
                objs[k.EVENTS.key].append({
                    "metadata": _meta(f"{rs}.{e:08x}", ns),
                    "involvedObject": {"kind": "ReplicaSet", "namespace": ns, "name": rs},
                    "reason": reason, "type": typ, "message": msg, "count": count,
                    "firstTimestamp": "2023-10-27T05:56:18Z", "lastTimestamp": "2023-10-27T06:00:55Z",
                    "source": {"component": "replicaset-controller"}})
            made_events += want
    return Snapshot(objects=objs)


def _pure(snap: Snapshot) -> tuple[float, float, float, int]:
    t0 = time.perf_counter()
    inv = inventory(snap)
    t1 = time.perf_counter()
    findings = diagnose(inv)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, t2 - t0, len(findings)


def run() -> list[Result]:
    """Inventory + diagnose at scale: time (best of 3), tracemalloc peak, process max RSS."""
    snap = scale_snapshot()
    sizes = {key: len(v) for key, v in snap.objects.items()}
    runs = []
    for _ in range(3):
        gc.collect()
        runs.append(_pure(snap))
    best = min(runs, key=lambda r: r[2])
    gc.collect()
    tracemalloc.start()
    _pure(snap)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    note = (f"{sizes[k.NAMESPACES.key]} ns, {sizes[k.REPLICA_SETS.key]} RS, "
            f"{sizes[k.EVENTS.key]} events, {sizes[k.PODS.key]} pods; {best[3]} findings")
    return [
        at_most(NAME, "inventory_plus_diagnose_s", best[2], 1.0, note),
        Result(NAME, "inventory_s", best[0]),
        Result(NAME, "diagnose_s", best[1], note="reuses the inventory's model"),
        Result(NAME, "pure_part_peak_alloc_mb", peak / 2**20,
               note="tracemalloc peak during inventory+diagnose"),
        at_most(NAME, "process_max_rss_mb", rss_mb, 500,
                "whole process incl. the in-memory snapshot (issue 4: <= 500 MB)"),
    ]
