"""Worlds to diagnose: scenario manifests plus the objects Kubernetes' controllers would add.

A :class:`World` starts from manifests (the seed-incident scenario, upstream fixtures, or objects
written here) and plays the controllers explicitly: a Deployment gets a ReplicaSet named
``<deployment>-<pod-template-hash>`` owned by it; the ReplicaSet either creates its pods (ready,
with ``sidecar.istio.io/status`` naming the revision that injected them) or fails admission — then
it has ``status.replicas: 0``, a ``ReplicaFailure`` condition and a ``FailedCreate`` event whose
message is composed with :mod:`runbook.formats.admission`, exactly as the apiserver and the
ReplicaSet controller write them. Endpoints are derived from ready pods with ``targetRef``s, as the
endpoints controller does. Which webhook fails and which revision injects is stated by each world
(it is the scenario), never computed with the code under test.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from runbook import kinds as k
from runbook import wellknown as wk
from runbook.formats import admission as fmt
from runbook.manifests import load_manifests
from runbook.meshconfig import follow_tag
from runbook.selectors import selector_from_dict
from runbook.snapshot import Snapshot

ROOT = Path(__file__).resolve().parents[2]
SEED_DIR = ROOT / "runbook" / "sandbox" / "scenarios" / "seed-incident"
#: what a diagnosis reads (mirrors runbook.kube.reader.DIAGNOSIS_KINDS)
KINDS: tuple[k.ResourceKind, ...] = (
    k.NAMESPACES, k.PODS, k.SERVICES, k.ENDPOINTS, k.DEPLOYMENTS, k.REPLICA_SETS, k.EVENTS,
    k.CONFIG_MAPS, k.MUTATING_WEBHOOKS, k.VALIDATING_WEBHOOKS,
)
#: the six ReplicaSets of the field report (`k get rs -n l7-traffic-alpha`)
REPORT_HASHES = {
    "details-v1": "ccbdcf56", "productpage-v1": "6c4f8467b9", "ratings-v1": "96d98f9f6",
    "reviews-v1": "57c85f47fb", "reviews-v2": "64776cb9bd", "reviews-v3": "5c8886f9c6",
}
#: the ReplicaSets after the report's fix (`k delete rs … --all` output)
REPORT_HASHES_AFTER_FIX = {
    "details-v1": "5f4d584748", "productpage-v1": "564d4686f", "ratings-v1": "686ccfb5d8",
    "reviews-v1": "86896b7648", "reviews-v2": "b7dcd98fb", "reviews-v3": "5c5cc7b6d",
}
T0 = "2023-10-27T05:56:18Z"
T1 = "2023-10-27T06:00:55Z"
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


@functools.lru_cache(maxsize=32)
def _manifests(path: Path) -> tuple[dict[str, Any], ...]:
    # YAML parsing dominates a world's cost; callers deep-copy what they change
    return tuple(m.obj for m in load_manifests(path))


def template_hash(template: Mapping[str, Any]) -> str:
    """A stable pod-template-hash in the alphabet Kubernetes uses (rand.SafeEncodeString)."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(_SAFE[b % len(_SAFE)] for b in digest[:10])


