"""The manifests shipped in runbook/apps: what the report applies, in the report's shape."""

from __future__ import annotations

import glob
import json
import re
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from runbook.apps import app_path, list_apps
from runbook.errors import InputError
from runbook.manifests import load_manifests
from runbook.selectors import selector_from_dict

ROOT = Path(__file__).resolve().parents[2]


def _objects(name: str) -> list[dict]:
    return [m.obj for m in load_manifests(app_path(name))]


def test_list_and_locate() -> None:
    assert list_apps() == ["bookinfo-gateway.yaml", "bookinfo.yaml", "sample-gateway-fixed.yaml",
                           "sample-gateway.yml"]
    assert app_path("bookinfo").name == "bookinfo.yaml"
    assert app_path("sample-gateway").name == "sample-gateway.yml"
    assert app_path("sample-gateway-fixed.yaml").is_file()
    with pytest.raises(InputError, match="no shipped manifest called 'bookinfo-v2'") as info:
        app_path("bookinfo-v2")
    assert "bookinfo.yaml" in (info.value.hint or "")


def test_apps_are_package_data() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = data["tool"]["setuptools"]["package-data"]["runbook"]
    assert "apps/**/*" in patterns


def test_no_shipped_manifest_names_a_namespace() -> None:
    for name in list_apps():
        for obj in _objects(name):
            assert "namespace" not in obj["metadata"], (name, obj["metadata"]["name"])


def test_bookinfo_is_what_the_report_applies() -> None:
    objs = _objects("bookinfo")
    # the order `kubectl apply` printed in the report
    assert [f"{o['kind'].lower()}/{o['metadata']['name']}" for o in objs] == [
        "service/details", "serviceaccount/bookinfo-details", "deployment/details-v1",
        "service/ratings", "serviceaccount/bookinfo-ratings", "deployment/ratings-v1",
        "service/reviews", "serviceaccount/bookinfo-reviews", "deployment/reviews-v1",
        "deployment/reviews-v2", "deployment/reviews-v3",
        "service/productpage", "serviceaccount/bookinfo-productpage", "deployment/productpage-v1",
    ]
    for dep in (o for o in objs if o["kind"] == "Deployment"):
        app, version = dep["metadata"]["labels"]["app"], dep["metadata"]["labels"]["version"]
        template = dep["spec"]["template"]
        assert template["metadata"]["labels"] == {"app": app, "version": version}
        assert selector_from_dict(dep["spec"]["selector"]).matches(template["metadata"]["labels"])
        (container,) = template["spec"]["containers"]
        assert container["image"] == f"docker.io/istio/examples-bookinfo-{app}-{version}:1.18.0"
        assert container["ports"] == [{"containerPort": 9080}]
        assert template["spec"]["serviceAccountName"] == f"bookinfo-{app}"
    for svc in (o for o in objs if o["kind"] == "Service"):
        assert svc["spec"]["ports"] == [{"port": 9080, "name": "http"}]


def test_bookinfo_has_upstreams_names_and_shape(upstream: Path) -> None:
    theirs = [m.obj for m in load_manifests(upstream / "bookinfo.yaml")]
    ours = _objects("bookinfo")

    def shape(objs: list[dict]) -> list[tuple]:
        return [(o["kind"], o["metadata"]["name"], json.dumps(o["metadata"].get("labels"), sort_keys=True),
                 json.dumps((o.get("spec") or {}).get("selector"), sort_keys=True)) for o in objs]

    assert shape(ours) == shape(theirs)


def test_details_pod_template_matches_the_reports_describe_rs() -> None:
    details = next(o for o in _objects("bookinfo") if o["metadata"]["name"] == "details-v1")
    spec = details["spec"]["template"]["spec"]
    # `Environment: <none>`, `Mounts: <none>`, `Volumes: <none>` in the report's describe rs
    assert "env" not in spec["containers"][0] and "volumeMounts" not in spec["containers"][0]
    assert "volumes" not in spec


def test_bookinfo_gateway_prints_like_the_reports_get_virtualservice() -> None:
    gw, vs = _objects("bookinfo-gateway")
    assert (gw["kind"], gw["metadata"]["name"]) == ("Gateway", "bookinfo-gateway")
    assert gw["spec"]["selector"] == {"istio": "ingressgateway"}
    (server,) = gw["spec"]["servers"]
    assert server["port"] == {"number": 80, "name": "http", "protocol": "HTTP"}
    assert server["hosts"] == ["bookinfo-gateway.test"]
    # kubectl prints the printer columns .spec.gateways / .spec.hosts as JSON
    assert json.dumps(vs["spec"]["gateways"]) == '["bookinfo-gateway"]'
    assert json.dumps(vs["spec"]["hosts"]) == '["bookinfo-gateway.test"]'
    (rule,) = vs["spec"]["http"]
    assert rule["match"] == [{"uri": {"exact": "/productpage"}}, {"uri": {"prefix": "/static"}},
                             {"uri": {"exact": "/login"}}, {"uri": {"exact": "/logout"}},
                             {"uri": {"prefix": "/api/v1/products"}}]
    assert rule["route"] == [{"destination": {"host": "productpage", "port": {"number": 9080}}}]


def test_sample_gateway_is_the_reports_text_byte_for_byte() -> None:
    files = glob.glob(str(ROOT.parent / "shared" / "seed" / "*.txt"))
    if not files:
        pytest.skip("field report not found")
    report = Path(files[0]).read_text(encoding="utf-8")
    block = re.search(r"```yml\n(# sample-gateway\.yml\n.*?)```", report, re.S)
    assert block is not None
    assert app_path("sample-gateway").read_text(encoding="utf-8") == block.group(1)
    kinds = Counter(o["kind"] for o in _objects("sample-gateway"))
    assert kinds == {"Gateway": 1, "VirtualService": 1, "DestinationRule": 2}


def test_fixed_sample_routes_only_to_what_it_deploys() -> None:
    objs = _objects("sample-gateway-fixed")
    services = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Service"}
    deployments = [o for o in objs if o["kind"] == "Deployment"]
    (vs,) = [o for o in objs if o["kind"] == "VirtualService"]
    (gw,) = [o for o in objs if o["kind"] == "Gateway"]
    rules = [o for o in objs if o["kind"] == "DestinationRule"]
    assert vs["spec"]["hosts"] == ["nginx-sample-gateway.test"] == gw["spec"]["servers"][0]["hosts"]
    assert vs["spec"]["gateways"] == [gw["metadata"]["name"]]
    images = {c["image"] for d in deployments for c in d["spec"]["template"]["spec"]["containers"]}
    assert "docker.io/library/nginx:1.25" in images and len(images) == 2
    for rule in vs["spec"]["http"]:
        for m in rule.get("match", []):
            assert "sourceLabels" not in m and "sourceNamespace" not in m
        for route in rule["route"]:
            dest = route["destination"]
            svc = services[dest["host"]]
            assert dest["port"]["number"] in [p["port"] for p in svc["spec"]["ports"]]
            (dr,) = [r for r in rules if r["spec"]["host"] == dest["host"]]
            (subset,) = [s for s in dr["spec"]["subsets"] if s["name"] == dest["subset"]]
            wanted = {**svc["spec"]["selector"], **subset["labels"]}
            assert any(all(d["spec"]["template"]["metadata"]["labels"].get(a) == b
                           for a, b in wanted.items()) for d in deployments)
    # `/` must reach nginx (the report expects nginx's welcome page): the last rule catches all
    assert "match" not in vs["spec"]["http"][-1]
    assert vs["spec"]["http"][-1]["route"][0]["destination"]["host"] == "nginx-sample"
