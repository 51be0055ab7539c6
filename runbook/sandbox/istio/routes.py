"""What each emulated ingress gateway is programmed with: built from the store, as istiod would.

:func:`build_config` reads the store (under its lock, so the result is one consistent view) and
returns an immutable :class:`DataPlaneConfig`; the data plane (:mod:`.dataplane`) swaps it in and
serves requests from it without touching the store again.

**Gateways** are recognised from Services and pods, never names: a Service of type
``LoadBalancer``/``NodePort`` whose selector matches pods that run a gateway proxy
(:func:`runbook.routing.is_gateway_proxy`). Every ``nodePort`` of such a Service is a
:class:`NodePortBinding` (127.0.0.1:<nodePort> → Service port → the pod's target port).

**Who programs a gateway pod** — the running istiod whose revision is the pod's (``istio.io/rev``
label, else the revision in ``sidecar.istio.io/status``, else ``default``). A pod without one gets
no configuration at all (no listeners: connections are refused, as with a real Envoy that never
received its listeners). That istiod only takes in config from namespaces its meshConfig
``discoverySelectors`` watch and whose ``istio.io/rev`` label it processes
(:mod:`runbook.meshconfig`); config it ignores does not exist for the gateway — the failure mode
of the field report's two revisions, reproduced.

**Listeners** — a Gateway applies to a pod when it is taken in and its ``selector`` (a label map;
empty selects every gateway) matches the pod's labels; each of its ``servers`` opens a listener on
a pod port: the Service's ``targetPort`` when ``port.number`` is one of the Service's ports (Istio
1.18 Gateways name the Service port, e.g. 80 → 8080), else ``port.number`` itself. Only ``HTTP``
(and ``HTTP2``) servers are emulated; ``HTTPS``/``TLS``/``TCP`` servers are listed but not served.

**Routes** (``pilot/pkg/networking/core/v1alpha3/gateway.go``, ``route/route.go``): for every HTTP
server and every VirtualService bound to its Gateway (``spec.gateways``), visible to the gateway's
namespace (``exportTo``), taken in by its istiod, the VirtualService's hosts (short names resolved
in its namespace) intersect the server's hosts (``ns/host`` forms respected) — each intersection is
a virtual host domain; VirtualServices are taken in creation order and the routes of several for
one domain are appended. Per ``http`` rule: matches that cannot apply on this proxy
(``sourceLabels`` compared with the gateway pod's labels, ``sourceNamespace``, per-match
``gateways``) are dropped, and a rule whose matches are all dropped disappears.

**Destinations** are resolved here, once: the host (short → ``<host>.<vs ns>.svc.cluster.local``)
must be a Service in a namespace the istiod watches, the port must be one of its ports (or the
only one), a ``subset`` must exist in a DestinationRule for the host (looked up in the gateway's
namespace, then the Service's, then the mesh root namespace, then elsewhere; ``exportTo``
respected) — otherwise istiod would reference a cluster that does not exist and Envoy answers 503
with an empty body (``NC``, :attr:`Destination.no_cluster`). The endpoints are the ready addresses
of the Service's Endpoints whose pods carry the subset's labels; none → 503 ``no healthy
upstream`` (``UH``).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from runbook.kinds import DESTINATION_RULES, ENDPOINTS, GATEWAYS, NAMESPACES, PODS, SERVICES, VIRTUAL_SERVICES
from runbook.meshconfig import processes_config, watches_namespace
from runbook.routing import (
    Fault,
    RequestView,
    gateway_refs,
    host_intersection,
    host_matches,
    is_gateway_proxy,
    match_applies_to_proxy,
    parse_duration,
    request_matches,
    resolve_host,
    server_host_for,
    service_of_host,
    strip_port,
    vs_hosts,
    weighted,
)
from runbook.safeload import load_json
from runbook.sandbox.controllers.base import pod_ready_since
from runbook.sandbox.controllers.endpoints import service_selector, target_port
from runbook.sandbox.istio.backends import PodApp, pod_app
from runbook.sandbox.storage.store import Obj, Store
from runbook.selectors import LabelSelector
from runbook.wellknown import DEFAULT_REVISION, REV_LABEL, SIDECAR_STATUS_ANNOTATION

#: the pod port of Envoy's health/status listener in Istio gateways (``status-port``)
STATUS_PORT = 15021
#: server protocols the emulation serves (others are listed, not served)
HTTP_PROTOCOLS = frozenset({"HTTP", "HTTP2", ""})


@dataclass(frozen=True)
class ControlPlane:
    """A running istiod as the gateways see it.

    Attributes:
        revision: its revision (``default`` when installed without one).
        pod: ``namespace/name`` of the istiod pod.
        selectors: its meshConfig ``discoverySelectors`` (empty: every namespace).
        root_namespace: meshConfig ``rootNamespace`` (where mesh-wide DestinationRules live).
    """

    revision: str
    pod: str
    selectors: tuple[LabelSelector, ...] = ()
    root_namespace: str = "istio-system"

    def watches(self, namespace_labels: Mapping[str, str] | None) -> bool:
        return watches_namespace(list(self.selectors), namespace_labels)

    def processes(self, labels: Mapping[str, str] | None) -> bool:
        return processes_config(self.revision, labels, self.revision == DEFAULT_REVISION)


@dataclass(frozen=True)
class Destination:
    """One weighted destination of a route, resolved when the configuration was built.

    Attributes:
        host: the host as written; fqdn: as istiod reads it.
        subset: the DestinationRule subset (None: all endpoints).
        port: the Service port (None when it could not be chosen).
        weight: its share (Envoy weighted clusters).
        endpoints: ready pods that can answer.
        no_cluster: why istiod has no cluster for it ("" when it has one).
        request_headers / response_headers: the destination's ``headers`` operations.
    """

    host: str
    fqdn: str
    subset: str | None
    port: int | None
    weight: float
    endpoints: tuple[PodApp, ...] = ()
    no_cluster: str = ""
    request_headers: Mapping[str, Any] | None = None
    response_headers: Mapping[str, Any] | None = None

    @property
    def cluster(self) -> str:
        """Envoy's cluster name (``outbound|9080|v1|reviews.bookinfo.svc.cluster.local``)."""
        return f"outbound|{self.port or ''}|{self.subset or ''}|{self.fqdn}"


