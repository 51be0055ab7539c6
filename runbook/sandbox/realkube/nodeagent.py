"""The node agent: what kubelets would do on a node of the real engine, without containers.

No kubelet can run here (there is no container runtime), so this agent stands in for one per
node, talking to the real apiserver as ``system:node:<name>`` (the Node authorizer and the
NodeRestriction admission plugin keep it to its own node and pods, as for a kubelet):

* registers the Node (addresses, capacity, ``daemonEndpoints.kubeletEndpoint``, conditions) and
  keeps it alive: a Lease in ``kube-node-lease`` renewed every 10 s, the Ready condition's
  heartbeat every minute;
* takes every pod the scheduler binds to it through its life: after a short
  ``ContainerCreating``, an IP from the node's pod CIDR, init containers Completed, every
  container (injected ones included) running and ready, the Pod Ready; the kubelet's events
  (``Pulled``, ``Created``, ``Started``, ``Killing``);
* deletion: a pod with a ``deletionTimestamp`` has its containers stopped (they exit at once on
  SIGTERM, within the grace period) and is then deleted for good, as kubelet's status manager does;
* serves the kubelet API that the apiserver proxies to (``/containerLogs/…``, what
  ``kubectl logs`` reads) over HTTPS, reachable at the node's InternalIP:10250 through the egress
  proxy; it verifies the apiserver's client certificate.

Pods start ``Running``/``Ready`` without probes: readiness probes are not run.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import secrets
import ssl
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from runbook.kinds import EVENTS, NODES, PODS, ResourceKind
from runbook.sandbox.realkube.api import STRATEGIC_PATCH, ApiClient, KubeApiError, Obj
from runbook.sandbox.storage.logs import PodLogs, serve_log
from runbook.timestamps import format_timestamp, parse_timestamp

LEASES = ResourceKind("coordination.k8s.io", "v1", "Lease", "leases", True)
KUBELET_PORT = 10250
LEASE_SECONDS = 40
LEASE_RENEW = 10.0
STATUS_REPORT = 60.0
CONTAINER_CREATING = 0.5
KUBELET_VERSION = "v1.37.2"
_TRUE = ("true", "1")


def now_rfc3339() -> str:
    return format_timestamp(datetime.now(UTC))


def now_micro() -> str:
    return format_timestamp(datetime.now(UTC), fraction=True)


def _image_id(image: str) -> str:
    """The image ID a kubelet with containerd reports: the repository fully named (``nginx`` is
    ``docker.io/library/nginx``), then the digest."""
    repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    first = repo.split("/", 1)[0]
    if "/" not in repo:
        repo = f"docker.io/library/{repo}"
    elif "." not in first and ":" not in first and first != "localhost":
        repo = f"docker.io/{repo}"
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def _container_id() -> str:
    return "containerd://" + secrets.token_hex(32)


class PodAddresses:
    """Pod IPs from a node's pod CIDR (the network, gateway and broadcast skipped)."""

    def __init__(self, cidr: str) -> None:
        self._network = ipaddress.ip_network(cidr)
        self._hosts = self._network.hosts()
        next(self._hosts)  # .1 is the node's bridge on a real node
        self._free: list[str] = []
        self.by_pod: dict[str, str] = {}  # pod uid -> IP

    def allocate(self, uid: str) -> str:
        if uid not in self.by_pod:
            self.by_pod[uid] = self._free.pop(0) if self._free else str(next(self._hosts))
        return self.by_pod[uid]

    def release(self, uid: str) -> None:
        ip = self.by_pod.pop(uid, None)
        if ip is not None:
            self._free.append(ip)


