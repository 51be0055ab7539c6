"""One pass over a snapshot: the objects indexed the way every table and finding needs them.

:func:`build_model` reads a :class:`~runbook.snapshot.Snapshot` once (objects by namespace, pods
with their readiness and injected revision, istiod Deployments, gateways, every admission webhook)
and resolves webhook targets lazily, with a cache: a Service is looked up once however many
webhooks call it. The tables (revisions, webhooks, injection, workloads) and the diagnosis are
plain functions over this model, so an inventory followed by a diagnosis costs one pass.

Recognition is by labels and webhooks, never by object names:

* istiod: a Deployment labelled ``app=istiod``; its revision is its ``istio.io/rev`` label
  (``default`` when absent), its version the image tag of the ``discovery`` container.
* injector webhooks: webhooks of a MutatingWebhookConfiguration labelled ``app=sidecar-injector``
  or ``istio.io/tag``, or whose webhook name ends in ``sidecar-injector.istio.io`` (the suffix
  istioctl itself tests, ``istioctl/pkg/tag/generate.go``).
* revision tags: configurations labelled ``istio.io/tag``; the revision they claim is their
  ``istio.io/rev`` label.
* gateways: Deployments whose pod template runs ``istio-proxy`` as a ``router``, or that ask for
  the ``gateway`` injection template (``inject.istio.io/templates``).

Webhook targets are resolved like kube-apiserver resolves them (formats.md §5b): the Service must
exist (``service "<name>" not found``), have the port (``no service port <p> found for service``),
not be headless, and have ready endpoints; then the ready endpoints' ``targetRef`` pods say which
istiod revision answers. Without ready endpoints the apiserver's endpoint resolver
(``--enable-aggregator-routing``) says ``no endpoints available for service``, while the default
ClusterIP resolver dials the Service IP and the call times out or is refused — so a timeout whose
target has no endpoints is diagnosed as "no istiod answers" too.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from runbook import kinds as k
from runbook import wellknown as wk
from runbook.formats.admission import rules_match
from runbook.gcpause import paused_gc
from runbook.routing import is_gateway_proxy
from runbook.safeload import load_json
from runbook.selectors import NOTHING, LabelSelector, SelectorError, selector_from_dict
from runbook.snapshot import RawObject, Snapshot
from runbook.statuses import TargetStatus

MUTATING = k.MUTATING_WEBHOOKS.kind
VALIDATING = k.VALIDATING_WEBHOOKS.kind
INJECTOR_SUFFIX = "sidecar-injector.istio.io"
#: namespaces Istio's analyzers treat as system namespaces (analyzers/util/common.go)
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "local-path-storage"})


def meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return meta(obj).get("labels") or {}


@dataclass(slots=True)
class Pod:
    """The parts of a pod the diagnosis uses.

    ``ready`` and ``owner`` (``owner_kind``, ``owner_name``) are read from ``raw`` on first use: the
    diagnosis asks them of a few pods (istiod's, those a finding names), and reading every pod's
    conditions and owner references is half the cost of indexing a large cluster's pods.
    """

    namespace: str
    name: str
    labels: dict[str, str]
    phase: str
    sidecar_revision: str | None
    raw: RawObject = field(repr=False, compare=False)
    _ready: bool | None = field(default=None, init=False, repr=False, compare=False)
    _owner: tuple[str | None, str | None] | None = field(default=None, init=False, repr=False,
                                                          compare=False)

    @property
    def ready(self) -> bool:
        """Its ``Ready`` condition is True and it is not being deleted."""
        if self._ready is None:
            m = self.raw.get("metadata") or {}
            self._ready = not m.get("deletionTimestamp") and any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (self.raw.get("status") or {}).get("conditions") or ())
        return self._ready

    @property
    def owner(self) -> tuple[str | None, str | None]:
        """Kind and name of its controlling owner (None, None when it has none)."""
        if self._owner is None:
            self._owner = (None, None)
            for o in (self.raw.get("metadata") or {}).get("ownerReferences") or ():
                if o.get("controller"):
                    self._owner = (o.get("kind"), o.get("name"))
                    break
        return self._owner

    @property
    def owner_kind(self) -> str | None:
        return self.owner[0]

    @property
    def owner_name(self) -> str | None:
        return self.owner[1]


@dataclass(slots=True)
class Istiod:
    """An istiod Deployment and the pods it runs."""

    namespace: str
    name: str
    revision: str
    version: str | None
    image: str | None
    selector: LabelSelector
    template_labels: dict[str, str]
    desired: int
    ready_replicas: int
    pods: list[Pod] = field(default_factory=list)

    @property
    def ready_pods(self) -> int:
        return sum(1 for p in self.pods if p.ready)


@dataclass(slots=True)
class Gateway:
    """An Istio gateway Deployment (ingress or egress)."""

    namespace: str
    name: str
    revision: str | None
    ready_replicas: int
    desired: int


@dataclass(slots=True)
class Target:
    """Where a webhook's ``clientConfig.service`` leads, as the apiserver would resolve it.

    Attributes:
        status: one of :data:`runbook.statuses.TARGET_STATUSES`.
        ready_endpoints: ready addresses serving the port (None when neither Endpoints nor pods
            could be read).
        endpoint_pods: ``namespace/name`` of the pods behind the ready addresses.
        endpoint_revisions: istiod revisions of those pods.
        selected_revisions: istiod revisions whose pod template the Service's selector matches
            (what it would reach once pods are ready).
    """

    namespace: str
    name: str
    port: int
    exists: bool
    status: TargetStatus
    detail: str
    ready_endpoints: int | None = None
    endpoint_pods: tuple[str, ...] = ()
    endpoint_revisions: tuple[str, ...] = ()
    selected_revisions: tuple[str, ...] = ()
    selector: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def revisions(self) -> tuple[str, ...]:
        """The revisions that answer: from endpoints when known, else from the selector."""
        return self.endpoint_revisions or self.selected_revisions

    def summary(self) -> str:
        """``revision 1-19-3, 1 ready endpoint`` (or why it cannot serve)."""
        if not self.exists:
            return "not found"
        bits = []
        if self.revisions:
            bits.append(f"revision {', '.join(self.revisions)}")
        if self.ready_endpoints is not None:
            n = self.ready_endpoints
            bits.append(f"{n} ready endpoint{'' if n == 1 else 's'}")
        if self.status != "ok":
            bits.append(self.detail)
        return ", ".join(bits)

    @property
    def address(self) -> str:
        """``istio-canary/istiod-1-18-5:443``."""
        return f"{self.namespace}/{self.name}:{self.port}"

    def describe(self) -> str:
        """``istio-canary/istiod-1-18-5:443 (revision 1-19-3, 1 ready endpoint)``."""
        summary = self.summary()
        return f"{self.address} ({summary})" if summary else self.address


@dataclass(slots=True)
class Webhook:
    """One webhook of a Mutating/ValidatingWebhookConfiguration, with its target resolved."""

    kind: str
    configuration: str
    index: int
    name: str
    config_labels: dict[str, str]
    failure_policy: str
    namespace_selector: LabelSelector
    object_selector: LabelSelector
    selector_error: str | None
    matches_pod_create: bool
    service_namespace: str | None
    service_name: str | None
    service_port: int | None
    service_path: str | None
    url: str | None
    is_injector: bool
    tag: str | None
    claimed_revision: str | None
    raw_namespace_selector: Any
    raw_object_selector: Any
    rules: str
    target: Target | None = None

    @property
    def key(self) -> str:
        """``configuration/webhook`` (webhook names repeat across configurations)."""
        return f"{self.configuration}/{self.name}"

    def client_config(self) -> str:
        """The clientConfig as one short string, for evidence."""
        if self.service_name is not None:
            return (f"service {self.service_namespace}/{self.service_name}:{self.service_port}"
                    f"{self.service_path or ''}")
        return f"url {self.url}"

    def reached_revisions(self) -> tuple[str, ...]:
        return self.target.revisions if self.target else ()


@dataclass(slots=True)
class Event:
    """A core/v1 or events.k8s.io/v1 Event, reduced to what the tables use."""

    namespace: str
    kind: str
    name: str
    reason: str
    type: str
    count: int
    first_seen: str | None
    last_seen: str | None
    message: str


class MeshModel:
    """Objects of one snapshot, indexed; see the module docstring."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.unreadable = dict(snapshot.unreadable)
        self.readable = {key for key in snapshot.objects}
        # the loops over the large kinds (namespaces, pods, Deployments, ReplicaSets) inline
        # ``meta``/``labels_of``: they run once per object, tens of thousands on a large cluster,
        # where a call per lookup is a measurable share
        self.namespaces: dict[str, dict[str, str]] = {}
        for ns in snapshot.items(k.NAMESPACES):
            m = ns.get("metadata") or {}
            self.namespaces[m.get("name", "")] = m.get("labels") or {}
        self.services: dict[tuple[str, str], RawObject] = {}
        self.services_by_name: dict[str, list[str]] = defaultdict(list)
        for svc in snapshot.items(k.SERVICES):
            m = meta(svc)
            key = (m.get("namespace", ""), m.get("name", ""))
            self.services[key] = svc
            self.services_by_name[key[1]].append(key[0])
        self.endpoints: dict[tuple[str, str], RawObject] = {
            (meta(ep).get("namespace", ""), meta(ep).get("name", "")): ep
            for ep in snapshot.items(k.ENDPOINTS)}
        #: every pod, in snapshot order
        self.pod_list = [_pod(raw) for raw in snapshot.items(k.PODS)]
        self.pods_by_ns: dict[str, list[Pod]] = defaultdict(list)
        for pod in self.pod_list:
            self.pods_by_ns[pod.namespace].append(pod)
        # namespace → pod name → pod, for the namespaces :meth:`pod` was asked about
        self._pods_by_name: dict[str, dict[str, Pod]] = {}
        self.istiods: list[Istiod] = [
            self._istiod(dep) for dep in snapshot.items(k.DEPLOYMENTS)
            if ((dep.get("metadata") or {}).get("labels") or {}).get("app") == wk.ISTIOD_APP]
        self.replicasets_by_ns: dict[str, list[RawObject]] = defaultdict(list)
        for rs in snapshot.items(k.REPLICA_SETS):
            self.replicasets_by_ns[(rs.get("metadata") or {}).get("namespace", "")].append(rs)
        self.istiods_by_ns: dict[str, list[Istiod]] = defaultdict(list)
        for d in self.istiods:
            self.istiods_by_ns[d.namespace].append(d)
        self.webhooks: list[Webhook] = []
        for kind, wkind in ((k.MUTATING_WEBHOOKS, MUTATING), (k.VALIDATING_WEBHOOKS, VALIDATING)):
            for cfg in snapshot.items(kind):
                self.webhooks.extend(_webhooks(cfg, wkind))
        self._targets: dict[tuple[str, str, int], Target] = {}
        self._events: list[Event] | None = None
        self._rs_deployments: dict[tuple[str, str], str | None] | None = None
        for hook in self.webhooks:
            if hook.service_name is not None:
                hook.target = self.resolve(hook.service_namespace or "", hook.service_name,
                                           hook.service_port or 443)

    # indexes built on first use: the diagnosis reads istiod's Deployments and a few ReplicaSets
    # and pods by name only, the tables read them all

    def pod(self, namespace: str, name: str) -> Pod | None:
        """The pod of that name (indexes only the namespaces asked about)."""
        by_name = self._pods_by_name.get(namespace)
        if by_name is None:
            by_name = self._pods_by_name[namespace] = {
                p.name: p for p in self.pods_by_ns.get(namespace, ())}
        return by_name.get(name)

    @functools.cached_property
    def pods(self) -> dict[tuple[str, str], Pod]:
        """``(namespace, name)`` → pod, every namespace."""
        return {(p.namespace, p.name): p for pods in self.pods_by_ns.values() for p in pods}

    @functools.cached_property
    def deployments_by_ns(self) -> dict[str, list[RawObject]]:
        """Deployments by namespace, in snapshot order."""
        by_ns: dict[str, list[RawObject]] = defaultdict(list)
        for dep in self.snapshot.items(k.DEPLOYMENTS):
            by_ns[meta(dep).get("namespace", "")].append(dep)
        return by_ns

    @functools.cached_property
    def replicasets(self) -> dict[tuple[str, str], RawObject]:
        """``(namespace, name)`` → ReplicaSet."""
        return {(meta(rs).get("namespace", ""), meta(rs).get("name", "")): rs
                for rs in self.snapshot.items(k.REPLICA_SETS)}

    @functools.cached_property
    def gateways(self) -> list[Gateway]:
        """The Istio gateway Deployments (not istiod's), in snapshot order. Found on first use:
        telling one needs a look into every Deployment's pod template, and the diagnosis never
        asks (the control-plane table does)."""
        return [_gateway(dep) for dep in self.snapshot.items(k.DEPLOYMENTS)
                if labels_of(dep).get("app") != wk.ISTIOD_APP
                and is_gateway_proxy((dep.get("spec") or {}).get("template") or {})]

    # ----------------------------------------------------------------------------- readability

    def has(self, kind: k.ResourceKind) -> bool:
        """The kind was read (possibly empty)."""
        return kind.key in self.readable

    # ------------------------------------------------------------------------------ revisions

    def pod_revision(self, pod: Pod) -> str | None:
        """The istiod revision a pod belongs to (None when it is not an istiod pod)."""
        for d in self.istiods_by_ns.get(pod.namespace, ()):
            if d.selector.matches(pod.labels):
                return d.revision
        return None

    def revisions(self) -> list[str]:
        """Every revision that runs an istiod, sorted."""
        return sorted({d.revision for d in self.istiods})

    def injectors(self) -> list[Webhook]:
        return [w for w in self.webhooks if w.is_injector]

    # ---------------------------------------------------------------------------- resolution

    def resolve(self, namespace: str, name: str, port: int) -> Target:
        """Resolve ``namespace/name:port`` like the apiserver's service resolver (cached)."""
        key = (namespace, name, port)
        found = self._targets.get(key)
        if found is None:
            found = self._targets[key] = self._resolve(namespace, name, port)
        return found

    def service_ready_addresses(self, namespace: str, name: str) -> int | None:
        """Ready addresses of a Service's Endpoints, all ports (None when unknown)."""
        if not self.has(k.ENDPOINTS):
            return None
        ep = self.endpoints.get((namespace, name))
        if ep is None:
            return 0
        return len({a.get("ip") for s in ep.get("subsets") or [] for a in s.get("addresses") or []})

    def elsewhere(self, name: str, namespace: str, port: int) -> list[Target]:
        """Services called ``name`` in other namespaces, resolved on ``port``."""
        return [self.resolve(ns, name, port) for ns in sorted(self.services_by_name.get(name, ()))
                if ns != namespace]

    def _resolve(self, namespace: str, name: str, port: int) -> Target:
        svc = self.services.get((namespace, name))
        if svc is None:
            if not self.has(k.SERVICES):
                return Target(namespace, name, port, False, "unknown",
                              "services could not be read")
            return Target(namespace, name, port, False, "service_not_found",
                          f'service "{name}" not found')
        spec = svc.get("spec") or {}
        selector_map = spec.get("selector") or {}
        selected = self._selected_revisions(namespace, selector_map)
        selector_text = ",".join(f"{a}={b}" for a, b in sorted(selector_map.items()))

        def found(status: TargetStatus, detail: str, ready: int | None = None,
                  pods: tuple[str, ...] = (), revs: tuple[str, ...] = ()) -> Target:
            return Target(namespace, name, port, True, status, detail, ready, pods, revs,
                          selected, selector_text)

        svc_type = spec.get("type") or "ClusterIP"
        if svc_type == "ExternalName":
            return found("unsupported_type", 'unsupported service type "ExternalName"')
        svc_port = next((p for p in spec.get("ports") or [] if p.get("port") == port), None)
        if svc_port is None:
            return found("no_service_port", f'no service port {port} found for service "{name}"')
        if spec.get("clusterIP") == "None":
            return found("headless", 'cannot route to service with ClusterIP "None"')
        pods = self._ready_endpoint_pods(namespace, name, svc_port, selector_map)
        if pods is None:
            return found("unknown", "neither endpoints nor pods could be read")
        count, keys = pods
        if count == 0:
            return found("no_endpoints", f'no endpoints available for service "{name}"', 0)
        revs = sorted({r for key in keys if (p := self.pod(*key)) and (r := self.pod_revision(p))})
        return found("ok", "", count, tuple(f"{a}/{b}" for a, b in keys), tuple(revs))

    def _selected_revisions(self, namespace: str, selector_map: Mapping[str, str]) -> tuple[str, ...]:
        if not selector_map:
            return ()
        return tuple(sorted({d.revision for d in self.istiods_by_ns.get(namespace, ())
                             if all(d.template_labels.get(a) == b for a, b in selector_map.items())}))

    def _ready_endpoint_pods(self, namespace: str, name: str, svc_port: Mapping[str, Any],
                             selector_map: Mapping[str, str]
                             ) -> tuple[int, list[tuple[str, str]]] | None:
        """Ready addresses serving ``svc_port`` and their pods; None when nothing tells."""
        if self.has(k.ENDPOINTS):
            ep = self.endpoints.get((namespace, name))
            if ep is None:
                return 0, []
            port_name = svc_port.get("name")
            count, keys = 0, []
            for subset in ep.get("subsets") or []:
                ports = subset.get("ports") or []
                # the endpoints controller names subset ports after the Service's ports
                if port_name and ports and not any(p.get("name") == port_name for p in ports):
                    continue
                for addr in subset.get("addresses") or []:
                    count += 1
                    ref = addr.get("targetRef") or {}
                    if ref.get("kind") == "Pod":
                        keys.append((ref.get("namespace") or namespace, ref.get("name", "")))
            return count, keys
        if self.has(k.PODS) and selector_map:
            chosen = [p for p in self.pods_by_ns.get(namespace, ())
                      if p.ready and all(p.labels.get(a) == b for a, b in selector_map.items())]
            return len(chosen), [(p.namespace, p.name) for p in chosen]
        return None

    # ---------------------------------------------------------------------------------- istiod

    def _istiod(self, dep: RawObject) -> Istiod:
        m = meta(dep)
        spec = dep.get("spec") or {}
        status = dep.get("status") or {}
        template = spec.get("template") or {}
        try:
            selector = selector_from_dict(spec.get("selector"))
        except SelectorError:
            selector = NOTHING
        image = _discovery_image(template)
        d = Istiod(
            namespace=m.get("namespace", ""), name=m.get("name", ""),
            revision=labels_of(dep).get(wk.REV_LABEL) or wk.DEFAULT_REVISION,
            version=image_tag(image), image=image, selector=selector,
            template_labels=labels_of(template),
            desired=int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1),
            ready_replicas=int(status.get("readyReplicas") or 0))
        d.pods = [p for p in self.pods_by_ns.get(d.namespace, ()) if selector.matches(p.labels)]
        return d

    def replicaset_deployments(self) -> dict[tuple[str, str], str | None]:
        """``(namespace, ReplicaSet)`` → its controlling Deployment (None: not owned); cached (the
        workloads table, the ReplicaSet events and the failing ReplicaSets all ask)."""
        if self._rs_deployments is None:
            self._rs_deployments = {
                (ns, (rs.get("metadata") or {}).get("name", "")): controller_owner(rs, "Deployment")
                for ns, items in self.replicasets_by_ns.items() for rs in items}
        return self._rs_deployments

    # ---------------------------------------------------------------------------------- events

    def events(self) -> list[Event]:
        """Events of both APIs, de-duplicated (the same event is served by both); cached."""
        if self._events is None:
            self._events = self._read_events()
        return self._events

    def events_with_reason(self, reason: str) -> list[Event]:
        """The :meth:`events` whose reason is ``reason``, in the same order. Only those are
        built when the full list is not (the diagnosis reads the ``FailedCreate`` fifth of the
        events; the table reads them all)."""
        if self._events is not None:
            return [ev for ev in self._events if ev.reason == reason]
        return self._read_events(reason)

    def _read_events(self, reason: str | None = None) -> list[Event]:
        core = self.snapshot.items(k.EVENTS)
        out = [_event(raw, _CORE_EVENT_FIELDS) for raw in core
               if reason is None or (raw.get("reason") or "") == reason]
        v1 = self.snapshot.items(k.EVENTS_V1)
        if v1:
            seen = set()
            for raw in core:
                m = raw.get("metadata") or {}
                seen.add((m.get("namespace", ""), m.get("name", "")))
            for raw in v1:
                m = raw.get("metadata") or {}
                if ((m.get("namespace", ""), m.get("name", "")) not in seen
                        and (reason is None or (raw.get("reason") or "") == reason)):
                    out.append(_event(raw, _V1_EVENT_FIELDS))
        return out


