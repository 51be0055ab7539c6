"""A CRD that declares ``metadata: {type: object}`` (kubebuilder style) still accepts ObjectMeta."""

from __future__ import annotations

from runbook.schema import validate_against_schema

SCHEMA = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
    },
}


def test_declared_metadata_is_objectmeta() -> None:
    obj = {"apiVersion": "x.io/v1", "kind": "W", "metadata": {"name": "w", "labels": {"a": "b"}},
           "spec": {"size": 1}}
    assert validate_against_schema(obj, SCHEMA, strict_unknown=True) == ([], [])


def test_unknown_metadata_field_is_still_unknown() -> None:
    obj = {"apiVersion": "x.io/v1", "kind": "W", "metadata": {"name": "w", "nmae": "typo"}}
    _, unknown = validate_against_schema(obj, SCHEMA, strict_unknown=True)
    assert unknown == ["metadata.nmae"]
