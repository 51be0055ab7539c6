"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: real upstream Istio objects, read in place (never copied into the project)
UPSTREAM = ROOT.parent / "shared" / "fixtures" / "upstream"


@pytest.fixture(scope="session")
def upstream() -> Path:
    """The directory of upstream fixtures; tests that need it skip when it is absent."""
    if not UPSTREAM.is_dir():
        pytest.skip(f"upstream fixtures not found at {UPSTREAM}")
    return UPSTREAM


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep sandbox state files, audit logs and kubeconfigs of tests out of the user's home."""
    home = tmp_path_factory.getbasetemp() / "runbook-home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("MESH_RUNBOOK_HOME", str(home))
    monkeypatch.delenv("KUBECONFIG", raising=False)


# --- the sandbox (runbook.sandbox) for every test that needs a cluster -------------------------


@pytest.fixture
def sandbox():  # type: ignore[no-untyped-def]
    """A fresh sandbox (scenario ``empty``, manual clock), stopped after the test.

    Talk to it with the official client (``sandbox.kubeconfig_path``, context ``sandbox``; context
    ``sandbox-readonly`` gets 403 on writes) or kubectl; drive time with ``sandbox.advance(s)`` and
    wait for controllers with ``sandbox.settle()``.
    """
    from runbook.sandbox import Sandbox

    with Sandbox(scenario="empty", clock="manual") as sb:
        yield sb


@pytest.fixture(scope="session")
def kubectl() -> str:
    """Path of the real kubectl; tests that need it skip where it is not installed."""
    import shutil

    path = shutil.which("kubectl")
    if path is None:
        pytest.skip("kubectl is not installed on this machine")
    return path


# --- the living sandbox world (controllers, webhooks, emulated istiods) ------------------------


@pytest.fixture
def seed_sandbox():  # type: ignore[no-untyped-def]
    """A fresh sandbox with the field report's world (scenario ``seed-incident``, manual clock at
    2023-10-27T06:00:00Z): both istiods Running and logging, gateways Ready, the revision tag's
    webhook calling a Service that does not exist. Drive it with :func:`advance_world`."""
    from runbook.sandbox import Sandbox

    with Sandbox(scenario="seed-incident", clock="manual") as sb:
        yield sb


def advance_world(sb, seconds: float = 0.0) -> None:  # type: ignore[no-untyped-def]
    """Let a manual-clock sandbox's world move on: ``seconds`` of sandbox time pass (timers fire in
    order: pod starts, ReplicaSet retries, istiod debounce), then queued controller work runs
    until nothing is left — no sleeping."""
    if seconds:
        sb.advance(seconds)
    sb.settle()


@pytest.fixture
def world_settle():  # type: ignore[no-untyped-def]
    """:func:`advance_world` as a fixture: ``world_settle(sb, 0.2)``."""
    return advance_world
