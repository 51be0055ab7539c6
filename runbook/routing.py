"""How an Istio gateway reads VirtualService / Gateway / DestinationRule fields — defined once.

The sandbox's emulated ingress data plane (``runbook.sandbox.istio.routes``) routes requests with
these functions, and client-side checks (``runbook.exercises.latency``) read the same fields with
them, so the two cannot disagree about what a VirtualService means.

Upstream behaviour implemented here (istio/istio and istio.io reference docs, Apache-2.0; Envoy's
route matching, Apache-2.0):

* **Host names** — ``pkg/config/host/name.go``: a host is a DNS name, optionally starting with a
  ``*`` wildcard label; ``*`` alone matches everything; comparisons are case-insensitive. A short
  name (no dot, e.g. ``reviews``) in a VirtualService or DestinationRule is relative to the
  object's namespace (``reviews.<ns>.svc.cluster.local``, "ResolveShortnameToFQDN"); any other
  name is taken literally (``reviews.other`` is *not* the Service ``reviews`` in ``other``).
* **Gateway references** in ``VirtualService.spec.gateways``: ``name`` (the VirtualService's own
  namespace), ``ns/name``, or the deprecated FQDN form ``name.ns.svc.cluster.local``; ``mesh``
  means the sidecars, not a gateway.
* **Gateway server hosts** — ``namespace/dnsName``: ``*`` any namespace, ``.`` the Gateway's own
  namespace, ``~`` none; no ``/`` means any namespace.
* **StringMatch** (``exact`` / ``prefix`` / ``regex``): Envoy's ``safe_regex`` is RE2 and must
  match the *whole* value (``re.fullmatch`` here; RE2 has no back-references, Python's ``re`` is a
  superset). For ``headers`` and ``queryParams`` an empty match tests presence. ``uri`` is matched
  against the path without the query string; ``ignoreUriCase`` applies to ``uri`` only.
* **HTTPMatchRequest**: every field given must match (AND); a rule's ``match`` list is ORed; a rule
  without ``match`` matches everything. ``sourceLabels``/``sourceNamespace``/``gateways`` are
  decided when the proxy's configuration is built (``match_applies_to_proxy``), not per request:
  at an ingress gateway the "source" is the gateway pod itself, never the external client.
* **Durations** ("Format: 1h/1m/1s/1ms", istio.io HTTPFaultInjection.Delay / HTTPRoute.timeout):
  Go-style ``300ms``, ``1.5s``, ``2m``, ``1h30m``; ``0`` and ``0s`` are zero.
* **Fault percentages** — ``pilot/pkg/networking/core/v1alpha3/route/route.go`` ``translateFault``
  (1.18): ``percentage.value`` (a double, 0–100) when given, else the deprecated integer
  ``percent``, else **0**: a delay or abort without a percentage is never injected — the docs say
  "If left unspecified, no request will be delayed".
* **Gateway proxies** are recognised from the pod, never its name: an ``istio-proxy`` container
  running ``proxy router`` (``istioctl install`` gateways), or the gateway injection template
  (``inject.istio.io/templates: gateway``, Helm ``istio/gateway``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: the cluster's DNS domain (Services are ``<name>.<namespace>.svc.<CLUSTER_DOMAIN>``)
CLUSTER_DOMAIN = "cluster.local"
#: the reserved gateway name that means "every sidecar", not a gateway
MESH_GATEWAY = "mesh"
#: the proxy container and the annotation that make a pod an Istio gateway
PROXY_CONTAINER = "istio-proxy"
INJECT_TEMPLATES_ANNOTATION = "inject.istio.io/templates"

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


# ------------------------------------------------------------------------------------ hosts


def service_fqdn(name: str, namespace: str) -> str:
    """``reviews``, ``bookinfo`` → ``reviews.bookinfo.svc.cluster.local``."""
    return f"{name}.{namespace}.svc.{CLUSTER_DOMAIN}".lower()


def resolve_host(host: str, namespace: str) -> str:
    """A VirtualService/DestinationRule host as istiod reads it: short names are relative to the
    object's namespace, everything else is literal (lower-cased)."""
    host = host.strip().lower()
    if host and "." not in host and "*" not in host:
        return service_fqdn(host, namespace)
    return host