@dataclass(frozen=True)
class Route:
    """One ``http`` rule of a VirtualService as a gateway holds it."""

    source: str
    matches: tuple[Mapping[str, Any], ...]
    destinations: tuple[Destination, ...] = ()
    cumulative: tuple[float, ...] = ()
    fault: Fault | None = None
    rewrite_uri: str | None = None
    rewrite_authority: str | None = None
    timeout_s: float | None = None
    redirect: Mapping[str, Any] | None = None
    direct_response: Mapping[str, Any] | None = None
    request_headers: Mapping[str, Any] | None = None
    response_headers: Mapping[str, Any] | None = None
    decorator: str = ""

    def match(self, request: RequestView) -> Mapping[str, Any] | None:
        """The first of its matches that accepts the request ({} for a rule without matches),
        None when it does not apply."""
        if not self.matches:
            return {}
        return next((m for m in self.matches if request_matches(m, request)), None)

    def pick(self, draw: float) -> Destination | None:
        """The destination for a uniform ``draw`` in [0, 1) (weighted, like Envoy)."""
        if not self.destinations:
            return None
        if len(self.destinations) == 1:
            return self.destinations[0]
        i = bisect.bisect_right(self.cumulative, draw * self.cumulative[-1])
        return self.destinations[min(i, len(self.destinations) - 1)]


@dataclass
class VirtualHost:
    """A virtual host: its domain and its routes in order."""

    domain: str
    routes: list[Route] = field(default_factory=list)
    https_redirect: bool = False

    def route_for(self, request: RequestView) -> tuple[Route, Mapping[str, Any]] | None:
        """First route whose matches accept the request, with the match that did."""
        for route in self.routes:
            m = route.match(request)
            if m is not None:
                return route, m
        return None


