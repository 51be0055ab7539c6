"""Discovery and OpenAPI documents, as clients read them."""

from __future__ import annotations

import json

from kubernetes import client

from runbook.sandbox import Sandbox
from tests.sandbox.helpers import raw

AGGREGATED = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
              "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
              "application/json")


def test_legacy_discovery(api: client.ApiClient, sandbox: Sandbox) -> None:
    assert client.VersionApi(api).get_code().git_version == "v1.32.0"
    assert client.CoreApi(api).get_api_versions().versions == ["v1"]
    groups = {g.name: g.preferred_version.version for g in client.ApisApi(api).get_api_versions().groups}
    assert groups == {"admissionregistration.k8s.io": "v1", "apiextensions.k8s.io": "v1",
                      "apps": "v1", "authorization.k8s.io": "v1", "discovery.k8s.io": "v1",
                      "events.k8s.io": "v1"}
    core = {r.name: r for r in client.CoreV1Api(api).get_api_resources().resources}
    assert core["pods"].short_names == ["po"] and core["pods"].namespaced
    assert core["pods"].categories == ["all"] and "watch" in core["pods"].verbs
    assert not core["namespaces"].namespaced and "pods/log" in core
    apps = {r.name: r for r in client.AppsV1Api(api).get_api_resources().resources}
    assert apps["deployments/scale"].kind == "Scale" and apps["deployments/scale"].group == "autoscaling"
    assert json.loads(raw(sandbox, "GET", "/")[2])["paths"][:3] == ["/api", "/api/v1", "/apis"]


def test_aggregated_discovery(sandbox: Sandbox) -> None:
    code, headers, body = raw(sandbox, "GET", "/apis", headers={"Accept": AGGREGATED})
    assert code == 200
    assert headers["Content-Type"] == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    doc = json.loads(body)
    assert doc["kind"] == "APIGroupDiscoveryList"
    apps = next(i for i in doc["items"] if i["metadata"]["name"] == "apps")
    deployments = next(r for r in apps["versions"][0]["resources"] if r["resource"] == "deployments")
    assert deployments["scope"] == "Namespaced" and deployments["shortNames"] == ["deploy"]
    assert {s["subresource"] for s in deployments["subresources"]} == {"scale", "status"}
    core = json.loads(raw(sandbox, "GET", "/api", headers={"Accept": AGGREGATED})[2])
    assert core["items"][0]["metadata"]["name"] == ""


def test_openapi_v3_advertises_field_validation(sandbox: Sandbox) -> None:
    index = json.loads(raw(sandbox, "GET", "/openapi/v3")[2])["paths"]
    assert {"api/v1", "apis/apps/v1"} <= set(index)
    doc = json.loads(raw(sandbox, "GET", index["apis/apps/v1"]["serverRelativeURL"])[2])
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1",
                                                        "kind": "Deployment"}
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    assert raw(sandbox, "GET", "/openapi/v2")[0] == 404
