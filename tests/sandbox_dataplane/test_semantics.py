"""runbook.routing — the Istio field semantics the gateways and the client checks share (pure)."""

from __future__ import annotations

import pytest

from runbook.routing import (
    FaultInjection,
    RequestView,
    first_matching_rule,
    host_intersection,
    is_gateway_proxy,
    match_applies_to_proxy,
    parse_duration,
    resolve_host,
    server_host_for,
    service_of_host,
    split_gateway_ref,
    string_match,
    strip_port,
    weighted,
)


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("*", "nginx.test", "nginx.test"), ("*.test", "*", "*.test"), ("a.b.test", "*.test", "a.b.test"),
    ("*.b.test", "*.test", "*.b.test"), ("a.test", "b.test", None), ("*.a.test", "*.b.test", None),
    ("Nginx.TEST", "nginx.test", "nginx.test"),
])
def test_host_intersection(a: str, b: str, expected: str | None) -> None:
    assert host_intersection(a, b) == expected
    assert host_intersection(b, a) == expected


def test_short_names_gateway_refs_and_server_host_namespaces() -> None:
    assert resolve_host("reviews", "bookinfo") == "reviews.bookinfo.svc.cluster.local"
    assert resolve_host("reviews.other", "bookinfo") == "reviews.other"  # literal, not a Service
    assert service_of_host("reviews.bookinfo.svc.cluster.local") == ("bookinfo", "reviews")
    assert service_of_host("reviews.other") is None
    assert split_gateway_ref("gw", "ns") == ("ns", "gw")
    assert split_gateway_ref("other/gw", "ns") == ("other", "gw")
    assert split_gateway_ref("gw.other.svc.cluster.local", "ns") == ("other", "gw")
    assert server_host_for("*/a.test", "gw-ns", "x") == "a.test"
    assert server_host_for("a.test", "gw-ns", "x") == "a.test"
    assert server_host_for("./a.test", "gw-ns", "x") is None
    assert server_host_for("./a.test", "gw-ns", "gw-ns") == "a.test"
    assert server_host_for("x/a.test", "gw-ns", "y") is None
    assert server_host_for("~/a.test", "gw-ns", "gw-ns") is None
    assert strip_port("Bookinfo.test:31241") == "bookinfo.test" and strip_port("[::1]:80") == "[::1]"


def test_string_match() -> None:
    assert string_match({"prefix": "/api"}, "/api/v1")
    assert not string_match({"exact": "/api"}, "/api/v1")
    assert string_match({"regex": "/items/[0-9]+"}, "/items/12")
    assert not string_match({"regex": "/items/[0-9]+"}, "/items/12/x")  # RE2 full match
    assert string_match({"exact": "/API"}, "/api", ignore_case=True)
    assert not string_match({"regex": "("}, "(")  # an invalid regex never matches
    assert string_match({}, "anything", presence=True) and not string_match({}, None, presence=True)


def test_durations_and_faults() -> None:
    assert parse_duration("200ms") == pytest.approx(0.2)
    assert parse_duration("1.5s") == 1.5 and parse_duration("1h30m") == 5400
    assert parse_duration("0") == 0
    for bad in ("", "5", "fast", "1x"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    fault = FaultInjection.from_spec({"delay": {"fixedDelay": "7s", "percentage": {"value": 12.5}},
                             "abort": {"httpStatus": 503, "percent": 3}})
    assert fault == FaultInjection(7.0, 12.5, 503, 3.0)
    no_pct = FaultInjection.from_spec({"delay": {"fixedDelay": "7s"}})
    assert no_pct is not None and no_pct.delay_percent == 0  # Istio: never delayed
    broken = FaultInjection.from_spec({"delay": {"fixedDelay": "soon"}, "abort": {"httpStatus": 99}})
    assert broken is not None and broken.delay_s is None and len(broken.problems) == 2


def test_rules_and_matches() -> None:
    rules = [{"match": [{"uri": {"exact": "/a"}}, {"headers": {"x-v": {"exact": "2"}}}]},
             {"match": [{"method": {"exact": "POST"}, "queryParams": {"d": {"exact": "1"}}}]},
             {"route": []}]
    assert first_matching_rule(rules, RequestView("GET", "/a")) == 0
    assert first_matching_rule(rules, RequestView("GET", "/b", headers={"x-v": "2"})) == 0
    assert first_matching_rule(rules, RequestView("POST", "/b", query={"d": "1"})) == 1
    assert first_matching_rule(rules, RequestView("GET", "/b", query={"d": "1"})) == 2
    assert first_matching_rule(rules[:2], RequestView("GET", "/b")) is None
    # at a gateway, sourceLabels are the gateway pod's own labels
    gw = {"istio": "ingressgateway"}
    assert not match_applies_to_proxy({"sourceLabels": {"app": "client"}}, gateway=("ns", "gw"),
                                      config_namespace="ns", proxy_labels=gw, proxy_namespace="istio-system")
    assert match_applies_to_proxy({"gateways": ["gw"]}, gateway=("ns", "gw"), config_namespace="ns",
                                  proxy_labels=gw, proxy_namespace="istio-system")
    assert not match_applies_to_proxy({"gateways": ["mesh"]}, gateway=("ns", "gw"), config_namespace="ns",
                                      proxy_labels=gw, proxy_namespace="istio-system")


def test_weights_and_gateway_pods() -> None:
    assert weighted([("a", None)]) == [("a", 100.0)]
    assert weighted([("a", 80), ("b", 20)]) == [("a", 80.0), ("b", 20.0)]
    assert weighted([("a", None), ("b", None)]) == [("a", 50.0), ("b", 50.0)]
    router = {"spec": {"containers": [{"name": "istio-proxy", "args": ["proxy", "router"]}]}}
    sidecar = {"spec": {"containers": [{"name": "istio-proxy", "args": ["proxy", "sidecar"]}]}}
    helm = {"metadata": {"annotations": {"inject.istio.io/templates": "gateway"}}, "spec": {}}
    assert is_gateway_proxy(router) and is_gateway_proxy(helm) and not is_gateway_proxy(sidecar)
