"""``KubeEngine``: a real control plane with the node agents and the emulated Istio, started
and stopped as one.

::

    with KubeEngine(scenario="seed-incident") as engine:   # builds the binary on first use
        engine.url, engine.kubeconfig_path, engine.ca_path  # the same contract as the emulator
        engine.reset()                                      # the scenario again, from scratch

Start-up order: the scenario is read first (bad input stops everything before a process
starts), the binary is built if needed, the egress proxy listens, etcd and the apiserver start
(waiting for ``/readyz``), then the controller manager and scheduler, the node agents register
their nodes, the emulated istiods follow the cluster, RBAC for the read-only user is created and
the scenario is loaded; its Deployments settle (available or failing) before ``start`` returns.

If any component exits, :attr:`KubeEngine.failure` says which and ``on_failure`` is called (the
foreground server stops everything). ``stop`` stops every process and removes the run directory
(certificates, tokens, etcd data, logs, sockets); processes also die with the engine's process
(``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from runbook.errors import InputError
from runbook.kinds import NAMESPACES, NODES, ResourceKind
from runbook.sandbox.apiserver.tls import issue, new_authority
from runbook.sandbox.realkube.api import ApiClient
from runbook.sandbox.realkube.build import MODULE_DIR, ensure_binary
from runbook.sandbox.realkube.controlplane import (
    CLUSTER_CIDR,
    ComponentDied,
    ControlPlane,
    check_port_free,
)
from runbook.sandbox.realkube.egress import EgressProxy
from runbook.sandbox.realkube.istio import IstioBridge
from runbook.sandbox.realkube.nodeagent import KUBELET_PORT, NodeAgent
from runbook.sandbox.realkube.scenario import NodeSpec, clear, load, plan, reader_role, settle
from runbook.sandbox.sandbox import READONLY_USER, sandbox_kubeconfig, write_kubeconfig

T = TypeVar("T")
CLUSTER_ROLES = ResourceKind("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles",
                             False)
CLUSTER_ROLE_BINDINGS = ResourceKind("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding",
                                     "clusterrolebindings", False)
#: Unix socket paths are limited to 108 bytes
MAX_SOCKET_PATH = 100
REPO_ROOT = MODULE_DIR.parents[1]


def _restricted_label(key: str) -> bool:
    """A label a node may not set on itself (``NodeRestriction``; kubelet's allowed set is the
    ``kubernetes.io/``/``k8s.io/`` labels it owns and any label outside those domains)."""
    prefix = key.partition("/")[0] if "/" in key else ""
    in_k8s_domain = prefix.endswith(("kubernetes.io", "k8s.io"))
    own = prefix in ("kubernetes.io", "node.kubernetes.io", "topology.kubernetes.io",
                     "beta.kubernetes.io", "failure-domain.beta.kubernetes.io",
                     "kubelet.kubernetes.io")
    return in_k8s_domain and not own


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class KubeEngine:
    """The real engine (see the module docstring).

    Args:
        scenario: a scenario name or a path of YAML manifests.
        port: the apiserver's port on 127.0.0.1 (0: any free port).
        state_dir: where the run directory is made (default: the system's temporary directory).
        kubeconfig_path: where to write the kubeconfig (default: in the run directory).
        progress: told one line per start-up step.
        on_failure: called (from a monitor thread) when a component exits.
    """

    engine = "kube"

    def __init__(self, scenario: str = "empty", port: int = 0, state_dir: Path | None = None,
                 kubeconfig_path: Path | None = None,
                 progress: Callable[[str], None] = _stderr,
                 on_failure: Callable[[str], None] | None = None) -> None:
        if not 0 <= port <= 65535:
            raise InputError(f"--port {port}: must be between 0 and 65535",
                             hint="or 0 for any free port")
        self.scenario = scenario
        self.port = port
        self.state_dir = state_dir
        self._kubeconfig_out = kubeconfig_path
        self.progress = progress
        self.on_failure = on_failure
        self.url = ""
        self.kubeconfig_path = Path()
        self.ca_path = Path()
        self.token = ""
        self.readonly_token = ""
        self.started_at = 0.0
        self.failure: str | None = None
        self.run_dir: Path | None = None
        self.control_plane: ControlPlane | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._monitor: threading.Thread | None = None
        self._stopped = threading.Event()
        self._agents: list[NodeAgent] = []
        self._clients: list[ApiClient] = []
        self._bridge: IstioBridge | None = None
        self._egress: EgressProxy | None = None
        self._admin: ApiClient | None = None
        self._manifests: list[Any] = []
        self._nodes: list[NodeSpec] = []
        self._webhook_ca = new_authority("mesh-runbook-webhook-ca")

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> KubeEngine:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> KubeEngine:
        """Start everything (see the module docstring); on any failure, stop what started."""
        self._manifests, self._nodes = plan(self.scenario)
        if self.port:
            check_port_free(self.port)
        binary = ensure_binary(self.progress)
        started = time.monotonic()
        self.started_at = time.time()
        try:
            self._start(binary)
        except BaseException:
            self.stop()
            raise
        self.progress(f"real engine ready in {time.monotonic() - started:.1f} s "
                      f"(scenario {self.scenario})")
        return self

    def _start(self, binary: Path) -> None:
        base = self.state_dir
        if base is not None:
            base.mkdir(parents=True, exist_ok=True)
        self.run_dir = Path(tempfile.mkdtemp(prefix="kube-", dir=base))
        socket_path = self.run_dir / "egress.sock"
        if len(str(socket_path)) > MAX_SOCKET_PATH:
            socket_path = Path(tempfile.mkdtemp(prefix="mrk-")) / "egress.sock"
        self._egress = EgressProxy(socket_path)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kube-engine-agents",
                                        daemon=True)
        self._thread.start()
        self._run(self._egress.start())
        self.control_plane = plane = ControlPlane(binary, self.run_dir, self.port, socket_path,
                                                  tuple(n.name for n in self._nodes))
        self.progress("starting etcd and kube-apiserver")
        plane.start()
        self.url = plane.url
        self.token, self.readonly_token = plane.ids.admin.token, plane.ids.readonly.token
        self._monitor = threading.Thread(target=self._watch_components, name="kube-engine-monitor",
                                         daemon=True)
        self._monitor.start()
        self.progress("starting the node agents and the emulated istiods")
        self._run(self._start_agents())
        self.progress(f"loading scenario {self.scenario}")
        self._run(self._load(), timeout=300)
        kubeconfig = sandbox_kubeconfig(self.url, plane.ca.cert_pem, self.token,
                                        self.readonly_token)
        self.kubeconfig_path = self._kubeconfig_out or self.run_dir / "kubeconfig"
        self.ca_path = write_kubeconfig(self.kubeconfig_path, kubeconfig, plane.ca.cert_pem)

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _client(self, token: str) -> ApiClient:
        assert self.control_plane is not None
        client = ApiClient(self.url, token, self.control_plane.ca_path)
        self._clients.append(client)
        return client

    async def _start_agents(self) -> None:
        plane = self.control_plane
        assert plane is not None and self._egress is not None
        self._admin = self._client(plane.ids.admin.token)
        await self._admin.__aenter__()
        istio_api = self._client(plane.ids.istio.token)
        await istio_api.__aenter__()
        self._bridge = IstioBridge(istio_api, self._egress, self._webhook_ca)
        await self._bridge.start()
        for index, node in enumerate(self._nodes):
            address = f"127.0.0.{index + 1}"
            cidr = f"{CLUSTER_CIDR.split('.')[0]}.{CLUSTER_CIDR.split('.')[1]}.{index}.0/24"
            api = self._client(plane.node_ids[node.name].token)
            await api.__aenter__()
            # NodeRestriction lets a node set only some of its own labels: the rest (the role
            # labels) are set by an administrator afterwards, as kubeadm does
            own = {k: v for k, v in node.labels.items() if not _restricted_label(k)}
            agent = NodeAgent(api, node.name, address, cidr, own, self._bridge.logs)
            cert, key = issue(plane.ca, f"system:node:{node.name}", dns=(node.name,),
                              ips=(address,))
            await agent.start(plane.ca.cert_pem, cert, key)
            others = {k: v for k, v in node.labels.items() if k not in own}
            if others:
                await self._admin.patch(NODES, None, node.name, {"metadata": {"labels": others}})
            self._egress.add_route(address, KUBELET_PORT, agent.kubelet_port)
            self._agents.append(agent)
        await self._readonly_rbac()

    async def _readonly_rbac(self) -> None:
        assert self._admin is not None
        for role in reader_role(REPO_ROOT):
            await self._admin.create(CLUSTER_ROLES, None, role)
            name = role["metadata"]["name"]
            await self._admin.create(CLUSTER_ROLE_BINDINGS, None, {
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": f"{name}-sandbox-readonly"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": name},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                              "name": READONLY_USER}]})

    async def _load(self) -> None:
        assert self._admin is not None
        await self._wait_default_namespace()
        await load(self._admin, self._manifests, self._webhook_ca.cert_pem, self.progress)
        namespaces = {str((m.obj.get("metadata") or {}).get("namespace") or "default")
                      for m in self._manifests}
        waiting = await settle(self._admin, namespaces)
        if waiting:
            self.progress(f"still starting: {', '.join(waiting[:5])}")

    async def _wait_default_namespace(self) -> None:
        # the apiserver creates default/kube-system just after it is ready; objects wait for them
        assert self._admin is not None
        for _ in range(300):
            if await self._admin.get(NAMESPACES, None, "default") is not None:
                return
            await asyncio.sleep(0.1)

    def _watch_components(self) -> None:
        while not self._stopped.wait(0.5):
            plane = self.control_plane
            if plane is None:
                continue
            try:
                plane.raise_if_dead()
            except ComponentDied as exc:
                self.failure = exc.one_line()
                if self.on_failure is not None:
                    self.on_failure(self.failure)
                return

    def reset(self) -> None:
        """Remove what the scenario and users created and load the scenario again."""
        self._run(self._reset(), timeout=300)

    async def _reset(self) -> None:
        assert self._admin is not None
        await clear(self._admin)
        await self._load()

    def stop(self) -> None:
        """Stop every process and agent, remove the run directory. Safe to call twice."""
        self._stopped.set()
        loop = self._loop
        if loop is not None and loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._stop_agents(), loop).result(15)
        if self.control_plane is not None:
            self.control_plane.stop()
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(10)
            if not loop.is_running():
                loop.close()
        self._loop = None
        if self._egress is not None and self._egress.socket_path.parent != self.run_dir:
            shutil.rmtree(self._egress.socket_path.parent, ignore_errors=True)
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    async def _stop_agents(self) -> None:
        for agent in self._agents:
            await agent.stop()
        self._agents = []
        if self._bridge is not None:
            await self._bridge.stop()
        if self._egress is not None:
            await self._egress.stop()
        for client in self._clients:
            await client.close()
        self._clients = []

__all__ = ["KubeEngine"]