#: where core/v1 and events.k8s.io/v1 Events keep the same facts: the object the event is about,
#: its count, first and last time, and its text
_CORE_EVENT_FIELDS = ("involvedObject", "count", "firstTimestamp", "lastTimestamp", "message")
_V1_EVENT_FIELDS = ("regarding", "deprecatedCount", "deprecatedFirstTimestamp",
                    "deprecatedLastTimestamp", "note")


def _event(raw: RawObject, fields: tuple[str, str, str, str, str]) -> Event:
    about_key, count_key, first_key, last_key, message_key = fields
    about = raw.get(about_key) or {}
    series = raw.get("series") or {}
    return Event(
        namespace=about.get("namespace") or (raw.get("metadata") or {}).get("namespace", ""),
        kind=about.get("kind", ""), name=about.get("name", ""),
        reason=raw.get("reason") or "", type=raw.get("type") or "",
        count=int(series.get("count") or raw.get(count_key) or 1),
        first_seen=raw.get(first_key) or raw.get("eventTime"),
        last_seen=series.get("lastObservedTime") or raw.get(last_key) or raw.get("eventTime"),
        message=raw.get(message_key) or "")


@paused_gc
def build_model(snapshot: Snapshot) -> MeshModel:
    """Index a snapshot for the tables and the diagnosis (one pass, no network)."""
    return MeshModel(snapshot)


