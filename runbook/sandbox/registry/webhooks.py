"""Admission webhooks, emulated from the Mutating/ValidatingWebhookConfigurations in the store.

The dispatcher is an admission plugin pair (``cluster.admission.mutating`` / ``.validating``)
that does what kube-apiserver's webhook admission does, in its order and with its messages:

**Which webhooks are called** (``admission/plugin/webhook/generic``): configurations sorted by
name, webhooks in their order; requests on webhook configurations themselves are exempt. A
webhook is called when

* one of its ``rules`` covers the request (:func:`runbook.formats.admission.rules_match`:
  operations, apiGroups, apiVersions, resources with ``*`` and subresources, scope); with
  ``matchPolicy: Equivalent`` (the default) a request for another served version of the same
  resource matches too;
* its ``namespaceSelector`` matches the labels of the request's namespace — for a Namespace
  request the namespace's own labels; **for any other cluster-scoped object the selector does not
  apply** (``MatchNamespaceSelector``: "never exempted");
* its ``objectSelector`` matches the object's labels — or, on UPDATE/DELETE, the old object's.

Selectors have full label-selector semantics (:mod:`runbook.selectors`; a missing selector
matches everything).

**Where the call goes** — ``clientConfig.service`` is resolved like the endpoint service
resolver (``util/proxy.ResolveEndpoint``): Service missing → ``service "<name>" not found``; no
port with that number → ``no service port <p> found for service "<name>"``; Endpoints missing →
``endpoints "<name>" not found``; no ready address with the port's name → ``no endpoints
available for service "<name>"``. The address reached is a pod: if an emulated webhook server
lives there (:meth:`WebhookDispatcher.add_server`, e.g. an istiod on 15017) it answers, otherwise
``dial tcp <ip>:<port>: connect: connection refused``. ``clientConfig.url`` dials its host the
same way (an IP of an emulated pod, or a refused/unresolvable address). Every such failure is
wrapped as ``failed calling webhook "<w>": failed to call webhook: Post
"https://<svc>.<ns>.svc:<port><path>?timeout=<n>s": <cause>`` (:mod:`runbook.formats.admission`)
and, with ``failurePolicy: Fail``, answered as 500 ``Internal error occurred: …``; with
``Ignore`` the request goes on unchanged.

**Answers** — a mutating server returns the changed object (the result of its JSON patch), the
next webhook sees it; a denial becomes 400 ``admission webhook "<w>" denied the request: …``.
Webhooks whose ``sideEffects`` are not ``None``/``NoneOnDryRun`` refuse dry-run requests.
**Trust and time** — the emulated servers present certificates of one webhook CA (the
Sandbox's, :attr:`WebhookDispatcher.ca_pem`); a ``clientConfig.caBundle`` that does not hold that
CA's certificate fails the call with ``tls: failed to verify certificate: x509: certificate signed by
unknown authority``, as the apiserver's TLS client does. An empty ``caBundle`` is trusted (the
scenarios carry none; a real apiserver would fall back to its system roots). A serving pod
annotated :data:`ANSWER_SECONDS_ANNOTATION` (``"15"``) answers that late: when that is not less
than the webhook's ``timeoutSeconds`` (default 10) the call fails with ``context deadline
exceeded`` — at once, the emulation does not wait it out. The real engine's bridge
(``realkube/istio.py``) sleeps for it, so that the real apiserver times out for real.
**A policy that denies** — a Running pod annotated :data:`DENY_ANNOTATION` (the reason) serves
webhooks on each of its declared ``containerPort``s and denies every request with that reason, as
an OPA Gatekeeper or Kyverno pod would; the real engine's bridge serves it the same way.

Not emulated: ``reinvocationPolicy``, ``matchConditions``, the ClusterIP service resolver
(kube-proxy would refuse a connection to a Service without endpoints instead of the resolver
naming it).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runbook.formats import admission as fmt
from runbook.kinds import (
    ENDPOINTS,
    MUTATING_WEBHOOKS,
    NAMESPACES,
    PODS,
    SERVICES,
    VALIDATING_WEBHOOKS,
    ResourceKind,
)
from runbook.sandbox.registry import status
from runbook.sandbox.registry.admission import AdmissionRequest
from runbook.sandbox.registry.cluster import Registry
from runbook.sandbox.registry.status import ApiError
from runbook.sandbox.storage.store import Change, Obj
from runbook.selectors import LabelSelector, SelectorError, selector_from_dict

#: the reason an emulated server gives for a path it does not serve (a 404 through the client)
NOT_FOUND = "the server could not find the requested resource"
#: a serving pod's annotation: seconds its webhook server takes to answer (a sandbox knob)
ANSWER_SECONDS_ANNOTATION = "sandbox.mesh-runbook.io/webhook-answer-seconds"
#: a serving pod's annotation: the reason its webhook server denies every request with (a
#: sandbox knob for a policy webhook)
DENY_ANNOTATION = "sandbox.mesh-runbook.io/webhook-deny"
#: what the apiserver's TLS client says when the caBundle did not sign the server's certificate
UNKNOWN_AUTHORITY = "tls: failed to verify certificate: x509: certificate signed by unknown authority"
#: what the apiserver's webhook client says when timeoutSeconds passed without an answer
DEADLINE_EXCEEDED = "context deadline exceeded"


@dataclass
class WebhookCall:
    """One call to an emulated webhook server.

    Attributes:
        webhook: the webhook's name (``rev.namespace.sidecar-injector.istio.io``).
        configuration: the name of its configuration.
        path: the URL path (``/inject``).
        request: the admission request (``request.obj`` is what the server reviews).
        mutating: a MutatingWebhookConfiguration's webhook.
    """

    webhook: str
    configuration: str
    path: str
    request: AdmissionRequest
    mutating: bool


@dataclass
class WebhookResponse:
    """An emulated server's answer.

    Attributes:
        allowed: False denies the request with ``message``.
        patched: the object after mutation (None: unchanged).
        message: the denial reason.
        found: False when the server does not serve the path (HTTP 404).
    """

    allowed: bool = True
    patched: Obj | None = None
    message: str = ""
    found: bool = True


WebhookServer = Callable[[WebhookCall], WebhookResponse]
#: ``fn(pod, port)`` → the server listening on that pod port, or None
ServerLookup = Callable[[Obj, int], "WebhookServer | None"]


class CallFailed(Exception):
    """The call did not reach a server; ``cause`` is the text after the URL."""

    def __init__(self, cause: str) -> None:
        self.cause = cause
        super().__init__(cause)


@dataclass
class _Hook:
    configuration: str
    index: int
    spec: Obj
    namespace_selector: LabelSelector
    object_selector: LabelSelector


@dataclass
class _Compiled:
    mutating: list[_Hook] = field(default_factory=list)
    validating: list[_Hook] = field(default_factory=list)


_EXEMPT = frozenset({MUTATING_WEBHOOKS.key, VALIDATING_WEBHOOKS.key})


class WebhookDispatcher:
    """Calls the webhooks of the stored configurations (see the module docstring).

    Args:
        cluster: the cluster whose admission chain it joins.
    """

    def __init__(self, cluster: Registry) -> None:
        self.cluster = cluster
        self._lock = threading.Lock()
        self._compiled: _Compiled | None = None
        self._servers: list[ServerLookup] = []
        #: PEM of the CA that signs the emulated servers' certificates (set by the Sandbox,
        #: which owns the certificates; None: no caBundle can be verified)
        self.ca_pem: bytes | None = None
        #: every call that reached a server or failed: (webhook, outcome) — for tests and status
        self.calls = 0
        cluster.admission.mutating.append(self.mutate)
        cluster.admission.validating.append(self.validate)
        self._unsubscribe = cluster.store.subscribe(self._on_change)

    def add_server(self, lookup: ServerLookup) -> None:
        """Register ``lookup(pod, port)``: the emulated server on a pod's port, if any."""
        self._servers.append(lookup)

    def reset(self) -> None:
        with self._lock:
            self._compiled = None

    def stop(self) -> None:
        self._unsubscribe()
        for plugins, plugin in ((self.cluster.admission.mutating, self.mutate),
                                (self.cluster.admission.validating, self.validate)):
            if plugin in plugins:
                plugins.remove(plugin)

    def _on_change(self, change: Change) -> None:
        if change.kind in _EXEMPT:
            with self._lock:
                self._compiled = None

    # ------------------------------------------------------------------ plugins

    def mutate(self, request: AdmissionRequest) -> None:
        """Mutating admission: call every matching mutating webhook in order."""
        self._admit(request, self._hooks().mutating, mutating=True)

    def validate(self, request: AdmissionRequest) -> None:
        """Validating admission: call every matching validating webhook."""
        self._admit(request, self._hooks().validating, mutating=False)

    def probe(self, request: AdmissionRequest, namespace_labels: dict[str, str]) -> None:
        """Mutating admission for a request as if its namespace had these labels (the namespace
        need not exist): what a pod there would get now. Raises what admission would raise."""
        self._admit(request, self._hooks().mutating, mutating=True,
                    namespace_labels=namespace_labels)

    def _admit(self, request: AdmissionRequest, hooks: list[_Hook], *, mutating: bool,
               namespace_labels: dict[str, str] | None = None) -> None:
        if request.kind.key in _EXEMPT:
            return
        for hook in hooks:
            if self._matches(hook, request, namespace_labels):
                self._call(hook, request, mutating=mutating)

    # ------------------------------------------------------------------ matching

    def _hooks(self) -> _Compiled:
        with self._lock:
            if self._compiled is None:
                self._compiled = self._compile()
            return self._compiled

    def _compile(self) -> _Compiled:
        store = self.cluster.store
        compiled = _Compiled()
        for kind, target in ((MUTATING_WEBHOOKS, compiled.mutating),
                             (VALIDATING_WEBHOOKS, compiled.validating)):
            configs = sorted(store.objects(kind.key), key=lambda c: c["metadata"]["name"])
            for config in configs:
                name = config["metadata"]["name"]
                for i, hook in enumerate(config.get("webhooks") or ()):
                    try:
                        ns_sel = selector_from_dict(hook.get("namespaceSelector"), nil_matches=True)
                        obj_sel = selector_from_dict(hook.get("objectSelector"), nil_matches=True)
                    except SelectorError:
                        continue  # validation keeps these out; a stored one would not parse
                    target.append(_Hook(name, i, hook, ns_sel, obj_sel))
        return compiled

    def _matches(self, hook: _Hook, request: AdmissionRequest,
                 namespace_labels: dict[str, str] | None = None) -> bool:
        spec = hook.spec
        if not self._rules_match(spec, request):
            return False
        if not hook.namespace_selector.empty:
            labels = namespace_labels if namespace_labels is not None else \
                self._namespace_labels(request)
            if labels is not None and not hook.namespace_selector.matches(labels):
                return False
        if hook.object_selector.empty:
            return True
        if hook.object_selector.matches(_labels(request.obj)):
            return True
        return request.old is not None and hook.object_selector.matches(_labels(request.old))

    @staticmethod
    def _rules_match(spec: Obj, request: AdmissionRequest) -> bool:
        kind: ResourceKind = request.kind
        version = str(request.obj.get("apiVersion") or kind.api_version).rpartition("/")[2]
        versions = [version]
        if spec.get("matchPolicy", "Equivalent") == "Equivalent":
            versions += [v for v in kind.versions if v != version]
        return any(fmt.rules_match(spec.get("rules"), operation=request.operation,
                                   group=kind.group, version=v, resource=kind.plural,
                                   subresource=request.subresource, namespaced=kind.namespaced)
                   for v in versions)

    def _namespace_labels(self, request: AdmissionRequest) -> dict[str, str] | None:
        if request.kind.key == NAMESPACES.key:
            obj = request.old if request.operation == "DELETE" and request.old else request.obj
            return _labels(obj)
        if not request.namespace:
            return None  # a cluster-scoped object: its namespace selector does not apply
        ns = self.cluster.store.get(NAMESPACES.key, "", request.namespace)
        return _labels(ns) if ns is not None else {}

    # ------------------------------------------------------------------ calling

    def _call(self, hook: _Hook, request: AdmissionRequest, *, mutating: bool) -> None:
        spec = hook.spec
        name = str(spec.get("name", ""))
        self.calls += 1
        if request.dry_run and spec.get("sideEffects") not in ("None", "NoneOnDryRun"):
            raise status.bad_request(f'admission webhook "{name}" does not support dry run')
        client = spec.get("clientConfig") or {}
        timeout = spec.get("timeoutSeconds") or 10
        service = client.get("service")
        try:
            if isinstance(service, dict):
                url = fmt.webhook_service_url(str(service.get("name", "")),
                                              str(service.get("namespace", "")),
                                              int(service.get("port") or 443), service.get("path"))
                ip, pod, port = self._resolve_service(service)
                path = str(service.get("path") or "/")
            else:
                url = str(client.get("url", ""))
                ip, pod, port = self._resolve_url(url)
                path = urllib.parse.urlsplit(url).path or "/"
            server = self._server(pod, port)
            if server is None:
                raise CallFailed(f"dial tcp {ip}:{port}: connect: connection refused")
            if not self._trusts(client.get("caBundle")):
                raise CallFailed(UNKNOWN_AUTHORITY)
            if answer_seconds(pod) >= float(timeout):
                raise CallFailed(DEADLINE_EXCEEDED)
        except CallFailed as failed:
            self._failed(spec, fmt.webhook_call_failed(name, url, failed.cause, int(timeout)))
            return
        response = server(WebhookCall(name, hook.configuration, path, request, mutating))
        if not response.found:
            self._failed(spec, fmt.webhook_call_error(name, NOT_FOUND))
            return
        if not response.allowed:
            raise ApiError(400, "BadRequest", fmt.webhook_denied(name, response.message))
        if mutating and response.patched is not None:
            request.obj = response.patched

    def _trusts(self, bundle: Any) -> bool:
        """Whether a caBundle verifies the emulated servers' certificates (empty: trusted)."""
        if not bundle:
            return True
        if self.ca_pem is None:
            return False
        try:
            pem = base64.b64decode(str(bundle), validate=True)
        except (ValueError, binascii.Error):
            return False
        return b"".join(self.ca_pem.split()) in b"".join(pem.split())

    def _failed(self, spec: Obj, message: str) -> None:
        if spec.get("failurePolicy", "Fail") == "Ignore":
            return  # failing open: the request goes on without this webhook
        raise status.internal_error(message)

    def _resolve_service(self, service: Obj) -> tuple[str, Obj | None, int]:
        """``ResolveEndpoint``: the address (IP, pod there, port) a service reference reaches."""
        store = self.cluster.store
        name, namespace = str(service.get("name", "")), str(service.get("namespace", ""))
        port = int(service.get("port") or 443)
        svc = store.get(SERVICES.key, namespace, name)
        if svc is None:
            raise CallFailed(fmt.service_not_found(name))
        svc_type = (svc.get("spec") or {}).get("type", "ClusterIP")
        if svc_type not in ("ClusterIP", "LoadBalancer", "NodePort"):
            raise CallFailed(f'unsupported service type "{svc_type}"')
        svc_port = next((p for p in (svc.get("spec") or {}).get("ports") or ()
                         if int(p.get("port", 0)) == port), None)
        if svc_port is None:
            raise CallFailed(fmt.no_service_port(port, name))
        endpoints = store.get(ENDPOINTS.key, namespace, name)
        if endpoints is None:
            raise CallFailed(status.not_found(ENDPOINTS, name).message)
        for subset in endpoints.get("subsets") or ():
            addresses = subset.get("addresses") or []
            if not addresses:
                continue
            for ep_port in subset.get("ports") or ():
                if (ep_port.get("name") or "") == (svc_port.get("name") or ""):
                    address = addresses[0]
                    return (str(address.get("ip", "")), self._pod_at(address),
                            int(ep_port.get("port", 0)))
        raise CallFailed(fmt.no_endpoints(name))

    def _pod_at(self, address: Obj) -> Obj | None:
        ref = address.get("targetRef") or {}
        if ref.get("kind") == "Pod":
            pod = self.cluster.store.get(PODS.key, str(ref.get("namespace", "")),
                                         str(ref.get("name", "")))
            if pod is not None and (pod.get("status") or {}).get("podIP") == address.get("ip"):
                return pod
        return self._pod_with_ip(str(address.get("ip", "")))

    def _pod_with_ip(self, ip: str) -> Obj | None:
        for pod in self.cluster.store.objects(PODS.key):
            if (pod.get("status") or {}).get("podIP") == ip:
                return pod
        return None

    def _resolve_url(self, url: str) -> tuple[str, Obj | None, int]:
        """A ``clientConfig.url``: the apiserver dials the host directly (no cluster DNS)."""
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        try:
            port = parts.port or 443
        except ValueError:
            port = 443
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise CallFailed(f"dial tcp: lookup {host}: no such host") from None
        return host, self._pod_with_ip(host), port

    def _server(self, pod: Obj | None, port: int) -> WebhookServer | None:
        if pod is None:
            return None
        denying = denying_server(pod, port)
        if denying is not None:
            return denying
        for lookup in self._servers:
            server = lookup(pod, port)
            if server is not None:
                return server
        return None


