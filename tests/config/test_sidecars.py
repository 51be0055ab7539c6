"""Sidecar checks (IST0101 selector, IST0110, IST0111) with inputs written for this test from
istioctl's sidecar selector analyzers."""

from __future__ import annotations

from typing import Any

from runbook.manifests import parse_manifests
from runbook.mesh.analyze import analyze
from runbook.mesh.sidecars import sidecar_messages

from .world import seed_world, snapshot_of

NS = "l7-traffic-beta"
PODS = {"shop": [("web-1", {"app": "web"}), ("db-1", {"app": "db"})]}


def _sidecar(name: str, namespace: str = "shop", labels: dict[str, str] | None = None,
             selector: bool = True) -> dict[str, Any]:
    spec: dict[str, Any] = {"egress": [{"hosts": ["./*"]}]}
    if selector:
        spec["workloadSelector"] = {"labels": labels or {}}
    return {"apiVersion": "networking.istio.io/v1beta1", "kind": "Sidecar",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def test_two_sidecars_selecting_one_pod_each_get_ist0110() -> None:
    out = sidecar_messages([_sidecar("a", labels={"app": "web"}), _sidecar("b", labels={"app": "web"}),
                            _sidecar("c", labels={"app": "db"})], PODS)
    expected = ("Error", "IST0110", 'The Sidecars [a b] in namespace "shop" select the same '
                                    'workload pod "web-1", which can lead to undefined behavior.')
    assert out[("shop", "a")] == out[("shop", "b")] == [expected]
    assert ("shop", "c") not in out


def test_a_selector_that_selects_nothing_and_selectorless_sidecars() -> None:
    out = sidecar_messages([_sidecar("ghost", labels={"app": "ghost", "v": "1"}),
                            _sidecar("d1", selector=False), _sidecar("d2", selector=False),
                            _sidecar("other-ns", namespace="x", selector=False)], PODS)
    assert out[("shop", "ghost")] == [("Error", "IST0101",
                                       'Referenced selector not found: "app=ghost,v=1"')]
    assert out[("shop", "d1")] == out[("shop", "d2")] == [(
        "Error", "IST0111", 'The Sidecars [d1 d2] in namespace "shop" have no workload selector, '
                            "which can lead to undefined behavior.")]
    assert ("x", "other-ns") not in out


def test_the_analyzer_checks_sidecar_files_against_the_cluster_pods() -> None:
    world = snapshot_of(seed_world(bookinfo_in=[NS]))
    text = f"""
apiVersion: networking.istio.io/v1beta1
kind: Sidecar
metadata: {{name: reviews, namespace: {NS}}}
spec:
  workloadSelector: {{labels: {{app: reviews}}}}
---
apiVersion: networking.istio.io/v1beta1
kind: Sidecar
metadata: {{name: reviews-again, namespace: {NS}}}
spec:
  workloadSelector: {{labels: {{app: reviews, version: v1}}}}
"""
    result = analyze(parse_manifests(text, "sidecars.yaml"), world)
    frame = result.messages[result.messages["code"] == "IST0110"]
    assert sorted(set(frame["name"])) == ["reviews", "reviews-again"]
    single = analyze(parse_manifests(text.split("---")[0], "sidecar.yaml"), world)
    assert not {"IST0110", "IST0101"} & set(single.codes())


# ------------------------------------------------------------- IST0167 (ambient data plane)


def test_a_sidecar_selecting_an_ambient_pod_has_no_impact() -> None:
    from runbook.mesh.sidecars import SIDECAR_RULES, selector_messages

    out = selector_messages([_sidecar("a", labels={"app": "web"}), _sidecar("b", labels={"app": "web"})],
                            PODS, SIDECAR_RULES, ambient_pods={("shop", "web-1")})
    expected = [("Warning", "IST0167", "The policy has no impact: selected workload is in ambient "
                                       "mode, the policy has no impact.")]
    assert out[("shop", "a")] == out[("shop", "b")] == expected   # instead of IST0110


def test_selectorless_sidecars_in_an_ambient_namespace_have_no_impact() -> None:
    from runbook.mesh.sidecars import SIDECAR_RULES, selector_messages

    out = selector_messages([_sidecar("d1", selector=False), _sidecar("d2", selector=False)],
                            PODS, SIDECAR_RULES, ambient_namespaces={"shop"})
    assert out[("shop", "d1")] == [("Warning", "IST0167", "The policy has no impact: namespace is "
                                                          "in ambient mode, the policy has no impact.")]
    assert sidecar_messages([_sidecar("d1", selector=False)], PODS) == {}   # not ambient: fine


def test_analyze_reads_ambient_from_the_pod_annotation_and_the_namespace_label() -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": "shop", "labels": {"istio.io/dataplane-mode": "ambient"}}}
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"},
                        "annotations": {"ambient.istio.io/redirection": "enabled"}},
           "spec": {"containers": [{"name": "web", "image": "web:1"}]}}
    result = analyze([namespace, pod, _sidecar("a", labels={"app": "web"}),
                      _sidecar("d1", selector=False)])
    assert sorted((r["code"], r["name"]) for r in result.messages.to_dict("records")) == [
        ("IST0167", "a"), ("IST0167", "d1")]
