"""Emulated istiod control planes: recognised from pods, answering webhooks, logging pushes.

**Which pods are istiods** — a pod labelled ``app=istiod`` with a ``discovery`` container (the
``pilot`` image), in any namespace, under any name. Its revision is the pod's ``istio.io/rev``
label (else its ``REVISION`` env, else ``default``), its version the discovery image's tag
(``docker.io/istio/pilot:1.19.3`` → ``1.19.3``, hub ``docker.io/istio``), its meshConfig the
``mesh`` key of ConfigMap ``istio-<revision>`` (``istio`` for the default revision) in its
namespace.

**Webhooks** — on port 15017 (the ``https-webhook`` target of istiod's Services) it serves
``/inject`` (sidecar injection, :mod:`.injection`) and ``/validate`` (config validation: allowed —
real validation is a later task); any other path is a 404.

**Logs** — in the ``discovery`` container, in Istio's text layout
(:mod:`runbook.formats.istiod_log`): a few start-up lines when the pod starts, then one
``Push debounce stable[N] …`` line per debounced push, followed by ``XDS: Pushing:…``. A push is
caused by

* any ``*.istio.io`` object created, changed or deleted in a namespace the istiod watches
  (meshConfig ``discoverySelectors``, :func:`runbook.meshconfig.watches_namespace`) that it
  processes (``istio.io/rev`` config filtering, :func:`runbook.meshconfig.processes_config`) —
  ``for config <Kind>/<ns>/<name>``, ``full=true``;
* a Service change there — ``for config ServiceEntry/<ns>/<host>``, ``full=true``;
* an Endpoints change there — the same key, ``full=false`` (an incremental EDS push).

Debouncing is istiod's (``pilot/pkg/xds/discovery.go``): the first event starts a window; the push
happens once 100 ms passed without a new event (or 10 s since the first); several events become
one push (``2 for config VirtualService/ns/a and 1 more configs``); ``since last change`` is the
quiet time, ``since last push`` the time since the window opened (the variable Istio prints
there). ``N`` counts pushes per istiod pod. Lines use ``full=`` (Istio 1.18 … 1.30).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from runbook.errors import InputError
from runbook.formats.istiod_log import log_line, push_debounce_message, xds_push_message
from runbook.kinds import CONFIG_MAPS, ENDPOINTS, NAMESPACES, PODS, SERVICES
from runbook.meshconfig import discovery_selectors, processes_config, watches_namespace
from runbook.safeload import load_yaml
from runbook.sandbox.clock import Timer
from runbook.sandbox.controllers.base import ControllerContext, pod_ready_since
from runbook.sandbox.istio.injection import Injector, inject, injection_required
from runbook.sandbox.registry.webhooks import WebhookCall, WebhookResponse, WebhookServer
from runbook.sandbox.storage.store import Change, Obj
from runbook.selectors import LabelSelector
from runbook.wellknown import DEFAULT_REVISION, ISTIOD_APP, REV_LABEL, SIDECAR_STATUS_ANNOTATION

DISCOVERY_CONTAINER = "discovery"
WEBHOOK_PORT = 15017
DEBOUNCE_AFTER = 0.100
DEBOUNCE_MAX = 10.0
PUSH_SCOPE = "ads"


@dataclass(frozen=True)
class IstiodPod:
    """One istiod pod as the emulation sees it."""

    namespace: str
    name: str
    revision: str
    version: str
    hub: str
    tag: str

    @property
    def mesh_configmap(self) -> str:
        return "istio" if self.revision == DEFAULT_REVISION else f"istio-{self.revision}"


def istiod_of(pod: Obj) -> IstiodPod | None:
    """The istiod a pod runs, or None when it is not an istiod (see the module docstring)."""
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    if labels.get("app") != ISTIOD_APP:
        return None
    containers = (pod.get("spec") or {}).get("containers") or ()
    discovery = next((c for c in containers if c.get("name") == DISCOVERY_CONTAINER), None)
    if discovery is None:
        return None
    image = str(discovery.get("image", ""))
    repo, _, tag = image.rpartition(":")
    if not repo or "/" in tag:
        repo, tag = image, "latest"
    hub = repo.rpartition("/")[0] or "docker.io/istio"
    env = {e.get("name"): e.get("value") for e in discovery.get("env") or () if "value" in e}
    revision = str(labels.get(REV_LABEL) or env.get("REVISION") or DEFAULT_REVISION)
    version = tag.split("-", 1)[0]
    return IstiodPod(meta.get("namespace", ""), meta.get("name", ""), revision, version, hub, tag)


@dataclass
class _Debounce:
    """One istiod's pending push (``debounce`` state)."""

    events: int = 0
    configs: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    full: bool = False
    start: float = 0.0
    last: float = 0.0
    timer: Timer | None = None


@dataclass
class _Instance:
    pod: IstiodPod
    pushes: int = 0
    last_push: float | None = None
    debounce: _Debounce = field(default_factory=_Debounce)


