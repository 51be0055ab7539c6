"""JSON patch (RFC 6902) with ``gopkg.in/evanphx/json-patch.v4``'s semantics and messages, quirks included."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

import jsonpatch

from runbook.sandbox.registry.patching.common import (
    MAX_JSON_PATCH_OPERATIONS,
    JSONDict,
    PatchError,
    _unprocessable,
    copy_json,
)
from runbook.sandbox.registry.patching.goformat import go_json_kind


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
        return copy_json(obj)
    if not isinstance(operations, list):
        raise PatchError(f"json: cannot unmarshal {go_json_kind(operations)} into Go value of type "
                         "jsonpatch.Patch", 400)
    for op in operations:
        if op is not None and not isinstance(op, dict):
            raise PatchError(f"json: cannot unmarshal {go_json_kind(op)} into Go value of type "
                             "jsonpatch.Operation", 400)
    if len(operations) > MAX_JSON_PATCH_OPERATIONS:
        raise PatchError(f"The allowed maximum operations in a JSON patch is "
                         f"{MAX_JSON_PATCH_OPERATIONS}, got {len(operations)}", 413)
    doc: Any = copy_json(obj)
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
                       f"{go_json_kind(value)} into Go value of type string")
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
    value = copy_json(_get(found, f"error in copy for from: '{source}'"))
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
    if "value" not in op or not json_equal(current, op["value"]):
        raise _OpError(f"testing value {path} failed: test failed")


def json_equal(a: Any, b: Any) -> bool:
    # JSON equality without Python's 1 == 1.0 == True conflation.
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b
