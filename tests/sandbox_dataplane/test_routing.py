"""Routing through the emulated prod gateway, over real HTTP: hosts, matches, weights, subsets,
faults, rewrites, timeouts, 404/503 — each as Envoy answers it."""

from __future__ import annotations

import re
import statistics
import time
from collections import Counter

from runbook.kinds import DEPLOYMENTS, VIRTUAL_SERVICES
from runbook.sandbox.istio.backends import NGINX_PAGE
from tests.sandbox_dataplane.helpers import BETA, Gateways


def _vs(name: str, host: str, http: str, gateways: str = "[dp-test]") -> str:
    return (f"apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata: {{name: {name}}}\n"
            f"spec:\n  hosts: [{host}]\n  gateways: {gateways}\n  http:\n{http}")


ECHO = "    route:\n    - destination: {host: echo-sample, port: {number: 80}}\n"


def _hostname(body: str) -> str:
    found = re.search(r"Hostname: (\S+)", body)
    assert found, body
    return found.group(1)


def test_headers_are_the_ones_the_report_shows(gw: Gateways) -> None:
    gw.apply(_vs("nginx-headers", "nginx.dp.test",
                 "  - route:\n    - destination: {host: nginx-sample, port: {number: 80}}\n"))
    reply = gw.get("/", "nginx.dp.test")
    assert reply.status == 200 and reply.body == NGINX_PAGE and len(reply.body) == 615
    names = [k for k, _ in reply.headers]
    # the order of the report's `curl -s -I` through istio-prod's gateway
    assert names == ["server", "date", "content-type", "content-length", "last-modified", "etag",
                     "accept-ranges", "x-envoy-upstream-service-time"]
    assert reply.header("server") == "istio-envoy"
    assert reply.header("etag") == '"6537cac7-267"'
    assert reply.header("last-modified") == "Tue, 24 Oct 2023 13:46:47 GMT"
    assert reply.header("date") == "Fri, 27 Oct 2023 06:00:00 GMT"  # the sandbox's (manual) clock
    assert (reply.header("x-envoy-upstream-service-time") or "").isdigit()
    head = gw.get("/", "nginx.dp.test", method="HEAD")
    assert head.status == 200 and head.body == b"" and head.header("content-length") == "615"
    # nginx's own answers pass through the gateway with its headers
    missing = gw.get("/nope", "nginx.dp.test")
    assert missing.status == 404 and b"nginx/" in missing.body
    assert missing.header("x-envoy-upstream-service-time")


def test_unknown_host_or_path_is_an_empty_404_from_envoy(gw: Gateways) -> None:
    gw.apply(_vs("only-echo", "paths.dp.test", "  - match:\n    - uri: {prefix: /echo}\n" + ECHO))
    for host, path in (("nobody.other.test", "/"), ("paths.dp.test", "/elsewhere")):
        reply = gw.get(path, host)
        assert reply.status == 404 and reply.body == b""
        assert reply.header("server") == "istio-envoy" and reply.header("content-length") == "0"
        assert reply.header("x-envoy-upstream-service-time") is None  # no upstream was asked
    assert gw.get("/echo/1", "paths.dp.test").status == 200
    # the port in a Host header does not change the virtual host (domains host and host:*)
    assert gw.get("/echo/1", f"paths.dp.test:{gw.prod}").status == 200
    assert gw.get("/echo/1", "PATHS.dp.test").status == 200


def test_hosts_wildcards_and_namespace_restricted_server_hosts(gw: Gateways) -> None:
    gw.apply(_vs("wild", "'*.wild.dp.test'", ECHO.replace("    route", "  - route")))
    assert gw.get("/", "a.wild.dp.test").status == 200
    assert gw.get("/", "b.c.wild.dp.test").status == 200
    assert gw.get("/", "wild.dp.test").status == 404
    # a server host "l7-traffic-alpha/…" admits VirtualServices of that namespace only
    gw.apply("""
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: alpha-only}
spec:
  selector: {istio: ingressgateway, istio.io/rev: 1-18-5}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["l7-traffic-alpha/alpha-only.test", "./beta-only.test"]
""")
    gw.apply(_vs("alpha-only", "alpha-only.test", ECHO.replace("    route", "  - route"),
                 gateways="[alpha-only]"))
    gw.apply(_vs("beta-only", "beta-only.test", ECHO.replace("    route", "  - route"),
                 gateways=f"[{BETA}/alpha-only]"))
    assert gw.get("/", "alpha-only.test").status == 404  # the VirtualService is in l7-traffic-beta
    assert gw.get("/", "beta-only.test").status == 200   # "./": the Gateway's own namespace


