"""API defaulting and allocation: the fields kube-apiserver fills in before it stores an object.

Only the defaults that readers of this project see are set (what ``kubectl get -o yaml`` and
``describe`` show for the kinds it touches, what printers and controllers read): Service type,
clusterIP/nodePort allocation and port defaults; Namespace phase and finalizer; pod-spec defaults
in Pods and templates; Deployment/ReplicaSet replicas and strategy; webhook configuration
defaults (matchPolicy, reinvocationPolicy, rule scope, timeoutSeconds, failurePolicy, selectors);
Secret type; CRD names. Sources: the ``SetDefaults_*`` functions of k8s.io/kubernetes
``pkg/apis/*/v1/defaults.go`` and the upstream fixture ``webhooks/rev-16-injector.yaml`` (a
cluster read-back that shows the webhook defaults).
"""

from __future__ import annotations

import base64
import ipaddress
import threading
from typing import Any

Obj = dict[str, Any]

#: Service ClusterIP range and NodePort range. The field report's cluster hands out 100.104.x to
#: 100.111.x addresses (its `k get svc` output), so the sandbox uses that /13: scenario IPs are
#: inside the range and allocated ones look alike.
SERVICE_CIDR = ipaddress.ip_network("100.104.0.0/13")
NODE_PORTS = range(30000, 32768)


class Allocator:
    """Hands out ClusterIPs and NodePorts, remembering what is taken; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ips: set[str] = set()
        self._ports: set[int] = set()
        self._next_ip = 10  # .1 is the kubernetes Service; leave a few for fixed addresses
        self._next_port = NODE_PORTS.start
        self._journal = threading.local()  # what this thread allocated since begin()

    def begin(self) -> None:
        """Start recording this thread's allocations (a write that may still fail); nests."""
        if not hasattr(self._journal, "stack"):
            self._journal.stack = []
        self._journal.stack.append([])

    def end(self, keep: bool) -> None:
        """Close the innermost :meth:`begin`: keep what it allocated, or give it back (a failed
        or dry-run write)."""
        items: list[str | int] = self._journal.stack.pop()
        if keep:
            return
        with self._lock:
            for item in items:
                if isinstance(item, str):
                    self._ips.discard(item)
                else:
                    self._ports.discard(item)

    def in_use(self, item: str | int) -> bool:
        """Whether a ClusterIP (str) or NodePort (int) is taken."""
        with self._lock:
            return item in (self._ips if isinstance(item, str) else self._ports)

    def _record(self, item: str | int) -> None:
        stack = getattr(self._journal, "stack", None)
        if stack:
            stack[-1].append(item)

    def reserve(self, svc: Obj) -> None:
        """Mark a stored Service's clusterIP and nodePorts as taken."""
        spec = svc.get("spec") or {}
        with self._lock:
            if spec.get("clusterIP") and spec["clusterIP"] != "None":
                self._ips.add(spec["clusterIP"])
            for port in spec.get("ports") or ():
                if port.get("nodePort"):
                    self._ports.add(int(port["nodePort"]))

    def release(self, svc: Obj) -> None:
        spec = svc.get("spec") or {}
        with self._lock:
            self._ips.discard(spec.get("clusterIP", ""))
            for port in spec.get("ports") or ():
                self._ports.discard(int(port.get("nodePort") or 0))

    def ip(self) -> str:
        with self._lock:
            while True:
                candidate = str(SERVICE_CIDR[self._next_ip])
                self._next_ip += 1
                if candidate not in self._ips:
                    self._ips.add(candidate)
                    self._record(candidate)
                    return candidate

    def node_port(self) -> int:
        with self._lock:
            for _ in range(len(NODE_PORTS)):
                port = self._next_port
                self._next_port = NODE_PORTS.start + (port + 1 - NODE_PORTS.start) % len(NODE_PORTS)
                if port not in self._ports:
                    self._ports.add(port)
                    self._record(port)
                    return port
        raise RuntimeError("no free NodePort left")

    def clear(self) -> None:
        with self._lock:
            self._ips.clear()
            self._ports.clear()
            self._next_ip = 10
            self._next_port = NODE_PORTS.start


def apply_defaults(kind_key: str, obj: Obj, allocator: Allocator, old: Obj | None = None) -> None:
    """Fill in defaults in place (on create; on update ``old`` carries allocated fields over)."""
    fn = _DEFAULTERS.get(kind_key)
    if fn is not None:
        fn(obj, allocator, old)


#: ObjectMeta's map and list fields: Go's ``omitempty`` drops them when empty, so an object the
#: real server stores never reads back ``annotations: {}`` (e.g. after a patch removed the last one)
_META_OMITEMPTY = ("labels", "annotations", "finalizers", "ownerReferences", "managedFields")
#: other ``omitempty`` map fields of the built-in kinds this project writes, by kind key
_OMITEMPTY_MAPS: dict[str, tuple[tuple[str, ...], ...]] = {
    "services": (("spec", "selector"),),
    "configmaps": (("data",), ("binaryData",)),
    "secrets": (("data",), ("stringData",)),
    "pods": (("spec", "nodeSelector"),),
}