def service_of_host(fqdn: str) -> tuple[str, str] | None:
    """``(namespace, name)`` of the Service a host names, or None when it names no Service."""
    suffix = f".svc.{CLUSTER_DOMAIN}"
    if not fqdn.endswith(suffix):
        return None
    parts = fqdn[: -len(suffix)].split(".")
    if len(parts) != 2 or not all(parts):
        return None
    return parts[1], parts[0]


def split_gateway_ref(ref: str, namespace: str) -> tuple[str, str]:
    """``(namespace, name)`` of a VirtualService's gateway reference (see the module docstring)."""
    ns, slash, name = ref.strip().rpartition("/")
    if slash:
        return ns, name
    suffix = f".svc.{CLUSTER_DOMAIN}"
    if ref.endswith(suffix):
        parts = ref[: -len(suffix)].split(".")
        if len(parts) == 2:
            return parts[1], parts[0]
    return namespace, ref.strip()


def host_subset_of(a: str, b: str) -> bool:
    """Every host that ``a`` matches is matched by ``b`` (Istio's ``Name.SubsetOf``)."""
    a, b = a.lower(), b.lower()
    if b == "*":
        return True
    if b.startswith("*"):
        return a[1:].endswith(b[1:]) if a.startswith("*") else a.endswith(b[1:])
    return a == b


def host_intersection(a: str, b: str) -> str | None:
    """The more specific of two host patterns when one covers the other, else None.

    This is how a gateway server host and a VirtualService host combine into the domain of a
    virtual host: ``*`` and ``nginx.test`` give ``nginx.test``; ``*.test`` and ``*`` give ``*.test``.
    """
    if host_subset_of(a, b):
        return a.lower()
    if host_subset_of(b, a):
        return b.lower()
    return None


def host_matches(pattern: str, host: str) -> bool:
    """A concrete host name (a ``Host`` header without port) is matched by ``pattern``."""
    return host_subset_of(host, pattern)


def server_host_for(server_host: str, gateway_namespace: str, config_namespace: str) -> str | None:
    """The DNS part of a Gateway server host when it admits config from ``config_namespace``.

    ``ns/host`` forms: ``*/h`` and plain ``h`` admit every namespace, ``./h`` the Gateway's own,
    ``ns/h`` only ``ns``, ``~/h`` none.
    """
    ns, slash, host = server_host.strip().rpartition("/")
    if not slash or ns == "*":
        return host.lower()
    if ns == ".":
        return host.lower() if config_namespace == gateway_namespace else None
    if ns == "~":
        return None
    return host.lower() if ns == config_namespace else None


def strip_port(authority: str) -> str:
    """``bookinfo-gateway.test:31241`` → ``bookinfo-gateway.test`` (lower case; IPv6 kept whole).

    Istio gives every gateway virtual host the domains ``host`` and ``host:*``, so the port a client
    puts in its ``Host`` header never changes the route.
    """
    value = authority.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[: end + 1] if end > 0 else value
    host, colon, port = value.rpartition(":")
    return host if colon and port.isdigit() else value


# ------------------------------------------------------------------------------------ StringMatch


@functools.lru_cache(maxsize=512)
def _regex(pattern: str, ignore_case: bool) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error:
        return None  # istiod's validation rejects it; a route that cannot compile never matches


