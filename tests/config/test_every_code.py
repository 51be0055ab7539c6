"""Every code the analyzer emits, on an input of our own that must raise it and on the smallest
change of that input that must not — so no code is only ever seen firing (or only ever silent).

Inputs are written from the rules of Istio's analyzers (``pkg/config/analysis/analyzers``) and our
own codes' documentation (``runbook.mesh.analyze``), checked against the seed cluster with bookinfo
running in l7-traffic-beta (gateway pods ``istio: ingressgateway`` of revision 1-18-5 in
istio-prod, Service ports 80 and 443).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cache

import pytest

from runbook.manifests import parse_manifests
from runbook.mesh.analyze import CODES, analyze
from runbook.snapshot import Snapshot

from .world import seed_snapshot

NS = "l7-traffic-beta"


@cache
def _world() -> Snapshot:
    return seed_snapshot(bookinfo_in=[NS])


def _gateway(name: str = "gw", selector: str = "{istio: ingressgateway, istio.io/rev: 1-18-5}",
             port: int = 80, hosts: str = "[shop.test]", labels: str = "{}", tls: str = "") -> str:
    return f"""
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {{name: {name}, labels: {labels}}}
spec:
  selector: {selector}
  servers:
  - port: {{number: {port}, name: p{port}, protocol: {'HTTPS' if tls else 'HTTP'}}}
    hosts: {hosts}{tls}
"""


def _vs(name: str = "vs", hosts: str = "[shop.test]", gateways: str = "[gw]",
        http: str = "  - route:\n    - destination: {host: productpage}\n",
        labels: str = "{}", api: str = "networking.istio.io/v1beta1",
        namespace: str = NS) -> str:
    lines = f"  gateways: {gateways}\n" if gateways else ""
    return f"""
apiVersion: {api}
kind: VirtualService
metadata: {{name: {name}, namespace: {namespace}, labels: {labels}}}
spec:
  hosts: {hosts}
{lines}  http:
{http}"""


def _dr(host: str = "reviews", subset: str = "v1", version: str = "v1") -> str:
    return f"""
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {{name: dr}}
spec:
  host: {host}
  subsets:
  - name: {subset}
    labels: {{version: {version}}}
"""


def _sidecar(name: str, selector: str | None) -> str:
    chosen = f"  workloadSelector: {{labels: {selector}}}\n" if selector else ""
    return f"""
apiVersion: networking.istio.io/v1beta1
kind: Sidecar
metadata: {{name: {name}}}
spec:
{chosen}  egress:
  - hosts: ["./*"]
"""


def _telemetry(name: str, selector: str | None) -> str:
    chosen = f"  selector: {{matchLabels: {selector}}}\n" if selector else ""
    return f"""
apiVersion: telemetry.istio.io/v1alpha1
kind: Telemetry
metadata: {{name: {name}}}
spec:
{chosen}  accessLogging:
  - providers: [{{name: envoy}}]
"""


def _policy(app: str) -> str:
    return f"""
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {{name: ap}}
spec:
  selector: {{matchLabels: {{app: {app}}}}}
  action: ALLOW
  rules:
  - {{}}
"""


def _service(ports: str) -> str:
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: multi}}
spec:
  selector: {{app: productpage}}
  ports: {ports}
"""


def _secret(data: dict[str, str]) -> str:
    encoded = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
    return ("\napiVersion: v1\nkind: Secret\nmetadata: {name: shop-cert, namespace: istio-prod}\n"
            f"type: Opaque\ndata: {encoded}\n")


def _certificate_pair() -> dict[str, str]:
    from runbook.sandbox.apiserver.tls import key_pem, new_authority

    authority = new_authority("shop.test", days=30)
    return {"tls.crt": authority.cert_pem.decode(), "tls.key": key_pem(authority.key).decode()}


TLS = "\n    tls: {mode: SIMPLE, credentialName: shop-cert}"
SPLIT = ("  - route:\n    - destination: {host: reviews, subset: v1}\n      weight: 90\n"
         "    - destination: {host: reviews, subset: v2}\n      weight: 10\n")
TO_REVIEWS = "  - route:\n    - destination: {host: reviews}\n"
TO_REVIEWS_V1 = "  - route:\n    - destination: {host: reviews, subset: v1}\n"
MATCH_A = "  - match: [{uri: {prefix: /a}}]\n    route:\n    - destination: {host: productpage}\n"
DR_V2 = _dr("reviews", "v2", "v2").replace("name: dr", "name: dr2")
AMBIENT_NS = ("\napiVersion: v1\nkind: Namespace\nmetadata: {name: amb, labels: "
              "{istio.io/dataplane-mode: ambient}}\n---\napiVersion: v1\nkind: Pod\n"
              "metadata: {name: web-1, namespace: amb, labels: {app: web}}\n"
              "spec: {containers: [{name: web, image: web}]}\n")


@dataclass(frozen=True)
class Case:
    """``positive`` must raise ``code``; ``negative``, a small change of it, must not."""

    code: str
    positive: str
    negative: str
    #: check against the seed cluster (else the files alone)
    cluster: bool = True


def _case(code: str, positive: list[str], negative: list[str], cluster: bool = True) -> Case:
    return Case(code, "---".join(positive), "---".join(negative), cluster)


