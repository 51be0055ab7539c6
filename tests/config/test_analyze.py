"""The config analyzer on the field report's config, its corrected version and targeted mistakes."""

from __future__ import annotations

import copy
import importlib
import re
from pathlib import Path
from typing import Any

import pytest

from runbook.apps import app_path
from runbook.manifests import Manifest, load_manifests, parse_manifests
from runbook.mesh.analyze import ANALYSIS_COLUMNS, CODES, analyze
from runbook.mesh.findings import Finding

from .world import app_objects, controller_objects, seed_snapshot, seed_world, snapshot_of

BETA, ALPHA = "l7-traffic-beta", "l7-traffic-alpha"


@pytest.fixture(scope="module")
def seed_after_bookinfo() -> Any:
    """The seed cluster once the webhook is fixed: bookinfo runs in l7-traffic-alpha."""
    return seed_snapshot(bookinfo_in=[ALPHA])


def _rows(result: Any, code: str | None = None) -> list[dict[str, Any]]:
    frame = result.messages
    if code:
        frame = frame[frame["code"] == code]
    return frame.to_dict("records")


def _messages(result: Any, code: str) -> list[str]:
    return [r["message"] for r in _rows(result, code)]


def _yaml(text: str) -> list[Manifest]:
    return parse_manifests(text, "test.yaml")


# ------------------------------------------------------------------ the report's exercise


def test_the_reports_sample_gateway_finds_every_mistake(seed_after_bookinfo: Any) -> None:
    result = analyze(load_manifests(app_path("sample-gateway")), seed_after_bookinfo, namespace=BETA)
    assert list(result.messages.columns) == list(ANALYSIS_COLUMNS)
    assert result.has_errors and not result.clean
    # destination hosts that are no Service
    assert sorted(_messages(result, "IST0101")) == [
        'Referenced host not found: "echo-sample-v1"', 'Referenced host not found: "nginx-sample-v1"']
    assert {r["see_also"] for r in _rows(result, "IST0101")} == {"KIA1101"}
    # the DestinationRules' hosts, and their subsets that nothing uses
    assert {(r["name"], r["level"]) for r in _rows(result, "IST0174")} == {
        ("nginx-sample-ds", "Warning"), ("echo-sample-ds", "Warning")}
    assert sorted(_messages(result, "MR206")) == [
        "subset echo of host echo-sample is not used by any VirtualService route; its policy never applies",
        "subset nginx of host nginx-sample is not used by any VirtualService route; its policy never applies"]
    # the sourceLabels matches that cannot apply at an ingress gateway
    source = _messages(result, "MR205")
    assert len(source) == 2
    assert any("http[0].match[1]" in m and "app: nginx-sample-client" in m for m in source)
    assert any("http[1].match[1]" in m and "app: echo-sample-client" in m for m in source)
    # the selector istio.io/rev: 1-18-5 reaches istio-prod's gateway (and istiod itself)
    (gw_info,) = _messages(result, "MR201")
    assert "istio-prod/istio-ingressgateway (revision 1-18-5" in gw_info
    assert "programmed by istiod revision(s) 1-18-5" in gw_info
    (others,) = _messages(result, "MR203")
    assert "istio-prod/istiod-1-18-5" in others
    # messages name the file and line, like istioctl analyze
    vs_rows = _rows(result, "MR205")
    assert {r["source"] for r in vs_rows} == {f"{app_path('sample-gateway')}:19"}
    assert all(r["namespace"] == BETA for r in _rows(result))


def test_findings_mirror_the_messages(seed_after_bookinfo: Any) -> None:
    result = analyze(load_manifests(app_path("sample-gateway")), seed_after_bookinfo, namespace=BETA)
    assert len(result.findings) == len(result.messages)
    assert all(isinstance(f, Finding) for f in result.findings)
    severities = {f.code: f.severity for f in result.findings}
    assert severities["IST0101"] == "error" and severities["MR205"] == "warning"
    assert severities["MR201"] == "info"
    missing = next(f for f in result.findings if f.code == "IST0101")
    assert (missing.subject.kind, missing.subject.namespace, missing.subject.name) == \
        ("VirtualService", BETA, "nginx-sample")
    assert any(e.startswith("source ") and e.endswith("sample-gateway.yml:19") for e in missing.evidence)
    assert missing.to_dict()["fix"] is None


