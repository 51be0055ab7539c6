"""Admission webhooks emulated from the stored configurations, through the official client.

Each resolver failure is provoked for real (a Service missing, a port missing, no Endpoints, no
ready address, a pod that is not a webhook server, a URL) and the 500 the client gets is compared
with the text kube-apiserver composes (formats.md §5b). Injection is compared with Istio's own
golden file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from runbook.sandbox import Sandbox
from runbook.sandbox.istio.injection import sidecar_status
from tests.conftest import advance_world
from tests.sandbox_world.helpers import api_for, injected_revision, proxy_image

HOOK = "inject.example.io"


def _url(service: str, namespace: str = "hooks", port: int = 443) -> str:
    return f"https://{service}.{namespace}.svc:{port}/inject?timeout=10s"


@pytest.fixture
def core(world: Sandbox) -> Iterator[client.CoreV1Api]:
    with api_for(world) as api:
        yield client.CoreV1Api(api)


def _mwc(name: str, client_config: dict[str, Any], *, policy: str = "Fail",
         ns_labels: dict[str, str] | None = None, hook: str = HOOK,
         rules: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": name},
            "webhooks": [{"name": hook, "clientConfig": client_config, "failurePolicy": policy,
                          "sideEffects": "None", "admissionReviewVersions": ["v1"],
                          "namespaceSelector": {"matchLabels": ns_labels or {"inject": "yes"}},
                          "rules": rules or [{"apiGroups": [""], "apiVersions": ["v1"],
                                              "operations": ["CREATE"], "resources": ["pods"]}]}]}


def _pod(name: str = "p", labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.25",
                                     "ports": [{"containerPort": 80, "name": "http"}]}]}}


def _setup(world: Sandbox, core: client.CoreV1Api, config: dict[str, Any]) -> None:
    for ns, labels in (("hooks", {}), ("apps", {"inject": "yes"})):
        core.create_namespace({"metadata": {"name": ns, "labels": labels}})
    with api_for(world) as api:
        client.AdmissionregistrationV1Api(api).create_mutating_webhook_configuration(config)


def _create_error(core: client.CoreV1Api, namespace: str = "apps") -> tuple[int, str]:
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_pod(namespace, _pod())
    body = json.loads(exc.value.body)
    return exc.value.status, body["message"]


def _service(name: str, port: int = 443, selector: dict[str, str] | None = None,
             target: int | str = 8443) -> dict[str, Any]:
    spec: dict[str, Any] = {"ports": [{"name": "https", "port": port, "targetPort": target}]}
    if selector is not None:
        spec["selector"] = selector
    return {"metadata": {"name": name}, "spec": spec}


def test_service_missing(world: Sandbox, core: client.CoreV1Api) -> None:
    _setup(world, core, _mwc("a", {"service": {"name": "hook", "namespace": "hooks",
                                               "path": "/inject"}}))
    assert _create_error(core) == (500, (
        f'Internal error occurred: failed calling webhook "{HOOK}": failed to call webhook: '
        f'Post "{_url("hook")}": service "hook" not found'))


def test_port_missing_then_no_endpoints_then_connection_refused(world: Sandbox,
                                                                core: client.CoreV1Api) -> None:
    _setup(world, core, _mwc("a", {"service": {"name": "hook", "namespace": "hooks",
                                               "path": "/inject", "port": 443}}))
    core.create_namespaced_service("hooks", _service("hook", port=8443, selector={"app": "hook"}))
    status, message = _create_error(core)
    assert status == 500
    assert message.endswith(f'Post "{_url("hook")}": no service port 443 found for service "hook"')
    core.patch_namespaced_service("hook", "hooks", [{"op": "replace", "path": "/spec/ports/0/port",
                                                     "value": 443}])
    advance_world(world)
    assert _create_error(core)[1].endswith('no endpoints available for service "hook"')
    # a pod behind the Service that is no webhook server (not an istiod): the dial is refused
    core.create_namespaced_pod("hooks", _pod("server", {"app": "hook"}))
    advance_world(world)
    ip = core.read_namespaced_pod("server", "hooks").status.pod_ip
    assert re.fullmatch(r"10\.244\.\d+\.\d+", ip)
    assert _create_error(core)[1].endswith(
        f'Post "{_url("hook")}": dial tcp {ip}:8443: connect: connection refused')


def test_endpoints_missing_for_a_service_without_selector(world: Sandbox,
                                                          core: client.CoreV1Api) -> None:
    _setup(world, core, _mwc("a", {"service": {"name": "manual", "namespace": "hooks",
                                               "path": "/inject"}}))
    core.create_namespaced_service("hooks", _service("manual"))  # no selector: no Endpoints
    assert _create_error(core)[1].endswith(
        f'Post "{_url("manual")}": endpoints "manual" not found')


def test_url_webhooks_dial_the_host(world: Sandbox, core: client.CoreV1Api) -> None:
    _setup(world, core, _mwc("a", {"url": "https://10.9.8.7:9443/mutate"}))
    assert _create_error(core)[1] == (
        f'Internal error occurred: failed calling webhook "{HOOK}": failed to call webhook: Post '
        '"https://10.9.8.7:9443/mutate?timeout=10s": dial tcp 10.9.8.7:9443: connect: connection '
        'refused')
    with api_for(world) as api:
        client.AdmissionregistrationV1Api(api).patch_mutating_webhook_configuration(
            "a", [{"op": "replace", "path": "/webhooks/0/clientConfig/url",
                   "value": "https://hooks.example.test/mutate"}])
    assert _create_error(core)[1].endswith(
        "dial tcp: lookup hooks.example.test: no such host")


def test_failure_policy_ignore_creates_the_pod_unchanged(world: Sandbox,
                                                         core: client.CoreV1Api) -> None:
    _setup(world, core, _mwc("a", {"service": {"name": "gone", "namespace": "hooks"}},
                             policy="Ignore"))
    pod = core.create_namespaced_pod("apps", _pod())
    assert [c.name for c in pod.spec.containers] == ["app"]
    assert pod.metadata.annotations is None
    # and in a namespace the selector does not match, nothing is called at all
    core.create_namespace({"metadata": {"name": "plain"}})
    assert core.create_namespaced_pod("plain", _pod()).metadata.name == "p"


def test_namespace_selector_does_not_apply_to_cluster_scoped_objects(world: Sandbox,
                                                                     core: client.CoreV1Api) -> None:
    rules = [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
              "resources": ["namespaces", "nodes"]}]
    _setup(world, core, _mwc("a", {"service": {"name": "gone", "namespace": "hooks"}},
                             ns_labels={"team": "blue"}, rules=rules))
    # a Namespace is matched on its own labels ...
    core.create_namespace({"metadata": {"name": "green", "labels": {"team": "green"}}})
    with pytest.raises(ApiException) as exc:
        core.create_namespace({"metadata": {"name": "blue", "labels": {"team": "blue"}}})
    assert 'service "gone" not found' in json.loads(exc.value.body)["message"]
    # ... any other cluster-scoped object is never exempted by a namespace selector
    with pytest.raises(ApiException) as exc:
        core.create_node({"metadata": {"name": "extra"}})
    assert exc.value.status == 500


def test_object_selector_on_update_sees_the_old_labels(world: Sandbox,
                                                       core: client.CoreV1Api) -> None:
    config = _mwc("a", {"service": {"name": "gone", "namespace": "hooks"}},
                  rules=[{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"],
                          "resources": ["configmaps"]}])
    config["webhooks"][0]["namespaceSelector"] = {}
    config["webhooks"][0]["objectSelector"] = {"matchLabels": {"guarded": "true"}}
    _setup(world, core, config)
    core.create_namespaced_config_map("apps", {"metadata": {"name": "g",
                                                            "labels": {"guarded": "true"}}})
    core.create_namespaced_config_map("apps", {"metadata": {"name": "free"}})
    core.patch_namespaced_config_map("free", "apps", {"data": {"a": "b"}})
    with pytest.raises(ApiException):  # dropping the label: the old object still matches
        core.patch_namespaced_config_map("g", "apps", {"metadata": {"labels": {"guarded": None}}})


@pytest.mark.parametrize("policy, called", [("Equivalent", True), ("Exact", False)])
def test_match_policy_covers_other_versions_of_a_resource(policy: str, called: bool,
                                                          seed_sandbox: Sandbox) -> None:
    config = _mwc("gw-guard", {"service": {"name": "gone", "namespace": "istio-system"}},
                  rules=[{"apiGroups": ["networking.istio.io"], "apiVersions": ["v1beta1"],
                          "operations": ["CREATE"], "resources": ["gateways"]}])
    config["webhooks"][0]["namespaceSelector"] = {}
    config["webhooks"][0]["matchPolicy"] = policy
    gateway = {"apiVersion": "networking.istio.io/v1alpha3", "kind": "Gateway",
               "metadata": {"name": "g"}, "spec": {"selector": {"istio": "ingressgateway"}}}
    with api_for(seed_sandbox) as api:
        client.AdmissionregistrationV1Api(api).create_mutating_webhook_configuration(config)
        custom = client.CustomObjectsApi(api)
        if called:
            with pytest.raises(ApiException) as exc:
                custom.create_namespaced_custom_object("networking.istio.io", "v1alpha3",
                                                       "default", "gateways", gateway)
            assert 'service "gone" not found' in json.loads(exc.value.body)["message"]
        else:
            custom.create_namespaced_custom_object("networking.istio.io", "v1alpha3", "default",
                                                   "gateways", gateway)


def test_unparseable_selector_is_rejected_with_422(world: Sandbox) -> None:
    config = _mwc("bad", {"service": {"name": "x", "namespace": "hooks"}})
    config["webhooks"][0]["namespaceSelector"] = {
        "matchExpressions": [{"key": "istio.io/rev", "operator": "Within", "values": ["a"]}]}
    with api_for(world) as api, pytest.raises(ApiException) as exc:
        client.AdmissionregistrationV1Api(api).create_mutating_webhook_configuration(config)
    body = json.loads(exc.value.body)
    assert (exc.value.status, body["reason"]) == (422, "Invalid")
    fields = [c["field"] for c in body["details"]["causes"]]
    assert "webhooks[0].namespaceSelector.matchExpressions[0].operator" in fields
    assert world.store.get("mutatingwebhookconfigurations.admissionregistration.k8s.io", "",
                           "bad") is None


def test_two_matching_injectors_the_first_by_name_injects_once(seed_sandbox: Sandbox) -> None:
    with api_for(seed_sandbox) as api:
        admission = client.AdmissionregistrationV1Api(api)
        admission.patch_mutating_webhook_configuration("istio-revision-tag-prod-canary", [
            {"op": "replace", "path": f"/webhooks/{i}/clientConfig/service/namespace",
             "value": "istio-canary"} for i in (0, 1)])
        first = json.loads(json.dumps(api.sanitize_for_serialization(
            admission.read_mutating_webhook_configuration("istio-revision-tag-prod-canary"))))
        first["metadata"] = {"name": "aaa-prod-canary-injector",
                             "labels": {"app": "sidecar-injector", "istio.io/rev": "1-18-5"}}
        for hook in first["webhooks"]:
            hook["clientConfig"]["service"] = {"name": "istiod", "namespace": "istio-prod",
                                               "path": "/inject", "port": 443}
        admission.create_mutating_webhook_configuration(first)
        created = client.CoreV1Api(api).create_namespaced_pod("l7-traffic-alpha", _pod())
    pod = api.sanitize_for_serialization(created)
    # sorted by name, "aaa-…" (1.18.5 in istio-prod) injects; the tag's webhook (1.19.3) is called
    # next and leaves the injected pod alone: one sidecar, the first injector's revision
    assert injected_revision(pod) == "1-18-5"
    assert [c["name"] for c in pod["spec"]["containers"]] == ["app", "istio-proxy"]
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["istio-init"]
    assert proxy_image(pod) == "docker.io/istio/proxyv2:1.18.5"


def test_injection_matches_istios_golden_file(seed_sandbox: Sandbox, upstream: Path) -> None:
    """hello.yaml through the 1.18.5 injector, compared with hello.yaml.injected (1.18.5)."""
    source = yaml.safe_load((upstream / "injection" / "hello-1.18.5.yaml").read_text())
    golden = next(yaml.safe_load_all(
        (upstream / "injection" / "hello-injected-1.18.5.yaml").read_text()))
    source["spec"]["replicas"] = 1
    with api_for(seed_sandbox) as api:
        client.AppsV1Api(api).create_namespaced_deployment("l7-traffic-beta", source)
    advance_world(seed_sandbox)
    pod = seed_sandbox.store.objects("pods", "l7-traffic-beta")[0]
    want = golden["spec"]["template"]
    meta, spec = pod["metadata"], pod["spec"]
    assert set(want["metadata"]["annotations"]) <= set(meta["annotations"])
    assert meta["annotations"]["sidecar.istio.io/status"] == \
        want["metadata"]["annotations"]["sidecar.istio.io/status"].replace('"default"', '"1-18-5"')
    assert meta["annotations"]["sidecar.istio.io/status"] == sidecar_status("1-18-5")
    assert meta["annotations"]["istio.io/rev"] == "1-18-5"
    for key in ("security.istio.io/tlsMode", "service.istio.io/canonical-name",
                "service.istio.io/canonical-revision"):
        assert meta["labels"][key] == want["metadata"]["labels"][key]
    by_name = {c["name"]: c for c in spec["containers"] + spec["initContainers"]}
    for golden_container in want["spec"]["containers"] + want["spec"]["initContainers"]:
        mine = by_name[golden_container["name"]]
        for key in ("args", "securityContext", "resources"):
            assert mine.get(key) == golden_container.get(key), key
        # ports are read back defaulted (protocol TCP); the golden file is pre-defaulting
        assert [p.get("containerPort") for p in mine.get("ports") or ()] == \
            [p.get("containerPort") for p in golden_container.get("ports") or ()]
    proxy = by_name["istio-proxy"]
    assert [e["name"] for e in proxy["env"]] == [
        e["name"] for e in next(c for c in want["spec"]["containers"]
                                if c["name"] == "istio-proxy")["env"]]
    env = {e["name"]: e.get("value") for e in proxy["env"]}
    assert env["ISTIO_META_WORKLOAD_NAME"] == "hello"
    assert env["ISTIO_META_OWNER"] == \
        "kubernetes://apis/apps/v1/namespaces/l7-traffic-beta/deployments/hello"
    assert env["ISTIO_META_POD_PORTS"] == '[\n    {"name":"http","containerPort":80,"protocol":"TCP"}\n]'
    assert env["CA_ADDR"] == "istiod-1-18-5.istio-prod.svc:15012"
    assert proxy["volumeMounts"] == next(c for c in want["spec"]["containers"]
                                         if c["name"] == "istio-proxy")["volumeMounts"]
    # the golden file is a template through kube-inject; a live pod has ServiceAccount
    # admission's token volume before the webhook adds Istio's
    token, *istio_volumes = spec["volumes"]
    assert token["name"].startswith("kube-api-access-") and "projected" in token
    assert [v["name"] for v in istio_volumes] == [v["name"] for v in want["spec"]["volumes"]]
    assert proxy["image"] == by_name["istio-init"]["image"] == "docker.io/istio/proxyv2:1.18.5"
    assert pod["status"]["phase"] == "Running"
    statuses = {c["name"]: c for c in pod["status"]["containerStatuses"]}
    assert statuses["istio-proxy"]["ready"] and statuses["hello"]["ready"]
    assert pod["status"]["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
