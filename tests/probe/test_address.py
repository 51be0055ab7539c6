"""Ingress address resolution (Istio's "Determining the ingress IP and ports" recipe), pure."""

from __future__ import annotations

import copy
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

import runbook
from runbook.errors import InputError
from runbook.manifests import load_manifests
from runbook.probe import IngressAddress, resolve_ingress_address

SCENARIO = Path(runbook.__file__).parent / "sandbox" / "scenarios" / "seed-incident"


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    """The field report's gateway Services (seed-incident scenario), by namespace/name."""
    out = {}
    for m in load_manifests(SCENARIO):
        if m.obj["kind"] == "Service":
            out[f"{m.obj['metadata']['namespace']}/{m.obj['metadata']['name']}"] = m.obj
    return out


def node(name: str, internal: str | None, *, ready: bool = True,
         external: str | None = None) -> dict[str, Any]:
    addresses = [{"type": "Hostname", "address": name}]
    if internal:
        addresses.append({"type": "InternalIP", "address": internal})
    if external:
        addresses.append({"type": "ExternalIP", "address": external})
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"addresses": addresses,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def pod(name: str, ns: str, labels: dict[str, str], host_ip: str | None,
        phase: str = "Running") -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase}
    if host_ip:
        status["hostIP"] = host_ip
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"nodeName": "n"}, "status": status}


GATEWAY_LABELS = {"app": "istio-ingressgateway", "istio": "ingressgateway"}


def with_lb(service: dict[str, Any], **ingress: str) -> dict[str, Any]:
    svc = copy.deepcopy(service)
    svc["status"] = {"loadBalancer": {"ingress": [ingress]}}
    return svc


def test_load_balancer_hostname_as_in_the_field_report(services: dict[str, dict[str, Any]]) -> None:
    elb = "a8790f018666a43ad92a1add681cbfd0-2083997433.eu-west-1.elb.amazonaws.com"
    addr = resolve_ingress_address(with_lb(services["istio-prod/istio-ingressgateway"], hostname=elb), [], [])
    assert (addr.host, addr.port, addr.resolved_by) == (elb, 80, "load-balancer")
    assert addr.url == f"{elb}:80" and addr.base_url() == f"http://{elb}:80"
    assert addr.source == "status.loadBalancer.ingress[0].hostname"
    assert addr.service == "istio-prod/istio-ingressgateway"


def test_load_balancer_ip_preferred_over_hostname(services: dict[str, dict[str, Any]]) -> None:
    svc = with_lb(services["istio-canary/istio-ingressgateway"], ip="10.237.149.244", hostname="lb.example")
    addr = resolve_ingress_address(svc, [node("n1", "10.0.0.5")], [])
    assert (addr.host, addr.port, addr.resolved_by) == ("10.237.149.244", 80, "load-balancer")


def test_pending_load_balancer_uses_the_node_port_and_the_gateway_pod_host(
        services: dict[str, dict[str, Any]]) -> None:
    svc = services["istio-prod/istio-ingressgateway"]  # no status: EXTERNAL-IP <pending>
    pods = [
        pod("istio-ingressgateway-b", "istio-prod", GATEWAY_LABELS, "10.0.0.8"),
        pod("istio-ingressgateway-a", "istio-prod", GATEWAY_LABELS, "10.0.0.7", phase="Pending"),
        pod("istio-ingressgateway-x", "istio-canary", GATEWAY_LABELS, "10.9.9.9"),  # other namespace
        pod("productpage", "istio-prod", {"app": "productpage"}, "10.1.1.1"),        # not selected
    ]
    addr = resolve_ingress_address(svc, [node("n1", "10.0.0.5")], pods)
    assert (addr.host, addr.port, addr.resolved_by) == ("10.0.0.8", 31241, "node-port")
    assert addr.source == "pod istio-prod/istio-ingressgateway-b status.hostIP"


def test_sandbox_shape_node_internal_ip(services: dict[str, dict[str, Any]]) -> None:
    """The sandbox: no load balancer, gateways answer on 127.0.0.1:<nodePort>."""
    prod = resolve_ingress_address(services["istio-prod/istio-ingressgateway"],
                                   [node("sandbox", "127.0.0.1")], [])
    canary = resolve_ingress_address(services["istio-canary/istio-ingressgateway"],
                                     [node("sandbox", "127.0.0.1")], [])
    assert (prod.url, canary.url) == ("127.0.0.1:31241", "127.0.0.1:32232")
    assert prod.source == "node sandbox InternalIP"


