"""Secrets are read for the Gateway credentialName check as metadata only: the list asks for a
PartialObjectMetadataList, no value crosses the wire or lands in the snapshot, and a 403 makes the
analyzer say the check was not made — against the sandbox over HTTP."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from runbook import kinds as k
from runbook.kube import CONFIG_KINDS, DIAGNOSIS_KINDS, connect, read_snapshot
from runbook.kube.cluster import METADATA_LIST
from runbook.kube.reader import SECRET_META_FIELDS
from runbook.manifests import parse_manifests
from runbook.mesh.analyze import analyze
from runbook.sandbox import Sandbox
from runbook.sandbox.apiserver.faults import parse_fault_spec
from tests.config.test_gateway_credentials import BETA, GATEWAY

VALUE = "hunter2-never-on-the-wire"


@pytest.fixture
def seed_world():  # type: ignore[no-untyped-def]
    with Sandbox(scenario="seed-incident", clock="manual") as sb:
        sb.settle()
        c = connect(sb.kubeconfig_path, "sandbox")
        c.create(k.SECRETS, {
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": "shop-cert", "namespace": "istio-prod", "labels": {"app": "shop"},
                         # kubectl apply keeps a copy of the whole object here, values included
                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                                         orjson.dumps({"stringData": {"tls.key": VALUE}}).decode()}},
            "stringData": {"tls.crt": VALUE, "tls.key": VALUE}}, "istio-prod")
        yield sb, c
        c.close()


def test_the_list_asks_for_metadata_only_and_the_server_sends_no_value(seed_world) -> None:  # type: ignore[no-untyped-def]
    _, cluster = seed_world
    asked: list[str] = []
    send = cluster.request

    def recording(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("resource") == k.SECRETS.key:
            asked.append(kwargs.get("accept", ""))
        return send(*args, **kwargs)

    cluster.request = recording  # type: ignore[method-assign]
    snapshot = read_snapshot(cluster, (k.SECRETS,))
    assert asked == [METADATA_LIST]
    (secret,) = [s for s in snapshot.items(k.SECRETS) if s["metadata"]["name"] == "shop-cert"]
    assert secret == {"apiVersion": "v1", "kind": "Secret", "metadata": {
        key: secret["metadata"][key] for key in SECRET_META_FIELDS}}
    assert secret["metadata"]["labels"] == {"app": "shop"}
    assert VALUE not in repr(snapshot.objects)
    # what the wire carries for that Accept: metadata (annotations too), never data
    raw = send("GET", k.SECRETS.path("istio-prod"), accept=METADATA_LIST, raw=True)
    page = orjson.loads(raw)
    assert page["kind"] == "PartialObjectMetadataList"
    assert all(set(item) == {"kind", "apiVersion", "metadata"} for item in page["items"])


def test_the_analyzer_finds_the_secret_by_name_from_the_config_read(seed_world) -> None:  # type: ignore[no-untyped-def]
    _, cluster = seed_world
    assert k.SECRETS in CONFIG_KINDS
    snapshot = read_snapshot(cluster, (*DIAGNOSIS_KINDS, *CONFIG_KINDS))
    result = analyze(parse_manifests(GATEWAY, "gw.yaml"), snapshot, namespace=BETA)
    assert not [m for m in result.messages["message"] if "credential" in m]
    cluster.delete(k.SECRETS, "shop-cert", "istio-prod")
    snapshot = read_snapshot(cluster, (*DIAGNOSIS_KINDS, *CONFIG_KINDS))
    result = analyze(parse_manifests(GATEWAY, "gw.yaml"), snapshot, namespace=BETA)
    assert 'Referenced credentialName not found: "shop-cert"' in list(result.messages["message"])


def test_forbidden_secrets_leave_the_check_unmade_not_guessed(seed_world) -> None:  # type: ignore[no-untyped-def]
    sb, cluster = seed_world
    sb.faults.add(parse_fault_spec("list:secrets:403"))
    snapshot = read_snapshot(cluster, (*DIAGNOSIS_KINDS, *CONFIG_KINDS))
    assert k.SECRETS.key in snapshot.unreadable
    result = analyze(parse_manifests(GATEWAY, "gw.yaml"), snapshot, namespace=BETA)
    assert not [m for m in result.messages["message"] if "credential" in m]
    assert "secrets could not be read: Gateway credentialName references not checked" in \
        result.skipped
