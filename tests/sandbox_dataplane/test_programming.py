"""Who programs which gateway: discoverySelectors and istio.io/rev decide what a gateway serves;
a gateway without config or without its istiod refuses connections; a busy node port is reported,
never fatal."""

from __future__ import annotations

import socket

import pytest

from runbook.kinds import DEPLOYMENTS, GATEWAYS
from tests.sandbox_dataplane.helpers import (
    ALPHA,
    APPS,
    BETA,
    CANARY,
    PROD,
    Gateways,
    free_node_ports,
    move_node_ports,
    refused,
    seed_gateways,
)

DIRECT = """
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {{name: {name}, labels: {labels}}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: ["{host}"]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {{name: {name}, labels: {labels}}}
spec:
  hosts: ["{host}"]
  gateways: [{name}]
  http:
  - directResponse: {{status: 200, body: {{string: "{name}"}}}}
"""


@pytest.fixture
def fresh() -> Gateways:  # type: ignore[misc]
    with seed_gateways() as g:
        yield g


def test_without_any_gateway_config_the_ports_refuse_connections(fresh: Gateways) -> None:
    assert refused(fresh.prod) and refused(fresh.canary)
    listeners = {item["nodePort"]: item for item in fresh.sb.status()["dataplane"]["listeners"]}
    assert listeners[fresh.prod]["state"] == "closed"
    assert "no Gateway server for port 80" in listeners[fresh.prod]["reason"]
    assert listeners[fresh.prod_status]["state"] == "listening"


def test_each_gateway_serves_only_what_its_istiod_takes_in(fresh: Gateways) -> None:
    """istiod 1-19-3 watches l7-traffic-alpha, 1-18-5 watches l7-traffic-beta (discoverySelectors).
    The same Gateway selector (istio: ingressgateway) reaches both gateway pods."""
    fresh.apply(DIRECT.format(name="in-alpha", labels="{}", host="alpha.test"), namespace=ALPHA)
    assert fresh.get("/", "alpha.test", port=fresh.canary).text == "in-alpha"
    assert refused(fresh.prod)  # prod's istiod never took in l7-traffic-alpha: no listener at all
    fresh.apply(DIRECT.format(name="in-beta", labels="{}", host="beta.test"), namespace=BETA)
    assert fresh.get("/", "beta.test", port=fresh.prod).text == "in-beta"
    assert fresh.get("/", "alpha.test", port=fresh.prod).status == 404   # a listener, no such host
    assert fresh.get("/", "beta.test", port=fresh.canary).status == 404
    # istio.io/rev on config: 1-18-5 ignores config labelled for another revision (or a tag)
    fresh.apply(DIRECT.format(name="rev-canary", labels="{istio.io/rev: 1-19-3}", host="rev.test"),
                namespace=BETA)
    fresh.apply(DIRECT.format(name="rev-prod", labels="{istio.io/rev: 1-18-5}", host="rev-prod.test"),
                namespace=BETA)
    assert fresh.get("/", "rev.test", port=fresh.prod).status == 404
    assert fresh.get("/", "rev-prod.test", port=fresh.prod).text == "rev-prod"
    # deleting the only Gateway the canary gateway had closes its port again
    fresh.cluster.delete(GATEWAYS, "in-alpha", namespace=ALPHA)
    fresh.settle()
    assert refused(fresh.canary)


def test_a_gateway_whose_istiod_is_gone_gets_no_listeners(fresh: Gateways) -> None:
    fresh.apply(DIRECT.format(name="in-beta", labels="{}", host="beta.test"), namespace=BETA)
    assert fresh.get("/", "beta.test").status == 200
    fresh.cluster.patch(DEPLOYMENTS, "istiod-1-18-5", {"spec": {"replicas": 0}}, namespace=PROD)
    fresh.settle()
    assert refused(fresh.prod)
    item = next(i for i in fresh.sb.status()["dataplane"]["listeners"] if i["nodePort"] == fresh.prod)
    assert item["state"] == "closed" and "no running istiod of revision 1-18-5" in item["reason"]
    assert fresh.get("/healthz/ready", port=fresh.prod_status).status == 503  # not ready either
    fresh.cluster.patch(DEPLOYMENTS, "istiod-1-18-5", {"spec": {"replicas": 1}}, namespace=PROD)
    fresh.settle()
    fresh.sb.advance(1)
    fresh.settle()
    assert fresh.get("/", "beta.test").status == 200


