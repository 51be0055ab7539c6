"""Worlds other than the seed: renamed names, the upstream webhook fixtures, bad scenarios, scale."""

from __future__ import annotations

import gc
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from runbook.errors import ManifestError
from runbook.formats.istiod_log import parse_push_lines
from runbook.manifests import load_manifests
from runbook.sandbox import Sandbox
from runbook.sandbox.clock import Clock
from runbook.sandbox.registry.cluster import Registry
from runbook.sandbox.registry.defaults import apply_defaults
from runbook.sandbox.scenarios import create_from_manifests, load_scenario
from runbook.sandbox.scenarios.incident import retarget_tag_webhooks
from runbook.sandbox.scenarios.scale import ScaleOptions, failures_after
from runbook.sandbox.storage.store import copy_object
from runbook.sandbox.world import World
from tests.conftest import advance_world
from tests.sandbox_world.helpers import ISTIO_CRDS, RENAMED, api_for, injected_revision, proxy_image


def _deployment(name: str, replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name, "version": "v1"}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                         {"name": name, "image": "nginx:1.25",
                          "ports": [{"containerPort": 80}]}]}}}}


def _message(exc: ApiException) -> str:
    return str(json.loads(exc.body)["message"])


# ------------------------------------------------------------------------------ renamed world


def test_a_world_with_other_names_is_recognised_by_labels() -> None:
    with Sandbox(scenario=str(RENAMED), clock="manual") as sb, api_for(sb) as api:
        pod = sb.store.objects("pods", "mesh-blue")[0]
        assert pod["metadata"]["name"].startswith("pilot-blue-")
        assert pod["status"]["phase"] == "Running"
        apps = client.AppsV1Api(api)
        apps.create_namespaced_deployment("storefront", _deployment("web"))
        apps.create_namespaced_deployment("shop", _deployment("cart"))
        advance_world(sb, 1)
        injected = sb.store.objects("pods", "storefront")[0]
        assert injected_revision(injected) == "1-20-1"
        assert proxy_image(injected) == "gcr.io/istio-release/proxyv2:1.20.1-distroless"
        env = {e["name"]: e.get("value") for e in injected["spec"]["containers"][1]["env"]}
        assert env["TRUST_DOMAIN"] == "blue.example"
        assert env["CA_ADDR"] == "istiod-1-20-1.mesh-blue.svc:15012"
        assert sb.store.objects("pods", "shop") == []
        failed = [e for e in sb.store.objects("events", "shop") if e["reason"] == "FailedCreate"]
        assert failed[0]["message"] == (
            'Error creating: Internal error occurred: failed calling webhook '
            '"rev.namespace.sidecar-injector.istio.io": failed to call webhook: Post '
            '"https://pilot-1-20-1.mesh-green.svc:443/inject?timeout=10s": '
            'service "pilot-1-20-1" not found')
        # config in a watched namespace is pushed by the renamed istiod
        create_from_manifests(sb.cluster, ISTIO_CRDS)
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            "networking.istio.io", "v1beta1", "shop", "virtualservices",
            {"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
             "metadata": {"name": "cart"}, "spec": {"hosts": ["cart"]}})
        advance_world(sb, 1)
        pushes = parse_push_lines(sb.logs.read("mesh-blue", pod["metadata"]["name"], "discovery"))
        assert any(p.configs == ["VirtualService/shop/cart"] for p in pushes)


def test_healthy_transformation_retargets_any_tag_by_labels() -> None:
    fixed = retarget_tag_webhooks(load_manifests(RENAMED))
    tag = next(m.obj for m in fixed if m.obj["metadata"]["name"] == "tag-stable")
    assert tag["webhooks"][0]["clientConfig"]["service"] == {
        "name": "control-blue", "namespace": "mesh-blue", "path": "/inject", "port": 443}
    untouched = next(m.obj for m in load_manifests(RENAMED) if m.obj["metadata"]["name"] == "tag-stable")
    assert untouched["webhooks"][0]["clientConfig"]["service"]["namespace"] == "mesh-green"


# ------------------------------------------------------------------------ upstream webhooks


@pytest.mark.parametrize("fixture, labels, service", [
    ("default-injector.yaml", {"istio.io/rev": "default"}, "istiod"),
    ("rev-16-injector.yaml", {"istio.io/rev": "1-16"}, "istiod-1-16"),
    ("revision-tag-default-test-dev2.yaml", {"istio-injection": "enabled"}, "istiod-test-dev2"),
])
def test_upstream_injectors_call_their_missing_services(fixture: str, labels: dict[str, str],
                                                        service: str, upstream: Path) -> None:
    with Sandbox(scenario=str(upstream / "webhooks" / fixture), clock="manual") as sb, \
            api_for(sb) as api:
        core = client.CoreV1Api(api)
        core.create_namespace({"metadata": {"name": "app", "labels": labels}})
        with pytest.raises(ApiException) as exc:
            core.create_namespaced_pod("app", {"metadata": {"name": "p"}, "spec": {
                "containers": [{"name": "c", "image": "nginx:1.25"}]}})
        assert exc.value.status == 500
        assert _message(exc.value).endswith(
            f'Post "https://{service}.istio-system.svc:443/inject?timeout=10s": '
            f'service "{service}" not found')
        core.create_namespace({"metadata": {"name": "plain"}})
        core.create_namespaced_pod("plain", {"metadata": {"name": "p"}, "spec": {
            "containers": [{"name": "c", "image": "nginx:1.25"}]}})