def omit_empty(kind_key: str, obj: Obj) -> None:
    """Drop empty ``omitempty`` maps and lists in place, as encoding the Go types does.

    Only fields known to be maps or slices: an empty struct (``resources: {}``, ``emptyDir: {}``)
    is written by the real server and stays.
    """
    metas = [obj.get("metadata")]
    template = (obj.get("spec") or {}).get("template") if isinstance(obj.get("spec"), dict) else None
    if isinstance(template, dict):
        metas.append(template.get("metadata"))
        template_spec = template.get("spec")
        if isinstance(template_spec, dict) and template_spec.get("nodeSelector") == {}:
            del template_spec["nodeSelector"]
    for meta in metas:
        if isinstance(meta, dict):
            for key in _META_OMITEMPTY:
                if key in meta and meta[key] in ({}, [], None):
                    del meta[key]
    for path in _OMITEMPTY_MAPS.get(kind_key, ()):
        parent: Any = obj
        for step in path[:-1]:
            parent = parent.get(step) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and parent.get(path[-1], 0) in ({}, None):
            del parent[path[-1]]


def _namespace(obj: Obj, _: Allocator, old: Obj | None) -> None:
    name = obj.get("metadata", {}).get("name", "")
    labels = obj["metadata"].setdefault("labels", {})
    labels["kubernetes.io/metadata.name"] = name  # set by the NamespaceDefaultLabelName gate
    spec = obj.setdefault("spec", {})
    spec.setdefault("finalizers", ["kubernetes"])
    status = obj.setdefault("status", {})
    status.setdefault("phase", "Active")


def _service(obj: Obj, alloc: Allocator, old: Obj | None) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    old_spec = (old or {}).get("spec") or {}
    if spec["type"] == "ExternalName":
        return
    if not spec.get("clusterIP"):
        spec["clusterIP"] = old_spec.get("clusterIP") or alloc.ip()
    if spec["clusterIP"] != "None":
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    needs_node_port = spec["type"] in ("NodePort", "LoadBalancer")
    if needs_node_port:
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    old_ports = {(p.get("port"), p.get("protocol", "TCP")): p for p in old_spec.get("ports") or ()}
    for port in spec.get("ports") or ():
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
        if needs_node_port and not port.get("nodePort"):
            previous = old_ports.get((port.get("port"), port["protocol"]), {}).get("nodePort")
            port["nodePort"] = previous or alloc.node_port()
    obj.setdefault("status", {}).setdefault("loadBalancer", {})


