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