def test_never_match_injector_never_injects(upstream: Path) -> None:
    with Sandbox(scenario=str(upstream / "webhooks" / "never-match-injector.yaml"),
                 clock="manual") as sb, api_for(sb) as api:
        core = client.CoreV1Api(api)
        for i, labels in enumerate(({"istio-injection": "enabled"}, {"istio.io/rev": "default"},
                                    {"istio.io/deactivated": "other"})):
            core.create_namespace({"metadata": {"name": f"ns{i}", "labels": labels}})
            pod = core.create_namespaced_pod(f"ns{i}", {
                "metadata": {"name": "p", "labels": {"sidecar.istio.io/inject": "true"}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}})
            assert [c.name for c in pod.spec.containers] == ["c"]


def test_overlap_fixture_is_refused_as_written_and_fails_pods_once_installable(
        upstream: Path, tmp_path: Path) -> None:
    source = upstream / "webhooks" / "analyzer-webhook-overlap.yaml"
    with pytest.raises(ManifestError) as exc:
        Sandbox(scenario=str(source), clock="manual").start()
    # analyzer test data: v1 requires sideEffects, which the file lacks — a real API server
    # refuses it the same way, naming the webhook field
    assert f"{source} (document 1, line 1)" in str(exc.value)
    assert "webhooks[0].sideEffects: Required value" in str(exc.value)

    docs = list(yaml.safe_load_all(source.read_text()))
    for doc in docs:
        if doc["kind"] == "MutatingWebhookConfiguration":
            for hook in doc["webhooks"]:
                hook["sideEffects"] = "None"
                hook["rules"] = [{"apiGroups": [""], "apiVersions": ["v1"],
                                  "operations": ["CREATE"], "resources": ["pods"]}]
        else:  # the Service `istiod` has no ports, which no API server accepts either
            doc["spec"] = {"ports": [{"name": "https-webhook", "port": 443}]}
    installable = tmp_path / "overlap.yaml"
    installable.write_text(yaml.safe_dump_all([{"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": "istio-system"}}, *docs]))
    with Sandbox(scenario=str(installable), clock="manual") as sb, api_for(sb) as api:
        core = client.CoreV1Api(api)
        core.create_namespace({"metadata": {"name": "app",
                                            "labels": {"istio-injection": "enabled"}}})
        with pytest.raises(ApiException) as failed:
            core.create_namespaced_pod("app", {"metadata": {"name": "p"}, "spec": {
                "containers": [{"name": "c", "image": "nginx:1.25"}]}})
        # configurations are called sorted by name: "…-missing-overlap" before "…-overlap"
        assert _message(failed.value) == (
            'Internal error occurred: failed calling webhook "sidecar-injector.istio.io": failed '
            'to call webhook: Post "https://fake.istio-system.svc:443?timeout=10s": '
            'service "fake" not found')


# ------------------------------------------------------------------------------ bad input


def test_invalid_yaml_and_unknown_kinds_name_file_and_document(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n"
                                   "---\napiVersion: v1\nkind: ConfigMap\nmetadata: [oops\n")
    with pytest.raises(ManifestError) as exc:
        load_scenario(Registry(Clock("manual")), str(broken))
    assert str(broken / "a.yaml") in str(exc.value) and "(document 2)" in str(exc.value)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n---\n"
                       "apiVersion: networking.istio.io/v1beta1\nkind: Gateway\n"
                       "metadata: {name: g}\n")
    with pytest.raises(ManifestError) as exc:
        load_scenario(Registry(Clock("manual")), str(unknown))
    assert f"{unknown} (document 2, line 5)" in str(exc.value)
    assert "unknown kind Gateway" in str(exc.value)


def test_scale_options_are_checked() -> None:
    assert ScaleOptions.parse({"namespaces": "10"}).namespaces == 10
    for bad in ({"pods": "1"}, {"namespaces": "many"}, {"events": "-1"}):
        with pytest.raises(ManifestError):
            ScaleOptions.parse(bad)
    with pytest.raises(ManifestError, match="not key=value"):
        load_scenario(Registry(Clock("manual")), "scale:namespaces")


# ------------------------------------------------------------------------------ scale


def test_failures_follow_the_backoff() -> None:
    assert failures_after(0) == (1, 0.0)
    count, last = failures_after(277)
    assert count == 16 and last == pytest.approx(0.005 * (2 ** 15 - 1))
    count, last = failures_after(3600)
    assert last <= 3600 and 3600 - last < 1000  # at the cap, one retry per 1000 s


