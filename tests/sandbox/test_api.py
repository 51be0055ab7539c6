"""API semantics through the official client over HTTPS (no monkey-patching)."""

from __future__ import annotations

import json

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from runbook.sandbox import Sandbox
from tests.sandbox.conftest import bare_sandbox, make_api
from tests.sandbox.helpers import deployment, ns_manifest, raw, status_of


def cm(name: str, namespace: str = "default", labels: dict[str, str] | None = None,
       data: dict[str, str] | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
            "data": data or {}}


# ---------------------------------------------------------------------------- CRUD, metadata


def test_crud_resource_version_uid_generation(core: client.CoreV1Api, apps: client.AppsV1Api,
                                              sandbox: Sandbox) -> None:
    created = core.create_namespaced_config_map("default", cm("one", data={"a": "1"}))
    rv1 = int(created.metadata.resource_version)
    assert created.metadata.uid and created.metadata.creation_timestamp
    assert created.metadata.creation_timestamp.isoformat().startswith("2023-10-27T06:00:00")
    got = core.read_namespaced_config_map("one", "default")
    assert got.data == {"a": "1"} and got.metadata.uid == created.metadata.uid
    got.data["b"] = "2"
    updated = core.replace_namespaced_config_map("one", "default", got)
    assert int(updated.metadata.resource_version) > rv1
    assert updated.metadata.uid == created.metadata.uid
    # the resourceVersion is cluster-wide: another kind's write takes the next number
    dep = apps.create_namespaced_deployment("default", deployment("web", "default"))
    assert int(dep.metadata.resource_version) > int(updated.metadata.resource_version)
    assert dep.metadata.generation == 1
    dep.spec.replicas = 3
    assert apps.replace_namespaced_deployment("web", "default", dep).metadata.generation == 2
    dep2 = apps.read_namespaced_deployment("web", "default")
    dep2.metadata.labels["extra"] = "yes"
    assert apps.replace_namespaced_deployment("web", "default", dep2).metadata.generation == 2
    named = core.create_namespaced_config_map(
        "default", {"metadata": {"generateName": "gen-"}, "data": {}})
    assert named.metadata.name.startswith("gen-") and len(named.metadata.name) == 9
    listed = core.list_namespaced_config_map("default")
    assert {"one", named.metadata.name} <= {i.metadata.name for i in listed.items}
    assert int(listed.metadata.resource_version) == sandbox.store.resource_version
    core.delete_namespaced_config_map("one", "default")
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_config_map("one", "default")
    assert exc.value.status == 404


