"""The sandbox's patch engines: JSON patch, merge patch, strategic merge patch, server-side apply.

Each engine is a pure function over plain JSON data and behaves like kube-apiserver, including
its error statuses and messages (``PatchError`` carries them; the server turns one into a
``kind: Status`` body). Sources that were read to match the behaviour:

* ``staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go`` — which error becomes which
  status: a JSON patch that cannot be decoded is 400, one that cannot be applied is 422 ``Invalid``
  with the generic message and empty details (the library's message is kept in ``detail``); a
  merge patch that is not an object is 400 ``Invalid JSON Patch``; strategic-merge errors are 400
  for malformed directives, 422 for lists of lists, and 500 (reason Unknown) for everything else.
* ``gopkg.in/evanphx/json-patch.v4`` (``patch.go``/``merge.go``) — the JSON/merge patch semantics
  and messages, quirks included: ``replace`` of a missing object member adds it, negative array
  indices count from the end, ``test`` of ``null`` against a missing member passes. Checked with
  ``kubectl patch --local --type json`` (kubectl 1.32 vendors the same library).
* ``k8s.io/apimachinery/pkg/util/strategicpatch/patch.go`` — ``mergeMap``/``mergeSlice`` and the
  directives ``$patch``, ``$retainKeys``, ``$deleteFromPrimitiveList/``, ``$setElementOrder/``,
  including the element order rules; the merge keys and strategies are the ``patchStrategy`` /
  ``patchMergeKey`` tags of the Go types in ``k8s.io/api`` (table ``_STRUCTS`` below).
  Custom resources answer 415 exactly like the apiextensions handler.
* ``k8s.io/apimachinery/pkg/util/managedfields/internal`` and ``sigs.k8s.io/structured-merge-diff``
  — the managedFields entry shape, ``fieldsV1`` encoding (``f:``/``k:``/``v:``/``i:``) and the
  ``Apply failed with N conflict(s)`` message.

Server-side apply is simplified but honest; these are the knowing differences (copy them into
LIMITS):

* Field sets are computed from the JSON, with list semantics from the same Go type table as the
  strategic merge patch: lists with a merge key are associative (keyed by that key, plus
  ``protocol`` — defaulted to ``TCP`` — for container and service ports, as the real list-map keys
  are), ``finalizers`` and other merge lists of scalars are sets, every other list is atomic.
  Custom resources have no list-map information here, so all of their lists are atomic (the real
  server reads ``x-kubernetes-list-type`` from the CRD schema).
* Only leaf fields can conflict; a conflict is a leaf owned by another manager whose value differs.
  Equal values become shared ownership, as in the real server.
* A field the applier owned before and omits now is removed only when no other manager owns it;
  a list element is removed when nobody owns anything inside it any more.
* ``fieldsV1`` of ``Update`` entries (``track_update``) marks ``.`` on list elements and on
  Go-map fields (labels, annotations, data, selectors …) only; the real server also marks pointer
  structs. ``status`` is not tracked for kinds with a status subresource.
* No defaulting, no CEL, no ``x-kubernetes-map-type`` granularity beyond the table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import jsonpatch

from runbook.errors import Cause
from runbook.kinds import BUILTIN_KINDS

JSONDict = dict[str, Any]

#: the media types a custom resource accepts for PATCH (apiextensions-apiserver crdHandler)
CUSTOM_RESOURCE_PATCH_TYPES: tuple[str, ...] = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
)

#: kube-apiserver's limit on JSON patch operations (``maxJSONPatchOperations``)
MAX_JSON_PATCH_OPERATIONS = 10000

_REASONS = {400: "BadRequest", 409: "Conflict", 413: "RequestEntityTooLarge",
            415: "UnsupportedMediaType", 422: "Invalid", 500: ""}

#: ``NewGenericServerResponse(422, …)`` says this and puts the real error in a cause
_GENERIC_422 = "the server rejected our request due to an error in our request"


class PatchError(ValueError):
    """A patch that cannot be applied; ``status`` is the HTTP status the server answers with.

    Attributes:
        status: HTTP status code (400, 409, 413, 415, 422 or 500).
        reason: the Status ``reason`` (``BadRequest``, ``Invalid``, ``Conflict``,
            ``UnsupportedMediaType`` …; ``""`` for the apiserver's reason-less 500s).
        causes: the Status ``details.causes`` (field ``""`` when the server gives none).
    """

    def __init__(self, message: str, status: int = 422, *, reason: str | None = None,
                 causes: Sequence[Cause] = (), detail: str = "") -> None:
        self.status = status
        self.reason = _REASONS.get(status, "") if reason is None else reason
        self.causes = list(causes)
        #: the patch library's own message where the answer does not carry it (kubectl --local
        #: prints it; the server's generic 422 does not)
        self.detail = detail
        super().__init__(message)

    @property
    def message(self) -> str:
        return str(self)


def _unprocessable(detail: str) -> PatchError:
    """``errors.NewGenericServerResponse(422, …)`` as the JSON patch handler builds it: the
    library's ``detail`` reaches no client (measured on kube-apiserver 1.37: empty details)."""
    return PatchError(_GENERIC_422, 422, reason="Invalid", detail=detail)


def _copy(value: Any) -> Any:
    # JSON trees only hold dicts, lists and scalars: this is several times faster than deepcopy.
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


# ---------------------------------------------------------------------------- Go formatting


def go_value(value: Any) -> str:
    """``fmt.Sprintf("%v", v)`` for a decoded JSON value, as Go error messages print them."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_value(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    if isinstance(value, float):
        return _go_float(value)
    return str(value)


def _go_float(value: float) -> str:
    # %v of a float64 is %g with the shortest representation; Go switches to exponent form at 1e21.
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, _, exp = text.partition("e")
        sign = "-" if exp.startswith("-") else "+"
        return f"{mantissa}e{sign}{exp.lstrip('+-').zfill(2)}"
    return text


def _go_json_kind(value: Any) -> str:
    """How encoding/json names a JSON value in ``cannot unmarshal X into …``."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


# ---------------------------------------------------------------------------- JSON patch


def json_patch(obj: JSONDict, operations: Any) -> JSONDict:
    """Apply an RFC 6902 JSON patch with kube-apiserver's semantics and errors.

    Args:
        obj: the current object (not modified).
        operations: the decoded patch body (a list of operation objects).

    Returns:
        The patched object (a new dict).

    Raises:
        PatchError: 400 when the body is not a list of operations, 413 above 10000 operations,
            422 ``Invalid`` (message "the server rejected our request due to an error in our
            request", the json-patch error as the cause) when an operation does not apply.
    """
    if operations is None:
        return _copy(obj)
    if not isinstance(operations, list):
        raise PatchError(f"json: cannot unmarshal {_go_json_kind(operations)} into Go value of type "
                         "jsonpatch.Patch", 400)
    for op in operations:
        if op is not None and not isinstance(op, dict):
            raise PatchError(f"json: cannot unmarshal {_go_json_kind(op)} into Go value of type "
                             "jsonpatch.Operation", 400)
    if len(operations) > MAX_JSON_PATCH_OPERATIONS:
        raise PatchError(f"The allowed maximum operations in a JSON patch is "
                         f"{MAX_JSON_PATCH_OPERATIONS}, got {len(operations)}", 413)
    doc: Any = _copy(obj)
    for op in operations:
        try:
            doc = _apply_operation(doc, op or {})
        except _OpError as exc:
            raise _unprocessable(str(exc)) from None
    if not isinstance(doc, dict):
        raise PatchError(" \"\" is invalid: patch: Invalid value: "
                         f"{json.dumps(doc)!r}: couldn't get version/kind; json parse error", 422)
    return cast(JSONDict, doc)


class _OpError(Exception):
    """An operation that does not apply; ``str()`` is evanphx/json-patch's message."""


_MISSING = "missing value"
_BAD_INDEX = "invalid index referenced"


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _op_string(op: Mapping[str, Any], name: str, what: str, *, wrap_decode: bool) -> str:
    """Read ``path``/``from``; failures are worded like ``Operation.Path()`` and its callers."""
    value = op.get(name)
    if value is None:
        inner = ("operation missing path field" if name == "path"
                 else "operation, missing from field")
        if name == "path" and not wrap_decode:
            raise _OpError(f"{what} failed to decode path: {_MISSING}")
        raise _OpError(f"{what} failed to decode {name}: {inner}: {_MISSING}")
    if not isinstance(value, str):
        if not wrap_decode:
            raise _OpError(f"{what} failed to decode {name}: {_MISSING}")
        raise _OpError(f"{what} failed to decode {name}: json: cannot unmarshal "
                       f"{_go_json_kind(value)} into Go value of type string")
    return value


def _find_container(doc: Any, path: str) -> tuple[Any, str] | None:
    """``findObject``: the parent container and the last (unescaped) token, None when missing."""
    parts = path.split("/")
    if len(parts) < 2:
        return None
    cur = doc
    for raw in parts[1:-1]:
        token = _unescape(raw)
        if isinstance(cur, dict):
            nxt = cur.get(token)
        elif isinstance(cur, list):
            idx = _atoi(token)
            if idx is None or idx >= len(cur) or idx < 0:
                return None
            nxt = cur[idx]
        else:
            return None
        if not isinstance(nxt, (dict, list)):
            return None
        cur = nxt
    return cur, _unescape(parts[-1])


def _atoi(token: str) -> int | None:
    text = token[1:] if token[:1] in "+-" else token
    if not text.isdigit() or not text.isascii():
        return None
    return int(token)


def _atoi_error(token: str) -> str:
    return f'strconv.Atoi: parsing "{token}": invalid syntax'


def _pointer(parts: Sequence[str]) -> str:
    return "".join("/" + _escape(p) for p in parts)


def _parent_pointer(path: str) -> str:
    return path.rsplit("/", 1)[0]


def _apply_with_library(doc: Any, op: JSONDict) -> Any:
    """Let the jsonpatch library do the mutation once the operation is known to apply."""
    try:
        return jsonpatch.apply_patch(doc, [op], in_place=True)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        # Unreachable when the checks above are right; keep the library's words if it happens.
        raise _OpError(str(exc)) from exc


def _apply_operation(doc: Any, op: Mapping[str, Any]) -> Any:
    kind = op.get("op")
    kind = kind if isinstance(kind, str) else "unknown"
    if kind == "add":
        path = _op_string(op, "path", "add operation", wrap_decode=False)
        return _do_add(doc, path, op.get("value"), f"error in add for path: '{path}'",
                       f'add operation does not apply: doc is missing path: "{path}": {_MISSING}')
    if kind == "remove":
        path = _op_string(op, "path", "remove operation", wrap_decode=False)
        found = _find_container(doc, path)
        if found is None:
            raise _OpError(f'remove operation does not apply: doc is missing path: "{path}": '
                           f"{_MISSING}")
        _check_removable(found, f"error in remove for path: '{path}'")
        return _apply_with_library(doc, {"op": "remove", "path": _normalised(found, path)})
    if kind == "replace":
        path = _op_string(op, "path", "replace operation", wrap_decode=True)
        found = _find_container(doc, path)
        if found is None:
            raise _OpError(f"replace operation does not apply: doc is missing path: {path}: "
                           f"{_MISSING}")
        con, key = found
        value = op.get("value")
        if isinstance(con, dict):
            # json-patch v4 quirk kept by kube-apiserver: replacing a missing member adds it.
            return _apply_with_library(doc, {"op": "add", "path": path, "value": value})
        idx = _atoi(key)
        if idx is None or idx >= len(con) or idx < 0:
            raise _OpError(f"replace operation does not apply: doc is missing key: {path}: "
                           f"{_MISSING}")
        return _apply_with_library(doc, {"op": "replace", "path": path, "value": value})
    if kind == "move":
        return _do_move(doc, op)
    if kind == "copy":
        return _do_copy(doc, op)
    if kind == "test":
        _do_test(doc, op)
        return doc
    raise _OpError(f"Unexpected kind: {kind}")


def _normalised(found: tuple[Any, str], path: str) -> str:
    """The same location with a negative array index turned positive (the library needs that)."""
    con, key = found
    if isinstance(con, list):
        idx = _atoi(key)
        if idx is not None and idx < 0:
            return f"{_parent_pointer(path)}/{idx + len(con)}"
    return path


def _check_removable(found: tuple[Any, str], where: str) -> None:
    con, key = found
    if isinstance(con, dict):
        if key not in con:
            raise _OpError(f"{where}: Unable to remove nonexistent key: {key}: {_MISSING}")
        return
    idx = _atoi(key)
    if idx is None:
        raise _OpError(f"{where}: {_atoi_error(key)}")
    if idx >= len(con) or idx < -len(con):
        raise _OpError(f"{where}: Unable to access invalid index: {idx}: {_BAD_INDEX}")


def _do_add(doc: Any, path: str, value: Any, where: str, missing: str) -> Any:
    found = _find_container(doc, path)
    if found is None:
        raise _OpError(missing)
    con, key = found
    if isinstance(con, list):
        if key == "-":
            return _apply_with_library(doc, {"op": "add", "path": path, "value": value})
        idx = _atoi(key)
        if idx is None:
            raise _OpError(f"{where}: value was not a proper array index: '{key}': "
                           f"{_atoi_error(key)}")
        size = len(con) + 1
        if idx >= size or idx < -size:
            raise _OpError(f"{where}: Unable to access invalid index: {idx}: {_BAD_INDEX}")
        if idx < 0:
            idx += size
        target = f"{_parent_pointer(path)}/{'-' if idx == len(con) else idx}"
        return _apply_with_library(doc, {"op": "add", "path": target, "value": value})
    return _apply_with_library(doc, {"op": "add", "path": path, "value": value})


def _get(found: tuple[Any, str], where: str) -> Any:
    con, key = found
    if isinstance(con, dict):
        return con.get(key)
    idx = _atoi(key)
    if idx is None:
        raise _OpError(f"{where}: {_atoi_error(key)}")
    if idx >= len(con):
        raise _OpError(f"{where}: Unable to access invalid index: {idx}: {_BAD_INDEX}")
    return con[idx]


def _do_move(doc: Any, op: Mapping[str, Any]) -> Any:
    source = _op_string(op, "from", "move operation", wrap_decode=True)
    found = _find_container(doc, source)
    if found is None:
        raise _OpError(f"move operation does not apply: doc is missing from path: {source}: "
                       f"{_MISSING}")
    key = found[1]
    value = _get(found, f"error in move for path: '{key}'")
    _check_removable(found, f"error in move for path: '{key}'")
    doc = _apply_with_library(doc, {"op": "remove", "path": _normalised(found, source)})
    path = _op_string(op, "path", "move operation", wrap_decode=True)
    return _do_add(doc, path, value, f"error in move for path: '{path}'",
                   f"move operation does not apply: doc is missing destination path: {path}: "
                   f"{_MISSING}")


def _do_copy(doc: Any, op: Mapping[str, Any]) -> Any:
    source = _op_string(op, "from", "copy operation", wrap_decode=True)
    found = _find_container(doc, source)
    if found is None:
        raise _OpError(f"copy operation does not apply: doc is missing from path: {source}: "
                       f"{_MISSING}")
    value = _copy(_get(found, f"error in copy for from: '{source}'"))
    path = _op_string(op, "path", "copy operation", wrap_decode=False)
    return _do_add(doc, path, value, "error while adding value during copy",
                   f"copy operation does not apply: doc is missing destination path: {path}: "
                   f"{_MISSING}")


def _do_test(doc: Any, op: Mapping[str, Any]) -> None:
    path = _op_string(op, "path", "test operation", wrap_decode=True)
    found = _find_container(doc, path)
    if found is None:
        raise _OpError(f"test operation does not apply: is missing path: {path}: {_MISSING}")
    current = _get(found, f"error in test for path: '{path}'")
    if current is None:
        if "value" in op and op["value"] is None:
            return
        raise _OpError(f"testing value {path} failed: test failed")
    if "value" not in op or not _json_equal(current, op["value"]):
        raise _OpError(f"testing value {path} failed: test failed")


def _json_equal(a: Any, b: Any) -> bool:
    # JSON equality without Python's 1 == 1.0 == True conflation.
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


# ---------------------------------------------------------------------------- merge patch


def merge_patch(obj: JSONDict, patch: Any) -> JSONDict:
    """Apply an RFC 7386 JSON merge patch (``application/merge-patch+json``).

    ``null`` deletes a member, objects merge recursively, everything else (lists included)
    replaces. Nulls inside values that are added or that replace a non-object are pruned, as
    evanphx/json-patch's ``MergePatch`` does.

    Raises:
        PatchError: 400 ``Invalid JSON Patch`` when the patch is not an object; 422 when it is a
            list (the server then fails to decode the result).
    """
    if isinstance(patch, list):
        raise PatchError(" \"\" is invalid: patch: Invalid value: "
                         f"{json.dumps(_prune_nulls(patch), separators=(',', ':'))!r}: couldn't "
                         "get version/kind; json parse error: json: cannot unmarshal array into "
                         "Go value of type struct { APIVersion string \"json:\\\"apiVersion,"
                         "omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }", 422,
                         causes=[Cause(field="patch", reason="FieldValueInvalid",
                                       message="couldn't get version/kind")])
    if not isinstance(patch, dict):
        raise PatchError("Invalid JSON Patch", 400)
    result = _copy(obj)
    _merge_docs(result, patch)
    return result


def _merge_docs(doc: JSONDict, patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            doc.pop(key, None)
            continue
        current = doc.get(key)
        if current is None:
            doc[key] = _prune_nulls(_copy(value))
        elif isinstance(current, dict) and isinstance(value, dict):
            _merge_docs(current, value)
        elif isinstance(current, dict):
            doc[key] = _copy(value)
        else:
            doc[key] = _prune_nulls(_copy(value))


def _prune_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        for key in [k for k, v in value.items() if v is None]:
            del value[key]
        for v in value.values():
            _prune_nulls(v)
    elif isinstance(value, list):
        for v in value:
            if v is not None:
                _prune_nulls(v)
    return value


# ---------------------------------------------------------------------------- type tables


@dataclass(frozen=True)
class _Field:
    """``patchStrategy``/``patchMergeKey`` of one Go struct field and the struct it holds."""

    strategy: str = ""  # "", "merge", "replace", "retainKeys", "merge,retainKeys"
    key: str = ""
    struct: str | None = None
    gomap: bool = False  # a Go map (labels …): update entries mark "." on it
    atomic: bool = False  # +structType=atomic / +mapType=atomic: owned as one field

    @property
    def merge(self) -> bool:
        return "merge" in self.strategy.split(",")


def _s(name: str) -> _Field:
    return _Field(struct=name)


def _m(key: str = "", struct: str | None = None, retain: bool = False) -> _Field:
    return _Field(strategy="merge,retainKeys" if retain else "merge", key=key, struct=struct)


_MAP = _Field(gomap=True)
_ATOMIC = _Field(atomic=True)
_CONDITIONS = _m("type")

#: Go struct name -> JSON field -> patch metadata. Only fields that carry tags, or lead to
#: fields that do, are listed; any other field merges like an untagged field (objects merge,
#: lists replace). From k8s.io/api core/v1, apps/v1, admissionregistration/v1 types.go.
_STRUCTS: dict[str, dict[str, _Field]] = {
    "ObjectMeta": {"finalizers": _m(), "ownerReferences": _m("uid"), "labels": _MAP,
                   "annotations": _MAP},
    "LabelSelector": {"matchLabels": _MAP},
    "PodTemplateSpec": {"metadata": _s("ObjectMeta"), "spec": _s("PodSpec")},
    "PodSpec": {
        "volumes": _m("name", "Volume", retain=True),
        "initContainers": _m("name", "Container"),
        "containers": _m("name", "Container"),
        "ephemeralContainers": _m("name", "Container"),
        "imagePullSecrets": _m("name"),
        "hostAliases": _m("ip"),
        "topologySpreadConstraints": _m("topologyKey"),
        "schedulingGates": _m("name"),
        "resourceClaims": _m("name", retain=True),
        "nodeSelector": _MAP,
        "overhead": _MAP,
    },
    "Volume": {},
    "Container": {
        "ports": _m("containerPort"),
        "env": _m("name"),
        "volumeMounts": _m("mountPath"),
        "volumeDevices": _m("devicePath"),
    },
    "PodStatus": {"conditions": _CONDITIONS, "podIPs": _m("ip"), "hostIPs": _m("ip"),
                  "resourceClaimStatuses": _m("name", retain=True)},
    "ServiceSpec": {"ports": _m("port"), "selector": _ATOMIC},
    "ServiceStatus": {"conditions": _CONDITIONS},
    "NodeSpec": {"podCIDRs": _m()},
    "NodeStatus": {"conditions": _CONDITIONS, "addresses": _m("type"), "capacity": _MAP,
                   "allocatable": _MAP},
    "NamespaceStatus": {"conditions": _CONDITIONS},
    "DeploymentSpec": {"template": _s("PodTemplateSpec"), "selector": _s("LabelSelector"),
                       "strategy": _Field(strategy="retainKeys")},
    "ReplicaSetSpec": {"template": _s("PodTemplateSpec"), "selector": _s("LabelSelector")},
    "AppsStatus": {"conditions": _CONDITIONS},
    "ResourceQuotaSpec": {"hard": _MAP},
    "ResourceQuotaStatus": {"hard": _MAP, "used": _MAP},
    "Webhook": {"namespaceSelector": _s("LabelSelector"), "objectSelector": _s("LabelSelector")},
}


def _root(**fields: _Field) -> dict[str, _Field]:
    return {"metadata": _s("ObjectMeta"), **fields}


#: kind key -> fields of its top-level Go struct
_ROOTS: dict[str, dict[str, _Field]] = {
    "namespaces": _root(status=_s("NamespaceStatus")),
    "nodes": _root(spec=_s("NodeSpec"), status=_s("NodeStatus")),
    "pods": _root(spec=_s("PodSpec"), status=_s("PodStatus")),
    "services": _root(spec=_s("ServiceSpec"), status=_s("ServiceStatus")),
    "endpoints": _root(),
    "events": _root(involvedObject=_ATOMIC, related=_ATOMIC),  # ObjectReference is atomic
    "serviceaccounts": _root(secrets=_m("name")),
    "configmaps": _root(data=_MAP, binaryData=_MAP),
    "secrets": _root(data=_MAP, stringData=_MAP),
    "deployments.apps": _root(spec=_s("DeploymentSpec"), status=_s("AppsStatus")),
    "replicasets.apps": _root(spec=_s("ReplicaSetSpec"), status=_s("AppsStatus")),
    "events.events.k8s.io": _root(),
    "mutatingwebhookconfigurations.admissionregistration.k8s.io":
        _root(webhooks=_m("name", "Webhook")),
    "validatingwebhookconfigurations.admissionregistration.k8s.io":
        _root(webhooks=_m("name", "Webhook")),
    "customresourcedefinitions.apiextensions.k8s.io": _root(),
    # no patchStrategy tags below metadata: maps merge, lists are replaced
    "resourcequotas": _root(spec=_s("ResourceQuotaSpec"), status=_s("ResourceQuotaStatus")),
    "limitranges": _root(),
    "endpointslices.discovery.k8s.io": _root(),
}
_ROOT_STRUCTS = {key: f"<root {key}>" for key in _ROOTS}
for _key, _fields in _ROOTS.items():
    _STRUCTS[_ROOT_STRUCTS[_key]] = _fields

_BUILTIN_KEYS = {k.key for k in BUILTIN_KINDS}
_UNTYPED = _Field()


def is_builtin(kind_key: str) -> bool:
    """Whether the kind has Go types (and so strategic merge patch support)."""
    return kind_key in _BUILTIN_KEYS


def _lookup(struct: str | None, key: str) -> _Field:
    if struct is None:
        return _UNTYPED
    return _STRUCTS[struct].get(key, _UNTYPED)


# ---------------------------------------------------------------------------- strategic merge

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_DELETE_PRIMITIVES = "$deleteFromPrimitiveList"
_SET_ORDER = "$setElementOrder"


class _SMPError(Exception):
    """A strategicpatch error; ``status`` is what the apiserver maps it to."""

    def __init__(self, message: str, status: int = 500) -> None:
        self.status = status
        super().__init__(message)


_BAD_PRIMITIVE_LIST = "invalid patch format of primitive list"
_BAD_RETAIN_KEYS = "invalid patch format of retainKeys"
_BAD_SET_ORDER = "invalid patch format of setElementOrder list"


def strategic_merge_patch(obj: JSONDict, patch: Any, kind_key: str) -> JSONDict:
    """Apply a strategic merge patch the way kube-apiserver does for a built-in kind.

    Args:
        obj: the current object (not modified).
        patch: the decoded patch body (an object).
        kind_key: ``runbook.kinds`` key of the object's kind; selects the merge keys.

    Returns:
        The patched object.

    Raises:
        PatchError: 415 for custom resources (they do not support strategic merge patch), 400 for
            a body that is not an object or a malformed directive, 422 for lists of lists, 500 for
            the other strategicpatch errors (e.g. a list element without its merge key).
    """
    if not is_builtin(kind_key):
        raise PatchError("the body of the request was in an unknown format - accepted media types "
                         "include: " + ", ".join(CUSTOM_RESOURCE_PATCH_TYPES), 415)
    if patch is None:
        return _copy(obj)
    if not isinstance(patch, dict):
        raise PatchError(f"json: cannot unmarshal {_go_json_kind(patch)} into Go value of type "
                         "map[string]interface {}", 400)
    try:
        return _merge_map(_copy(obj), _copy(patch), _ROOT_STRUCTS[kind_key])
    except _SMPError as exc:
        if exc.status == 422:
            raise _unprocessable(str(exc)) from None
        raise PatchError(str(exc), exc.status) from None


def _merge_map(original: JSONDict | None, patch: JSONDict, struct: str | None) -> JSONDict:
    if _DIRECTIVE in patch:
        directive = patch[_DIRECTIVE]
        if directive == "replace":
            del patch[_DIRECTIVE]
            return patch
        if directive == "delete":
            return {}
        raise _SMPError(f"unknown patch type: {go_value(directive)} in map: {go_value(patch)}")
    if original is None:
        original = {}
    _apply_retain_keys(original, patch)
    _merge_set_element_order(original, patch, struct)
    for key, value in list(patch.items()):
        target = key
        delete_list = False
        if key.startswith(_DELETE_PRIMITIVES):
            target = _extract_key(key, _DELETE_PRIMITIVES)
            delete_list = True
        if value is None:
            original.pop(target, None)
            continue
        if target not in original or _go_type(original[target]) != _go_type(value):
            # Newer apimachinery (and kubectl 1.32) clean what they take over verbatim: nulls
            # are discarded and directive-carrying elements dropped.
            if not delete_list:
                keep, cleaned = _remove_directives(_discard_nulls(value))
                if keep:
                    original[target] = cleaned
                else:
                    original.pop(target, None)
            continue
        current = original[target]
        meta = _lookup(struct, target)
        if isinstance(current, dict):
            original[target] = value if meta.strategy == "replace" else _merge_map(
                current, value, meta.struct)
        elif isinstance(current, list):
            original[target] = _merge_slice_handler(current, value, meta, delete_list)
        else:
            original[target] = value
    return original


def _discard_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        for key in [k for k, v in value.items() if v is None]:
            del value[key]
        for v in value.values():
            _discard_nulls(v)
    elif isinstance(value, list):
        for v in value:
            _discard_nulls(v)
    return value


def _remove_directives(value: Any) -> tuple[bool, Any]:
    """Drop ``$patch`` maps (and other ``$`` keys the typed decode would drop) from new values."""
    if isinstance(value, dict):
        if _DIRECTIVE in value:
            return False, None
        out = {}
        for key, child in value.items():
            if key.startswith("$"):
                continue
            keep, cleaned = _remove_directives(child)
            if keep:
                out[key] = cleaned
        return True, out
    if isinstance(value, list):
        return True, [c for k, c in (_remove_directives(v) for v in value) if k]
    return True, value


def _go_type(value: Any) -> str:
    # reflect.TypeOf of a decoded JSON value: int64 and float64 differ, nil has no type.
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "slice"
    return "map"


def _extract_key(key: str, prefix: str) -> str:
    head, slash, rest = key.partition("/")
    if not slash or head != prefix:
        raise _SMPError(_BAD_PRIMITIVE_LIST if prefix == _DELETE_PRIMITIVES else _BAD_SET_ORDER,
                        400)
    return rest


def _apply_retain_keys(original: JSONDict, patch: JSONDict) -> None:
    if _RETAIN_KEYS not in patch:
        return
    keep = patch.pop(_RETAIN_KEYS)
    if not isinstance(keep, list):
        raise _SMPError(_BAD_RETAIN_KEYS, 400)
    allowed = {k for k in keep if isinstance(k, str)}
    for key, value in patch.items():
        if value is None or key.startswith((_DELETE_PRIMITIVES, _SET_ORDER)):
            continue
        if key not in allowed:
            raise _SMPError(_BAD_RETAIN_KEYS, 400)
    for key in [k for k in original if k not in allowed]:
        del original[key]


def _merge_slice_handler(original: list[Any], patch: list[Any], meta: _Field,
                         delete_list: bool) -> list[Any]:
    if meta.merge:
        return _merge_slice(original, patch, meta, delete_list)
    return patch


def _element_kind(*lists: Sequence[Any]) -> str:
    """``sliceElementType``: every element must have the same Go type, and not be a list."""
    kind: str | None = None
    for items in lists:
        for item in items:
            current = _go_type(item)
            if kind is None:
                if current == "slice":
                    raise _SMPError("lists of lists are not supported", 422)
                kind = current
            elif kind != current:
                raise _SMPError("list element types are not identical: "
                                + go_value([list(x) for x in lists]))
    if kind is None:
        raise _SMPError("no elements in any of the given slices")
    return kind


def _merge_slice(original: list[Any], patch: list[Any], meta: _Field,
                 delete_list: bool) -> list[Any]:
    if not original and not patch:
        return original
    kind = _element_kind(original, patch)
    key = meta.key
    if kind != "map":
        if delete_list:
            remove = {_hashable(v) for v in patch}
            return [v for v in original if _hashable(v) not in remove]
        merged = _dedupe_scalars(original + patch)
        key = ""
    else:
        if not key:
            raise _SMPError("cannot merge lists without merge key for type struct")
        original, patch = _merge_special_elements(original, patch, key)
        merged = _merge_without_special(list(original), patch, key, meta.struct)
    if not key:
        in_patch = {_hashable(v) for v in patch}
        patch_items = [v for v in merged if _hashable(v) in in_patch]
        server_only = [v for v in merged if _hashable(v) not in in_patch]
    else:
        patch_items, server_only = _partition_maps(merged, patch, key)
    return _normalize_order(patch_items, server_only, patch, original, key, kind)


def _hashable(value: Any) -> Any:
    return (type(value).__name__, value) if not isinstance(value, (dict, list)) else id(value)


def _dedupe_scalars(items: list[Any]) -> list[Any]:
    # strategicpatch's "clever" in-place dedupe: a duplicate is overwritten by the last element,
    # which is why merged scalar lists can change order.
    s = list(items)
    length = len(s) - 1
    i = 0
    while i < length:
        j = i + 1
        while j <= length:
            if _hashable(s[i]) == _hashable(s[j]):
                s[j] = s[length]
                s = s[:length]
                length -= 1
                j -= 1
            j += 1
        i += 1
    return s


def _no_merge_key(item: Any, key: str) -> _SMPError:
    return _SMPError(f"map: {go_value(item)} does not contain declared merge key: {key}")


def _bad_arg_type(expected: str, actual: Any) -> _SMPError:
    names = {"map": "map[string]interface {}", "slice": "[]interface {}"}
    return _SMPError(f"expected a {names.get(expected, expected)}, but received a "
                     f"{_go_reflect_name(actual)}")


def _go_reflect_name(value: Any) -> str:
    return {"nil": "%!s(<nil>)", "bool": "bool", "int64": "int64", "float64": "float64",
            "string": "string", "slice": "[]interface {}",
            "map": "map[string]interface {}"}[_go_type(value)]


def _merge_special_elements(original: list[Any], patch: list[Any],
                            key: str) -> tuple[list[Any], list[Any]]:
    without: list[Any] = []
    replace = False
    for item in patch:
        directive = item.get(_DIRECTIVE, None) if _DIRECTIVE in item else None
        if _DIRECTIVE not in item:
            without.append(item)
        elif directive == "delete":
            if key not in item:
                raise _no_merge_key(item, key)
            original = [o for o in original
                        if not (isinstance(o, dict) and key in o and o[key] == item[key])]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise _SMPError("merging lists cannot yet be specified in the patch")
        else:
            raise _SMPError(f"unknown patch type: {go_value(directive)} in map: {go_value(item)}")
    if replace:
        return without, []
    return original, without


def _find_by_key(items: list[Any], key: str, value: Any) -> int:
    for idx, item in enumerate(items):
        if not isinstance(item, dict):
            raise _SMPError(f"value for key {idx} is not a map.")
        if key in item and _go_type(item[key]) == _go_type(value) and item[key] == value:
            return idx
    return -1


def _merge_without_special(original: list[Any], patch: list[Any], key: str,
                           struct: str | None) -> list[Any]:
    for item in patch:
        if key not in item:
            raise _no_merge_key(item, key)
        idx = _find_by_key(original, key, item[key])
        if idx >= 0:
            original[idx] = _merge_map(original[idx], item, struct)
        else:
            original.append(item)
    return original


def _partition_maps(merged: list[Any], by: list[Any], key: str) -> tuple[list[Any], list[Any]]:
    inside: list[Any] = []
    outside: list[Any] = []
    for item in merged:
        if not isinstance(item, dict):
            raise _bad_arg_type("map", item)
        if key not in item:
            raise _no_merge_key(item, key)
        (inside if _find_by_key(by, key, item[key]) >= 0 else outside).append(item)
    return inside, outside


def _index(items: Sequence[Any], value: Any, key: str, kind: str) -> int:
    if kind == "map":
        wanted = value.get(key) if isinstance(value, dict) else None
        for idx, item in enumerate(items):
            have = item.get(key) if isinstance(item, dict) else None
            if _go_type(have) == _go_type(wanted) and have == wanted:
                return idx
        return -1
    for idx, item in enumerate(items):
        if _hashable(item) == _hashable(value):
            return idx
    return -1


def _normalize_slice_order(items: list[Any], order: Sequence[Any], key: str,
                           kind: str) -> list[Any]:
    deletes: list[Any] = []
    if kind == "map":
        for seq in (items, order):
            for item in seq:
                if not isinstance(item, dict):
                    raise _bad_arg_type("map", item)
                if key not in item:
                    raise _no_merge_key(item, key)
        deletes = [i for i in items if i.get(_DIRECTIVE) == "delete"]
        items = [i for i in items if i.get(_DIRECTIVE) != "delete"]
    # Every item is in `order` on the paths that reach here, so a stable sort by position is
    # exactly what sort.SliceStable does with strategicpatch's comparator.
    positions = [_index(order, item, key, kind) for item in items]
    ranked = sorted(range(len(items)), key=lambda i: positions[i] if positions[i] >= 0 else -1)
    return [items[i] for i in ranked] + deletes


def _normalize_order(patch_items: list[Any], server_only: list[Any], patch_order: Sequence[Any],
                     server_order: Sequence[Any], key: str, kind: str) -> list[Any]:
    patch_items = _normalize_slice_order(patch_items, patch_order, key, kind)
    server_only = _normalize_slice_order(server_only, server_order, key, kind)
    # mergeSortedSlice: walk both; a server-only item goes first only when both items are in the
    # live list and it came earlier there — so new items land before the remaining live ones.
    out: list[Any] = []
    i = j = 0
    while i < len(server_only) or j < len(patch_items):
        if i >= len(server_only):
            out.append(patch_items[j])
            j += 1
        elif j >= len(patch_items):
            out.append(server_only[i])
            i += 1
        else:
            li = _index(server_order, server_only[i], key, kind)
            ri = _index(server_order, patch_items[j], key, kind)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(server_only[i])
                i += 1
            else:
                out.append(patch_items[j])
                j += 1
    return out


def _merge_set_element_order(original: JSONDict, patch: JSONDict, struct: str | None) -> None:
    for directive_key in [k for k in patch if k.startswith(_SET_ORDER)]:
        order = patch.pop(directive_key)
        if not isinstance(order, list):
            raise _bad_arg_type("slice", order)
        target = _extract_key(directive_key, _SET_ORDER)
        found_original = target in original
        found_patch = target in patch
        original_list = original.get(target) if found_original else None
        patch_list = patch.get(target) if found_patch else None
        if found_original and not isinstance(original_list, list):
            raise _bad_arg_type("slice", original_list)
        if found_patch and not isinstance(patch_list, list):
            raise _bad_arg_type("slice", patch_list)
        meta = _lookup(struct, target)
        key = meta.key
        _validate_set_order(patch_list or [], order, key)
        if found_original and not found_patch:
            merged = cast(list[Any], original_list)
        elif found_patch and not found_original:
            merged = cast(list[Any], patch_list)
        elif found_original and found_patch:
            merged = _merge_slice_handler(cast(list[Any], original_list),
                                          cast(list[Any], patch_list), meta, False)
        else:
            continue
        if not key:
            wanted = {_hashable(v) for v in order}
            patch_items = [v for v in merged if _hashable(v) in wanted]
            server_only = [v for v in merged if _hashable(v) not in wanted]
        else:
            patch_items, server_only = _partition_maps(merged, order, key)
        kind = _element_kind(original_list or [], patch_list or [])
        original[target] = _normalize_order(patch_items, server_only, order,
                                            original_list or [], key, kind)
        patch.pop(target, None)


def _validate_set_order(patch_list: list[Any], order: list[Any], key: str) -> None:
    if not order or not patch_list:
        return
    if key:
        for item in patch_list:
            if not isinstance(item, dict):
                raise _bad_arg_type("map", item)
        items = [i for i in patch_list if i.get(_DIRECTIVE) != "delete"]
    else:
        items = patch_list
    p = s = 0
    while p < len(items) and s < len(order):
        if isinstance(items[p], dict) and _DIRECTIVE in items[p]:
            p += 1
            continue
        if key:
            left, right = items[p], order[s]
            if not isinstance(right, dict):
                raise _bad_arg_type("map", right)
            if key not in left:
                raise _no_merge_key(left, key)
            if key not in right:
                raise _no_merge_key(right, key)
            equal = _go_type(left[key]) == _go_type(right[key]) and left[key] == right[key]
        else:
            equal = _hashable(items[p]) == _hashable(order[s])
        if equal:
            p += 1
        s += 1
    if p < len(items) and s >= len(order):
        raise _SMPError(f"The order in patch list:\n{go_value(patch_list)}\n doesn't match "
                        f"{_SET_ORDER} list:\n{go_value(order)}\n")


# ---------------------------------------------------------------------------- managed fields

#: fields the field manager never tracks (fieldmanager's stripped fields)
_IGNORED_TOP = {"apiVersion", "kind"}
_IGNORED_META = {"name", "namespace", "creationTimestamp", "selfLink", "uid", "generation",
                 "managedFields", "resourceVersion", "deletionTimestamp",
                 "deletionGracePeriodSeconds"}

# A path is a tuple of elements: ("f", name) | ("k", key-json) | ("v", value-json) | ("i", n)
PathElement = tuple[str, str]
FieldPath = tuple[PathElement, ...]


@dataclass
class ApplyResult:
    """What a server-side apply produced.

    Attributes:
        object: the merged object, ``metadata.managedFields`` updated.
        managed_fields: the new ``metadata.managedFields`` list (also inside ``object``).
        removed: dotted paths of fields removed because the applier stopped applying them.
    """

    object: JSONDict
    managed_fields: list[JSONDict]
    removed: list[str] = field(default_factory=list)


def _status_ignored(kind_key: str) -> bool:
    for kind in BUILTIN_KINDS:
        if kind.key == kind_key:
            return "status" in kind.subresources
    return False


def _list_keys(meta: _Field) -> tuple[str, ...]:
    """The SSA list-map keys of an associative list (``protocol`` joins the port keys)."""
    if meta.key in ("containerPort", "port"):
        return (meta.key, "protocol")
    return (meta.key,) if meta.key else ()


def _key_defaults(key: str) -> Any:
    return "TCP" if key == "protocol" else None


def _key_element(item: Mapping[str, Any], keys: Sequence[str]) -> PathElement | None:
    values: dict[str, Any] = {}
    for k in keys:
        value = item.get(k, _key_defaults(k))
        if value is None:
            return None
        values[k] = value
    return ("k", json.dumps(dict(sorted(values.items())), separators=(",", ":"),
                            ensure_ascii=False))


_NODE = object()  # value recorded for a member that has children (a list element, a Go map)


def _field_set(value: Any, struct: str | None, prefix: FieldPath, out: dict[FieldPath, Any],
               *, mark_maps: bool) -> None:
    """Leaf paths (and list-element paths) of ``value`` as structured-merge-diff sees them,
    each with its value (``_NODE`` for members that have children)."""
    if not isinstance(value, dict) or not value:
        if prefix:
            out[prefix] = value
        return
    for name, child in value.items():
        path = (*prefix, ("f", name))
        meta = _lookup(struct, name)
        if mark_maps and meta.gomap and isinstance(child, dict):
            out[path] = _NODE
        if isinstance(child, list) and meta.merge and child:
            keys = _list_keys(meta)
            if mark_maps and keys:
                out[path] = _NODE  # an update owns an associative list it wrote as well
            for item in child:
                if keys and isinstance(item, dict):
                    element = _key_element(item, keys)
                    if element is None:
                        out[path] = child
                        break
                    item_path = (*path, element)
                    out[item_path] = _NODE
                    _field_set(item, meta.struct, item_path, out, mark_maps=mark_maps)
                elif not keys and not isinstance(item, (dict, list)):
                    out[(*path, ("v", json.dumps(item, ensure_ascii=False)))] = item
                else:
                    out[path] = child
                    break
        elif isinstance(child, dict) and (meta.atomic or meta.struct == "LabelSelector"):
            out[path] = child  # metav1.LabelSelector is +structType=atomic
        else:
            _field_set(child, meta.struct, path, out, mark_maps=mark_maps)


def _tracked_paths(obj: Mapping[str, Any], kind_key: str, *,
                   mark_maps: bool) -> dict[FieldPath, Any]:
    body = {k: v for k, v in obj.items() if k not in _IGNORED_TOP}
    if _status_ignored(kind_key):
        body.pop("status", None)
    meta = body.get("metadata")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k not in _IGNORED_META}
        if meta:
            body["metadata"] = meta
        else:
            body.pop("metadata")
    out: dict[FieldPath, Any] = {}
    _field_set(body, _ROOT_STRUCTS.get(kind_key), (), out, mark_maps=mark_maps)
    return out


def _leaves(paths: Iterable[FieldPath]) -> set[FieldPath]:
    """The paths that have no member below them."""
    members = set(paths)
    parents = {p[:i] for p in members for i in range(1, len(p))}
    return members - parents


def fields_to_json(paths: Iterable[FieldPath]) -> JSONDict:
    """Encode a field set as ``fieldsV1`` (``{"f:spec": {"f:replicas": {}}}``, ``.`` for members
    that also have children)."""
    tree: JSONDict = {}
    members: list[JSONDict] = []
    for path in paths:
        node = tree
        for kind, text in path:
            key = f"{kind}:{text}"
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            node = child
        members.append(node)
    for node in members:
        if node and "." not in node:
            node["."] = {}
    return _sorted_tree(tree)


def _sorted_tree(node: JSONDict) -> JSONDict:
    return {k: _sorted_tree(node[k]) for k in sorted(node, key=lambda k: (k != ".", k))}


def fields_from_json(tree: Mapping[str, Any]) -> set[FieldPath]:
    """Decode ``fieldsV1`` into a set of paths (the inverse of :func:`fields_to_json`)."""
    out: set[FieldPath] = set()

    def walk(node: Mapping[str, Any], prefix: FieldPath) -> None:
        for raw, child in node.items():
            if raw == ".":
                out.add(prefix)
                continue
            kind, _, text = raw.partition(":")
            path = (*prefix, (kind, text))
            if isinstance(child, Mapping) and child:
                walk(child, path)
            else:
                out.add(path)

    walk(tree, ())
    return out


def path_string(path: FieldPath) -> str:
    """structured-merge-diff's ``Path.String()``: ``.spec.containers[name="nginx"].image``."""
    parts: list[str] = []
    for kind, text in path:
        if kind == "f":
            parts.append("." + text)
        elif kind == "k":
            keys = json.loads(text)
            parts.append("[" + ",".join(f"{k}={_smd_value(v)}" for k, v in keys.items()) + "]")
        elif kind == "v":
            parts.append(f"[={_smd_value(json.loads(text))}]")
        else:
            parts.append(f"[{text}]")
    return "".join(parts)


def _smd_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return go_value(value)


def _resolve(obj: Any, path: FieldPath) -> tuple[bool, Any]:
    """The value at ``path`` (found, value); list elements are found by key or value."""
    cur = obj
    for kind, text in path:
        if kind == "f":
            if not isinstance(cur, dict) or text not in cur:
                return False, None
            cur = cur[text]
        elif kind == "k":
            keys = json.loads(text)
            if not isinstance(cur, list):
                return False, None
            for item in cur:
                if isinstance(item, dict) and all(
                        item.get(k, _key_defaults(k)) == v for k, v in keys.items()):
                    cur = item
                    break
            else:
                return False, None
        elif kind == "v":
            value = json.loads(text)
            if not isinstance(cur, list) or value not in cur:
                return False, None
            cur = value
        else:
            if not isinstance(cur, list) or int(text) >= len(cur):
                return False, None
            cur = cur[int(text)]
    return True, cur


def _remove_path(obj: Any, path: FieldPath) -> bool:
    if not path:
        return False
    found, parent = _resolve(obj, path[:-1])
    if not found:
        return False
    kind, text = path[-1]
    if kind == "f" and isinstance(parent, dict) and text in parent:
        del parent[text]
        return True
    if kind == "k" and isinstance(parent, list):
        keys = json.loads(text)
        for idx, item in enumerate(parent):
            if isinstance(item, dict) and all(item.get(k, _key_defaults(k)) == v
                                              for k, v in keys.items()):
                del parent[idx]
                return True
    if kind == "v" and isinstance(parent, list):
        value = json.loads(text)
        if value in parent:
            parent.remove(value)
            return True
    return False


def _prune_empty_parents(obj: JSONDict, path: FieldPath) -> None:
    # Removing the last applied label must not leave "labels: {}" behind.
    for cut in range(len(path) - 1, 0, -1):
        found, value = _resolve(obj, path[:cut])
        if found and value in ({}, []) and path[cut - 1][0] == "f":
            _remove_path(obj, path[:cut])
        else:
            break


def _ssa_merge(live: Any, applied: Any, struct: str | None) -> Any:
    """Merge an applied configuration into the live object with structured-merge semantics."""
    if not isinstance(live, dict) or not isinstance(applied, dict):
        return _copy(applied)
    out = dict(live)
    for name, value in applied.items():
        meta = _lookup(struct, name)
        current = out.get(name)
        if isinstance(value, list) and isinstance(current, list) and meta.merge:
            out[name] = _ssa_merge_list(current, value, meta)
        elif isinstance(value, dict) and isinstance(current, dict) and not (
                meta.atomic or meta.struct == "LabelSelector"):
            out[name] = _ssa_merge(current, value, meta.struct)
        else:
            out[name] = _copy(value)
    return out


def _ssa_merge_list(live: list[Any], applied: list[Any], meta: _Field) -> list[Any]:
    keys = _list_keys(meta)
    if not keys:
        merged = list(live)
        for item in applied:
            if item not in merged:
                merged.append(_copy(item))
        return merged
    out = [_copy(i) for i in live]
    for item in applied:
        element = _key_element(item, keys) if isinstance(item, dict) else None
        if element is None:
            return _copy(applied)
        for idx, existing in enumerate(out):
            if isinstance(existing, dict) and _key_element(existing, keys) == element:
                out[idx] = _ssa_merge(existing, item, meta.struct)
                break
        else:
            out.append(_copy(item))
    return out


def _manager_id(entry: Mapping[str, Any]) -> str:
    # fieldmanager.BuildManagerIdentifier: manager, operation, apiVersion (not for Apply),
    # subresource, encoded in ManagedFieldsEntry's field order.
    ident: dict[str, Any] = {"manager": entry.get("manager", "")}
    if entry.get("operation"):
        ident["operation"] = entry["operation"]
    if entry.get("operation") != "Apply" and entry.get("apiVersion"):
        ident["apiVersion"] = entry["apiVersion"]
    if entry.get("subresource"):
        ident["subresource"] = entry["subresource"]
    return json.dumps(ident, separators=(",", ":"))


def _print_manager(entry: Mapping[str, Any]) -> str:
    text = json.dumps(entry.get("manager", ""))
    if entry.get("subresource"):
        text += f" with subresource {json.dumps(entry['subresource'])}"
    if entry.get("operation") == "Update":
        return f"{text} using {entry.get('apiVersion', '')}"
    return text


def conflict_error(conflicts: Sequence[tuple[Mapping[str, Any], FieldPath]]) -> PatchError:
    """The 409 ``Apply failed with N conflict(s)`` error, worded like the field manager's."""
    causes = [Cause(field=path_string(p), reason="FieldManagerConflict",
                    message=f"conflict with {_print_manager(m)}") for m, p in conflicts]
    if len(conflicts) == 1:
        manager, path = conflicts[0]
        message = (f"Apply failed with 1 conflict: conflict with {_print_manager(manager)}: "
                   f"{path_string(path)}")
    else:
        by_manager: dict[str, list[FieldPath]] = {}
        entries: dict[str, Mapping[str, Any]] = {}
        for manager, path in conflicts:
            ident = _manager_id(manager)
            by_manager.setdefault(ident, []).append(path)
            entries[ident] = manager
        lines: list[str] = []
        for ident in sorted(by_manager):
            lines.append(f"conflicts with {_print_manager(entries[ident])}:")
            lines.extend(f"- {path_string(p)}" for p in by_manager[ident])
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return PatchError(message, 409, reason="Conflict", causes=causes)


def _timestamp(now: datetime | None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry(manager: str, operation: str, api_version: str, paths: set[FieldPath],
           now: datetime | None, subresource: str = "") -> JSONDict:
    entry: JSONDict = {"manager": manager, "operation": operation, "apiVersion": api_version,
                       "time": _timestamp(now), "fieldsType": "FieldsV1",
                       "fieldsV1": fields_to_json(paths)}
    if subresource:
        entry["subresource"] = subresource
    return entry


def _owned(entries: Sequence[Mapping[str, Any]]) -> list[tuple[JSONDict, set[FieldPath]]]:
    out = []
    for entry in entries:
        if isinstance(entry, Mapping):
            tree = entry.get("fieldsV1") or {}
            out.append((dict(entry), fields_from_json(tree if isinstance(tree, Mapping) else {})))
    return out


def _covers(owned: set[FieldPath], path: FieldPath) -> bool:
    """Whether a manager owns ``path`` or anything below it."""
    if path in owned:
        return True
    n = len(path)
    return any(len(p) > n and p[:n] == path for p in owned)


def apply_patch(live: JSONDict | None, applied: JSONDict, manager: str, force: bool,
                kind_key: str, *, now: datetime | None = None,
                api_version: str | None = None) -> ApplyResult:
    """Server-side apply (``application/apply-patch+yaml``), simplified as the module says.

    Args:
        live: the stored object, or None when apply creates it.
        applied: the applied configuration (decoded YAML/JSON).
        manager: the ``fieldManager`` (required by the real server for apply).
        force: ``force=true``: take conflicting fields over instead of failing.
        kind_key: ``runbook.kinds`` key; selects list semantics.
        now: time stamped on the entry (defaults to the wall clock).
        api_version: apiVersion recorded in the entry (defaults to ``applied["apiVersion"]``).

    Returns:
        The merged object and its managed fields.

    Raises:
        PatchError: 409 ``Conflict`` with one cause per conflicting field; 400/422 for an applied
            configuration that is not an object.
    """
    if not isinstance(applied, dict):
        raise PatchError(f"error decoding YAML: json: cannot unmarshal {_go_json_kind(applied)} "
                         "into Go value of type map[string]interface {}", 400)
    if not manager:
        raise PatchError("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: "
                         "is required for apply requests", 422,
                         causes=[Cause("fieldManager", "FieldValueRequired",
                                       "Required value: is required for apply requests")])
    api_version = api_version or str(applied.get("apiVersion", ""))
    live = _copy(live) if live else {}
    entries = _owned((live.get("metadata") or {}).get("managedFields") or [])
    mine_before: set[FieldPath] = set()
    others: list[tuple[JSONDict, set[FieldPath]]] = []
    for entry, paths in entries:
        if entry.get("manager") == manager and entry.get("operation") == "Apply" and \
                not entry.get("subresource"):
            mine_before |= paths
        else:
            others.append((entry, paths))
    applied_values = _tracked_paths(applied, kind_key, mark_maps=False)
    mine_now = set(applied_values)

    conflicts: list[tuple[Mapping[str, Any], FieldPath]] = []
    for path in sorted(_leaves(mine_now)):
        if not any(path in paths for _, paths in others):
            continue
        found_live, live_value = _resolve(live, path)
        if not found_live or _json_equal(live_value, applied_values[path]):
            continue
        for entry, paths in others:
            if path in paths:
                conflicts.append((entry, path))
    if conflicts and not force:
        raise conflict_error(conflicts)
    if force:
        for _, paths in others:
            for _, path in conflicts:
                paths.discard(path)

    result = _ssa_merge(live, {k: v for k, v in applied.items() if k != "status"}
                        if _status_ignored(kind_key) else applied, _ROOT_STRUCTS.get(kind_key))
    removed: list[str] = []
    for path in sorted(mine_before - mine_now, key=len, reverse=True):
        if any(_covers(paths, path) for _, paths in others) or _covers(mine_now, path):
            continue
        if _remove_path(result, path):
            removed.append(path_string(path))
            _prune_empty_parents(result, path)

    managed = [e for e, p in ((_with_fields(e, p)) for e, p in others) if p]
    managed.append(_entry(manager, "Apply", api_version, mine_now, now))
    result.setdefault("metadata", {})["managedFields"] = managed
    return ApplyResult(object=result, managed_fields=managed, removed=sorted(removed))


def _with_fields(entry: JSONDict, paths: set[FieldPath]) -> tuple[JSONDict, set[FieldPath]]:
    updated = dict(entry)
    updated["fieldsV1"] = fields_to_json(paths)
    return updated, paths


def track_update(old: JSONDict | None, new: JSONDict, manager: str, kind_key: str, *,
                 now: datetime | None = None, api_version: str | None = None,
                 subresource: str = "") -> list[JSONDict]:
    """The ``managedFields`` an update (PUT, JSON/merge/strategic patch, create) leaves behind.

    The manager (``fieldManager``, else the server's user-agent-derived name such as
    ``kubectl-client-side-apply``) takes ownership of every field it changed or added; fields it
    removed leave every manager's set. Returns the new list; the caller stores it in
    ``new["metadata"]["managedFields"]``.
    """
    api_version = api_version or str(new.get("apiVersion", ""))
    old = old or {}
    before = _tracked_paths(old, kind_key, mark_maps=True)
    after = _tracked_paths(new, kind_key, mark_maps=True)
    changed = {p for p, v in after.items()
               if p not in before or not (v is _NODE or _json_equal(before[p], v))}
    removed = set(before) - set(after)
    changed_leaves = changed & _leaves(after)
    entries = _owned((new.get("metadata") or {}).get("managedFields")
                     or (old.get("metadata") or {}).get("managedFields") or [])
    ident = _manager_id({"manager": manager, "operation": "Update", "apiVersion": api_version,
                         "subresource": subresource})
    mine: set[FieldPath] = set()
    kept: list[JSONDict] = []
    for entry, paths in entries:
        paths -= removed
        if _manager_id(entry) == ident:
            mine |= paths
            continue
        paths -= changed_leaves
        if paths:
            kept.append(_with_fields(entry, paths)[0])
    mine |= changed
    if mine:
        kept.append(_entry(manager, "Update", api_version, mine, now, subresource))
    return kept


__all__ = [
    "CUSTOM_RESOURCE_PATCH_TYPES",
    "ApplyResult",
    "PatchError",
    "apply_patch",
    "conflict_error",
    "fields_from_json",
    "fields_to_json",
    "go_value",
    "is_builtin",
    "json_patch",
    "merge_patch",
    "path_string",
    "strategic_merge_patch",
    "track_update",
]
