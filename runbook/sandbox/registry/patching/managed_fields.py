"""Server-side apply and managedFields: field sets, ``fieldsV1``, conflicts, ``Update`` entries.

The simplifications are listed in :mod:`runbook.sandbox.registry.patching`'s docstring."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from runbook.errors import Cause
from runbook.kinds import BUILTIN_KINDS
from runbook.sandbox.registry.patching.common import (
    CUSTOM_RESOURCE_PATCH_TYPES,
    JSONDict,
    PatchError,
    copy_json,
)
from runbook.sandbox.registry.patching.goformat import go_json_kind, go_value
from runbook.sandbox.registry.patching.gotypes import ROOT_STRUCTS, Field, is_builtin, lookup_field
from runbook.sandbox.registry.patching.json_patch import json_equal, json_patch
from runbook.sandbox.registry.patching.merge_patch import merge_patch
from runbook.sandbox.registry.patching.strategic import strategic_merge_patch

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


def _list_keys(meta: Field) -> tuple[str, ...]:
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
        meta = lookup_field(struct, name)
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
    _field_set(body, ROOT_STRUCTS.get(kind_key), (), out, mark_maps=mark_maps)
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
        return copy_json(applied)
    out = dict(live)
    for name, value in applied.items():
        meta = lookup_field(struct, name)
        current = out.get(name)
        if isinstance(value, list) and isinstance(current, list) and meta.merge:
            out[name] = _ssa_merge_list(current, value, meta)
        elif isinstance(value, dict) and isinstance(current, dict) and not (
                meta.atomic or meta.struct == "LabelSelector"):
            out[name] = _ssa_merge(current, value, meta.struct)
        else:
            out[name] = copy_json(value)
    return out


def _ssa_merge_list(live: list[Any], applied: list[Any], meta: Field) -> list[Any]:
    keys = _list_keys(meta)
    if not keys:
        merged = list(live)
        for item in applied:
            if item not in merged:
                merged.append(copy_json(item))
        return merged
    out = [copy_json(i) for i in live]
    for item in applied:
        element = _key_element(item, keys) if isinstance(item, dict) else None
        if element is None:
            return copy_json(applied)
        for idx, existing in enumerate(out):
            if isinstance(existing, dict) and _key_element(existing, keys) == element:
                out[idx] = _ssa_merge(existing, item, meta.struct)
                break
        else:
            out.append(copy_json(item))
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
        raise PatchError(f"error decoding YAML: json: cannot unmarshal {go_json_kind(applied)} "
                         "into Go value of type map[string]interface {}", 400)
    if not manager:
        raise PatchError("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: "
                         "is required for apply requests", 422,
                         causes=[Cause("fieldManager", "FieldValueRequired",
                                       "Required value: is required for apply requests")])
    api_version = api_version or str(applied.get("apiVersion", ""))
    live = copy_json(live) if live else {}
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
        if not found_live or json_equal(live_value, applied_values[path]):
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
                        if _status_ignored(kind_key) else applied, ROOT_STRUCTS.get(kind_key))
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
               if p not in before or not (v is _NODE or json_equal(before[p], v))}
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