CASES: list[Case] = [
    _case("IST0101", [_gateway(), _vs(http="  - route:\n    - destination: {host: nowhere}\n")],
          [_gateway(), _vs()]),
    _case("IST0106", [_gateway(), _vs(hosts="shop.test")], [_gateway(), _vs()]),
    _case("IST0109", [_vs("a", hosts="[reviews]", gateways=""), _vs("b", hosts="[reviews]", gateways="")],
          [_vs("a", hosts="[reviews]", gateways=""), _vs("b", hosts="[ratings]", gateways="")]),
    _case("IST0110", [_sidecar("a", "{app: reviews}"), _sidecar("b", "{app: reviews}")],
          [_sidecar("a", "{app: reviews}"), _sidecar("b", "{app: ratings}")]),
    _case("IST0111", [_sidecar("a", None), _sidecar("b", None)],
          [_sidecar("a", None), _sidecar("b", "{app: ratings}")]),
    _case("IST0112", [_gateway(), _service("[{name: a, port: 80}, {name: b, port: 81}]"),
                      _vs(http="  - route:\n    - destination: {host: multi}\n")],
          [_gateway(), _service("[{name: a, port: 80}, {name: b, port: 81}]"),
           _vs(http="  - route:\n    - destination: {host: multi, port: {number: 80}}\n")]),
    _case("IST0127", [_policy("ghost")], [_policy("reviews")]),
    _case("IST0130", [_gateway(), _vs(http="  - route:\n    - destination: {host: productpage}\n"
                                           + MATCH_A)],
          [_gateway(), _vs(http=MATCH_A + "  - route:\n    - destination: {host: productpage}\n")]),
    _case("IST0131", [_gateway(), _vs(http=MATCH_A + MATCH_A.replace(
        "[{uri: {prefix: /a}}]", "[{uri: {prefix: /a}}, {uri: {prefix: /b}}]"))],
          [_gateway(), _vs(http=MATCH_A + MATCH_A.replace("/a", "/b"))]),
    _case("IST0132", [_gateway(), _vs(hosts="[other.test]")], [_gateway(), _vs()]),
    _case("IST0140", [_gateway(hosts="['*']"), _dr(), DR_V2, _vs("edge", http=TO_REVIEWS),
                      _vs("split", hosts="[reviews]", gateways="", http=SPLIT)],
          [_gateway(hosts="['*']"), _dr(), DR_V2, _vs("edge", http=TO_REVIEWS_V1),
           _vs("split", hosts="[reviews]", gateways="", http=SPLIT)]),
    _case("IST0159", [_telemetry("a", "{app: reviews}"), _telemetry("b", "{app: reviews}")],
          [_telemetry("a", "{app: reviews}"), _telemetry("b", "{app: ratings}")]),
    _case("IST0160", [_telemetry("a", None), _telemetry("b", None)],
          [_telemetry("a", None), _telemetry("b", "{app: ratings}")]),
    _case("IST0161", [_gateway(port=443, tls=TLS), _secret({"ca.crt": "x"})],
          [_gateway(port=443, tls=TLS), _secret(_certificate_pair())]),
    _case("IST0162", [_gateway(port=8004)], [_gateway(port=80)]),
    _case("IST0165", [_vs(gateways="[shop~istio-autogenerated-k8s-gateway~http]")],
          [_gateway(), _vs()]),
    _case("IST0167", [AMBIENT_NS, _sidecar("a", None).replace("{name: a}", "{name: a, namespace: amb}")],
          [AMBIENT_NS.replace("{istio.io/dataplane-mode: ambient}", "{}"),
           _sidecar("a", None).replace("{name: a}", "{name: a, namespace: amb}")], cluster=False),
    _case("IST0173", [_dr(version="v9")], [_dr(version="v1")]),
    _case("IST0174", [_dr(host="nowhere")], [_dr(host="reviews")]),
    _case("KIA1106", [_gateway(hosts="['*']"), _vs("a"), _vs("b")],
          [_gateway(hosts="['*']"), _vs("a"), _vs("b", hosts="[b.test]")]),
    _case("MR201", [_gateway()], [_gateway(selector="{istio: nothing-here}")]),
    _case("MR202", [_gateway(labels="{istio.io/rev: 1-19-3}")], [_gateway()]),
    _case("MR203", [_gateway(selector="{istio.io/rev: 1-18-5}")], [_gateway()]),
    _case("MR204", [_gateway(selector="{istio: pilot}")], [_gateway()]),
    _case("MR205", [_gateway(), _vs(http="  - match: [{sourceLabels: {app: web}}]\n    route:\n"
                                         "    - destination: {host: productpage}\n")],
          [_gateway(), _vs(http=MATCH_A)]),
    _case("MR206", [_dr()], [_dr(), _vs(hosts="[reviews]", gateways="", http=TO_REVIEWS_V1)]),
    _case("MR207", [_gateway(), _vs(labels="{istio.io/rev: 1-19-3}")], [_gateway(), _vs()]),
    _case("MR208", [_gateway(), _vs(namespace="nope")], [_gateway(), _vs()]),
    _case("MR209", [_gateway(), _vs(api="networking.istio.io/v9")], [_gateway(), _vs()]),
]


def test_every_code_has_a_positive_and_a_negative_case() -> None:
    assert sorted(c.code for c in CASES) == sorted(CODES)


def _codes(text: str, cluster: bool) -> list[str]:
    result = analyze(parse_manifests(text, "case.yaml"), _world() if cluster else None,
                     namespace=NS)
    return result.codes()


@pytest.mark.parametrize("case", CASES, ids=[c.code for c in CASES])
def test_the_positive_input_raises_the_code(case: Case) -> None:
    assert case.code in _codes(case.positive, case.cluster)


@pytest.mark.parametrize("case", CASES, ids=[c.code for c in CASES])
def test_the_negative_input_does_not(case: Case) -> None:
    assert case.code not in _codes(case.negative, case.cluster)