class World:
    """Objects of one cluster, with helpers that act like Kubernetes' controllers."""

    def __init__(self, objects: Iterable[Mapping[str, Any]] = ()) -> None:
        self.objects: list[dict[str, Any]] = [copy.deepcopy(dict(o)) for o in objects]
        self._ip = 0
        self._uid = 0

    # ---------------------------------------------------------------------------- basics

    def add(self, *objects: Mapping[str, Any], namespace: str | None = None) -> World:
        for obj in objects:
            o = copy.deepcopy(dict(obj))
            meta = o.setdefault("metadata", {})
            if namespace and o.get("kind") not in ("Namespace", "MutatingWebhookConfiguration",
                                                   "ValidatingWebhookConfiguration"):
                meta["namespace"] = namespace
            meta.setdefault("uid", self._next_uid())
            self.objects.append(o)
        return self

    def find(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        for o in self.objects:
            m = o.get("metadata") or {}
            if o.get("kind") == kind and m.get("name") == name and (
                    namespace is None or m.get("namespace") == namespace):
                return o
        raise KeyError(f"{kind} {namespace}/{name}")

    def remove(self, kind: str, namespace: str | None = None, names: Iterable[str] | None = None
               ) -> None:
        wanted = set(names) if names is not None else None
        self.objects = [o for o in self.objects if not (
            o.get("kind") == kind
            and (namespace is None or (o.get("metadata") or {}).get("namespace") == namespace)
            and (wanted is None or (o.get("metadata") or {}).get("name") in wanted))]

    def of_kind(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") == kind and (
            namespace is None or (o.get("metadata") or {}).get("namespace") == namespace)]

    def snapshot(self, kinds: Iterable[k.ResourceKind] = KINDS) -> Snapshot:
        """The world as the kube layer would read it (every listed kind readable)."""
        self.sync_endpoints()
        return Snapshot.from_objects(self.objects, kinds)

    def _next_uid(self) -> str:
        self._uid += 1
        return f"00000000-0000-4000-8000-{self._uid:012d}"

    def _next_ip(self) -> str:
        self._ip += 1
        return f"100.96.{self._ip // 250}.{self._ip % 250 + 2}"

    # ----------------------------------------------------------------------- controllers

    def run_deployment(self, namespace: str, name: str, *, pod_hash: str | None = None,
                       sidecar_revision: str | None = None,
                       failure: str | None = None, failures: int = 16,
                       first_seen: str = T0, last_seen: str = T1) -> dict[str, Any]:
        """What the Deployment and ReplicaSet controllers do for one Deployment.

        Args:
            sidecar_revision: the revision whose injector admitted the pods (None: no sidecar).
            failure: the admission error (``Internal error occurred: …``) every pod create gets;
                the ReplicaSet then has no pods, a ReplicaFailure condition and a FailedCreate
                event seen ``failures`` times.

        Returns:
            The ReplicaSet.
        """
        dep = self.find("Deployment", name, namespace)
        spec = dep["spec"]
        template = copy.deepcopy(spec["template"])
        h = pod_hash or template_hash(template)
        replicas = int(spec.get("replicas", 1))
        labels = {**(template.get("metadata") or {}).get("labels", {}), wk.POD_TEMPLATE_HASH: h}
        template.setdefault("metadata", {})["labels"] = labels
        rs_name = f"{name}-{h}"
        rs_uid = self._next_uid()
        selector = copy.deepcopy(spec["selector"])
        selector.setdefault("matchLabels", {})[wk.POD_TEMPLATE_HASH] = h
        rs: dict[str, Any] = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {
                "name": rs_name, "namespace": namespace, "uid": rs_uid, "labels": labels,
                "creationTimestamp": first_seen,
                "annotations": {"deployment.kubernetes.io/desired-replicas": str(replicas),
                                "deployment.kubernetes.io/max-replicas": str(replicas + 1),
                                wk.DEPLOYMENT_REVISION_ANNOTATION: "1"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                                     "uid": dep["metadata"].setdefault("uid", self._next_uid()),
                                     "controller": True, "blockOwnerDeletion": True}],
            },
            "spec": {"replicas": replicas, "selector": selector, "template": template},
        }
        self.objects.append(rs)
        involved = {"kind": "ReplicaSet", "namespace": namespace, "name": rs_name,
                    "uid": rs_uid, "apiVersion": "apps/v1", "resourceVersion": "1"}
        if failure:
            rs["status"] = {"replicas": 0, "observedGeneration": 1, "conditions": [{
                "type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                "message": failure, "lastTransitionTime": first_seen}]}
            dep["status"] = {"observedGeneration": 1, "unavailableReplicas": replicas,
                             "conditions": [
                                 {"type": "Available", "status": "False",
                                  "reason": "MinimumReplicasUnavailable",
                                  "message": "Deployment does not have minimum availability."},
                                 {"type": "ReplicaFailure", "status": "True",
                                  "reason": "FailedCreate", "message": failure}]}
            self._event(namespace, involved, "FailedCreate", "Warning",
                        fmt.failed_create(failure), failures, first_seen, last_seen)
            return rs
        for i in range(replicas):
            pod_name = f"{rs_name}-{h[:5]}{i}"
            self._pod(namespace, pod_name, template, rs_name, rs_uid, sidecar_revision)
            self._event(namespace, involved, "SuccessfulCreate", "Normal",
                        f"Created pod: {pod_name}", 1, first_seen, first_seen)
        rs["status"] = {"replicas": replicas, "readyReplicas": replicas,
                        "availableReplicas": replicas, "fullyLabeledReplicas": replicas,
                        "observedGeneration": 1}
        dep["status"] = {"observedGeneration": 1, "replicas": replicas, "readyReplicas": replicas,
                         "availableReplicas": replicas, "updatedReplicas": replicas,
                         "conditions": [{"type": "Available", "status": "True",
                                         "reason": "MinimumReplicasAvailable"}]}
        return rs

    def fail_in_new_namespace(self, namespace: str, deployment: str, cause: str, *,
                              pod_hash: str, service: str = "istiod-1-19-3",
                              service_namespace: str = "istio-system", tag: str = "stable"
                              ) -> dict[str, Any]:
        """A namespace bound to ``tag`` gets a copy of shop's ``deployment``, whose pod creates
        fail at ``rev.namespace.sidecar-injector.istio.io`` → ``service`` with ``cause``."""
        self.add({"apiVersion": "v1", "kind": "Namespace",
                  "metadata": {"name": namespace, "labels": {wk.REV_LABEL: tag}}})
        self.add(*[o for o in self.of_kind("Deployment", "shop")
                   if o["metadata"]["name"] == deployment], namespace=namespace)
        failure = fmt.internal_error(fmt.webhook_call_failed(
            "rev.namespace.sidecar-injector.istio.io",
            fmt.webhook_service_url(service, service_namespace, 443, "/inject"), cause))
        return self.run_deployment(namespace, deployment, pod_hash=pod_hash, failure=failure)

    def run_all_deployments(self, namespace: str, **kwargs: Any) -> list[dict[str, Any]]:
        return [self.run_deployment(namespace, d["metadata"]["name"], **kwargs)
                for d in self.of_kind("Deployment", namespace)]

    def _pod(self, namespace: str, name: str, template: Mapping[str, Any], rs_name: str,
             rs_uid: str, sidecar_revision: str | None) -> None:
        tmeta = template.get("metadata") or {}
        labels = dict(tmeta.get("labels") or {})
        annotations = dict(tmeta.get("annotations") or {})
        spec = copy.deepcopy(template.get("spec") or {})
        if sidecar_revision:
            # what the injection template adds (formats.md §7)
            annotations[wk.SIDECAR_STATUS_ANNOTATION] = json.dumps(
                {"initContainers": ["istio-init"], "containers": ["istio-proxy"],
                 "volumes": ["istio-envoy", "istio-data", "istio-podinfo", "istio-token",
                             "istiod-ca-cert"], "imagePullSecrets": None,
                 "revision": sidecar_revision}, separators=(",", ":"))
            annotations[wk.REV_ANNOTATION] = sidecar_revision
            labels[wk.TLS_MODE_LABEL] = "istio"
            labels.setdefault(wk.CANONICAL_NAME_LABEL, labels.get("app", rs_name))
            labels.setdefault(wk.CANONICAL_REVISION_LABEL, labels.get("version", "latest"))
            spec.setdefault("containers", []).append(
                {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.18.5",
                 "args": ["proxy", "sidecar"]})
        self.objects.append({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "uid": self._next_uid(),
                         "labels": labels, "annotations": annotations,
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                              "name": rs_name, "uid": rs_uid,
                                              "controller": True}]},
            "spec": spec,
            "status": {"phase": "Running", "podIP": self._next_ip(),
                       "conditions": [{"type": "Ready", "status": "True"},
                                      {"type": "ContainersReady", "status": "True"}]},
        })

    def _event(self, namespace: str, involved: Mapping[str, Any], reason: str, type_: str,
               message: str, count: int, first: str, last: str) -> None:
        self.objects.append({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{involved['name']}.{len(self.objects):016x}",
                         "namespace": namespace},
            "involvedObject": dict(involved), "reason": reason, "type": type_,
            "message": message, "count": count, "firstTimestamp": first, "lastTimestamp": last,
            "source": {"component": "replicaset-controller"},
            "reportingComponent": "replicaset-controller",
        })

    def sync_endpoints(self) -> None:
        """Endpoints of every selector Service from its ready pods (endpoints controller)."""
        self.remove("Endpoints")
        pods = self.of_kind("Pod")
        for svc in self.of_kind("Service"):
            m = svc["metadata"]
            sel = (svc.get("spec") or {}).get("selector")
            if not sel:
                continue
            matcher = selector_from_dict({"matchLabels": sel})
            ready = [p for p in pods if p["metadata"].get("namespace") == m["namespace"]
                     and matcher.matches(p["metadata"].get("labels") or {})
                     and any(c["type"] == "Ready" and c["status"] == "True"
                             for c in p["status"]["conditions"])]
            ports = [{"name": p.get("name"), "port": _target_port(p), "protocol":
                      p.get("protocol", "TCP")} for p in svc["spec"].get("ports") or []]
            subsets = []
            if ready:
                subsets = [{"addresses": [
                    {"ip": p["status"]["podIP"], "targetRef": {
                        "kind": "Pod", "namespace": m["namespace"], "name": p["metadata"]["name"],
                        "uid": p["metadata"]["uid"]}} for p in ready], "ports": ports}]
            self.objects.append({"apiVersion": "v1", "kind": "Endpoints",
                                 "metadata": {"name": m["name"], "namespace": m["namespace"],
                                              "labels": dict(m.get("labels") or {})},
                                 "subsets": subsets})

    # -------------------------------------------------------------------------- mutations

    def retarget(self, configuration: str, namespace: str, name: str | None = None) -> None:
        """What the field report did: ``clientConfig.service.namespace`` of every webhook."""
        cfg = self.find("MutatingWebhookConfiguration", configuration)
        for hook in cfg["webhooks"]:
            hook["clientConfig"]["service"]["namespace"] = namespace
            if name:
                hook["clientConfig"]["service"]["name"] = name

    def set_tag(self, configuration: str, revision: str, namespace: str, name: str, *,
                follow: bool = True) -> None:
        """What ``istioctl tag set <tag> --revision <rev> --overwrite`` leaves behind — and, with
        ``follow``, the revisions' meshConfig moved along (``runbook.fix.set_tag_revision``):
        the new revision's istiod watches the tag's namespaces, the old one stops."""
        cfg = self.find("MutatingWebhookConfiguration", configuration)
        cfg["metadata"]["labels"][wk.REV_LABEL] = revision
        for hook in cfg["webhooks"]:
            hook["clientConfig"]["service"].update({"namespace": namespace, "name": name})
        tag = cfg["metadata"]["labels"].get(wk.TAG_LABEL)
        if not (follow and tag):
            return
        for cm in self.of_kind("ConfigMap"):
            own = (cm["metadata"].get("labels") or {}).get(wk.REV_LABEL)
            mesh = (cm.get("data") or {}).get("mesh")
            if own and mesh:
                cm["data"]["mesh"] = follow_tag(mesh, own, tag, revision) or mesh


