"""Server-side printing: ``meta.k8s.io/v1`` Tables as kube-apiserver's table convertors build them.

``kubectl get`` asks for ``application/json;as=Table;v=v1;g=meta.k8s.io`` and prints what comes
back, so the columns and cells here are what a trainee sees. They follow
``pkg/printers/internalversion/printers.go`` (built-in kinds), the apiextensions
``tableconvertor`` (custom resources: ``additionalPrinterColumns`` of the served version, else
``Age``), and ``rest.defaultTableConvertor`` (``CustomResourceDefinition``: ``Name`` and
``Created At``). Ages are ``duration.HumanDuration`` (``2m25s``, ``105m``, ``22h``, ``3d4h``).
Column descriptions are the Go types' swagger docs.

kube-apiserver always generates the wide table (``GenerateOptions{Wide: true}``) and lets kubectl
hide ``priority > 0`` columns unless ``-o wide``; pass ``wide=True`` to get exactly that.
``wide=False`` gives the narrow table (for clients that print it themselves).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

# ages and timestamps as kubectl shows them, shared with the client side (runbook.formats.kubectl)
from runbook.formats.kubectl import human_duration, parse_time
from runbook.formats.kubectl import since as age
from runbook.kinds import ResourceKind

Column = dict[str, Any]
Row = dict[str, Any]

_DOCS: dict[str, str] = {
    "name": (
        "Name must be unique within a namespace. Is required when creating resources, although some "
        "resources may allow a client to request the generation of an appropriate name automatically. "
        "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
        "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-"
        "objects/names#names"
    ),
    "creationTimestamp": (
        "CreationTimestamp is a timestamp representing the server time when this object was created. It "
        "is not guaranteed to be set in happens-before order across separate operations. Clients may not "
        "set this value. It is represented in RFC3339 form and is in UTC.  Populated by the system. Read-"
        "only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-"
        "architecture/api-conventions.md#metadata"
    ),
    "podIP": (
        "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet "
        "allocated."
    ),
    "nodeName": (
        "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for "
        "scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for "
        "this node becomes responsible for the lifecycle of this pod. This field should not be used to "
        "express a desire for the pod to be scheduled on a specific node. "
        "https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename"
    ),
    "nominatedNodeName": (
        "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be "
        "scheduled right away as preemption victims receive their graceful termination periods. This "
        "field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to "
        "place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to "
        "give the resources on this node to a higher priority pod that is created after preemption. As a "
        "result, this field may be different than PodSpec.nodeName when the pod is scheduled."
    ),
    "readinessGates": (
        "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all "
        "its containers are ready AND all conditions specified in the readiness gates have status equal "
        "to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates"
    ),
    "rs.spec.replicas": (
        "Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero "
        "and unspecified. Defaults to 1. More info: "
        "https://kubernetes.io/docs/concepts/workloads/controllers/replicaset"
    ),
    "rs.status.replicas": (
        "Replicas is the most recently observed number of non-terminating pods. More info: "
        "https://kubernetes.io/docs/concepts/workloads/controllers/replicaset"
    ),
    "rs.status.readyReplicas": (
        "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition."
    ),
    "rs.spec.selector": (
        "Selector is a label query over pods that should match the replica count. Label keys and values "
        "that must match in order to be controlled by this replica set. It must match the pod template's "
        "labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-"
        "objects/labels/#label-selectors"
    ),
    "svc.type": (
        "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are "
        "ExternalName, ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" allocates a cluster-internal IP"
        " address for load-balancing to endpoints. Endpoints are determined by the selector or if that is"
        " not specified, by manual construction of an Endpoints object or EndpointSlice objects. If "
        "clusterIP is \"None\", no virtual IP is allocated and the endpoints are published as a set of "
        "endpoints rather than a virtual IP. \"NodePort\" builds on ClusterIP and allocates a port on every"
        " node which routes to the same endpoints as the clusterIP. \"LoadBalancer\" builds on NodePort and"
        " creates an external load-balancer (if supported in the current cloud) which routes to the same "
        "endpoints as the clusterIP. \"ExternalName\" aliases this service to the specified externalName. "
        "Several other fields do not apply to ExternalName services. More info: "
        "https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-"
        "types"
    ),
    "svc.clusterIP": (
        "clusterIP is the IP address of the service and is usually assigned randomly. If an address is "
        "specified manually, is in-range (as per system configuration), and is not in use, it will be "
        "allocated to the service; otherwise creation of the service will fail. This field may not be "
        "changed through updates unless the type field is also being changed to ExternalName (which "
        "requires this field to be blank) or the type field is being changed from ExternalName (in which "
        "case this field may optionally be specified, as describe above).  Valid values are \"None\", empty"
        " string (\"\"), or a valid IP address. Setting this to \"None\" makes a \"headless service\" (no "
        "virtual IP), which is useful when direct endpoint connections are preferred and proxying is not "
        "required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If this field is "
        "specified when creating a Service of type ExternalName, creation will fail. This field will be "
        "wiped when updating a Service to type ExternalName. More info: "
        "https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies"
    ),
    "svc.externalIPs": (
        "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic "
        "for this service.  These IPs are not managed by Kubernetes.  The user is responsible for "
        "ensuring that traffic arrives at a node with this IP.  A common example is external load-"
        "balancers that are not part of the Kubernetes system."
    ),
    "svc.ports": (
        "The list of ports that are exposed by this service. More info: "
        "https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies"
    ),
    "svc.selector": (
        "Route service traffic to pods with label keys and values matching this selector. If empty or not"
        " present, the service is assumed to have an external process managing its endpoints, which "
        "Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored"
        " if type is ExternalName. More info: https://kubernetes.io/docs/concepts/services-"
        "networking/service/"
    ),
    "ep.subsets": (
        "The set of all endpoints is the union of all subsets. Addresses are placed into subsets "
        "according to the IPs they share. A single address with multiple ports, some of which are ready "
        "and some of which are not (because they come from different containers) will result in the "
        "address being displayed in different subsets for the different ports. No address will appear in "
        "both Addresses and NotReadyAddresses in the same subset. Sets of addresses and ports that "
        "comprise a service."
    ),
    "ev.lastTimestamp": (
        "The time at which the most recent occurrence of this event was recorded."
    ),
    "ev.type": (
        "Type of this event (Normal, Warning), new types could be added in the future"
    ),
    "ev.reason": (
        "This should be a short, machine understandable string that gives the reason for the transition "
        "into the object's current status."
    ),
    "ev.involvedObject": (
        "The object that this event is about."
    ),
    "ev.fieldPath": (
        "If referring to a piece of an object instead of an entire object, this string should contain a "
        "valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, "
        "if the object reference is to a container within a pod, this would take on a value like: "
        "\"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the "
        "event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this"
        " pod). This syntax is chosen only to have some well-defined way of referencing a part of an "
        "object."
    ),
    "ev.source": (
        "The component reporting this event. Should be a short machine understandable string."
    ),
    "ev.message": (
        "A human-readable description of the status of this operation."
    ),
    "ev.firstTimestamp": (
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)"
    ),
    "ev.count": (
        "The number of times this event has occurred."
    ),
    "secret.type": (
        "Used to facilitate programmatic handling of secret data. More info: "
        "https://kubernetes.io/docs/concepts/configuration/secret/#secret-types"
    ),
    "secret.data": (
        "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or "
        "'.'. The serialized form of the secret data is a base64 encoded string, representing the "
        "arbitrary (possibly non-string) data value here. Described in "
        "https://tools.ietf.org/html/rfc4648#section-4"
    ),
    "sa.secrets": (
        "Secrets is a list of the secrets in the same namespace that pods running using this "
        "ServiceAccount are allowed to use. Pods are only limited to this list if this service account "
        "has a \"kubernetes.io/enforce-mountable-secrets\" annotation set to \"true\". The "
        "\"kubernetes.io/enforce-mountable-secrets\" annotation is deprecated since v1.32. Prefer separate "
        "namespaces to isolate access to mounted secrets. This field should not be used to find auto-"
        "generated service account token secrets for use outside of pods. Instead, tokens can be "
        "requested directly using the TokenRequest API, or service account token secrets can be manually "
        "created. More info: https://kubernetes.io/docs/concepts/configuration/secret"
    ),
    "node.kubeletVersion": (
        "Kubelet Version reported by the node."
    ),
    "node.addresses": (
        "List of addresses reachable to the node. Queried from cloud provider, if available. More info: "
        "https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as"
        " mergeable, but the merge key is not sufficiently unique, which can cause data corruption when "
        "it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 "
        "for an example. Consumers should assume that addresses can change during the lifetime of a Node."
        " However, there are some exceptions where this may not be possible, such as Pods that inherit a "
        "Node's address in its own status or consumers of the downward API (status.hostIP)."
    ),
    "node.osImage": (
        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."
    ),
    "node.kernelVersion": (
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."
    ),
    "node.containerRuntimeVersion": (
        "ContainerRuntime Version reported by the node through runtime remote API (e.g. "
        "containerd://1.4.2)."
    ),
    "deploy.updatedReplicas": (
        "Total number of non-terminating pods targeted by this deployment that have the desired template "
        "spec."
    ),
    "deploy.availableReplicas": (
        "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by "
        "this deployment."
    ),
    "deploy.selector": (
        "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones "
        "affected by this deployment. It must match the pod template's labels."
    ),
    "cm.data": (
        "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_'"
        " or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in "
        "Data must not overlap with the keys in the BinaryData field, this is enforced during validation "
        "process."
    ),
}


# ---------------------------------------------------------------------------- columns


def _col(name: str, doc: str, type_: str = "string", *, priority: int = 0,
         fmt: str = "") -> Column:
    return {"name": name, "type": type_, "format": fmt, "description": _DOCS.get(doc, doc),
            "priority": priority}


_NAME = _col("Name", "name", fmt="name")
_AGE = _col("Age", "creationTimestamp")
_CONTAINERS = "Names of each container in the template."
_IMAGES = "Images referenced by each container in the template."

_COLUMNS: dict[str, list[Column]] = {
    "pods": [
        _NAME,
        _col("Ready", "The aggregate readiness state of this pod for accepting traffic."),
        _col("Status", "The aggregate status of the containers in this pod."),
        _col("Restarts", "The number of times the containers in this pod have been restarted and "
             "when the last container in this pod has restarted."),
        _AGE,
        _col("IP", "podIP", priority=1),
        _col("Node", "nodeName", priority=1),
        _col("Nominated Node", "nominatedNodeName", priority=1),
        _col("Readiness Gates", "readinessGates", priority=1),
    ],
    "deployments.apps": [
        _NAME,
        _col("Ready", "Number of the pod with ready state"),
        _col("Up-to-date", "deploy.updatedReplicas"),
        _col("Available", "deploy.availableReplicas"),
        _AGE,
        _col("Containers", _CONTAINERS, priority=1),
        _col("Images", _IMAGES, priority=1),
        _col("Selector", "deploy.selector", priority=1),
    ],
    "replicasets.apps": [
        _NAME,
        _col("Desired", "rs.spec.replicas", "integer"),
        _col("Current", "rs.status.replicas", "integer"),
        _col("Ready", "rs.status.readyReplicas", "integer"),
        _AGE,
        _col("Containers", _CONTAINERS, priority=1),
        _col("Images", _IMAGES, priority=1),
        _col("Selector", "rs.spec.selector", priority=1),
    ],
    "services": [
        _NAME,
        _col("Type", "svc.type"),
        _col("Cluster-IP", "svc.clusterIP"),
        _col("External-IP", "svc.externalIPs"),
        _col("Port(s)", "svc.ports"),
        _AGE,
        _col("Selector", "svc.selector", priority=1),
    ],
    "endpoints": [_NAME, _col("Endpoints", "ep.subsets"), _AGE],
    "endpointslices.discovery.k8s.io": [
        _NAME,
        _col("AddressType", "eps.addressType"),
        _col("Ports", "eps.ports"),
        _col("Endpoints", "eps.endpoints"),
        _AGE,
    ],
    "resourcequotas": [_NAME, _AGE, _col("Request", "quota.request"),
                       _col("Limit", "quota.limit")],
    "events": [
        _col("Last Seen", "ev.lastTimestamp"),
        _col("Type", "ev.type"),
        _col("Reason", "ev.reason"),
        _col("Object", "ev.involvedObject"),
        _col("Subobject", "ev.fieldPath", priority=1),
        _col("Source", "ev.source", priority=1),
        _col("Message", "ev.message"),
        _col("First Seen", "ev.firstTimestamp", priority=1),
        _col("Count", "ev.count", priority=1),
        _col("Name", "name", priority=1, fmt="name"),
    ],
    "namespaces": [_NAME, _col("Status", "The status of the namespace"), _AGE],
    "nodes": [
        _NAME,
        _col("Status", "The status of the node"),
        _col("Roles", "The roles of the node"),
        _AGE,
        _col("Version", "node.kubeletVersion"),
        _col("Internal-IP", "node.addresses", priority=1),
        _col("External-IP", "node.addresses", priority=1),
        _col("OS-Image", "node.osImage", priority=1),
        _col("Kernel-Version", "node.kernelVersion", priority=1),
        _col("Container-Runtime", "node.containerRuntimeVersion", priority=1),
    ],
    "serviceaccounts": [_NAME, _col("Secrets", "sa.secrets"), _AGE],
    "configmaps": [_NAME, _col("Data", "cm.data"), _AGE],
    "secrets": [_NAME, _col("Type", "secret.type"), _col("Data", "secret.data"), _AGE],
}
_WEBHOOK_COLUMNS = [_NAME, _col("Webhooks", "Webhooks indicates the number of webhooks "
                                "registered in this configuration", "integer"), _AGE]
_COLUMNS["mutatingwebhookconfigurations.admissionregistration.k8s.io"] = _WEBHOOK_COLUMNS
_COLUMNS["validatingwebhookconfigurations.admissionregistration.k8s.io"] = _WEBHOOK_COLUMNS
_COLUMNS["events.events.k8s.io"] = _COLUMNS["events"]
#: rest.NewDefaultTableConvertor, used for CRDs and any kind without a printer
_DEFAULT_COLUMNS = [_NAME, _col("Created At", "creationTimestamp", "date")]


# ---------------------------------------------------------------------------- cell helpers


def _get(obj: Any, *path: str) -> Any:
    cur = obj
    for key in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    return cur


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _containers(spec: Any) -> tuple[str, str]:
    """``layoutContainerCells``: names and images, comma separated."""
    items = _get(spec, "containers") or []
    names = ",".join(str(c.get("name", "")) for c in items if isinstance(c, Mapping))
    images = ",".join(str(c.get("image", "")) for c in items if isinstance(c, Mapping))
    return names, images


def format_labels(labels: Any) -> str:
    """``labels.FormatLabels``: ``k=v`` sorted, ``<none>`` when empty."""
    if not isinstance(labels, Mapping) or not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def format_label_selector(selector: Any) -> str:
    """``metav1.FormatLabelSelector`` (``<none>`` for an empty one, ``<error>`` if invalid)."""
    if not isinstance(selector, Mapping):
        return "<none>"
    terms: list[tuple[str, str]] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        terms.append((str(key), f"{key}={value}"))
    for expr in selector.get("matchExpressions") or []:
        if not isinstance(expr, Mapping):
            return "<error>"
        key, op = str(expr.get("key", "")), expr.get("operator")
        values = ",".join(sorted(str(v) for v in expr.get("values") or []))
        text = {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                "Exists": key, "DoesNotExist": f"!{key}"}.get(str(op))
        if text is None:
            return "<error>"
        terms.append((key, text))
    # labels.internalSelector sorts its requirements by key (stable for equal keys)
    text = ",".join(t for _, t in sorted(terms, key=lambda kv: kv[0]))
    return text or "<none>"


def _row(obj: Mapping[str, Any], cells: list[Any], include_object: str,
         conditions: list[dict[str, str]] | None = None) -> Row:
    row: Row = {"cells": cells}
    if conditions:
        row["conditions"] = conditions
    if include_object == "Object":
        row["object"] = obj
    elif include_object != "None":
        row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                         "metadata": obj.get("metadata") or {}}
    return row


# ---------------------------------------------------------------------------- pods

_POD_SUCCEEDED = [{"type": "Completed", "status": "True", "reason": "Succeeded",
                   "message": "The pod has completed successfully."}]
_POD_FAILED = [{"type": "Completed", "status": "True", "reason": "Failed",
                "message": "The pod failed."}]


def _pod_cells(pod: Mapping[str, Any], now: datetime) -> tuple[list[Any], list[Any], Any]:
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []
                  if isinstance(c, Mapping)}
    total = len(spec.get("containers") or [])
    total += sum(1 for c in init_specs.values() if c.get("restartPolicy") == "Always")
    ready = restarts = sidecar_restarts = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    def finished(cs: Mapping[str, Any]) -> datetime | None:
        return parse_time(_get(cs, "lastState", "terminated", "finishedAt"))

    def later(a: datetime | None, b: datetime | None) -> datetime | None:
        return b if b is not None and (a is None or b > a) else a

    initializing = False
    init_statuses = status.get("initContainerStatuses") or []
    for i, cs in enumerate(init_statuses):
        restarts += _int(cs.get("restartCount"))
        last_restart = later(last_restart, finished(cs))
        sidecar = (init_specs.get(cs.get("name")) or {}).get("restartPolicy") == "Always"
        if sidecar:
            sidecar_restarts += _int(cs.get("restartCount"))
            last_sidecar_restart = later(last_sidecar_restart, finished(cs))
        state = cs.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated and _int(terminated.get("exitCode")) == 0:
            continue
        if sidecar and cs.get("started"):
            ready += bool(cs.get("ready"))
            continue
        if terminated:
            if not terminated.get("reason"):
                signal = _int(terminated.get("signal"))
                reason = (f"Init:Signal:{signal}" if signal else
                          f"Init:ExitCode:{_int(terminated.get('exitCode'))}")
            else:
                reason = "Init:" + terminated["reason"]
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(spec.get('initContainers') or [])}"
        initializing = True
        break
    initialized = any(c.get("type") == "Initialized" and c.get("status") == "True"
                      for c in status.get("conditions") or [])
    if not initializing or initialized:
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += _int(cs.get("restartCount"))
            last_restart = later(last_restart, finished(cs))
            state = cs.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated:
                signal = _int(terminated.get("signal"))
                reason = (f"Signal:{signal}" if signal else
                          f"ExitCode:{_int(terminated.get('exitCode'))}")
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            pod_ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                            for c in status.get("conditions") or [])
            reason = "Running" if pod_ready else "NotReady"
    deleting = bool(_get(pod, "metadata", "deletionTimestamp"))
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and phase not in ("Failed", "Succeeded"):
        reason = "Terminating"
    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration((now - last_restart).total_seconds())} ago)"
    cells: list[Any] = [_get(pod, "metadata", "name") or "", f"{ready}/{total}", reason,
                        restarts_text, age(_get(pod, "metadata", "creationTimestamp"), now)]
    ips = status.get("podIPs") or []
    pod_ip = (ips[0].get("ip") if ips and isinstance(ips[0], Mapping) else "") or "<none>"
    gates = spec.get("readinessGates") or []
    gates_text = "<none>"
    if gates:
        conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        passed = sum(1 for g in gates if conds.get(g.get("conditionType")) == "True")
        gates_text = f"{passed}/{len(gates)}"
    wide = [pod_ip, spec.get("nodeName") or "<none>",
            status.get("nominatedNodeName") or "<none>", gates_text]
    conditions = (_POD_SUCCEEDED if phase == "Succeeded" else
                  _POD_FAILED if phase == "Failed" else None)
    return cells, wide, conditions


# ---------------------------------------------------------------------------- other kinds


def _service_cells(svc: Mapping[str, Any], now: datetime, wide: bool) -> tuple[list[Any],
                                                                                 list[Any]]:
    spec = svc.get("spec") or {}
    stype = spec.get("type") or "ClusterIP"
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    cluster_ip = ips[0] if ips else "<none>"
    external = spec.get("externalIPs") or []
    if stype in ("ClusterIP", "NodePort"):
        external_ip = ",".join(external) if external else "<none>"
    elif stype == "LoadBalancer":
        found = sorted({str(i.get("ip") or i.get("hostname")) for i in
                        _get(svc, "status", "loadBalancer", "ingress") or []
                        if isinstance(i, Mapping) and (i.get("ip") or i.get("hostname"))})
        lb = ",".join(found)
        if not wide and len(lb) > 16:
            lb = lb[:13] + "..."  # loadBalancerWidth
        lb_list = lb.split(",") if lb else []
        external_ip = ",".join([*lb_list, *external]) if external else (lb or "<pending>")
    elif stype == "ExternalName":
        external_ip = spec.get("externalName") or ""
    else:
        external_ip = "<unknown>"
    pieces = []
    for port in spec.get("ports") or []:
        protocol = port.get("protocol") or "TCP"
        node_port = _int(port.get("nodePort"))
        pieces.append(f"{port.get('port')}:{node_port}/{protocol}" if node_port > 0
                      else f"{port.get('port')}/{protocol}")
    ports = ",".join(pieces) or "<none>"
    name = _get(svc, "metadata", "name") or ""
    cells = [name, stype, cluster_ip, external_ip, ports,
             age(_get(svc, "metadata", "creationTimestamp"), now)]
    return cells, [format_labels(spec.get("selector"))]


def _endpoints_text(ep: Mapping[str, Any]) -> str:
    subsets = ep.get("subsets") or []
    if not subsets:
        return "<none>"
    shown: list[str] = []
    count, more, limit = 0, False, 3
    for subset in subsets:
        addresses = subset.get("addresses") or []
        ports = subset.get("ports") or []
        if not ports:
            count += len(addresses)
            for address in addresses:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(str(address.get("ip", "")))
            continue
        for port in ports:
            count += len(addresses)
            for address in addresses:
                if len(shown) == limit:
                    more = True
                    break
                ip = str(address.get("ip", ""))
                host = f"[{ip}]" if ":" in ip else ip  # net.JoinHostPort
                shown.append(f"{host}:{port.get('port')}")
    text = ",".join(shown)
    return f"{text} + {count - limit} more..." if more else text


def _first_three(values: list[str]) -> str:
    """``listWithMoreString`` of kubectl's printers: three values, then ``+ N more...``."""
    text = ",".join(values[:3])
    if len(values) > 3:
        return f"{text} + {len(values) - 3} more..."
    return text or "<unset>"


