"""Fixtures for the data plane tests (helpers in tests/sandbox_dataplane/helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runbook.kube.apply import apply_manifests
from tests.sandbox_dataplane.helpers import APPS, BETA, TEST_APPS, Gateways, seed_gateways


@pytest.fixture(scope="module")
def gw() -> Iterator[Gateways]:
    """One seed world for a module: nginx/echo apps (sample-gateway-fixed.yaml + echo v2) in
    l7-traffic-beta and the Gateway ``dp-test`` for ``*.dp.test`` on the prod gateway."""
    with seed_gateways() as g:
        rows = apply_manifests(g.cluster, APPS / "sample-gateway-fixed.yaml", namespace=BETA)
        assert not (rows["action"] == "failed").any()
        g.apply(TEST_APPS)
        yield g
