"""The analyzer's VirtualService checks: gateway references (IST0101, IST0132, IST0165, MR207),
subsets that ingress requests never see (IST0140),
destinations (IST0101 host, host:port, host+subset; IST0112), source matches on gateway-only
routes (MR205), host conflicts (IST0109 on the mesh gateway, KIA1106 on a Gateway) and
unreachable rules (IST0130, IST0131).

:class:`VirtualServiceChecks` is mixed into the analyzer's checker (``runbook.mesh.analyze``),
which provides the indexes declared on it; the Gateway side comes from
:class:`~runbook.mesh.analysis_gateways.GatewayChecks`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runbook.mesh.analysis_gateways import GatewayChecks, has_labels
from runbook.mesh.analysis_world import (
    DESTINATION_RULE,
    GATEWAY,
    ISTIO_GROUP,
    MESH_GATEWAY,
    VIRTUAL_SERVICE,
    Item,
)
from runbook.mesh.route_rules import unreachable_rules
from runbook.mesh.visibility import HostEntry, HostTable, scopes_meet
from runbook.routing import (
    host_intersection,
    resolve_host,
    route_destinations,
    service_fqdn,
    split_gateway_ref,
)


class VirtualServiceChecks(GatewayChecks):
    """VirtualService checks over the checker's indexes (see the module docstring)."""

    hosts: HostTable
    service_fqdns: dict[str, Item]
    subsets_by_host: dict[str, dict[str, list[Item]]]
    vs_by_host: dict[str, list[Item]]
    #: VirtualServices on the mesh gateway: (namespace, name) → (export scopes, hosts)
    mesh_hosts: dict[tuple[str | None, str], tuple[frozenset[str], list[str]]]
    #: VirtualService ``ns/name`` → its own hosts it routes by subset (IST0140; built on first use)
    _subset_hosts: dict[str, set[str]] | None = None

    def check_virtual_service(self, vs: Item) -> None:
        spec = vs.spec
        ns = vs.namespace or ""
        hosts = [h for h in spec.get("hosts") or [] if isinstance(h, str)]
        top_gateways = [g for g in spec.get("gateways") or [] if isinstance(g, str)]
        for gw_name in all_gateway_refs(spec):
            if gw_name == MESH_GATEWAY:
                continue
            if is_internal_gateway_reference(gw_name):
                self.add(vs, "Warning", "IST0165",
                         f"Gateway reference in VirtualService {ns}/{vs.name} is to an "
                         f"implementation-generated internal Gateway: {gw_name}.")
                continue
            gw_ns, name = split_gateway_ref(gw_name, ns)
            gw = self.world.get(ISTIO_GROUP, GATEWAY, gw_ns, name)
            # Istio accepts a Kubernetes Gateway API Gateway of that name too
            k8s_gw = self.world.get(GATEWAY_API_GROUP, GATEWAY, gw_ns, name) if gw is None else None
            if k8s_gw is not None:
                if gw_name in top_gateways and hosts and not _hosts_in_listeners(hosts, k8s_gw):
                    self.add(vs, "Warning", "IST0132",
                             f"one or more host [{', '.join(hosts)}] defined in VirtualService "
                             f"{ns}/{vs.name} not found in Gateway {k8s_gw.ref}.")
                continue
            if gw is None:
                if not self.world.known(ISTIO_GROUP, GATEWAY):
                    self.skip("gateways could not be read: VirtualService gateway references "
                              "not checked")
                else:
                    self.add(vs, "Error", "IST0101", f'Referenced gateway not found: "{gw_name}"',
                             see_also="KIA1102")
                continue
            if gw_name in top_gateways and hosts and not self._hosts_in_gateway(hosts, ns, gw):
                self.add(vs, "Warning", "IST0132",
                         f"one or more host [{', '.join(hosts)}] defined in VirtualService "
                         f"{ns}/{vs.name} not found in Gateway {gw.ref}.")
            self.check_programmed_with_gateway(vs, gw)
        self.check_destinations(vs)
        self.check_ingress_subsets(vs)
        self.check_source_matches(vs)
        self.check_conflicts(vs)
        for level, code, text in unreachable_rules(vs.spec):
            self.add(vs, level, code, text)

    def _hosts_in_gateway(self, vs_hosts: list[str], vs_ns: str, gw: Item) -> bool:
        gw_hosts = []
        for server in gw.spec.get("servers") or []:
            for h in (server or {}).get("hosts") or []:
                host_ns, slash, host = str(h).rpartition("/")
                if not slash or host_ns == "*" or host_ns == vs_ns or (
                        host_ns == "." and gw.namespace == vs_ns):
                    gw_hosts.append(host)
        return any(hosts_overlap(g, v) for g in gw_hosts for v in vs_hosts)

    def check_destinations(self, vs: Item) -> None:
        ns = vs.namespace or ""
        services_known = self.world.known("", "Service")
        if not services_known:
            self.skip("services could not be read: destination hosts not checked")
        export_to = vs.spec.get("exportTo")
        for where, dest in route_destinations(vs.spec):
            host = str(dest.get("host") or "")
            reftype = "mirror host" if where.endswith("mirror") else "host"
            entry = self.hosts.lookup(host, ns, export_to)
            if services_known and entry is None:
                self.add(vs, "Error", "IST0101", f'Referenced {reftype} not found: "{host}"'
                         + self._host_hint(host), see_also="KIA1101",
                         evidence=[f"{where}: {host or '(empty destination)'} → "
                                   f"{self._resolve(host, ns) if host else 'no host'}",
                                   *(f"{e.ref} defines it but is not exported to {ns} "
                                     f"(exportTo {', '.join(sorted(e.scopes))})"
                                     for e in self.hosts.hidden(host, ns))])
            elif entry is not None:
                self.check_destination_port(vs, host, dest, entry)
            # Istio checks subsets on their own (analyzers/virtualservice/destinationrules.go):
            # a subset is missing whether or not its host exists
            subset = dest.get("subset")
            if subset and self.world.known(ISTIO_GROUP, DESTINATION_RULE) and \
                    not self.subsets_by_host.get(self._resolve(host, ns), {}).get(str(subset)):
                self.add(vs, "Error", "IST0101",
                         f'Referenced host+subset in destinationrule not found: "{host}+{subset}"',
                         see_also="KIA1107")

    def _host_hint(self, host: str) -> str:
        two = host.split(".")
        if len(two) == 2 and self._fqdn(two[0], two[1]) in self.service_fqdns:
            return f" (did you mean {self._fqdn(two[0], two[1])}?)"
        return ""

    def check_destination_port(self, vs: Item, host: str, dest: Mapping[str, Any],
                               entry: HostEntry) -> None:
        """Istio's ``checkServiceEntryPorts``: the same rule for Services and ServiceEntries."""
        number = (dest.get("port") or {}).get("number")
        ports = list(entry.ports)
        if number is not None and number not in ports:
            self.add(vs, "Error", "IST0101", f'Referenced host:port not found: "{host}:{number}"',
                     evidence=[f"{entry.ref} ports: {ports}"])
        elif number is None and len(ports) > 1:
            self.add(vs, "Error", "IST0112",
                     f'This VirtualService routes to a service "{host}" that exposes multiple '
                     f"ports [{' '.join(str(p) for p in ports)}]. Specifying a port in the "
                     "destination is required to disambiguate.", evidence=[f"{entry.ref}"])

    def check_source_matches(self, vs: Item) -> None:
        top = [g for g in vs.spec.get("gateways") or [] if isinstance(g, str)]
        for i, rule in enumerate(vs.spec.get("http") or []):
            if not isinstance(rule, Mapping):
                continue
            matches = [m for m in rule.get("match") or [] if isinstance(m, Mapping)]
            for j, match in enumerate(matches):
                labels = match.get("sourceLabels") or {}
                source_ns = match.get("sourceNamespace")
                if not labels and not source_ns:
                    continue
                gateways = [g for g in match.get("gateways") or top if isinstance(g, str)]
                if not gateways or MESH_GATEWAY in gateways:
                    continue  # applied by sidecars too: the source is the client there
                proxies = [w for g in gateways
                           if (gw := self.world.get(ISTIO_GROUP, GATEWAY,
                                                    *split_gateway_ref(g, vs.namespace or "")))
                           for w in self._gateway(gw).gateways]
                if any(has_labels(w, labels) and (not source_ns or w.namespace == source_ns)
                       for w in proxies):
                    continue  # it does match the gateway proxy itself — deliberate, presumably
                what = ", ".join(f"{a}: {b}" for a, b in labels.items()) if labels else ""
                if source_ns:
                    what = f"{what}; sourceNamespace {source_ns}" if what else f"sourceNamespace {source_ns}"
                only = len(matches) == 1
                self.add(vs, "Warning", "MR205",
                         f"http[{i}].match[{j}] matches on source {{{what}}}, but this route is "
                         f"applied only by gateway(s) {', '.join(gateways)}, where the source is the "
                         "gateway proxy itself, never the client: "
                         + ("the rule never applies" if only else
                            "this match never applies to ingress traffic (the rule's other matches "
                            "still do)")
                         + ". Remove it, or add 'mesh' to gateways to apply it to sidecars.",
                         evidence=[f"gateway proxies: {', '.join(w.ref for w in proxies) or 'unknown'}"])

    def check_conflicts(self, vs: Item) -> None:
        self.check_mesh_conflicts(vs)
        ns = vs.namespace or ""
        my_gateways = bound_gateways(vs.spec, ns) - {MESH_GATEWAY}
        reported: set[tuple[str, str | None, str]] = set()
        for h in vs.spec.get("hosts") or []:
            if not isinstance(h, str):
                continue
            host = self._resolve(h, ns)
            for other in self.vs_by_host.get(host, []):
                if (other.namespace, other.name) == (vs.namespace, vs.name):
                    continue
                for gw in sorted(my_gateways & bound_gateways(other.spec, other.namespace or "")):
                    if (gw, other.namespace, other.name) in reported:
                        continue
                    reported.add((gw, other.namespace, other.name))
                    self.add(vs, "Warning", "KIA1106",
                             f"More than one Virtual Service for same host: {other.ref} also "
                             f"routes {host} on gateway {gw}; Istio merges their rules in "
                             "creation order, so the first match wins — merge them into one "
                             "VirtualService.")

    def check_mesh_conflicts(self, vs: Item) -> None:
        """IST0109 as istioctl counts it: once per VirtualService, naming every VirtualService
        on the mesh gateway that conflicts with it in a namespace both are exported to — the same
        host, or (wildcards compared) a host exported to some namespaces that a host exported
        everywhere covers. Two hosts exported everywhere are compared as written: sidecars route
        each to its own virtual host, the most specific first (conflictingmeshgatewayhosts.go)."""
        mine = self.mesh_hosts.get((vs.namespace, vs.name))
        if mine is None:
            return
        scopes, hosts = mine
        clashes: list[tuple[str, str]] = []  # (other VirtualService, the host of ours it overlaps)
        for (o_ns, o_name), (o_scopes, o_hosts) in self.mesh_hosts.items():
            if (o_ns, o_name) == (vs.namespace, vs.name) or not scopes_meet(scopes, o_scopes):
                continue
            wildcards_compared = ("*" in scopes) != ("*" in o_scopes)
            host = next((h for h in hosts for o in o_hosts
                         if h == o or (wildcards_compared and hosts_overlap(h, o))), None)
            if host is not None:
                clashes.append((f"{o_ns}/{o_name}", host))
        if not clashes:
            return
        names = ",".join(sorted([f"{vs.namespace}/{vs.name}", *(c for c, _ in clashes)]))
        scope = "*" if "*" in scopes else sorted(scopes)[0]
        self.add(vs, "Error", "IST0109",
                 f"The VirtualServices {names} associated with mesh gateway define the same host "
                 f"{scope}/{clashes[0][1]} which can lead to undefined behavior. This can be fixed "
                 "by merging the conflicting VirtualServices into a single resource.",
                 evidence=[f"{other} also routes {host}" for other, host in clashes])

    def check_programmed_with_gateway(self, vs: Item, gw: Item) -> None:
        view = self._gateway(gw)
        if not view.groups:
            return
        serving = [rev for rev, ok in view.programmed.items() if ok] or list(view.programmed)
        reasons = []
        for rev in serving:
            why = self._ignores(rev, vs)
            if why is None:
                return
            reasons.append(why)
        self.add(vs, "Error", "MR207",
                 f"gateway {gw.ref} runs on revision(s) {', '.join(serving)}, but "
                 + "; ".join(reasons)
                 + ": its pods never get these routes. Label the VirtualService like the gateway's "
                 "revision (or remove istio.io/rev), or make that revision watch the namespace.",
                 see_also="istio/istio#44047")

    def check_ingress_subsets(self, vs: Item) -> None:
        """IST0140 as istioctl's DestinationHostAnalyzer reports it: a VirtualService bound to
        gateways routes to a host without a subset, while another VirtualService (for that very
        host, by its own ``hosts``) splits it by subset — which ingress requests never see, since
        the gateway applies this route. Hosts are compared as written, as Istio does."""
        if not [g for g in vs.spec.get("gateways") or [] if isinstance(g, str)]:
            return
        if self._subset_hosts is None:
            self._subset_hosts = {}
            for other in self.world.of(ISTIO_GROUP, VIRTUAL_SERVICE):
                own = {h for h in other.spec.get("hosts") or [] if isinstance(h, str)}
                split = {str(d.get("host")) for d in _http_route_destinations(other.spec)
                         if d.get("subset") and d.get("host") in own}
                if split:
                    self._subset_hosts[f"{other.namespace}/{other.name}"] = split
        plain = {str(d.get("host")) for d in _http_route_destinations(vs.spec)
                 if not d.get("subset")}
        for holder, split in sorted(self._subset_hosts.items()):
            for host in sorted(plain & split):
                self.add(vs, "Warning", "IST0140",
                         f"Subset in virtual service {holder} has no effect on ingress gateway "
                         f"{vs.namespace}/{vs.name} requests",
                         evidence=[f"{vs.namespace}/{vs.name} routes {host} without a subset on "
                                   f"gateways; {holder} splits {host} by subset"])

    # -------------------------------------------------------------------------- helpers

    @staticmethod
    def _fqdn(name: str, namespace: str) -> str:
        return service_fqdn(name, namespace)

    def _resolve(self, host: str, namespace: str) -> str:
        """Short names are relative to the referring object's namespace (Istio's rule)."""
        return resolve_host(host, namespace)


