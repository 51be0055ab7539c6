"""Shared data for the engine tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def kubectl_cases() -> dict[str, Any]:
    """Golden patch results recorded from ``kubectl patch --local`` (see the file's ``source``)."""
    data: dict[str, Any] = json.loads((HERE / "kubectl_patch_cases.json").read_text())
    return data


def load_docs(path: Path) -> list[dict[str, Any]]:
    """YAML documents of a file (libyaml's loader when present: the CRD files are large)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [d for d in yaml.load_all(path.read_text(), Loader=loader) if d]


@pytest.fixture(scope="session")
def istio_crds(upstream: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """``{"1.18.5"|"head": {crd name: crd}}`` from the upstream fixtures."""
    return {
        "1.18.5": {d["metadata"]["name"]: d for d in load_docs(upstream / "crds-networking.yaml")},
        "head": {d["metadata"]["name"]: d for d in load_docs(upstream / "crds-networking-head.yaml")},
    }