def _target_port(port: Mapping[str, Any]) -> int:
    tp = port.get("targetPort", port.get("port"))
    return int(tp) if isinstance(tp, int) or str(tp).isdigit() else int(port["port"])


def _control_plane_pods(world: World, namespaces: Iterable[str]) -> None:
    for ns in namespaces:
        for dep in world.of_kind("Deployment", ns):
            world.run_deployment(ns, dep["metadata"]["name"])


def bookinfo(upstream: Path) -> list[dict[str, Any]]:
    """Upstream samples/bookinfo/platform/kube/bookinfo.yaml (read in place)."""
    return [copy.deepcopy(o) for o in _manifests(upstream / "bookinfo.yaml")]


def report_failure(namespace: str = "istio-system", service: str = "istiod-1-18-5",
                   webhook: str = "rev.namespace.sidecar-injector.istio.io") -> str:
    """The Internal error of the field report, composed like the apiserver does."""
    url = fmt.webhook_service_url(service, namespace, 443, "/inject")
    return fmt.internal_error(fmt.webhook_call_failed(webhook, url, fmt.service_not_found(service)))


# ------------------------------------------------------------------------------------ worlds


def seed_world(upstream: Path, after_bookinfo: bool = True, *, fixed: str | None = None,
               restarted: bool = True) -> World:
    """The field report's cluster (runbook/sandbox/scenarios/seed-incident).

    Args:
        upstream: the upstream fixtures directory (the ``upstream`` pytest fixture).
        after_bookinfo: bookinfo applied in ``l7-traffic-alpha`` (its six ReplicaSets fail).
        fixed: None (the incident), ``"retarget"`` (the report's fix: the tag's webhooks point at
            istio-canary, the ReplicaSets were deleted and recreated — pods injected by 1-19-3),
            or ``"set-tag"`` (the tag re-pointed at revision 1-18-5's own Service istio-prod/istiod).
        restarted: with ``fixed``, whether the workloads were recreated afterwards.
    """
    world = World(_manifests(SEED_DIR))
    _control_plane_pods(world, ["istio-prod", "istio-canary"])
    if not after_bookinfo:
        return world
    world.add(*bookinfo(upstream), namespace="l7-traffic-alpha")
    if fixed is None:
        for name, h in REPORT_HASHES.items():
            world.run_deployment("l7-traffic-alpha", name, pod_hash=h, failure=report_failure())
        return world
    if fixed == "retarget":
        world.retarget("istio-revision-tag-prod-canary", "istio-canary")
        injected = "1-19-3"
    elif fixed == "set-tag":
        world.set_tag("istio-revision-tag-prod-canary", "1-18-5", "istio-prod", "istiod")
        injected = "1-18-5"
    else:
        raise ValueError(fixed)
    if restarted:
        # the old ReplicaSets were deleted; their FailedCreate events outlive them (1 h TTL)
        for name, h in REPORT_HASHES.items():
            world.run_deployment("l7-traffic-alpha", name, pod_hash=h, failure=report_failure())
        world.remove("ReplicaSet", "l7-traffic-alpha")
        for name, h in REPORT_HASHES_AFTER_FIX.items():
            world.run_deployment("l7-traffic-alpha", name, pod_hash=h, sidecar_revision=injected,
                                 first_seen="2023-10-27T06:05:00Z")
    else:
        for name, h in REPORT_HASHES.items():
            world.run_deployment("l7-traffic-alpha", name, pod_hash=h, failure=report_failure())
    return world