@dataclass(frozen=True)
class Listener:
    """One pod port of a gateway: its protocol and virtual hosts.

    Attributes:
        port: the pod port (e.g. 8080).
        server_port: the Gateway server's ``port.number`` (what ``match.port`` compares).
        protocol: ``HTTP`` … (only HTTP protocols are served).
        exact: virtual hosts by exact domain; wildcards: ``*.x`` domains, longest first, ``*`` last.
        servers: ``Gateway ns/name`` of every server merged here.
    """

    port: int
    server_port: int
    protocol: str
    exact: Mapping[str, VirtualHost] = field(default_factory=dict)
    wildcards: tuple[VirtualHost, ...] = ()
    servers: tuple[str, ...] = ()

    @property
    def serves_http(self) -> bool:
        return self.protocol in HTTP_PROTOCOLS

    def virtual_host(self, authority: str) -> VirtualHost | None:
        """The virtual host for a ``Host`` header (exact, then the longest wildcard, then ``*``)."""
        host = strip_port(authority)
        found = self.exact.get(host)
        if found is not None:
            return found
        return next((vh for vh in self.wildcards if host_matches(vh.domain, host)), None)

    def domains(self) -> list[str]:
        return [*self.exact, *(vh.domain for vh in self.wildcards)]


@dataclass(frozen=True)
class GatewayProxy:
    """One ready gateway pod and what its istiod programmed into it."""

    namespace: str
    name: str
    ip: str
    labels: Mapping[str, str]
    revision: str
    istiod: str | None
    listeners: Mapping[int, Listener] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class NodePortBinding:
    """``127.0.0.1:<node_port>`` → a gateway Service port → the pods' target port.

    Attributes:
        backends: ``(proxy, target port)`` for every ready gateway pod the Service selects.
        gateway_pods: how many gateway pods (ready or not) the Service selects.
    """

    node_port: int
    service: str
    service_port: int
    port_name: str
    backends: tuple[tuple[GatewayProxy, int], ...] = ()
    gateway_pods: int = 0

    @property
    def status_port(self) -> bool:
        return bool(self.backends) and all(t == STATUS_PORT for _, t in self.backends)

    @property
    def target_port(self) -> int | None:
        return self.backends[0][1] if self.backends else None

    def http_backends(self) -> list[tuple[GatewayProxy, Listener]]:
        """Ready pods with an HTTP listener on the target port."""
        out = []
        for proxy, target in self.backends:
            listener = proxy.listeners.get(target)
            if listener is not None and listener.serves_http:
                out.append((proxy, listener))
        return out

    def serving(self) -> tuple[bool, str]:
        """Whether 127.0.0.1:<node_port> should accept connections, and if not, why."""
        where = f"{self.service} port {self.service_port}"
        if not self.backends:
            return False, (f"{where}: no ready gateway pod" if self.gateway_pods else
                           f"{where}: no gateway pod")
        if self.status_port:
            return True, ""
        if self.http_backends():
            return True, ""
        reasons: list[str] = []
        for proxy, target in self.backends:
            listener = proxy.listeners.get(target)
            if proxy.problems:
                reasons.extend(proxy.problems)
            elif listener is not None:
                reasons.append(f"{listener.protocol} server on {target} ({', '.join(listener.servers)}): "
                               "only HTTP servers are emulated")
            else:
                reasons.append(f"no Gateway server for port {self.service_port} (pod port {target}) "
                               f"applies to {proxy.key} (istiod {proxy.istiod})")
        return False, f"{where}: {'; '.join(dict.fromkeys(reasons))}"


@dataclass(frozen=True)
class DataPlaneConfig:
    """Everything the data plane serves from (immutable once built).

    Attributes:
        bindings: node port → binding.
        services: ``(namespace, service)`` → Service port → ready pods, for app-to-app calls
            (productpage → details/reviews) in the namespaces of routed pods.
        resource_version: the store's resourceVersion it was built at.
    """

    bindings: Mapping[int, NodePortBinding] = field(default_factory=dict)
    services: Mapping[tuple[str, str], Mapping[int, tuple[PodApp, ...]]] = field(default_factory=dict)
    resource_version: int = 0


@dataclass(frozen=True)
class _Server:
    gateway: tuple[str, str]
    number: int
    protocol: str
    hosts: tuple[str, ...]
    https_redirect: bool


