"""What a diagnosis read keeps: injected pods without their bulk, ReplicaSet events only, and the
garbage collector back as it was — against the living seed world over HTTP."""

from __future__ import annotations

import functools
import gc
import time
from typing import Any

import orjson
import pytest

from runbook import kinds as k
from runbook.kube import connect, read_snapshot
from runbook.kube.reader import (
    CONTAINER_PORT_FIELDS,
    DEFAULT_TRIMS,
    EVENT_FIELDS,
    OBJECT_FIELDS,
    OBJECT_META_FIELDS,
    POD_SPEC_FIELDS,
    WORKLOAD_SPEC_FIELDS,
    WORKLOAD_STATUS_FIELDS,
    slim_decoders,
    trim_event,
    trim_pod,
)
from runbook.mesh import inventory
from runbook.sandbox import Sandbox


@pytest.fixture
def seed_world():  # type: ignore[no-untyped-def]
    with Sandbox(scenario="seed-incident", clock="manual") as sb:
        sb.settle()
        c = connect(sb.kubeconfig_path, "sandbox")
        yield sb, c
        c.close()


@pytest.fixture
def seed(seed_world):  # type: ignore[no-untyped-def]
    return seed_world[1]


def _versions(objects: list[dict[str, Any]]) -> dict[str, str]:
    return {f'{o["metadata"].get("namespace")}/{o["metadata"]["name"]}': o["metadata"]["resourceVersion"]
            for o in objects}


def test_pods_keep_what_the_tables_read_and_lose_env_mounts_and_volumes(seed_world) -> None:  # type: ignore[no-untyped-def]
    sb, seed = seed_world
    # l7-traffic-beta is bound to 1-18-5: the pod gets istio-proxy, its env, mounts and volumes
    seed.create(k.PODS, {"metadata": {"name": "sleep", "namespace": "l7-traffic-beta",
                                      "labels": {"app": "sleep"}},
                         "spec": {"containers": [{"name": "sleep", "image": "curlimages/curl"}]}})
    sb.settle()  # the pod's status is written before the reads compare it
    # the sandbox's kubelet moves the new pod on between two reads: compare reads of one version
    deadline = time.monotonic() + 30
    while True:
        full = seed.list(k.PODS, "l7-traffic-beta")
        snap = read_snapshot(seed)
        fat = read_snapshot(seed, trims={k.PODS.key: lambda o: o, k.DEPLOYMENTS.key: lambda o: o,
                                         k.REPLICA_SETS.key: lambda o: o})
        slim = [p for p in snap.items(k.PODS) if p["metadata"]["namespace"] == "l7-traffic-beta"]
        if (_versions(full) == _versions(slim) and _versions(snap.items(k.PODS))
                == _versions(fat.items(k.PODS))) or time.monotonic() > deadline:
            break
    assert full and len(slim) == len(full)
    before, after = full[0], next(p for p in slim if p["metadata"]["name"]
                                  == full[0]["metadata"]["name"])
    assert "volumes" in before["spec"] and "volumes" not in after["spec"]
    assert any("env" in c for c in before["spec"]["containers"])
    for c_full, c_slim in zip(before["spec"]["containers"], after["spec"]["containers"],
                              strict=True):
        assert set(c_slim) <= {"name", "image", "args", "command", "ports"}
        assert (c_slim["name"], c_slim["image"]) == (c_full["name"], c_full["image"])
    assert after["metadata"]["labels"] == before["metadata"]["labels"]
    # the status keeps the phase, the conditions' type/status/reason/message and the containers'
    # readiness, restarts and states; not the image digests, container IDs or timestamps
    assert after["status"]["phase"] == before["status"]["phase"]
    assert after["status"]["conditions"] == [
        {f: c[f] for f in ("type", "status", "reason", "message") if f in c}
        for c in before["status"]["conditions"]]
    # a state says why a container waits or how it ended; a running one's start time is not kept
    assert after["status"]["containerStatuses"] == [
        {**{f: cs[f] for f in ("name", "ready", "restartCount") if f in cs},
         "state": {f: v for f, v in cs["state"].items() if f in ("waiting", "terminated")}}
        for cs in before["status"]["containerStatuses"]]
    assert any("running" in cs["state"] for cs in before["status"]["containerStatuses"])
    # who owns it and whether it controls, not the owner's uid; no uid or name prefix of its own;
    # not the service account, security context or node it runs as and on
    slim_by_name = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in snap.items(k.PODS)}
    owned = [p for p in fat.items(k.PODS) if p["metadata"].get("ownerReferences")]
    assert owned and any("uid" in ref for p in owned for ref in p["metadata"]["ownerReferences"])
    for pod in owned:
        name = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        assert slim_by_name[name]["metadata"]["ownerReferences"] == [
            {f: ref[f] for f in ("kind", "name", "controller") if f in ref}
            for ref in pod["metadata"]["ownerReferences"]]
    dropped_meta, dropped_spec = {"uid", "generateName"}, {"serviceAccountName", "securityContext",
                                                            "nodeName"}
    assert dropped_meta <= {f for p in owned for f in p["metadata"]}
    assert {"serviceAccountName", "nodeName"} <= {f for p in owned for f in p["spec"]}
    assert not any(dropped_meta & set(p["metadata"]) or dropped_spec & set(p["spec"])
                   for p in snap.items(k.PODS))
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert "imageID" in before["status"]["containerStatuses"][0]
    assert set(after["status"]) <= {"phase", "conditions", "containerStatuses", "hostIP", "podIP",
                                    "reason", "message"}
    assert "initContainerStatuses" not in after["status"]
    # the tables built from the slim read are the tables built from the full one
    for name, df in inventory(fat).tables().items():
        assert inventory(snap).tables()[name].astype(str).equals(df.astype(str)), name


