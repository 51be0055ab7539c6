"""IST0140 (IngressRouteRulesNotAffected) with inputs written from istioctl's DestinationHostAnalyzer:
a gateway-bound VirtualService routes a host without a subset while another VirtualService for
that host splits it by subset — the split never applies to ingress requests."""

from __future__ import annotations

from runbook.manifests import parse_manifests
from runbook.mesh.analyze import analyze

INGRESS = """
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: edge, namespace: shop}
spec:
  hosts: [shop.example.com]
  gateways: [shop-gw]
  http:
  - route:
    - destination: {host: reviews}
"""
SPLIT = """
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: reviews-split, namespace: shop}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 90
    - destination: {host: reviews, subset: v2}
      weight: 10
"""


def _ist0140(*docs: str) -> list[tuple[str, str]]:
    result = analyze(parse_manifests("---".join(docs), "test.yaml"), namespace="shop")
    return [(r["name"], r["message"]) for r in result.messages.to_dict("records")
            if r["code"] == "IST0140"]


def test_a_gateway_route_past_a_subset_split_is_ist0140_once() -> None:
    assert _ist0140(INGRESS, SPLIT) == [
        ("edge", "Subset in virtual service shop/reviews-split has no effect on ingress gateway "
                 "shop/edge requests")]


def test_no_ist0140_without_gateways_or_with_a_subset_or_another_host() -> None:
    mesh_only = INGRESS.replace("  gateways: [shop-gw]\n", "")
    assert _ist0140(mesh_only, SPLIT) == []
    with_subset = INGRESS.replace("{host: reviews}", "{host: reviews, subset: v1}")
    assert _ist0140(with_subset, SPLIT) == []
    other_host = INGRESS.replace("{host: reviews}", "{host: ratings}")
    assert _ist0140(other_host, SPLIT) == []


def test_a_split_of_a_host_the_virtual_service_does_not_own_does_not_count() -> None:
    # the subset routes go to reviews, but the VirtualService is for another host
    foreign = SPLIT.replace("hosts: [reviews]", "hosts: [reviews-canary]")
    assert _ist0140(INGRESS, foreign) == []
