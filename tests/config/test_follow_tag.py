"""meshconfig.follow_tag: a revision's discovery selectors follow the tags that point at it."""

from __future__ import annotations

import yaml

from runbook.meshconfig import discovery_selectors, follow_tag, watches_namespace
from runbook.sandbox.scenarios.incident import (
    follow_tags_in_discovery_selectors,
    retarget_tag_webhooks,
    seed_manifests,
)

MESH = yaml.safe_dump({"rootNamespace": "istio-prod", "discoverySelectors": [
    {"matchExpressions": [{"key": "istio.io/rev", "operator": "In", "values": ["1-18-5"]}]}]})
ALPHA = {"istio.io/rev": "prod-canary"}


def test_the_revision_a_tag_points_at_watches_its_namespaces() -> None:
    new = follow_tag(MESH, "1-18-5", "prod-canary", "1-18-5")
    assert new is not None and watches_namespace(discovery_selectors(new), ALPHA)
    assert yaml.safe_load(new)["rootNamespace"] == "istio-prod"
    assert follow_tag(new, "1-18-5", "prod-canary", "1-18-5") is None  # already right


def test_other_revisions_stop_watching_the_tag() -> None:
    canary = MESH.replace("- 1-18-5", "- 1-19-3\n    - prod-canary")
    assert watches_namespace(discovery_selectors(canary), ALPHA)
    new = follow_tag(canary, "1-19-3", "prod-canary", "1-18-5")
    assert new is not None and not watches_namespace(discovery_selectors(new), ALPHA)


def test_meshconfig_without_revision_selectors_is_left_alone() -> None:
    assert follow_tag("rootNamespace: x\n", "1-18-5", "t", "1-18-5") is None
    labels = yaml.safe_dump({"discoverySelectors": [{"matchLabels": {"team": "a"}}]})
    assert follow_tag(labels, "1-18-5", "t", "1-18-5") is None


def test_healthy_world_moves_prod_canary_to_1_18_5() -> None:
    healthy = follow_tags_in_discovery_selectors(retarget_tag_webhooks(seed_manifests()))
    meshes = {m.obj["metadata"]["name"]: discovery_selectors(m.obj["data"]["mesh"])
              for m in healthy if m.obj["kind"] == "ConfigMap" and "mesh" in m.obj.get("data", {})}
    assert watches_namespace(meshes["istio-1-18-5"], ALPHA)
    assert not watches_namespace(meshes["istio-1-19-3"], ALPHA)
    # the incident itself is untouched
    seed = {m.obj["metadata"]["name"]: m.obj for m in seed_manifests()
            if m.obj["kind"] == "ConfigMap"}
    assert "prod-canary" not in seed["istio-1-18-5"]["data"]["mesh"]
