"""Our Istio networking CRDs (sandbox/scenarios/istio-crds.yaml) against the real 1.18.5 ones."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from runbook.apps import app_path
from runbook.kinds import CRDS as CRD_KIND
from runbook.kinds import ISTIO_NETWORKING_KINDS
from runbook.manifests import load_manifests

from .world import CRDS

VALUE_KEYWORDS = ("oneOf", "anyOf", "allOf", "not")


@lru_cache(maxsize=1)
def _ours() -> dict[str, dict[str, Any]]:
    """Our CRDs as the sandbox loads them (read-only: shared between tests)."""
    return {m.obj["metadata"]["name"]: m.obj for m in load_manifests(CRDS)}


@lru_cache(maxsize=2)
def _theirs(upstream: Path) -> dict[str, dict[str, Any]]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    text = (upstream / "crds-networking.yaml").read_text()
    return {d["metadata"]["name"]: d for d in yaml.load_all(text, Loader=loader) if d}


def _tree(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, tuple[Any, ...]]]:
    """Every node of a structural schema with what a validator looks at."""
    yield path, (schema.get("type"), tuple(schema.get("enum") or ()), schema.get("format"),
                 bool(schema.get("nullable")), bool(schema.get("x-kubernetes-preserve-unknown-fields")),
                 bool(schema.get("x-kubernetes-int-or-string")))
    for name, sub in (schema.get("properties") or {}).items():
        yield from _tree(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _tree(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _tree(schema["additionalProperties"], f"{path}{{}}")


def _schema(crd: dict[str, Any], version: str | None = None) -> dict[str, Any]:
    versions = crd["spec"]["versions"]
    chosen = next(v for v in versions if version is None or v["name"] == version)
    return chosen["schema"]["openAPIV3Schema"]


def test_three_crds_with_istios_names_scope_versions_and_columns(upstream: Path) -> None:
    ours, theirs = _ours(), _theirs(upstream)
    assert set(ours) == set(theirs) == {"gateways.networking.istio.io",
                                        "virtualservices.networking.istio.io",
                                        "destinationrules.networking.istio.io"}
    for name, crd in ours.items():
        mine, real = crd["spec"], theirs[name]["spec"]
        assert crd["apiVersion"] == f"{CRD_KIND.group}/{CRD_KIND.version}"
        assert (mine["group"], mine["scope"], mine["names"]) == (real["group"], real["scope"], real["names"])
        assert [(v["name"], v["served"], v["storage"]) for v in mine["versions"]] == \
            [("v1alpha3", True, True), ("v1beta1", True, False)] == \
            [(v["name"], v["served"], v["storage"]) for v in real["versions"]]
        for v_mine, v_real in zip(mine["versions"], real["versions"], strict=True):
            cols = [(c["name"], c["type"], c["jsonPath"]) for c in v_mine.get("additionalPrinterColumns", [])]
            assert cols == [(c["name"], c["type"], c["jsonPath"])
                            for c in v_real.get("additionalPrinterColumns", [])]
            assert v_mine["subresources"] == v_real["subresources"] == {"status": {}}


def test_printer_columns_are_the_ones_kubectl_showed_in_the_report() -> None:
    ours = _ours()
    vs_cols = [c["name"] for c in ours["virtualservices.networking.istio.io"]["spec"]["versions"][0]
               ["additionalPrinterColumns"]]
    assert vs_cols == ["Gateways", "Hosts", "Age"]        # NAME GATEWAYS HOSTS AGE
    assert "additionalPrinterColumns" not in ours["gateways.networking.istio.io"]["spec"]["versions"][0]
    dr_cols = [c["name"] for c in ours["destinationrules.networking.istio.io"]["spec"]["versions"][0]
               ["additionalPrinterColumns"]]
    assert dr_cols == ["Host", "Age"]


def test_kinds_module_agrees_with_the_crds() -> None:
    ours = _ours()
    for kind in ISTIO_NETWORKING_KINDS:
        names = ours[kind.key]["spec"]["names"]
        assert (names["kind"], names["plural"], tuple(names["shortNames"]), tuple(names["categories"])) == \
            (kind.kind, kind.plural, kind.short_names, kind.categories)


def test_every_field_of_the_real_118_schema_and_no_other(upstream: Path) -> None:
    ours, theirs = _ours(), _theirs(upstream)
    for name in ours:
        assert dict(_tree(_schema(ours[name]))) == dict(_tree(_schema(theirs[name]))), name


def test_both_versions_share_one_schema() -> None:
    for crd in _ours().values():
        first, second = crd["spec"]["versions"]
        assert first["schema"] == second["schema"]


def test_structural_and_closed_under_spec() -> None:
    for name, crd in _ours().items():
        schema = _schema(crd)
        assert not schema.get("x-kubernetes-preserve-unknown-fields")

        def walk(node: dict[str, Any], path: str, in_value: bool, name: str = name) -> None:
            if not in_value:
                assert "type" in node, f"{name}{path}: every node needs a type (structural schema)"
            if path.startswith(".spec"):
                assert not node.get("x-kubernetes-preserve-unknown-fields"), f"{name}{path} is open"
            for key in VALUE_KEYWORDS:
                subs = node.get(key)
                for sub in (subs if isinstance(subs, list) else [subs] if subs else []):
                    assert "type" not in sub and "description" not in sub, f"{name}{path}.{key}"
                    walk(sub, f"{path}.{key}", True)
            for prop, sub in (node.get("properties") or {}).items():
                walk(sub, f"{path}.{prop}", in_value)
            for key in ("items", "additionalProperties"):
                if isinstance(node.get(key), dict):
                    walk(node[key], f"{path}.{key}", in_value)

        walk(schema, "", False)


# --------------------------------------------------------------- validation with runbook.schema

SAMPLES = ["bookinfo-gateway-1.18.5.yaml", "bookinfo-gateway.yaml", "destination-rule-all-1.18.5.yaml",
           "destination-rule-all.yaml"]


def _validate(obj: dict[str, Any]) -> tuple[list[Any], list[str]]:
    schema_mod = pytest.importorskip("runbook.schema")
    crd = _ours()[f"{obj['kind'].lower()}s.networking.istio.io"]
    return schema_mod.validate_against_schema(obj, _schema(crd, "v1beta1"), strict_unknown=True)


@pytest.mark.parametrize("sample", SAMPLES)
def test_upstream_samples_validate(upstream: Path, sample: str) -> None:
    for m in load_manifests(upstream / sample):
        assert _validate(m.obj) == ([], []), f"{sample}: {m.label}"


@pytest.mark.parametrize("app", ["sample-gateway.yml", "sample-gateway-fixed.yaml", "bookinfo-gateway.yaml"])
def test_shipped_config_validates(app: str) -> None:
    for m in load_manifests(app_path(app)):
        if m.obj["apiVersion"].startswith("networking.istio.io/"):
            assert _validate(m.obj) == ([], []), m.label


def _gateway() -> dict[str, Any]:
    return copy.deepcopy(next(m.obj for m in load_manifests(app_path("bookinfo-gateway"))
                              if m.obj["kind"] == "Gateway"))


def _virtual_service() -> dict[str, Any]:
    return copy.deepcopy(next(m.obj for m in load_manifests(app_path("bookinfo-gateway"))
                              if m.obj["kind"] == "VirtualService"))


def test_a_typo_is_an_unknown_field() -> None:
    vs = _virtual_service()
    vs["spec"]["hostss"] = vs["spec"].pop("hosts")
    causes, unknown = _validate(vs)
    assert any(p.endswith("hostss") for p in unknown), (causes, unknown)
    vs = _virtual_service()
    vs["spec"]["http"][0]["match"][0]["uri"]["exct"] = "/x"
    assert any("exct" in p for p in _validate(vs)[1])
    dr = copy.deepcopy(next(m.obj for m in load_manifests(app_path("sample-gateway-fixed"))
                            if m.obj["kind"] == "DestinationRule"))
    dr["spec"]["subsets"][0]["lables"] = dr["spec"]["subsets"][0].pop("labels")
    assert any("lables" in p for p in _validate(dr)[1])


def test_wrong_types_and_enums_and_one_of_are_rejected() -> None:
    gw = _gateway()
    gw["spec"]["servers"][0]["port"]["number"] = "eighty"
    causes, _ = _validate(gw)
    assert any("number" in c.field for c in causes)
    gw = _gateway()
    gw["spec"]["servers"][0]["tls"] = {"mode": "STRICT"}
    assert any("mode" in c.field for c in _validate(gw)[0])
    vs = _virtual_service()
    vs["spec"]["http"][0]["match"][0]["uri"] = {"exact": "/a", "prefix": "/b"}
    assert _validate(vs)[0], "a StringMatch takes exactly one of exact/prefix/regex"


# ------------------------------------------------------------------- served by the real sandbox


def test_the_sandbox_accepts_our_crds_and_rejects_a_typo(sandbox: Any) -> None:
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    from runbook.kinds import CRDS as CRD_KIND
    from runbook.sandbox.registry.validation import validate_object

    for crd in _ours().values():
        assert validate_object(CRD_KIND, crd) == []
    api = config.new_client_from_config(str(sandbox.kubeconfig_path), context="sandbox")
    ext = client.ApiextensionsV1Api(api)
    for m in load_manifests(CRDS):      # as the sandbox's scenario loader reads the file
        ext.create_custom_resource_definition(m.obj)
    custom = client.CustomObjectsApi(api)
    vs = _virtual_service()
    custom.create_namespaced_custom_object("networking.istio.io", "v1alpha3", "default",
                                           "virtualservices", vs, field_validation="Strict")
    got = custom.get_namespaced_custom_object("networking.istio.io", "v1beta1", "default",
                                              "virtualservices", "bookinfo")
    assert got["spec"]["hosts"] == ["bookinfo-gateway.test"]
    typo = _virtual_service()
    typo["metadata"]["name"] = "typo"
    typo["spec"]["hostss"] = typo["spec"].pop("hosts")
    with pytest.raises(ApiException) as exc:
        custom.create_namespaced_custom_object("networking.istio.io", "v1alpha3", "default",
                                               "virtualservices", typo, field_validation="Strict")
    assert exc.value.status == 400
    assert json.loads(exc.value.body)["message"] == 'strict decoding error: unknown field "spec.hostss"'


@pytest.mark.kubectl
def test_kubectl_prints_the_reports_columns(sandbox: Any, kubectl: str) -> None:
    import subprocess

    env = {"KUBECONFIG": str(sandbox.kubeconfig_path), "PATH": "/usr/bin:/bin", "HOME": "/tmp"}

    def run(*args: str) -> str:
        done = subprocess.run([kubectl, *args], capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("apply", "-f", str(CRDS))
    run("apply", "-f", str(app_path("bookinfo-gateway")), "-n", "default")
    lines = run("get", "virtualservice", "-n", "default").splitlines()
    assert lines[0].split() == ["NAME", "GATEWAYS", "HOSTS", "AGE"]
    assert lines[1].split()[:3] == ["bookinfo", '["bookinfo-gateway"]', '["bookinfo-gateway.test"]']
    assert run("get", "gw", "-n", "default").splitlines()[0].split() == ["NAME", "AGE"]
