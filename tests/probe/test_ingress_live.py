"""ingress_address against the living seed sandbox, curl_head and a probe through what it resolves,
and notebook 05's exercise check with its solution applied (and before it)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from runbook.audit import STARTED, AuditLog
from runbook.errors import InputError, ProbeError
from runbook.exercises.latency import check_fault_delay_exercise
from runbook.kinds import SERVICES, VIRTUAL_SERVICES
from runbook.kube import Cluster, connect
from runbook.mesh.observe import read_mesh
from runbook.probe import curl_head, ingress_address, probe
from runbook.probe.address import NODE_PORT
from runbook.probe.window import probe_with_fault
from runbook.sandbox import Sandbox
from tests.sandbox_dataplane.helpers import (
    APPS,
    BETA,
    PROD,
    Gateways,
    free_node_ports,
    move_node_ports,
    seed_gateways,
)


@pytest.fixture(scope="module")
def seed() -> Iterator[Cluster]:
    with Sandbox(scenario="seed-incident", clock="manual") as sb:
        cluster = connect(sb.kubeconfig_path, "sandbox")
        yield cluster
        cluster.close()


def test_both_revisions_gateways_resolve_to_their_node_ports(seed: Cluster) -> None:
    prod = ingress_address(seed, namespace="istio-prod")
    canary = ingress_address(seed, "istio-ingressgateway", "istio-canary")
    assert (prod.host, prod.port, prod.url) == ("127.0.0.1", 31241, "127.0.0.1:31241")
    assert (canary.host, canary.port) == ("127.0.0.1", 32232)
    assert prod.resolved_by == NODE_PORT and prod.service == "istio-prod/istio-ingressgateway"
    assert prod.source.startswith("pod istio-prod/istio-ingressgateway-")
    assert prod.source.endswith("status.hostIP")
    assert prod.shell_exports().splitlines() == [
        "export INGRESS_HOST=127.0.0.1", "export INGRESS_PORT=31241", "export GATEWAY_URL=127.0.0.1:31241"]
    env: dict[str, str] = {}
    assert canary.set_environ(env) == env == {"INGRESS_HOST": "127.0.0.1", "INGRESS_PORT": "32232",
                                              "GATEWAY_URL": "127.0.0.1:32232"}
    assert any("nodePort" in c for c in prod.kubectl_commands())
    # no Gateway config yet: the sandbox says its gateway does not listen there yet, and why
    assert "does not listen on 127.0.0.1:31241 yet" in prod.note and "no Gateway server" in prod.note


def test_unknown_gateway_services_are_named_with_what_exists(seed: Cluster) -> None:
    with pytest.raises(InputError) as err:
        ingress_address(seed, "istio-ingress", "istio-prod")
    assert "no Service istio-prod/istio-ingress" in str(err.value)
    assert "istio-ingressgateway (LoadBalancer)" in str(err.value)
    with pytest.raises(InputError, match="no Service of type LoadBalancer or NodePort there"):
        ingress_address(seed, namespace=BETA)
    with pytest.raises(InputError, match="is of type ClusterIP"):
        ingress_address(seed, "istio-egressgateway", "istio-canary")


def test_a_service_without_http2_lists_its_ports(seed: Cluster) -> None:
    seed.create(SERVICES, {"metadata": {"name": "status-only", "namespace": PROD}, "spec": {
        "type": "NodePort", "selector": {"istio": "ingressgateway"},
        "ports": [{"name": "status-port", "port": 15021, "targetPort": 15021}]}}, namespace=PROD)
    with pytest.raises(InputError) as err:
        ingress_address(seed, "status-only", PROD)
    assert "has no port named 'http2' (ports: status-port 15021)" in str(err.value)
    assert ingress_address(seed, "status-only", PROD, port_name="status-port").host == "127.0.0.1"


@pytest.fixture(scope="module")
def served() -> Iterator[Gateways]:
    """bookinfo and its gateway config in l7-traffic-beta, served by the prod gateway (moved to a
    free node port): beta is watched by istiod 1-18-5, whose injector works."""
    with seed_gateways() as g:
        g.apply((APPS / "bookinfo.yaml").read_text(), namespace=BETA)
        g.apply((APPS / "bookinfo-gateway.yaml").read_text(), namespace=BETA)
        yield g


def test_curl_head_and_a_probe_through_the_resolved_address(served: Gateways) -> None:
    address = ingress_address(served.cluster, namespace=PROD)
    assert address.port == served.prod and address.note == ""
    head = curl_head(address.base_url() + "/productpage", host="bookinfo-gateway.test")
    assert head.ok and head.status == 200
    lines = head.text().splitlines()
    assert lines[0] == "HTTP/1.1 200 OK"
    assert [line.split(":")[0] for line in lines[1:]] == [
        "server", "date", "content-type", "content-length", "x-envoy-upstream-service-time"]
    assert head.header("server") == "istio-envoy" and int(head.header("content-length") or 0) > 3000
    assert head.command() == (f"curl -s -I -HHost:bookinfo-gateway.test "
                              f"http://127.0.0.1:{served.prod}/productpage")
    run = probe(address.base_url() + "/productpage", host="bookinfo-gateway.test", count=30, concurrency=3)
    assert run.summary()["status_codes"] == {"200": 30}


def test_curl_head_failures_are_curls_one_liners(served: Gateways) -> None:
    (closed,) = free_node_ports(1, {served.prod, served.canary, served.prod_status, served.canary_status})
    refused = curl_head(f"http://127.0.0.1:{closed}/", host="x.test")
    assert not refused.ok and refused.status == 0
    assert refused.text() == f"curl: (7) Failed to connect to 127.0.0.1 port {closed}: Connection refused"
    with pytest.raises(ProbeError, match="no scheme"):
        curl_head("127.0.0.1:1/")


def test_a_node_port_held_by_another_program_resolves_to_the_sandboxs_fallback(served: Gateways) -> None:
    (busy,) = free_node_ports(1, {served.prod, served.canary, served.prod_status, served.canary_status})
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", busy))
    blocker.listen()
    old = served.prod
    try:
        move_node_ports(served.cluster, PROD, {"http2": busy})
        served.settle()
        address = ingress_address(served.cluster, namespace=PROD)
        assert address.port != busy
        assert f"127.0.0.1:{busy} is held by another program" in address.note
        assert f"answers on 127.0.0.1:{address.port} instead" in address.note
        assert curl_head(address.base_url() + "/productpage", host="bookinfo-gateway.test").status == 200
    finally:
        blocker.close()
        move_node_ports(served.cluster, PROD, {"http2": old})
        served.settle()
    assert ingress_address(served.cluster, namespace=PROD).port == old


def _remove_bookinfo_fault(served: Gateways) -> None:
    """The module's other tests see bookinfo as it was, whichever assertion failed before this."""
    vs = served.cluster.get(VIRTUAL_SERVICES, "bookinfo", BETA)
    if "fault" in vs["spec"]["http"][0]:
        served.cluster.patch(VIRTUAL_SERVICES, "bookinfo", [{"op": "remove", "path": "/spec/http/0/fault"}],
                             namespace=BETA, patch_type="json")
        served.settle()