def test_only_replicaset_events_are_read_and_the_gc_is_restored(seed) -> None:  # type: ignore[no-untyped-def]
    every = seed.list(k.EVENTS)
    assert {e["involvedObject"]["kind"] for e in every} >= {"Pod", "ReplicaSet"}
    assert gc.isenabled()
    snap = read_snapshot(seed)
    assert gc.isenabled()
    kinds = {e["involvedObject"]["kind"] for e in snap.items(k.EVENTS)}
    assert kinds == {"ReplicaSet"}
    assert len(snap.items(k.EVENTS)) == sum(e["involvedObject"]["kind"] == "ReplicaSet"
                                            for e in every)
    gc.disable()
    try:
        read_snapshot(seed, [k.NAMESPACES])
        assert not gc.isenabled()  # a caller's own pause is left alone
    finally:
        gc.enable()


def test_trimming_while_parsing_leaves_what_the_trims_leave(seed_world) -> None:  # type: ignore[no-untyped-def]
    sb, seed = seed_world
    # a Deployment as kubectl apply writes it: its last-applied copy, the server's managedFields
    seed.create(k.DEPLOYMENTS, {
        "metadata": {"name": "web", "namespace": "l7-traffic-beta", "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": '{"kind": "Deployment"}',
            "team": "web"}},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx", "env": [{"name": "A", "value": "1"}]}],
                     "volumes": [{"name": "v", "emptyDir": {}}], "nodeSelector": {"disk": "ssd"}}}}})
    sb.settle()  # its ReplicaSet and pod exist before either read
    assert seed.get(k.DEPLOYMENTS, "web", "l7-traffic-beta")["metadata"].get("managedFields")
    slim = read_snapshot(seed)
    # the same trims on whole objects (a caller's own trim turns the parse-time trimming off)
    whole = read_snapshot(seed, trims={key: functools.partial(trim) for key, trim in DEFAULT_TRIMS.items()})
    for kind in (k.PODS, k.DEPLOYMENTS, k.REPLICA_SETS, k.EVENTS):
        assert slim.items(kind) and slim.items(kind) == whole.items(kind), kind.key
    web = next(d for d in slim.items(k.DEPLOYMENTS) if d["metadata"]["name"] == "web")
    assert "managedFields" not in web["metadata"]
    assert "kubectl.kubernetes.io/last-applied-configuration" not in web["metadata"]["annotations"]
    assert web["metadata"]["annotations"]["team"] == "web"
    template = web["spec"]["template"]["spec"]
    assert "volumes" not in template and template["containers"] == [{"name": "web", "image": "nginx"}]
    assert template["nodeSelector"] == {"disk": "ssd"}
    assert "strategy" not in web["spec"] and "dnsPolicy" not in template
    # the replica counts are kept, the controller's bookkeeping is not
    assert web["status"].get("replicas") == 1 and "observedGeneration" not in web["status"]
    assert "uid" not in web["metadata"]
    web_rs = next(rs for rs in slim.items(k.REPLICA_SETS)
                  if rs["metadata"].get("ownerReferences", [{}])[0].get("name") == "web")
    # a ReplicaSet's template keeps its labels, not the pod spec its Deployment holds
    assert web_rs["spec"]["template"] == {"metadata": {"labels": {"app": "web", "pod-template-hash":
                                                                  web_rs["metadata"]["labels"]["pod-template-hash"]}}}
    assert all(set(e["involvedObject"]) <= {"kind", "namespace", "name", "fieldPath"}
               for e in slim.items(k.EVENTS))