def test_node_choice_ready_first_internal_before_external() -> None:
    svc = {"kind": "Service", "metadata": {"name": "gw", "namespace": "ns"},
           "spec": {"type": "NodePort", "ports": [{"name": "http2", "port": 80, "nodePort": 30080}]}}
    nodes = [node("a", "10.0.0.1", ready=False), node("c", None, external="34.1.1.1"), node("b", "10.0.0.2")]
    assert resolve_ingress_address(svc, nodes, []).host == "10.0.0.2"
    only_external = resolve_ingress_address(svc, [node("c", None, external="34.1.1.1")], [])
    assert only_external.source == "node c ExternalIP"


def test_external_ips_count_as_an_external_address(services: dict[str, dict[str, Any]]) -> None:
    svc = copy.deepcopy(services["istio-canary/istio-egressgateway"])  # ClusterIP with http2
    svc["spec"]["externalIPs"] = ["192.0.2.10"]
    addr = resolve_ingress_address(svc, [], [])
    assert (addr.host, addr.port, addr.resolved_by) == ("192.0.2.10", 80, "external-ip")


def test_no_http2_port_lists_the_ports(services: dict[str, dict[str, Any]]) -> None:
    with pytest.raises(InputError) as info:
        resolve_ingress_address(services["istio-prod/istiod"], [], [])
    assert str(info.value).startswith(
        "service istio-prod/istiod has no port named 'http2' (ports: grpc-xds 15010, https-dns 15012, "
        "https-webhook 443, http-monitoring 15014)")
    https = resolve_ingress_address(services["istio-prod/istio-ingressgateway"], [node("n", "10.0.0.1")], [],
                                    port_name="https")
    assert https.port == 32336 and https.port_name == "https"


def test_cluster_ip_service_has_no_outside_address(services: dict[str, dict[str, Any]]) -> None:
    with pytest.raises(InputError, match="type ClusterIP: it has no address outside the cluster") as info:
        resolve_ingress_address(services["istio-canary/istio-egressgateway"], [node("n", "10.0.0.1")], [])
    assert "port-forward" in str(info.value)


def test_no_address_at_all(services: dict[str, dict[str, Any]]) -> None:
    svc = services["istio-prod/istio-ingressgateway"]
    with pytest.raises(InputError) as info:
        resolve_ingress_address(svc, [node("n", None)],
                                [pod("gw", "istio-prod", GATEWAY_LABELS, None, "Pending")])
    text = str(info.value)
    assert text.startswith("no address for service istio-prod/istio-ingressgateway: "
                           "the load balancer is pending")
    assert "\n" not in text
    with pytest.raises(InputError, match="needs a Service"):
        resolve_ingress_address({"kind": "Pod"}, [], [])


def test_shell_exports_environ_and_kubectl(services: dict[str, dict[str, Any]]) -> None:
    addr = resolve_ingress_address(services["istio-prod/istio-ingressgateway"],
                                   [node("sandbox", "127.0.0.1")], [])
    assert addr.shell_exports() == ("export INGRESS_HOST=127.0.0.1\nexport INGRESS_PORT=31241\n"
                                    "export GATEWAY_URL=127.0.0.1:31241")
    env: dict[str, str] = {}
    assert addr.set_environ(env) == env == {"INGRESS_HOST": "127.0.0.1", "INGRESS_PORT": "31241",
                                            "GATEWAY_URL": "127.0.0.1:31241"}
    cmds = addr.kubectl_commands()
    assert cmds[1] == ("export INGRESS_PORT=$(kubectl -n istio-prod get service istio-ingressgateway "
                       "-o jsonpath='{.spec.ports[?(@.name==\"http2\")].nodePort}')")
    assert "get node sandbox" in cmds[0] and cmds[2] == "export GATEWAY_URL=$INGRESS_HOST:$INGRESS_PORT"


def test_set_environ_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("INGRESS_HOST", "INGRESS_PORT", "GATEWAY_URL"):
        monkeypatch.delenv(key, raising=False)
    IngressAddress("10.1.2.3", 80, "load-balancer", "ns/gw").set_environ()
    assert os.environ["GATEWAY_URL"] == "10.1.2.3:80"


def test_exports_are_valid_shell() -> None:
    addr = IngressAddress("fd00::1", 8080, "load-balancer", "ns/gw",
                          source="status.loadBalancer.ingress[0].ip")
    assert addr.url == "[fd00::1]:8080"
    out = subprocess.run(["sh", "-c", addr.shell_exports() + '\nprintf %s "$GATEWAY_URL|$INGRESS_HOST"'],
                         capture_output=True, text=True, check=True, env={"PATH": os.environ.get("PATH", "")})
    assert out.stdout == "[fd00::1]:8080|fd00::1"
    assert shlex.split(addr.kubectl_commands()[0])[0] == "export"
