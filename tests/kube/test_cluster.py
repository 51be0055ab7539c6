"""runbook.kube against the sandbox over HTTP: connect, errors, retries, pagination, snapshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from runbook import kinds as k
from runbook.errors import (
    AlreadyExists,
    ConfigError,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    ServerError,
    Unauthorized,
    Unreachable,
)
from runbook.kube import RetryPolicy, connect, discover_kinds, read_snapshot
from runbook.sandbox import Fault, Sandbox
from tests.kubeconfigs import edited_kubeconfig

FAST_RETRY = RetryPolicy(attempts=3, base_seconds=0.01, cap_seconds=0.05)


@pytest.fixture
def cluster(sandbox: Sandbox):  # type: ignore[no-untyped-def]
    c = connect(sandbox.kubeconfig_path, "sandbox", retry=FAST_RETRY)
    yield c
    c.close()


def _configmap(name: str, ns: str = "default") -> dict:
    return {"metadata": {"name": name, "namespace": ns}, "data": {"k": "v"}}


# ------------------------------------------------------------------ connecting


def test_connect_names_context_and_server(sandbox: Sandbox) -> None:
    c = connect(sandbox.kubeconfig_path, "sandbox")
    assert c.context == "sandbox"
    assert c.server == sandbox.url
    assert c.is_sandbox
    assert "sandbox" in c.describe() and sandbox.url in c.describe()


def test_requests_do_not_read_the_proxy_environment_again(sandbox: Sandbox,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from kubernetes.client import configuration

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # bypassed for the sandbox's address
    c = connect(sandbox.kubeconfig_path, "sandbox")
    # the environment's proxy, resolved when connecting, as the client's pool manager uses it
    assert c.api.configuration.proxy == "http://127.0.0.1:9"
    reads: list[object] = []
    original = configuration.getproxies
    monkeypatch.setattr(configuration, "getproxies", lambda: reads.append(1) or original())
    for _ in range(3):
        c.get(k.NAMESPACES, "default")
    assert reads == [] and c.api.configuration.proxy == "http://127.0.0.1:9"
    c.close()


def test_current_context_is_used_when_context_is_none(sandbox: Sandbox) -> None:
    assert connect(sandbox.kubeconfig_path, None).context == "sandbox"


def test_unknown_context_lists_the_known_ones(sandbox: Sandbox) -> None:
    with pytest.raises(ConfigError) as err:
        connect(sandbox.kubeconfig_path, "prod-eu")
    assert "'prod-eu' not found" in str(err.value)
    assert "sandbox, sandbox-readonly" in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_and_broken_kubeconfig(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        connect(tmp_path / "nope", None)
    bad = tmp_path / "bad"
    bad.write_text("clusters: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot be read"):
        connect(bad, None)
    not_a_mapping = tmp_path / "list"
    not_a_mapping.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="not a kubeconfig"):
        connect(not_a_mapping, None)


def test_kubeconfig_env_is_followed(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(sandbox.kubeconfig_path))
    assert connect(None, None).server == sandbox.url


def test_wrong_token_is_unauthorized(sandbox: Sandbox, tmp_path: Path) -> None:
    def wrong_token(config: dict[str, Any]) -> None:
        for user in config["users"]:
            user["user"]["token"] = "not-the-token"

    path = edited_kubeconfig(sandbox.kubeconfig_path, tmp_path / "kubeconfig", wrong_token)
    with pytest.raises(Unauthorized) as err:
        connect(path, "sandbox")
    assert "not-the-token" not in str(err.value)


def test_unreachable_server_is_one_clear_line(sandbox: Sandbox, tmp_path: Path) -> None:
    def closed_port(config: dict[str, Any]) -> None:
        for c in config["clusters"]:
            c["cluster"]["server"] = "https://127.0.0.1:1"

    path = edited_kubeconfig(sandbox.kubeconfig_path, tmp_path / "kubeconfig", closed_port)
    with pytest.raises(Unreachable) as err:
        connect(path, "sandbox", retry=FAST_RETRY)
    assert "connection refused" in str(err.value)
    assert "\n" not in str(err.value)


# ------------------------------------------------------------------ errors


def test_each_status_becomes_its_error(cluster, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFound, match='pods "nope" not found'):
        cluster.get(k.PODS, "nope", "default")
    with pytest.raises(NotFound, match="create the namespace first"):
        cluster.create(k.CONFIG_MAPS, _configmap("x", "missing"))
    created = cluster.create(k.CONFIG_MAPS, _configmap("x"))
    with pytest.raises(AlreadyExists):
        cluster.create(k.CONFIG_MAPS, _configmap("x"))
    stale = {**created, "metadata": {**created["metadata"], "resourceVersion": "1"}}
    with pytest.raises(Conflict, match="modified"):
        cluster.replace(k.CONFIG_MAPS, stale)
    with pytest.raises(Invalid) as invalid:
        cluster.create(k.CONFIG_MAPS, _configmap("Not_Valid"))
    assert invalid.value.causes and invalid.value.causes[0].field == "metadata.name"


def test_forbidden_names_verb_resource_scope_and_context(sandbox: Sandbox) -> None:
    ro = connect(sandbox.kubeconfig_path, "sandbox-readonly")
    with pytest.raises(Forbidden) as err:
        ro.patch(k.MUTATING_WEBHOOKS, "anything", {"metadata": {"labels": {"a": "b"}}})
    text = str(err.value)
    assert "cannot patch mutatingwebhookconfigurations" in text
    assert "cluster scope" in text and "'sandbox-readonly'" in text
    assert err.value.verb == "patch"


# ------------------------------------------------------------------ retries


def test_reads_are_retried_on_503_then_succeed(cluster, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    sandbox.faults.add(Fault(action="error", verb="list", resource="configmaps", status=503,
                             times=2))
    assert cluster.list(k.CONFIG_MAPS, "default") == []
    assert cluster.requests[-1].attempts == 3


def test_reads_give_up_after_the_policy(cluster, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    sandbox.faults.add(Fault(action="error", verb="get", resource="namespaces", status=500))
    with pytest.raises(ServerError, match="answered 500"):
        cluster.get(k.NAMESPACES, "default")
    assert cluster.requests[-1].attempts == FAST_RETRY.attempts


def test_429_retry_after_is_honoured(cluster, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    sandbox.faults.add(Fault(action="error", verb="get", resource="namespaces", status=429,
                             retry_after=0, times=1))
    assert cluster.get(k.NAMESPACES, "default")["metadata"]["name"] == "default"
    assert cluster.requests[-1].attempts == 2


def test_unguarded_writes_are_not_retried(cluster, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    sandbox.faults.add(Fault(action="error", verb="create", resource="configmaps", status=503,
                             times=1))
    with pytest.raises(ServerError):
        cluster.create(k.CONFIG_MAPS, _configmap("once"))
    assert cluster.requests[-1].attempts == 1
    with pytest.raises(NotFound):
        cluster.get(k.CONFIG_MAPS, "once", "default")


def test_guarded_writes_are_retried(cluster, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    created = cluster.create(k.CONFIG_MAPS, _configmap("guarded"))
    sandbox.faults.add(Fault(action="error", verb="update", resource="configmaps", status=503,
                             times=1))
    created["data"] = {"k": "w"}
    updated = cluster.replace(k.CONFIG_MAPS, created)
    assert updated["data"] == {"k": "w"}
    assert cluster.requests[-1].attempts == 2


# ------------------------------------------------------------------ lists and snapshots


def test_pagination_follows_continue_tokens(cluster, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    for i in range(230):
        cluster.create(k.CONFIG_MAPS, _configmap(f"cm-{i:03d}"))
    before = len(cluster.requests)
    items = cluster.list(k.CONFIG_MAPS, "default", page_size=100)
    assert len(items) == 230
    assert len(cluster.requests) - before == 3
    assert all(i["kind"] == "ConfigMap" and i["apiVersion"] == "v1" for i in items)
    assert [i["metadata"]["name"] for i in items] == sorted(i["metadata"]["name"] for i in items)


def test_snapshot_request_count_does_not_grow_with_namespaces(cluster, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    small = read_snapshot(cluster).requests
    for i in range(60):
        cluster.create(k.NAMESPACES, {"metadata": {"name": f"team-{i}"}})
    big = read_snapshot(cluster)
    assert len(big.items(k.NAMESPACES)) >= 64
    assert big.requests == small


def test_snapshot_keeps_going_when_a_kind_is_forbidden(cluster, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    sandbox.faults.add(Fault(action="error", verb="list",
                             resource="mutatingwebhookconfigurations", status=403,
                             message="mutatingwebhookconfigurations.admissionregistration.k8s.io "
                                     "is forbidden"))
    snap = read_snapshot(cluster)
    key = k.MUTATING_WEBHOOKS.key
    assert key not in snap.objects
    assert "cannot list" in snap.unreadable[key]
    assert snap.readable(k.NAMESPACES)


def test_snapshot_records_kinds_the_cluster_does_not_serve(cluster) -> None:  # type: ignore[no-untyped-def]
    snap = read_snapshot(cluster, [k.NAMESPACES, k.VIRTUAL_SERVICES])
    assert k.VIRTUAL_SERVICES.key in snap.unreadable
    assert "not served" in snap.unreadable[k.VIRTUAL_SERVICES.key]


def test_snapshot_trims_bookkeeping(cluster) -> None:  # type: ignore[no-untyped-def]
    cluster.patch(k.CONFIG_MAPS, "applied", {"apiVersion": "v1", "kind": "ConfigMap",
                                             "metadata": {"name": "applied",
                                                          "namespace": "default"}},
                  "default", patch_type="apply", field_manager="test")
    snap = read_snapshot(cluster, [k.CONFIG_MAPS], selectors={k.CONFIG_MAPS.key: {}})
    (cm,) = [c for c in snap.items(k.CONFIG_MAPS) if c["metadata"]["name"] == "applied"]
    assert "managedFields" not in cm["metadata"]


def test_discovery_learns_custom_resources(cluster, upstream: Path) -> None:  # type: ignore[no-untyped-def]
    for doc in yaml.safe_load_all((upstream / "crds-networking.yaml").read_text()):
        if doc and doc["spec"]["names"]["kind"] == "VirtualService":
            cluster.create(k.CRDS, doc)
    reg = discover_kinds(cluster)
    vs = reg.by_kind("networking.istio.io/v1beta1", "VirtualService")
    assert vs is not None and vs.namespaced and "vs" in vs.short_names
    assert reg.by_name("deploy") is not None


def test_an_expired_continue_token_restarts_the_list_once(cluster, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    names = [f"cm-{i:03d}" for i in range(230)]
    for name in names:
        cluster.create(k.CONFIG_MAPS, _configmap(name))
    sandbox.faults.add(Fault(action="error", verb="list", resource="configmaps", status=410,
                             skip=1, times=1))
    before = len(cluster.requests)
    items = cluster.list(k.CONFIG_MAPS, "default", page_size=100)
    # the page read before the token expired is superseded: every object once, in order
    assert [i["metadata"]["name"] for i in items] == names
    assert [r.status for r in cluster.requests[before:]] == [200, 410, 200, 200, 200]
