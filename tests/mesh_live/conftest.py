"""Fixtures of the live mesh tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runbook.kube import Cluster, connect
from runbook.sandbox import Sandbox


@pytest.fixture
def seed_cluster() -> Iterator[Cluster]:
    """The seed world on a real clock with fast pod starts (rollouts are waited for)."""
    with Sandbox(scenario="seed-incident", pod_start_seconds=0.05) as sb:
        c = connect(sb.kubeconfig_path, "sandbox")
        yield c
        c.close()


@pytest.fixture
def cluster(seed_sandbox, world_settle) -> Iterator[Cluster]:  # type: ignore[no-untyped-def]
    """The official client on the settled seed world (manual clock; closed after the test)."""
    world_settle(seed_sandbox, 1.0)
    client = connect(seed_sandbox.kubeconfig_path, "sandbox")
    yield client
    client.close()
