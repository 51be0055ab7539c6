"""Structural-schema validation against the real Istio networking CRDs."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest

from runbook.schema import (
    go_float,
    go_repr,
    prune,
    strict_decoding_message,
    validate_against_schema,
    version_schema,
)

from .conftest import load_docs

PLURALS = {"Gateway": "gateways", "VirtualService": "virtualservices",
           "DestinationRule": "destinationrules"}
# (fixture file, CRD release, version to validate against)
SAMPLES = [("bookinfo-gateway-1.18.5.yaml", "1.18.5", "v1alpha3"),
           ("destination-rule-all-1.18.5.yaml", "1.18.5", "v1alpha3"),
           ("bookinfo-gateway.yaml", "head", "v1"),
           ("destination-rule-all.yaml", "head", "v1")]


def _schema(crds: dict[str, dict[str, dict[str, Any]]], release: str, kind: str,
            version: str) -> Any:
    schema = version_schema(crds[release][f"{PLURALS[kind]}.networking.istio.io"], version)
    assert schema is not None
    return schema


def _sample(upstream: Path, kind: str) -> dict[str, Any]:
    return next(d for d in load_docs(upstream / "bookinfo-gateway-1.18.5.yaml") if d["kind"] == kind)


@pytest.mark.parametrize(("name", "release", "version"), SAMPLES)
def test_upstream_samples_are_valid(upstream: Path, istio_crds: Any, name: str, release: str,
                                    version: str) -> None:
    for doc in load_docs(upstream / name):
        schema = _schema(istio_crds, release, doc["kind"], version)
        assert validate_against_schema(doc, schema, strict_unknown=True) == ([], [])


def test_wrong_type_is_reported_like_the_apiserver(upstream: Path, istio_crds: Any) -> None:
    gateway = _sample(upstream, "Gateway")
    gateway["spec"]["servers"][0]["port"]["number"] = "string"
    causes, unknown = validate_against_schema(
        gateway, _schema(istio_crds, "1.18.5", "Gateway", "v1alpha3"), strict_unknown=True)
    assert unknown == []
    assert [(c.field, c.reason, c.message) for c in causes] == [(
        "spec.servers[0].port.number", "FieldValueTypeInvalid",
        'Invalid value: "string": spec.servers[0].port.number in body must be of type integer: '
        '"string"')]


def test_unknown_fields_are_listed_and_pruned(upstream: Path, istio_crds: Any) -> None:
    vs = _sample(upstream, "VirtualService")
    vs["spec"]["hostss"] = ["typo"]
    vs["spec"]["http"][0]["matchh"] = []
    vs["metadata"]["labelz"] = {}
    schema = _schema(istio_crds, "1.18.5", "VirtualService", "v1alpha3")
    causes, unknown = validate_against_schema(vs, schema, strict_unknown=True)
    assert causes == []
    assert unknown == ["metadata.labelz", "spec.http[0].matchh", "spec.hostss"]
    assert strict_decoding_message(unknown[2:]) == (
        'strict decoding error: unknown field "spec.hostss"')
    assert validate_against_schema(vs, schema, strict_unknown=False) == ([], [])
    pruned = prune(vs, schema)
    assert "hostss" not in pruned["spec"] and "matchh" not in pruned["spec"]["http"][0]
    assert "labelz" not in pruned["metadata"] and pruned["spec"]["hosts"] == vs["spec"]["hosts"]
    status = copy.deepcopy(vs)
    status["status"] = {"anything": {"goes": 1}}  # x-kubernetes-preserve-unknown-fields
    assert validate_against_schema(status, schema, strict_unknown=True)[1] == unknown
    assert prune(status, schema)["status"] == {"anything": {"goes": 1}}


def test_required_enum_oneof_and_ranges(upstream: Path, istio_crds: Any) -> None:
    vs = _sample(upstream, "VirtualService")
    http = vs["spec"]["http"][0]
    http["match"][0]["uri"] = {"exact": "/a", "prefix": "/b"}
    http["route"][0]["destination"].pop("host")
    http["route"][0]["destination"]["port"] = {"number": -1}
    schema = _schema(istio_crds, "head", "VirtualService", "v1")
    causes = {(c.field, c.reason, c.message) for c in
              validate_against_schema(vs, schema, strict_unknown=True)[0]}
    assert ("spec.http[0].route[0].destination.host", "FieldValueRequired",
            "Required value") in causes
    assert ("<nil>", "FieldValueInvalid",
            'Invalid value: "": "spec.http[0].match[0].uri" must validate one and only one schema '
            "(oneOf). Found 2 valid alternatives") in causes
    assert ("spec.http[0].route[0].destination.port.number", "FieldValueInvalid",
            "Invalid value: -1: spec.http[0].route[0].destination.port.number in body should be "
            "greater than or equal to 0") in causes
    dr = next(d for d in load_docs(upstream / "destination-rule-all.yaml"))
    dr["spec"]["trafficPolicy"] = {"loadBalancer": {"simple": "FASTEST"}}
    causes_dr = validate_against_schema(dr, _schema(istio_crds, "head", "DestinationRule", "v1"),
                                        strict_unknown=True)[0]
    assert [(c.field, c.reason) for c in causes_dr] == [
        ("spec.trafficPolicy.loadBalancer.simple", "FieldValueNotSupported")]
    assert causes_dr[0].message.startswith('Unsupported value: "FASTEST": supported values: ')


def test_nullable_and_int_or_string() -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "port": {"x-kubernetes-int-or-string": True},
        "name": {"type": "string", "nullable": True},
        "size": {"type": "integer", "minimum": 1, "maximum": 1000000},
        "tags": {"type": "array", "maxItems": 1, "items": {"type": "string"}}}}}}
    ok = {"spec": {"port": "http", "name": None, "size": 3.0, "tags": ["a"]}}
    assert validate_against_schema(ok, schema, strict_unknown=True) == ([], [])
    bad = {"spec": {"port": True, "size": 0, "tags": ["a", "b"]}}
    messages = [c.message for c in validate_against_schema(bad, schema, strict_unknown=True)[0]]
    assert messages == [
        'Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"',
        "Invalid value: 0: spec.size in body should be greater than or equal to 1",
        "Too many: 2: must have at most 1 items",
    ]
    assert go_float(1e6) == "1e+06" and go_float(65535.0) == "65535"


def test_a_bad_value_prints_as_field_error_prints_it() -> None:
    # one printer for the schema's causes and the sandbox's built-in validation alike
    from runbook.sandbox.registry.validation import go_repr as validation_go_repr

    assert validation_go_repr is go_repr
    assert [go_repr(v) for v in (None, True, 3, 1e6, 2.0, "a\"b")] == [
        "null", "true", "3", "1e+06", "2", '"a\\"b"']
    # json.Marshal sorts a map's keys
    assert go_repr({"b": 1, "a": ["x"]}) == '{"a":["x"],"b":1}'


def test_validation_is_fast(upstream: Path, istio_crds: Any) -> None:
    vs = _sample(upstream, "VirtualService")
    schema = _schema(istio_crds, "head", "VirtualService", "v1")
    validate_against_schema(vs, schema, strict_unknown=True)  # compile once
    count = 2000
    start = time.perf_counter()
    for _ in range(count):
        validate_against_schema(vs, schema, strict_unknown=True)
    rate = count / (time.perf_counter() - start)
    assert rate >= 5000, f"{rate:.0f} VirtualServices/s"