def test_the_corrected_exercise_is_clean_before_and_after_deploying(seed_after_bookinfo: Any) -> None:
    before = analyze(load_manifests(app_path("sample-gateway-fixed")), seed_after_bookinfo,
                     namespace=BETA)
    assert before.clean, before.messages.to_string()
    assert set(before.codes()) == {"MR201"}
    # applied and running: the cluster now holds it all, with pods injected by 1-18-5
    applied = app_objects("sample-gateway-fixed", BETA)
    deployments = [o for o in applied if o["kind"] == "Deployment"]
    world = seed_snapshot(bookinfo_in=[ALPHA],
                          extra=applied + controller_objects(deployments, {BETA: "1-18-5"}))
    after = analyze(None, world, namespace=BETA)
    assert after.clean, after.messages.to_string()
    assert {r["kind"] for r in _rows(after)} == {"Gateway"}


def test_bookinfo_gateway_is_clean_once_bookinfo_runs(seed_after_bookinfo: Any) -> None:
    result = analyze(load_manifests(app_path("bookinfo-gateway")), seed_after_bookinfo, namespace=ALPHA)
    assert result.clean, result.messages.to_string()
    (info,) = _messages(result, "MR201")
    # both ingress gateways match istio=ingressgateway; only canary's istiod watches l7-traffic-alpha
    assert "istio-canary/istio-ingressgateway (revision 1-19-3" in info
    assert "istio-prod/istio-ingressgateway (revision 1-18-5" in info
    assert "programmed by istiod revision(s) 1-19-3" in info
    assert "istiod 1-18-5 does not watch namespace l7-traffic-alpha" in info


def test_bookinfo_gateway_before_bookinfo_misses_productpage() -> None:
    result = analyze(load_manifests(app_path("bookinfo-gateway")), seed_snapshot(), namespace=ALPHA)
    assert _messages(result, "IST0101") == ['Referenced host not found: "productpage"']


def test_cluster_mode_checks_what_the_snapshot_holds(seed_after_bookinfo: Any) -> None:
    world = seed_snapshot(bookinfo_in=[ALPHA], extra=app_objects("sample-gateway", BETA)
                          + app_objects("bookinfo-gateway", ALPHA))
    everything = analyze(None, world)
    assert {r["namespace"] for r in _rows(everything)} == {ALPHA, BETA}
    only_alpha = analyze(None, world, namespace=ALPHA)
    assert {r["namespace"] for r in _rows(only_alpha)} == {ALPHA} and only_alpha.clean
    assert all(r["source"] is None for r in _rows(everything))
    # list responses carry no apiVersion/kind on items: the kind comes from the snapshot key
    for key in ("gateways.networking.istio.io", "virtualservices.networking.istio.io",
                "destinationrules.networking.istio.io"):
        for obj in world.objects[key]:
            obj.pop("apiVersion"), obj.pop("kind")
    bare = analyze(None, world)
    assert bare.messages.equals(everything.messages)


def test_files_override_cluster_objects_of_the_same_name() -> None:
    world = seed_snapshot(extra=app_objects("sample-gateway", BETA))
    fixed = analyze(load_manifests(app_path("sample-gateway-fixed")), world, namespace=BETA)
    # the cluster's broken nginx-sample VirtualService is replaced by the file's
    assert fixed.clean, fixed.messages.to_string()


def test_upstream_samples_on_an_istio_118_cluster(seed_after_bookinfo: Any, upstream: Path) -> None:
    ok = analyze(load_manifests([upstream / "bookinfo-gateway-1.18.5.yaml",
                                 upstream / "destination-rule-all-1.18.5.yaml"]),
                 seed_after_bookinfo, namespace=ALPHA)
    assert "MR209" not in ok.codes() and "IST0106" not in ok.codes()
    # bookinfo runs reviews v1-v3 but no details-v2 or ratings-v2…: IST0173 as istioctl says
    subsets = {(r["name"], r["message"].split()[2]) for r in _rows(ok, "IST0173")}
    assert subsets == {("details", "v2"), ("ratings", "v2"), ("ratings", "v2-mysql"),
                       ("ratings", "v2-mysql-vm")}
    # master's samples use networking.istio.io/v1, which Istio 1.18 does not serve
    new = analyze(load_manifests(upstream / "bookinfo-gateway.yaml"), seed_after_bookinfo,
                  namespace=ALPHA)
    assert {r["kind"] for r in _rows(new, "MR209")} == {"Gateway", "VirtualService"}
    assert all("served versions: v1alpha3, v1beta1" in m for m in _messages(new, "MR209"))


def test_every_emitted_code_is_documented(seed_after_bookinfo: Any) -> None:
    result = analyze(load_manifests(app_path("sample-gateway")), seed_after_bookinfo, namespace=BETA)
    assert set(result.codes()) <= set(CODES)
    table = importlib.import_module(analyze.__module__).__doc__ or ""
    for code, info in CODES.items():
        assert re.search(rf"^{code}\s+{info.severity.capitalize()}", table, re.M), code