def string_match(spec: Any, value: str | None, *, ignore_case: bool = False,
                 presence: bool = False) -> bool:
    """Whether ``value`` satisfies an Istio ``StringMatch`` (``exact``/``prefix``/``regex``).

    Args:
        spec: the StringMatch object.
        value: the request's value (None: absent).
        ignore_case: compare case-insensitively (``ignoreUriCase``).
        presence: an empty StringMatch (or an empty ``exact``/``prefix``) only asks that the value
            exists — the rule for ``headers`` and ``queryParams``.
    """
    if value is None:
        return False
    if not isinstance(spec, Mapping):
        return presence
    for kind in ("exact", "prefix", "regex"):
        if kind not in spec:
            continue
        wanted = str(spec[kind])
        if presence and wanted == "" and kind != "regex":
            return True
        if kind == "regex":
            compiled = _regex(wanted, ignore_case)
            return compiled is not None and compiled.fullmatch(value) is not None
        if ignore_case:
            wanted, value = wanted.lower(), value.lower()
        return value == wanted if kind == "exact" else value.startswith(wanted)
    return presence


# ------------------------------------------------------------------------------------ durations, faults


def parse_duration(text: Any) -> float:
    """Seconds of an Istio duration (``200ms``, ``1.5s``, ``1h30m``; see the module docstring).

    Raises:
        ValueError: not a duration.
    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)  # a bare number: seconds (what a protobuf Duration's JSON carries)
    value = str(text).strip()
    if not value:
        raise ValueError("empty duration")
    if value == "0":
        return 0.0
    total, pos = 0.0, 0
    for part in _DURATION_PART.finditer(value):
        if part.start() != pos:
            break
        total += float(part.group(1)) * _UNIT_SECONDS[part.group(2)]
        pos = part.end()
    if pos != len(value) or pos == 0:
        raise ValueError(f"invalid duration {value!r} (use e.g. 200ms, 1.5s, 1m)")
    return total


def fault_percentage(spec: Mapping[str, Any]) -> float:
    """The share (0–100) of requests a delay/abort applies to: ``percentage.value``, else the
    deprecated ``percent``, else 0 (never injected)."""
    pct = spec.get("percentage")
    if isinstance(pct, Mapping) and pct.get("value") is not None:
        try:
            return max(0.0, min(100.0, float(pct["value"])))
        except (TypeError, ValueError):
            return 0.0
    try:
        return max(0.0, min(100.0, float(spec.get("percent") or 0)))
    except (TypeError, ValueError):
        return 0.0


@dataclass(frozen=True)
class FaultInjection:
    """A route's ``fault``: delay first, then abort — the order of Envoy's fault filter.

    Attributes:
        delay_s: the fixed delay (None: no delay configured, or it cannot be read).
        delay_percent: share of requests delayed (0–100).
        abort_status: the HTTP status of an abort (None: no HTTP abort).
        abort_percent: share of requests aborted (0–100).
        problems: why part of the fault is ignored (an unreadable duration …).
    """

    delay_s: float | None = None
    delay_percent: float = 0.0
    abort_status: int | None = None
    abort_percent: float = 0.0
    problems: tuple[str, ...] = ()

    @classmethod
    def from_spec(cls, spec: Any) -> FaultInjection | None:
        """Read ``http[].fault``; None when the rule has none."""
        if not isinstance(spec, Mapping) or not spec:
            return None
        problems: list[str] = []
        delay_s, delay_pct, status, abort_pct = None, 0.0, None, 0.0
        delay = spec.get("delay")
        if isinstance(delay, Mapping):
            try:
                delay_s = parse_duration(delay.get("fixedDelay", ""))
            except ValueError as exc:
                problems.append(f"fault.delay.fixedDelay: {exc}")
            delay_pct = fault_percentage(delay)
        abort = spec.get("abort")
        if isinstance(abort, Mapping):
            raw = abort.get("httpStatus")
            if isinstance(raw, int) and not isinstance(raw, bool) and 200 <= raw <= 599:
                status = raw
            elif raw is not None:
                problems.append(f"fault.abort.httpStatus: {raw!r} is not an HTTP status")
            abort_pct = fault_percentage(abort)
        return cls(delay_s, delay_pct, status, abort_pct, tuple(problems))


# ------------------------------------------------------------------------------------ matching requests


@dataclass(frozen=True)
class RequestView:
    """What an HTTP match looks at.

    Attributes:
        method: ``GET`` …
        path: the path without the query string.
        authority: the ``Host`` header as sent.
        headers: request headers, names in lower case.
        query: query parameters (decoded; the first value of each).
        scheme: ``http``.
        port: the gateway server port the request arrived on (the Service port, e.g. 80).
    """

    method: str
    path: str
    authority: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    scheme: str = "http"
    port: int | None = None


def request_matches(match: Any, request: RequestView) -> bool:
    """Whether one ``HTTPMatchRequest`` matches (every field given must; see the module docstring).

    ``sourceLabels``, ``sourceNamespace`` and ``gateways`` are not looked at here: they decide
    whether the match exists on a proxy at all (:func:`match_applies_to_proxy`).
    """
    if not isinstance(match, Mapping):
        return True
    if "uri" in match and not string_match(match["uri"], request.path,
                                           ignore_case=bool(match.get("ignoreUriCase"))):
        return False
    if "method" in match and not string_match(match["method"], request.method):
        return False
    if "scheme" in match and not string_match(match["scheme"], request.scheme):
        return False
    if "authority" in match and not string_match(match["authority"], request.authority):
        return False
    port = match.get("port")
    if port and request.port is not None and str(port) != str(request.port):
        return False
    headers = match.get("headers")
    if isinstance(headers, Mapping):
        for name, spec in headers.items():
            if not string_match(spec, request.headers.get(str(name).lower()), presence=True):
                return False
    without = match.get("withoutHeaders")
    if isinstance(without, Mapping):
        for name, spec in without.items():
            if string_match(spec, request.headers.get(str(name).lower()), presence=True):
                return False
    params = match.get("queryParams")
    if isinstance(params, Mapping):
        for name, spec in params.items():
            if not string_match(spec, request.query.get(str(name)), presence=True):
                return False
    return True


def match_applies_to_proxy(match: Any, *, gateway: tuple[str, str] | None,
                           config_namespace: str, proxy_labels: Mapping[str, str],
                           proxy_namespace: str) -> bool:
    """Whether a match can ever apply on this proxy (decided when istiod builds its routes).

    Args:
        match: the ``HTTPMatchRequest``.
        gateway: ``(namespace, name)`` of the Gateway being built (None for sidecars).
        config_namespace: the VirtualService's namespace (for short gateway names).
        proxy_labels: the gateway pod's labels — what ``sourceLabels`` are compared with.
        proxy_namespace: the gateway pod's namespace — what ``sourceNamespace`` is compared with.
    """
    if not isinstance(match, Mapping):
        return True
    source = match.get("sourceLabels")
    if isinstance(source, Mapping) and any(proxy_labels.get(str(k)) != str(v)
                                           for k, v in source.items()):
        return False
    source_ns = match.get("sourceNamespace")
    if source_ns and source_ns != proxy_namespace:
        return False
    refs = match.get("gateways")
    if refs:
        wanted = {split_gateway_ref(str(r), config_namespace) for r in refs if r != MESH_GATEWAY}
        if gateway is None or gateway not in wanted:
            return False
    return True


def first_matching_rule(rules: Sequence[Any], request: RequestView) -> int | None:
    """Index of the first ``http`` rule whose matches (ORed) accept the request; None if none does."""
    for i, rule in enumerate(rules):
        matches = rule.get("match") if isinstance(rule, Mapping) else None
        if not matches or any(request_matches(m, request) for m in matches):
            return i
    return None


# ------------------------------------------------------------------------------------ gateway pods


def is_gateway_proxy(pod: Mapping[str, Any]) -> bool:
    """A pod (or pod template) that runs an Istio gateway (see the module docstring)."""
    meta = pod.get("metadata") or {}
    if "gateway" in str((meta.get("annotations") or {}).get(INJECT_TEMPLATES_ANNOTATION) or ""):
        return True
    # the name first: only an istio-proxy container's args are worth reading (this runs once
    # per Deployment of the cluster)
    for c in (pod.get("spec") or {}).get("containers") or ():
        if c.get("name") == PROXY_CONTAINER and any(str(a) == "router" for a in c.get("args") or ()):
            return True
    return False


def vs_hosts(spec: Mapping[str, Any], namespace: str) -> list[str]:
    """A VirtualService's hosts as istiod reads them (short names resolved)."""
    return [resolve_host(str(h), namespace) for h in spec.get("hosts") or () if isinstance(h, str)]


