"""The emulated apps behind the gateway: bookinfo (productpage calling details and reviews, reviews
v2/v3 calling ratings), nginx, echo — and service times that are real and configurable."""

from __future__ import annotations

import json
import random
import re
import statistics

import pytest

from runbook.kinds import DEPLOYMENTS
from runbook.probe import probe
from runbook.probe.stats import ok_samples
from runbook.sandbox.istio.backends import (
    DEFAULT_LATENCY,
    LatencyModel,
    app_of,
    parse_latency,
    pod_app,
)
from tests.sandbox_dataplane.helpers import APPS, BETA, Gateways

BOOKINFO_VS = """
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: bookinfo-dp}
spec:
  hosts: [bookinfo.dp.test]
  gateways: [dp-test]
  http:
  - route:
    - destination: {host: productpage, port: {number: 9080}}
"""


@pytest.fixture(scope="module")
def bookinfo(gw: Gateways) -> Gateways:
    gw.apply((APPS / "bookinfo.yaml").read_text(), namespace=BETA)
    gw.apply(BOOKINFO_VS)
    return gw


def test_productpage_cold_start_then_warm(bookinfo: Gateways) -> None:
    first = bookinfo.get("/productpage", "bookinfo.dp.test")
    assert first.status == 200
    # the report's first curl saw x-envoy-upstream-service-time: 1172 (a cold productpage)
    assert int(first.header("x-envoy-upstream-service-time") or 0) >= 900
    warm = [int(bookinfo.get("/productpage", "bookinfo.dp.test").header("x-envoy-upstream-service-time")
                or 0) for _ in range(10)]
    assert statistics.median(warm) < 200, warm


def test_the_product_page_shows_details_and_every_reviews_version(bookinfo: Gateways) -> None:
    seen = set()
    for _ in range(60):
        reply = bookinfo.get("/productpage", "bookinfo.dp.test")
        assert reply.status == 200 and reply.header("content-type") == "text/html; charset=utf-8"
        page = reply.text
        assert 3000 < len(reply.body) < 8000
        assert "The Comedy of Errors" in page and "<dt>ISBN-10:</dt>1234567890" in page
        served_by = re.search(r"<u>(reviews-v\d)-", page)
        assert served_by, page
        version = served_by.group(1)
        stars = {"reviews-v1": None, "reviews-v2": "black", "reviews-v3": "red"}[version]
        assert (f'<font color="{stars}">' in page) if stars else ("glyphicon-star" not in page)
        seen.add(version)
    assert seen == {"reviews-v1", "reviews-v2", "reviews-v3"}