def seed_incident_snapshot(upstream: Path, after_bookinfo: bool = True, **kwargs: Any
                           ) -> Snapshot:
    """:func:`seed_world` as a snapshot."""
    return seed_world(upstream, after_bookinfo, **kwargs).snapshot()


def _namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": dict(labels)}}


def _istiod(namespace: str, name: str, revision: str | None, image: str,
            extra_labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    labels = {"app": "istiod", "istio": "pilot", **(extra_labels or {})}
    if revision:
        labels[wk.REV_LABEL] = revision
    sel = {"app": "istiod", **({wk.REV_LABEL: revision} if revision else {})}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": sel},
                     "template": {"metadata": {"labels": {**sel, wk.INJECT_POD_LABEL: "false"}},
                                  "spec": {"containers": [{"name": "discovery", "image": image,
                                                           "args": ["discovery"]}]}}}}


def _service(namespace: str, name: str, selector: Mapping[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": "istiod"}},
            "spec": {"type": "ClusterIP", "clusterIP": "100.64.0.10", "selector": dict(selector),
                     "ports": [{"name": "grpc-xds", "port": 15010, "targetPort": 15010},
                               {"name": "https-dns", "port": 15012, "targetPort": 15012},
                               {"name": "https-webhook", "port": 443, "targetPort": 15017}]}}


def injector(configuration: str, selector_value: str, service_ns: str, service: str, *,
             revision: str, tag: str | None = None) -> dict[str, Any]:
    """A per-revision injector (tag None) or a revision-tag MutatingWebhookConfiguration, shaped
    like Istio 1.18's templates render them (formats.md §3)."""
    labels = {"app": "sidecar-injector", wk.REV_LABEL: revision, "release": "istio",
              "operator.istio.io/component": "Pilot"}
    if tag:
        labels[wk.TAG_LABEL] = tag

    def hook(name: str, ns_exprs: list[dict[str, Any]], obj_exprs: list[dict[str, Any]]
             ) -> dict[str, Any]:
        return {"name": name, "admissionReviewVersions": ["v1beta1", "v1"],
                "clientConfig": {"service": {"name": service, "namespace": service_ns,
                                             "path": "/inject", "port": 443}},
                "failurePolicy": "Fail", "matchPolicy": "Equivalent", "sideEffects": "None",
                "reinvocationPolicy": "Never", "timeoutSeconds": 10,
                "namespaceSelector": {"matchExpressions": ns_exprs},
                "objectSelector": {"matchExpressions": obj_exprs},
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                           "resources": ["pods"], "scope": "*"}]}

    not_false = {"key": wk.INJECT_POD_LABEL, "operator": "NotIn", "values": ["false"]}
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": configuration, "labels": labels},
            "webhooks": [
                hook("rev.namespace.sidecar-injector.istio.io",
                     [{"key": wk.REV_LABEL, "operator": "In", "values": [selector_value]},
                      {"key": wk.INJECTION_LABEL, "operator": "DoesNotExist"}], [not_false]),
                hook("rev.object.sidecar-injector.istio.io",
                     [{"key": wk.REV_LABEL, "operator": "DoesNotExist"},
                      {"key": wk.INJECTION_LABEL, "operator": "DoesNotExist"}],
                     [not_false, {"key": wk.REV_LABEL, "operator": "In",
                                  "values": [selector_value]}]),
            ]}


