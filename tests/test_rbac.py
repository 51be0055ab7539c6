"""The RBAC manifests in rbac/ grant exactly what the toolkit's flows use (least privilege).

The flows run against the sandbox; every API request they make is mapped to (group, resource,
verb) and must be allowed by the role meant for that flow — and the roles must grant nothing the
flows never use.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest
import yaml

from runbook import kinds as k
from runbook.apps import app_path
from runbook.fix import AuditLog
from runbook.fix.actions import recreate_workloads, relabel_namespace, retarget_webhook, set_tag_revision
from runbook.kube import Cluster, connect
from runbook.kube.apply import apply_manifests
from runbook.mesh.observe import analyze_cluster, config_pushes, diagnose_cluster
from runbook.sandbox import Sandbox

RBAC = Path(__file__).resolve().parents[1] / "rbac"
Grant = tuple[str, str, str]  # group, resource, verb


def _grants(name: str) -> set[Grant]:
    doc = yaml.safe_load((RBAC / name).read_text())
    return {(g, r, v) for rule in doc["rules"] for g in rule["apiGroups"]
            for r in rule["resources"] for v in rule["verbs"]}


def _used(cluster: Cluster, since: int = 0) -> set[Grant]:
    """(group, resource, verb) of every resource request the connection made."""
    registry = k.default_registry()
    used: set[Grant] = set()
    for rec in cluster.requests[since:]:
        parts = rec.path.strip("/").split("/")
        if parts[0] == "api" and len(parts) > 2:
            group, rest = "", parts[2:]
        elif parts[0] == "apis" and len(parts) > 3:
            group, rest = parts[1], parts[3:]
        else:
            continue  # /version, discovery: allowed to every authenticated user
        if rest[0] == "namespaces" and len(rest) > 2:
            rest = rest[2:]
        resource = rest[0]
        named = len(rest) > 1
        if len(rest) > 2:
            resource = f"{resource}/{rest[2]}"
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
            rec.method, "get" if named else "list")
        assert registry.by_plural(group, resource.split("/")[0]) is not None, rec.path
        used.add((group, resource, verb))
    return used


@pytest.fixture
def world():  # type: ignore[no-untyped-def]
    with Sandbox(scenario="seed-incident", pod_start_seconds=0.05) as sb:
        c = connect(sb.kubeconfig_path, "sandbox")
        apply_manifests(c, app_path("bookinfo"), namespace="l7-traffic-alpha")
        yield c
        c.close()


def _allowed(grants: set[Grant], used: Iterable[Grant]) -> list[Grant]:
    return sorted(u for u in used if u not in grants)


def test_reader_covers_every_read_and_grants_no_write(world: Cluster) -> None:
    start = len(world.requests)
    diagnose_cluster(world)
    analyze_cluster(world)
    config_pushes(world)
    used = _used(world, start)
    reader = _grants("reader.yaml")
    assert _allowed(reader, used) == []
    assert {v for _, _, v in reader} <= {"get", "list", "watch"}
    # Secrets: list only, which the analyzer asks as metadata (tests/kube/test_secret_metadata.py)
    assert {v for _, r, v in reader if r == "secrets"} == {"list"}


def test_fixer_plus_reader_cover_every_fix(world: Cluster, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    start = len(world.requests)
    retarget_webhook(world, "istio-revision-tag-prod-canary", "istio-canary").apply(
        world, confirm="sandbox", audit=audit)
    set_tag_revision(world, "prod-canary", "1-18-5").apply(world, confirm="sandbox", audit=audit)
    relabel_namespace(world, "l7-traffic-beta", "1-18-5").apply(world, confirm="sandbox",
                                                                  audit=audit)
    recreate_workloads(world, "l7-traffic-alpha").apply(world, audit=audit)
    recreate_workloads(world, "l7-traffic-alpha", method="delete-replicasets").apply(
        world, audit=audit)
    used = _used(world, start)
    fixer, reader = _grants("fixer.yaml"), _grants("reader.yaml")
    assert _allowed(fixer | reader, used) == []
    writes = {u for u in used if u[2] not in ("get", "list", "watch")}
    # least privilege: every write verb the role grants is used by some fix
    granted_writes = {g for g in fixer if g[2] not in ("get", "list", "watch")}
    assert granted_writes - writes <= {
        ("admissionregistration.k8s.io", "mutatingwebhookconfigurations", "patch"),
        ("admissionregistration.k8s.io", "validatingwebhookconfigurations", "update"),
        ("admissionregistration.k8s.io", "validatingwebhookconfigurations", "patch"),
        ("", "namespaces", "patch"), ("apps", "deployments", "patch")}


def test_deployer_plus_reader_cover_applying_the_apps(world: Cluster) -> None:
    start = len(world.requests)
    apply_manifests(world, app_path("bookinfo"), namespace="l7-traffic-beta")
    apply_manifests(world, app_path("bookinfo-gateway"), namespace="l7-traffic-beta")
    used = _used(world, start)
    assert _allowed(_grants("deployer.yaml") | _grants("reader.yaml"), used) == []


def test_rbac_manifests_are_valid_objects(world: Cluster) -> None:
    for f in sorted(RBAC.glob("*.yaml")):
        doc = yaml.safe_load(f.read_text())
        assert doc["apiVersion"] == "rbac.authorization.k8s.io/v1"
        assert doc["kind"] in ("ClusterRole", "Role") and doc["rules"]
