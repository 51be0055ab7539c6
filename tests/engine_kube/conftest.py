"""The real engine under test: built (or taken from the cache) once per session.

Every test here is marked ``kube_engine`` and ``slow``. They skip, with one line, only where Go
is not installed; with Go they build the engine (cached under ``$XDG_CACHE_HOME/mesh-runbook``;
``.ci/run`` builds it before the tests) and run it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runbook.sandbox.realkube.build import ensure_binary, find_go
from runbook.sandbox.realkube.engine import KubeEngine
from tests.waiting import wait_until

#: a cold build of Kubernetes takes many minutes; tests that trigger it may take that long
BUILD_TIMEOUT = 3600


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "engine_kube" in str(item.fspath):
            item.add_marker(pytest.mark.kube_engine)
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.timeout(BUILD_TIMEOUT))


@pytest.fixture(scope="session")
def engine_binary() -> Path:
    if find_go() is None:
        pytest.skip("go is not installed: the real engine cannot be built")
    return ensure_binary()


@pytest.fixture(scope="module")
def seed_engine(engine_binary: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[KubeEngine]:
    """A real engine with the seed-incident scenario, shared by a module's tests."""
    with KubeEngine(scenario="seed-incident",
                    state_dir=tmp_path_factory.mktemp("kube-state")) as engine:
        yield engine


@pytest.fixture(scope="module")
def healthy_engine(engine_binary: Path, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[KubeEngine]:
    """A real engine with the healthy scenario, shared by a module's tests (a start costs
    seconds: tests that break something put it back, or work in a namespace of their own)."""
    with KubeEngine(scenario="healthy",
                    state_dir=tmp_path_factory.mktemp("kube-state")) as engine:
        yield engine


def wait_for(condition: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy (bounded; the real controllers run
    on their own schedule, so there is no event to wait on)."""
    return wait_until(condition, what, timeout, interval=0.2)
