"""Decoding the Kubernetes protobuf encoding, for the few kinds kubectl's generators send in it.

kubectl 1.32 sends ``Content-Type: application/vnd.kubernetes.protobuf`` when it creates built-in
objects with its typed clients (``kubectl create namespace|configmap|secret|serviceaccount|
deployment``, ``kubectl auth can-i``);
``apply`` and the Python client send JSON. The encoding is the ``k8s\\x00`` magic followed by a
``runtime.Unknown`` message whose ``raw`` field holds the object as the Go type's generated
protobuf message (field numbers from ``k8s.io/api/core/v1/generated.proto`` and
``k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto``).

Only the messages below are decoded; any other kind is refused with 415 by the caller (LIMITS).
Answers are always JSON, which kubectl accepts (it sends ``Accept: …protobuf,application/json``).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"


class ProtobufError(ValueError):
    """Bytes that are not a message this module can decode."""


# A schema maps field number -> (json name, type, repeated). Types: "string", "bytes", "int",
# "int?" (a pointer: zero kept), "bool", "time", "map:string", "map:bytes", or a nested schema.
Schema = dict[int, tuple[str, Any, bool]]

_TYPE_META: Schema = {1: ("apiVersion", "string", False), 2: ("kind", "string", False)}
_UNKNOWN: Schema = {1: ("typeMeta", _TYPE_META, False), 2: ("raw", "bytes", False),
                    3: ("contentEncoding", "string", False), 4: ("contentType", "string", False)}
_OWNER_REF: Schema = {1: ("kind", "string", False), 3: ("name", "string", False),
                      4: ("uid", "string", False), 5: ("apiVersion", "string", False),
                      6: ("controller", "bool", False), 7: ("blockOwnerDeletion", "bool", False)}
_OBJECT_META: Schema = {
    1: ("name", "string", False), 2: ("generateName", "string", False),
    3: ("namespace", "string", False), 5: ("uid", "string", False),
    6: ("resourceVersion", "string", False), 7: ("generation", "int", False),
    8: ("creationTimestamp", "time", False), 11: ("labels", "map:string", False),
    12: ("annotations", "map:string", False), 13: ("ownerReferences", _OWNER_REF, True),
    14: ("finalizers", "string", True),
}
_OBJECT_REF: Schema = {1: ("kind", "string", False), 2: ("namespace", "string", False),
                       3: ("name", "string", False), 4: ("uid", "string", False),
                       5: ("apiVersion", "string", False)}
_LOCAL_REF: Schema = {1: ("name", "string", False)}

_LABEL_SELECTOR: Schema = {
    1: ("matchLabels", "map:string", False),
    2: ("matchExpressions", {1: ("key", "string", False), 2: ("operator", "string", False),
                             3: ("values", "string", True)}, True)}
# k8s.io/api/core/v1: what kubectl's generators fill in a pod template (checked by decoding the
# body of ``kubectl create deployment --image --port --replicas -- CMD`` against its
# ``--dry-run=client -o json``)
_CONTAINER: Schema = {
    1: ("name", "string", False), 2: ("image", "string", False),
    3: ("command", "string", True), 4: ("args", "string", True),
    5: ("workingDir", "string", False),
    6: ("ports", {1: ("name", "string", False), 2: ("hostPort", "int", False),
                  3: ("containerPort", "int", False), 4: ("protocol", "string", False),
                  5: ("hostIP", "string", False)}, True),
    7: ("env", {1: ("name", "string", False), 2: ("value", "string", False)}, True),
    8: ("resources", {}, False),
    13: ("terminationMessagePath", "string", False), 14: ("imagePullPolicy", "string", False),
    20: ("terminationMessagePolicy", "string", False),
}
_POD_SPEC: Schema = {
    2: ("containers", _CONTAINER, True), 3: ("restartPolicy", "string", False),
    4: ("terminationGracePeriodSeconds", "int?", False), 6: ("dnsPolicy", "string", False),
    7: ("nodeSelector", "map:string", False), 8: ("serviceAccountName", "string", False),
    10: ("nodeName", "string", False), 19: ("schedulerName", "string", False),
    20: ("initContainers", _CONTAINER, True),
}
_POD_TEMPLATE: Schema = {1: ("metadata", _OBJECT_META, False), 2: ("spec", _POD_SPEC, False)}

_RESOURCE_ATTRIBUTES: Schema = {
    1: ("namespace", "string", False), 2: ("verb", "string", False), 3: ("group", "string", False),
    4: ("version", "string", False), 5: ("resource", "string", False),
    6: ("subresource", "string", False), 7: ("name", "string", False)}
_NON_RESOURCE_ATTRIBUTES: Schema = {1: ("path", "string", False), 2: ("verb", "string", False)}

#: kind -> message schema of the object
KINDS: dict[str, Schema] = {
    "Namespace": {1: ("metadata", _OBJECT_META, False),
                  2: ("spec", {1: ("finalizers", "string", True)}, False),
                  3: ("status", {1: ("phase", "string", False)}, False)},
    "ConfigMap": {1: ("metadata", _OBJECT_META, False), 2: ("data", "map:string", False),
                  3: ("binaryData", "map:bytes", False), 4: ("immutable", "bool", False)},
    "Secret": {1: ("metadata", _OBJECT_META, False), 2: ("data", "map:bytes", False),
               3: ("type", "string", False), 4: ("stringData", "map:string", False),
               5: ("immutable", "bool", False)},
    "ServiceAccount": {1: ("metadata", _OBJECT_META, False), 2: ("secrets", _OBJECT_REF, True),
                       3: ("imagePullSecrets", _LOCAL_REF, True),
                       4: ("automountServiceAccountToken", "bool", False)},
    # kubectl create deployment (k8s.io/api/apps/v1/generated.proto); status is the server's
    "Deployment": {1: ("metadata", _OBJECT_META, False), 2: ("spec", {
        1: ("replicas", "int?", False), 2: ("selector", _LABEL_SELECTOR, False),
        3: ("template", _POD_TEMPLATE, False),
        4: ("strategy", {1: ("type", "string", False)}, False),
        5: ("minReadySeconds", "int", False), 6: ("revisionHistoryLimit", "int?", False),
        9: ("progressDeadlineSeconds", "int?", False)}, False),
        3: ("status", {}, False)},
    # kubectl auth can-i (k8s.io/api/authorization/v1/generated.proto)
    "SelfSubjectAccessReview": {1: ("metadata", _OBJECT_META, False), 2: ("spec", {
        1: ("resourceAttributes", _RESOURCE_ATTRIBUTES, False),
        2: ("nonResourceAttributes", _NON_RESOURCE_ATTRIBUTES, False)}, False)},
}


def decode_object(body: bytes) -> dict[str, Any]:
    """The JSON-shaped object of a ``k8s\\x00`` protobuf body.

    Raises:
        ProtobufError: not the envelope, or a kind this module does not know (``.kind`` says).
    """
    if not body.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf magic")
    envelope = _message(body[len(MAGIC):], _UNKNOWN)
    type_meta = envelope.get("typeMeta") or {}
    kind = type_meta.get("kind", "")
    schema = KINDS.get(kind)
    if schema is None:
        raise ProtobufError(f"protobuf bodies of kind {kind or '?'} are not supported by the sandbox")
    obj = _message(base64.b64decode(envelope.get("raw", "")), schema)
    return {"apiVersion": type_meta.get("apiVersion", ""), "kind": kind, **obj}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append((number, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ProtobufError("truncated field")
            out.append((number, data[pos:pos + length]))
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4  # fixed64/fixed32: none of our fields use them
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
    return out


def _message(data: bytes, schema: Schema) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, value in _fields(data):
        if number not in schema:
            continue  # a field this sandbox does not keep
        name, kind, repeated = schema[number]
        decoded = _value(value, kind)
        if not repeated and kind in ("string", "int", "time") and not decoded:
            # Go writes empty strings, zero ints and zero times; JSON's omitempty leaves them out
            # (an ``int?`` is a pointer: a zero sent is a zero meant)
            continue
        if isinstance(kind, str) and kind.startswith("map:"):
            obj.setdefault(name, {}).update(decoded)
        elif repeated:
            obj.setdefault(name, []).append(decoded)
        else:
            obj[name] = decoded
    return obj


def _value(value: int | bytes, kind: Any) -> Any:
    if isinstance(kind, dict):
        return _message(_bytes(value), kind)
    if kind in ("int", "int?"):
        return value if isinstance(value, int) else 0
    if kind == "bool":
        return bool(value)
    if kind == "string":
        return _bytes(value).decode("utf-8")
    if kind == "bytes":
        return base64.b64encode(_bytes(value)).decode()
    if kind == "time":
        fields = dict(_fields(_bytes(value)))
        seconds = fields.get(1, 0)
        if not seconds:
            return None  # metav1.Time's zero value: null in JSON
        when = datetime.fromtimestamp(seconds if isinstance(seconds, int) else 0, tz=UTC)
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind in ("map:string", "map:bytes"):
        entry = dict(_fields(_bytes(value)))
        key = _bytes(entry.get(1, b"")).decode("utf-8")
        raw = _bytes(entry.get(2, b""))
        return {key: raw.decode("utf-8") if kind == "map:string" else base64.b64encode(raw).decode()}
    raise ProtobufError(f"unknown field type {kind!r}")


def _bytes(value: int | bytes) -> bytes:
    if isinstance(value, int):
        raise ProtobufError("expected a length-delimited field")
    return value
