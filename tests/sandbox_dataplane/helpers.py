"""Helpers for tests that talk to the sandbox's ingress data plane over real HTTP on 127.0.0.1.

The seed world's gateways listen on fixed node ports (31241, 32232, …). Other sandboxes on the
same machine (another engineer's test run, a notebook kernel's background sandbox) may hold those,
so these tests move the gateways' node ports to ports that are free right now (the same thing a
user does with ``kubectl patch svc``), and talk to those.
"""

from __future__ import annotations

import contextlib
import http.client
import random
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runbook.kinds import SERVICES
from runbook.kube import Cluster, connect
from runbook.kube.apply import apply_manifests
from runbook.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
APPS = ROOT / "runbook" / "apps"
BETA, ALPHA = "l7-traffic-beta", "l7-traffic-alpha"
PROD, CANARY = "istio-prod", "istio-canary"
GATEWAY_SERVICE = "istio-ingressgateway"
#: the seed scenario's node ports: never chosen as "free" ones
SEED_NODE_PORTS = {30816, 31241, 32336, 30331, 32232, 32582, 31519, 32673}


def free_node_ports(count: int, taken: set[int] | None = None) -> list[int]:
    """``count`` ports of the NodePort range (30000–32767) that nothing on 127.0.0.1 holds now."""
    taken = set(taken or ()) | SEED_NODE_PORTS
    candidates = [p for p in range(30000, 32768) if p not in taken]
    random.shuffle(candidates)
    found: list[int] = []
    for port in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    raise RuntimeError("no free node ports")


@dataclass
class Reply:
    """One HTTP answer as received."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


def request(port: int, path: str = "/", host: str | None = None, *, method: str = "GET",
            headers: dict[str, str] | None = None, body: bytes | None = None,
            timeout: float = 10.0) -> Reply:
    """One request to 127.0.0.1:<port> with a Host header (what ``curl -HHost:…`` sends)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        all_headers = dict(headers or {})
        if host is not None:
            all_headers["Host"] = host
        conn.request(method, path, body=body, headers=all_headers)
        resp = conn.getresponse()
        return Reply(resp.status, resp.getheaders(), resp.read())
    finally:
        conn.close()


def refused(port: int) -> bool:
    """Nothing accepts connections on 127.0.0.1:<port>."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


@dataclass
class Gateways:
    """A seed-incident sandbox whose two ingress gateways listen on free node ports."""

    sb: Sandbox
    cluster: Cluster
    prod: int
    canary: int
    prod_status: int
    canary_status: int
    created: list[tuple[str, str, str]] = field(default_factory=list)

    def apply(self, text: str, namespace: str = BETA) -> None:
        """Apply YAML (server-side apply, like ``kubectl apply``) and let the world settle."""
        docs = [d for d in yaml.safe_load_all(text) if d]
        path = Path(self.sb.kubeconfig_path).parent / f"apply-{len(self.created)}.yaml"
        path.write_text(yaml.safe_dump_all(docs))
        rows = apply_manifests(self.cluster, path, namespace=namespace)
        failed = rows[rows["action"] == "failed"]
        assert failed.empty, failed[["object", "error"]].to_string()
        self.settle()

    def settle(self) -> None:
        self.sb.settle()

    def get(self, path: str = "/", host: str | None = None, *, port: int | None = None,
            **kw: Any) -> Reply:
        return request(port or self.prod, path, host, **kw)


def move_node_ports(cluster: Cluster, namespace: str, ports: dict[str, int]) -> None:
    """Give a gateway Service's named ports other node ports (``kubectl patch svc``)."""
    svc = cluster.get(SERVICES, GATEWAY_SERVICE, namespace)
    patched = [dict(p, nodePort=ports.get(p.get("name"), p.get("nodePort"))) for p in svc["spec"]["ports"]]
    cluster.patch(SERVICES, GATEWAY_SERVICE, {"spec": {"ports": patched}}, namespace=namespace,
                  patch_type="merge")


@contextlib.contextmanager
def seed_gateways(**sandbox_kw: Any) -> Iterator[Gateways]:
    """A manual-clock seed-incident sandbox with both gateways moved to free node ports."""
    with Sandbox(scenario="seed-incident", clock="manual", **sandbox_kw) as sb:
        cluster = connect(sb.kubeconfig_path, "sandbox")
        prod, canary, prod_status, canary_status = free_node_ports(4)
        move_node_ports(cluster, PROD, {"http2": prod, "status-port": prod_status})
        move_node_ports(cluster, CANARY, {"http2": canary, "status-port": canary_status})
        sb.settle()
        try:
            yield Gateways(sb, cluster, prod, canary, prod_status, canary_status)
        finally:
            cluster.close()


#: the test apps in l7-traffic-beta: nginx and two echo versions, subsets in one DestinationRule,
#: and a Gateway on the prod gateway for every host under dp.test
TEST_APPS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo-v2, labels: {app: echo-sample, version: v2}}
spec:
  replicas: 1
  selector: {matchLabels: {app: echo-sample, version: v2}}
  template:
    metadata: {labels: {app: echo-sample, version: v2}}
    spec:
      containers:
      - {name: echo, image: registry.k8s.io/echoserver:1.10, ports: [{containerPort: 8080}]}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: echo-versions}
spec:
  host: echo-sample
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: dp-test}
spec:
  selector: {istio: ingressgateway, istio.io/rev: 1-18-5}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*.dp.test", "exact.test"]
"""