#: what the table functions accept: a snapshot, or a model already built from one
Source = Snapshot | MeshModel


def as_model(source: Source) -> MeshModel:
    """The model of ``source`` (built when given a snapshot)."""
    return source if isinstance(source, MeshModel) else build_model(source)


def found_in(model: MeshModel, target: Target | None) -> list[str]:
    """Where else a Service of the target's name exists: ``istio-canary (revision 1-19-3, 1 ready
    endpoint)`` — what the field report looked for by hand with ``kubectl get svc -n``."""
    if target is None:
        return []
    return [f"{t.namespace} ({t.summary()})" if t.summary() else t.namespace
            for t in model.elsewhere(target.name, target.namespace, target.port)]


# ---------------------------------------------------------------------------------- helpers


def controller_owner(obj: Mapping[str, Any], kind: str) -> str | None:
    """The name of the object's controlling owner of ``kind`` (None when there is none)."""
    for o in meta(obj).get("ownerReferences") or ():
        if o.get("kind") == kind and o.get("controller"):
            return str(o.get("name"))
    return None


def image_tag(image: str | None) -> str | None:
    """``docker.io/istio/pilot:1.18.5`` → ``1.18.5``; None for digests or untagged images."""
    if not image:
        return None
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def _discovery_image(template: Mapping[str, Any]) -> str | None:
    containers = (template.get("spec") or {}).get("containers") or []
    chosen = next((c for c in containers if c.get("name") == "discovery"),
                  containers[0] if containers else None)
    return chosen.get("image") if chosen else None


