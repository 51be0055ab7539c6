"""Behaviours of the emulated engine that were measured against a real kube-apiserver / kubelet /
scheduler (issue #13's list): each test fails on the emulator as it was before the fix."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client

from runbook.sandbox import Sandbox
from tests.conftest import advance_world
from tests.sandbox_world.helpers import api_for, kubectl_for

NGINX_POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
             "spec": {"containers": [{"name": "web", "image": "nginx:1.25", "readinessProbe": {
                 "httpGet": {"port": 80}}}]}}


@pytest.fixture
def core(sandbox: Sandbox) -> Any:
    api = api_for(sandbox)
    yield client.CoreV1Api(api)
    api.close()


def _raw(sandbox: Sandbox, method: str, path: str, body: Any = None,
         content_type: str = "application/json") -> urllib3.BaseHTTPResponse:
    """A request as any HTTP client sends it (the bytes of the answer are what is checked)."""
    api = api_for(sandbox)
    try:
        token = api.configuration.auth_settings()["BearerToken"]["value"]
        headers = {"Authorization": token, "Content-Type": content_type,
                   "Accept": "application/json"}
        return api.rest_client.pool_manager.request(
            method, api.configuration.host + path, headers=headers,
            body=json.dumps(body) if body is not None else None)
    finally:
        api.close()


def test_json_answers_end_with_a_newline_like_go_json_encoder(sandbox: Sandbox) -> None:
    for path in ("/api/v1/namespaces/default", "/api/v1/namespaces", "/version",
                 "/api/v1/namespaces/default/configmaps/missing"):
        answer = _raw(sandbox, "GET", path)
        assert answer.data.endswith(b"}\n"), path
        json.loads(answer.data)


def test_scale_writes_answer_an_autoscaling_v1_scale(sandbox: Sandbox, kubectl: str,
                                                      tmp_path: Path, core: Any) -> None:
    kube = kubectl_for(kubectl, sandbox, tmp_path)
    kube("create", "deployment", "web", "--image=nginx:1.25", "-n", "default")
    patched = _raw(sandbox, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale",
                   {"spec": {"replicas": 2}}, "application/merge-patch+json")
    assert (patched.status, json.loads(patched.data)["apiVersion"]) == (200, "autoscaling/v1")
    # kubectl decodes the answer by its apiVersion: with apps/v1 it printed `no kind "Scale"`, exit 1
    scaled = kube("scale", "deploy/web", "-n", "default", "--replicas=3")
    assert scaled.stdout.strip() == "deployment.apps/web scaled" and scaled.stderr == ""


def test_new_pods_get_default_tolerations_and_probe_defaults(sandbox: Sandbox, core: Any) -> None:
    tolerating = {**NGINX_POD, "metadata": {"name": "tolerant"}, "spec": {
        **NGINX_POD["spec"], "tolerations": [{"key": "node.kubernetes.io/not-ready",
                                              "operator": "Exists", "effect": "NoExecute"}]}}
    core.create_namespaced_pod("default", NGINX_POD)
    core.create_namespaced_pod("default", tolerating)
    pod = sandbox.store.get("pods", "default", "web")
    assert pod is not None and pod["spec"]["tolerations"] == [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300}]
    assert pod["spec"]["containers"][0]["readinessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
        "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    # the admission plugin adds only what the pod does not already tolerate
    other = sandbox.store.get("pods", "default", "tolerant")
    assert other is not None and [t["key"] for t in other["spec"]["tolerations"]] == [
        "node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]
    assert "tolerationSeconds" not in other["spec"]["tolerations"][0]


def test_an_emptied_map_is_not_stored(sandbox: Sandbox, kubectl: str, tmp_path: Path) -> None:
    kube = kubectl_for(kubectl, sandbox, tmp_path)
    kube("create", "configmap", "cfg", "-n", "default", "--from-literal=a=1")
    kube("annotate", "configmap", "cfg", "-n", "default", "team=mesh")
    kube("annotate", "configmap", "cfg", "-n", "default", "team-")
    stored = sandbox.store.get("configmaps", "default", "cfg")
    assert stored is not None and "annotations" not in stored["metadata"]
    assert "annotations" not in kube("get", "configmap", "cfg", "-n", "default", "-o", "yaml").stdout


def test_scenario_and_controller_writes_record_their_field_managers(seed_sandbox: Sandbox,
                                                                     kubectl: str,
                                                                     tmp_path: Path) -> None:
    webhook = seed_sandbox.store.get(
        "mutatingwebhookconfigurations.admissionregistration.k8s.io", "",
        "istio-revision-tag-prod-canary")
    assert webhook is not None
    assert [m["manager"] for m in webhook["metadata"]["managedFields"]] == [
        "kubectl-client-side-apply"]
    replicasets = seed_sandbox.store.objects("replicasets.apps", "istio-prod")
    assert {m["manager"] for o in replicasets for m in o["metadata"]["managedFields"]} == {
        "kube-controller-manager"}
    # pods and events carry none: a listed difference (the cost of tracking them)
    assert not any("managedFields" in p["metadata"]
                   for p in seed_sandbox.store.objects("pods", "istio-prod"))
    # so a server-side apply of a field the scenario set conflicts, as on a real cluster
    kube = kubectl_for(kubectl, seed_sandbox, tmp_path)
    manifest = tmp_path / "cm.yaml"
    manifest.write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: l7-traffic-alpha\n"
                        "  labels:\n    istio.io/rev: prod-stable\n")
    refused = kube("apply", "--server-side", "-f", str(manifest), check=False)
    assert refused.returncode == 1
    assert 'conflict with "kubectl-client-side-apply"' in refused.stderr
    assert ".metadata.labels.istio.io/rev" in refused.stderr
    forced = kube("apply", "--server-side", "--force-conflicts", "-f", str(manifest))
    assert forced.stdout.strip() == "namespace/l7-traffic-alpha serverside-applied"


@pytest.mark.kubectl
def test_logs_of_a_container_without_a_previous_instance(sandbox: Sandbox, kubectl: str,
                                                         tmp_path: Path, core: Any) -> None:
    kube = kubectl_for(kubectl, sandbox, tmp_path)
    sandbox.world.controllers.ctx.pod_start_seconds = 5  # type: ignore[union-attr]
    core.create_namespaced_pod("default", NGINX_POD)
    advance_world(sandbox)
    waiting = kube("logs", "web", "-n", "default", check=False)
    assert (waiting.returncode, waiting.stderr.strip()) == (1, (
        'Error from server (BadRequest): container "web" in pod "web" is waiting to start: '
        "ContainerCreating"))
    advance_world(sandbox, 5)
    assert kube("logs", "web", "-n", "default").returncode == 0
    previous = kube("logs", "web", "-n", "default", "--previous", check=False)
    assert (previous.returncode, previous.stderr.strip()) == (1, (
        'Error from server (BadRequest): previous terminated container "web" in pod "web" not '
        "found"))


@pytest.mark.kubectl
def test_a_pod_on_a_cordoned_node_is_unschedulable_until_uncordon(sandbox: Sandbox, kubectl: str,
                                                                  tmp_path: Path, core: Any) -> None:
    kube = kubectl_for(kubectl, sandbox, tmp_path)
    kube("cordon", "sandbox-node")
    core.create_namespaced_pod("default", NGINX_POD)
    advance_world(sandbox)
    pod = sandbox.store.get("pods", "default", "web")
    assert pod is not None and "nodeName" not in pod["spec"]
    message = ("0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are "
               "available: 1 Preemption is not helpful for scheduling.")
    assert [(c["type"], c["status"], c["reason"], c["message"])
            for c in pod["status"]["conditions"]] == [
        ("PodScheduled", "False", "Unschedulable", message)]
    events = [e for e in sandbox.store.objects("events", "default")
              if e["involvedObject"]["name"] == "web"]
    assert [(e["type"], e["reason"], e["message"], e["source"]["component"]) for e in events] == [
        ("Warning", "FailedScheduling", message, "default-scheduler")]
    # describe computes ages from kubectl's own clock: the manual sandbox clock is years behind
    assert re.search(rf"Warning  FailedScheduling  \S+ +default-scheduler  {re.escape(message)}",
                     kube("describe", "pod", "web", "-n", "default").stdout)
    kube("uncordon", "sandbox-node")
    advance_world(sandbox)
    pod = sandbox.store.get("pods", "default", "web")
    assert pod is not None and pod["spec"]["nodeName"] == "sandbox-node"
    assert pod["status"]["phase"] == "Running"


@pytest.mark.kubectl
def test_describe_service_shows_endpoints_from_endpoint_slices(seed_sandbox: Sandbox, kubectl: str,
                                                               tmp_path: Path) -> None:
    kube = kubectl_for(kubectl, seed_sandbox, tmp_path)
    pod = next(p for p in seed_sandbox.store.objects("pods", "istio-canary")
               if p["metadata"]["name"].startswith("istiod-1-19-3"))
    ip = pod["status"]["podIP"]
    shown = kube("describe", "svc", "istiod-1-18-5", "-n", "istio-canary").stdout
    assert f"Endpoints:                {ip}:15017" in shown and "<none>" not in shown.split(
        "Selector")[1].split("Session")[0]
    slices = [s for s in seed_sandbox.store.objects("endpointslices.discovery.k8s.io",
                                                    "istio-canary")
              if s["metadata"]["labels"]["kubernetes.io/service-name"] == "istiod-1-18-5"]
    assert len(slices) == 1
    eps = slices[0]
    assert eps["metadata"]["name"].startswith("istiod-1-18-5-")
    assert eps["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == \
        "endpointslice-controller.k8s.io"
    assert eps["metadata"]["ownerReferences"][0]["kind"] == "Service"
    assert [p["port"] for p in eps["ports"]] == [15010, 15012, 15017, 15014]
    assert eps["endpoints"] == [{
        "addresses": [ip], "conditions": {"ready": True, "serving": True, "terminating": False},
        "nodeName": "sandbox-node", "targetRef": {
            "kind": "Pod", "namespace": "istio-canary", "name": pod["metadata"]["name"],
            "uid": pod["metadata"]["uid"]}}]
    kube("delete", "svc", "istiod-1-18-5", "-n", "istio-canary")
    advance_world(seed_sandbox)
    assert not [s for s in seed_sandbox.store.objects("endpointslices.discovery.k8s.io",
                                                      "istio-canary")
                if s["metadata"]["labels"]["kubernetes.io/service-name"] == "istiod-1-18-5"]


@pytest.mark.kubectl
def test_describe_namespace_has_quota_and_limit_range_sections(sandbox: Sandbox, kubectl: str,
                                                               tmp_path: Path) -> None:
    kube = kubectl_for(kubectl, sandbox, tmp_path)
    shown = kube("describe", "ns", "default").stdout
    assert shown.endswith("Status:       Active\n\nNo resource quota.\n\nNo LimitRange resource.\n")
    quota = tmp_path / "quota.yaml"
    quota.write_text("apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: pods\n"
                     "spec:\n  hard:\n    pods: \"10\"\n")
    kube("apply", "-f", str(quota), "-n", "default")
    assert kube("get", "quota", "-n", "default", "-o", "name").stdout == "resourcequota/pods\n"
    # kubectl patches built-in kinds with a strategic merge patch: these kinds take one too
    kube("patch", "quota", "pods", "-n", "default", "-p", '{"spec":{"hard":{"pods":"20"}}}')
    stored = sandbox.store.get("resourcequotas", "default", "pods")
    assert stored is not None and stored["spec"]["hard"] == {"pods": "20"}


@pytest.mark.kubectl
def test_a_deleted_pod_is_terminating_until_its_kubelet_stops_it(sandbox: Sandbox, kubectl: str,
                                                                  tmp_path: Path, core: Any) -> None:
    kube = kubectl_for(kubectl, sandbox, tmp_path)
    core.create_namespaced_pod("default", NGINX_POD)
    advance_world(sandbox)
    answer = core.delete_namespaced_pod("web", "default")
    assert answer.metadata.deletion_grace_period_seconds == 30
    assert answer.metadata.deletion_timestamp.isoformat() == "2023-10-27T06:00:30+00:00"
    listed = kube("get", "pod", "web", "-n", "default", "--no-headers").stdout.split()
    assert listed[2] == "Terminating"
    advance_world(sandbox)
    assert sandbox.store.get("pods", "default", "web") is None
    # an unscheduled pod has nobody to stop it: it goes at once, as the pod strategy says
    kube("cordon", "sandbox-node")
    core.create_namespaced_pod("default", NGINX_POD)
    advance_world(sandbox)
    core.delete_namespaced_pod("web", "default")
    assert sandbox.store.get("pods", "default", "web") is None
