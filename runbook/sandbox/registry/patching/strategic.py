"""Strategic merge patch: ``k8s.io/apimachinery/pkg/util/strategicpatch``'s ``mergeMap``/``mergeSlice``.

The directives ``$patch``, ``$retainKeys``, ``$deleteFromPrimitiveList/`` and ``$setElementOrder/``
with the real element-order rules; merge keys and strategies come from :mod:`.gotypes`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from runbook.sandbox.registry.patching.common import (
    CUSTOM_RESOURCE_PATCH_TYPES,
    JSONDict,
    PatchError,
    _unprocessable,
    copy_json,
    prune_nulls,
)
from runbook.sandbox.registry.patching.goformat import go_json_kind, go_value
from runbook.sandbox.registry.patching.gotypes import ROOT_STRUCTS, Field, is_builtin, lookup_field

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
        return copy_json(obj)
    if not isinstance(patch, dict):
        raise PatchError(f"json: cannot unmarshal {go_json_kind(patch)} into Go value of type "
                         "map[string]interface {}", 400)
    try:
        return _merge_map(copy_json(obj), copy_json(patch), ROOT_STRUCTS[kind_key])
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
                keep, cleaned = _remove_directives(prune_nulls(value))
                if keep:
                    original[target] = cleaned
                else:
                    original.pop(target, None)
            continue
        current = original[target]
        meta = lookup_field(struct, target)
        if isinstance(current, dict):
            original[target] = value if meta.strategy == "replace" else _merge_map(
                current, value, meta.struct)
        elif isinstance(current, list):
            original[target] = _merge_slice_handler(current, value, meta, delete_list)
        else:
            original[target] = value
    return original


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


def _merge_slice_handler(original: list[Any], patch: list[Any], meta: Field,
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


def _merge_slice(original: list[Any], patch: list[Any], meta: Field,
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
    patch_items, server_only = _partition(merged, patch, key)
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


def _partition(merged: list[Any], by: list[Any], key: str) -> tuple[list[Any], list[Any]]:
    """The items of ``merged`` that ``by`` names (by merge key, or by value for scalar lists
    without one), and the others, in order: the two runs the element-order rules sort apart."""
    if not key:
        wanted = {_hashable(v) for v in by}
        return ([v for v in merged if _hashable(v) in wanted],
                [v for v in merged if _hashable(v) not in wanted])
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
        meta = lookup_field(struct, target)
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
        patch_items, server_only = _partition(merged, order, key)
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