def _endpoint_slice_cells(eps: Mapping[str, Any]) -> tuple[str, str]:
    """``formatDiscoveryPorts`` and ``formatDiscoveryEndpoints``."""
    ports = [str(p["port"]) if p.get("port") is not None else str(p.get("name") or "*")
             for p in eps.get("ports") or ()]
    addresses = [str(a) for e in eps.get("endpoints") or () for a in e.get("addresses") or ()]
    return _first_three(ports), _first_three(addresses)


def _quota_cells(quota: Mapping[str, Any]) -> tuple[str, str]:
    """``printResourceQuota``: ``name: used/hard`` pairs, requests and limits apart."""
    status = quota.get("status") or {}
    hard, used = status.get("hard") or {}, status.get("used") or {}
    request: list[str] = []
    limit: list[str] = []
    for name in sorted(hard):
        pair = f"{name}: {used.get(name, '0')}/{hard[name]}"
        (limit if name.startswith("limits.") else request).append(pair)
    return ", ".join(request), ", ".join(limit)


def _event_view(event: Mapping[str, Any]) -> dict[str, Any]:
    """events.k8s.io/v1 events share the core table: map them onto core/v1 field names."""
    if "regarding" not in event and "note" not in event and "deprecatedCount" not in event:
        return dict(event)
    source = event.get("deprecatedSource") or {}
    return {
        "metadata": event.get("metadata") or {},
        "involvedObject": event.get("regarding") or {},
        "reason": event.get("reason"), "message": event.get("note"), "type": event.get("type"),
        "firstTimestamp": event.get("deprecatedFirstTimestamp"),
        "lastTimestamp": event.get("deprecatedLastTimestamp"),
        "count": event.get("deprecatedCount"), "source": source,
        "eventTime": event.get("eventTime"), "series": event.get("series"),
        "reportingComponent": event.get("reportingController"),
        "reportingInstance": event.get("reportingInstance"),
    }


