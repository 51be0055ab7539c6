"""apply_manifests against the sandbox: idempotent server-side apply, validation first."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbook import kinds as k
from runbook.apps import app_path
from runbook.errors import ManifestError
from runbook.kube import Cluster, connect
from runbook.kube.apply import APPLY_COLUMNS, apply_manifests
from runbook.manifests import load_manifests
from runbook.sandbox import Sandbox

CRDS = Path(__file__).resolve().parents[2] / "runbook/sandbox/scenarios/istio-crds.yaml"


@pytest.fixture
def cluster(sandbox: Sandbox):  # type: ignore[no-untyped-def]
    c = connect(sandbox.kubeconfig_path, "sandbox")
    c.create(k.NAMESPACES, {"metadata": {"name": "shop"}})
    yield c
    c.close()


def _names(cluster: Cluster, kind: k.ResourceKind, ns: str) -> set[str]:
    return {o["metadata"]["name"] for o in cluster.list(kind, ns)}


def test_apply_is_idempotent(cluster: Cluster) -> None:
    first = apply_manifests(cluster, app_path("bookinfo"), namespace="shop")
    assert list(first.columns) == APPLY_COLUMNS
    assert len(first) == 14 and set(first.action) == {"created"}
    assert first.error.eq("").all()
    # service accounts come before the deployments that use them
    assert first.kind.tolist().index("ServiceAccount") < first.kind.tolist().index("Deployment")
    assert _names(cluster, k.DEPLOYMENTS, "shop") == {
        "details-v1", "ratings-v1", "reviews-v1", "reviews-v2", "reviews-v3", "productpage-v1"}
    again = apply_manifests(cluster, app_path("bookinfo"), namespace="shop")
    assert set(again.action) == {"unchanged"}


def test_apply_in_a_later_second_is_still_unchanged(sandbox: Sandbox, cluster: Cluster) -> None:
    # managedFields times have whole seconds; like kube-apiserver, a write that would change
    # nothing else keeps the stored times (notebooks re-run their apply steps minutes later)
    apply_manifests(cluster, app_path("bookinfo"), namespace="shop")
    before = cluster.get(k.SERVICES, "details", "shop")
    sandbox.advance(61)
    again = apply_manifests(cluster, app_path("bookinfo"), namespace="shop")
    assert set(again.action) == {"unchanged"}
    after = cluster.get(k.SERVICES, "details", "shop")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["metadata"]["managedFields"] == before["metadata"]["managedFields"]
    # a real change still stamps the time of the change
    (service,) = [m for m in load_manifests(app_path("bookinfo"))
                  if m.obj["kind"] == "Service" and m.obj["metadata"]["name"] == "details"]
    service.obj["metadata"]["labels"]["tier"] = "backend"
    sandbox.advance(61)
    assert list(apply_manifests(cluster, [service], namespace="shop").action) == ["configured"]
    changed = cluster.get(k.SERVICES, "details", "shop")["metadata"]["managedFields"]
    assert [m["time"] for m in changed] != [m["time"] for m in before["metadata"]["managedFields"]]


def test_a_change_is_configured(cluster: Cluster, tmp_path: Path) -> None:
    apply_manifests(cluster, app_path("bookinfo"), namespace="shop")
    text = app_path("bookinfo").read_text().replace("replicas: 1", "replicas: 2", 1)
    changed = tmp_path / "bookinfo.yaml"
    changed.write_text(text)
    result = apply_manifests(cluster, changed, namespace="shop")
    assert sorted(result.action.value_counts().items()) == [("configured", 1), ("unchanged", 13)]


def test_dry_run_stores_nothing(cluster: Cluster) -> None:
    result = apply_manifests(cluster, app_path("bookinfo"), namespace="shop", dry_run=True)
    assert set(result.action) == {"created (dry run)"}
    assert _names(cluster, k.DEPLOYMENTS, "shop") == set()


def test_one_bad_object_stops_everything_unless_asked(cluster: Cluster, tmp_path: Path) -> None:
    bad = tmp_path / "mixed.yaml"
    bad.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: good}\ndata: {a: b}\n---\n"
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\n")
    result = apply_manifests(cluster, bad, namespace="shop")
    by = result.set_index("name")
    assert by.loc["w", "action"] == "failed"
    assert 'no matches for kind "Widget" in version "example.com/v1"' in by.loc["w", "error"]
    assert by.loc["Bad_Name", "action"] == "failed" and "RFC 1123" in by.loc["Bad_Name", "error"]
    assert by.loc["good", "action"] == "not-applied"
    assert "good" not in _names(cluster, k.CONFIG_MAPS, "shop")
    assert by.loc["w", "source"].endswith("mixed.yaml:6")
    rest = apply_manifests(cluster, bad, namespace="shop", continue_on_error=True)
    assert rest.set_index("name").loc["good", "action"] == "created"


def test_namespace_flag_behaves_like_kubectl(cluster: Cluster, tmp_path: Path) -> None:
    f = tmp_path / "cm.yaml"
    f.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: other}\n")
    result = apply_manifests(cluster, f, namespace="shop")
    assert result.action[0] == "failed"
    assert 'does not match the namespace "shop"' in result.error[0]
    missing = apply_manifests(cluster, app_path("bookinfo"), namespace="nowhere")
    assert set(missing.action) == {"failed"}
    assert 'namespaces "nowhere" not found' in missing.error[0]


def test_invalid_yaml_names_file_and_line(cluster: Cluster, tmp_path: Path) -> None:
    f = tmp_path / "broken.yaml"
    f.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n")
    with pytest.raises(ManifestError, match=r"broken.yaml: invalid YAML at line \d+"):
        apply_manifests(cluster, f)


def test_schema_errors_are_caught_before_anything_is_applied(cluster: Cluster, tmp_path: Path) -> None:
    apply_manifests(cluster, CRDS)
    assert {c["metadata"]["name"] for c in cluster.list(k.CRDS)} >= {
        "virtualservices.networking.istio.io", "gateways.networking.istio.io"}
    typo = tmp_path / "vs.yaml"
    typo.write_text(app_path("bookinfo-gateway").read_text().replace("  hosts:", "  hostss:", 1))
    result = apply_manifests(cluster, typo, namespace="shop")
    assert "failed" in set(result.action)
    assert "unknown field" in " ".join(result.error)
    assert _names(cluster, k.GATEWAYS, "shop") == set()
    ok = apply_manifests(cluster, load_manifests(app_path("bookinfo-gateway")), namespace="shop")
    assert set(ok.action) == {"created"}