def test_matches_first_one_wins(gw: Gateways) -> None:
    gw.apply(_vs("matches", "match.dp.test", """\
  - name: exact
    match: [{uri: {exact: /exact}}]
    directResponse: {status: 200, body: {string: exact}}
  - name: regex
    match: [{uri: {regex: '/items/[0-9]+'}}]
    directResponse: {status: 200, body: {string: regex}}
  - name: header
    match: [{headers: {x-canary: {exact: "yes"}}}]
    directResponse: {status: 200, body: {string: header}}
  - name: method-and-query
    match: [{method: {exact: POST}, queryParams: {debug: {exact: "1"}}}]
    directResponse: {status: 200, body: {string: post-debug}}
  - name: authority
    match: [{authority: {prefix: match.dp}, uri: {prefix: /auth}}]
    directResponse: {status: 200, body: {string: authority}}
  - name: ored
    match: [{uri: {prefix: /a}}, {uri: {prefix: /b}}]
    directResponse: {status: 200, body: {string: ored}}
  - name: rest
    directResponse: {status: 200, body: {string: rest}}
  - name: never
    directResponse: {status: 200, body: {string: never}}
"""))

    def route(path: str, **kw: object) -> str:
        reply = gw.get(path, "match.dp.test", **kw)  # type: ignore[arg-type]
        assert reply.status == 200, reply
        return reply.text

    assert route("/exact") == "exact"
    assert route("/exact/more") == "rest"             # exact is exact
    assert route("/items/42") == "regex"
    assert route("/items/42x") == "rest"              # regex matches the whole path (RE2 full match)
    assert route("/exact", headers={"x-canary": "yes"}) == "exact"   # first match wins
    assert route("/other", headers={"X-Canary": "yes"}) == "header"
    assert route("/x?debug=1", method="POST", body=b"") == "post-debug"
    assert route("/x?debug=1") == "rest"              # GET: the method does not match
    assert route("/auth") == "authority"
    assert route("/b/c") == "ored"
    assert route("/zzz") == "rest"


def test_weighted_destinations_and_subsets(gw: Gateways) -> None:
    gw.apply(_vs("weights", "weights.dp.test", """\
  - route:
    - destination: {host: echo-sample, subset: v1, port: {number: 80}}
      weight: 80
    - destination: {host: echo-sample.l7-traffic-beta.svc.cluster.local, subset: v2, port: {number: 80}}
      weight: 20
"""))
    n = 400
    seen = Counter(_hostname(gw.get("/", "weights.dp.test").text).rsplit("-", 2)[0] for _ in range(n))
    assert set(seen) == {"echo-sample-v1", "echo-v2"}
    share = seen["echo-v2"] / n
    assert abs(share - 0.20) < 0.07, seen  # 3.5 standard errors of a 20 % share over 400 draws
    gw.apply(_vs("subsets", "subsets.dp.test", """\
  - match: [{uri: {prefix: /v2}}]
    route:
    - destination: {host: echo-sample, subset: v2}
  - match: [{uri: {prefix: /v3}}]
    route:
    - destination: {host: echo-sample, subset: v3}
  - match: [{uri: {prefix: /v9}}]
    route:
    - destination: {host: echo-sample, subset: v9}
"""))
    versions = {_hostname(gw.get("/v2", "subsets.dp.test").text).rsplit("-", 2)[0] for _ in range(20)}
    assert versions == {"echo-v2"}
    no_pods = gw.get("/v3", "subsets.dp.test")     # a subset whose labels select no ready pod
    assert (no_pods.status, no_pods.body) == (503, b"no healthy upstream")
    assert no_pods.header("content-type") == "text/plain"
    no_subset = gw.get("/v9", "subsets.dp.test")   # no such subset: istiod has no cluster (NC)
    assert (no_subset.status, no_subset.body) == (503, b"")


def test_destinations_that_do_not_exist_or_have_no_endpoints(gw: Gateways) -> None:
    gw.apply(_vs("missing", "missing.dp.test", """\
  - match: [{uri: {prefix: /nohost}}]
    route:
    - destination: {host: nginx-sample-v1, port: {number: 80}}
  - match: [{uri: {prefix: /noport}}]
    route:
    - destination: {host: nginx-sample, port: {number: 8080}}
  - match: [{uri: {prefix: /scaled}}]
    route:
    - destination: {host: nginx-sample, port: {number: 80}}
"""))
    no_host = gw.get("/nohost", "missing.dp.test")
    assert (no_host.status, no_host.body) == (503, b"")
    assert gw.get("/noport", "missing.dp.test").status == 503
    assert gw.get("/scaled", "missing.dp.test").status == 404  # nginx itself: no /scaled page
    gw.cluster.patch(DEPLOYMENTS, "nginx-sample-v1", {"spec": {"replicas": 0}}, namespace=BETA)
    gw.settle()
    try:
        reply = gw.get("/scaled", "missing.dp.test")
        assert (reply.status, reply.body) == (503, b"no healthy upstream")
    finally:
        gw.cluster.patch(DEPLOYMENTS, "nginx-sample-v1", {"spec": {"replicas": 1}}, namespace=BETA)
        gw.settle()
    assert gw.get("/scaled", "missing.dp.test").status == 404


