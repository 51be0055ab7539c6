"""The emulated Istio on the real engine: the emulator's istiods, fed from the real apiserver.

The emulated engine's :class:`~runbook.sandbox.istio.istiod.Istiods` (injection, push logs,
start-up logs) works on a cluster's store. Here that store is a **mirror**: an in-memory
:class:`~runbook.sandbox.registry.cluster.Registry` kept equal to the real apiserver by list+watch of what
istiods read (CRDs, Namespaces, ConfigMaps, Services, Endpoints, Pods, ``*.istio.io`` config).
Nothing is written back to the real cluster except webhook answers; so injection and push logs
are the emulator's code, not a second copy.

* **Webhooks for real** — for every Running istiod pod, an HTTPS listener on 127.0.0.1 serves
  ``/inject`` and ``/validate`` as AdmissionReview v1 (JSONPatch answers), and the egress proxy
  maps ``<podIP>:15017`` to it: the real apiserver resolves the webhook's Service to endpoints,
  dials the pod address, and reaches it. Its certificate is made per TLS server name
  (``<service>.<namespace>.svc``) by the engine's webhook CA, which every webhook configuration
  that calls a Service gets as ``caBundle`` (what istiod's webhook patcher does on a cluster).
  A pod carrying the denial knob (:data:`~runbook.sandbox.registry.webhooks.DENY_ANNOTATION`)
  gets a listener the same way, on each of its declared container ports, and denies every review.
* **Logs** — the istiods' lines go to the mirror's pod logs, which the node agent serves to
  ``kubectl logs``.
* **Ingress** — the emulator's :class:`~runbook.sandbox.istio.dataplane.DataPlane` runs on the
  mirror too: each gateway Service's nodePort answers HTTP on 127.0.0.1, routed by the Gateways
  and VirtualServices of the real cluster (the data plane stays emulated: no Envoy runs).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import ssl
import tempfile
import threading
from pathlib import Path
from typing import Any

import aiohttp
import jsonpatch
from aiohttp import web

from runbook.kinds import (
    CONFIG_MAPS,
    CRDS,
    ENDPOINTS,
    MUTATING_WEBHOOKS,
    NAMESPACES,
    PODS,
    SERVICES,
    VALIDATING_WEBHOOKS,
    ResourceKind,
)
from runbook.sandbox.apiserver.tls import Authority, issue
from runbook.sandbox.clock import Clock
from runbook.sandbox.controllers.base import ControllerContext
from runbook.sandbox.istio.dataplane import DataPlane
from runbook.sandbox.istio.istiod import WEBHOOK_PORT, Istiods, istiod_of
from runbook.sandbox.realkube.api import ApiClient, KubeApiError, Obj
from runbook.sandbox.realkube.egress import EgressProxy
from runbook.sandbox.registry.admission import AdmissionRequest
from runbook.sandbox.registry.cluster import Registry
from runbook.sandbox.registry.webhooks import (
    WebhookCall,
    answer_seconds,
    denial_reason,
    denying_ports,
)
from runbook.sandbox.storage.store import StoreKeyError

#: the largest timeoutSeconds a webhook configuration may set (admissionregistration validation)
MAX_WEBHOOK_TIMEOUT = 30

#: what the mirror follows, CRDs first (they make the ``*.istio.io`` kinds known)
MIRRORED = (CRDS, NAMESPACES, CONFIG_MAPS, SERVICES, ENDPOINTS, PODS)


def with_ca_bundles(obj: Obj, ca_pem: bytes) -> Obj:
    """A webhook configuration whose Service-called webhooks trust ``ca_pem`` (others as they
    are); other objects unchanged."""
    if obj.get("kind") not in (MUTATING_WEBHOOKS.kind, VALIDATING_WEBHOOKS.kind):
        return obj
    bundle = base64.b64encode(ca_pem).decode()
    for hook in obj.get("webhooks") or ():
        client = hook.get("clientConfig") or {}
        if client.get("service") and not client.get("caBundle"):
            client["caBundle"] = bundle
    return obj


class Mirror:
    """The real cluster's objects that istiods read, in an emulated store (module docstring)."""

    def __init__(self) -> None:
        self.cluster = Registry(Clock("real"))

    def apply(self, kind: ResourceKind, type_: str, obj: Obj) -> None:
        store = self.cluster.store
        meta = obj.get("metadata") or {}
        ns, name = str(meta.get("namespace") or ""), str(meta.get("name"))
        if type_ == "DELETED":
            with contextlib.suppress(StoreKeyError):
                store.delete(kind.key, ns, name)
            return
        try:
            store.update(kind.key, obj)
        except StoreKeyError:
            store.create(kind.key, obj)

    async def follow(self, api: ApiClient, kind: ResourceKind, stopping: asyncio.Event) -> None:
        """Keep ``kind`` equal to the real cluster's until ``stopping`` (lists again after a
        watch ends or fails)."""
        while not stopping.is_set():
            try:
                async for type_, obj in api.watch(kind):
                    self.apply(kind, type_, obj)
            except (KubeApiError, OSError, aiohttp.ClientError, TimeoutError, ValueError):
                await asyncio.sleep(0.5)