class Istiods:
    """Every running istiod pod: webhook server, start-up logs, debounced push logs."""

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.instances: dict[tuple[str, str], _Instance] = {}
        self._mesh_cache: dict[tuple[str, str], tuple[str, Any]] = {}

    def reset(self) -> None:
        for instance in self.instances.values():
            if instance.debounce.timer is not None:
                instance.debounce.timer.cancel()
        self.instances.clear()
        self._mesh_cache.clear()

    # ------------------------------------------------------------------ meshConfig

    def mesh(self, pod: IstiodPod) -> dict[str, Any]:
        """The istiod's meshConfig (parsed ``mesh`` key; {} when missing or unreadable)."""
        cm = self.ctx.store.get(CONFIG_MAPS.key, pod.namespace, pod.mesh_configmap)
        if cm is None:
            return {}
        rv = cm["metadata"].get("resourceVersion", "")
        cached = self._mesh_cache.get((pod.namespace, pod.mesh_configmap))
        if cached is not None and cached[0] == rv:
            return dict(cached[1])
        try:
            mesh = load_yaml(str((cm.get("data") or {}).get("mesh") or ""), "meshConfig") or {}
        except (yaml.YAMLError, InputError):
            # istiod logs a meshConfig it cannot read and keeps going without it
            mesh = {}
        if not isinstance(mesh, dict):
            mesh = {}
        self._mesh_cache[(pod.namespace, pod.mesh_configmap)] = (rv, mesh)
        return dict(mesh)

    def selectors(self, pod: IstiodPod) -> list[LabelSelector]:
        try:
            return discovery_selectors(self.mesh(pod))
        except InputError:
            return []  # istiod logs "invalid discovery selector" and keeps watching everything

    def injector(self, pod: IstiodPod) -> Injector:
        mesh = self.mesh(pod)
        proxy = mesh.get("defaultConfig") if isinstance(mesh.get("defaultConfig"), dict) else {}
        return Injector(revision=pod.revision, version=pod.version, hub=pod.hub, tag=pod.tag,
                        namespace=pod.namespace,
                        trust_domain=str(mesh.get("trustDomain") or "cluster.local"),
                        proxy_config=json.dumps(proxy, separators=(",", ":")))

    # ------------------------------------------------------------------ webhook server

    def server(self, pod: Obj, port: int) -> WebhookServer | None:
        """The webhook server on ``pod:port`` when the pod is an istiod listening there."""
        if port != WEBHOOK_PORT:
            return None
        istiod = istiod_of(pod)
        if istiod is None or (pod.get("status") or {}).get("phase") != "Running":
            return None

        def serve(call: WebhookCall) -> WebhookResponse:
            return self._serve(istiod, call)

        return serve

    def _serve(self, istiod: IstiodPod, call: WebhookCall) -> WebhookResponse:
        path = call.path.rstrip("/") or "/"
        if path.startswith("/inject"):
            request = call.request
            if not call.mutating or request.kind.key != PODS.key or request.operation != "CREATE":
                return WebhookResponse()
            if not injection_required(request.obj, request.namespace or ""):
                return WebhookResponse()
            return WebhookResponse(patched=inject(request.obj, self.injector(istiod)))
        if path == "/validate":
            return WebhookResponse()  # istiod's config validation: accepted (no rules emulated)
        return WebhookResponse(found=False)

    # ------------------------------------------------------------------ lifecycle and logs

    def started(self, pod: Obj) -> None:
        """Kubelet hook: an istiod pod runs — it logs its start-up and starts watching."""
        istiod = istiod_of(pod)
        if istiod is None:
            return
        key = (istiod.namespace, istiod.name)
        if key in self.instances:
            return
        self.instances[key] = _Instance(istiod)
        now = self.ctx.clock.now()
        args = next((c.get("args") or [] for c in pod["spec"].get("containers") or ()
                     if c.get("name") == DISCOVERY_CONTAINER), [])
        lines = [f'FLAG: {a.split("=", 1)[0]}="{a.split("=", 1)[1]}"' for a in args
                 if a.startswith("--") and "=" in a]
        lines += ["initializing mesh configuration ./etc/istio/config/mesh",
                  "All caches have been synced up in 1s, marking server ready"]
        for text in lines:
            self._log(istiod, log_line(now, "info", "default", text))

    def _log(self, istiod: IstiodPod, line: str) -> None:
        self.ctx.cluster.logs.append(istiod.namespace, istiod.name, DISCOVERY_CONTAINER, line,
                                     self.ctx.clock.time())

    def on_change(self, change: Change) -> None:
        if change.kind == PODS.key:
            self._pod_changed(change)
            return
        if not self.instances:
            return
        meta = change.obj["metadata"]
        ns = meta.get("namespace")
        if not ns:
            return
        if change.kind == SERVICES.key:
            host = f"{meta['name']}.{ns}.svc.cluster.local"
            self._event(ns, None, f"ServiceEntry/{ns}/{host}", full=True, reason="service")
        elif change.kind == ENDPOINTS.key:
            host = f"{meta['name']}.{ns}.svc.cluster.local"
            self._event(ns, None, f"ServiceEntry/{ns}/{host}", full=False, reason="endpoint")
        else:
            kind_name = self._kind_name(change.kind)
            if kind_name is None:
                return
            labels = [meta.get("labels") or {}]
            if change.old is not None:
                labels.append(change.old["metadata"].get("labels") or {})
            self._event(ns, labels, f"{kind_name}/{ns}/{meta['name']}", full=True,
                        reason="config")

    def _kind_name(self, kind_key: str) -> str | None:
        if not kind_key.endswith(".istio.io"):
            return None
        kind = self.ctx.cluster.kinds.by_key(kind_key)
        return kind.kind if kind is not None else None

    def _pod_changed(self, change: Change) -> None:
        meta = change.obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        if change.type == "DELETED":
            instance = self.instances.pop(key, None)
            if instance is not None and instance.debounce.timer is not None:
                instance.debounce.timer.cancel()
            return
        if key not in self.instances and (change.obj.get("status") or {}).get("phase") == "Running" \
                and istiod_of(change.obj) is not None:
            self.started(change.obj)  # a scenario's pod that was Running from the start

    def _event(self, namespace: str, labels: list[dict[str, str]] | None, config: str, *,
               full: bool, reason: str) -> None:
        ns_obj = self.ctx.store.get(NAMESPACES.key, "", namespace)
        ns_labels = (ns_obj or {}).get("metadata", {}).get("labels") or {}
        for instance in list(self.instances.values()):
            pod = instance.pod
            if not watches_namespace(self.selectors(pod), ns_labels):
                continue
            if labels is not None and not any(
                    processes_config(pod.revision, lb, pod.revision == DEFAULT_REVISION)
                    for lb in labels):
                continue
            self._debounce(instance, config, full, reason)

    def _debounce(self, instance: _Instance, config: str, full: bool, reason: str) -> None:
        state = instance.debounce
        now = self.ctx.clock.time()
        if state.events == 0:
            state.start = now
        state.last = now
        state.events += 1
        state.full = state.full or full
        if config not in state.configs:
            state.configs.append(config)
        if reason not in state.reasons:
            state.reasons.append(reason)
        if state.timer is None:
            state.timer = self.ctx.at(now + DEBOUNCE_AFTER, lambda: self._fire(instance))

    def _fire(self, instance: _Instance) -> None:
        state = instance.debounce
        state.timer = None
        if state.events == 0 or (instance.pod.namespace, instance.pod.name) not in self.instances:
            return
        now = self.ctx.clock.time()
        # epoch seconds as floats are exact to ~0.2 µs only: compare and print microseconds
        quiet, delay = round(now - state.last, 6), round(now - state.start, 6)
        if quiet < DEBOUNCE_AFTER and delay < DEBOUNCE_MAX:
            state.timer = self.ctx.at(state.last + DEBOUNCE_AFTER, lambda: self._fire(instance))
            return
        instance.pushes += 1
        message = push_debounce_message(instance.pushes, state.events, state.configs,
                                        state.reasons, quiet, delay, state.full)
        when = self.ctx.clock.now()
        self._log(instance.pod, log_line(when, "info", PUSH_SCOPE, message))
        version = f"{when.strftime('%Y-%m-%dT%H:%M:%SZ')}/{instance.pushes}"
        services, connected = self._push_size(instance.pod) if state.full else (0, 0)
        if not state.full:
            connected = self._connected(instance.pod)
        self._log(instance.pod, log_line(when, "info", PUSH_SCOPE, xds_push_message(
            version, services, connected, state.full)))
        instance.last_push = now
        instance.debounce = _Debounce()

    def _push_size(self, istiod: IstiodPod) -> tuple[int, int]:
        store = self.ctx.store
        selectors = self.selectors(istiod)
        watched = {ns["metadata"]["name"] for ns in store.objects(NAMESPACES.key)
                   if watches_namespace(selectors, ns["metadata"].get("labels"))}
        services = sum(store.count(SERVICES.key, ns) for ns in watched)
        return services, self._connected(istiod)

    def _connected(self, istiod: IstiodPod) -> int:
        """Proxies of this revision that would be connected: injected pods and gateways."""
        count = 0
        for pod in self.ctx.store.objects(PODS.key):
            if pod_ready_since(pod) is None:
                continue
            meta = pod["metadata"]
            status = (meta.get("annotations") or {}).get(SIDECAR_STATUS_ANNOTATION)
            if status is not None:
                count += f'"revision":"{istiod.revision}"' in status
            elif (meta.get("labels") or {}).get(REV_LABEL) == istiod.revision and any(
                    c.get("name") == "istio-proxy" for c in pod["spec"].get("containers") or ()):
                count += 1
        return count


__all__ = ["DEBOUNCE_AFTER", "IstiodPod", "Istiods", "istiod_of"]