def test_a_page_of_another_shape_is_parsed_whole_and_trimmed_and_not_json_is_refused() -> None:
    decoder = slim_decoders()[k.PODS.key]
    odd = {"metadata": {}, "items": [
        {"metadata": {"name": "p", "managedFields": [{}]},
         "spec": {"containers": ["not an object", {"name": "c", "env": []}], "volumes": []}}]}
    assert decoder(orjson.dumps(odd)) == {"metadata": {}, "items": [trim_pod(orjson.loads(orjson.dumps(
        odd["items"][0])))]}
    with pytest.raises(ValueError):
        decoder(b"<html>hello</html>")


def test_a_decoder_that_cannot_parse_a_page_leaves_it_to_the_whole_json_parser(seed) -> None:  # type: ignore[no-untyped-def]
    def refuse(payload: bytes) -> dict[str, object]:
        raise ValueError("not this one")

    assert seed.list(k.PODS, decode=refuse) == seed.list(k.PODS)


def test_the_parse_time_schemas_name_every_field_of_the_official_models() -> None:
    from kubernetes import client as models

    assert set(POD_SPEC_FIELDS) == set(models.V1PodSpec.attribute_map.values())
    assert set(OBJECT_META_FIELDS) == set(models.V1ObjectMeta.attribute_map.values())
    assert set(WORKLOAD_SPEC_FIELDS) == {f for m in (models.V1DeploymentSpec, models.V1ReplicaSetSpec)
                                         for f in m.attribute_map.values()}
    for model in (models.V1Pod, models.V1Deployment, models.V1ReplicaSet):
        assert set(OBJECT_FIELDS) == set(model.attribute_map.values())
    assert set(WORKLOAD_STATUS_FIELDS) == {f for m in (models.V1DeploymentStatus,
                                                       models.V1ReplicaSetStatus)
                                           for f in m.attribute_map.values()}
    assert set(EVENT_FIELDS) == set(models.CoreV1Event.attribute_map.values())
    assert set(CONTAINER_PORT_FIELDS) == set(models.V1ContainerPort.attribute_map.values())


def test_a_snapshot_read_first_is_diagnosed_as_the_cluster_is(seed) -> None:  # type: ignore[no-untyped-def]
    from runbook.errors import InputError
    from runbook.mesh.observe import diagnose_cluster, diagnose_snapshot, read_mesh

    _, from_cluster = diagnose_cluster(seed)
    _, from_snapshot = diagnose_snapshot(read_mesh(seed))
    assert from_cluster and [f.code for f in from_snapshot] == [f.code for f in from_cluster]
    with pytest.raises(InputError, match="does not exist"):
        diagnose_snapshot(read_mesh(seed), namespace="no-such-namespace")