#: the Kubernetes Gateway API group; its Gateways are bound by name like Istio's
GATEWAY_API_GROUP = "gateway.networking.k8s.io"
#: what istiod names the Istio Gateways it generates for a Gateway API Gateway
#: (``<gateway>~istio-autogenerated-k8s-gateway~<listener>``: pkg/config/gateway/kube
#: InternalGatewayName; istioctl's IsInternalGatewayReference looks for this mark only)
_INTERNAL_GATEWAY_MARK = "~istio-autogenerated-k8s-gateway~"


def is_internal_gateway_reference(ref: str) -> bool:
    """Whether a VirtualService gateway reference names an istiod-generated internal Gateway."""
    name = ref.split("/", 1)[-1]
    return _INTERNAL_GATEWAY_MARK in name


def _hosts_in_listeners(vs_hosts: list[str], gw: Item) -> bool:
    """Istio's ``vsHostInKubernetesGateway``: a listener without a hostname takes every host."""
    hostnames = [str((listener or {}).get("hostname") or "*")
                 for listener in gw.spec.get("listeners") or []]
    return any(hosts_overlap(h, v) for h in hostnames for v in vs_hosts)


def _http_route_destinations(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The ``destination`` of every ``http[].route[]`` (mirrors left out, as IST0140 does)."""
    return [d for rule in spec.get("http") or [] if isinstance(rule, Mapping)
            for r in rule.get("route") or [] if isinstance(r, Mapping)
            if isinstance(d := r.get("destination"), Mapping)]


def all_gateway_refs(spec: Mapping[str, Any]) -> list[str]:
    """Every gateway a VirtualService names, top level and per match, in order."""
    refs = [g for g in spec.get("gateways") or [] if isinstance(g, str)]
    for route_kind in ("http", "tcp", "tls"):
        for rule in spec.get(route_kind) or []:
            for match in (rule or {}).get("match") or []:
                refs.extend(g for g in (match or {}).get("gateways") or [] if isinstance(g, str))
    return list(dict.fromkeys(refs))


def bound_gateways(spec: Mapping[str, Any], namespace: str) -> set[str]:
    """The top-level gateways as ``namespace/name`` (``mesh`` when none is named)."""
    gateways = [g for g in spec.get("gateways") or [] if isinstance(g, str)] or [MESH_GATEWAY]
    return {g if g == MESH_GATEWAY else "/".join(split_gateway_ref(g, namespace)) for g in gateways}


def hosts_overlap(a: str, b: str) -> bool:
    """Istio's ``host.Name.Matches``: equal, or one wildcard pattern covers the other."""
    return host_intersection(a, b) is not None