# ------------------------------------------------------------------------ targeted mistakes

GATEWAY = """
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: gw}
spec:
  selector: {istio: ingressgateway, istio.io/rev: 1-18-5}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [shop.test]
"""


def _vs(name: str = "vs", hosts: str = "[shop.test]", gateways: str = "[gw]", dest: str = "productpage",
        extra: str = "", labels: str = "{}") -> str:
    return f"""
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {{name: {name}, labels: {labels}}}
spec:
  hosts: {hosts}
  gateways: {gateways}
  http:
  - route:
    - destination: {{host: {dest}, port: {{number: 9080}}{extra}}}
"""


def _beta_world() -> Any:
    return seed_snapshot(bookinfo_in=[BETA])


def test_gateway_not_found_and_host_not_in_gateway() -> None:
    result = analyze(_yaml(GATEWAY + "---" + _vs(gateways="[gw, nope, other-ns/gw]", hosts="[other.test]")),
                     _beta_world(), namespace=BETA)
    assert sorted(_messages(result, "IST0101")) == ['Referenced gateway not found: "nope"',
                                                    'Referenced gateway not found: "other-ns/gw"']
    assert _messages(result, "IST0132") == [
        f"one or more host [other.test] defined in VirtualService {BETA}/vs not found in Gateway {BETA}/gw."]
    wildcard = analyze(_yaml(GATEWAY.replace("[shop.test]", '["*.test"]') + "---" + _vs()),
                       _beta_world(), namespace=BETA)
    assert "IST0132" not in wildcard.codes()
    scoped = analyze(_yaml(GATEWAY.replace("[shop.test]", '["other-ns/shop.test"]') + "---" + _vs()),
                     _beta_world(), namespace=BETA)
    assert "IST0132" in scoped.codes()


def test_destination_hosts_ports_and_subsets() -> None:
    fqdn = _vs(dest="productpage.l7-traffic-beta.svc.cluster.local")
    assert "IST0101" not in analyze(_yaml(GATEWAY + "---" + fqdn), _beta_world(), namespace=BETA).codes()
    two_part = analyze(_yaml(GATEWAY + "---" + _vs(dest="productpage.l7-traffic-beta")), _beta_world(),
                       namespace=BETA)
    assert _messages(two_part, "IST0101") == [
        'Referenced host not found: "productpage.l7-traffic-beta" '
        "(did you mean productpage.l7-traffic-beta.svc.cluster.local?)"]
    port = analyze(_yaml(GATEWAY + "---" + _vs().replace("9080", "80")), _beta_world(), namespace=BETA)
    assert _messages(port, "IST0101") == ['Referenced host:port not found: "productpage:80"']
    subset = analyze(_yaml(GATEWAY + "---" + _vs(extra=", subset: v9")), _beta_world(), namespace=BETA)
    (row,) = _rows(subset, "IST0101")
    assert row["message"] == 'Referenced host+subset in destinationrule not found: "productpage+v9"'
    assert row["see_also"] == "KIA1107"
    dr = """
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: pp}
spec:
  host: productpage
  subsets: [{name: v1, labels: {version: v1}}]
"""
    defined = analyze(_yaml(GATEWAY + "---" + _vs(extra=", subset: v1") + dr), _beta_world(),
                      namespace=BETA)
    assert defined.clean, defined.messages.to_string()


def test_service_entry_hosts_are_known() -> None:
    entry = """
---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: ext}
spec:
  hosts: ["*.example.com"]
  ports: [{number: 443, name: https, protocol: TLS}]
  resolution: DNS
"""
    result = analyze(_yaml(GATEWAY + "---" + _vs(dest="api.example.com") + entry), _beta_world(),
                     namespace=BETA)
    # the host is known; the route's port 9080 is not one the ServiceEntry declares
    assert _messages(result, "IST0101") == ['Referenced host:port not found: "api.example.com:9080"']


def test_multiple_ports_need_a_port_selector() -> None:
    svc = """
---
apiVersion: v1
kind: Service
metadata: {name: multi}
spec:
  selector: {app: productpage}
  ports: [{port: 80, name: http}, {port: 8080, name: http-alt}]
"""
    vs = _vs(dest="multi").replace(", port: {number: 9080}", "")
    result = analyze(_yaml(GATEWAY + "---" + vs + svc), _beta_world(), namespace=BETA)
    assert _messages(result, "IST0112") == [
        'This VirtualService routes to a service "multi" that exposes multiple ports [80 8080]. '
        "Specifying a port in the destination is required to disambiguate."]


