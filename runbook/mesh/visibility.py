"""Which destination hosts a namespace can see: Services and ServiceEntries under ``exportTo``.

Istio's analyzers resolve a VirtualService destination against one table of hosts in which every
Kubernetes Service is a ServiceEntry with the Service's ports (istio/istio
``pkg/config/analysis/analyzers/util/service_lookup.go``, ``InitServiceEntryHostMap`` and
``GetDestinationHost``), each host scoped by who may see it:

* a ServiceEntry's ``spec.exportTo`` (empty: every namespace; ``.``: its own; ``*``: every one;
  other values name namespaces);
* a Service's ``networking.istio.io/exportTo`` annotation (comma-separated, same values);
* a lookup is made from the VirtualService's namespace, or from the namespaces the VirtualService
  itself is exported to when it sets ``exportTo``.

A destination host is found when it is exactly a visible host, or when a visible ServiceEntry host
is a wildcard (``*.example.com``) whose suffix ends the destination (also a wildcard destination:
``*.api.example.com`` is served by ``*.example.com``). A non-wildcard ServiceEntry never serves a
wildcard destination, as in Istio.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runbook.routing import resolve_host, service_fqdn

#: every namespace (``exportTo: ["*"]``, or none given)
ALL_NAMESPACES = "*"
#: the object's own namespace
OWN_NAMESPACE = "."
#: the annotation that scopes a Service's visibility (istio.io annotation ``networking.istio.io/exportTo``)
SERVICE_EXPORT_TO_ANNOTATION = "networking.istio.io/exportTo"


def export_scopes(export_to: Iterable[Any] | None, own_namespace: str) -> frozenset[str]:
    """The namespaces a config is visible to (``{"*"}`` for all), ``.`` resolved to its own."""
    values = [str(e).strip() for e in export_to or [] if str(e).strip()]
    if not values or ALL_NAMESPACES in values:
        return frozenset({ALL_NAMESPACES})
    return frozenset(own_namespace if e == OWN_NAMESPACE else e for e in values)


def service_export_scopes(service: Mapping[str, Any]) -> frozenset[str]:
    """:func:`export_scopes` of a Service, from its ``networking.istio.io/exportTo`` annotation."""
    metadata = service.get("metadata") or {}
    annotation = str((metadata.get("annotations") or {}).get(SERVICE_EXPORT_TO_ANNOTATION) or "")
    return export_scopes(annotation.split(","), str(metadata.get("namespace") or ""))


def scopes_meet(a: frozenset[str], b: frozenset[str]) -> bool:
    """Two scopes share at least one namespace (``*`` meets every scope)."""
    return ALL_NAMESPACES in a or ALL_NAMESPACES in b or bool(a & b)


@dataclass(frozen=True)
class HostEntry:
    """One host a Service or ServiceEntry defines, with who may see it.

    Attributes:
        host: a fully qualified host, or a wildcard (``*.example.com``).
        kind: ``Service`` or ``ServiceEntry``.
        namespace, name: the object defining it.
        scopes: :func:`export_scopes` of that object.
        ports: the port numbers it declares (a Service's ``port``, a ServiceEntry's ``number``).
    """

    host: str
    kind: str
    namespace: str
    name: str
    scopes: frozenset[str]
    ports: tuple[int, ...]

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def _ports(values: Any, key: str) -> tuple[int, ...]:
    return tuple(p[key] for p in values or [] if isinstance(p, Mapping) and isinstance(p.get(key), int))


class HostTable:
    """Every host of the given Services and ServiceEntries, looked up like Istio's analyzers."""

    def __init__(self, services: Sequence[Mapping[str, Any]],
                 service_entries: Sequence[Mapping[str, Any]]) -> None:
        self.exact: dict[str, list[HostEntry]] = {}
        self.wildcards: list[HostEntry] = []
        for svc in services:
            m = svc.get("metadata") or {}
            ns, name = str(m.get("namespace") or ""), str(m.get("name") or "")
            self._add(HostEntry(service_fqdn(name, ns), "Service", ns, name,
                                service_export_scopes(svc),
                                _ports((svc.get("spec") or {}).get("ports"), "port")))
        for se in service_entries:
            m = se.get("metadata") or {}
            ns, name = str(m.get("namespace") or ""), str(m.get("name") or "")
            spec = se.get("spec") or {}
            scopes = export_scopes(spec.get("exportTo"), ns)
            ports = _ports(spec.get("ports"), "number")
            for h in spec.get("hosts") or []:
                if isinstance(h, str) and h.strip():
                    self._add(HostEntry(resolve_host(h, ns), "ServiceEntry", ns, name, scopes, ports))

    def _add(self, entry: HostEntry) -> None:
        if entry.host.startswith("*"):
            self.wildcards.append(entry)
        self.exact.setdefault(entry.host, []).append(entry)

    def lookup(self, host: str, namespace: str, export_to: Iterable[Any] | None = None
               ) -> HostEntry | None:
        """The entry serving ``host`` for a VirtualService in ``namespace`` (None: not found).

        Args:
            host: the destination host as written (short names resolve in ``namespace``).
            namespace: the VirtualService's namespace.
            export_to: the VirtualService's ``exportTo``: it is looked up from those namespaces.
        """
        if not host.strip():
            return None
        fqdn = resolve_host(host, namespace)
        viewers = export_scopes(export_to, namespace) - {ALL_NAMESPACES} or frozenset({namespace})
        for entry in self.exact.get(fqdn, []):
            if scopes_meet(entry.scopes, viewers):
                return entry
        # Istio looks wildcard entries up from the VirtualService's own namespace only
        bare = fqdn.removeprefix("*")
        for entry in self.wildcards:
            if (ALL_NAMESPACES in entry.scopes or namespace in entry.scopes) and \
                    bare.endswith(entry.host.removeprefix("*")):
                return entry
        return None

    def hidden(self, host: str, namespace: str) -> list[HostEntry]:
        """Entries that define ``host`` exactly but are not exported to ``namespace`` (evidence)."""
        fqdn = resolve_host(host, namespace)
        return [e for e in self.exact.get(fqdn, []) if not scopes_meet(e.scopes, frozenset({namespace}))]
