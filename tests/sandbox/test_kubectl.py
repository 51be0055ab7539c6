"""The real kubectl against the sandbox: the commands of the field report, as written.

The sandbox runs with a manual clock, so AGE columns are deterministic ("0s" until advanced).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kubernetes import client

from runbook.sandbox import Sandbox
from tests.sandbox.conftest import KubectlRunner

pytestmark = pytest.mark.kubectl


def _ago(seconds: int) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _lines(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines()]


def test_apply_get_and_reapply_bookinfo(kube: KubectlRunner, upstream: Path, sandbox: Sandbox) -> None:
    kube("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "Namespace",
                                               "metadata": {"name": "l7-traffic-alpha"}}))
    out = kube("apply", "-f", str(upstream / "bookinfo.yaml"), "-n", "l7-traffic-alpha").stdout
    assert out.splitlines()[:3] == ["service/details created", "serviceaccount/bookinfo-details created",
                                    "deployment.apps/details-v1 created"]
    assert len(out.splitlines()) == 14
    again = kube("apply", "-f", str(upstream / "bookinfo.yaml"), "-n", "l7-traffic-alpha").stdout
    assert set(line.rsplit(" ", 1)[1] for line in again.splitlines()) == {"unchanged"}
    svc = _lines(kube("get", "svc", "-n", "l7-traffic-alpha").stdout)
    assert svc[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert [row[0] for row in svc[1:]] == ["details", "productpage", "ratings", "reviews"]
    assert svc[1][1] == "ClusterIP" and svc[1][3:] == ["<none>", "9080/TCP", "0s"]
    deploy = _lines(kube("get", "deploy", "-n", "l7-traffic-alpha").stdout)
    assert deploy[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert deploy[1] == ["details-v1", "0/1", "0", "0", "0s"]
    sandbox.advance(145)
    aged = _lines(kube("get", "svc", "details", "-n", "l7-traffic-alpha").stdout)
    assert aged[1][-1] == "2m25s"
    # a changed manifest is "configured" (client-side apply: a strategic merge patch)
    changed = (upstream / "bookinfo.yaml").read_text().replace("replicas: 1", "replicas: 2", 1)
    out = kube("apply", "-f", "-", "-n", "l7-traffic-alpha", stdin=changed).stdout
    assert "deployment.apps/details-v1 configured" in out
    assert kube("get", "deploy", "details-v1", "-n", "l7-traffic-alpha", "-o",
                "jsonpath={.spec.replicas}").stdout == "2"


def test_get_output_formats_and_selectors(kube: KubectlRunner, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": "istio-canary", "labels": {"istio.io/rev": "1-19-3"}}})
    core.create_namespaced_service("istio-canary", {
        "metadata": {"name": "istio-ingressgateway", "labels": {"app": "istio-ingressgateway"}},
        "spec": {"type": "LoadBalancer", "selector": {"app": "istio-ingressgateway"},
                 "ports": [{"name": "status-port", "port": 15021, "targetPort": 15021},
                           {"name": "http2", "port": 80, "targetPort": 8080}]}})
    core.create_namespaced_service("istio-canary", {
        "metadata": {"name": "istiod-1-18-5", "labels": {"app": "istiod"}},
        "spec": {"selector": {"app": "istiod"}, "ports": [{"name": "https-webhook", "port": 443}]}})
    table = _lines(kube("get", "svc", "-n", "istio-canary").stdout)
    gateway = next(row for row in table if row[0] == "istio-ingressgateway")
    assert gateway[1] == "LoadBalancer" and gateway[3] == "<pending>"
    assert gateway[4].startswith("15021:3") and ",80:3" in gateway[4]
    port = kube("-n", "istio-canary", "get", "service", "istio-ingressgateway", "-o",
                'jsonpath={.spec.ports[?(@.name=="http2")].port}').stdout
    assert port == "80"
    as_json = json.loads(kube("get", "svc", "istiod-1-18-5", "-n", "istio-canary", "-o", "json").stdout)
    assert as_json["kind"] == "Service" and as_json["spec"]["ports"][0]["port"] == 443
    as_yaml = kube("get", "ns", "istio-canary", "-o", "yaml").stdout
    assert "istio.io/rev: 1-19-3" in as_yaml and "phase: Active" in as_yaml
    labelled = _lines(kube("get", "svc", "-A", "-l", "app=istiod").stdout)
    assert labelled[0][:2] == ["NAMESPACE", "NAME"] and [r[1] for r in labelled[1:]] == ["istiod-1-18-5"]
    by_field = _lines(kube("get", "svc", "-A", "--field-selector", "metadata.name=kubernetes").stdout)
    assert [r[:2] for r in by_field[1:]] == [["default", "kubernetes"]]
    bad = kube("get", "pods", "--field-selector", "spec.foo=bar", check=False)
    assert bad.returncode != 0 and "field label not supported: spec.foo" in bad.stderr
    everything = kube("get", "ns", "-A", "-o", "name").stdout.split()
    assert "namespace/istio-canary" in everything and "namespace/kube-system" in everything


def test_describe_replicaset_shows_its_events(kube: KubectlRunner, api: client.ApiClient,
                                              sandbox: Sandbox) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    labels = {"app": "details", "pod-template-hash": "ccbdcf56", "version": "v1"}
    rs = apps.create_namespaced_replica_set("default", {
        "metadata": {"name": "details-v1-ccbdcf56", "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                     {"name": "details", "image": "docker.io/istio/examples-bookinfo-details-v1:1.18.0",
                      "ports": [{"containerPort": 9080}]}]}}}})
    message = ('Error creating: Internal error occurred: failed calling webhook '
               '"rev.namespace.sidecar-injector.istio.io": failed to call webhook: Post '
               '"https://istiod-1-18-5.istio-system.svc:443/inject?timeout=10s": service '
               '"istiod-1-18-5" not found')
    core.create_namespaced_event("default", {
        "metadata": {"name": "details-v1-ccbdcf56.179"}, "type": "Warning", "reason": "FailedCreate",
        "message": message, "count": 16, "source": {"component": "replicaset-controller"},
        # describe computes event ages client-side, from kubectl's own (wall) clock
        "firstTimestamp": _ago(277), "lastTimestamp": _ago(113),
        "involvedObject": {"apiVersion": "apps/v1", "kind": "ReplicaSet", "namespace": "default",
                           "name": rs.metadata.name, "uid": rs.metadata.uid}})
    out = kube("describe", "rs", "details-v1-ccbdcf56", "-n", "default").stdout
    assert re.search(r"Selector:\s+app=details,pod-template-hash=ccbdcf56,version=v1\n", out)
    assert re.search(r"Replicas:\s+0 current / 1 desired\n", out)
    events = out.split("Events:")[1]
    # the field report's line: "113s (x16 over 4m37s)" (a second of slack for slow machines)
    assert re.search(r"Warning\s+FailedCreate\s+11[345]s \(x16 over 4m3[789]s\)\s+"
                     r"replicaset-controller\s+"
                     + re.escape(message), events), events


def test_delete_all_patch_label_and_rollout_restart(kube: KubectlRunner, api: client.ApiClient,
                                                    sandbox: Sandbox) -> None:
    apps = client.AppsV1Api(api)
    for name in ("reviews-v1", "reviews-v2"):
        labels = {"app": name}
        apps.create_namespaced_replica_set("default", {
            "metadata": {"name": name, "labels": labels},
            "spec": {"selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    out = kube("delete", "rs", "-n", "default", "--all").stdout
    assert out.splitlines() == ['replicaset.apps "reviews-v1" deleted',
                                'replicaset.apps "reviews-v2" deleted']
    assert "No resources found" in kube("get", "rs", "-n", "default").stderr

    kube("apply", "-f", "-", stdin=json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "main", "image": "nginx:1.25"}]}}}}))
    assert kube("patch", "deploy", "web", "--type=json",
                "-p", '[{"op":"replace","path":"/spec/replicas","value":3}]').stdout.strip() == \
        "deployment.apps/web patched"
    kube("patch", "deploy", "web", "--type=merge", "-p", '{"metadata":{"labels":{"team":"a"}}}')
    kube("patch", "deploy", "web", "--type=strategic",
         "-p", '{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"envoy"}]}}}}')
    dep = apps.read_namespaced_deployment("web", "default")
    assert dep.spec.replicas == 3 and dep.metadata.labels["team"] == "a"
    assert [c.name for c in dep.spec.template.spec.containers] == ["sidecar", "main"]
    assert kube("label", "namespace", "default", "istio.io/rev=prod-canary").stdout.strip() == \
        "namespace/default labeled"
    assert client.CoreV1Api(api).read_namespace("default").metadata.labels["istio.io/rev"] == "prod-canary"
    kube("label", "namespace", "default", "istio.io/rev-")
    assert "istio.io/rev" not in client.CoreV1Api(api).read_namespace("default").metadata.labels
    generation = dep.metadata.generation
    assert kube("rollout", "restart", "deployment/web").stdout.strip() == "deployment.apps/web restarted"
    restarted = apps.read_namespaced_deployment("web", "default")
    assert "kubectl.kubernetes.io/restartedAt" in restarted.spec.template.metadata.annotations
    assert restarted.metadata.generation == generation + 1


def test_crds_and_istio_objects_with_kubectl(kube: KubectlRunner, upstream: Path) -> None:
    out = kube("apply", "-f", str(upstream / "crds-networking.yaml")).stdout
    assert "customresourcedefinition.apiextensions.k8s.io/virtualservices.networking.istio.io created" in out
    out = kube("apply", "-f", str(upstream / "bookinfo-gateway-1.18.5.yaml"), "-n", "default").stdout
    assert out.splitlines() == ["gateway.networking.istio.io/bookinfo-gateway created",
                                "virtualservice.networking.istio.io/bookinfo created"]
    assert _lines(kube("get", "Gateway", "-n", "default").stdout) == [
        ["NAME", "AGE"], ["bookinfo-gateway", "0s"]]
    vs = _lines(kube("get", "virtualservice", "-n", "default").stdout)
    assert vs == [["NAME", "GATEWAYS", "HOSTS", "AGE"], ["bookinfo", '["bookinfo-gateway"]', '["*"]', "0s"]]
    typo = kube("apply", "-n", "default", "-f", "-", check=False, stdin=json.dumps({
        "apiVersion": "networking.istio.io/v1beta1", "kind": "Gateway",
        "metadata": {"name": "typo"}, "spec": {"selector": {"istio": "ingressgateway"}, "servrs": []}}))
    assert typo.returncode != 0 and 'unknown field "spec.servrs"' in typo.stderr
    kube("delete", "-f", str(upstream / "bookinfo-gateway-1.18.5.yaml"), "-n", "default")
    assert "No resources found" in kube("get", "vs", "-n", "default").stderr


def test_logs_and_readonly_context(kube: KubectlRunner, api: client.ApiClient, sandbox: Sandbox) -> None:
    client.CoreV1Api(api).create_namespaced_pod("default", {
        "metadata": {"name": "istiod-1-19-3-64857b74d8-b5d5g"},
        "spec": {"containers": [{"name": "discovery", "image": "docker.io/istio/pilot:1.19.3"}]}})
    line = ("Push debounce stable[32] 1 for config Gateway/l7-traffic-alpha/bookinfo-gateway: "
            "100.213717ms since last change, 100.213544ms since last push, full=true")
    sandbox.logs.append("default", "istiod-1-19-3-64857b74d8-b5d5g", "discovery",
                        f"2023-10-27T06:00:55.741297Z\tinfo\tads\t{line}", sandbox.clock.time())
    out = kube("logs", "istiod-1-19-3-64857b74d8-b5d5g", "-n", "default").stdout
    assert out == f"2023-10-27T06:00:55.741297Z\tinfo\tads\t{line}\n"
    denied = kube("--context", "sandbox-readonly", "delete", "pod", "istiod-1-19-3-64857b74d8-b5d5g",
                  check=False)
    assert denied.returncode != 0
    assert ('Error from server (Forbidden): pods "istiod-1-19-3-64857b74d8-b5d5g" is forbidden: User '
            '"sandbox-readonly" cannot delete resource "pods" in API group "" in the namespace "default"'
            in denied.stderr)


def test_kubectl_create_sends_protobuf_for_a_few_kinds(kube: KubectlRunner, sandbox: Sandbox) -> None:
    assert kube("create", "namespace", "demo").stdout.strip() == "namespace/demo created"
    kube("create", "configmap", "cfg", "-n", "demo", "--from-literal=a=1", "--from-literal=b=two")
    kube("create", "secret", "generic", "s", "-n", "demo", "--from-literal=password=hunter2")
    kube("create", "serviceaccount", "robot", "-n", "demo")
    configmap = sandbox.store.get("configmaps", "demo", "cfg")
    assert configmap is not None and configmap["data"] == {"a": "1", "b": "two"}
    secret = sandbox.store.get("secrets", "demo", "s")
    assert secret is not None and secret["type"] == "Opaque"
    assert secret["data"] == {"password": "aHVudGVyMg=="}
    assert sandbox.store.get("serviceaccounts", "demo", "robot") is not None
    made = kube("create", "deployment", "web", "--image=nginx:1.25", "--port=80", "--replicas=0",
                "-n", "demo", "--", "sleep", "1")
    assert made.stdout.strip() == "deployment.apps/web created"
    deployment = sandbox.store.get("deployments.apps", "demo", "web")
    assert deployment is not None and deployment["spec"]["replicas"] == 0  # a pointer: 0 kept
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    template = deployment["spec"]["template"]
    assert template["metadata"] == {"labels": {"app": "web"}}  # zero creationTimestamp dropped
    assert template["spec"]["containers"][0] | {"resources": {}} == {
        "name": "nginx", "image": "nginx:1.25", "command": ["sleep", "1"],
        "ports": [{"containerPort": 80, "protocol": "TCP"}], "resources": {},
        "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File"}
    refused = kube("create", "job", "j", "--image=busybox", "-n", "demo", check=False)
    assert refused.returncode != 0


def test_auth_can_i(kube: KubectlRunner) -> None:
    assert kube("auth", "can-i", "patch", "mutatingwebhookconfigurations").stdout.strip() == "yes"
    ro = kube("--context", "sandbox-readonly", "auth", "can-i", "delete", "rs", "-n", "default",
              check=False)
    assert (ro.returncode, ro.stdout.strip()) == (1, "no")
    assert kube("--context", "sandbox-readonly", "auth", "can-i", "list", "pods").stdout.strip() == "yes"
