"""Answers larger than one slice (:data:`runbook.sandbox.apiserver.exchange.SLICE`) arrive whole:
the stated length, the type and every byte, for an object and a list page."""

from __future__ import annotations

import json

from kubernetes import client

from runbook.sandbox import Sandbox
from runbook.sandbox.apiserver.exchange import SLICE

NAMES = [f"cm-{i:03d}" for i in range(4)]


def _fill(core: client.CoreV1Api) -> str:
    # ConfigMaps of ~200 KB each (the API's limit is 1 MiB): the list of all four is > 3 slices
    value = "".join(chr(0x41 + i % 26) for i in range(200_000))
    for name in NAMES:
        core.create_namespaced_config_map("default", client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=name), data={"big": value, "name": name}))
    return value


def _get(api: client.ApiClient, path: str) -> tuple[bytes, dict[str, str]]:
    m, url, headers, _, _ = api.param_serialize("GET", path,
                                                header_params={"Accept": "application/json"},
                                                auth_settings=["BearerToken"])
    resp = api.call_api(m, url, header_params=headers, _request_timeout=30)
    return resp.read(), {k.lower(): v for k, v in resp.getheaders().items()}


def test_a_list_page_larger_than_a_slice_arrives_whole(sandbox: Sandbox,
                                                       api: client.ApiClient,
                                                       core: client.CoreV1Api) -> None:
    value = _fill(core)
    body, headers = _get(api, "/api/v1/namespaces/default/configmaps")
    assert len(body) > 3 * SLICE
    assert headers["content-length"] == str(len(body))
    assert headers["content-type"] == "application/json"
    items = json.loads(body)["items"]
    assert [i["metadata"]["name"] for i in items] == NAMES
    assert all(i["data"] == {"big": value, "name": i["metadata"]["name"]} for i in items)


def test_an_object_larger_than_a_slice_arrives_whole(sandbox: Sandbox, api: client.ApiClient,
                                                  core: client.CoreV1Api) -> None:
    value = _fill(core)
    core.patch_namespaced_config_map("cm-000", "default", {"data": {"more": value}})
    body, headers = _get(api, "/api/v1/namespaces/default/configmaps/cm-000")
    assert len(body) > SLICE
    assert headers["content-length"] == str(len(body))
    assert json.loads(body)["data"] == {"big": value, "more": value, "name": "cm-000"}
