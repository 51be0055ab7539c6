"""Server-side apply and managedFields tracking."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from runbook.sandbox.registry.patching import (
    PatchError,
    apply_patch,
    fields_from_json,
    fields_to_json,
    path_string,
    track_update,
)

NOW = datetime(2024, 6, 20, 8, 0, tzinfo=UTC)
KEY = "deployments.apps"


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "details-v1", "namespace": "l7", "labels": {"app": "details"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "details"}},
                 "template": {"metadata": {"labels": {"app": "details"}}, "spec": {"containers": [
                     {"name": "details", "image": "details:1.18.0",
                      "ports": [{"containerPort": 9080}]}]}}},
    }


def _created_by_client_side_apply() -> dict[str, Any]:
    obj = _deployment()
    obj["metadata"]["managedFields"] = track_update(None, obj, "kubectl-client-side-apply", KEY,
                                                    now=NOW)
    return obj


def test_update_entry_has_the_real_fieldsv1_shape() -> None:
    entry = _created_by_client_side_apply()["metadata"]["managedFields"][0]
    assert {k: entry[k] for k in ("manager", "operation", "apiVersion", "time", "fieldsType")} == {
        "manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "apps/v1",
        "time": "2024-06-20T08:00:00Z", "fieldsType": "FieldsV1"}
    fields = entry["fieldsV1"]
    assert fields["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}
    assert fields["f:spec"]["f:selector"] == {}  # LabelSelector is atomic
    container = fields["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"details"}']
    assert container["."] == {}
    # an update owns the associative list itself too (measured on kube-apiserver 1.37)
    assert container["f:ports"] == {".": {}, 'k:{"containerPort":9080,"protocol":"TCP"}': {
        ".": {}, "f:containerPort": {}}}


def test_fieldsv1_round_trips_and_paths_print_like_structured_merge_diff() -> None:
    fields = _created_by_client_side_apply()["metadata"]["managedFields"][0]["fieldsV1"]
    paths = fields_from_json(fields)
    assert fields_to_json(paths) == fields
    texts = {path_string(p) for p in paths}
    assert ".spec.replicas" in texts
    assert '.spec.template.spec.containers[name="details"].image' in texts
    assert '.spec.template.spec.containers[name="details"].ports[containerPort=9080,' \
           'protocol="TCP"].containerPort' in texts


def test_conflict_with_client_side_apply_is_409_with_the_real_message() -> None:
    live = _created_by_client_side_apply()
    applied = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "details-v1"},
               "spec": {"replicas": 3}}
    with pytest.raises(PatchError) as caught:
        apply_patch(live, applied, "kubectl", False, KEY, now=NOW)
    err = caught.value
    assert (err.status, err.reason) == (409, "Conflict")
    assert str(err) == ('Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" '
                        "using apps/v1: .spec.replicas")
    assert [(c.field, c.reason, c.message) for c in err.causes] == [
        (".spec.replicas", "FieldManagerConflict",
         'conflict with "kubectl-client-side-apply" using apps/v1')]


def test_several_conflicts_are_listed_per_manager() -> None:
    live = _created_by_client_side_apply()
    applied = copy.deepcopy(_deployment())
    applied["spec"]["replicas"] = 2
    applied["spec"]["template"]["spec"]["containers"][0]["image"] = "details:1.19.0"
    with pytest.raises(PatchError) as caught:
        apply_patch(live, applied, "kubectl", False, KEY, now=NOW)
    assert str(caught.value) == (
        'Apply failed with 2 conflicts: conflicts with "kubectl-client-side-apply" using apps/v1:\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="details"].image')


def test_equal_values_are_shared_and_force_takes_fields_over() -> None:
    live = _created_by_client_side_apply()
    same = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "details-v1"},
            "spec": {"replicas": 1}}
    shared = apply_patch(live, same, "kubectl", False, KEY, now=NOW)
    owners = [e["manager"] for e in shared.managed_fields if "f:replicas" in e["fieldsV1"]["f:spec"]]
    assert owners == ["kubectl-client-side-apply", "kubectl"]

    forced = apply_patch(live, {**same, "spec": {"replicas": 5}}, "kubectl", True, KEY, now=NOW)
    assert forced.object["spec"]["replicas"] == 5
    by_manager = {e["manager"]: e for e in forced.managed_fields}
    assert "f:replicas" not in by_manager["kubectl-client-side-apply"]["fieldsV1"]["f:spec"]
    assert by_manager["kubectl"]["operation"] == "Apply"
    assert by_manager["kubectl"]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}


def test_fields_dropped_from_the_applied_config_are_removed_unless_owned_elsewhere() -> None:
    first = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
        "name": "details-v1", "labels": {"team": "bookinfo", "tier": "backend"}},
        "spec": {"replicas": 2}}
    created = apply_patch(None, first, "ci", False, KEY, now=NOW).object
    again = {**first, "metadata": {"name": "details-v1", "labels": {"team": "bookinfo"}}}
    result = apply_patch(created, again, "ci", False, KEY, now=NOW)
    assert result.object["metadata"]["labels"] == {"team": "bookinfo"}
    assert result.removed == [".metadata.labels.tier"]
    # a field another manager also applied stays
    other = apply_patch(created, {**first, "spec": {"replicas": 2}}, "other", False, KEY, now=NOW)
    kept = apply_patch(other.object, {**first, "spec": {}}, "ci", False, KEY, now=NOW)
    assert kept.object["spec"]["replicas"] == 2


def test_associative_lists_merge_by_key() -> None:
    live = _created_by_client_side_apply()
    applied = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "details-v1"},
               "spec": {"template": {"spec": {"containers": [
                   {"name": "proxy", "image": "istio/proxyv2:1.18.5"}]}}}}
    result = apply_patch(live, applied, "istio", False, KEY, now=NOW)
    names = [c["name"] for c in result.object["spec"]["template"]["spec"]["containers"]]
    assert names == ["details", "proxy"]


def test_apply_needs_a_field_manager_and_an_object() -> None:
    with pytest.raises(PatchError) as caught:
        apply_patch(None, {"kind": "Deployment"}, "", False, KEY)
    assert caught.value.status == 422
    with pytest.raises(PatchError) as caught:
        apply_patch(None, ["x"], "kubectl", False, KEY)  # type: ignore[arg-type]
    assert caught.value.status == 400


def test_update_takes_ownership_from_other_managers() -> None:
    live = _created_by_client_side_apply()
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 4
    entries = track_update(live, scaled, "kubectl-scale", KEY, now=NOW, subresource="scale")
    by_manager = {e["manager"]: e for e in entries}
    assert by_manager["kubectl-scale"]["subresource"] == "scale"
    assert by_manager["kubectl-scale"]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in by_manager["kubectl-client-side-apply"]["fieldsV1"]["f:spec"]