def _mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is an object, else {} (config fields of the wrong type are ignored)."""
    return value if isinstance(value, Mapping) else {}


def _meta(obj: Obj) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _creation_order(obj: Obj) -> tuple[str, str, str]:
    """Istio's ``sortConfigByCreationTime``: creation time, then name, then namespace."""
    meta = _meta(obj)
    return (str(meta.get("creationTimestamp") or ""), str(meta.get("name") or ""),
            str(meta.get("namespace") or ""))


def exported_to(obj: Obj, namespace: str) -> bool:
    """``exportTo`` lets config of another namespace be seen from ``namespace`` (default ``*``)."""
    export = (obj.get("spec") or {}).get("exportTo") or []
    if not export:
        return True
    own = _meta(obj).get("namespace")
    return any(e == "*" or e == namespace or (e == "." and own == namespace) for e in export)


def proxy_revision(pod: Obj) -> str:
    """The revision that programs a gateway pod (``istio.io/rev``, else its injection status)."""
    meta = _meta(pod)
    rev = (meta.get("labels") or {}).get(REV_LABEL)
    if rev:
        return str(rev)
    status = (meta.get("annotations") or {}).get(SIDECAR_STATUS_ANNOTATION)
    if status:
        try:
            value = load_json(status, SIDECAR_STATUS_ANNOTATION).get("revision")
        except (ValueError, AttributeError):
            value = None
        if value:
            return str(value)
    return DEFAULT_REVISION


