"""Fixtures of the living-world tests: an ``empty`` world on a manual clock, and its clients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from runbook.sandbox import Sandbox
from tests.sandbox_world.helpers import api_for


@pytest.fixture
def world() -> Iterator[Sandbox]:
    with Sandbox(scenario="empty", clock="manual") as sb:
        yield sb


@pytest.fixture
def apis(world: Sandbox) -> Iterator[tuple[client.CoreV1Api, client.AppsV1Api]]:
    with api_for(world) as api:
        yield client.CoreV1Api(api), client.AppsV1Api(api)
