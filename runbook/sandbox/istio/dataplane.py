"""The sandbox's ingress data plane: every emulated gateway answers real HTTP on 127.0.0.1.

The sandbox has no external load balancer (docs/sandbox.md › LIMITS: EXTERNAL-IP stays
``<pending>``; two gateways cannot both own 127.0.0.1:80 without root). So, like kube-proxy's
``NodePort`` rules on a node whose InternalIP is 127.0.0.1, each gateway Service's ``nodePort``
is a listening socket on **127.0.0.1:<nodePort>** that forwards to the Service port's target port
on a ready gateway pod — exactly the address Istio's recipe resolves when there is no load
balancer (``INGRESS_HOST`` = node address, ``INGRESS_PORT`` = the ``http2`` nodePort;
``runbook.probe.ingress_address``). For the seed scenario: istio-prod's gateway on
127.0.0.1:31241, istio-canary's on 127.0.0.1:32232, their status ports on 30816 / 30331.

How it works:

* **Configuration** — a store subscriber queues one keyed work item per burst of changes to
  Gateways, VirtualServices, DestinationRules, Services, Endpoints, pods, namespaces or
  ConfigMaps; the item rebuilds the whole :class:`~.routes.DataPlaneConfig` from the store
  (:func:`~.routes.build_config`, which explains what istiod would program) and swaps it in, so
  a changed VirtualService is served by the next request (a real gateway gets it after istiod's
  debounced push, ~0.1–1 s later: see docs/sandbox.md › LIMITS). ``Sandbox.settle()`` waits
  for it.
* **Listeners** — a node port listens when some ready gateway pod behind it has an HTTP listener
  there (a Gateway server on that port applies to it and its istiod takes the Gateway in), or
  when it is the status port (15021, ``/healthz/ready``). Otherwise the port is closed and a
  client sees ``connection refused`` — what Envoy without a listener gives. A port in use on this
  machine (another sandbox, another program) is logged and reported as ``busy`` by
  :meth:`DataPlane.status` (``runbook sandbox status``); the sandbox keeps running and retries
  on the next change.
* **Serving** — aiohttp's low-level server on its own thread and event loop (the API server's
  loop may be busy with a large list): Host → virtual host (exact, longest wildcard, ``*``; port
  ignored) → first matching route → https redirect / redirect / direct response → fault delay,
  then abort (their percentages) → weighted destination → ``NC`` 503 (empty body) when istiod
  has no cluster for it, ``UH`` 503 ``no healthy upstream`` without ready endpoints → a random
  ready pod's emulated app (:mod:`.backends`) with the route's ``timeout`` (``504 upstream
  request timeout``) and ``rewrite``. No route or no virtual host → **404 with an empty body**,
  as Envoy answers. Answers carry ``server: istio-envoy``, ``date``, the app's ``content-type``
  and ``content-length`` (and ``etag``/``last-modified``/``accept-ranges`` from nginx), then
  ``x-envoy-upstream-service-time`` — the whole milliseconds the upstream took, measured — in the
  order the field report's ``curl -I`` shows.
* **Time is real**: apps sleep their drawn service time; the gateway's own cost is whatever this
  code takes (~0.1–0.3 ms). asyncio timers over epoll have ~1 ms granularity, so a drawn time is
  rounded up by up to ~1 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import errno
import functools
import logging
import random
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from runbook.kinds import CONFIG_MAPS, ENDPOINTS, NAMESPACES, PODS, SERVICES
from runbook.routing import RequestView, strip_port
from runbook.sandbox.istio.backends import HANDLERS, BackendRequest, BackendResponse, PodApp
from runbook.sandbox.istio.istiod import Istiods
from runbook.sandbox.istio.routes import (
    ControlPlane,
    DataPlaneConfig,
    Destination,
    NodePortBinding,
    Route,
    build_config,
)
from runbook.sandbox.registry.cluster import Registry
from runbook.sandbox.storage.store import Change

log = logging.getLogger("runbook.sandbox")

HOST = "127.0.0.1"
SERVER = "istio-envoy"
#: kinds whose changes can change what a gateway serves
WATCHED_KINDS = frozenset({PODS.key, SERVICES.key, ENDPOINTS.key, NAMESPACES.key, CONFIG_MAPS.key})
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
                         "upgrade", "trailer"})
_RESET_TEXT = (b"upstream connect error or disconnect/reset before headers. "
               b"reset reason: connection termination")


@dataclass
class PortState:
    """What one node port is doing (``status()``)."""

    node_port: int
    service: str
    service_port: int
    port_name: str
    target_port: int | None
    state: str  # listening | busy | closed
    reason: str = ""
    fallback: int | None = None  # where a busy node port's gateway answers instead

    def to_json(self) -> dict[str, Any]:
        return {"nodePort": self.node_port, "address": f"{HOST}:{self.node_port}", "service": self.service,
                "port": self.service_port, "portName": self.port_name, "targetPort": self.target_port,
                "state": self.state, "reason": self.reason,
                "fallbackAddress": f"{HOST}:{self.fallback}" if self.fallback else None}


class _Calls:
    """App-to-app calls inside one request (productpage → details/reviews → ratings)."""

    def __init__(self, plane: DataPlane, config: DataPlaneConfig) -> None:
        self.plane, self.config = plane, config

    async def call(self, caller: PodApp, service: str, port: int, path: str) -> BackendResponse:
        pods = self.config.services.get((caller.namespace, service), {}).get(port) or ()
        if not pods:
            body = b"no healthy upstream"  # what the caller's sidecar answers
            return BackendResponse(503, [("content-type", "text/plain"), ("content-length", "19")], body)
        pod = pods[0] if len(pods) == 1 else self.plane.rng.choice(pods)
        request = BackendRequest("GET", path, headers=(("host", f"{service}:{port}"),), client_ip=caller.ip)
        return await self.plane.serve_pod(pod, request, self)


class DataPlane:
    """Every emulated ingress gateway of one sandbox (see the module docstring).

    Args:
        cluster: the sandbox's cluster (store, work queue).
        istiods: the emulated istiods (who programs which gateway).
        host: the address to listen on (127.0.0.1: never anything else).
    """

    def __init__(self, cluster: Registry, istiods: Istiods, host: str = HOST) -> None:
        self.cluster = cluster
        self.istiods = istiods
        self.host = host
        self.rng = random.Random()
        self._config = DataPlaneConfig()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        # node port → (server, handler, the port it is bound to: the node port or a fallback)
        self._servers: dict[int, tuple[asyncio.base_events.Server, web.Server, int]] = {}
        self._states: dict[int, PortState] = {}
        self._warm: set[str] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._reconcile_lock = threading.Lock()
        self._date = (0, "")

    # ---------------------------------------------------------------- lifecycle

    @property
    def running(self) -> bool:
        return self._loop is not None

    @property
    def config(self) -> DataPlaneConfig:
        """What the gateways serve now."""
        return self._config

    def start(self) -> None:
        """Start the serving thread, follow the store, open the listeners of the current state."""
        if self._loop is not None:
            return
        ready = threading.Event()
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="runbook-sandbox-dataplane", daemon=True)
        self._thread.start()
        ready.wait(10)
        self._loop = loop
        self._unsubscribe = self.cluster.store.subscribe(self._on_change)
        self.reconcile()

    def stop(self) -> None:
        """Close every listener and connection, stop the thread. Safe to call twice."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with self._reconcile_lock:
            self._loop = None
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            self._thread = None
            self._states.clear()
            self._config = DataPlaneConfig()

    def reset(self) -> None:
        """After a scenario reload: pods are new (cold again); rebuild on the next work run."""
        self._warm.clear()
        if self._loop is not None:
            self.cluster.work.add(self.reconcile, key="dataplane")

    def _on_change(self, change: Change) -> None:
        # runs with the store lock held: only queue the (keyed, de-duplicated) rebuild
        if self._loop is not None and (change.kind in WATCHED_KINDS
                                       or change.kind.endswith(".networking.istio.io")):
            self.cluster.work.add(self.reconcile, key="dataplane")

    # ---------------------------------------------------------------- configuration

    def control_planes(self) -> list[ControlPlane]:
        """The running istiods, with what decides which config they take in."""
        planes = []
        with self.cluster.store.lock:  # istiod instances change in store callbacks
            for instance in list(self.istiods.instances.values()):
                pod = instance.pod
                mesh = self.istiods.mesh(pod)
                planes.append(ControlPlane(pod.revision, f"{pod.namespace}/{pod.name}",
                                           tuple(self.istiods.selectors(pod)),
                                           str(mesh.get("rootNamespace") or pod.namespace)))
        return planes

    def reconcile(self) -> None:
        """Rebuild the configuration from the store and open/close listeners to match."""
        with self._reconcile_lock:
            loop = self._loop
            if loop is None:
                return
            config = build_config(self.cluster.store, self.control_planes())
            self._config = config
            wanted: dict[int, NodePortBinding] = {}
            states: dict[int, PortState] = {}
            for port, binding in sorted(config.bindings.items()):
                serve, reason = binding.serving()
                states[port] = PortState(port, binding.service, binding.service_port, binding.port_name,
                                         binding.target_port, "closed", reason)
                if serve:
                    wanted[port] = binding
            future = asyncio.run_coroutine_threadsafe(self._sync(wanted), loop)
            opened = future.result(10)
            for port, (state, reason, fallback) in opened.items():
                states[port].state, states[port].reason, states[port].fallback = state, reason, fallback
            self._states = states

    async def _shutdown(self) -> None:
        await self._sync({})
        # requests still waiting (a long fault delay, a slow app) end with the data plane
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _sync(self, wanted: Mapping[int, NodePortBinding]) -> dict[int, tuple[str, str, int | None]]:
        """Open wanted ports, close the others; returns (state, reason, fallback port) per wanted
        port. A node port held by someone else is served on a fallback port the system picks (so
        this sandbox's gateway still answers somewhere, and says where), and retried each time."""
        for port in [p for p in self._servers if p not in wanted]:
            await self._close(port)
        out: dict[int, tuple[str, str, int | None]] = {}
        for port, binding in wanted.items():
            current = self._servers.get(port)
            if current is not None and current[2] == port:
                out[port] = ("listening", "", None)
                continue
            opened = await self._open(port, port)
            if isinstance(opened, int):
                if current is not None:  # the node port is free again: leave the fallback
                    await self._close(port, current)
                out[port] = ("listening", "", None)
                continue
            why = ("in use on this machine (another sandbox or program)" if opened.errno == errno.EADDRINUSE
                   else opened.strerror or str(opened))
            if current is None:
                await self._open(port, 0)  # the system picks a free port
                current = self._servers.get(port)
            fallback_port = current[2] if current is not None else None
            reason = (f"{self.host}:{port} is {why}: {binding.service} port {binding.service_port} does not "
                      "answer there" + (f"; it answers on {self.host}:{fallback_port} instead"
                                        if fallback_port else ""))
            previous = self._states.get(port)
            if previous is None or previous.state != "busy":
                log.warning("data plane: %s", reason)
            out[port] = ("busy", reason, fallback_port)
        return out

    async def _open(self, node_port: int, bind_port: int) -> int | OSError:
        """Listen on ``bind_port`` (0: any) for the node port's binding; the bound port or the error."""
        loop = asyncio.get_running_loop()
        handler = web.Server(functools.partial(self._handle, node_port), access_log=None, loop=loop)
        try:
            server = await loop.create_server(handler, self.host, bind_port, reuse_address=True, backlog=1024)
        except OSError as exc:
            return exc
        bound = int(server.sockets[0].getsockname()[1])
        self._servers[node_port] = (server, handler, bound)
        return bound

    async def _close(self, node_port: int,
                     entry: tuple[asyncio.base_events.Server, web.Server, int] | None = None) -> None:
        server, handler, _ = entry or self._servers.pop(node_port)
        server.close()
        await handler.shutdown(0.5)  # keep-alive connections end with the listener
        await server.wait_closed()

    def status(self) -> dict[str, Any]:
        """Every gateway node port: address, Service, state (listening/busy/closed) and why."""
        return {"host": self.host, "running": self.running,
                "listeners": [s.to_json() for _, s in sorted(self._states.items())]}

    # ---------------------------------------------------------------- serving

    def _date_header(self) -> str:
        # the sandbox's clock, like every timestamp it writes (the report's day on a manual clock)
        now = int(self.cluster.clock.time())
        if self._date[0] != now:
            self._date = (now, email.utils.formatdate(now, usegmt=True))
        return self._date[1]

    def _local(self, status: int, body: bytes = b"", extra: list[tuple[str, str]] | None = None
               ) -> web.Response:
        """A reply Envoy makes itself (no upstream): 404, 503, 504, fault aborts, redirects."""
        if body:
            headers = [("content-length", str(len(body))), ("content-type", "text/plain"),
                       ("date", self._date_header()), ("server", SERVER)]
        else:
            headers = [("date", self._date_header()), ("server", SERVER), ("content-length", "0")]
        return web.Response(status=status, headers=CIMultiDict(headers + (extra or [])), body=body)

    async def _handle(self, node_port: int, request: web.BaseRequest) -> web.StreamResponse:
        config = self._config
        binding = config.bindings.get(node_port)
        if binding is None:
            return self._local(503, b"no healthy upstream")  # the listener is closing
        if binding.status_port:
            return self._status_reply(binding, request)
        backends = binding.http_backends()
        if not backends:
            return self._local(503, b"no healthy upstream")
        proxy, listener = backends[0] if len(backends) == 1 else self.rng.choice(backends)
        authority = request.headers.get("Host", "")
        raw_path = request.raw_path
        path, _, query = raw_path.partition("?")
        vhost = listener.virtual_host(authority)
        if vhost is None:
            return self._local(404)
        if vhost.https_redirect:
            return self._local(301, extra=[("location", f"https://{authority}{raw_path}")])
        params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True)) if query else {}
        view = RequestView(request.method, path, authority, request.headers, params, "http",
                           listener.server_port)
        found = vhost.route_for(view)
        if found is None:
            return self._local(404)
        route, match = found
        if route.redirect is not None:
            return self._redirect(route.redirect, authority, raw_path)
        if route.direct_response is not None:
            return self._direct(route.direct_response)
        fault = route.fault
        if fault is not None:
            if fault.delay_s and fault.delay_percent and self.rng.random() * 100 < fault.delay_percent:
                await asyncio.sleep(fault.delay_s)
            if fault.abort_status and fault.abort_percent and self.rng.random() * 100 < fault.abort_percent:
                return self._local(fault.abort_status, b"fault filter abort")
        dest = route.pick(self.rng.random())
        if dest is None:
            return self._local(404)
        if dest.no_cluster:
            return self._local(503)  # NC: istiod built no cluster for it
        if not dest.endpoints:
            return self._local(503, b"no healthy upstream")  # UH
        pod = dest.endpoints[0] if len(dest.endpoints) == 1 else self.rng.choice(dest.endpoints)
        body = await request.read() if request.body_exists else b""
        upstream_request = self._upstream_request(request, route, match, dest, proxy.ip, authority,
                                                  path, query, body)
        started = time.perf_counter()
        calls = _Calls(self, config)
        try:
            if route.timeout_s:
                answer = await asyncio.wait_for(self.serve_pod(pod, upstream_request, calls), route.timeout_s)
            else:
                answer = await self.serve_pod(pod, upstream_request, calls)
        except TimeoutError:
            return self._local(504, b"upstream request timeout")
        except Exception:
            log.exception("data plane: app %s of %s/%s failed", pod.app, pod.namespace, pod.name)
            return self._local(503, _RESET_TEXT)
        upstream_ms = int((time.perf_counter() - started) * 1000)
        headers = [("server", SERVER), ("date", self._date_header())]
        headers += [(k, v) for k, v in answer.headers if k not in ("server", "date") and k not in _HOP_BY_HOP]
        headers.append(("x-envoy-upstream-service-time", str(upstream_ms)))
        for ops in (dest.response_headers, route.response_headers):
            if ops:
                headers = _apply_header_ops(headers, ops)
        return web.Response(status=answer.status, headers=CIMultiDict(headers), body=answer.body)

    def _upstream_request(self, request: web.BaseRequest, route: Route, match: Mapping[str, Any],
                          dest: Destination, proxy_ip: str, authority: str, path: str, query: str,
                          body: bytes) -> BackendRequest:
        new_path = path
        if route.rewrite_uri is not None:
            uri = match.get("uri") if isinstance(match.get("uri"), Mapping) else None
            # Envoy's prefix_rewrite swaps the matched prefix; a route without a uri match
            # matches the prefix "/", an exact or regex match the whole path
            prefix = str(uri["prefix"]) if uri and "prefix" in uri else ("/" if not uri else path)
            new_path = (route.rewrite_uri + path[len(prefix):] if path.startswith(prefix)
                        else route.rewrite_uri)
        host = route.rewrite_authority or authority
        headers: list[tuple[str, str]] = [("host", host)]
        forwarded = None
        for key, value in request.headers.items():
            name = key.lower()
            if name == "host" or name in _HOP_BY_HOP:
                continue
            if name == "x-forwarded-for":
                forwarded = value
                continue
            headers.append((name, value))
        peer = request.remote or ""
        headers += [("x-forwarded-for", f"{forwarded}, {peer}" if forwarded else peer),
                    ("x-forwarded-proto", "http"), ("x-request-id", str(uuid.uuid4())),
                    ("x-envoy-attempt-count", "1"), ("x-envoy-decorator-operation", route.decorator)]
        if new_path != path:
            headers.append(("x-envoy-original-path", path))
        for ops in (route.request_headers, dest.request_headers):
            if ops:
                headers = _apply_header_ops(headers, ops)
        return BackendRequest(request.method, new_path, query, tuple(headers), body, proxy_ip)

    async def serve_pod(self, pod: PodApp, request: BackendRequest, calls: _Calls) -> BackendResponse:
        """One pod's answer: its drawn service time (plus a cold start on its first request), then
        its app's response (which may call other Services)."""
        delay = pod.latency.sample_s(self.rng)
        if pod.uid not in self._warm:
            self._warm.add(pod.uid)
            delay += pod.latency.cold_ms / 1000.0
        if delay > 0:
            await asyncio.sleep(delay)
        return await HANDLERS[pod.app](pod, request, calls)

    def _status_reply(self, binding: NodePortBinding, request: web.BaseRequest) -> web.Response:
        """The gateway's status port: ``/healthz/ready`` is 200 once an istiod programs it."""
        if request.path != "/healthz/ready":
            return self._local(404)
        ready = any(proxy.istiod for proxy, _ in binding.backends)
        return web.Response(status=200 if ready else 503, headers=CIMultiDict(
            [("date", self._date_header()), ("server", "envoy"), ("content-length", "0")]))

    def _redirect(self, spec: Mapping[str, Any], authority: str, raw_path: str) -> web.Response:
        scheme = str(spec.get("scheme") or "http")
        host = str(spec.get("authority") or authority)
        if spec.get("port"):
            host = f"{strip_port(host)}:{spec['port']}"
        location = f"{scheme}://{host}{spec.get('uri') or raw_path}"
        code = int(spec.get("redirectCode") or 301)
        return self._local(code, extra=[("location", location)])

    def _direct(self, spec: Mapping[str, Any]) -> web.Response:
        body_spec = spec.get("body")
        text = body_spec.get("string") if isinstance(body_spec, Mapping) else None
        body = str(text).encode() if text is not None else b""
        return self._local(int(spec.get("status") or 200), body)


def _apply_header_ops(headers: list[tuple[str, str]], ops: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Istio's ``headers.request|response``: ``set`` replaces, ``add`` appends, ``remove`` drops."""
    out = list(headers)
    remove = {str(n).lower() for n in ops.get("remove") or ()}
    set_ = {str(k).lower(): str(v) for k, v in (ops.get("set") or {}).items()}
    if remove or set_:
        out = [(k, v) for k, v in out if k not in remove and k not in set_]
    out += list(set_.items())
    out += [(str(k).lower(), str(v)) for k, v in (ops.get("add") or {}).items()]
    return out


__all__ = ["HOST", "SERVER", "DataPlane", "PortState"]
