"""The real control plane as processes: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler — each a subcommand of the engine's binary, with its own log file.

Security is Kubernetes' own: the apiserver serves HTTPS on 127.0.0.1 only, authenticates static
bearer tokens (``--token-auth-file``; the kubeconfig's two users, the controller manager, the
scheduler, the node agent and the emulated istiods each have one) and authorizes with
``Node,RBAC``. The controller manager runs every controller under its own service account
(``--use-service-account-credentials``), so events name ``replicaset-controller`` as a real
cluster's do. etcd listens on 127.0.0.1 and keeps its data in the run directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from runbook.errors import InputError
from runbook.sandbox.apiserver.tls import Authority, issue, key_pem, new_authority

#: where Services get their ClusterIPs: covers the addresses the built-in scenarios use
SERVICE_CIDR = "100.104.0.0/13"
CLUSTER_CIDR = "10.244.0.0/16"
#: the address the apiserver advertises (the ``kubernetes`` Endpoints); never dialed
ADVERTISE_ADDRESS = "10.244.255.254"
START_TIMEOUT = 120.0
PR_SET_PDEATHSIG = 1


class ComponentDied(InputError):
    """A component of the control plane exited: the engine stops as a whole."""


@dataclass(frozen=True)
class Identity:
    """A static-token user of the apiserver."""

    token: str
    user: str
    groups: tuple[str, ...] = ()


def _identity(user: str, *groups: str) -> Identity:
    return Identity(secrets.token_urlsafe(32), user, groups)


@dataclass
class Identities:
    """Every client of the apiserver and its token."""

    admin: Identity = field(default_factory=lambda: _identity("sandbox", "system:masters"))
    readonly: Identity = field(default_factory=lambda: _identity("sandbox-readonly"))
    controller_manager: Identity = field(
        default_factory=lambda: _identity("system:kube-controller-manager"))
    scheduler: Identity = field(default_factory=lambda: _identity("system:kube-scheduler"))
    istio: Identity = field(
        default_factory=lambda: _identity("mesh-runbook:emulated-istiod", "system:masters"))

    def node(self, name: str) -> Identity:
        return Identity(secrets.token_urlsafe(32), f"system:node:{name}",
                        ("system:nodes",))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_port_free(port: int) -> None:
    """Raises InputError when 127.0.0.1:``port`` cannot be listened on."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise InputError(f"port {port} on 127.0.0.1 is in use ({exc.strerror})",
                             hint="choose another with --port, or --port 0 for any free one") from None