@lru_cache(maxsize=1024)
def sidecar_revision(status_annotation: str) -> str | None:
    """The ``revision`` of a ``sidecar.istio.io/status`` annotation (formats.md §7)."""
    try:
        data = load_json(status_annotation, wk.SIDECAR_STATUS_ANNOTATION)
    except ValueError:
        return None
    rev = data.get("revision") if isinstance(data, dict) else None
    return str(rev) if rev else wk.DEFAULT_REVISION


def _pod(raw: RawObject) -> Pod:
    m = raw.get("metadata") or {}
    sc = (m.get("annotations") or {}).get(wk.SIDECAR_STATUS_ANNOTATION)
    return Pod(m.get("namespace", ""), m.get("name", ""), m.get("labels") or {},
               (raw.get("status") or {}).get("phase") or "",
               sidecar_revision(sc) if sc else None, raw)


def _gateway(dep: RawObject) -> Gateway:
    m = meta(dep)
    spec = dep.get("spec") or {}
    template = spec.get("template") or {}
    rev = labels_of(template).get(wk.REV_LABEL) or labels_of(dep).get(wk.REV_LABEL)
    return Gateway(m.get("namespace", ""), m.get("name", ""), rev,
                   int((dep.get("status") or {}).get("readyReplicas") or 0),
                   int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1))