def answer_seconds(pod: Obj | None) -> float:
    """The :data:`ANSWER_SECONDS_ANNOTATION` of a serving pod (0 without one, or unreadable)."""
    annotations = ((pod or {}).get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(ANSWER_SECONDS_ANNOTATION)
    try:
        seconds = float(raw) if raw is not None else 0.0
    except (TypeError, ValueError):
        return 0.0
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0


def denial_reason(pod: Obj | None) -> str | None:
    """The :data:`DENY_ANNOTATION` of a pod (None without one, or when empty)."""
    annotations = ((pod or {}).get("metadata") or {}).get("annotations") or {}
    reason = annotations.get(DENY_ANNOTATION)
    return str(reason) if reason else None


def denying_ports(pod: Obj) -> list[int]:
    """The ports on which a :data:`DENY_ANNOTATION` pod serves webhooks: its declared
    ``containerPort``s, while it runs (none for any other pod)."""
    if denial_reason(pod) is None or (pod.get("status") or {}).get("phase") != "Running" \
            or (pod.get("metadata") or {}).get("deletionTimestamp"):
        return []
    return sorted({int(p["containerPort"]) for c in (pod.get("spec") or {}).get("containers") or ()
                   for p in c.get("ports") or () if isinstance(p.get("containerPort"), int)})


def denying_server(pod: Obj, port: int) -> WebhookServer | None:
    """The server of a :data:`DENY_ANNOTATION` pod on ``port``: it denies every request."""
    reason = denial_reason(pod)
    if reason is None or port not in denying_ports(pod):
        return None
    return lambda call: WebhookResponse(allowed=False, message=reason)


def _labels(obj: Any) -> dict[str, str]:
    if not isinstance(obj, dict):
        return {}
    return dict((obj.get("metadata") or {}).get("labels") or {})


__all__ = ["DENY_ANNOTATION", "NOT_FOUND", "CallFailed", "WebhookCall", "WebhookDispatcher",
           "WebhookResponse", "WebhookServer", "denial_reason", "denying_ports", "denying_server"]