def _die_with_parent() -> None:
    # children must not outlive the engine, even when it is killed without a chance to stop them
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class ControlPlane:
    """The four processes of a control plane (see the module docstring).

    Args:
        binary: the engine's binary.
        run_dir: certificates, configuration, etcd data and logs (the caller removes it).
        port: the apiserver's port on 127.0.0.1 (0: any free port).
        egress_socket: the Unix socket of the :class:`~.egress.EgressProxy`.
        node_names: the nodes whose agent gets a token.
    """

    def __init__(self, binary: Path, run_dir: Path, port: int, egress_socket: Path,
                 node_names: tuple[str, ...]) -> None:
        self.binary = binary
        self.run_dir = run_dir
        self.port = port or free_port()
        self.egress_socket = egress_socket
        self.ids = Identities()
        self.node_ids = {name: self.ids.node(name) for name in node_names}
        self.ca: Authority = new_authority("mesh-runbook-kube-ca")
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.url = f"https://127.0.0.1:{self.port}"

    @property
    def ca_path(self) -> Path:
        return self.run_dir / "pki" / "ca.crt"

    def log_path(self, component: str) -> Path:
        return self.run_dir / "logs" / f"{component}.log"

    # ------------------------------------------------------------------ files

    def _write(self, relative: str, data: bytes | str, mode: int = 0o600) -> Path:
        path = self.run_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        return path

    def _prepare(self) -> None:
        self._write("pki/ca.crt", self.ca.cert_pem, 0o644)
        cert, key = issue(self.ca, "kube-apiserver",
                          dns=("localhost", "kubernetes", "kubernetes.default",
                               "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"),
                          ips=("127.0.0.1", "100.104.0.1", ADVERTISE_ADDRESS))
        self._write("pki/apiserver.crt", cert)
        self._write("pki/apiserver.key", key)
        cert, key = issue(self.ca, "kube-apiserver-kubelet-client", organization="system:masters",
                          client=True)
        self._write("pki/kubelet-client.crt", cert)
        self._write("pki/kubelet-client.key", key)
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        sa_key = ec.generate_private_key(ec.SECP256R1())
        self._write("pki/sa.key", key_pem(sa_key))
        self._write("pki/sa.pub", sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        everyone = [self.ids.admin, self.ids.readonly, self.ids.controller_manager,
                    self.ids.scheduler, self.ids.istio, *self.node_ids.values()]
        rows = [f'{i.token},{i.user},{i.user},"{",".join(i.groups)}"' for i in everyone]
        self._write("tokens.csv", "\n".join(rows) + "\n")
        self._write("egress.yaml", yaml.safe_dump({
            "apiVersion": "apiserver.k8s.io/v1beta1", "kind": "EgressSelectorConfiguration",
            "egressSelections": [{"name": "cluster", "connection": {
                "proxyProtocol": "HTTPConnect",
                "transport": {"uds": {"udsName": str(self.egress_socket)}}}}]}))
        for name, ident in (("controller-manager", self.ids.controller_manager),
                            ("scheduler", self.ids.scheduler)):
            self._write(f"{name}.kubeconfig", yaml.safe_dump(self.kubeconfig(ident.token)))

    def kubeconfig(self, token: str, user: str = "user", context: str = "default") -> dict[str, object]:
        import base64

        return {"apiVersion": "v1", "kind": "Config",
                "clusters": [{"name": "sandbox", "cluster": {
                    "server": self.url,
                    "certificate-authority-data": base64.b64encode(self.ca.cert_pem).decode()}}],
                "users": [{"name": user, "user": {"token": token}}],
                "contexts": [{"name": context, "context": {"cluster": "sandbox", "user": user}}],
                "current-context": context}

    # ------------------------------------------------------------------ processes

    def _spawn(self, component: str, args: list[str]) -> None:
        log = self.log_path(component)
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            self.processes[component] = subprocess.Popen(
                [str(self.binary), component, *args], stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, cwd=self.run_dir, preexec_fn=_die_with_parent,
                env={**os.environ, "GOMAXPROCS": "2"})

    def start(self) -> None:
        """Start etcd and the apiserver (waits until it is ready), then the controllers."""
        self._prepare()
        pki = self.run_dir / "pki"
        client_port, peer_port = free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{client_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        self._spawn("etcd", [
            "--name", "sandbox", "--data-dir", str(self.run_dir / "etcd"),
            "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"sandbox={peer_url}", "--log-level", "warn",
            # a throwaway cluster: durability is not worth an fsync per write on a busy disk
            "--unsafe-no-fsync"])
        self._spawn("apiserver", [
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1", f"--secure-port={self.port}",
            f"--advertise-address={ADVERTISE_ADDRESS}",
            f"--cert-dir={pki}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--token-auth-file={self.run_dir / 'tokens.csv'}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--kubelet-client-certificate={pki / 'kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'kubelet-client.key'}",
            f"--kubelet-certificate-authority={pki / 'ca.crt'}",
            "--kubelet-preferred-address-types=InternalIP",
            # webhooks are called at their Service's endpoint addresses (through the egress proxy)
            "--enable-aggregator-routing=true",
            f"--egress-selector-config-file={self.run_dir / 'egress.yaml'}",
            "--profiling=false", "--v=1"])
        self.wait_ready()
        common = ["--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false",
                  "--profiling=false", "--v=1"]
        self._spawn("controller-manager", [
            f"--kubeconfig={self.run_dir / 'controller-manager.kubeconfig'}",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-cidr={CLUSTER_CIDR}", f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allocate-node-cidrs=false", *common])
        self._spawn("scheduler", [
            f"--kubeconfig={self.run_dir / 'scheduler.kubeconfig'}", *common])

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until the apiserver answers ``/readyz`` (a component that exits first fails it)."""
        context = ssl.create_default_context(cafile=str(self.ca_path))
        request = urllib.request.Request(self.url + "/readyz", headers={
            "Authorization": f"Bearer {self.ids.admin.token}"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.raise_if_dead()
            try:
                with urllib.request.urlopen(request, timeout=2, context=context) as resp:
                    if resp.status == 200:
                        return
            except (OSError, ValueError):
                pass
            time.sleep(0.2)  # another process's start-up: nothing to wait on but its answers
        raise ComponentDied(f"kube-apiserver did not become ready within {timeout:.0f} s",
                            hint=f"see {self.log_path('apiserver')}")

    def dead(self) -> str | None:
        """The first component that exited (None while all run)."""
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                return name
        return None

    def raise_if_dead(self) -> None:
        name = self.dead()
        if name is None:
            return
        code = self.processes[name].returncode
        tail = [ln for ln in self.log_path(name).read_text(errors="replace").splitlines()
                if ln.strip()][-1:]
        raise ComponentDied(f"{name} exited with status {code}: {' '.join(tail)[:300]}",
                            hint=f"see {self.log_path(name)}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every component (controllers first, etcd last), SIGKILL what lingers."""
        for name in reversed(list(self.processes)):
            proc = self.processes[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.processes.items()}


__all__ = ["CLUSTER_CIDR", "SERVICE_CIDR", "ComponentDied", "ControlPlane", "Identities",
           "Identity", "check_port_free", "free_port"]