def test_subset_selecting_no_pods_and_unknown_dr_host() -> None:
    dr = """
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: v4, labels: {version: v4}}]
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: typo}
spec:
  host: reveiws
"""
    result = analyze(_yaml(dr), _beta_world(), namespace=BETA)
    assert _messages(result, "IST0173") == [
        "The Subset v4 defined in the DestinationRule does not select any pods. Which may lead to "
        "503 UH (NoHealthyUpstream)."]
    assert _messages(result, "IST0174") == [
        "The host reveiws defined in the DestinationRule does not match any services in the mesh."]


def test_two_virtual_services_for_one_host() -> None:
    on_gateway = analyze(_yaml(GATEWAY + "---" + _vs("a") + "---" + _vs("b")), _beta_world(),
                         namespace=BETA)
    assert {r["name"] for r in _rows(on_gateway, "KIA1106")} == {"a", "b"}
    mesh = analyze(_yaml(_vs("a", hosts="[productpage]", gateways="[]") + "---"
                         + _vs("b", hosts="[productpage]", gateways="[mesh]")), _beta_world(),
                   namespace=BETA)
    assert {r["name"] for r in _rows(mesh, "IST0109")} == {"a", "b"}
    assert "l7-traffic-beta" in _messages(mesh, "IST0109")[0]


def test_gateway_port_not_on_the_gateway_service() -> None:
    gw = GATEWAY.replace("number: 80,", "number: 8004,")
    result = analyze(_yaml(gw), _beta_world(), namespace=BETA)
    (msg,) = _messages(result, "IST0162")
    assert msg.startswith("The gateway is listening on a target port (port 8004)")
    for port in (80, 8080):   # the Service port or its target port both work
        ok = analyze(_yaml(GATEWAY.replace("number: 80,", f"number: {port},")), _beta_world(),
                     namespace=BETA)
        assert "IST0162" not in ok.codes()


def test_selectors_matching_nothing_or_no_gateway() -> None:
    nothing = analyze(_yaml(GATEWAY.replace("{istio: ingressgateway, istio.io/rev: 1-18-5}",
                                            "{istio: ingress}")), _beta_world(), namespace=BETA)
    assert _messages(nothing, "IST0101") == ['Referenced selector not found: "istio=ingress"']
    assert _rows(nothing, "IST0101")[0]["see_also"] == "KIA0302"
    pilot = analyze(_yaml(GATEWAY.replace("{istio: ingressgateway, istio.io/rev: 1-18-5}",
                                          "{istio: pilot}")), _beta_world(), namespace=BETA)
    (msg,) = _messages(pilot, "MR204")
    assert "istio-prod/istiod-1-18-5" in msg and "istio-canary/istiod-1-19-3" in msg


def _edge_gateway_world(proxy_args: list[str]) -> Any:
    """The seed world plus a Deployment ``edge`` whose template names no gateway (the proxy is
    added at admission, as ``image: auto`` asks) and whose running pods run ``proxy_args``."""
    edge = {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "edge", "namespace": "edge-gw"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "edge"}},
                     "template": {"metadata": {"labels": {"app": "edge"}}, "spec": {"containers": [
                         {"name": "istio-proxy", "image": "auto"}]}}}}
    running = controller_objects([edge])
    for pod in running:
        if pod["kind"] == "Pod":
            pod["spec"]["containers"][0]["args"] = proxy_args
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "edge-gw"}}
    return snapshot_of(seed_world(bookinfo_in=[BETA], extra=[namespace, edge, *running]))


@pytest.mark.parametrize(("args", "gateway"), [(["proxy", "router"], True),
                                               (["proxy", "sidecar"], False)])
def test_a_gateway_proxy_is_known_by_its_pods_router_argument(args: list[str], gateway: bool) -> None:
    edge = GATEWAY.replace("{istio: ingressgateway, istio.io/rev: 1-18-5}", "{app: edge}")
    result = analyze(_yaml(edge), _edge_gateway_world(args), namespace=BETA)
    assert ("MR204" in result.codes()) is not gateway
    assert ("MR201" in result.codes()) is gateway