def _webhooks(cfg: RawObject, kind: str) -> Iterable[Webhook]:
    m = meta(cfg)
    labels = m.get("labels") or {}
    name = m.get("name", "")
    for i, hook in enumerate(cfg.get("webhooks") or []):
        hook_name = hook.get("name", "")
        error = None
        try:
            # webhooks: a missing selector means "everything" (admissionregistration v1 docs)
            ns_sel = selector_from_dict(hook.get("namespaceSelector"), nil_matches=True,
                                        field=f"webhooks[{i}].namespaceSelector")
            obj_sel = selector_from_dict(hook.get("objectSelector"), nil_matches=True,
                                         field=f"webhooks[{i}].objectSelector")
        except SelectorError as exc:
            ns_sel = obj_sel = NOTHING
            error = str(exc)
        cc = hook.get("clientConfig") or {}
        svc = cc.get("service")
        injector = kind == MUTATING and (
            labels.get("app") == wk.INJECTOR_APP or wk.TAG_LABEL in labels
            or hook_name.endswith(INJECTOR_SUFFIX))
        yield Webhook(
            kind=kind, configuration=name, index=i, name=hook_name, config_labels=labels,
            failure_policy=hook.get("failurePolicy") or "Fail",
            namespace_selector=ns_sel, object_selector=obj_sel, selector_error=error,
            matches_pod_create=rules_match(hook.get("rules"), operation="CREATE", group="",
                                           version="v1", resource="pods"),
            service_namespace=svc.get("namespace") if svc else None,
            service_name=svc.get("name") if svc else None,
            service_port=int(svc.get("port") or 443) if svc else None,
            service_path=svc.get("path") if svc else None,
            url=None if svc else cc.get("url"),
            is_injector=injector,
            tag=labels.get(wk.TAG_LABEL),
            claimed_revision=labels.get(wk.REV_LABEL),
            raw_namespace_selector=hook.get("namespaceSelector"),
            raw_object_selector=hook.get("objectSelector"),
            rules=rules_text(hook.get("rules")),
        )


def rules_text(rules: Iterable[Mapping[str, Any]] | None) -> str:
    """``CREATE pods; CREATE,UPDATE networking.istio.io/*`` (readable rules)."""
    out = []
    for r in rules or ():
        groups = [g or "core" for g in r.get("apiGroups") or []]
        res = ",".join(r.get("resources") or [])
        prefix = "" if groups == ["core"] else f"{','.join(groups)}/"
        out.append(f"{','.join(r.get('operations') or [])} {prefix}{res}")
    return "; ".join(out) or "<no rules>"
