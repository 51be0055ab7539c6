"""The endpoints controller (k8s.io/kubernetes ``pkg/controller/endpoint``), emulated.

For every Service with a selector, an ``Endpoints`` object of the same name lists the pods of its
namespace that match the selector and have an IP: ready pods under ``addresses``, the others under
``notReadyAddresses`` (all of them under ``addresses`` with ``publishNotReadyAddresses``), each
with ``ip``, ``nodeName`` and a ``targetRef`` to the pod. Ports are the Service's ports with the
pod's port number (a named ``targetPort`` resolved per pod through its container ports); pods
that resolve to different numbers land in different subsets. Labels are the Service's (plus
``service.kubernetes.io/headless`` for ``clusterIP: None``); a subset's ports are in the order
``RepackSubsets`` leaves them (by the hash of each port, :func:`_port_hash`), and
``endpoints.kubernetes.io/last-change-trigger-time`` marks when it last changed. A Service without
a selector is left alone (its Endpoints are the user's); deleting a Service deletes its Endpoints.

The EndpointSlice controller's share is here too (same inputs, same trigger): per Service with a
selector, ``discovery.k8s.io/v1`` EndpointSlices named ``<service>-<suffix>`` (generateName),
owned by the Service, labelled ``kubernetes.io/service-name`` and
``endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io`` plus the Service's
labels, one per distinct port set, ``addressType: IPv4``, each endpoint with ``addresses``,
``conditions`` (``ready``, ``serving``, ``terminating``), ``nodeName`` and ``targetRef``; a
Service without endpoints keeps one placeholder slice (``endpoints``/``ports`` null). kubectl 1.32
``describe service`` reads these slices for its ``Endpoints:`` lines.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
from typing import Any

from runbook.kinds import ENDPOINT_SLICES, ENDPOINTS, PODS, SERVICES
from runbook.routing import container_port
from runbook.sandbox.controllers.base import ControllerContext, controller_context, pod_ready_since
from runbook.sandbox.registry.status import ApiError
from runbook.sandbox.storage.store import Change, Obj
from runbook.selectors import LabelSelector, Requirement

COMPONENT = "endpoint-controller"
SLICE_COMPONENT = "endpointslice-controller"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
SLICE_MANAGER = "endpointslice-controller.k8s.io"
TRIGGER_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
#: the label the Endpoints controller (1.33+) marks the Endpoints it owns with
ENDPOINTS_MANAGED_BY_LABEL = "endpoints.kubernetes.io/managed-by"
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


#: FNV-1a, 128 bits (Go's ``hash/fnv.New128a``; Python's hashlib has no FNV)
_FNV128_OFFSET = 0x6C62272E07BB014262B821756295C58D
_FNV128_PRIME = 0x0000000001000000000000000000013B
_MASK128 = (1 << 128) - 1


@functools.lru_cache(maxsize=4096)
def _port_hash(name: str, port: int, protocol: str) -> bytes:
    """What ``RepackSubsets`` orders an Endpoints subset's ports by: the FNV-128a hash of the
    ``EndpointPort`` as ``DeepHashObject`` prints it (``k8s.io/utils/dump.ForHash``). The
    emulator writes no ``appProtocol``, so it is printed as nil."""
    text = (f"(v1.EndpointPort){{Name:(string){name} Port:(int32){port} "
            f"Protocol:(v1.Protocol){protocol} AppProtocol:(*string)<nil>}}")
    value = _FNV128_OFFSET
    for byte in text.encode():
        value = ((value ^ byte) * _FNV128_PRIME) & _MASK128
    return value.to_bytes(16, "big")


def _pod_ports(spec: Obj, pod: Obj) -> list[tuple[str, int, str]]:
    """(name, pod port, protocol) of each Service port the pod serves, in the Service's order."""
    ports = []
    for svc_port in spec.get("ports") or ():
        number = target_port(svc_port, pod)
        if number is not None:
            ports.append((str(svc_port.get("name") or ""), number,
                          str(svc_port.get("protocol") or "TCP")))
    return ports


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
        ports = _pod_ports(spec, pod)
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
                           for n, p, proto in sorted(ports_key, key=lambda q: _port_hash(*q))]
        subsets.append(subset)
    return subsets


