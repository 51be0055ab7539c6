"""Fixtures for the fix panel's tests.

Two halves of one world: the *diagnosis* of the field report's cluster comes from the mesh tests'
seed world (plain objects with the istiod pods and Endpoints the controllers would make), and the
*cluster* the panel changes is a sandbox loaded with the seed-incident scenario's namespaces and
webhook configurations (plus bookinfo's Deployments for recreating). Plans always read the
sandbox afresh, so every check below is about the real objects in the sandbox.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runbook import kinds as k
from runbook.apps import app_path
from runbook.fix import AuditLog
from runbook.kube import Cluster, RetryPolicy, connect
from runbook.kube.apply import apply_manifests
from runbook.manifests import load_manifests
from runbook.mesh import Finding, Inventory, diagnose, inventory
from runbook.sandbox import Sandbox
from runbook.snapshot import Snapshot
from tests.mesh.worlds import SEED_DIR, World, seed_world

TAG = "istio-revision-tag-prod-canary"
NS = "l7-traffic-alpha"


def bare(**kwargs: Any) -> Sandbox:
    """A sandbox without its emulated controllers (when that switch exists): only our requests
    change it, so resourceVersions and objects are the test's alone."""
    if "controllers" in inspect.signature(Sandbox.__init__).parameters:
        kwargs["controllers"] = False
    return Sandbox(**kwargs)


@pytest.fixture
def bare_sandbox() -> Iterator[Sandbox]:
    with bare(scenario="empty", clock="manual") as sb:
        yield sb


def _connect(sb: Sandbox, context: str = "sandbox") -> Cluster:
    return connect(sb.kubeconfig_path, context,
                   retry=RetryPolicy(attempts=2, base_seconds=0.01, cap_seconds=0.02))


@pytest.fixture
def cluster(bare_sandbox: Sandbox) -> Iterator[Cluster]:
    """The sandbox with the seed's namespaces, webhook configurations and bookinfo Deployments."""
    c = _connect(bare_sandbox)
    for m in load_manifests(SEED_DIR / "00-namespaces.yaml") + load_manifests(SEED_DIR / "30-webhooks.yaml"):
        kind = k.default_registry().by_kind(m.obj["apiVersion"], m.obj["kind"])
        assert kind is not None
        c.create(kind, m.obj)
    apply_manifests(c, app_path("bookinfo"), namespace=NS)
    yield c
    c.close()


@pytest.fixture
def readonly(bare_sandbox: Sandbox, cluster: Cluster) -> Iterator[Cluster]:
    """The same sandbox through context ``sandbox-readonly`` (403 on every write)."""
    c = _connect(bare_sandbox, "sandbox-readonly")
    yield c
    c.close()


@pytest.fixture
def audit(tmp_path: Path) -> AuditLog:
    return AuditLog(tmp_path / "audit.jsonl")


def with_ready_containers(world: World) -> World:
    """Give the world's pods container statuses (ready, running) as the kubelet reports them."""
    for pod in world.of_kind("Pod"):
        status = pod.setdefault("status", {})
        status["containerStatuses"] = [
            {"name": c["name"], "ready": True, "restartCount": 0, "image": c.get("image"),
             "state": {"running": {"startedAt": "2023-10-27T06:05:30Z"}}}
            for c in pod["spec"].get("containers") or []]
    return world


def seed_snapshot(upstream: Path, **kwargs: Any) -> Snapshot:
    return with_ready_containers(seed_world(upstream, **kwargs)).snapshot()


@pytest.fixture
def diagnosis(upstream: Path) -> tuple[Inventory, list[Finding]]:
    """The field report's cluster diagnosed: MR101 (retarget), MR106 (set-tag), MR107 (recreate)."""
    inv = inventory(seed_snapshot(upstream))
    return inv, diagnose(inv)


def targets(cluster: Cluster, name: str = TAG) -> list[str]:
    obj = cluster.get(k.MUTATING_WEBHOOKS, name)
    return [f"{w['clientConfig']['service']['namespace']}/{w['clientConfig']['service']['name']}"
            for w in obj["webhooks"]]
