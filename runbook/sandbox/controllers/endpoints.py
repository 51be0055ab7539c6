"""The endpoints controller (k8s.io/kubernetes ``pkg/controller/endpoint``), emulated.

For every Service with a selector, an ``Endpoints`` object of the same name lists the pods of its
namespace that match the selector and have an IP: ready pods under ``addresses``, the others under
``notReadyAddresses`` (all of them under ``addresses`` with ``publishNotReadyAddresses``), each
with ``ip``, ``nodeName`` and a ``targetRef`` to the pod. Ports are the Service's ports with the
pod's port number (a named ``targetPort`` resolved per pod through its container ports); pods
that resolve to different numbers land in different subsets. Labels are the Service's (plus
``service.kubernetes.io/headless`` for ``clusterIP: None``), and
``endpoints.kubernetes.io/last-change-trigger-time`` marks when it last changed. A Service without
a selector is left alone (its Endpoints are the user's); deleting a Service deletes its Endpoints.

EndpointSlices are not emulated: kubectl and the project read Endpoints.
"""

from __future__ import annotations

import contextlib
import ipaddress
from typing import Any

from runbook.kinds import ENDPOINTS, PODS, SERVICES
from runbook.routing import container_port
from runbook.sandbox.controllers.base import ControllerContext, controller_context, pod_ready_since
from runbook.sandbox.status import ApiError
from runbook.sandbox.store import Change, Obj
from runbook.selectors import LabelSelector, Requirement

COMPONENT = "endpoint-controller"
TRIGGER_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
HEADLESS_LABEL = "service.kubernetes.io/headless"


def service_selector(svc: Obj) -> LabelSelector | None:
    """The Service's ``spec.selector`` as a label selector (None: no selector, not managed)."""
    selector = (svc.get("spec") or {}).get("selector")
    if not selector:
        return None
    return LabelSelector(tuple(Requirement(str(k), "In", (str(v),))
                               for k, v in sorted(selector.items())))


def target_port(svc_port: Obj, pod: Obj) -> int | None:
    """The pod port a Service port sends to (``podutil.FindPort``)."""
    return container_port(svc_port.get("targetPort", svc_port.get("port")), pod,
                          svc_port.get("protocol", "TCP"))


def _ip_key(address: Obj) -> tuple[Any, ...]:
    try:
        return (0, int(ipaddress.ip_address(address["ip"])), address.get("targetRef", {}).get("uid"))
    except ValueError:
        return (1, address["ip"], "")


def endpoint_subsets(svc: Obj, pods: list[Obj]) -> list[Obj]:
    """The ``subsets`` the controller computes for these pods (already selected)."""
    spec = svc.get("spec") or {}
    publish = bool(spec.get("publishNotReadyAddresses"))
    groups: dict[tuple[tuple[str, int, str], ...], dict[str, list[Obj]]] = {}
    for pod in pods:
        status = pod.get("status") or {}
        ip = status.get("podIP")
        if not ip or status.get("phase") in ("Succeeded", "Failed"):
            continue
        if pod["metadata"].get("deletionTimestamp") and not publish:
            continue
        ports: list[tuple[str, int, str]] = []
        for svc_port in spec.get("ports") or ():
            number = target_port(svc_port, pod)
            if number is not None:
                ports.append((str(svc_port.get("name") or ""), number,
                              str(svc_port.get("protocol") or "TCP")))
        if not ports and spec.get("ports"):
            continue
        meta = pod["metadata"]
        address: Obj = {"ip": ip}
        if (pod.get("spec") or {}).get("nodeName"):
            address["nodeName"] = pod["spec"]["nodeName"]
        address["targetRef"] = {"kind": "Pod", "namespace": meta.get("namespace", ""),
                                "name": meta["name"], "uid": meta.get("uid", "")}
        ready = publish or pod_ready_since(pod) is not None
        bucket = groups.setdefault(tuple(sorted(ports)), {"addresses": [], "notReadyAddresses": []})
        bucket["addresses" if ready else "notReadyAddresses"].append(address)
    subsets = []
    for ports_key, bucket in sorted(groups.items()):
        subset: Obj = {}
        for field in ("addresses", "notReadyAddresses"):
            if bucket[field]:
                subset[field] = sorted(bucket[field], key=_ip_key)
        subset["ports"] = [{**({"name": n} if n else {}), "port": p, "protocol": proto}
                           for n, p, proto in ports_key]
        subsets.append(subset)
    return subsets