def test_noop_update_keeps_resource_version(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_config_map("default", cm("same", data={"k": "v"}))
    again = core.replace_namespaced_config_map("same", "default", created)
    assert again.metadata.resource_version == created.metadata.resource_version


def test_stale_resource_version_is_a_conflict(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_config_map("default", cm("race"))
    fresh = core.read_namespaced_config_map("race", "default")
    fresh.data = {"winner": "first"}
    core.replace_namespaced_config_map("race", "default", fresh)
    created.data = {"winner": "second"}
    with pytest.raises(ApiException) as exc:
        core.replace_namespaced_config_map("race", "default", created)
    body = status_of(exc.value)
    assert exc.value.status == 409 and body["reason"] == "Conflict"
    assert body["message"] == ('Operation cannot be fulfilled on configmaps "race": the object has been '
                               "modified; please apply your changes to the latest version and try again")
    assert body["details"] == {"name": "race", "kind": "configmaps"}


def test_already_exists_and_not_found(core: client.CoreV1Api, apps: client.AppsV1Api) -> None:
    core.create_namespaced_config_map("default", cm("dup"))
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map("default", cm("dup"))
    body = status_of(exc.value)
    assert (exc.value.status, body["reason"], body["message"]) == (
        409, "AlreadyExists", 'configmaps "dup" already exists')
    with pytest.raises(ApiException) as exc:
        apps.read_namespaced_deployment("nope", "default")
    body = status_of(exc.value)
    assert body["message"] == 'deployments.apps "nope" not found'
    assert body["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map("missing", cm("x", namespace="missing"))
    body = status_of(exc.value)
    assert (exc.value.status, body["message"]) == (404, 'namespaces "missing" not found')


def test_invalid_objects_get_422_with_causes(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map("default", cm("Foo_Bar"))
    body = status_of(exc.value)
    assert exc.value.status == 422 and body["reason"] == "Invalid"
    assert body["message"].startswith(
        'ConfigMap "Foo_Bar" is invalid: metadata.name: Invalid value: "Foo_Bar"')
    assert body["details"]["kind"] == "ConfigMap"
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map("default", {"metadata": {}, "data": {}})
    cause = status_of(exc.value)["details"]["causes"][0]
    assert cause["field"] == "metadata.name" and cause["reason"] == "FieldValueRequired"
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_pod("default", pod)
    assert "spec.containers[0].image" in [c["field"] for c in status_of(exc.value)["details"]["causes"]]


# ---------------------------------------------------------------------------- authn/authz


def test_readonly_token_gets_403_with_the_real_shape(sandbox: Sandbox) -> None:
    ro = make_api(sandbox, context="sandbox-readonly")
    try:
        core = client.CoreV1Api(ro)
        assert core.list_namespace().items  # reads work
        with pytest.raises(ApiException) as exc:
            core.patch_namespace("default", {"metadata": {"labels": {"a": "b"}}})
        body = status_of(exc.value)
        assert exc.value.status == 403 and body["reason"] == "Forbidden"
        assert body["message"] == ('namespaces "default" is forbidden: User "sandbox-readonly" cannot '
                                   'patch resource "namespaces" in API group "" at the cluster scope')
        with pytest.raises(ApiException) as exc:
            client.AppsV1Api(ro).create_namespaced_deployment("default", deployment("d", "default"))
        assert status_of(exc.value)["message"] == (
            'deployments.apps is forbidden: User "sandbox-readonly" cannot create resource '
            '"deployments" in API group "apps" in the namespace "default"')
    finally:
        ro.close()


def test_missing_or_wrong_token_is_401(sandbox: Sandbox) -> None:
    for token in (None, "wrong"):
        code, _, body = raw(sandbox, "GET", "/api/v1/namespaces", token=token)
        assert code == 401
        assert json.loads(body)["reason"] == "Unauthorized"
    assert raw(sandbox, "GET", "/version", token=None)[0] == 200  # public, like the real one
    assert raw(sandbox, "GET", "/version", token="wrong")[0] == 401


# ---------------------------------------------------------------------------- selectors


def test_label_selectors_equality_and_set_based(core: client.CoreV1Api) -> None:
    for name, labels in [("a", {"app": "web", "tier": "front"}), ("b", {"app": "web"}),
                         ("c", {"app": "db", "tier": "back"}), ("d", {})]:
        core.create_namespaced_config_map("default", cm(name, labels=labels))

    def names(selector: str) -> list[str]:
        items = core.list_namespaced_config_map("default", label_selector=selector).items
        return sorted(i.metadata.name for i in items if i.metadata.name != "kube-root-ca.crt")

    assert names("app=web") == ["a", "b"]
    assert names("app!=web") == ["c", "d"]
    assert names("app in (web,db),tier") == ["a", "c"]
    assert names("tier notin (front)") == ["b", "c", "d"]
    assert names("!tier") == ["b", "d"]
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_config_map("default", label_selector="app in (web")
    assert exc.value.status == 400


def test_field_selectors(core: client.CoreV1Api, sandbox: Sandbox) -> None:
    for name, phase, node in [("p1", "Running", "sandbox-node"), ("p2", "Pending", "")]:
        sandbox.cluster.create(
            sandbox.cluster.kinds.by_key("pods"), "default",  # type: ignore[arg-type]
            {"metadata": {"name": name}, "spec": {"nodeName": node or None,
                                                  "containers": [{"name": "c", "image": "i"}]},
             "status": {"phase": phase}}, _system(), keep_status=True)
    running = core.list_namespaced_pod("default", field_selector="status.phase=Running").items
    assert [p.metadata.name for p in running] == ["p1"]
    on_node = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=sandbox-node").items
    assert [p.metadata.name for p in on_node] == ["p1"]
    assert [p.metadata.name for p in core.list_namespaced_pod(
        "default", field_selector="metadata.name!=p1").items] == ["p2"]
    pod = core.read_namespaced_pod("p1", "default")
    event = {"metadata": {"name": "p1.1"}, "type": "Warning", "reason": "FailedCreate",
             "message": "boom", "source": {"component": "replicaset-controller"},
             "involvedObject": {"kind": "Pod", "name": "p1", "namespace": "default",
                                "uid": pod.metadata.uid}}
    core.create_namespaced_event("default", event)
    core.create_namespaced_event("default", {**event, "metadata": {"name": "other"}, "type": "Normal",
                                             "involvedObject": {"kind": "Pod", "name": "p2"}})
    selector = (f"involvedObject.name=p1,involvedObject.namespace=default,involvedObject.kind=Pod,"
                f"involvedObject.uid={pod.metadata.uid}")
    events = core.list_namespaced_event("default", field_selector=selector).items
    assert [e.metadata.name for e in events] == ["p1.1"]
    warnings = core.list_event_for_all_namespaces(field_selector="type=Warning,reason=FailedCreate")
    assert len(warnings.items) == 1
    by_source = core.list_event_for_all_namespaces(field_selector="source=replicaset-controller")
    assert len(by_source.items) == 2
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_pod("default", field_selector="spec.foo=bar")
    body = status_of(exc.value)
    assert (exc.value.status, body["reason"], body["message"]) == (
        400, "BadRequest", "field label not supported: spec.foo")


def _system():  # type: ignore[no-untyped-def]
    from runbook.sandbox.registry.cluster import SYSTEM

    return SYSTEM


# ---------------------------------------------------------------------------- pagination


def test_pagination_with_remaining_count_and_continue(core: client.CoreV1Api, sandbox: Sandbox) -> None:
    kind = sandbox.cluster.kinds.by_key("configmaps")
    assert kind is not None
    core.create_namespace(ns_manifest("many"))
    for i in range(2500):
        sandbox.cluster.create(kind, "many", cm(f"cm-{i:05d}", "many"), _system())
    first = core.list_namespaced_config_map("many", limit=1000)
    assert len(first.items) == 1000
    assert first.metadata.remaining_item_count == 1500
    names = [i.metadata.name for i in first.items]
    token = first.metadata._continue
    while token:
        page = core.list_namespaced_config_map("many", limit=1000, _continue=token)
        assert page.metadata.resource_version == first.metadata.resource_version
        names += [i.metadata.name for i in page.items]
        token = page.metadata._continue
    assert names == [f"cm-{i:05d}" for i in range(2500)]
    # the last page says nothing is left; a selector suppresses the count (as upstream)
    assert page.metadata.remaining_item_count is None
    labelled = core.list_config_map_for_all_namespaces(limit=10, label_selector="!nothing")
    assert labelled.metadata._continue and labelled.metadata.remaining_item_count is None
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_config_map("many", limit=10, _continue="not-a-token")
    assert exc.value.status == 400 and "invalid continue token" in status_of(exc.value)["message"]


def test_expired_continue_token_is_410() -> None:
    with bare_sandbox(history=5) as sb:
        api = make_api(sb)
        try:
            core = client.CoreV1Api(api)
            for i in range(3):
                core.create_namespaced_config_map("default", cm(f"c{i}"))
            first = core.list_namespaced_config_map("default", limit=1)
            for i in range(10):  # push the first page's resourceVersion out of the history
                core.patch_namespaced_config_map("c0", "default", {"data": {"n": str(i)}})
            with pytest.raises(ApiException) as exc:
                core.list_namespaced_config_map("default", limit=1, _continue=first.metadata._continue)
            body = status_of(exc.value)
            assert (exc.value.status, body["reason"]) == (410, "Expired")
            assert body["message"].startswith("The provided continue parameter is too old")
        finally:
            api.close()


# ---------------------------------------------------------------------------- watch


def test_watch_from_a_resource_version(core: client.CoreV1Api) -> None:
    start = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", cm("w", labels={"app": "x"}))
    core.patch_namespaced_config_map("w", "default", {"data": {"k": "v"}})
    core.delete_namespaced_config_map("w", "default")
    events = []
    for event in watch.Watch().stream(core.list_namespaced_config_map, "default",
                                      resource_version=start, timeout_seconds=1):
        events.append((event["type"], event["object"].metadata.name))
        if len(events) == 3:
            break
    assert events == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


def test_watch_without_version_lists_first_then_follows_label_transitions(
        core: client.CoreV1Api, sandbox: Sandbox) -> None:
    core.create_namespaced_config_map("default", cm("pre", labels={"app": "x"}))
    stream = watch.Watch()
    events: list[tuple[str, str]] = []
    for event in stream.stream(core.list_namespaced_config_map, "default", label_selector="app=x",
                               timeout_seconds=5):
        events.append((event["type"], event["object"].metadata.name))
        if len(events) == 1:
            # leaves the selector → DELETED; comes back → ADDED
            core.patch_namespaced_config_map("pre", "default", {"metadata": {"labels": {"app": "y"}}})
            core.patch_namespaced_config_map("pre", "default", {"metadata": {"labels": {"app": "x"}}})
        if len(events) == 3:
            stream.stop()
    assert events == [("ADDED", "pre"), ("DELETED", "pre"), ("ADDED", "pre")]


def test_watch_too_old_resource_version_is_410() -> None:
    with bare_sandbox(history=3) as sb:
        api = make_api(sb)
        try:
            core = client.CoreV1Api(api)
            for i in range(6):
                core.create_namespaced_config_map("default", cm(f"c{i}"))
            with pytest.raises(ApiException) as exc:
                for _ in watch.Watch().stream(core.list_namespaced_config_map, "default",
                                              resource_version="1", timeout_seconds=2):
                    pass
            assert exc.value.status == 410
        finally:
            api.close()


def test_watch_bookmarks_and_timeout(sandbox: Sandbox) -> None:
    sandbox.server.bookmark_interval = 0.05
    code, _, body = raw(sandbox, "GET", "/api/v1/namespaces/default/configmaps?watch=true&"
                        "allowWatchBookmarks=true&timeoutSeconds=1&resourceVersion="
                        f"{sandbox.store.resource_version}")
    assert code == 200
    events = [json.loads(line) for line in body.splitlines()]
    assert events and {e["type"] for e in events} == {"BOOKMARK"}
    assert events[0]["object"]["metadata"]["resourceVersion"] == str(sandbox.store.resource_version)


# ---------------------------------------------------------------------------- patches, apply


def test_json_merge_and_strategic_patches(apps: client.AppsV1Api) -> None:
    apps.create_namespaced_deployment("default", deployment("p", "default"))
    apps.api_client.set_default_header("x", "y")
    merged = apps.patch_namespaced_deployment(
        "p", "default", {"metadata": {"labels": {"team": "a"}}},
        _content_type="application/merge-patch+json")
    assert merged.metadata.labels == {"app": "p", "team": "a"}
    jsonp = apps.patch_namespaced_deployment(
        "p", "default", [{"op": "replace", "path": "/spec/replicas", "value": 2}],
        _content_type="application/json-patch+json")
    assert jsonp.spec.replicas == 2
    # strategic: containers merge by name (a merge patch would replace the list)
    strategic = apps.patch_namespaced_deployment(
        "p", "default", {"spec": {"template": {"spec": {"containers": [
            {"name": "sidecar", "image": "envoy:1"}]}}}},
        _content_type="application/strategic-merge-patch+json")
    assert [c.name for c in strategic.spec.template.spec.containers] == ["sidecar", "main"]
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment(
            "p", "default", [{"op": "test", "path": "/spec/replicas", "value": 9}],
            _content_type="application/json-patch+json")
    assert exc.value.status == 422


def test_server_side_apply_with_field_managers(core: client.CoreV1Api) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"},
            "data": {"owned": "a", "shared": "1"}}
    first = core.patch_namespaced_config_map("ssa", "default", body, field_manager="alice",
                                             _content_type="application/apply-patch+yaml")
    assert first.data == {"owned": "a", "shared": "1"}
    managers = [(m.manager, m.operation) for m in first.metadata.managed_fields]
    assert managers == [("alice", "Apply")]
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"},
             "data": {"shared": "2"}}
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_config_map("ssa", "default", other, field_manager="bob",
                                         _content_type="application/apply-patch+yaml")
    body409 = status_of(exc.value)
    assert exc.value.status == 409 and body409["message"].startswith("Apply failed with 1 conflict")
    forced = core.patch_namespaced_config_map("ssa", "default", other, field_manager="bob",
                                              force=True, _content_type="application/apply-patch+yaml")
    assert forced.data == {"owned": "a", "shared": "2"}
    # alice stops applying "owned": it goes away (nobody else owns it)
    again = core.patch_namespaced_config_map(
        "ssa", "default", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"},
                           "data": {}}, field_manager="alice",
        _content_type="application/apply-patch+yaml")
    assert again.data == {"shared": "2"}



def _fields_of(sb: Sandbox, path: str, manager: str) -> tuple[str, dict[str, object]]:
    """(apiVersion, fieldsV1) of ``manager``'s entry in the object at ``path``."""
    code, _, body = raw(sb, "GET", path)
    assert code == 200
    entry = next(e for e in json.loads(body)["metadata"]["managedFields"]
                 if e["manager"] == manager)
    return entry["apiVersion"], entry["fieldsV1"]


def test_managed_fields_leave_out_what_the_registry_fills_in_later(sandbox: Sandbox) -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
    code, _, _ = raw(sandbox, "POST", "/api/v1/namespaces/default/services?fieldManager=me",
                     json.dumps(svc))
    assert code == 201
    _, fields = _fields_of(sandbox, "/api/v1/namespaces/default/services/web", "me")
    spec = fields["f:spec"]
    assert isinstance(spec, dict)
    # allocated by the REST layer after the field manager ran (kube-apiserver 1.37 measured)
    assert not {"f:clusterIP", "f:clusterIPs", "f:ipFamilies", "f:ipFamilyPolicy"} & set(spec)
    assert {"f:ports", "f:selector", "f:sessionAffinity", "f:type"} <= set(spec)
    code, _, _ = raw(sandbox, "POST", "/api/v1/namespaces?fieldManager=me", json.dumps(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mf"}}))
    assert code == 201
    _, fields = _fields_of(sandbox, "/api/v1/namespaces/mf", "me")
    assert fields == {"f:metadata": {"f:labels": {".": {}, "f:kubernetes.io/metadata.name": {}}}}


def test_an_event_written_through_events_k8s_io_records_its_fields_in_that_shape(
        sandbox: Sandbox) -> None:
    event = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "ev"},
             "eventTime": "2026-01-01T00:00:00.000000Z", "regarding": {"kind": "Pod", "name": "p"},
             "reason": "Tested", "note": "a note", "type": "Normal", "action": "Test",
             "reportingController": "me", "reportingInstance": "me-1"}
    code, _, _ = raw(sandbox, "POST",
                     "/apis/events.k8s.io/v1/namespaces/default/events?fieldManager=me",
                     json.dumps(event))
    assert code == 201
    version, fields = _fields_of(sandbox, "/api/v1/namespaces/default/events/ev", "me")
    assert version == "events.k8s.io/v1"
    assert set(fields) == {"f:action", "f:eventTime", "f:note", "f:reason", "f:regarding",
                           "f:reportingController", "f:reportingInstance", "f:type"}


# ---------------------------------------------------------------------------- dry run


def test_dry_run_validates_and_returns_but_stores_nothing(core: client.CoreV1Api, apps: client.AppsV1Api,
                                                          sandbox: Sandbox) -> None:
    rv = sandbox.store.resource_version
    made = core.create_namespaced_config_map("default", cm("dry"), dry_run="All")
    assert made.metadata.name == "dry" and made.metadata.uid
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map("default", cm("Bad_Name"), dry_run="All")
    assert exc.value.status == 422
    apps.create_namespaced_deployment("default", deployment("real", "default"))
    rv = sandbox.store.resource_version
    patched = apps.patch_namespaced_deployment("real", "default", {"spec": {"replicas": 5}},
                                               dry_run="All")
    assert patched.spec.replicas == 5
    apps.delete_namespaced_deployment("real", "default", dry_run="All")
    assert sandbox.store.resource_version == rv
    assert apps.read_namespaced_deployment("real", "default").spec.replicas == 1
    assert sandbox.store.get("configmaps", "default", "dry") is None


# ---------------------------------------------------------------------------- deletion, GC


def _owned_chain(sandbox: Sandbox, apps: client.AppsV1Api, core: client.CoreV1Api, name: str
                 ) -> tuple[str, str]:
    dep = apps.create_namespaced_deployment("default", deployment(name, "default"))
    rs_body = {"metadata": {"name": f"{name}-1", "labels": {"app": name},
                            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                                 "name": name, "uid": dep.metadata.uid,
                                                 "controller": True, "blockOwnerDeletion": True}]},
               "spec": {"selector": {"matchLabels": {"app": name}},
                        "template": {"metadata": {"labels": {"app": name}},
                                     "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    rs = apps.create_namespaced_replica_set("default", rs_body)
    core.create_namespaced_pod("default", {
        "metadata": {"name": f"{name}-1-abcde", "labels": {"app": name},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                          "name": rs.metadata.name, "uid": rs.metadata.uid,
                                          "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"containers": [{"name": "c", "image": "i"}]}})
    return rs.metadata.name, f"{name}-1-abcde"


@pytest.mark.parametrize("policy", ["Background", "Foreground", "Orphan"])
def test_deletion_propagation(policy: str, sandbox: Sandbox, apps: client.AppsV1Api,
                              core: client.CoreV1Api) -> None:
    rs_name, pod_name = _owned_chain(sandbox, apps, core, "gc")
    apps.delete_namespaced_deployment("gc", "default", propagation_policy=policy)
    sandbox.settle()
    with pytest.raises(ApiException):
        apps.read_namespaced_deployment("gc", "default")
    rs = sandbox.store.get("replicasets.apps", "default", rs_name)
    pod = sandbox.store.get("pods", "default", pod_name)
    if policy == "Orphan":
        assert rs is not None and not rs["metadata"].get("ownerReferences")
        assert pod is not None and pod["metadata"]["ownerReferences"]  # its owner (the RS) lives
    else:
        assert rs is None and pod is None


def test_foreground_answer_carries_the_deletion_timestamp(sandbox: Sandbox, apps: client.AppsV1Api,
                                                          core: client.CoreV1Api) -> None:
    _owned_chain(sandbox, apps, core, "fg")
    code, _, body = raw(sandbox, "DELETE", "/apis/apps/v1/namespaces/default/deployments/fg",
                        json.dumps({"propagationPolicy": "Foreground"}))
    answer = json.loads(body)
    assert code == 200 and answer["metadata"]["deletionTimestamp"]
    assert "foregroundDeletion" in answer["metadata"]["finalizers"]
    assert sandbox.store.get("deployments.apps", "default", "fg") is None


def test_finalizers_hold_an_object_until_removed(core: client.CoreV1Api, sandbox: Sandbox) -> None:
    core.create_namespaced_config_map("default", {**cm("held"), "metadata": {
        "name": "held", "finalizers": ["example.com/hold"]}})
    core.delete_namespaced_config_map("held", "default")
    held = core.read_namespaced_config_map("held", "default")
    assert held.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("held", "default", {"metadata": {"finalizers": None}})
    assert sandbox.store.get("configmaps", "default", "held") is None


def test_namespace_deletion_terminates_then_removes_contents(core: client.CoreV1Api,
                                                             apps: client.AppsV1Api,
                                                             sandbox: Sandbox) -> None:
    core.create_namespace(ns_manifest("doomed"))
    sandbox.settle()
    assert core.read_namespaced_service_account("default", "doomed")  # the SA controller's
    apps.create_namespaced_deployment("doomed", deployment("d", "doomed"))
    core.create_namespaced_config_map("doomed", {**cm("held", "doomed"), "metadata": {
        "name": "held", "namespace": "doomed", "finalizers": ["example.com/hold"]}})
    code, _, answer = raw(sandbox, "DELETE", "/api/v1/namespaces/doomed")
    assert code == 200 and json.loads(answer)["status"]["phase"] == "Terminating"
    sandbox.settle()
    ns = core.read_namespace("doomed")
    assert ns.status.phase == "Terminating" and ns.metadata.deletion_timestamp
    assert sandbox.store.get("deployments.apps", "doomed", "d") is None
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map("doomed", cm("late", "doomed"))
    body = status_of(exc.value)
    assert (exc.value.status, body["reason"]) == (403, "Forbidden")
    assert body["message"] == ('configmaps "late" is forbidden: unable to create new content in '
                               "namespace doomed because it is being terminated")
    core.patch_namespaced_config_map("held", "doomed", {"metadata": {"finalizers": None}})
    sandbox.settle()
    with pytest.raises(ApiException) as exc:
        core.read_namespace("doomed")
    assert exc.value.status == 404


def test_delete_collection(core: client.CoreV1Api, sandbox: Sandbox) -> None:
    for name, labels in [("x1", {"del": "yes"}), ("x2", {"del": "yes"}), ("x3", {})]:
        core.create_namespaced_config_map("default", cm(name, labels=labels))
    core.delete_collection_namespaced_config_map("default", label_selector="del=yes")
    left = {o["metadata"]["name"] for o in sandbox.store.objects("configmaps", "default")}
    assert "x3" in left and not {"x1", "x2"} & left


# ---------------------------------------------------------------------------- subresources


def test_status_subresource_semantics(apps: client.AppsV1Api) -> None:
    apps.create_namespaced_deployment("default", {**deployment("s", "default"),
                                                  "status": {"replicas": 7}})
    dep = apps.read_namespaced_deployment("s", "default")
    assert not (dep.status.replicas or 0)  # status of a create is ignored
    dep.status = client.V1DeploymentStatus(replicas=3)
    dep.spec.replicas = 4
    after = apps.replace_namespaced_deployment_status("s", "default", dep)
    assert after.status.replicas == 3 and after.spec.replicas == 1  # only status changed
    after.status.replicas = 9
    after.spec.replicas = 2
    main = apps.replace_namespaced_deployment("s", "default", after)
    assert main.status.replicas == 3 and main.spec.replicas == 2  # only non-status changed


def test_scale_subresource(apps: client.AppsV1Api) -> None:
    apps.create_namespaced_deployment("default", deployment("sc", "default", replicas=2))
    scale = apps.read_namespaced_deployment_scale("sc", "default")
    assert (scale.spec.replicas, scale.status.selector) == (2, "app=sc")
    apps.patch_namespaced_deployment_scale("sc", "default", {"spec": {"replicas": 5}})
    assert apps.read_namespaced_deployment("sc", "default").spec.replicas == 5


# ---------------------------------------------------------------------------- CRDs


@pytest.mark.parametrize(("fixture", "versions"), [
    ("crds-networking.yaml", ["v1beta1", "v1alpha3"]),
    ("crds-networking-head.yaml", ["v1", "v1beta1", "v1alpha3"]),
])
def test_crds_make_istio_kinds_servable(fixture: str, versions: list[str], upstream, api,  # type: ignore[no-untyped-def]
                                        sandbox: Sandbox) -> None:
    import yaml

    ext = client.ApiextensionsV1Api(api)
    for doc in yaml.safe_load_all((upstream / fixture).read_text()):
        if doc:
            ext.create_custom_resource_definition(doc)
    custom = client.CustomObjectsApi(api)
    resources = client.ApisApi(api).get_api_versions()
    istio = next(g for g in resources.groups if g.name == "networking.istio.io")
    assert [v.version for v in istio.versions] == versions
    vs = {"apiVersion": f"networking.istio.io/{versions[-1]}", "kind": "VirtualService",
          "metadata": {"name": "bookinfo"},
          "spec": {"hosts": ["*"], "gateways": ["bookinfo-gateway"],
                   "http": [{"route": [{"destination": {"host": "productpage",
                                                         "port": {"number": 9080}}}]}]}}
    custom.create_namespaced_custom_object("networking.istio.io", versions[-1], "default",
                                           "virtualservices", vs)
    for version in versions:
        got = custom.get_namespaced_custom_object("networking.istio.io", version, "default",
                                                  "virtualservices", "bookinfo")
        assert got["apiVersion"] == f"networking.istio.io/{version}"
        assert got["spec"]["gateways"] == ["bookinfo-gateway"]
    for plural in ("gateways", "destinationrules"):
        assert custom.list_namespaced_custom_object("networking.istio.io", versions[0], "default",
                                                    plural)["items"] == []
    ext.delete_custom_resource_definition("virtualservices.networking.istio.io")
    with pytest.raises(ApiException) as exc:
        custom.list_namespaced_custom_object("networking.istio.io", versions[0], "default",
                                             "virtualservices")
    assert exc.value.status == 404
    assert sandbox.store.count("virtualservices.networking.istio.io") == 0


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("method", "path", "body", "ctype", "code", "needle"), [
    ("POST", "/api/v1/namespaces/default/configmaps", "{not json", "application/json", 400,
     "json parse error"),
    ("POST", "/api/v1/namespaces/default/configmaps", "[1, 2]", "application/json", 400,
     "unrecognized"),
    ("POST", "/api/v1/namespaces/default/configmaps",
     '{"apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "x"}}',
     "application/json", 400, "does not match the expected API version"),
    ("POST", "/api/v1/namespaces/default/configmaps",
     '{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}', "application/json", 400,
     "does not match the expected kind"),
    ("POST", "/api/v1/namespaces/default/widgets", "{}", "application/json", 404,
     "could not find the requested resource"),
    ("GET", "/apis/nope.example.com/v1/things", None, "application/json", 404,
     "could not find the requested resource"),
    ("POST", "/api/v1/namespaces/default/configmaps/x", "{}", "application/json", 405, "not allow"),
    ("PATCH", "/api/v1/namespaces/default/configmaps/kube-root", "{}", "text/plain", 415,
     "415: Unsupported Media Type"),
    ("PUT", "/api/v1/namespaces/default/configmaps/other",
     '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}', "application/json",
     400, "does not match the name on the URL"),
    ("POST", "/api/v1/namespaces/default/configmaps",
     '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "other"}}',
     "application/json", 400, "namespace of the provided object does not match"),
])
def test_bad_input_gets_a_status_and_changes_nothing(sandbox: Sandbox, method: str, path: str,
                                                     body: str | None, ctype: str, code: int,
                                                     needle: str) -> None:
    rv = sandbox.store.resource_version
    got, _, answer = raw(sandbox, method, path, body, content_type=ctype)
    status = json.loads(answer)
    assert (got, status["kind"], status["code"]) == (code, "Status", code)
    assert needle in status["message"]
    assert sandbox.store.resource_version == rv
    assert raw(sandbox, "GET", "/api/v1/namespaces")[0] == 200  # still serving


def test_oversized_body_is_413(sandbox: Sandbox) -> None:
    big = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
                      "data": {"x": "a" * (4 * 1024 * 1024)}})
    code, _, answer = raw(sandbox, "POST", "/api/v1/namespaces/default/configmaps", big)
    assert code == 413 and json.loads(answer)["reason"] == "RequestEntityTooLarge"
    assert sandbox.store.get("configmaps", "default", "big") is None


def test_events_k8s_io_and_core_events_are_one_store(api: client.ApiClient) -> None:
    core, events = client.CoreV1Api(api), client.EventsV1Api(api)
    core.create_namespaced_event("default", {
        "metadata": {"name": "rs.1"}, "type": "Warning", "reason": "FailedCreate", "message": "boom",
        "count": 3, "source": {"component": "replicaset-controller"},
        "involvedObject": {"kind": "ReplicaSet", "name": "rs", "namespace": "default"}})
    # raw JSON: the typed EventsV1Event refuses the null eventTime a core Event converts to
    seen = json.loads(events.list_namespaced_event("default", field_selector="regarding.name=rs",
                                                   _preload_content=False).data)["items"]
    assert [(e["metadata"]["name"], e["note"], e["deprecatedCount"], e["regarding"]["kind"],
             e["eventTime"]) for e in seen] == [("rs.1", "boom", 3, "ReplicaSet", None)]
    events.create_namespaced_event("default", {
        "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "pod.2"},
        "eventTime": "2023-10-27T06:00:00.000000Z", "reportingController": "kubelet",
        "reportingInstance": "sandbox-node", "action": "Pulling", "reason": "Pulling",
        "type": "Normal", "note": "Pulling image", "regarding": {"kind": "Pod", "name": "p"}})
    back = core.read_namespaced_event("pod.2", "default")
    assert (back.message, back.reporting_component, back.involved_object.name) == (
        "Pulling image", "kubelet", "p")
    # an Event written through events.k8s.io/v1 keeps its note there (422, as on a real
    # server); core/v1 may still change it
    with pytest.raises(ApiException) as exc:
        events.patch_namespaced_event("pod.2", "default", {"note": "Pulled"})
    assert exc.value.status == 422
    core.patch_namespaced_event("pod.2", "default", {"message": "Pulled"})
    assert events.read_namespaced_event("pod.2", "default").note == "Pulled"
    events.delete_namespaced_event("rs.1", "default")
    assert [e.metadata.name for e in core.list_namespaced_event("default").items] == ["pod.2"]


def test_wrong_json_types_are_400_and_never_reach_the_store(sandbox: Sandbox) -> None:
    cases = [
        ("/api/v1/namespaces/default/configmaps", {"metadata": {"name": 123}}, "metadata.name"),
        ("/api/v1/namespaces/default/configmaps", {"metadata": {"generateName": 5}},
         "metadata.generateName"),
        ("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "f", "finalizers": [1]}},
         "metadata.finalizers"),
        ("/apis/apps/v1/namespaces/default/deployments", {"metadata": {"name": "d"}, "spec": "x"},
         "wrong type"),
        ("/api/v1/namespaces/default/services", {"metadata": {"name": "s"}, "spec": {"ports": "x"}},
         "wrong type"),
    ]
    rv = sandbox.store.resource_version
    for path, body, needle in cases:
        code, _, answer = raw(sandbox, "POST", path, json.dumps(body))
        assert code == 400 and needle in json.loads(answer)["message"], answer
    assert sandbox.store.resource_version == rv
    assert raw(sandbox, "GET", "/api/v1/configmaps")[0] == 200


def test_failed_and_dry_run_service_creates_allocate_nothing(core: client.CoreV1Api,
                                                            sandbox: Sandbox) -> None:
    allocator = sandbox.cluster.allocator
    svc = {"metadata": {"name": "np"}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}}
    dry = core.create_namespaced_service("default", svc, dry_run="All")
    assert dry.spec.cluster_ip and dry.spec.ports[0].node_port  # shown, as the real dry run does
    with pytest.raises(ApiException):
        core.create_namespaced_service("default", {**svc, "metadata": {"name": "Bad_Name"}})
    created = core.create_namespaced_service("default", svc)
    assert allocator.in_use(created.spec.cluster_ip)
    assert allocator.in_use(created.spec.ports[0].node_port)
    assert not allocator.in_use(dry.spec.cluster_ip)  # given back
    assert not allocator.in_use(dry.spec.ports[0].node_port)
    core.delete_namespaced_service("np", "default")
    assert not allocator.in_use(created.spec.cluster_ip)
