"""AuthorizationPolicy checks (IST0127, IST0101 for source namespaces), with inputs written for
this test from istioctl's ``auth.AuthorizationPoliciesAnalyzer`` rules."""

from __future__ import annotations

from typing import Any

from runbook.manifests import parse_manifests
from runbook.mesh.analyze import analyze
from runbook.mesh.policies import authorization_policy_messages, namespace_matches

from .world import seed_world, snapshot_of

NS = "l7-traffic-beta"   # bookinfo runs there, injected by 1-18-5; istio-prod is 1-18-5's root


def _policy(namespace: str, selector: dict[str, str] | None = None,
            sources: list[str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if selector is not None:
        spec["selector"] = {"matchLabels": selector}
    if sources is not None:
        spec["rules"] = [{"from": [{"source": {"namespaces": sources}}]}]
    return {"apiVersion": "security.istio.io/v1beta1", "kind": "AuthorizationPolicy",
            "metadata": {"name": "p", "namespace": namespace}, "spec": spec}


PODS = {"shop": [{"app": "web", "version": "v1"}]}


def test_selector_matching_no_in_mesh_pod() -> None:
    assert authorization_policy_messages(_policy("shop", {"app": "db", "tier": "x"}), ["shop"],
                                         PODS, ["istio-system"]) == [
        ("Warning", "IST0127",
         "No matching workloads for this resource with the following labels: app=db,tier=x")]
    assert authorization_policy_messages(_policy("shop", {"app": "web"}), ["shop"], PODS,
                                         ["istio-system"]) == []


def test_namespace_wide_and_mesh_wide_policies() -> None:
    assert authorization_policy_messages(_policy("empty"), ["empty"], PODS, ["istio-system"]) == [
        ("Warning", "IST0127", "No matching workloads for this resource with the following labels: ")]
    assert authorization_policy_messages(_policy("istio-system"), [], {}, ["istio-system"]) == []
    # a root-namespace policy with a selector looks for pods in every namespace
    assert authorization_policy_messages(_policy("istio-system", {"app": "web"}), [], PODS,
                                         ["istio-system"]) == []


def test_source_namespaces_must_exist() -> None:
    messages = authorization_policy_messages(
        _policy("shop", {"app": "web"}, sources=["shop", "sh*", "*op", "*", "gone", "x*"]),
        ["shop"], PODS, ["istio-system"])
    assert messages == [("Error", "IST0101", 'Referenced namespace not found: "gone"'),
                        ("Error", "IST0101", 'Referenced namespace not found: "x*"')]
    assert namespace_matches("Shop", "shop") and not namespace_matches("shop", "shop2")


def test_the_analyzer_reads_policies_from_files_against_the_cluster() -> None:
    world = snapshot_of(seed_world(bookinfo_in=[NS]))
    text = f"""
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {{name: reviews-only, namespace: {NS}}}
spec:
  selector: {{matchLabels: {{app: reviewz}}}}
  rules:
  - from: [{{source: {{namespaces: [l7-traffic-alpha, nowhere]}}}}]
"""
    result = analyze(parse_manifests(text, "ap.yaml"), world)
    frame = result.messages
    assert list(frame[frame["code"] == "IST0127"]["message"]) == [
        "No matching workloads for this resource with the following labels: app=reviewz"]
    assert list(frame[frame["code"] == "IST0101"]["message"]) == [
        'Referenced namespace not found: "nowhere"']
    fixed = analyze(parse_manifests(text.replace("reviewz", "reviews").replace(", nowhere", ""),
                                    "ap.yaml"), world)
    assert not {"IST0127", "IST0101"} & set(fixed.codes())