def test_small_scale_world_is_consistent_with_its_controllers() -> None:
    with Sandbox(scenario="scale:namespaces=20,replicasets=60,events=400,broken=5",
                 clock="manual") as sb:
        store = sb.store
        scale_ns = [n["metadata"]["name"] for n in store.objects("namespaces")
                    if n["metadata"]["name"].startswith("scale-")]
        assert len(scale_ns) == 20
        broken = [n for n in scale_ns if store.get("namespaces", "", n)["metadata"]["labels"].get(
            "istio.io/rev") == "prod-canary"]
        assert len(broken) == 5
        rs = [r for r in store.objects("replicasets.apps") if r["metadata"]["namespace"] in scale_ns]
        assert len(rs) == 60
        events = [e for e in store.objects("events") if e["metadata"]["namespace"] in scale_ns]
        assert len(events) == 400
        failed = [e for e in events if e["reason"] == "FailedCreate"]
        assert len(failed) == 15 and all(e["count"] >= 16 for e in failed)
        healthy_pods = [p for p in store.objects("pods") if p["metadata"]["namespace"] in scale_ns]
        assert len(healthy_pods) == 45
        assert {injected_revision(p) for p in healthy_pods} == {"1-18-5", "1-19-3"}
        # the controllers, asked to look at every healthy object, find nothing to change
        world = World.of(sb.cluster)
        assert world is not None
        rv = store.resource_version
        for r in rs:
            key = (r["metadata"]["namespace"], r["metadata"]["name"])
            if r["metadata"]["namespace"] not in broken:
                world.controllers.replicasets.sync(key)
            world.controllers.deployments.sync((key[0], r["metadata"]["ownerReferences"][0]["name"]))
        for ns in scale_ns:
            for svc in store.objects("services", ns):
                world.controllers.endpoints.sync((ns, svc["metadata"]["name"]))
        assert store.resource_version == rv
        # the broken ReplicaSets keep retrying on the backoff schedule: counts grow
        before = {e["metadata"]["name"]: e["count"] for e in failed}
        advance_world(sb, 1000)
        after = {e["metadata"]["name"]: e["count"] for e in store.objects("events")
                 if e["metadata"]["name"] in before}
        assert all(after[n] > before[n] for n in before)
        assert sb.cluster.work.errors == []


def test_a_scale_load_keeps_its_objects_from_the_cyclic_collector_not_from_freeing() -> None:
    frozen_before = gc.get_freeze_count()
    cluster = Registry(Clock("manual"))
    load_scenario(cluster, "scale:namespaces=20,replicasets=60,events=400", run_work=False)
    objects = sum(cluster.store.count(kind) for kind in cluster.store.kinds())
    frozen = gc.get_freeze_count() - frozen_before
    assert gc.isenabled()
    assert frozen > 5 * objects  # every stored object's containers, out of the collector's sight
    cluster.reset()
    del cluster
    # reference counting still frees them: the permanent generation shrinks back
    assert gc.get_freeze_count() - frozen_before < frozen / 4


def test_the_scale_world_stores_its_pods_and_deployments_fully_defaulted() -> None:
    # the builder defaults them once, before their status is set: defaulting again changes nothing
    with Sandbox(scenario="scale:namespaces=4,replicasets=8,events=0,broken=1",
                 clock="manual") as sb:
        for kind in ("pods", "deployments.apps", "replicasets.apps"):
            built = [o for o in sb.store.objects(kind) if o["metadata"]["namespace"].startswith(
                "scale-")]
            assert built
            for obj in built:
                again = copy_object(obj)
                apply_defaults(kind, again, sb.cluster.allocator)
                assert again == obj


def test_reset_reloads_the_world(seed_sandbox: Sandbox) -> None:
    with api_for(seed_sandbox) as api:
        client.AppsV1Api(api).create_namespaced_deployment("default", _deployment("web"))
    advance_world(seed_sandbox, 1)
    assert seed_sandbox.store.count("pods", "default") == 1
    seed_sandbox.reset()
    assert seed_sandbox.store.count("pods", "default") == 0
    istiods = [p for p in seed_sandbox.store.objects("pods") if p["metadata"]["name"].startswith(
        "istiod-")]
    assert len(istiods) == 2 and all(p["status"]["phase"] == "Running" for p in istiods)
    assert seed_sandbox.world is not None
    assert len(seed_sandbox.world.istio.istiods.instances) == 2


def test_copied_scenario_directory_loads_like_the_builtin(tmp_path: Path) -> None:
    target = tmp_path / "mine"
    shutil.copytree(RENAMED, target)
    shutil.copy(ISTIO_CRDS, target / "05-crds.yaml")
    with Sandbox(scenario=str(target), clock="manual") as sb:
        assert sb.store.count("customresourcedefinitions.apiextensions.k8s.io") == 3
        assert sb.store.count("pods", "mesh-blue") == 1
