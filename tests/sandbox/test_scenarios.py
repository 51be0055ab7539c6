"""Scenarios: the empty cluster, manifest directories in dependency order, and load errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbook.errors import ManifestError
from runbook.sandbox.clock import Clock
from runbook.sandbox.registry.cluster import Registry
from runbook.sandbox.registry.defaults import SERVICE_CIDR
from runbook.sandbox.scenarios import load_scenario, names


def _cluster() -> Registry:
    return Registry(Clock("manual"))


def test_empty_is_what_a_new_cluster_holds() -> None:
    cluster = _cluster()
    load_scenario(cluster, "empty")
    store = cluster.store
    assert [n["metadata"]["name"] for n in store.objects("namespaces")] == [
        "default", "kube-node-lease", "kube-public", "kube-system"]
    assert {n["status"]["phase"] for n in store.objects("namespaces")} == {"Active"}
    node = store.get("nodes", "", "sandbox-node")
    assert node is not None
    assert {"type": "InternalIP", "address": "127.0.0.1"} in node["status"]["addresses"]
    ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    assert ready[0]["status"] == "True"
    # the serviceaccount controller made one default ServiceAccount per namespace
    assert sorted(sa["metadata"]["namespace"] for sa in store.objects("serviceaccounts")) == [
        "default", "kube-node-lease", "kube-public", "kube-system"]
    kubernetes = store.get("services", "default", "kubernetes")
    assert kubernetes is not None
    assert kubernetes["spec"]["clusterIP"] == str(SERVICE_CIDR[1])  # the range's first address
    assert "empty" in names()


def test_manifest_directory_applies_crds_and_namespaces_first(tmp_path: Path, upstream: Path) -> None:
    (tmp_path / "10-objects.yaml").write_text(
        (upstream / "bookinfo-gateway-1.18.5.yaml").read_text().replace(
            "metadata:\n  name: bookinfo-gateway", "metadata:\n  name: bookinfo-gateway\n  namespace: shop")
        .replace("metadata:\n  name: bookinfo\n", "metadata:\n  name: bookinfo\n  namespace: shop\n"))
    (tmp_path / "20-crds.yaml").write_text((upstream / "crds-networking.yaml").read_text())
    (tmp_path / "30-namespace.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n")
    cluster = _cluster()
    load_scenario(cluster, str(tmp_path))
    assert cluster.store.get("gateways.networking.istio.io", "shop", "bookinfo-gateway") is not None
    assert cluster.store.get("virtualservices.networking.istio.io", "shop", "bookinfo") is not None
    assert cluster.store.get("serviceaccounts", "shop", "default") is not None


def test_the_seed_incident_directory_loads() -> None:
    cluster = _cluster()
    load_scenario(cluster, "seed-incident")
    tag = cluster.store.get("mutatingwebhookconfigurations.admissionregistration.k8s.io", "",
                            "istio-revision-tag-prod-canary")
    assert tag is not None
    assert tag["webhooks"][0]["clientConfig"]["service"]["namespace"] == "istio-system"


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n")
    with pytest.raises(ManifestError) as exc:
        load_scenario(_cluster(), str(bad))
    assert str(bad) in str(exc.value) and "invalid YAML" in str(exc.value)


def test_unknown_kind_names_file_and_document(tmp_path: Path) -> None:
    bad = tmp_path / "objects.yaml"
    bad.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\n"
                   "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n")
    with pytest.raises(ManifestError) as exc:
        load_scenario(_cluster(), str(bad))
    assert f"{bad} (document 2, line 5): unknown kind Widget in example.com/v1" in str(exc.value)


def test_refused_object_names_file_and_object(tmp_path: Path) -> None:
    bad = tmp_path / "objects.yaml"
    bad.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: missing}\n")
    with pytest.raises(ManifestError) as exc:
        load_scenario(_cluster(), str(bad))
    assert 'ConfigMap/missing/x: namespaces "missing" not found' in str(exc.value)


def test_unknown_scenario_name() -> None:
    with pytest.raises(ManifestError) as exc:
        load_scenario(_cluster(), "no-such-thing")
    assert "unknown scenario 'no-such-thing'" in str(exc.value)