def test_the_fault_delay_exercise_check(served: Gateways) -> None:
    try:
        _check_the_fault_delay_exercise(served)
    finally:
        _remove_bookinfo_fault(served)


def _check_the_fault_delay_exercise(served: Gateways) -> None:
    url = f"http://127.0.0.1:{served.prod}/productpage"
    served.get("/productpage", "bookinfo-gateway.test")  # warm the pods (cold start)
    before = probe(url, host="bookinfo-gateway.test", count=100, concurrency=8, label="before")
    # not done yet: no fault, and the check says what to do
    check = check_fault_delay_exercise(read_mesh(served.cluster, with_config=True), before, before,
                                       namespace=BETA)
    assert not check.passed and "has no fault.delay" in check.still_wrong[0]
    assert "kubectl -n l7-traffic-beta patch virtualservice bookinfo" in check.still_wrong[0]
    # a delay without a percentage: Istio delays nothing
    served.cluster.patch(VIRTUAL_SERVICES, "bookinfo", [{"op": "add", "path": "/spec/http/0/fault",
                                                          "value": {"delay": {"fixedDelay": "200ms"}}}],
                         namespace=BETA, patch_type="json")
    served.settle()
    check = check_fault_delay_exercise(read_mesh(served.cluster, with_config=True), before, before,
                                       namespace=BETA)
    assert not check.passed and "Istio delays no request" in " ".join(check.still_wrong)
    # the solution: 200 ms on 50 % of the requests
    served.cluster.patch(VIRTUAL_SERVICES, "bookinfo", [
        {"op": "add", "path": "/spec/http/0/fault/delay/percentage", "value": {"value": 50}}],
        namespace=BETA, patch_type="json")
    served.settle()
    snapshot = read_mesh(served.cluster, with_config=True)
    stale = check_fault_delay_exercise(snapshot, before, before, namespace=BETA)
    assert not stale.passed  # the measurements still show no delay
    after = probe(url, host="bookinfo-gateway.test", count=100, concurrency=8, label="after")
    check = check_fault_delay_exercise(snapshot, before, after, namespace=BETA)
    assert check.passed, check.summary()