def node_object(name: str, address: str, pod_cidr: str, labels: dict[str, str]) -> Obj:
    """The Node as a kubelet registers it."""
    now = now_rfc3339()
    conditions = [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory",
         "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ]
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64", **labels}},
        "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]},
        "status": {
            "addresses": [{"type": "InternalIP", "address": address},
                          {"type": "Hostname", "address": name}],
            "conditions": [{"type": t, "status": s, "reason": r, "message": m,
                            "lastHeartbeatTime": now, "lastTransitionTime": now}
                           for t, s, r, m in conditions],
            "capacity": {"cpu": "8", "memory": "32Gi", "pods": "250", "ephemeral-storage": "100Gi"},
            "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "250",
                            "ephemeral-storage": "100Gi"},
            "daemonEndpoints": {"kubeletEndpoint": {"Port": KUBELET_PORT}},
            "nodeInfo": {"kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": "",
                         "containerRuntimeVersion": "mesh-runbook://node-agent",
                         "operatingSystem": "linux", "architecture": "amd64",
                         "osImage": "mesh-runbook real engine", "kernelVersion": "",
                         "machineID": "", "systemUUID": "", "bootID": ""},
        },
    }


def running_status(pod: Obj, pod_ip: str, host_ip: str) -> Obj:
    """The status kubelet reports once every container of ``pod`` runs and is ready."""
    spec = pod.get("spec") or {}
    now = now_rfc3339()

    def started(container: Obj) -> Obj:
        image = str(container.get("image", ""))
        return {"name": container.get("name"), "image": image, "imageID": _image_id(image),
                "containerID": _container_id(), "ready": True, "started": True,
                "restartCount": 0, "state": {"running": {"startedAt": now}}}

    def completed(container: Obj) -> Obj:
        image = str(container.get("image", ""))
        cid = _container_id()
        return {"name": container.get("name"), "image": image, "imageID": _image_id(image),
                "containerID": cid, "ready": True, "started": False, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                         "startedAt": now, "finishedAt": now,
                                         "containerID": cid}}}

    conditions = [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
                  for t in ("PodReadyToStartContainers", "Initialized", "Ready",
                            "ContainersReady")]
    status: Obj = {
        "phase": "Running", "conditions": conditions, "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}], "podIP": pod_ip, "podIPs": [{"ip": pod_ip}],
        "startTime": now,
        "containerStatuses": [started(c) for c in spec.get("containers") or ()],
    }
    if spec.get("initContainers"):
        status["initContainerStatuses"] = [completed(c) for c in spec["initContainers"]]
    return status


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


