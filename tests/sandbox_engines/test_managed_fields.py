"""managedFields as kube-apiserver 1.37 records them (measured with ``python -m tests.differential
--case api/`` on the real engine): what an update owns, the ``.`` entries, what it never owns."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from runbook.sandbox.registry.patching import PatchError
from runbook.sandbox.registry.patching.managed_fields import (
    apply_patch,
    field_manager_view,
    fields_from_json,
    path_string,
    track_update,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _owned(entries: list[dict[str, Any]], manager: str = "writer") -> set[str]:
    """The fields ``manager``'s entry owns, as structured-merge-diff prints paths, with a
    trailing ``.`` for a map or list it owns as well as members in it."""
    entry = next(e for e in entries if e["manager"] == manager)
    owned = set()
    for path in fields_from_json(entry["fieldsV1"]):
        owned.add(path_string(path))
    return owned


def _deployment() -> dict[str, Any]:
    # as stored after defaulting (the emulator defaults before the field manager reads it)
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "labels": {"app": "web"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}}


def test_a_create_owns_the_pointer_structs_it_adds_but_not_what_the_zero_value_holds() -> None:
    entries = track_update(None, _deployment(), "writer", "deployments.apps", now=NOW)
    fields = entries[0]["fieldsV1"]["f:spec"]
    # DeploymentStrategy.RollingUpdate is a pointer: absent from the zero value, added: "."
    assert "." in fields["f:strategy"]["f:rollingUpdate"]
    # strategy, template and containers (null) are in a zero Deployment: not added
    assert "." not in fields["f:strategy"]
    assert "." not in fields["f:template"]["f:spec"]["f:containers"]
    assert "." in fields["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    assert "f:metadata" in entries[0]["fieldsV1"]
    assert "." not in entries[0]["fieldsV1"]["f:metadata"]


def test_a_struct_inside_an_added_list_element_is_owned_with_its_members() -> None:
    webhooks = {"apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "MutatingWebhookConfiguration", "metadata": {"name": "w"},
                "webhooks": [{"name": "a.test", "clientConfig": {"url": "https://a.test"},
                              "sideEffects": "None"}]}
    key = "mutatingwebhookconfigurations.admissionregistration.k8s.io"
    fields = track_update(None, webhooks, "writer", key, now=NOW)[0]["fieldsV1"]
    assert fields["f:webhooks"]["."] == {}
    assert fields["f:webhooks"]['k:{"name":"a.test"}']["f:clientConfig"] == {
        ".": {}, "f:url": {}}


def test_what_a_zero_event_already_holds_is_nobodys() -> None:
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "ns"},
             "involvedObject": {"kind": "Pod", "name": "p"}, "source": {"component": "c"},
             "reason": "R", "message": "m", "type": "Normal", "eventTime": None,
             "firstTimestamp": None, "lastTimestamp": None, "reportingComponent": "",
             "reportingInstance": ""}
    owned = _owned(track_update(None, event, "writer", "events", now=NOW))
    assert owned == {".involvedObject", ".message", ".reason", ".source.component", ".type"}


def _service(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "ns"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCP"}],
                     **spec}}


def test_what_the_registry_allocates_later_is_nobodys_unless_the_writer_sent_it() -> None:
    allocated = {"clusterIP": "10.0.0.7", "clusterIPs": ["10.0.0.7"], "ipFamilies": ["IPv4"],
                 "ipFamilyPolicy": "SingleStack"}
    stored = _service(type="ClusterIP", **allocated)
    owned = _owned(track_update(None, stored, "writer", "services", now=NOW, sent=_service()))
    assert not {".spec.clusterIP", ".spec.clusterIPs", ".spec.ipFamilies",
                ".spec.ipFamilyPolicy"} & owned
    assert ".spec.type" in owned  # scheme defaulting runs before the field manager
    asked = _service(clusterIP="10.0.0.7")
    owned = _owned(track_update(None, stored, "writer", "services", now=NOW, sent=asked))
    assert ".spec.clusterIP" in owned and ".spec.clusterIPs" not in owned
    # the view leaves the stored object alone
    view = field_manager_view("services", stored, _service())
    assert "clusterIP" not in view["spec"] and stored["spec"]["clusterIP"] == "10.0.0.7"


def test_a_put_without_a_defaulted_struct_field_does_not_own_the_struct() -> None:
    created: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": "n"}, "spec": {"finalizers": ["kubernetes"]}}
    created["metadata"]["managedFields"] = track_update(
        None, created, "writer", "namespaces", now=NOW, sent={"metadata": {"name": "n"}})
    replaced = copy.deepcopy(created)
    replaced["metadata"]["annotations"] = {"team": "mesh"}
    sent = {"metadata": {"name": "n", "annotations": {"team": "mesh"}}}
    owned = _owned(track_update(created, replaced, "writer", "namespaces", now=NOW, sent=sent))
    assert owned == {".metadata.annotations", ".metadata.annotations.team"}


def _secret(password: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "ns"},
            "stringData": {"password": password}}


def test_a_field_another_manager_applied_conflicts_even_when_the_live_object_lacks_it() -> None:
    live = apply_patch(None, _secret("x"), "diff", False, "secrets", now=NOW).object
    live.pop("stringData")  # write-only: the registry turns it into data
    with pytest.raises(PatchError) as caught:
        apply_patch(copy.deepcopy(live), _secret("y"), "other", False, "secrets", now=NOW)
    assert caught.value.status == 409
    assert caught.value.message == ('Apply failed with 1 conflict: conflict with "diff": '
                                    ".stringData.password")
    forced = apply_patch(live, _secret("y"), "other", True, "secrets", now=NOW)
    # forced: the field is taken over, and diff's entry, left with nothing, goes
    assert [e["manager"] for e in forced.managed_fields] == ["other"]
