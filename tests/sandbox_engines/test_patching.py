"""JSON, merge and strategic merge patches against kubectl-recorded results and upstream rules."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from runbook.sandbox.registry.patching import PatchError, json_patch, merge_patch, strategic_merge_patch

DATA = json.loads((Path(__file__).parent / "kubectl_patch_cases.json").read_text())
CASES = DATA["cases"]
ORIGINALS = DATA["originals"]


def _apply(case: dict[str, Any]) -> Any:
    original = copy.deepcopy(ORIGINALS[case["original"]])
    if case["type"] == "strategic":
        return strategic_merge_patch(original, case["patch"], case["kind_key"])
    if case["type"] == "merge":
        return merge_patch(original, case["patch"])
    return json_patch(original, case["patch"])


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_matches_kubectl(case: dict[str, Any]) -> None:
    if "expected" in case:
        assert _apply(case) == case["expected"]
        return
    with pytest.raises(PatchError) as caught:
        _apply(case)
    err = caught.value
    detail = err.detail or str(err)
    expected = case["kubectl_error"]
    if expected.startswith("Object to be patched is missing field"):
        # kubectl rewords "doc is missing key" client-side; the server sends the library's text
        assert "doc is missing key" in detail
    else:
        assert detail == expected


def test_original_is_not_modified() -> None:
    original = copy.deepcopy(ORIGINALS["deployment"])
    before = copy.deepcopy(original)
    strategic_merge_patch(original, {"spec": {"template": {"spec": {"containers": [
        {"name": "a", "image": "z"}]}}}}, "deployments.apps")
    json_patch(original, [{"op": "remove", "path": "/metadata/labels"}])
    merge_patch(original, {"metadata": {"labels": None}})
    assert original == before


def test_the_field_report_fix_moves_the_webhook_to_istio_canary() -> None:
    # what the runbook's fix sends: one strategic patch that touches both webhooks by name
    mwc = ORIGINALS["webhooks"]
    patch = {"webhooks": [
        {"name": hook["name"], "clientConfig": {"service": {"namespace": "istio-canary"}}}
        for hook in mwc["webhooks"]]}
    result = strategic_merge_patch(mwc, patch, "mutatingwebhookconfigurations.admissionregistration.k8s.io")
    services = [h["clientConfig"]["service"] for h in result["webhooks"]]
    assert [s["namespace"] for s in services] == ["istio-canary", "istio-canary"]
    assert [s["name"] for s in services] == ["istiod-1-18-5", "istiod-1-18-5"]
    assert [h["sideEffects"] for h in result["webhooks"]] == ["None", "None"]


def test_kubectl_client_side_apply_three_way_patch() -> None:
    # The shape `kubectl apply` sends for a changed image and a dropped label: the new
    # last-applied annotation, $setElementOrder for the merge list, null for the removed key.
    live = copy.deepcopy(ORIGINALS["deployment"])
    last_applied = json.dumps({"kind": "Deployment", "metadata": {"name": "d"}}) + "\n"
    patch = {
        "metadata": {"annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": last_applied},
            "labels": {"x": None}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
            "containers": [{"image": "b:2", "name": "b"}]}}},
    }
    result = strategic_merge_patch(live, patch, "deployments.apps")
    assert result["metadata"]["labels"] == {"app": "d"}
    assert result["metadata"]["annotations"] == {
        "kubectl.kubernetes.io/last-applied-configuration": last_applied}
    containers = result["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("a", "a:1"), ("b", "b:2")]
    assert containers[0]["env"] == live["spec"]["template"]["spec"]["containers"][0]["env"]


def test_kubectl_label_and_rollout_restart_patches() -> None:
    ns = ORIGINALS["namespace"]
    relabelled = strategic_merge_patch(ns, {"metadata": {"labels": {"istio.io/rev": None,
                                                                     "istio-injection": "enabled"}}},
                                       "namespaces")
    assert relabelled["metadata"]["labels"] == {"kubernetes.io/metadata.name": "l7",
                                                "istio-injection": "enabled"}
    restarted = strategic_merge_patch(ORIGINALS["deployment"], {"spec": {"template": {"metadata": {
        "annotations": {"kubectl.kubernetes.io/restartedAt": "2024-06-20T16:20:52+08:00"}}}}},
        "deployments.apps")
    assert restarted["spec"]["template"]["metadata"]["annotations"] == {
        "a": "1", "kubectl.kubernetes.io/restartedAt": "2024-06-20T16:20:52+08:00"}


def test_custom_resources_refuse_strategic_merge_with_415() -> None:
    with pytest.raises(PatchError) as caught:
        strategic_merge_patch({"spec": {}}, {"spec": {"hosts": ["x"]}},
                              "virtualservices.networking.istio.io")
    assert caught.value.status == 415
    assert caught.value.reason == "UnsupportedMediaType"
    assert str(caught.value) == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")


def test_error_statuses_follow_the_apiserver() -> None:
    dep = ORIGINALS["deployment"]
    with pytest.raises(PatchError) as caught:
        json_patch(dep, [{"op": "test", "path": "/spec/replicas", "value": 5}])
    err = caught.value
    assert (err.status, err.reason, str(err)) == (
        422, "Invalid", "the server rejected our request due to an error in our request")
    assert not err.causes  # kube-apiserver 1.37 sends empty details
    assert err.detail == "testing value /spec/replicas failed: test failed"
    for body in ({"op": "add"}, "x"):
        with pytest.raises(PatchError) as caught:
            json_patch(dep, body)
        assert caught.value.status == 400
    with pytest.raises(PatchError) as caught:
        json_patch(dep, [{"op": "add", "path": "/a", "value": 1}] * 10001)
    assert caught.value.status == 413
    with pytest.raises(PatchError) as caught:
        strategic_merge_patch(dep, ["not", "a", "map"], "deployments.apps")
    assert caught.value.status == 400
    with pytest.raises(PatchError) as caught:  # missing merge key: a reason-less 500
        strategic_merge_patch(dep, {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}},
                              "deployments.apps")
    assert (caught.value.status, caught.value.reason) == (500, "")
    with pytest.raises(PatchError) as caught:
        strategic_merge_patch(dep, {"spec": {"strategy": {"$retainKeys": "type"}}}, "deployments.apps")
    assert (caught.value.status, caught.value.reason) == (400, "BadRequest")
    with pytest.raises(PatchError) as caught:
        merge_patch(dep, None)
    assert (caught.value.status, str(caught.value)) == (400, "Invalid JSON Patch")


@pytest.mark.kubectl
def test_live_differential_against_kubectl(tmp_path: Path) -> None:
    """Run a sample of the recorded cases through the installed kubectl again."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    for case in CASES[::8]:
        source = tmp_path / "obj.json"
        source.write_text(json.dumps(ORIGINALS[case["original"]]))
        run = subprocess.run([kubectl, "patch", "--local", "-f", str(source), "--type",
                              case["type"], "-p", json.dumps(case["patch"]), "-o", "json"],
                             capture_output=True, text=True, timeout=60)
        if run.returncode == 0:
            assert _apply(case) == json.loads(run.stdout), case["name"]
        else:
            with pytest.raises(PatchError):
                _apply(case)
