"""What the real engine (kube-apiserver and controllers 1.37) showed and the emulator now does too:
pod generation, terminatingReplicas, the scheduler's observedGeneration, and the order of an
Endpoints subset's ports (tests/differential measures each against the real engine)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from runbook.sandbox import Sandbox
from runbook.sandbox.controllers.endpoints import endpoint_subsets
from tests.conftest import advance_world
from tests.sandbox_world.helpers import api_for


@pytest.fixture
def world() -> Iterator[Sandbox]:
    with Sandbox(scenario="empty", clock="manual") as sb:
        yield sb


@pytest.fixture
def apis(world: Sandbox) -> Iterator[tuple[client.CoreV1Api, client.AppsV1Api]]:
    with api_for(world) as api:
        yield client.CoreV1Api(api), client.AppsV1Api(api)


def _deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}}}


def _pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}


def test_pod_generation_counts_spec_changes_and_the_start_of_deletion(world: Sandbox,
                                                                      apis: Any) -> None:
    core, _ = apis
    created = core.create_namespaced_pod("default", _pod("web"))
    assert created.metadata.generation == 1
    advance_world(world)
    labelled = core.patch_namespaced_pod("web", "default", {"metadata": {"labels": {"a": "b"}}})
    assert labelled.metadata.generation == 1  # metadata is not the spec
    changed = core.patch_namespaced_pod("web", "default", {"spec": {"activeDeadlineSeconds": 60}})
    assert changed.metadata.generation == 2
    deleting = core.delete_namespaced_pod("web", "default")
    assert deleting.metadata.deletion_timestamp and deleting.metadata.generation == 3


def test_terminating_replicas_are_counted_by_replicaset_and_deployment(world: Sandbox,
                                                                       apis: Any) -> None:
    core, apps = apis
    apps.create_namespaced_deployment("default", _deployment("web"))
    advance_world(world)
    rs = apps.list_namespaced_replica_set("default").items[0]
    deployment = apps.read_namespaced_deployment("web", "default")
    assert rs.status.terminating_replicas == 0
    assert deployment.status.terminating_replicas == 0
    pod = core.list_namespaced_pod("default").items[0]
    # a finalizer keeps the pod Terminating after the kubelet has stopped it
    core.patch_namespaced_pod(pod.metadata.name, "default",
                              {"metadata": {"finalizers": ["example.com/hold"]}})
    core.delete_namespaced_pod(pod.metadata.name, "default")
    world.settle()
    store = world.store
    rs_status = store.get("replicasets.apps", "default", rs.metadata.name)["status"]
    assert rs_status["terminatingReplicas"] == 1
    assert store.get("deployments.apps", "default", "web")["status"]["terminatingReplicas"] == 1


def test_the_scheduler_says_which_generation_it_found_unschedulable(world: Sandbox,
                                                                    apis: Any) -> None:
    core, _ = apis
    core.patch_node("sandbox-node", {"spec": {"unschedulable": True}})
    core.create_namespaced_pod("default", _pod("web"))
    advance_world(world)
    conditions = core.read_namespaced_pod("web", "default").status.conditions
    scheduled = next(c for c in conditions if c.type == "PodScheduled")
    assert (scheduled.status, scheduled.reason, scheduled.observed_generation) == (
        "False", "Unschedulable", 1)


def test_endpoint_ports_are_in_repack_subsets_order() -> None:
    # istio-canary/istiod-1-18-5's ports as the real endpoints controller (1.37) lists them
    service = {"spec": {"selector": {"app": "istiod"}, "ports": [
        {"name": name, "port": port, "targetPort": port, "protocol": "TCP"}
        for name, port in (("grpc-xds", 15010), ("https-dns", 15012), ("https-webhook", 15017),
                           ("http-monitoring", 15014))]}}
    pod = {"metadata": {"name": "istiod-0", "namespace": "istio-canary", "uid": "u"},
           "spec": {"nodeName": "sandbox-node", "containers": [{"name": "discovery"}]},
           "status": {"podIP": "10.244.0.9", "phase": "Running"}}
    subsets = endpoint_subsets(service, [pod])
    assert [p["name"] for p in subsets[0]["ports"]] == [
        "https-dns", "grpc-xds", "http-monitoring", "https-webhook"]