def pod_spec_defaults(spec: Obj) -> None:
    """``SetDefaults_PodSpec`` and container defaults (shared by Pods and pod templates)."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    # the v1 conversions keep the deprecated serviceAccount equal to serviceAccountName (and
    # take it when only the deprecated one is given), in pod templates too
    account = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if account:
        spec["serviceAccountName"] = spec["serviceAccount"] = account
    for group in ("initContainers", "containers"):
        for c in spec.get(group) or ():
            image = str(c.get("image", ""))
            tag = image.rsplit("/", 1)[-1]
            latest = "@" not in image and (":" not in tag or tag.endswith(":latest"))
            c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
            c.setdefault("resources", {})
            for port in c.get("ports") or ():
                port.setdefault("protocol", "TCP")
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                if isinstance(c.get(probe), dict):
                    _probe(c[probe])


def _probe(probe: Obj) -> None:
    """``SetDefaults_Probe`` and ``SetDefaults_HTTPGetAction``."""
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    http_get = probe.get("httpGet")
    if isinstance(http_get, dict):
        http_get.setdefault("path", "/")
        http_get.setdefault("scheme", "HTTP")


#: what the DefaultTolerationSeconds admission plugin (on in every kube-apiserver) adds to a pod
#: that does not already tolerate these NoExecute taints: evicted 300 s after its node goes away
_DEFAULT_TOLERATIONS = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
     "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
     "tolerationSeconds": 300},
)


def _default_tolerations(spec: Obj) -> None:
    tolerations = spec.get("tolerations")
    if tolerations is not None and not isinstance(tolerations, list):
        return  # validation reports the wrong type
    present = list(tolerations or ())
    for default in _DEFAULT_TOLERATIONS:
        # the plugin skips a taint already tolerated: same or empty key, NoExecute or empty effect
        if not any(isinstance(t, dict) and t.get("effect") in ("NoExecute", "", None)
                   and t.get("key") in (default["key"], "", None) for t in present):
            present.append(dict(default))
    spec["tolerations"] = present


def _pod(obj: Obj, _: Allocator, old: Obj | None) -> None:
    spec = obj.setdefault("spec", {})
    pod_spec_defaults(spec)
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    _default_tolerations(spec)
    status = obj.setdefault("status", {})
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", "BestEffort")


def _template(obj: Obj) -> None:
    template = obj.setdefault("spec", {}).setdefault("template", {})
    template.setdefault("metadata", {})
    pod_spec_defaults(template.setdefault("spec", {}))


def _deployment(obj: Obj, _: Allocator, old: Obj | None) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _template(obj)


def _replicaset(obj: Obj, _: Allocator, old: Obj | None) -> None:
    obj.setdefault("spec", {}).setdefault("replicas", 1)
    _template(obj)
    # ReplicaSetStatus.replicas has no omitempty: a new ReplicaSet reads back "replicas": 0
    status = obj.get("status")
    if isinstance(status, dict):
        status.setdefault("replicas", 0)


def _webhooks(obj: Obj, _: Allocator, old: Obj | None, mutating: bool) -> None:
    for hook in obj.get("webhooks") or ():
        hook.setdefault("failurePolicy", "Fail")
        hook.setdefault("matchPolicy", "Equivalent")
        hook.setdefault("namespaceSelector", {})
        hook.setdefault("objectSelector", {})
        hook.setdefault("timeoutSeconds", 10)
        if mutating:
            hook.setdefault("reinvocationPolicy", "Never")
        service = (hook.get("clientConfig") or {}).get("service")
        if isinstance(service, dict):
            service.setdefault("port", 443)
        for rule in hook.get("rules") or ():
            rule.setdefault("scope", "*")


def _mutating(obj: Obj, alloc: Allocator, old: Obj | None) -> None:
    _webhooks(obj, alloc, old, mutating=True)


def _validating(obj: Obj, alloc: Allocator, old: Obj | None) -> None:
    _webhooks(obj, alloc, old, mutating=False)


def _secret(obj: Obj, _: Allocator, old: Obj | None) -> None:
    obj.setdefault("type", "Opaque")
    # the v1 → internal conversion merges stringData into data (base64) and drops it
    string_data = obj.pop("stringData", None)
    if string_data:
        data = obj.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def _endpoints(obj: Obj, _: Allocator, old: Obj | None) -> None:
    for subset in obj.get("subsets") or ():
        for port in subset.get("ports") or ():
            port.setdefault("protocol", "TCP")


def _endpoint_slice(obj: Obj, _: Allocator, old: Obj | None) -> None:
    for port in obj.get("ports") or ():
        port.setdefault("protocol", "TCP")
    for endpoint in obj.get("endpoints") or ():
        endpoint.setdefault("conditions", {})  # a struct: encoded even when empty


def _limit_range(obj: Obj, _: Allocator, old: Obj | None) -> None:
    """``SetDefaults_LimitRangeItem``: a Container item's default limit from max, its default
    request from the default limit, then from min."""
    for item in (obj.get("spec") or {}).get("limits") or ():
        if item.get("type") != "Container":
            continue
        default = {**(item.get("max") or {}), **(item.get("default") or {})}
        request = {**(item.get("min") or {}), **default, **(item.get("defaultRequest") or {})}
        if default:
            item["default"] = default
        if request:
            item["defaultRequest"] = request


def _event(obj: Obj, _: Allocator, old: Obj | None) -> None:
    # fields of the Go type without omitempty: encoded as null / "" / {} when not set
    for key in ("eventTime", "firstTimestamp", "lastTimestamp"):
        obj.setdefault(key, None)
    for key in ("reportingComponent", "reportingInstance"):
        obj.setdefault(key, "")
    obj.setdefault("source", {})


def _crd(obj: Obj, _: Allocator, old: Obj | None) -> None:
    names = obj.setdefault("spec", {}).setdefault("names", {})
    if names.get("kind"):
        names.setdefault("singular", str(names["kind"]).lower())
        names.setdefault("listKind", f"{names['kind']}List")


def _node(obj: Obj, _: Allocator, old: Obj | None) -> None:
    obj.setdefault("spec", {})


_DEFAULTERS = {
    "namespaces": _namespace,
    "services": _service,
    "pods": _pod,
    "deployments.apps": _deployment,
    "replicasets.apps": _replicaset,
    "mutatingwebhookconfigurations.admissionregistration.k8s.io": _mutating,
    "validatingwebhookconfigurations.admissionregistration.k8s.io": _validating,
    "secrets": _secret,
    "endpoints": _endpoints,
    "endpointslices.discovery.k8s.io": _endpoint_slice,
    "limitranges": _limit_range,
    "events": _event,
    "customresourcedefinitions.apiextensions.k8s.io": _crd,
    "nodes": _node,
}