def gateway_refs(spec: Mapping[str, Any], namespace: str) -> list[tuple[str, str]]:
    """The gateways a VirtualService is bound to (``mesh`` left out)."""
    return [split_gateway_ref(str(g), namespace) for g in spec.get("gateways") or ()
            if isinstance(g, str) and g != MESH_GATEWAY]


def weighted(destinations: Iterable[tuple[Any, Any]]) -> list[tuple[Any, float]]:
    """Destination weights as Envoy's weighted clusters use them: a single destination takes
    everything; missing weights count as 0; all zero → equal shares."""
    items = list(destinations)
    if len(items) == 1:
        return [(items[0][0], 100.0)]
    weights = []
    for dest, w in items:
        try:
            weights.append((dest, max(0.0, float(w or 0))))
        except (TypeError, ValueError):
            weights.append((dest, 0.0))
    if weights and sum(w for _, w in weights) == 0:
        return [(d, 100.0 / len(weights)) for d, _ in weights]
    return weights


__all__ = [
    "CLUSTER_DOMAIN", "INJECT_TEMPLATES_ANNOTATION", "MESH_GATEWAY", "PROXY_CONTAINER", "FaultInjection",
    "RequestView", "fault_percentage", "first_matching_rule", "gateway_refs", "host_intersection",
    "host_matches", "host_subset_of", "is_gateway_proxy", "match_applies_to_proxy", "parse_duration",
    "request_matches", "resolve_host", "server_host_for", "service_fqdn", "service_of_host",
    "split_gateway_ref", "string_match", "strip_port", "vs_hosts", "weighted",
]