def test_faults_rewrite_and_timeout(gw: Gateways) -> None:
    gw.apply(_vs("faults", "faults.dp.test", """\
  - match: [{uri: {prefix: /abort}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route:
    - destination: {host: echo-sample, subset: v1}
  - match: [{uri: {prefix: /delay}}]
    fault: {delay: {fixedDelay: 150ms, percentage: {value: 100}}}
    route:
    - destination: {host: echo-sample, subset: v1}
  - match: [{uri: {prefix: /nopct}}]
    fault: {delay: {fixedDelay: 2s}}
    route:
    - destination: {host: echo-sample, subset: v1}
  - match: [{uri: {prefix: /api}}]
    rewrite: {uri: /v1, authority: echo.internal}
    route:
    - destination: {host: echo-sample, subset: v1}
"""))
    abort = gw.get("/abort", "faults.dp.test")
    assert (abort.status, abort.body) == (418, b"fault filter abort")
    started = time.perf_counter()
    delayed = gw.get("/delay", "faults.dp.test")
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert delayed.status == 200 and elapsed_ms >= 150
    # the delay is the gateway's, not the upstream's
    assert int(delayed.header("x-envoy-upstream-service-time") or 999) < 100
    started = time.perf_counter()
    assert gw.get("/nopct", "faults.dp.test").status == 200
    assert time.perf_counter() - started < 1.0  # no percentage: Istio delays nothing
    echoed = gw.get("/api/items?x=1", "faults.dp.test").text
    assert "real path=/v1/items" in echoed and "query=x=1" in echoed
    assert "x-envoy-original-path=/api/items" in echoed and "host=echo.internal" in echoed
    assert "x-forwarded-proto=http" in echoed and "x-forwarded-for=127.0.0.1" in echoed


def test_route_timeout_and_the_latency_knob(gw: Gateways) -> None:
    gw.apply("""
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo-slow, labels: {app: echo-slow}}
spec:
  replicas: 1
  selector: {matchLabels: {app: echo-slow}}
  template:
    metadata:
      labels: {app: echo-slow}
      annotations: {sandbox.mesh-runbook.io/latency: "median=60ms,p99=70ms"}
    spec:
      containers: [{name: echo, image: registry.k8s.io/echoserver:1.10}]
---
apiVersion: v1
kind: Service
metadata: {name: echo-slow}
spec:
  selector: {app: echo-slow}
  ports: [{name: http, port: 80, targetPort: 8080}]
""")
    gw.apply(_vs("slow", "slow.dp.test", """\
  - match: [{uri: {prefix: /short}}]
    timeout: 20ms
    route:
    - destination: {host: echo-slow}
  - route:
    - destination: {host: echo-slow}
"""))
    timed_out = gw.get("/short", "slow.dp.test")
    assert (timed_out.status, timed_out.body) == (504, b"upstream request timeout")
    upstream = [int(gw.get("/", "slow.dp.test").header("x-envoy-upstream-service-time") or 0)
                for _ in range(15)]
    assert 55 <= statistics.median(upstream) <= 90, upstream


def test_a_changed_virtual_service_is_served_by_the_next_request(gw: Gateways) -> None:
    gw.apply(_vs("live", "live.dp.test", "  - route:\n    - destination: {host: echo-sample, subset: v1}\n"))
    assert _hostname(gw.get("/", "live.dp.test").text).startswith("echo-sample-v1")
    gw.cluster.patch(VIRTUAL_SERVICES, "live", [
        {"op": "replace", "path": "/spec/http/0/route/0/destination/subset", "value": "v2"}],
        namespace=BETA, patch_type="json")
    gw.settle()
    assert _hostname(gw.get("/", "live.dp.test").text).startswith("echo-v2")
    gw.cluster.delete(VIRTUAL_SERVICES, "live", namespace=BETA)
    gw.settle()
    assert gw.get("/", "live.dp.test").status == 404


def test_status_port_answers_readiness(gw: Gateways) -> None:
    assert gw.get("/healthz/ready", port=gw.prod_status).status == 200
    assert gw.get("/healthz/ready", port=gw.canary_status).status == 200
    assert gw.get("/other", port=gw.prod_status).status == 404