class NodeAgent:
    """One node's agent (see the module docstring).

    Args:
        api: a client authenticated as ``system:node:<name>``.
        name, address, pod_cidr, labels: the Node to register.
        logs: container logs served to ``kubectl logs`` (the emulated istiods write theirs).
        on_running, on_gone: told when a pod of this node runs (with its IP) and when it is gone.
    """

    def __init__(self, api: ApiClient, name: str, address: str, pod_cidr: str,
                 labels: dict[str, str], logs: PodLogs,
                 on_running: Callable[[Obj], None] = lambda pod: None,
                 on_gone: Callable[[Obj], None] = lambda pod: None) -> None:
        self.api = api
        self.name = name
        self.address = address
        self.pod_cidr = pod_cidr
        self.labels = labels
        self.logs = logs
        self.on_running = on_running
        self.on_gone = on_gone
        self.addresses = PodAddresses(pod_cidr)
        self.pods: dict[tuple[str, str], str] = {}  # (namespace, name) -> uid of pods here
        self._tasks: list[asyncio.Task[None]] = []
        self._pod_tasks: dict[str, asyncio.Task[None]] = {}
        self._terminating: set[str] = set()  # uids whose task is the termination
        self._runner: web.AppRunner | None = None
        self.kubelet_port = 0
        self.stopping = asyncio.Event()
        self.errors: list[str] = []

    # ------------------------------------------------------------------ lifecycle

    async def start(self, ca_pem: bytes, cert_pem: bytes, key_pem: bytes) -> None:
        """Register the node, serve the kubelet API, start heartbeats and the pod watch."""
        await self._register()
        await self._serve_kubelet(ca_pem, cert_pem, key_pem)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._heartbeats()), loop.create_task(self._watch_pods())]

    async def stop(self) -> None:
        self.stopping.set()
        for task in [*self._tasks, *self._pod_tasks.values()]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._pod_tasks.values(), return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    async def _register(self) -> None:
        node = node_object(self.name, self.address, self.pod_cidr, self.labels)
        try:
            await self.api.create(NODES, None, node)
        except KubeApiError as exc:
            if exc.status != 409:
                raise
            await self.api.patch(NODES, None, self.name, {"status": node["status"]},
                                 subresource="status", content_type=STRATEGIC_PATCH)

    async def _heartbeats(self) -> None:
        lease_ns = "kube-node-lease"
        since_status = 0.0
        while not self.stopping.is_set():
            spec = {"holderIdentity": self.name, "leaseDurationSeconds": LEASE_SECONDS,
                    "renewTime": now_micro()}
            try:
                if await self.api.get(LEASES, lease_ns, self.name) is None:
                    await self.api.create(LEASES, lease_ns, {
                        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                        "metadata": {"name": self.name, "namespace": lease_ns},
                        "spec": spec})
                else:
                    await self.api.patch(LEASES, lease_ns, self.name, {"spec": spec})
                if since_status >= STATUS_REPORT:
                    since_status = 0.0
                    ready = {"type": "Ready", "status": "True", "reason": "KubeletReady",
                             "message": "kubelet is posting ready status",
                             "lastHeartbeatTime": now_rfc3339()}
                    await self.api.patch(NODES, None, self.name, {"status": {"conditions": [ready]}},
                                         subresource="status", content_type=STRATEGIC_PATCH)
            except (KubeApiError, OSError, aiohttp.ClientError) as exc:
                self.errors.append(f"heartbeat: {exc}")
            await asyncio.sleep(LEASE_RENEW)
            since_status += LEASE_RENEW

    # ------------------------------------------------------------------ pods

    async def _watch_pods(self) -> None:
        params = {"fieldSelector": f"spec.nodeName={self.name}"}
        while not self.stopping.is_set():
            try:
                async for type_, pod in self.api.watch(PODS, None, params):
                    self._pod_event(type_, pod)
            except (TimeoutError, KubeApiError, OSError, aiohttp.ClientError, ValueError) as exc:
                self.errors.append(f"pod watch: {exc}")
                await asyncio.sleep(1.0)

    def _pod_event(self, type_: str, pod: Obj) -> None:
        meta = pod["metadata"]
        uid = str(meta.get("uid"))
        where = (str(meta.get("namespace", "")), str(meta["name"]))
        if type_ == "DELETED":
            self.pods.pop(where, None)
            self._terminating.discard(uid)
            self.addresses.release(uid)
            self.on_gone(pod)
            task = self._pod_tasks.pop(uid, None)
            if task is not None:
                task.cancel()
            return
        if uid in self._pod_tasks and not self._pod_tasks[uid].done():
            if meta.get("deletionTimestamp") and uid not in self._terminating:
                self._pod_tasks[uid].cancel()  # deleted while starting: stop instead
            else:
                return
        self.pods[where] = uid
        phase = (pod.get("status") or {}).get("phase")
        loop = asyncio.get_running_loop()
        if meta.get("deletionTimestamp"):
            self._terminating.add(uid)
            self._pod_tasks[uid] = loop.create_task(self._terminate(pod))
        elif phase in (None, "Pending"):
            self._pod_tasks[uid] = loop.create_task(self._start(pod))
        elif phase == "Running":
            # a pod that ran before this agent (re)started: keep its address
            ip = (pod.get("status") or {}).get("podIP")
            if ip:
                self.addresses.by_pod.setdefault(uid, ip)
                self.on_running(pod)

    async def _event(self, pod: Obj, type_: str, reason: str, message: str,
                     field_path: str | None = None) -> None:
        meta = pod["metadata"]
        ns = meta.get("namespace", "default")
        now = now_rfc3339()
        involved = {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "namespace": ns,
                    "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion")}
        if field_path:
            involved["fieldPath"] = field_path
        # named as client-go's recorder names them: <object>.<unix nanoseconds in hex>
        event = {"apiVersion": "v1", "kind": "Event",
                 "metadata": {"name": f"{meta['name']}.{time.time_ns():x}", "namespace": ns},
                 "involvedObject": involved, "reason": reason, "message": message,
                 "type": type_, "source": {"component": "kubelet", "host": self.name},
                 "firstTimestamp": now, "lastTimestamp": now, "count": 1,
                 "reportingComponent": "kubelet", "reportingInstance": self.name}
        with contextlib.suppress(KubeApiError, OSError, aiohttp.ClientError):
            await self.api.create(EVENTS, ns, event)

    async def _start(self, pod: Obj) -> None:
        meta = pod["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        await asyncio.sleep(CONTAINER_CREATING)
        ip = self.addresses.allocate(str(meta.get("uid")))
        spec = pod.get("spec") or {}
        for group, kind in (("initContainers", "initContainers"), ("containers", "containers")):
            for c in spec.get(group) or ():
                path = f"spec.{kind}{{{c.get('name')}}}"
                await self._event(pod, "Normal", "Pulled",
                                  f'Container image "{c.get("image")}" already present on machine',
                                  path)
                await self._event(pod, "Normal", "Created", f"Created container: {c.get('name')}",
                                  path)
                await self._event(pod, "Normal", "Started", f"Started container {c.get('name')}",
                                  path)
        status = running_status(pod, ip, self.address)
        try:
            updated = await self.api.patch(PODS, ns, name, {"status": status},
                                           subresource="status", content_type=STRATEGIC_PATCH)
        except KubeApiError as exc:
            if exc.status != 404:
                self.errors.append(f"pod {ns}/{name}: {exc}")
            return
        self.on_running(updated)

    async def _terminate(self, pod: Obj) -> None:
        meta = pod["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        grace = meta.get("deletionGracePeriodSeconds")
        for c in (pod.get("spec") or {}).get("containers") or ():
            await self._event(pod, "Normal", "Killing", f"Stopping container {c.get('name')}",
                              f"spec.containers{{{c.get('name')}}}")
        # the emulated processes exit at once on SIGTERM; a moment of Terminating stays visible
        await asyncio.sleep(min(float(grace if grace is not None else 30), 1.0))
        with contextlib.suppress(KubeApiError, OSError, aiohttp.ClientError):
            await self.api.delete(PODS, ns, name, {
                "apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                "preconditions": {"uid": meta.get("uid")}})

    # ------------------------------------------------------------------ kubelet API

    async def _serve_kubelet(self, ca_pem: bytes, cert_pem: bytes, key_pem: bytes) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cadata=ca_pem.decode())
        context.verify_mode = ssl.CERT_REQUIRED  # only the apiserver (its kubelet client cert)
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
            cert.write_bytes(cert_pem)
            key.write_bytes(key_pem)
            context.load_cert_chain(cert, key)
        app = web.Application()
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._container_logs)
        app.router.add_get("/healthz", _healthz)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        server: Any = site._server
        self.kubelet_port = int(server.sockets[0].getsockname()[1])

    async def _container_logs(self, request: web.Request) -> web.StreamResponse:
        ns, pod, container = (request.match_info[k] for k in ("namespace", "pod", "container"))
        query = request.query

        def number(key: str) -> int | None:
            text = query.get(key)
            return int(text) if text and text.lstrip("-").isdigit() else None

        since = None
        if "sinceTime" in query:
            with contextlib.suppress(ValueError):
                since = parse_timestamp(query["sinceTime"]).timestamp()
        elif number("sinceSeconds"):
            since = datetime.now(UTC).timestamp() - (number("sinceSeconds") or 0)
        if query.get("previous", "").lower() in _TRUE:
            # no container here ever restarts; the kubelet's validateContainerLogStatus answers
            # this as a 400 whose text the apiserver turns into its BadRequest
            return web.Response(status=400, text=f'previous terminated container "{container}" '
                                                 f'in pod "{pod}" not found')
        options = {"tail_lines": number("tailLines"), "since": since,
                   "timestamps": query.get("timestamps", "").lower() in _TRUE,
                   "limit_bytes": number("limitBytes")}
        return await serve_log(request, self.logs, (ns, pod, container), options,
                               follow=query.get("follow", "").lower() in _TRUE,
                               stopping=self.stopping, gone=lambda: (ns, pod) not in self.pods)


__all__ = ["KUBELET_PORT", "NodeAgent", "PodAddresses", "node_object", "running_status"]