def test_the_reports_sample_gateway_as_written(fresh: Gateways) -> None:
    """sample-gateway.yml as the report wrote it: hosts "*", routes to Services that do not
    exist, sourceLabels matches that can never apply at an ingress gateway."""
    fresh.apply((APPS / "sample-gateway-fixed.yaml").read_text(), namespace=BETA)  # the apps
    fresh.cluster.delete(GATEWAYS, "nginx-sample-gateway", namespace=BETA)
    fresh.apply((APPS / "sample-gateway.yml").read_text(), namespace=BETA)
    root = fresh.get("/", "nginx-sample-gateway.test")
    assert (root.status, root.body) == (404, b"")      # only /nginx and /echo have routes
    nginx = fresh.get("/nginx", "anything.test")       # host "*"; destination nginx-sample-v1: no
    assert (nginx.status, nginx.body) == (503, b"")   # such Service, istiod has no cluster (NC)


def test_a_busy_node_port_is_reported_served_elsewhere_and_retried(fresh: Gateways) -> None:
    fresh.apply(DIRECT.format(name="in-beta", labels="{}", host="beta.test"), namespace=BETA)
    (busy,) = free_node_ports(1, {fresh.prod, fresh.canary, fresh.prod_status, fresh.canary_status})
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", busy))
    blocker.listen()
    try:
        move_node_ports(fresh.cluster, PROD, {"http2": busy})
        fresh.settle()
        item = next(i for i in fresh.cluster.request("GET", "/sandbox/v1/status")["dataplane"]["listeners"]
                    if i["nodePort"] == busy)
        assert item["state"] == "busy" and "in use on this machine" in item["reason"]
        assert item["service"] == "istio-prod/istio-ingressgateway" and item["port"] == 80
        fallback = int(item["fallbackAddress"].rpartition(":")[2])
        assert f"answers on 127.0.0.1:{fallback} instead" in item["reason"]
        assert fresh.get("/", "beta.test", port=fallback).text == "in-beta"  # still reachable
        assert fresh.get("/healthz/ready", port=fresh.prod_status).status == 200  # the rest still serves
        assert refused(fresh.prod)  # the old node port was given up
    finally:
        blocker.close()
    fresh.apply(DIRECT.format(name="again", labels="{}", host="again.test"), namespace=BETA)
    assert fresh.get("/", "beta.test", port=busy).text == "in-beta"  # retried on the next change
    assert refused(fallback)
    item = next(i for i in fresh.sb.status()["dataplane"]["listeners"] if i["nodePort"] == busy)
    assert item["state"] == "listening" and item["fallbackAddress"] is None


def test_stopping_the_sandbox_closes_every_port() -> None:
    with seed_gateways() as g:
        g.apply(DIRECT.format(name="in-beta", labels="{}", host="beta.test"), namespace=BETA)
        ports = (g.prod, g.prod_status, g.canary_status)
        assert not any(refused(p) for p in ports)
    assert all(refused(p) for p in ports)


def test_the_data_plane_can_be_left_off() -> None:
    with seed_gateways(dataplane=False) as g:
        g.apply(DIRECT.format(name="in-beta", labels="{}", host="beta.test"), namespace=BETA)
        assert refused(g.prod) and refused(g.prod_status)
        assert g.sb.status()["dataplane"]["listeners"] == []


def test_the_report_world_before_the_fix(fresh: Gateways) -> None:
    """bookinfo-gateway in l7-traffic-alpha reaches the canary gateway only; before bookinfo
    exists istiod has no cluster for productpage, after it, the tag webhook still blocks pods."""
    fresh.apply((APPS / "bookinfo-gateway.yaml").read_text(), namespace=ALPHA)
    listeners = {i["nodePort"]: i for i in fresh.sb.status()["dataplane"]["listeners"]}
    assert listeners[fresh.canary]["state"] == "listening"
    assert listeners[fresh.canary]["service"] == f"{CANARY}/istio-ingressgateway"
    assert listeners[fresh.prod]["state"] == "closed"
    no_service = fresh.get("/productpage", "bookinfo-gateway.test", port=fresh.canary)
    assert (no_service.status, no_service.body) == (503, b"")
    fresh.apply((APPS / "bookinfo.yaml").read_text(), namespace=ALPHA)
    no_pods = fresh.get("/productpage", "bookinfo-gateway.test", port=fresh.canary)
    assert (no_pods.status, no_pods.body) == (503, b"no healthy upstream")
    assert fresh.get("/other", "bookinfo-gateway.test", port=fresh.canary).status == 404
