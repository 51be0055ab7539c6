"""Telemetry selector checks (IST0101 selector, IST0159, IST0160) with inputs written for this test
from istioctl's telemetry selector analyzers — the Sidecar rules on ``selector.matchLabels``."""

from __future__ import annotations

from typing import Any

from runbook.mesh.analyze import analyze
from runbook.mesh.sidecars import TELEMETRY_RULES, selector_messages

PODS = {"shop": [("web-1", {"app": "web"}), ("db-1", {"app": "db"})]}


def _telemetry(name: str, namespace: str = "shop", labels: dict[str, str] | None = None,
               selector: bool = True, target_ref: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"tracing": [{"randomSamplingPercentage": 10.0}]}
    if selector:
        spec["selector"] = {"matchLabels": labels or {}}
    if target_ref:
        spec["targetRef"] = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "edge"}
    return {"apiVersion": "telemetry.istio.io/v1alpha1", "kind": "Telemetry",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def test_two_telemetries_selecting_one_pod_each_get_ist0159() -> None:
    out = selector_messages([_telemetry("a", labels={"app": "web"}),
                             _telemetry("b", labels={"app": "web"}),
                             _telemetry("c", labels={"app": "db"})], PODS, TELEMETRY_RULES)
    expected = ("Error", "IST0159", 'The Telemetries [a b] in namespace "shop" select the same '
                                    'workload pod "web-1", which can lead to undefined behavior.')
    assert out[("shop", "a")] == out[("shop", "b")] == [expected]
    assert ("shop", "c") not in out


def test_selectorless_telemetries_get_ist0160_but_target_refs_count_as_selectors() -> None:
    out = selector_messages([_telemetry("t1", selector=False), _telemetry("t2", selector=False),
                             _telemetry("gw", selector=False, target_ref=True),
                             _telemetry("alone", namespace="x", selector=False)],
                            PODS, TELEMETRY_RULES)
    expected = ("Error", "IST0160", 'The Telemetries [t1 t2] in namespace "shop" have no workload '
                                    "selector, which can lead to undefined behavior.")
    assert out[("shop", "t1")] == out[("shop", "t2")] == [expected]
    assert ("shop", "gw") not in out and ("x", "alone") not in out


def test_a_selector_that_selects_nothing_is_ist0101_and_an_empty_one_is_ignored() -> None:
    out = selector_messages([_telemetry("ghost", labels={"app": "ghost"}),
                             _telemetry("empty", labels={})], PODS, TELEMETRY_RULES)
    assert out[("shop", "ghost")] == [("Error", "IST0101", 'Referenced selector not found: "app=ghost"')]
    assert ("shop", "empty") not in out


def test_analyze_reports_them_on_the_telemetries_from_files() -> None:
    pods = [{"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": name, "namespace": "shop", "labels": labels},
             "spec": {"containers": [{"name": "app", "image": "app:1"}]}}
            for name, labels in PODS["shop"]]
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    result = analyze([namespace, *pods, _telemetry("a", labels={"app": "web"}),
                      _telemetry("b", labels={"app": "web"})])
    rows = result.messages.to_dict("records")
    assert [(r["code"], r["kind"], r["name"]) for r in rows] == [
        ("IST0159", "Telemetry", "a"), ("IST0159", "Telemetry", "b")]
