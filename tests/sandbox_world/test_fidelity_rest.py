"""What the real engine (kube-apiserver and controllers 1.37) showed and the emulator now does too:
pod generation, terminatingReplicas, the scheduler's observedGeneration, and the order of an
Endpoints subset's ports (tests/differential measures each against the real engine)."""

from __future__ import annotations

import json
from typing import Any

from runbook.sandbox import Sandbox
from runbook.sandbox.controllers.endpoints import endpoint_subsets
from tests.conftest import advance_world
from tests.sandbox.helpers import raw


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


def test_pods_get_the_service_account_token_volume(world: Sandbox, apis: Any) -> None:
    core, _ = apis
    pod = core.create_namespaced_pod("default", _pod("web")).to_dict()
    volume = pod["spec"]["volumes"][-1]
    assert volume["name"].startswith("kube-api-access-")
    sources = volume["projected"]["sources"]
    assert volume["projected"]["default_mode"] == 420
    token = sources[0]["service_account_token"]
    assert (token["expiration_seconds"], token["path"]) == (3607, "token")
    assert sources[1]["config_map"]["name"] == "kube-root-ca.crt"
    assert sources[2]["downward_api"]["items"][0]["field_ref"]["field_path"] == \
        "metadata.namespace"
    mount = pod["spec"]["containers"][0]["volume_mounts"][-1]
    assert (mount["name"], mount["mount_path"], mount["read_only"]) == (
        volume["name"], "/var/run/secrets/kubernetes.io/serviceaccount", True)
    # the pod's own choice wins over the default; so does a mount of its own at the path
    opted_out = {**_pod("quiet"), "spec": {**_pod("quiet")["spec"],
                                           "automountServiceAccountToken": False}}
    assert core.create_namespaced_pod("default", opted_out).spec.volumes is None
    own = _pod("own")
    own["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "mine", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]
    own["spec"]["volumes"] = [{"name": "mine", "emptyDir": {}}]
    created = core.create_namespaced_pod("default", own)
    assert [v.name for v in created.spec.volumes] == ["mine"]
    # the ServiceAccount's choice, when the pod makes none
    core.create_namespaced_service_account("default", {"metadata": {"name": "robot"},
                                                       "automountServiceAccountToken": False})
    robot = {**_pod("robot"), "spec": {**_pod("robot")["spec"], "serviceAccountName": "robot"}}
    assert core.create_namespaced_pod("default", robot).spec.volumes is None


def test_list_items_carry_no_apiversion_or_kind(world: Sandbox, apis: Any) -> None:
    core, _ = apis
    core.create_namespaced_config_map("default", {"metadata": {"name": "cfg"}, "data": {"a": "1"}})
    core.create_namespaced_pod("default", _pod("web"))  # the scheduler's event to list
    advance_world(world)
    for path in ("/api/v1/namespaces/default/configmaps", "/api/v1/configmaps?limit=1",
                 "/apis/events.k8s.io/v1/events"):
        code, _, body = raw(world, "GET", path)
        listed = json.loads(body)
        assert code == 200 and listed["kind"].endswith("List") and listed["items"], path
        assert all("kind" not in i and "apiVersion" not in i for i in listed["items"]), path
    code, _, body = raw(world, "DELETE", "/api/v1/namespaces/default/configmaps")
    assert code == 200 and "kind" not in json.loads(body)["items"][0]
    # a single object says what it is
    code, _, body = raw(world, "GET", "/api/v1/namespaces/default/configmaps/kube-root-ca.crt")
    assert code == 404 or json.loads(body)["kind"] == "ConfigMap"


def test_an_events_v1_event_keeps_what_it_said(world: Sandbox) -> None:
    event = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "ev1"},
             "eventTime": "2023-10-27T06:00:00.000000Z", "action": "Test", "reason": "Tested",
             "note": "a test event", "type": "Normal", "reportingController": "example.com/c",
             "reportingInstance": "c-1", "regarding": {"kind": "Pod", "name": "p1",
                                                      "namespace": "default"}}
    base = "/apis/events.k8s.io/v1/namespaces/default/events"
    code, _, created = raw(world, "POST", base, json.dumps(event))
    assert code == 201
    stored = json.loads(created)
    changed = {**stored, "note": "changed"}
    code, _, answer = raw(world, "PUT", f"{base}/ev1", json.dumps(changed))
    body = json.loads(answer)
    assert (code, body["reason"], body["message"]) == (
        422, "Invalid", 'Event "ev1" is invalid: message: Invalid value: "changed": field is '
                        "immutable")
    assert body["details"]["causes"] == [{"reason": "FieldValueInvalid", "field": "message",
                                          "message": 'Invalid value: "changed": field is immutable'}]
    code, _, _ = raw(world, "PATCH", f"{base}/ev1", json.dumps({"note": "changed"}),
                     content_type="application/merge-patch+json")
    assert code == 422
    # labels may change; and core/v1 writes are exempt, for backward compatibility
    code, _, _ = raw(world, "PATCH", f"{base}/ev1", json.dumps({"metadata": {"labels": {"a": "b"}}}),
                     content_type="application/merge-patch+json")
    assert code == 200
    code, _, _ = raw(world, "PATCH", "/api/v1/namespaces/default/events/ev1",
                     json.dumps({"message": "changed"}),
                     content_type="application/merge-patch+json")
    assert code == 200


def test_events_v1_watch_sees_the_events_it_lists(world: Sandbox, apis: Any) -> None:
    core, _ = apis
    core.create_namespaced_pod("default", _pod("web"))  # the scheduler's event to watch
    advance_world(world)
    code, _, body = raw(world, "GET", "/apis/events.k8s.io/v1/namespaces/default/events"
                                      "?watch=1&timeoutSeconds=1")
    events = [json.loads(line) for line in body.splitlines() if line.strip()]
    assert code == 200 and events
    assert {(e["type"], e["object"]["apiVersion"]) for e in events} == {
        ("ADDED", "events.k8s.io/v1")}
    assert any(e["object"]["note"].startswith("Successfully assigned default/web")
               for e in events)


def test_the_real_engines_node_agents_name_images_as_containerd_does() -> None:
    from runbook.sandbox.realkube.nodeagent import _image_id

    assert _image_id("nginx:1.25").startswith("docker.io/library/nginx@sha256:")
    assert _image_id("istio/proxyv2:1.18.5").startswith("docker.io/istio/proxyv2@sha256:")
    assert _image_id("docker.io/istio/proxyv2:1.19.3").startswith("docker.io/istio/proxyv2@sha256:")
    assert _image_id("registry.local:5000/app:1").startswith("registry.local:5000/app@sha256:")