def healthy_world(upstream: Path) -> World:
    """One revision (1-19-3) in istio-system, a correct tag, two injected namespaces."""
    world = World([
        _namespace("istio-system"), _namespace("default"),
        _namespace("shop", **{wk.REV_LABEL: "stable"}),
        _namespace("reviews", **{wk.REV_LABEL: "1-19-3"}),
        _istiod("istio-system", "istiod-1-19-3", "1-19-3", "docker.io/istio/pilot:1.19.3"),
        _service("istio-system", "istiod-1-19-3", {"app": "istiod", wk.REV_LABEL: "1-19-3"}),
        injector("istio-sidecar-injector-1-19-3", "1-19-3", "istio-system", "istiod-1-19-3",
                 revision="1-19-3"),
        injector("istio-revision-tag-stable", "stable", "istio-system", "istiod-1-19-3",
                 revision="1-19-3", tag="stable"),
    ])
    _control_plane_pods(world, ["istio-system"])
    world.add(*bookinfo(upstream), namespace="shop")
    world.run_all_deployments("shop", sidecar_revision="1-19-3")
    world.add(*[o for o in bookinfo(upstream) if o["metadata"]["name"].startswith("reviews")],
              namespace="reviews")
    world.run_all_deployments("reviews", sidecar_revision="1-19-3")
    return world


