"""The sandbox's ingress data plane under the probe: a fixed 2,500 QPS over 8 connections (issue 17).

1. Starts a sandbox the way notebooks get one — ``python -m runbook.sandbox --scenario
   seed-incident`` in the background (``ensure_running``), with its own ``MESH_RUNBOOK_HOME`` so it
   is nobody else's — and moves istio-prod's gateway to a node port that is free on this machine
   (another sandbox may hold 31241).
2. Applies the field report's corrected nginx exercise (``sample-gateway-fixed.yaml``) in
   l7-traffic-beta and waits until the gateway answers ``/`` for ``nginx-sample-gateway.test``.
3. ``probe(qps=2500, concurrency=8, duration=10)`` against it: achieved / requested rate >= 0.99
   and p99 latency (from the intended send time) <= 10 ms (targets), errors for the record.
   nginx's emulated service time is ~0.4 ms median, so 8 connections have room for 2,500
   requests/s; the gateway's own cost is what this measures.
4. A closed loop on 8 connections for 3 s: the most this data plane serves (information).
5. Stops the sandbox. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

from benchmarks import Result, at_least, at_most, own_home
from runbook.apps import app_path
from runbook.kinds import SERVICES
from runbook.kube import connect
from runbook.kube.apply import apply_manifests
from runbook.mesh.rollout import wait_for_rollout
from runbook.probe import curl_head, probe
from runbook.sandbox import ensure_running, stop_running

NAME = "dataplane"
QPS = 2500
CONNECTIONS = 8
SECONDS = 10
HOST = "nginx-sample-gateway.test"


def _say(text: str) -> None:
    print(f"dataplane_bench: {text}", file=sys.stderr, flush=True)


def _free_node_port() -> int:
    for port in range(32767, 30000, -1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free node port")


def run() -> list[Result]:
    with own_home("dataplane-bench-"):
        info = ensure_running(scenario="seed-incident")
        try:
            return _measure(Path(info.kubeconfig_path))
        finally:
            stop_running()


def _measure(kubeconfig: Path) -> list[Result]:
    cluster = connect(kubeconfig, "sandbox")
    port = _free_node_port()
    svc = cluster.get(SERVICES, "istio-ingressgateway", "istio-prod")
    ports = [dict(p, nodePort=port) if p.get("name") == "http2" else p for p in svc["spec"]["ports"]]
    cluster.patch(SERVICES, "istio-ingressgateway", {"spec": {"ports": ports}}, namespace="istio-prod")
    apply_manifests(cluster, app_path("sample-gateway-fixed"), namespace="l7-traffic-beta")
    wait_for_rollout(cluster, "l7-traffic-beta", timeout=60, progress=False)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while curl_head(url, host=HOST).status != 200:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the gateway never answered {url}: {curl_head(url, host=HOST)}")
        time.sleep(0.1)  # the sandbox is another process: its push has no event to wait on
    probe(url, host=HOST, count=500, concurrency=CONNECTIONS)  # warm both sides
    _say(f"{QPS} QPS over {CONNECTIONS} connections for {SECONDS} s against {url}")
    fixed = probe(url, host=HOST, qps=QPS, concurrency=CONNECTIONS, duration=SECONDS)
    s = fixed.summary()
    ratio = s["achieved_qps"] / QPS
    note = (f"achieved {s['achieved_qps']:.1f}/s; latency from the intended send time p50 "
            f"{s['p50_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms, p99.9 {s['p99_9_ms']:.2f} ms; "
            f"{s['errors']} errors of {s['count']}")
    _say(note)
    closed = probe(url, host=HOST, concurrency=CONNECTIONS, duration=3).summary()
    cluster.close()
    return [
        at_least(NAME, f"achieved_vs_requested_qps_{QPS}_c{CONNECTIONS}", ratio, 0.99, note),
        Result(NAME, "fixed_qps_errors", float(s["errors"]), "== 0", s["errors"] == 0),
        at_most(NAME, "fixed_qps_p99_ms", float(s["p99_ms"]), 10,
                note=f"at {QPS:,} QPS; nginx page, 0.4 ms median service time"),
        Result(NAME, "closed_loop_c8_requests_per_s", float(closed["achieved_qps"]),
               note=f"p50 {closed['p50_ms']:.2f} ms: the most one sandbox process serves"),
    ]


if __name__ == "__main__":
    from benchmarks import markdown

    print(markdown(run()))