def slice_endpoints(svc: Obj, pods: list[Obj]) -> dict[tuple[tuple[str, int, str], ...], list[Obj]]:
    """The EndpointSlice controller's endpoints per port set (``podToEndpoint``): every pod with
    an IP, ready or not, terminating ones marked so."""
    spec = svc.get("spec") or {}
    publish = bool(spec.get("publishNotReadyAddresses"))
    groups: dict[tuple[tuple[str, int, str], ...], list[Obj]] = {}
    for pod in pods:
        status = pod.get("status") or {}
        ip = status.get("podIP")
        if not ip or status.get("phase") in ("Succeeded", "Failed"):
            continue
        ports = _pod_ports(spec, pod)
        meta = pod["metadata"]
        terminating = bool(meta.get("deletionTimestamp"))
        ready = pod_ready_since(pod) is not None
        endpoint: Obj = {"addresses": [ip], "conditions": {
            "ready": (publish or ready) and not terminating, "serving": ready,
            "terminating": terminating}}
        if (pod.get("spec") or {}).get("nodeName"):
            endpoint["nodeName"] = pod["spec"]["nodeName"]
        endpoint["targetRef"] = {"kind": "Pod", "namespace": meta.get("namespace", ""),
                                 "name": meta["name"], "uid": meta.get("uid", "")}
        groups.setdefault(tuple(ports), []).append(endpoint)  # in the Service's port order
    for endpoints in groups.values():
        endpoints.sort(key=lambda e: _ip_key({"ip": e["addresses"][0], "targetRef": e["targetRef"]}))
    return groups


class EndpointsController:
    """Keeps an Endpoints object per selecting Service (see the module docstring)."""

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.api = controller_context(COMPONENT)
        self.slice_api = controller_context(SLICE_COMPONENT)

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
        self._sync_slices(svc, pods)
        subsets = endpoint_subsets(svc, pods)
        labels = dict(svc["metadata"].get("labels") or {})
        labels[ENDPOINTS_MANAGED_BY_LABEL] = COMPONENT
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


    def _sync_slices(self, svc: Obj, pods: list[Obj]) -> None:
        """Bring the Service's EndpointSlices to one per port set (a placeholder when empty)."""
        ctx = self.ctx
        meta = svc["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        current = sorted((s for s in ctx.store.objects(ENDPOINT_SLICES.key, ns)
                          if (s["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL) == name),
                         key=lambda s: s["metadata"]["name"])
        labels = {k: v for k, v in (meta.get("labels") or {}).items()
                  if k not in (SERVICE_NAME_LABEL, MANAGED_BY_LABEL)}
        labels.update({SERVICE_NAME_LABEL: name, MANAGED_BY_LABEL: SLICE_MANAGER})
        if (svc.get("spec") or {}).get("clusterIP") == "None":
            labels[HEADLESS_LABEL] = ""
        wanted: list[tuple[Any, Any]] = [
            ([{"name": n, "port": p, "protocol": proto} for n, p, proto in ports], endpoints)
            for ports, endpoints in sorted(slice_endpoints(svc, pods).items())]
        if not wanted:
            wanted = [(None, None)]
        owner = {"apiVersion": "v1", "kind": "Service", "name": name, "uid": meta.get("uid", ""),
                 "controller": True, "blockOwnerDeletion": True}
        for index, (ports, endpoints) in enumerate(wanted):
            existing = current[index] if index < len(current) else None
            if existing is not None and existing.get("ports") == ports and \
                    existing.get("endpoints") == endpoints and \
                    (existing["metadata"].get("labels") or {}) == labels:
                continue
            body: Obj = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                         "metadata": {"namespace": ns, "labels": labels,
                                      "annotations": {TRIGGER_ANNOTATION: ctx.clock.timestamp()},
                                      "ownerReferences": [owner]},
                         "addressType": "IPv4", "endpoints": endpoints, "ports": ports}
            with contextlib.suppress(ApiError):
                if existing is None:
                    body["metadata"]["generateName"] = f"{name}-"
                    ctx.cluster.create(ENDPOINT_SLICES, ns, body, self.slice_api)
                else:
                    body["metadata"]["name"] = existing["metadata"]["name"]
                    body["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
                    ctx.cluster.update(ENDPOINT_SLICES, ns, body["metadata"]["name"], body,
                                       self.slice_api)
        for extra in current[len(wanted):]:
            with contextlib.suppress(ApiError):
                ctx.cluster.delete(ENDPOINT_SLICES, ns, extra["metadata"]["name"], self.slice_api)


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


__all__ = ["EndpointsController", "endpoint_subsets", "service_selector", "slice_endpoints"]
