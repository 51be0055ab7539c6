"""The emulated controllers, driven by a manual clock through the official client (no sleeps)."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from typing import Any

import pytest
from kubernetes import client

from runbook.kinds import REPLICA_SETS
from runbook.sandbox import Sandbox
from runbook.sandbox.controllers.events import AGGREGATE_PREFIX, EventRecorder
from runbook.sandbox.controllers.replicaset import backoff_delay
from tests.conftest import advance_world
from tests.sandbox_world.helpers import REPORT_ERROR, api_for


def _deployment(name: str, replicas: int = 1, strategy: dict[str, Any] | None = None
                ) -> dict[str, Any]:
    labels = {"app": name}
    spec: dict[str, Any] = {"replicas": replicas, "selector": {"matchLabels": labels},
                            "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                                {"name": "web", "image": "nginx:1.25",
                                 "ports": [{"containerPort": 80, "name": "http"}]}]}}}
    if strategy:
        spec["strategy"] = strategy
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": labels}, "spec": spec}


def _events(world: Sandbox, namespace: str, name: str) -> list[dict[str, Any]]:
    return sorted((e for e in world.store.objects("events", namespace)
                   if e["involvedObject"]["name"] == name),
                  key=lambda e: e["metadata"]["name"])


def test_deployment_replicaset_pods_and_their_status(world: Sandbox, apis: Any) -> None:
    core, apps = apis
    apps.create_namespaced_deployment("default", _deployment("web", replicas=2))
    advance_world(world)
    rs = apps.list_namespaced_replica_set("default").items
    assert len(rs) == 1
    rs0 = rs[0]
    hash_ = rs0.metadata.labels["pod-template-hash"]
    assert re.fullmatch(r"[bcdf4-9]{8,10}", hash_) and rs0.metadata.name == f"web-{hash_}"
    assert rs0.spec.selector.match_labels == {"app": "web", "pod-template-hash": hash_}
    assert rs0.metadata.annotations == {"deployment.kubernetes.io/revision": "1",
                                        "deployment.kubernetes.io/desired-replicas": "2",
                                        "deployment.kubernetes.io/max-replicas": "3"}
    owner = rs0.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.controller, owner.block_owner_deletion) == (
        "Deployment", "web", True, True)
    assert (rs0.status.replicas, rs0.status.ready_replicas, rs0.status.available_replicas,
            rs0.status.observed_generation) == (2, 2, 2, 1)
    pods = core.list_namespaced_pod("default").items
    assert len(pods) == 2
    for pod in pods:
        assert re.fullmatch(rf"web-{hash_}-[bcdfghjklmnpqrstvwxz2456789]{{5}}", pod.metadata.name)
        assert pod.status.phase == "Running" and pod.status.host_ip == "127.0.0.1"
        assert ipaddress.ip_address(pod.status.pod_ip) in ipaddress.ip_network("10.244.0.0/16")
        cs = pod.status.container_statuses[0]
        assert (cs.ready, cs.started, cs.restart_count, cs.image) == (True, True, 0, "nginx:1.25")
        assert cs.image_id.startswith("docker.io/library/nginx@sha256:")
        assert cs.state.running.started_at is not None
        assert {c.type: c.status for c in pod.status.conditions} == {
            "PodReadyToStartContainers": "True", "Initialized": "True", "Ready": "True",
            "ContainersReady": "True", "PodScheduled": "True"}
    dep = apps.read_namespaced_deployment("web", "default")
    assert dep.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    assert (dep.status.replicas, dep.status.updated_replicas, dep.status.ready_replicas,
            dep.status.available_replicas, dep.status.observed_generation) == (2, 2, 2, 2, 1)
    conditions = {c.type: (c.status, c.reason, c.message) for c in dep.status.conditions}
    assert conditions == {
        "Available": ("True", "MinimumReplicasAvailable", "Deployment has minimum availability."),
        "Progressing": ("True", "NewReplicaSetAvailable",
                        f'ReplicaSet "web-{hash_}" has successfully progressed.')}
    reasons = [(e["reason"], e["message"]) for e in _events(world, "default", "web")]
    assert reasons == [("ScalingReplicaSet", f"Scaled up replica set web-{hash_} from 0 to 2")]
    created = [e["message"] for e in _events(world, "default", rs0.metadata.name)]
    assert sorted(created) == sorted(f"Created pod: {p.metadata.name}" for p in pods)
    pod_events = _events(world, "default", pods[0].metadata.name)
    assert [(e["reason"], e["source"]["component"]) for e in pod_events] == [
        ("Scheduled", "default-scheduler"), ("Pulled", "kubelet"), ("Created", "kubelet"),
        ("Started", "kubelet")]
    assert pod_events[3]["message"] == "Started container web"
    assert pod_events[1]["involvedObject"]["fieldPath"] == "spec.containers{web}"


def test_pods_wait_for_the_start_delay(apis: Any) -> None:
    with Sandbox(scenario="empty", clock="manual", pod_start_seconds=5) as sb, api_for(sb) as api:
        client.AppsV1Api(api).create_namespaced_deployment("default", _deployment("slow"))
        advance_world(sb)
        pod = sb.store.objects("pods", "default")[0]
        assert pod["status"]["phase"] == "Pending"
        assert pod["status"]["containerStatuses"][0]["state"] == {
            "waiting": {"reason": "ContainerCreating"}}
        assert "podIP" not in pod["status"] and pod["spec"]["nodeName"] == "sandbox-node"
        advance_world(sb, 4.9)
        assert sb.store.objects("pods", "default")[0]["status"]["phase"] == "Pending"
        advance_world(sb, 0.1)
        assert sb.store.objects("pods", "default")[0]["status"]["phase"] == "Running"


def test_failed_create_event_grows_with_the_backoff(seed_sandbox: Sandbox) -> None:
    with api_for(seed_sandbox) as api:
        client.AppsV1Api(api).create_namespaced_deployment("l7-traffic-alpha",
                                                           _deployment("details-v1"))
    advance_world(seed_sandbox)
    rs = seed_sandbox.store.objects("replicasets.apps", "l7-traffic-alpha")[0]["metadata"]["name"]
    start = seed_sandbox.clock.time()

    def failed() -> dict[str, Any]:
        (event,) = [e for e in _events(seed_sandbox, "l7-traffic-alpha", rs)
                    if e["reason"] == "FailedCreate"]
        return event

    first = failed()
    assert (first["count"], first["message"]) == (1, f"Error creating: {REPORT_ERROR}")
    seen = []
    for step in (0.004, 0.002, 0.1, 1, 10, 60, 100, 110):
        advance_world(seed_sandbox, step)
        event = failed()
        seen.append(event["count"])
        assert event["firstTimestamp"] == first["firstTimestamp"]
        assert event["metadata"]["name"] == first["metadata"]["name"]
    # retries at 5 ms · (2^n − 1) after the first: counts follow the schedule exactly
    elapsed = [0.004, 0.006, 0.106, 1.106, 11.106, 71.106, 171.106, 281.106]
    expected = [1 + sum(1 for n in range(1, 40) if 0.005 * (2 ** n - 1) <= t) for t in elapsed]
    assert seen == expected and seen[-1] == 16
    last = datetime.fromisoformat(failed()["lastTimestamp"].replace("Z", "+00:00")).timestamp()
    assert last - int(start) == pytest.approx(163, abs=1)
    assert backoff_delay(1) == 0.005 and backoff_delay(17) == 327.68 and backoff_delay(30) == 1000


def test_rolling_update_respects_surge_and_unavailability(world: Sandbox, apis: Any) -> None:
    core, apps = apis
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    apps.create_namespaced_deployment("default", _deployment("roll", 3, strategy))
    advance_world(world)
    world.world.controllers.ctx.pod_start_seconds = 10  # type: ignore[union-attr]
    apps.patch_namespaced_deployment("roll", "default", {"spec": {"template": {"metadata": {
        "annotations": {"kubectl.kubernetes.io/restartedAt": "2023-10-27T06:00:00Z"}}}}})
    advance_world(world)
    sets = sorted(apps.list_namespaced_replica_set("default").items,
                  key=lambda r: r.metadata.annotations["deployment.kubernetes.io/revision"])
    assert [r.spec.replicas for r in sets] == [3, 1]  # one surge pod, nobody unavailable
    assert sets[1].metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    total_pods = len(core.list_namespaced_pod("default").items)
    assert total_pods == 4
    for _ in range(3):
        advance_world(world, 10)
    sets = sorted(apps.list_namespaced_replica_set("default").items,
                  key=lambda r: r.metadata.annotations["deployment.kubernetes.io/revision"])
    assert [r.spec.replicas for r in sets] == [0, 3]
    pods = core.list_namespaced_pod("default").items
    assert len(pods) == 3 and all(p.metadata.labels["pod-template-hash"] ==
                                  sets[1].metadata.labels["pod-template-hash"] for p in pods)
    messages = [e["message"] for e in _events(world, "default", "roll")]
    old, new = sets[0].metadata.name, sets[1].metadata.name
    assert f"Scaled up replica set {new} from 0 to 1" in messages
    assert f"Scaled down replica set {old} from 3 to 2" in messages
    assert f"Scaled down replica set {old} from 1 to 0" in messages
    deleted = [e for e in _events(world, "default", old) if e["reason"] == "SuccessfulDelete"]
    assert len(deleted) == 3
    assert apps.read_namespaced_deployment("roll", "default").metadata.annotations[
        "deployment.kubernetes.io/revision"] == "2"


def test_recreate_and_scaling(world: Sandbox, apis: Any) -> None:
    core, apps = apis
    apps.create_namespaced_deployment("default", _deployment("re", 2, {"type": "Recreate"}))
    advance_world(world)
    apps.patch_namespaced_deployment("re", "default", {"spec": {"template": {"spec": {
        "containers": [{"name": "web", "image": "nginx:1.26"}]}}}})
    advance_world(world)
    advance_world(world)
    images = {p.spec.containers[0].image for p in core.list_namespaced_pod("default").items}
    assert images == {"nginx:1.26"}
    apps.patch_namespaced_deployment_scale("re", "default", {"spec": {"replicas": 5}})
    advance_world(world)
    assert len(core.list_namespaced_pod("default").items) == 5
    apps.patch_namespaced_deployment_scale("re", "default", {"spec": {"replicas": 1}})
    advance_world(world)
    assert len(core.list_namespaced_pod("default").items) == 1
    assert apps.read_namespaced_deployment("re", "default").status.ready_replicas == 1


def test_deleted_replicaset_takes_its_pods_and_comes_back(world: Sandbox, apis: Any) -> None:
    core, apps = apis
    apps.create_namespaced_deployment("default", _deployment("gc", 2))
    advance_world(world)
    (rs,) = apps.list_namespaced_replica_set("default").items
    old_pods = {p.metadata.name for p in core.list_namespaced_pod("default").items}
    apps.delete_namespaced_replica_set(rs.metadata.name, "default")
    advance_world(world)
    (again,) = apps.list_namespaced_replica_set("default").items
    assert again.metadata.name == rs.metadata.name and again.metadata.uid != rs.metadata.uid
    new_pods = {p.metadata.name for p in core.list_namespaced_pod("default").items}
    assert len(new_pods) == 2 and not new_pods & old_pods


def test_stuck_rollout_exceeds_its_deadline(seed_sandbox: Sandbox) -> None:
    with api_for(seed_sandbox) as api:
        apps = client.AppsV1Api(api)
        apps.create_namespaced_deployment("l7-traffic-alpha", _deployment("stuck"))
        advance_world(seed_sandbox, 600)
        cond = {c.type: c.reason for c in
                apps.read_namespaced_deployment("stuck", "l7-traffic-alpha").status.conditions}
        assert cond["Progressing"] == "NewReplicaSetCreated"
        advance_world(seed_sandbox, 2)
        dep = apps.read_namespaced_deployment("stuck", "l7-traffic-alpha")
    progressing = next(c for c in dep.status.conditions if c.type == "Progressing")
    assert (progressing.status, progressing.reason) == ("False", "ProgressDeadlineExceeded")
    assert re.fullmatch(r'ReplicaSet "stuck-[bcdf4-9]+" has timed out progressing\.',
                        progressing.message)
    failure = next(c for c in dep.status.conditions if c.type == "ReplicaFailure")
    assert (failure.reason, failure.message) == ("FailedCreate", REPORT_ERROR)
    assert dep.status.unavailable_replicas == 1 and not dep.status.ready_replicas


def test_endpoints_follow_ready_pods(world: Sandbox, apis: Any) -> None:
    core, apps = apis
    core.create_namespaced_service("default", {"metadata": {"name": "web", "labels": {"t": "1"}},
                                               "spec": {"selector": {"app": "web"}, "ports": [
                                                   {"name": "http", "port": 80,
                                                    "targetPort": "http"}]}})
    advance_world(world)
    assert core.read_namespaced_endpoints("web", "default").subsets is None
    world.world.controllers.ctx.pod_start_seconds = 3  # type: ignore[union-attr]
    apps.create_namespaced_deployment("default", _deployment("web", 2))
    advance_world(world)
    assert core.read_namespaced_endpoints("web", "default").subsets is None  # no IPs yet
    advance_world(world, 3)
    ep = core.read_namespaced_endpoints("web", "default")
    pods = {p.metadata.name: p for p in core.list_namespaced_pod("default").items}
    (subset,) = ep.subsets
    assert [(p.name, p.port, p.protocol) for p in subset.ports] == [("http", 80, "TCP")]
    assert sorted(a.target_ref.name for a in subset.addresses) == sorted(pods)
    assert all(a.ip == pods[a.target_ref.name].status.pod_ip and a.node_name == "sandbox-node"
               for a in subset.addresses)
    # the Service's labels, and the controller's own mark (as kube-controller-manager 1.33+)
    assert ep.metadata.labels == {"t": "1", "endpoints.kubernetes.io/managed-by": "endpoint-controller"}
    core.delete_namespaced_service("web", "default")
    advance_world(world)
    assert world.store.get("endpoints", "default", "web") is None


def test_services_get_cluster_ips_and_node_ports_like_the_report(world: Sandbox,
                                                                 apis: Any) -> None:
    core, _ = apis
    svc = core.create_namespaced_service("default", {"metadata": {"name": "gw"}, "spec": {
        "type": "LoadBalancer", "ports": [{"name": "http2", "port": 80, "nodePort": 31241},
                                          {"name": "https", "port": 443}]}})
    assert ipaddress.ip_address(svc.spec.cluster_ip) in ipaddress.ip_network("100.104.0.0/13")
    assert svc.spec.ports[0].node_port == 31241
    assert 30000 <= svc.spec.ports[1].node_port <= 32767
    assert svc.status.load_balancer.ingress is None  # no external load balancer: <pending>
    fixed = core.create_namespaced_service("default", {"metadata": {"name": "fixed"}, "spec": {
        "clusterIP": "100.111.11.61", "ports": [{"port": 443}]}})
    assert fixed.spec.cluster_ip == "100.111.11.61"


def test_event_recorder_aggregates_like_client_go(world: Sandbox) -> None:
    recorder = EventRecorder(world.cluster)
    rs = {"metadata": {"name": "rs", "namespace": "default", "uid": "u1"}}
    for _ in range(3):
        recorder.event(REPLICA_SETS, rs, "Warning", "FailedCreate", "same",
                       component="replicaset-controller")
        world.advance(1)
    (same,) = [e for e in world.store.objects("events", "default") if e["message"] == "same"]
    assert same["count"] == 3 and same["firstTimestamp"] != same["lastTimestamp"]
    for i in range(12):  # distinct messages: from the 10th on, one combined event counts up
        recorder.event(REPLICA_SETS, rs, "Normal", "SuccessfulCreate", f"Created pod: p{i}",
                       component="replicaset-controller")
    created = [e for e in world.store.objects("events", "default")
               if e["reason"] == "SuccessfulCreate"]
    combined = [e for e in created if e["message"].startswith(AGGREGATE_PREFIX)]
    assert len(created) == 10 and len(combined) == 1 and combined[0]["count"] == 3
    for _ in range(20):  # 25 tokens per object, then the spam filter drops
        recorder.event(REPLICA_SETS, rs, "Warning", "Noisy", "again and again",
                       component="replicaset-controller")
    assert recorder.dropped == 3 + 12 + 20 - 25