class IstioBridge:
    """The emulated istiods serving the real apiserver (see the module docstring).

    Args:
        api: a client with read access to everything the mirror follows.
        egress: where pod addresses are routed to listeners.
        webhook_ca: signs the webhooks' serving certificates (its certificate is the caBundle).
    """

    def __init__(self, api: ApiClient, egress: EgressProxy, webhook_ca: Authority) -> None:
        self.api = api
        self.egress = egress
        self.webhook_ca = webhook_ca
        self.mirror = Mirror()
        self.ctx = ControllerContext(self.mirror.cluster)
        self.istiods = Istiods(self.ctx)
        self.dataplane = DataPlane(self.mirror.cluster, self.istiods)
        self.mirror.cluster.store.subscribe(self._on_change)
        self._listeners: dict[tuple[str, str], tuple[str, list[int], web.AppRunner]] = {}
        self._served: set[tuple[str, str]] = set()  # istiod pods with a listener (or opening)
        self._tasks: list[asyncio.Task[None]] = []
        self._opening_closing: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer_thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._done = threading.Event()
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="mesh-runbook-webhooks-")

    @property
    def logs(self) -> Any:
        return self.mirror.cluster.logs

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.mirror.cluster.clock.on_schedule = self._wake.set
        self.mirror.cluster.work.on_add = self._wake.set
        self.dataplane.start()
        self._timer_thread = threading.Thread(target=self._run_timers, name="emulated-istiod",
                                              daemon=True)
        self._timer_thread.start()
        for kind in MIRRORED:
            self._tasks.append(self._loop.create_task(self.mirror.follow(self.api, kind,
                                                                         self._stopping)))
        self._istio_kinds: set[str] = set()

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*self._opening_closing, return_exceptions=True)
        for key in list(self._listeners):
            await self._close_listener(key)
        self._done.set()
        self._wake.set()
        if self._timer_thread is not None:
            self._timer_thread.join(5)
        self.dataplane.stop()
        self.istiods.reset()
        self._tmp.cleanup()

    def _run_timers(self) -> None:
        # the istiods' debounce timers (on the mirror's real clock) and the data plane's
        # reconcile work run in this thread, as in the emulated engine's controller thread
        clock, work = self.mirror.cluster.clock, self.mirror.cluster.work
        while not self._done.is_set():
            self._wake.clear()
            clock.run_due()
            work.run_pending()
            due = clock.next_due()
            self._wake.wait(1.0 if due is None else min(1.0, max(0.0, due - clock.time())))

    # ------------------------------------------------------------------ reacting to the mirror

    def _on_change(self, change: Any) -> None:
        """Store subscriber (runs in the event loop's thread: the mirror is written there)."""
        self.istiods.on_change(change)
        if change.kind == CRDS.key and change.type != "DELETED":
            self._follow_custom_kinds()
        if change.kind != PODS.key or self._loop is None:
            return
        pod = change.obj
        meta = pod["metadata"]
        key = (str(meta.get("namespace", "")), str(meta["name"]))
        running = (change.type != "DELETED" and (pod.get("status") or {}).get("phase") == "Running"
                   and not meta.get("deletionTimestamp"))
        ip = (pod.get("status") or {}).get("podIP")
        ports = _serving_ports(pod) if running else []
        if ports and ip and key not in self._served:
            self._served.add(key)
            self._track(self._loop.create_task(self._open_listener(key, str(ip), ports)))
        elif not running and key in self._served:
            self._served.discard(key)
            self._track(self._loop.create_task(self._close_listener(key)))

    def _track(self, task: asyncio.Task[None]) -> None:
        # a listener still opening or closing when the bridge stops is waited for there: its
        # requests (a slow webhook's may sleep for seconds) must end before the loop does
        self._opening_closing.add(task)
        task.add_done_callback(self._opening_closing.discard)

    def _follow_custom_kinds(self) -> None:
        assert self._loop is not None
        for kind in list(self.mirror.cluster.kinds):
            if kind.group.endswith("istio.io") and kind.key not in self._istio_kinds:
                self._istio_kinds.add(kind.key)
                self._tasks.append(self._loop.create_task(
                    self.mirror.follow(self.api, kind, self._stopping)))

    # ------------------------------------------------------------------ webhook listeners

    def _context_for(self, server_name: str) -> ssl.SSLContext:
        """A TLS context whose certificate names ``server_name`` (made on first use)."""
        context = self._contexts.get(server_name)
        if context is None:
            cert_pem, key_pem = issue(self.webhook_ca, server_name, dns=(server_name,))
            cert = Path(self._tmp.name) / f"{len(self._contexts)}.crt"
            key = cert.with_suffix(".key")
            cert.write_bytes(cert_pem)
            key.write_bytes(key_pem)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            self._contexts[server_name] = context
        return context

    async def _open_listener(self, key: tuple[str, str], ip: str, ports: list[int]) -> None:
        default = self._context_for("istiod.svc")

        def pick(sock: ssl.SSLObject, server_name: str | None, ctx: ssl.SSLContext) -> None:
            if server_name:
                sock.context = self._context_for(server_name)

        default.sni_callback = pick
        app = web.Application(client_max_size=16 * 1024 * 1024)

        async def review(request: web.Request) -> web.Response:
            return await self._review(request, key)

        app.router.add_post("/{path:.*}", review)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=default)
        await site.start()
        if key not in self._served:  # the pod stopped while the listener was opening
            await runner.cleanup()
            return
        server: Any = site._server
        local = int(server.sockets[0].getsockname()[1])
        self._listeners[key] = (ip, ports, runner)
        for port in ports:
            self.egress.add_route(ip, port, local)

    async def _close_listener(self, key: tuple[str, str]) -> None:
        listener = self._listeners.pop(key, None)
        if listener is not None:
            ip, ports, runner = listener
            for port in ports:
                self.egress.remove_route(ip, port)
            await runner.cleanup()

    async def _review(self, request: web.Request, key: tuple[str, str]) -> web.Response:
        review = await request.json()
        req = review.get("request") or {}
        uid = req.get("uid", "")
        answer: Obj = {"uid": uid, "allowed": True}
        pod = self.mirror.cluster.store.get(PODS.key, *key)
        reason = denial_reason(pod)
        if reason is not None:
            answer.update(allowed=False, status={"code": 403, "message": reason})
            return web.json_response({"apiVersion": review.get("apiVersion", "admission.k8s.io/v1"),
                                      "kind": "AdmissionReview", "response": answer})
        serve = self.istiods.server(pod, WEBHOOK_PORT) if pod is not None else None
        if serve is None:
            return web.json_response(status=404, data={"message": "not found"})
        # the sandbox knob for a slow webhook: the real apiserver gives up at timeoutSeconds
        # (at most 30 s), so a longer sleep only holds this handler
        delay = min(answer_seconds(pod), MAX_WEBHOOK_TIMEOUT + 1)
        if delay:
            await asyncio.sleep(delay)
        resource = req.get("resource") or {}
        kind = self.mirror.cluster.kinds.by_plural(resource.get("group", ""),
                                                   resource.get("resource", ""))
        original = req.get("object") or {}
        if kind is None or not isinstance(original, dict):
            return web.json_response({"apiVersion": review.get("apiVersion"),
                                      "kind": "AdmissionReview", "response": answer})
        obj = copy.deepcopy(original)
        namespace = req.get("namespace") or None
        if namespace and not (obj.get("metadata") or {}).get("namespace"):
            obj.setdefault("metadata", {})["namespace"] = namespace
        call = WebhookCall(webhook="", configuration="", path=request.path, mutating=True,
                           request=AdmissionRequest(
                               operation=str(req.get("operation", "")), kind=kind,
                               namespace=namespace, name=str(req.get("name") or ""), obj=obj,
                               old=req.get("oldObject"),
                               user=str((req.get("userInfo") or {}).get("username", "")),
                               dry_run=bool(req.get("dryRun"))))
        result = serve(call)
        if not result.found:
            return web.json_response(status=404, data={"message": "not found"})
        answer["allowed"] = result.allowed
        if not result.allowed:
            answer["status"] = {"code": 400, "message": result.message}
        elif result.patched is not None:
            patched = result.patched
            if not (original.get("metadata") or {}).get("namespace"):
                patched.get("metadata", {}).pop("namespace", None)
            patch = jsonpatch.make_patch(original, patched).patch
            if patch:
                answer["patchType"] = "JSONPatch"
                answer["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
        return web.json_response({"apiVersion": review.get("apiVersion", "admission.k8s.io/v1"),
                                  "kind": "AdmissionReview", "response": answer})


def _serving_ports(pod: Obj) -> list[int]:
    """The ports a running pod serves webhooks on: istiod's webhook port, or the denial knob's."""
    return [WEBHOOK_PORT] if istiod_of(pod) is not None else denying_ports(pod)


__all__ = ["IstioBridge", "Mirror", "with_ca_bundles"]