class _Builder:
    """One build of the configuration (see :func:`build_config`)."""

    def __init__(self, store: Store, planes: Sequence[ControlPlane]) -> None:
        self.store = store
        self.planes = sorted(planes, key=lambda p: p.pod)
        self.ns_labels = {_meta(ns).get("name", ""): dict(_meta(ns).get("labels") or {})
                          for ns in store.objects(NAMESPACES.key)}
        self.gateways = sorted(store.objects(GATEWAYS.key), key=_creation_order)
        self.virtual_services = sorted(store.objects(VIRTUAL_SERVICES.key), key=_creation_order)
        self.destination_rules = sorted(store.objects(DESTINATION_RULES.key), key=_creation_order)
        self.apps: dict[tuple[str, str], PodApp] = {}
        self.app_namespaces: set[str] = set()

    # ---------------------------------------------------------------- gateway pods

    def build(self) -> DataPlaneConfig:
        gateway_services: list[tuple[Obj, list[Obj]]] = []
        for svc in self.store.objects(SERVICES.key):
            spec = svc.get("spec") or {}
            if spec.get("type") not in ("LoadBalancer", "NodePort"):
                continue
            selector = service_selector(svc)
            if selector is None:
                continue
            ns = _meta(svc).get("namespace", "")
            pods = [p for p in self.store.objects(PODS.key, ns)
                    if selector.matches(_meta(p).get("labels")) and not _meta(p).get("deletionTimestamp")
                    and is_gateway_proxy(p)]
            if pods:
                gateway_services.append((svc, pods))
        # a Gateway server's port names a Service port: collect them per pod (all its Services)
        service_ports: dict[tuple[str, str], dict[int, int]] = {}
        for svc, pods in gateway_services:
            for pod in pods:
                mapping = service_ports.setdefault((_meta(pod)["namespace"], _meta(pod)["name"]), {})
                for port in (svc.get("spec") or {}).get("ports") or ():
                    target = target_port(port, pod)
                    if target is not None and isinstance(port.get("port"), int):
                        mapping.setdefault(int(port["port"]), target)
        proxies: dict[tuple[str, str], GatewayProxy] = {}
        bindings: dict[int, NodePortBinding] = {}
        for svc, pods in gateway_services:
            meta = _meta(svc)
            for port in (svc.get("spec") or {}).get("ports") or ():
                node_port = port.get("nodePort")
                if not isinstance(node_port, int) or port.get("protocol", "TCP") != "TCP":
                    continue
                backends = []
                for pod in pods:
                    key = (_meta(pod)["namespace"], _meta(pod)["name"])
                    target = target_port(port, pod)
                    if target is None or pod_ready_since(pod) is None:
                        continue
                    if key not in proxies:
                        proxies[key] = self.proxy(pod, service_ports.get(key, {}))
                    backends.append((proxies[key], target))
                bindings[node_port] = NodePortBinding(
                    node_port, f"{meta.get('namespace')}/{meta.get('name')}", int(port.get("port") or 0),
                    str(port.get("name") or ""), tuple(backends), len(pods))
        return DataPlaneConfig(bindings, self.service_endpoints(), self.store.resource_version)

    def plane_of(self, revision: str) -> ControlPlane | None:
        return next((p for p in self.planes if p.revision == revision), None)

    def takes_in(self, plane: ControlPlane, obj: Obj) -> bool:
        meta = _meta(obj)
        return plane.watches(self.ns_labels.get(meta.get("namespace", ""))) and \
            plane.processes(meta.get("labels"))

    def proxy(self, pod: Obj, service_ports: Mapping[int, int]) -> GatewayProxy:
        meta = _meta(pod)
        ns, name = meta["namespace"], meta["name"]
        labels = dict(meta.get("labels") or {})
        revision = proxy_revision(pod)
        ip = str((pod.get("status") or {}).get("podIP") or "")
        plane = self.plane_of(revision)
        if plane is None:
            return GatewayProxy(ns, name, ip, labels, revision, None, {}, (
                f"no running istiod of revision {revision} programs {ns}/{name}: it has no listeners",))
        servers: dict[int, list[_Server]] = {}
        for gw in self.gateways:
            spec = gw.get("spec") or {}
            selector = spec.get("selector") or {}
            if not self.takes_in(plane, gw) or not isinstance(selector, Mapping) or \
                    any(labels.get(str(k)) != str(v) for k, v in selector.items()):
                continue
            gw_key = (_meta(gw).get("namespace", ""), _meta(gw).get("name", ""))
            for server in spec.get("servers") or ():
                port = (server or {}).get("port") or {}
                number = port.get("number")
                if not isinstance(number, int):
                    continue
                target = service_ports.get(number, number)
                hosts = tuple(str(h) for h in server.get("hosts") or () if isinstance(h, str))
                redirect = bool(((server.get("tls") or {}) if isinstance(server.get("tls"), Mapping)
                                 else {}).get("httpsRedirect"))
                servers.setdefault(target, []).append(
                    _Server(gw_key, number, str(port.get("protocol") or "").upper(), hosts, redirect))
        visible = [vs for vs in self.virtual_services if self.takes_in(plane, vs) and exported_to(vs, ns)]
        listeners = {target: self.listener(target, srvs, visible, pod, plane)
                     for target, srvs in servers.items()}
        return GatewayProxy(ns, name, ip, labels, revision, plane.pod, listeners)

    def listener(self, target: int, servers: list[_Server], visible: list[Obj], pod: Obj,
                 plane: ControlPlane) -> Listener:
        described = tuple(dict.fromkeys(f"Gateway {s.gateway[0]}/{s.gateway[1]}" for s in servers))
        http = [s for s in servers if s.protocol in HTTP_PROTOCOLS]
        if not http:
            return Listener(target, servers[0].number, servers[0].protocol, servers=described)
        vhosts: dict[str, VirtualHost] = {}
        added: set[tuple[str, str, str]] = set()
        for server in http:
            for vs in visible:
                vs_ns, vs_name = _meta(vs).get("namespace", ""), _meta(vs).get("name", "")
                spec = vs.get("spec") or {}
                if server.gateway not in gateway_refs(spec, vs_ns):
                    continue
                domains: list[str] = []
                for server_host in server.hosts:
                    allowed = server_host_for(server_host, server.gateway[0], vs_ns)
                    if allowed is None:
                        continue
                    for host in vs_hosts(spec, vs_ns):
                        domain = host_intersection(allowed, host)
                        if domain is not None and domain not in domains:
                            domains.append(domain)
                if not domains:
                    continue
                routes = self.routes(vs, server, pod, plane)
                for domain in domains:
                    if (domain, vs_ns, vs_name) in added:
                        continue
                    added.add((domain, vs_ns, vs_name))
                    vhost = vhosts.setdefault(domain, VirtualHost(domain, [], server.https_redirect))
                    vhost.routes.extend(routes)
        exact = {d: vh for d, vh in vhosts.items() if not d.startswith("*")}
        # longest wildcard suffix first, the catch-all "*" last (Envoy's domain search order)
        wild = tuple(sorted((vh for d, vh in vhosts.items() if d.startswith("*")),
                            key=lambda vh: -len(vh.domain)))
        return Listener(target, http[0].number, "HTTP", exact, wild, described)

    # ---------------------------------------------------------------- routes

    def routes(self, vs: Obj, server: _Server, pod: Obj, plane: ControlPlane) -> list[Route]:
        meta = _meta(vs)
        vs_ns, vs_name = meta.get("namespace", ""), meta.get("name", "")
        pod_meta = _meta(pod)
        out: list[Route] = []
        for i, rule in enumerate((vs.get("spec") or {}).get("http") or ()):
            if not isinstance(rule, Mapping):
                continue
            matches = [m for m in rule.get("match") or () if isinstance(m, Mapping)]
            kept = tuple(m for m in matches if match_applies_to_proxy(
                m, gateway=server.gateway, config_namespace=vs_ns,
                proxy_labels=pod_meta.get("labels") or {}, proxy_namespace=pod_meta.get("namespace", "")))
            if matches and not kept:
                continue  # every match needs another source or gateway: the rule is not on this proxy
            raw_dests = [d for d in rule.get("route") or () if isinstance(d, Mapping)]
            dests = tuple(self.destination(d, w, vs_ns, pod_meta.get("namespace", ""), plane)
                          for d, w in weighted([(d, d.get("weight")) for d in raw_dests]))
            rewrite = _mapping(rule.get("rewrite"))
            headers = _mapping(rule.get("headers"))
            timeout = None
            if rule.get("timeout") is not None:
                try:
                    timeout = parse_duration(rule["timeout"]) or None
                except ValueError:
                    timeout = None  # istiod's validation would have refused it
            first = dests[0] if dests else None
            out.append(Route(
                source=f"VirtualService {vs_ns}/{vs_name} http[{i}]"
                       + (f" ({rule['name']})" if rule.get("name") else ""),
                matches=kept, destinations=dests,
                cumulative=tuple(itertools.accumulate(d.weight for d in dests)),
                fault=Fault.from_spec(rule.get("fault")),
                rewrite_uri=str(rewrite["uri"]) if rewrite.get("uri") else None,
                rewrite_authority=str(rewrite["authority"]) if rewrite.get("authority") else None,
                timeout_s=timeout,
                redirect=rule.get("redirect") if isinstance(rule.get("redirect"), Mapping) else None,
                direct_response=rule.get("directResponse")
                if isinstance(rule.get("directResponse"), Mapping) else None,
                request_headers=headers.get("request"), response_headers=headers.get("response"),
                decorator=f"{first.fqdn}:{first.port or ''}/*" if first else ""))
        return out

    def destination(self, spec: Mapping[str, Any], weight: float, vs_ns: str, proxy_ns: str,
                    plane: ControlPlane) -> Destination:
        dest = _mapping(spec.get("destination"))
        host = str(dest.get("host") or "")
        fqdn = resolve_host(host, vs_ns)
        subset = str(dest["subset"]) if dest.get("subset") else None
        number = _mapping(dest.get("port")).get("number")
        headers = _mapping(spec.get("headers"))
        base = Destination(host, fqdn, subset, number, weight, request_headers=headers.get("request"),
                           response_headers=headers.get("response"))
        ref = service_of_host(fqdn)
        svc = self.store.get(SERVICES.key, ref[0], ref[1]) if ref else None
        if svc is None or ref is None:
            return replace(base, no_cluster=f"no Service {fqdn}")
        if not plane.watches(self.ns_labels.get(ref[0])):
            return replace(base, no_cluster=f"istiod {plane.pod} does not watch namespace {ref[0]} "
                                            "(discoverySelectors)")
        ports = [p for p in (svc.get("spec") or {}).get("ports") or () if isinstance(p.get("port"), int)]
        if number is None:
            port = ports[0] if len(ports) == 1 else None
        else:
            port = next((p for p in ports if p["port"] == number), None)
        if port is None:
            why = (f"Service {fqdn} has no port {number}" if number is not None
                   else f"Service {fqdn} has several ports and the destination names none")
            return replace(base, no_cluster=why)
        labels: Mapping[str, str] | None = None
        if subset is not None:
            labels = self.subset_labels(fqdn, subset, proxy_ns, ref[0], plane)
            if labels is None:
                return replace(base, port=port["port"],
                               no_cluster=f"no DestinationRule subset {subset!r} for {fqdn}")
        endpoints = tuple(app for app in self.endpoints(ref[0], ref[1], port)
                          if labels is None or all(app.labels.get(k) == v for k, v in labels.items()))
        return replace(base, port=port["port"], endpoints=endpoints)

    def subset_labels(self, fqdn: str, subset: str, proxy_ns: str, svc_ns: str,
                      plane: ControlPlane) -> dict[str, str] | None:
        candidates = []
        for order, dr in enumerate(self.destination_rules):
            meta = _meta(dr)
            dr_ns = meta.get("namespace", "")
            spec = dr.get("spec") or {}
            if not self.takes_in(plane, dr) or not exported_to(dr, proxy_ns):
                continue
            host = resolve_host(str(spec.get("host") or ""), dr_ns)
            if not host or not host_matches(host, fqdn):
                continue
            rank = (0 if dr_ns == proxy_ns else 1 if dr_ns == svc_ns
                    else 2 if dr_ns == plane.root_namespace else 3)
            candidates.append((rank, host != fqdn, dr_ns, order, spec))
        if not candidates:
            return None
        best = min(candidates)[:3]
        for *key, _, spec in sorted(candidates):
            if tuple(key) != best:
                break
            for s in spec.get("subsets") or ():
                if isinstance(s, Mapping) and s.get("name") == subset:
                    return {str(k): str(v) for k, v in (s.get("labels") or {}).items()}
        return None

    # ---------------------------------------------------------------- endpoints

    def endpoints(self, ns: str, name: str, port: Mapping[str, Any]) -> list[PodApp]:
        """Ready pods of a Service port, from its Endpoints (what EDS would push)."""
        self.app_namespaces.add(ns)
        ep = self.store.get(ENDPOINTS.key, ns, name)
        if ep is None:
            return []
        wanted = str(port.get("name") or "")
        out = []
        for subset in ep.get("subsets") or ():
            ports = subset.get("ports") or ()
            if not any(str(p.get("name") or "") == wanted for p in ports):
                continue
            for address in subset.get("addresses") or ():
                ref = address.get("targetRef") or {}
                if ref.get("kind") != "Pod":
                    continue
                app = self.app(ns, str(ref.get("name")))
                if app is not None:
                    out.append(app)
        return out

    def app(self, ns: str, name: str) -> PodApp | None:
        key = (ns, name)
        if key not in self.apps:
            pod = self.store.get(PODS.key, ns, name)
            if pod is None or pod_ready_since(pod) is None:
                return None
            self.apps[key] = pod_app(pod)
        return self.apps[key]

    def service_endpoints(self) -> dict[tuple[str, str], dict[int, tuple[PodApp, ...]]]:
        """Ready pods per Service port in the namespaces of routed pods (app-to-app calls)."""
        out: dict[tuple[str, str], dict[int, tuple[PodApp, ...]]] = {}
        for ns in sorted(self.app_namespaces):
            for svc in self.store.objects(SERVICES.key, ns):
                name = _meta(svc).get("name", "")
                ports = {}
                for port in (svc.get("spec") or {}).get("ports") or ():
                    if isinstance(port.get("port"), int):
                        ports[int(port["port"])] = tuple(self.endpoints(ns, name, port))
                out[(ns, name)] = ports
        return out


def build_config(store: Store, planes: Sequence[ControlPlane]) -> DataPlaneConfig:
    """Build what every gateway serves from the store's current state (see the module docstring).

    Args:
        store: the sandbox's store (read under its lock: one consistent view).
        planes: the running istiods.
    """
    with store.lock:
        return _Builder(store, planes).build()


__all__ = ["HTTP_PROTOCOLS", "STATUS_PORT", "ControlPlane", "DataPlaneConfig", "Destination", "GatewayProxy",
           "Listener", "NodePortBinding", "Route", "VirtualHost", "build_config", "exported_to",
           "proxy_revision"]
