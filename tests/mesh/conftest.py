"""Worlds for the mesh tests (built from the scenario manifests and the upstream fixtures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runbook.manifests import load_manifests
from runbook.snapshot import Snapshot

from .worlds import KINDS, World, healthy_world, renamed_world, seed_world


@pytest.fixture
def seed(upstream: Path) -> World:
    """The field report's cluster after ``kubectl apply -f bookinfo.yaml -n l7-traffic-alpha``."""
    return seed_world(upstream)


@pytest.fixture
def healthy(upstream: Path) -> World:
    return healthy_world(upstream)


@pytest.fixture
def renamed(upstream: Path) -> World:
    return renamed_world(upstream)


@pytest.fixture
def fixture_objects(upstream: Path):  # type: ignore[no-untyped-def]
    """Objects of an upstream fixture file, e.g. ``fixture_objects("webhooks/rev-16-injector.yaml")``."""

    def read(relative: str) -> list[dict[str, Any]]:
        return [m.obj for m in load_manifests(upstream / relative)]

    return read


def snapshot_of(*objects: dict[str, Any]) -> Snapshot:
    """A snapshot with every diagnosis kind readable, holding just ``objects``."""
    return Snapshot.from_objects(objects, KINDS)