def _event_cells(raw: Mapping[str, Any], now: datetime) -> tuple[list[Any], list[Any]]:
    event = _event_view(raw)
    first = age(event.get("firstTimestamp"), now) if parse_time(event.get("firstTimestamp")) \
        else age(event.get("eventTime"), now)
    last = age(event.get("lastTimestamp"), now) if parse_time(event.get("lastTimestamp")) \
        else first
    count = _int(event.get("count"))
    series = event.get("series")
    if isinstance(series, Mapping):
        last = age(series.get("lastObservedTime"), now)
        count = _int(series.get("count"))
    elif count == 0:
        count = 1  # singleton events of the new API carry no count
    involved = event.get("involvedObject") or {}
    kind = str(involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent") or ""
    instance = source.get("host") or event.get("reportingInstance") or ""
    source_text = f"{component}, {instance}" if instance else component
    message = str(event.get("message") or "").strip()
    narrow = [last, event.get("type") or "", event.get("reason") or "", target, message]
    wide = [last, event.get("type") or "", event.get("reason") or "", target,
            involved.get("fieldPath") or "", source_text, message, first, count,
            _get(event, "metadata", "name") or ""]
    return narrow, wide


_ROLE_PREFIX = "node-role.kubernetes.io/"


def _node_cells(node: Mapping[str, Any], now: datetime) -> tuple[list[Any], list[Any]]:
    status = node.get("status") or {}
    states: list[str] = []
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready":
            states = ["Ready" if cond.get("status") == "True" else "NotReady"]
    if not states:
        states = ["Unknown"]
    if _get(node, "spec", "unschedulable"):
        states.append("SchedulingDisabled")
    roles: set[str] = set()
    for key, value in (_get(node, "metadata", "labels") or {}).items():
        if key.startswith(_ROLE_PREFIX) and key[len(_ROLE_PREFIX):]:
            roles.add(key[len(_ROLE_PREFIX):])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    info = status.get("nodeInfo") or {}

    def address(kind: str) -> str:
        for entry in status.get("addresses") or []:
            if entry.get("type") == kind:
                return str(entry.get("address"))
        return "<none>"

    cells = [_get(node, "metadata", "name") or "", ",".join(states),
             ",".join(sorted(roles)) or "<none>",
             age(_get(node, "metadata", "creationTimestamp"), now), info.get("kubeletVersion", "")]
    wide = [address("InternalIP"), address("ExternalIP"), info.get("osImage") or "<unknown>",
            info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"]
    return cells, wide


def _builtin_cells(key: str, obj: Mapping[str, Any], now: datetime,
                   wide: bool) -> tuple[list[Any], list[Any], Any]:
    """Narrow cells, wide-only cells and row conditions of one object of a built-in kind."""
    name = _get(obj, "metadata", "name") or ""
    created = age(_get(obj, "metadata", "creationTimestamp"), now)
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if key == "pods":
        return _pod_cells(obj, now)
    if key == "deployments.apps":
        names, images = _containers(_get(spec, "template", "spec"))
        return ([name, f"{_int(status.get('readyReplicas'))}/{_int(spec.get('replicas'), 1)}",
                 _int(status.get("updatedReplicas")), _int(status.get("availableReplicas")),
                 created],
                [names, images, _selector_string(spec.get("selector"))], None)
    if key == "replicasets.apps":
        names, images = _containers(_get(spec, "template", "spec"))
        return ([name, _int(spec.get("replicas"), 1), _int(status.get("replicas")),
                 _int(status.get("readyReplicas")), created],
                [names, images, format_label_selector(spec.get("selector"))], None)
    if key == "services":
        cells, extra = _service_cells(obj, now, wide)
        return cells, extra, None
    if key == "endpoints":
        return [name, _endpoints_text(obj), created], [], None
    if key == "endpointslices.discovery.k8s.io":
        ports, endpoints = _endpoint_slice_cells(obj)
        return [name, obj.get("addressType") or "", ports, endpoints, created], [], None
    if key == "resourcequotas":
        request, limit = _quota_cells(obj)
        return [name, created, request, limit], [], None
    if key in ("events", "events.events.k8s.io"):
        narrow, wide_cells = _event_cells(obj, now)
        return (wide_cells, [], None) if wide else (narrow, [], None)
    if key == "namespaces":
        return [name, status.get("phase") or "", created], [], None
    if key == "nodes":
        cells, extra = _node_cells(obj, now)
        return cells, extra, None
    if key == "serviceaccounts":
        return [name, len(obj.get("secrets") or []), created], [], None
    if key == "configmaps":
        return [name, len(obj.get("data") or {}) + len(obj.get("binaryData") or {}), created], \
            [], None
    if key == "secrets":
        return [name, obj.get("type") or "", len(obj.get("data") or {}), created], [], None
    if key.startswith(("mutatingwebhookconfigurations.", "validatingwebhookconfigurations.")):
        return [name, len(obj.get("webhooks") or []), created], [], None
    when = parse_time(_get(obj, "metadata", "creationTimestamp"))
    return [name, when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else
            "0001-01-01T00:00:00Z"], [], None


def _selector_string(selector: Any) -> str:
    """``LabelSelectorAsSelector(...).String()`` (empty for a nil/empty selector)."""
    text = format_label_selector(selector)
    return "" if text == "<none>" else text


# ---------------------------------------------------------------------------- custom resources

_TOKEN = re.compile(r"""\.(?P<field>[^.\[\]]+)|\[(?P<index>-?\d+|\*)\]|\['(?P<quoted>[^']*)'\]"""
                    r"""|\[\?\(@\.(?P<fkey>[\w.-]+)\s*==\s*["'](?P<fval>[^"']*)["']\)\]""")


def eval_json_path(obj: Any, path: str) -> list[Any]:
    """The values a simple JSONPath (``.spec.hosts``, ``.status.conditions[?(@.type=="Ready")]
    .status``, ``.spec.ports[0].number``, ``[*]``) finds; missing keys give no value."""
    expr = path.strip()
    if expr.startswith("{") and expr.endswith("}"):
        expr = expr[1:-1]
    if expr.startswith("$"):
        expr = expr[1:]
    current = [obj]
    pos = 0
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if match is None:
            return []
        pos = match.end()
        nxt: list[Any] = []
        for value in current:
            name = match.group("field") or match.group("quoted")
            if name is not None:
                if isinstance(value, Mapping) and name in value:
                    nxt.append(value[name])
            elif match.group("index") is not None and isinstance(value, list):
                index = match.group("index")
                if index == "*":
                    nxt.extend(value)
                elif -len(value) <= int(index) < len(value):
                    nxt.append(value[int(index)])
            elif match.group("fkey") and isinstance(value, list):
                keys = match.group("fkey").split(".")
                for item in value:
                    if str(_get(item, *keys)) == match.group("fval"):
                        nxt.append(item)
        current = nxt
    return current


def _go_json(value: Any) -> str:
    # encoding/json.Marshal: compact, HTML-escaped
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _string_cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return _go_json(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _typed_cell(type_: str, value: Any, now: datetime) -> Any:
    """apiextensions ``cellForJSONValue``."""
    if value is None:
        return None
    if type_ == "integer" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if type_ == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if type_ == "boolean" and isinstance(value, bool):
        return value
    if type_ == "date" and isinstance(value, str):
        return age(value, now) if parse_time(value) else "<invalid>"
    return None


def printer_columns(crd: Mapping[str, Any], version: str) -> list[dict[str, Any]]:
    """``additionalPrinterColumns`` of the served version, else the ``Age`` default."""
    spec = crd.get("spec") or {}
    columns: list[dict[str, Any]] | None = None
    for entry in spec.get("versions") or []:
        if isinstance(entry, Mapping) and entry.get("name") == version:
            columns = entry.get("additionalPrinterColumns")
    if columns is None:
        columns = spec.get("additionalPrinterColumns")
    if not columns:
        return [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp",
                 "description": _DOCS["creationTimestamp"]}]
    return [dict(c) for c in columns if isinstance(c, Mapping)]


def _custom_table(objects: Sequence[Mapping[str, Any]], crd: Mapping[str, Any] | None,
                  version: str, now: datetime) -> tuple[list[Column], list[list[Any]]]:
    if crd is None:
        defs = [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp",
                 "description": _DOCS["creationTimestamp"]}]
    else:
        defs = printer_columns(crd, version)
    columns = [_NAME] + [{
        "name": c.get("name", ""), "type": c.get("type", "string"), "format": c.get("format", ""),
        "description": c.get("description") or
        f"Custom resource definition column (in JSONPath format): {c.get('jsonPath', '')}",
        "priority": _int(c.get("priority"))} for c in defs]
    rows = []
    for obj in objects:
        cells: list[Any] = [_get(obj, "metadata", "name") or ""]
        for column in defs:
            found = eval_json_path(obj, str(column.get("jsonPath", "")))
            value = found[0] if found else None
            cells.append(_string_cell(value) if column.get("type") == "string"
                         else _typed_cell(str(column.get("type")), value, now))
        rows.append(cells)
    return columns, rows


# ---------------------------------------------------------------------------- entry point


def to_table(kind: ResourceKind, objects: list[dict[str, Any]], now: datetime,
             crd: dict[str, Any] | None = None, wide: bool = False, *,
             version: str | None = None, include_object: str = "Metadata",
             resource_version: str | None = None) -> dict[str, Any]:
    """Render objects of one kind as a ``meta.k8s.io/v1`` Table.

    Args:
        kind: the kind being listed.
        objects: the objects (one row each, in order).
        now: the server's clock (ages are relative to it).
        crd: the CustomResourceDefinition of a custom resource (its printer columns).
        wide: include ``priority > 0`` columns and cells, as kube-apiserver always does.
        version: the requested version of a custom resource (defaults to ``kind.version``).
        include_object: ``Metadata`` (default: PartialObjectMetadata), ``Object`` or ``None``.
        resource_version: the list's resourceVersion, put in the Table's metadata.

    Returns:
        The Table as a JSON-ready dict.
    """
    key = kind.key
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    rows: list[Row] = []
    if key in _COLUMNS:
        columns = _COLUMNS[key]
        for obj in objects:
            narrow, extra, conditions = _builtin_cells(key, obj, now, wide)
            cells = narrow + extra if wide else narrow
            rows.append(_row(obj, cells, include_object, conditions))
        shown = columns if wide else [c for c in columns if not c["priority"]]
    elif kind.group and key != "customresourcedefinitions.apiextensions.k8s.io" and \
            not _is_builtin_group(kind.group):
        all_columns, cell_rows = _custom_table(objects, crd, version or kind.version, now)
        keep = [i for i, c in enumerate(all_columns) if wide or not c["priority"]]
        shown = [all_columns[i] for i in keep]
        for obj, cells in zip(objects, cell_rows, strict=True):
            rows.append(_row(obj, [cells[i] for i in keep], include_object))
    else:
        shown = _DEFAULT_COLUMNS
        for obj in objects:
            cells, _, _ = _builtin_cells(key, obj, now, wide)
            rows.append(_row(obj, cells, include_object))
    metadata: dict[str, Any] = {}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata,
            "columnDefinitions": [dict(c) for c in shown], "rows": rows}


_BUILTIN_GROUPS = frozenset({"", "apps", "events.k8s.io", "admissionregistration.k8s.io",
                             "apiextensions.k8s.io", "batch", "policy", "rbac.authorization.k8s.io",
                             "networking.k8s.io", "storage.k8s.io", "coordination.k8s.io",
                             "discovery.k8s.io", "autoscaling", "scheduling.k8s.io",
                             "certificates.k8s.io", "node.k8s.io", "flowcontrol.apiserver.k8s.io"})


def _is_builtin_group(group: str) -> bool:
    return group in _BUILTIN_GROUPS


__all__ = [
    "age",
    "eval_json_path",
    "format_label_selector",
    "format_labels",
    "human_duration",
    "parse_time",
    "printer_columns",
    "to_table",
]
