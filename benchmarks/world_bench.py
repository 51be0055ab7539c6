"""The living sandbox's figures (issue 3): loading ``scale`` and a pod-creation round.

* ``scale_load_s`` — ``Sandbox(scenario="scale")`` loaded (2,000 namespaces, 10,000 Deployments
  and ReplicaSets, 8,000 injected pods, 50,000 events on top of the seed world, controllers
  brought up to date), without the TLS server. Target <= 10 s.
* ``pod_round_1000_s`` — one ReplicaSet of 1,000 replicas in a namespace bound to a working
  injector: the controller creates 1,000 pods through the API's create path — defaulting,
  webhook matching and service resolution, the emulated istiod's injection, validation, storage,
  ``SuccessfulCreate`` events — until the ReplicaSet's status counts them. Pods start afterwards
  (not timed: that is the kubelet's work, not admission). Target <= 2 s.
* ``webhook_admissions_per_s`` — the same round expressed per pod (information).
"""

from __future__ import annotations

import gc
import time

from benchmarks import Result, at_most

NAME = "world"


def _scale_load() -> float:
    from runbook.sandbox import Sandbox

    sb = Sandbox(scenario="scale", clock="manual")
    gc.collect()
    start = time.perf_counter()
    sb._load()  # what start() does before serving; the TLS server is the sandbox bench's
    elapsed = time.perf_counter() - start
    pods = sb.store.count("pods")
    assert pods > 8000, pods
    sb.cluster.reset()
    return elapsed


def _pod_round(replicas: int = 1000) -> float:
    from runbook.kinds import NAMESPACES, REPLICA_SETS
    from runbook.sandbox import Sandbox
    from runbook.sandbox.registry.cluster import SYSTEM

    sb = Sandbox(scenario="healthy", clock="manual", pod_start_seconds=3600)
    sb._load()
    cluster = sb.cluster
    cluster.create(NAMESPACES, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "bench", "labels": {"istio.io/rev": "prod-canary"}}}, SYSTEM)
    cluster.work.run_pending()
    labels = {"app": "bench", "version": "v1"}
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
          "metadata": {"name": "bench", "namespace": "bench", "labels": labels},
          "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                   "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                       "name": "app", "image": "docker.io/istio/examples-bookinfo-ratings-v1:1.18.0",
                       "ports": [{"containerPort": 9080}]}]}}}}
    gc.collect()
    start = time.perf_counter()
    cluster.create(REPLICA_SETS, "bench", rs, SYSTEM)
    while (sb.store.get(REPLICA_SETS.key, "bench", "bench") or {}).get("status", {}).get(
            "replicas", 0) < replicas:
        if cluster.work.run_pending() == 0:
            break
    elapsed = time.perf_counter() - start
    created = [p for p in sb.store.objects("pods", "bench")]
    assert len(created) == replicas, len(created)
    assert all(p["spec"]["containers"][-1]["name"] == "istio-proxy" for p in created)
    return elapsed


def run() -> list[Result]:
    load = _scale_load()
    round_s = _pod_round()
    return [
        at_most(NAME, "scale_load_s", load, 10.0,
                "2,000 ns / 10,000 RS / 8,000 pods / 50,000 events on the seed world"),
        at_most(NAME, "pod_round_1000_s", round_s, 2.0,
                "1,000 pods: webhook match + service resolution + injection + store + events"),
        Result(NAME, "webhook_admissions_per_s", 1000 / round_s, note="from the round above"),
    ]