def test_revision_labels_that_no_serving_istiod_accepts_44047() -> None:
    # Gateway and VirtualService labelled for 1-19-3, but the pods they select run 1-18-5
    labelled = GATEWAY.replace("metadata: {name: gw}", "metadata: {name: gw, labels: {istio.io/rev: 1-19-3}}")
    result = analyze(_yaml(labelled + "---" + _vs(labels="{istio.io/rev: 1-19-3}")), _beta_world(),
                     namespace=BETA)
    (gw_error,) = _rows(result, "MR202")
    assert gw_error["see_also"] == "istio/istio#44047"
    assert "labelled istio.io/rev=1-19-3, which istiod 1-18-5 ignores" in gw_error["message"]
    (vs_error,) = _messages(result, "MR207")
    assert "VirtualService is labelled istio.io/rev=1-19-3, which istiod 1-18-5 ignores" in vs_error
    # label them for the revision the gateway pods run: programmed again
    relabelled = labelled.replace("1-19-3", "1-18-5") + "---" + _vs(labels="{istio.io/rev: 1-18-5}")
    right = analyze(_yaml(relabelled), _beta_world(), namespace=BETA)
    assert right.clean, right.messages.to_string()


def test_gateway_in_a_namespace_its_gateways_revision_does_not_watch() -> None:
    result = analyze(_yaml(GATEWAY + "---" + _vs()), seed_snapshot(bookinfo_in=[ALPHA]), namespace=ALPHA)
    (error,) = _messages(result, "MR202")
    assert "istiod 1-18-5 does not watch namespace l7-traffic-alpha" in error


def test_namespace_kind_and_version_problems() -> None:
    missing_ns = analyze(_yaml(GATEWAY), _beta_world(), namespace="l7-traffic-gamma")
    assert _messages(missing_ns, "MR208")[0].startswith('namespaces "l7-traffic-gamma" not found')
    unknown_kind = analyze(_yaml("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"),
                           _beta_world(), namespace=BETA)
    assert _messages(unknown_kind, "MR209") == [
        "the cluster serves no kind Widget in example.com (no CustomResourceDefinition): install its "
        "CRDs first"]
    builtin = analyze(app_objects("bookinfo", BETA), _beta_world(), namespace=BETA)
    assert builtin.clean and builtin.messages.empty
    # without cluster CRDs, our bundled 1.18/1.19 CRDs judge — as a warning
    v1 = _yaml(GATEWAY.replace("v1beta1", "v1"))
    assert {r["level"] for r in _rows(analyze(v1), "MR209")} == {"Warning"}
    assert {r["level"] for r in _rows(analyze(v1, _beta_world(), namespace=BETA), "MR209")} == {"Error"}


def test_files_alone_check_what_they_can_and_say_what_they_skipped() -> None:
    result = analyze(load_manifests(app_path("sample-gateway")))
    assert set(result.codes()) == {"MR205", "MR206"}
    assert any("services could not be read" in s for s in result.skipped)
    assert any("Gateway selectors not checked" in s for s in result.skipped)
    assert all(r["namespace"] == "default" for r in _rows(result))


def test_schema_errors_become_ist0106(seed_after_bookinfo: Any) -> None:
    broken = _yaml(GATEWAY.replace("hosts: [shop.test]", "hostss: [shop.test]") + "---"
                   + _vs().replace("number: 9080", "number: nine"))
    result = analyze(broken, seed_after_bookinfo, namespace=BETA)
    messages = _messages(result, "IST0106")
    assert any('unknown field "spec.servers[0].hostss"' in m for m in messages), messages
    assert any("number" in m for m in messages), messages


def test_objects_are_not_modified() -> None:
    objs = [m.obj for m in load_manifests(app_path("sample-gateway"))]
    before = copy.deepcopy(objs)
    analyze(objs, _beta_world(), namespace=BETA)
    assert objs == before


def test_pods_alone_or_templates_alone_count_as_workloads() -> None:
    # pods without a Deployment (e.g. created by hand) are selected by subsets too
    deployments = [o for o in app_objects("bookinfo", BETA) if o["kind"] == "Deployment"]
    pods = [o for o in controller_objects(deployments) if o["kind"] == "Pod"]
    for pod in pods:
        pod["metadata"].pop("ownerReferences")
    world = snapshot_of([o for o in seed_snapshot().objects.get("namespaces", [])]
                        + [o for o in app_objects("bookinfo", BETA) if o["kind"] == "Service"] + pods)
    dr = _yaml("apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata: {name: r}\n"
               "spec: {host: reviews, subsets: [{name: v3, labels: {version: v3}}]}\n")
    assert "IST0173" not in analyze(dr, world, namespace=BETA).codes()


def test_every_analyzer_code_has_an_example_in_findings_md() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "findings.md").read_text()
    ours = [code for code in CODES if code.startswith("MR2")]
    missing = [code for code in CODES if code not in ours and f"| {code} |" not in doc]
    assert missing == []
    assert f"| {min(ours)}–{max(ours)} |" in doc   # our own codes share one row