def test_a_fault_window_is_switched_on_and_off_during_one_run(served: Gateways,
                                                              tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{served.prod}/productpage"
    served.get("/productpage", "bookinfo-gateway.test")  # warm
    audit = AuditLog(tmp_path / "audit.jsonl")
    window = probe_with_fault(served.cluster, url, host="bookinfo-gateway.test", namespace=BETA,
                              virtual_service="bookinfo", delay="80ms", percent=100, window=(0.25, 0.6),
                              duration=2.0, qps=40, concurrency=4, audit=audit)
    # both changes are in the audit trail, like any fix's
    records = audit.read()
    assert [(r.step, r.result) for r in records] == [("fault on: 80ms on 100 %", "applied"),
                                                     ("fault off", "applied")]
    assert "fault" in records[0].after["spec"]["http"][0]  # type: ignore[index]
    assert "fault" not in records[1].after["spec"]["http"][0]  # type: ignore[index]
    assert window.error == "" and window.rule == "VirtualService l7-traffic-beta/bookinfo http[0]"
    assert [label for _, label in window.events] == ["fault on: 80ms on 100 %", "fault off"]
    on, off = (window.run.at(when) for when, _ in window.events)
    # The switch's own timing, apart from the API's: each change began (its audit record, written
    # ahead) 0.5 s into the run and 0.7 s after the previous change was accepted; the API then took
    # what it took on this machine (ms: the audit's resolution).
    began_on, began_off = (window.run.at(datetime.fromisoformat(r.time)) for r in audit.entries()
                           if r.result == STARTED)
    assert 0.4 < began_on < 0.7 and began_on - 0.001 <= on
    assert 0.7 - 0.002 <= began_off - on < 0.9 and began_off - 0.001 <= off < 2.0
    samples = window.run.samples
    inside = samples[(samples["intended_start"] > on + 0.05) & (samples["intended_start"] < off - 0.1)]
    outside = samples[(samples["intended_start"] < on - 0.05) | (samples["intended_start"] > off + 0.2)]
    assert len(inside) > 5 and (inside["latency_ms"] >= 80).all()
    assert (outside["latency_ms"] < 80).mean() > 0.9
    assert "--type=json" in window.commands[0] and '"op":"test"' in window.commands[1]
    vs = served.cluster.get(VIRTUAL_SERVICES, "bookinfo", BETA)
    assert "fault" not in vs["spec"]["http"][0]  # restored
    # a rule that already has a fault is refused before anything changes
    served.cluster.patch(VIRTUAL_SERVICES, "bookinfo", [{"op": "add", "path": "/spec/http/0/fault",
                                                          "value": {"abort": {"httpStatus": 500}}}],
                         namespace=BETA, patch_type="json")
    try:
        with pytest.raises(InputError, match="already has a fault"):
            probe_with_fault(served.cluster, url, host="bookinfo-gateway.test", namespace=BETA,
                             virtual_service="bookinfo", duration=1)
    finally:
        served.cluster.patch(VIRTUAL_SERVICES, "bookinfo", [{"op": "remove", "path": "/spec/http/0/fault"}],
                             namespace=BETA, patch_type="json")
