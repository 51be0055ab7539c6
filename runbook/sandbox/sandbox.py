"""``Sandbox``: the embedded cluster as a context manager (server thread, kubeconfig, controls).

::

    with Sandbox(scenario="empty", clock="manual") as sb:
        config.load_kube_config(sb.kubeconfig_path, context="sandbox")
        ...
        sb.advance(30)      # sandbox time moves; due timers fire
        sb.settle()         # queued reconcile work and due timers are done

The server runs its asyncio loop in a background thread and listens on 127.0.0.1 (HTTPS with a
fresh CA written into the kubeconfig). The kubeconfig has two contexts: ``sandbox`` (user
``sandbox``, may do anything) and ``sandbox-readonly`` (user ``sandbox-readonly``, 403 on every
write). In-process code (tests, later the controllers) uses :attr:`Sandbox.cluster` and
:attr:`Sandbox.store` directly; both are thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from aiohttp import web

from runbook.sandbox.apiserver.faults import FaultTable, RequestLog
from runbook.sandbox.apiserver.server import ApiServer, Users
from runbook.sandbox.apiserver.tls import Certificates, make_certificates, new_authority
from runbook.sandbox.clock import Clock
from runbook.sandbox.registry.admission import AdmissionChain
from runbook.sandbox.registry.cluster import Registry
from runbook.sandbox.scenarios import load_scenario
from runbook.sandbox.storage.logs import PodLogs
from runbook.sandbox.storage.store import DEFAULT_HISTORY, Store
from runbook.sandbox.world import World

USER = "sandbox"
READONLY_USER = "sandbox-readonly"
CONTEXT = "sandbox"
READONLY_CONTEXT = "sandbox-readonly"


#: kube-apiserver's idle-connection timeout (Go http.Server IdleTimeout, 90 s)
IDLE_TIMEOUT_S = 90.0

class Sandbox:
    """A local Kubernetes API server for this project's resources (see the module docstring).

    Args:
        scenario: a scenario name (``empty``, …) or a path of YAML manifests.
        port: TCP port on 127.0.0.1 (0 picks a free one).
        clock: ``"real"`` or ``"manual"``.
        kubeconfig_path: where to write the kubeconfig (default: a private temporary directory,
            removed on stop).
        history: watch history kept per kind.
        controllers: run the emulated controllers, admission webhooks and istiods
            (:class:`~runbook.sandbox.world.World`); False gives a bare API server.
        pod_start_seconds: how long pods stay ``ContainerCreating`` (None: 1 s on a real clock,
            0 on a manual one — Running at the next ``settle``).
        clock_start: where a manual clock starts (default: the field report's day,
            2023-10-27T06:00:00Z). kubectl computes ``describe`` ages from its own wall clock:
            tests that read them start the clock at wall time minus what they will advance.
        dataplane: serve the ingress gateways' HTTP on 127.0.0.1:<nodePort> while the sandbox
            runs (``runbook.sandbox.istio.dataplane``; needs ``controllers``).
    """

    def __init__(self, scenario: str = "empty", port: int = 0, clock: str = "real",
                 kubeconfig_path: str | os.PathLike[str] | None = None,
                 history: int = DEFAULT_HISTORY, controllers: bool = True,
                 pod_start_seconds: float | None = None,
                 clock_start: datetime | None = None, dataplane: bool = True) -> None:
        self.scenario = scenario
        self.dataplane = dataplane
        self.clock = Clock(clock, start=clock_start)
        self.cluster = Registry(self.clock, history=history)
        self.world = World(self.cluster, pod_start_seconds) if controllers else None
        if self.world is not None:
            # the emulated webhook servers' certificates come from this CA (caBundle checks)
            self.world.webhooks.ca_pem = new_authority("mesh-runbook-sandbox-webhook-ca").cert_pem
        self.requests = RequestLog()
        self.faults = FaultTable()
        self.token = secrets.token_urlsafe(32)
        self.readonly_token = secrets.token_urlsafe(32)
        self._port = port
        self._own_dir: Path | None = None
        if kubeconfig_path is None:
            self._own_dir = Path(tempfile.mkdtemp(prefix="runbook-sandbox-"))
            kubeconfig_path = self._own_dir / "kubeconfig"
        self.kubeconfig_path = Path(kubeconfig_path)
        self.ca_path = self.kubeconfig_path.with_name(self.kubeconfig_path.name + ".ca.crt")
        self.url = ""
        self.server = ApiServer(
            self.cluster, Users({self.token: USER, self.readonly_token: READONLY_USER},
                                frozenset({READONLY_USER})),
            self.requests, self.faults, self)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._runner: web.AppRunner | None = None
        self._worker: threading.Thread | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._certs: Certificates | None = None
        self.started_at = 0.0
        #: seconds a connection may go without a complete request (silent after the TLS
        #: handshake, headers trickling in, idle between requests) before it is closed, as
        #: kube-apiserver closes idle connections (the handshake itself: asyncio's 60 s)
        self.idle_timeout = IDLE_TIMEOUT_S

    # ------------------------------------------------------------------ handy views

    @property
    def store(self) -> Store:
        return self.cluster.store

    @property
    def logs(self) -> PodLogs:
        return self.cluster.logs

    @property
    def admission(self) -> AdmissionChain:
        return self.cluster.admission

    @property
    def port(self) -> int:
        return self._port

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Sandbox:
        """Load the scenario, start serving, write the kubeconfig; returns self."""
        if self._thread is not None:
            return self
        self.started_at = time.time()
        self._load()
        self._certs = make_certificates()
        self._thread = threading.Thread(target=self._run, name="runbook-sandbox", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._startup_error is None:
            self.cluster.work.on_add = self._wake.set
            self.clock.on_schedule = self._wake.set
            self._worker = threading.Thread(target=self._work_loop, name="runbook-sandbox-work",
                                            daemon=True)
            self._worker.start()
            if self.world is not None and self.dataplane:
                self.world.dataplane.start()
        if self._startup_error is not None:
            self._thread.join(5)
            self._thread = None
            raise self._startup_error
        self.url = f"https://127.0.0.1:{self._port}"
        self._write_kubeconfig()
        return self

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving (open watches end), remove files it made. Safe to call twice."""
        if self.world is not None:
            self.world.dataplane.stop()
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(self.server.stopping.set)
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            with contextlib.suppress(Exception):
                future.result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
        self._thread = None
        self._loop = None
        self.clock.on_schedule = None
        self.cluster.work.on_add = None
        self._stopping.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(10)
            self._worker = None
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            self._startup_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _serve(self) -> None:
        assert self._certs is not None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
            cert.write_bytes(self._certs.cert_pem)
            key.write_bytes(self._certs.key_pem)
            context.load_cert_chain(cert, key)
        self._runner = web.AppRunner(self.server.app, access_log=None, shutdown_timeout=1.0,
                                     keepalive_timeout=self.idle_timeout)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port, ssl_context=context)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self._port = server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        # connections aiohttp kept alive still have handler tasks: end them before the loop stops
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _work_loop(self) -> None:
        """The controller thread: runs queued work, and due timers of a real clock.

        Work runs here, not on the server's event loop, so a work item may call the sandbox over
        HTTP like any client (the loop stays free to answer it). A manual clock's timers fire only
        in the thread that calls ``advance``/``settle``.
        """
        while not self._stopping.is_set():
            self._wake.clear()
            if self.clock.mode == "real":
                self.clock.run_due()
            self.cluster.work.run_pending()
            due = self.clock.next_due() if self.clock.mode == "real" else None
            timeout = 1.0 if due is None else min(1.0, max(0.0, due - self.clock.time()))
            self._wake.wait(timeout)

    # ------------------------------------------------------------------ controls

    def advance(self, seconds: float) -> None:
        """Move sandbox time forward; timers passed on the way fire, then queued work runs.

        Work already queued runs first, at the current time: what a write set in motion happens
        before time moves on (otherwise, on a loaded machine, a Deployment created at t0 could be
        first reconciled at t0 + seconds, and its progress deadline would move with it).
        """
        self.cluster.work.run_pending()
        self.clock.advance(seconds)
        self.cluster.work.run_pending()

    def settle(self, timeout: float = 5.0) -> None:
        """Wait until queued reconcile work is done and no timer is due.

        Runs the work and due timers in this thread (one work item at a time overall), so it
        needs no sleeping; timers due in the future are not waited for (``advance`` for those).

        Raises:
            TimeoutError: work kept coming for ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            ran = self.clock.run_due() + self.cluster.work.run_pending()
            due = self.clock.next_due()
            if ran == 0 and self.cluster.work.idle and (due is None or due > self.clock.time()):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the sandbox did not settle within {timeout:g} s "
                                   f"({len(self.cluster.work)} work items queued)")

    def reset(self) -> None:
        """Reload the scenario: every object is replaced; the clock and tokens stay."""
        with self._loading():
            with self.store.lock:  # nobody sees the cluster half loaded
                self.cluster.reset()
                if self.world is not None:
                    self.world.reset()
                load_scenario(self.cluster, self.scenario, run_work=False)
            # controller work runs without the store lock held (the controller thread may hold
            # the work lock while it waits for the store lock)
            self._settle_load()

    def _load(self) -> None:
        """Load the scenario before serving; its workloads come up at once."""
        with self._loading():
            load_scenario(self.cluster, self.scenario, run_work=False)
            self._settle_load()

    @contextlib.contextmanager
    def _loading(self) -> Iterator[None]:
        if self.world is None:
            yield
            return
        with self.world.loading():
            yield

    def _settle_load(self) -> None:
        if self.world is None:
            self.cluster.work.run_pending()
        else:
            self.world.drain()

    def status(self) -> dict[str, Any]:
        """What ``GET /sandbox/v1/status`` and ``runbook sandbox status`` show."""
        store = self.store
        with store.lock:
            counts = {k: store.count(k) for k in sorted(store.kinds())}
        return {
            "url": self.url, "pid": os.getpid(), "scenario": self.scenario,
            "clock": self.clock.mode, "time": self.clock.timestamp(),
            "resourceVersion": str(store.resource_version), "objects": counts,
            "kinds": sorted(k.key for k in self.cluster.kinds),
            "pendingWork": len(self.cluster.work), "pendingTimers": self.clock.pending(),
            "faults": len(self.faults), "requests": len(self.requests),
            "kubeconfig": str(self.kubeconfig_path),
            "dataplane": self.world.dataplane.status() if self.world is not None else None,
        }

    # ------------------------------------------------------------------ kubeconfig

    def kubeconfig(self) -> dict[str, Any]:
        """The kubeconfig as a dict: contexts ``sandbox`` and ``sandbox-readonly``."""
        assert self._certs is not None
        return sandbox_kubeconfig(self.url, self._certs.ca_pem, self.token, self.readonly_token)

    def _write_kubeconfig(self) -> None:
        assert self._certs is not None
        write_kubeconfig(self.kubeconfig_path, self.kubeconfig(), self._certs.ca_pem)


def sandbox_kubeconfig(url: str, ca_pem: bytes, token: str, readonly_token: str) -> dict[str, Any]:
    """A sandbox's kubeconfig (either engine): cluster ``sandbox`` at ``url`` trusting
    ``ca_pem``, contexts ``sandbox`` (user ``sandbox``) and ``sandbox-readonly``."""
    import base64

    ca = base64.b64encode(ca_pem).decode()
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "sandbox", "cluster": {
            "server": url, "certificate-authority-data": ca}}],
        "users": [{"name": USER, "user": {"token": token}},
                  {"name": READONLY_USER, "user": {"token": readonly_token}}],
        "contexts": [
            {"name": CONTEXT, "context": {"cluster": "sandbox", "user": USER,
                                          "namespace": "default"}},
            {"name": READONLY_CONTEXT, "context": {"cluster": "sandbox", "user": READONLY_USER,
                                                   "namespace": "default"}},
        ],
        "current-context": CONTEXT,
    }


def write_kubeconfig(path: Path, kubeconfig: dict[str, Any], ca_pem: bytes) -> Path:
    """Write the kubeconfig (owner-only: it holds credentials) and its CA next to it as
    ``<name>.ca.crt``; returns the CA's path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(kubeconfig, fh, sort_keys=False)
    ca_path = path.with_name(path.name + ".ca.crt")
    ca_path.write_bytes(ca_pem)
    return ca_path