def test_productpage_routes(bookinfo: Gateways) -> None:
    products = bookinfo.get("/api/v1/products", "bookinfo.dp.test")
    assert products.header("content-type") == "application/json"
    assert json.loads(products.body)[0]["title"] == "The Comedy of Errors"
    details = json.loads(bookinfo.get("/api/v1/products/0", "bookinfo.dp.test").body)
    assert details["ISBN-13"] == "123-1234567890"
    assert bookinfo.get("/static/bootstrap/css/bootstrap.min.css", "bookinfo.dp.test").header(
        "content-type") == "text/css; charset=utf-8"
    assert bookinfo.get("/static/missing.js", "bookinfo.dp.test").status == 404
    assert bookinfo.get("/login", "bookinfo.dp.test").status == 405
    login = bookinfo.get("/login", "bookinfo.dp.test", method="POST", body=b"username=jason&passwd=x",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert login.status == 302 and login.header("location") == "/productpage"
    signed_in = bookinfo.get("/productpage", "bookinfo.dp.test", headers={"Cookie": "session=jason"})
    assert "jason ( sign out )" in signed_in.text
    assert bookinfo.get("/logout", "bookinfo.dp.test").status == 302


def test_productpage_without_details(bookinfo: Gateways) -> None:
    bookinfo.cluster.patch(DEPLOYMENTS, "details-v1", {"spec": {"replicas": 0}}, namespace=BETA)
    bookinfo.settle()
    try:
        page = bookinfo.get("/productpage", "bookinfo.dp.test").text
        assert "Sorry, product details are currently unavailable for this book." in page
        assert "Reviews served by" in page
    finally:
        bookinfo.cluster.patch(DEPLOYMENTS, "details-v1", {"spec": {"replicas": 1}}, namespace=BETA)
        bookinfo.settle()


def test_service_times_are_real_and_differ_per_app(bookinfo: Gateways) -> None:
    bookinfo.apply("""
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: nginx-dp}
spec:
  hosts: [nginx.apps.dp.test]
  gateways: [dp-test]
  http:
  - route:
    - destination: {host: nginx-sample, port: {number: 80}}
""")
    url = f"http://127.0.0.1:{bookinfo.prod}"
    bookinfo.get("/productpage", "bookinfo.dp.test")  # warm
    page = probe(url + "/productpage", host="bookinfo.dp.test", count=80, concurrency=4)
    nginx = probe(url + "/", host="nginx.apps.dp.test", count=80, concurrency=4)
    page_ok, nginx_ok = ok_samples(page.samples), ok_samples(nginx.samples)
    assert len(page_ok) == len(nginx_ok) == 80
    assert set(page_ok["status"]) == {200} and set(page_ok["server"]) == {"istio-envoy"}
    # productpage = its own time + details + reviews (+ ratings): several milliseconds at least
    assert page_ok["upstream_ms"].median() >= 8
    assert nginx_ok["latency_ms"].median() < page_ok["latency_ms"].median() / 3
    # the measured total covers the upstream time the gateway reports
    assert (page_ok["total_ms"] >= page_ok["upstream_ms"]).all()


def test_the_latency_annotation_is_a_knob() -> None:
    base = DEFAULT_LATENCY["productpage"]
    assert parse_latency("slow", base).median_ms == base.median_ms * 5
    assert parse_latency("x2", base).p99_ms == base.p99_ms * 2
    tuned = parse_latency("median=20ms, p99=0.2s cold=0", base)
    assert (tuned.median_ms, tuned.p99_ms, tuned.cold_ms) == (20, 200, 0)
    with pytest.raises(ValueError, match="unknown latency"):
        parse_latency("fast", base)
    pod = {"metadata": {"name": "p", "namespace": "n", "annotations": {
        "sandbox.mesh-runbook.io/latency": "median=oops"}},
           "spec": {"containers": [{"name": "app",
                                    "image": "docker.io/istio/examples-bookinfo-details-v1:1.18.0"}]}}
    app = pod_app(pod)
    assert app.app == "details" and app.latency == DEFAULT_LATENCY["details"]
    assert "default kept" in app.latency_error


def test_lognormal_model_has_its_median_and_p99() -> None:
    model = LatencyModel(10.0, 50.0)
    rng = random.Random(7)
    draws = sorted(model.sample_s(rng) * 1000 for _ in range(20000))
    assert 9.5 < draws[10000] < 10.5
    assert 45 < draws[19800] < 55


@pytest.mark.parametrize(("image", "labels", "expected"), [
    ("docker.io/istio/examples-bookinfo-reviews-v3:1.18.0", {}, ("reviews", "v3")),
    ("docker.io/istio/examples-bookinfo-productpage-v1:1.18.0", {}, ("productpage", "v1")),
    ("docker.io/library/nginx:1.25", {"version": "v1"}, ("nginx", "v1")),
    ("nginxinc/nginx-unprivileged:1.25", {}, ("nginx", None)),
    ("registry.k8s.io/echoserver:1.10", {}, ("echo", None)),
    ("ghcr.io/example/shop:2.0", {"app": "ratings", "version": "v2"}, ("ratings", "v2")),
    ("ghcr.io/example/shop:2.0", {"app": "shop"}, ("generic", None)),
])
def test_which_app_a_pod_runs(image: str, labels: dict[str, str], expected: tuple[str, str | None]) -> None:
    pod = {"metadata": {"labels": labels},
           "spec": {"containers": [{"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.18.5"},
                                   {"name": "app", "image": image}]}}
    assert app_of(pod) == expected


def test_echo_shows_the_request_as_forwarded(bookinfo: Gateways) -> None:
    bookinfo.apply("""
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: echo-dp}
spec:
  hosts: [echo.apps.dp.test]
  gateways: [dp-test]
  http:
  - headers:
      request: {set: {x-team: sre}}
      response: {add: {x-served-by: sandbox}}
    route:
    - destination: {host: echo-sample, subset: v1}
""")
    reply = bookinfo.get("/hello?a=b", "echo.apps.dp.test", method="POST", body=b"ping",
                         headers={"X-Forwarded-For": "203.0.113.9"})
    assert reply.header("x-served-by") == "sandbox"
    text = reply.text
    assert "method=POST" in text and "real path=/hello" in text and "query=a=b" in text
    assert "x-team=sre" in text and "x-forwarded-for=203.0.113.9, 127.0.0.1" in text
    assert "x-request-id=" in text and "\nping\n" in text