def test_closed_api_values_are_shared_and_a_value_outside_the_set_is_parsed_whole() -> None:
    decoder = slim_decoders()[k.PODS.key]

    def pod(status: str) -> dict[str, Any]:
        return {"metadata": {"name": "p"}, "status": {
            "phase": "Running", "podIPs": [{"ip": "10.0.0.1"}],
            "conditions": [{"type": "Ready", "status": status,
                            "lastTransitionTime": "2023-10-26T12:21:00Z"}]}}

    first, second = decoder(orjson.dumps({"metadata": {}, "items": [pod("True"), pod("True")]}))["items"]
    # one string object for every "True": 8,000 pods' conditions do not hold 40,000 copies
    assert first["status"]["conditions"][0]["status"] is second["status"]["conditions"][0]["status"]
    assert first["status"] == {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    # not a status the API defines: the page is parsed whole, then trimmed to the same fields
    odd = decoder(orjson.dumps({"metadata": {}, "items": [pod("Maybe")]}))["items"][0]
    assert odd == trim_pod(pod("Maybe")) and odd["status"]["conditions"] == [
        {"type": "Ready", "status": "Maybe"}]


def test_a_pods_annotations_images_and_arguments_are_kept_as_sent() -> None:
    decoder = slim_decoders()[k.PODS.key]
    status = '{"containers":["istio-proxy"],"revision":"1-19-3"}'

    def pod(name: str, args: list[Any]) -> dict[str, Any]:
        return {"metadata": {"name": name, "annotations": {"sidecar.istio.io/status": status},
                             "creationTimestamp": "2023-10-27T06:00:00Z"},
                "spec": {"containers": [{"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.19.3",
                                         "args": args}]}}

    numbers = {"metadata": {"name": "n", "annotations": {"one": 1, "yes": True}}}
    page = orjson.dumps({"metadata": {}, "items": [pod("a", ["proxy", "sidecar"]), pod("c", ["proxy", 7]),
                                                   numbers]})
    assert decoder(page)["items"] == [pod("a", ["proxy", "sidecar"]), pod("c", ["proxy", 7]), numbers]


def test_a_page_of_another_shape_keeps_only_a_secrets_metadata() -> None:
    decoder = slim_decoders()[k.SECRETS.key]
    secret = {"metadata": {"name": "tls", "namespace": "ns", "annotations": {
        "kubectl.kubernetes.io/last-applied-configuration": '{"data": {"key": "c2VjcmV0"}}'}}}
    # metadata that is not an object is not the API's shape: the page is parsed whole, then trimmed
    items = decoder(orjson.dumps({"metadata": {}, "items": [secret, {"metadata": "odd"}]}))["items"]
    assert items[0] == {"apiVersion": "v1", "kind": "Secret",
                        "metadata": {"name": "tls", "namespace": "ns"}}
    assert "c2VjcmV0" not in orjson.dumps(items).decode()


def test_a_replicasets_annotations_are_kept_and_events_keep_what_is_read() -> None:
    rs_decoder, event_decoder = slim_decoders()[k.REPLICA_SETS.key], slim_decoders()[k.EVENTS.key]
    annotations = {"deployment.kubernetes.io/revision": "1", "deployment.kubernetes.io/max-replicas": "2"}
    first, second = rs_decoder(orjson.dumps({"metadata": {}, "items": [
        {"metadata": {"name": n, "annotations": annotations}} for n in ("a", "b")]}))["items"]
    assert first["metadata"]["annotations"] == second["metadata"]["annotations"] == annotations
    event = {"metadata": {"name": "rs.1", "namespace": "ns"}, "reason": "FailedCreate",
             "involvedObject": {"kind": "ReplicaSet", "namespace": "ns", "name": "rs"},
             "source": {"component": "replicaset-controller"}, "action": "Create",
             "reportingComponent": "replicaset-controller", "reportingInstance": "",
             "related": {"kind": "Pod", "name": "p"}, "message": "Error creating: …", "count": 3}
    slim = event_decoder(orjson.dumps({"metadata": {}, "items": [event]}))["items"][0]
    # what it did, the second object and the reporter's instance are read by nothing: not kept
    assert slim == {key: value for key, value in event.items()
                    if key not in ("action", "reportingInstance", "related")}
    assert slim["source"] == {"component": "replicaset-controller"}  # kubectl describe's From
    assert trim_event(orjson.loads(orjson.dumps(event))) == slim