class EndpointsController:
    """Keeps an Endpoints object per selecting Service (see the module docstring)."""

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.api = controller_context(COMPONENT)

    def reset(self) -> None:
        pass

    def on_change(self, change: Change) -> None:
        if change.kind == SERVICES.key:
            meta = change.obj["metadata"]
            self.enqueue((meta.get("namespace", ""), meta["name"]))
        elif change.kind == PODS.key:
            if change.type == "MODIFIED" and not _endpoint_relevant(change):
                return
            ns = change.obj["metadata"].get("namespace", "")
            labels = [change.obj["metadata"].get("labels") or {}]
            if change.old is not None:
                labels.append(change.old["metadata"].get("labels") or {})
            for svc in self.ctx.store.objects(SERVICES.key, ns):
                selector = service_selector(svc)
                if selector is not None and any(selector.matches(lb) for lb in labels):
                    self.enqueue((ns, svc["metadata"]["name"]))

    def enqueue(self, key: tuple[str, str]) -> None:
        self.ctx.enqueue(("endpoints", *key), lambda: self.sync(key))

    def sync(self, key: tuple[str, str]) -> None:
        ctx = self.ctx
        store = ctx.store
        ns, name = key
        svc = store.get(SERVICES.key, ns, name)
        current = store.get(ENDPOINTS.key, ns, name)
        selector = service_selector(svc) if svc is not None else None
        if svc is None:
            if current is not None:
                with contextlib.suppress(ApiError):
                    ctx.cluster.delete(ENDPOINTS, ns, name, self.api)
            return
        if selector is None:
            return  # the user manages this Service's Endpoints
        pods = [p for p in store.objects(PODS.key, ns)
                if selector.matches(p["metadata"].get("labels"))]
        subsets = endpoint_subsets(svc, pods)
        labels = dict(svc["metadata"].get("labels") or {})
        if (svc.get("spec") or {}).get("clusterIP") == "None":
            labels[HEADLESS_LABEL] = ""
        if current is not None and (current.get("subsets") or []) == subsets and \
                (current["metadata"].get("labels") or {}) == labels:
            return
        body: Obj = {"apiVersion": "v1", "kind": "Endpoints",
                     "metadata": {"name": name, "namespace": ns,
                                  "annotations": {TRIGGER_ANNOTATION: ctx.clock.timestamp()}}}
        if labels:
            body["metadata"]["labels"] = labels
        if subsets:
            body["subsets"] = subsets
        try:
            if current is None:
                ctx.cluster.create(ENDPOINTS, ns, body, self.api)
            else:
                body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                ctx.cluster.update(ENDPOINTS, ns, name, body, self.api)
        except ApiError as exc:
            if exc.code == 409:
                self.enqueue(key)  # raced with another writer: compute again from fresh state


def _endpoint_relevant(change: Change) -> bool:
    old, new = change.old or {}, change.obj
    if (old.get("metadata") or {}).get("labels") != new["metadata"].get("labels"):
        return True
    if (old.get("metadata") or {}).get("deletionTimestamp") != new["metadata"].get("deletionTimestamp"):
        return True
    old_status, new_status = old.get("status") or {}, new.get("status") or {}
    return (old_status.get("podIP") != new_status.get("podIP")
            or old_status.get("phase") != new_status.get("phase")
            or pod_ready_since(old) != pod_ready_since(new))


__all__ = ["EndpointsController", "endpoint_subsets", "service_selector"]