def healthy_snapshot(upstream: Path) -> Snapshot:
    return healthy_world(upstream).snapshot()


def renamed_world(upstream: Path) -> World:
    """The incident again, with no name in common with the field report.

    Control planes ``mesh-blue`` (revision ``blue``, istiod Deployment ``pilot``, Service
    ``discovery``) and ``mesh-green`` (revision ``green``, Deployment ``control``, Services
    ``xds`` and a leftover ``pilot-blue`` selecting only ``app=istiod`` → green pods). Tag
    ``live`` (configuration ``tag-live-webhooks``) claims ``blue`` but calls
    ``mesh-system/pilot-blue``, which does not exist. Namespace ``storefront`` uses the tag.
    """
    world = World([
        _namespace("mesh-system"), _namespace("mesh-blue"), _namespace("mesh-green"),
        _namespace("storefront", **{wk.REV_LABEL: "live"}),
        _namespace("payments", **{wk.REV_LABEL: "blue"}),
        _istiod("mesh-blue", "pilot", "blue", "gcr.io/istio-release/pilot:1.20.2-distroless"),
        _service("mesh-blue", "discovery", {"app": "istiod", wk.REV_LABEL: "blue"}),
        _istiod("mesh-green", "control", "green", "gcr.io/istio-release/pilot:1.21.0"),
        _service("mesh-green", "xds", {"app": "istiod", wk.REV_LABEL: "green"}),
        _service("mesh-green", "pilot-blue", {"app": "istiod"}),
        injector("blue-injector", "blue", "mesh-blue", "discovery", revision="blue"),
        injector("green-injector", "green", "mesh-green", "xds", revision="green"),
        injector("tag-live-webhooks", "live", "mesh-system", "pilot-blue", revision="blue",
                 tag="live"),
    ])
    _control_plane_pods(world, ["mesh-blue", "mesh-green"])
    shop = [o for o in bookinfo(upstream) if o["metadata"]["name"] in ("productpage-v1",
                                                                      "ratings-v1")]
    world.add(*shop, namespace="storefront")
    for dep in ("productpage-v1", "ratings-v1"):
        world.run_deployment("storefront", dep, failure=report_failure("mesh-system", "pilot-blue"),
                             failures=7)
    world.add(*[o for o in bookinfo(upstream) if o["metadata"]["name"] == "details-v1"],
              namespace="payments")
    world.run_deployment("payments", "details-v1", sidecar_revision="blue")
    return world