# ------------------------------------------------------------------------------- ports, routes


def container_port(target: Any, pod: Mapping[str, Any], protocol: str | None = None) -> int | None:
    """Kubernetes' ``podutil.FindPort``: a Service ``targetPort`` as a number — given as a number,
    a numeric string, or the name of a container port of ``pod`` (a pod or pod template; with
    ``protocol`` the named port must use it)."""
    if isinstance(target, int):
        return target
    if not isinstance(target, str):
        return None
    if target.isdigit():
        return int(target)
    for c in (pod.get("spec") or {}).get("containers") or ():
        for port in c.get("ports") or ():
            if port.get("name") == target and isinstance(port.get("containerPort"), int) and (
                    protocol is None or port.get("protocol", "TCP") == protocol):
                return int(port["containerPort"])
    return None


def route_destinations(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every route and mirror destination of a VirtualService spec, with where it is
    (``http[0].route[1]``, ``http[2].mirror``)."""
    for route_kind in ("http", "tcp", "tls"):
        for i, rule in enumerate(spec.get(route_kind) or []):
            if not isinstance(rule, Mapping):
                continue
            for j, route in enumerate(rule.get("route") or []):
                dest = (route or {}).get("destination")
                if isinstance(dest, Mapping):
                    yield f"{route_kind}[{i}].route[{j}]", dest
            mirror = rule.get("mirror")
            if route_kind == "http" and isinstance(mirror, Mapping):
                yield f"http[{i}].mirror", mirror
