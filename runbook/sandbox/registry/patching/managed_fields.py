"""managedFields: which field manager owns which field, as kube-apiserver's field manager records it.

Every write records its manager in ``metadata.managedFields``: an ``Update`` entry (create, PUT,
JSON/merge/strategic patch, a subresource write) owns what the write changed or added; an
``Apply`` entry (server-side apply) owns what the applied configuration holds, and a field
another manager owns with a different value is a 409 conflict. Sources read to match it:

* ``sigs.k8s.io/structured-merge-diff`` (``typed.Compare``, ``merge.Updater``, ``fieldpath``
  ``Set.ToJSON``) — an update owns the leaves it changed plus every map or list it added (those
  get a ``.`` entry when they have members too); what it removed leaves every manager; a conflict
  is a field another manager owns whose value the apply changes or adds.
* ``k8s.io/apiserver/pkg/endpoints/handlers`` (``create.go``/``update.go``/``patch.go``) — the
  field manager runs on the decoded, scheme-defaulted object before admission and the registry:
  against the Go zero value of the kind on create (``scope.Creater.New``), so fields a zero value
  already has are nobody's, and without what the registry and admission fill in later (a
  Service's clusterIP, a Namespace's finalizer, a pod's default tolerations …).
* ``k8s.io/apimachinery/pkg/util/managedfields/internal`` — the entry shape, the ``fieldsV1``
  encoding (``f:``/``k:``/``v:``/``i:``), the stripped fields and the conflict message.

Checked field by field against kube-apiserver 1.37 (``python -m tests.differential --case api/``).
Knowing differences (LIMITS): field sets come from the JSON with the list semantics of the
strategic-merge type table (:mod:`.gotypes`); custom resources' lists are atomic; ``status``
is not tracked for kinds with a status subresource, and the emulated controllers, which write
status straight to the store, record no ``…/status`` manager.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from runbook.errors import Cause
from runbook.kinds import BUILTIN_KINDS
from runbook.sandbox.registry.patching.common import (
    JSONDict,
    PatchError,
    copy_json,
)
from runbook.sandbox.registry.patching.goformat import go_json_kind, go_value
from runbook.sandbox.registry.patching.gotypes import ROOT_STRUCTS, Field, lookup_field
from runbook.sandbox.registry.patching.json_patch import json_equal

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
               *, mark_nodes: bool) -> None:
    """Leaf paths (and list-element paths) of ``value`` as structured-merge-diff sees them,
    each with its value (``_NODE`` for members that have children). ``mark_nodes``: record
    every map and list that has members as well (an update owns the ones it adds)."""
    if not isinstance(value, dict) or not value:
        if prefix:
            out[prefix] = value
        return
    for name, child in value.items():
        path = (*prefix, ("f", name))
        meta = lookup_field(struct, name)
        atomic = meta.atomic or meta.struct == "LabelSelector"  # LabelSelector: structType=atomic
        if isinstance(child, list) and meta.merge and child:
            keys = _list_keys(meta)
            if mark_nodes:
                out[path] = _NODE
            for item in child:
                if keys and isinstance(item, dict):
                    element = _key_element(item, keys)
                    if element is None:
                        out[path] = child
                        break
                    item_path = (*path, element)
                    out[item_path] = _NODE
                    _field_set(item, meta.struct, item_path, out, mark_nodes=mark_nodes)
                elif not keys and not isinstance(item, (dict, list)):
                    out[(*path, ("v", json.dumps(item, ensure_ascii=False)))] = item
                else:
                    out[path] = child
                    break
        elif isinstance(child, dict) and atomic:
            out[path] = child
        else:
            if mark_nodes and isinstance(child, dict) and child:
                out[path] = _NODE
            _field_set(child, meta.struct, path, out, mark_nodes=mark_nodes)


def _tracked_paths(obj: Mapping[str, Any], kind_key: str, *,
                   mark_nodes: bool) -> dict[FieldPath, Any]:
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
    _field_set(body, ROOT_STRUCTS.get(kind_key), (), out, mark_nodes=mark_nodes)
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
    applied_values = _tracked_paths(applied, kind_key, mark_nodes=False)
    mine_now = set(applied_values)

    conflicts: list[tuple[Mapping[str, Any], FieldPath]] = []
    for path in sorted(_leaves(mine_now)):
        if not any(path in paths for _, paths in others):
            continue
        found_live, live_value = _resolve(live, path)
        if found_live and json_equal(live_value, applied_values[path]):
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


#: each kind's Go zero value as the field manager sees it (``scope.Creater.New`` converted to
#: unstructured): what a create is compared with. Only what a zero value holds matters: its
#: non-pointer structs (present, so a create does not add them) and non-omitempty fields.
_TEMPLATE_ZERO: JSONDict = {"metadata": {"creationTimestamp": None}, "spec": {"containers": None}}
_ZERO_VALUES: dict[str, JSONDict] = {
    "namespaces": {"spec": {}, "status": {}},
    "nodes": {"spec": {}, "status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
                                     "nodeInfo": {}}},
    "pods": {"spec": {"containers": None}, "status": {}},
    "services": {"spec": {}, "status": {"loadBalancer": {}}},
    "events": {"involvedObject": {}, "source": {}, "firstTimestamp": None, "lastTimestamp": None,
               "eventTime": None, "reportingComponent": "", "reportingInstance": ""},
    "events.events.k8s.io": {"eventTime": None, "regarding": {}, "deprecatedSource": {},
                             "deprecatedFirstTimestamp": None, "deprecatedLastTimestamp": None},
    "deployments.apps": {"spec": {"selector": None, "template": _TEMPLATE_ZERO, "strategy": {}},
                         "status": {}},
    "replicasets.apps": {"spec": {"selector": None, "template": _TEMPLATE_ZERO},
                         "status": {"replicas": 0}},
    "resourcequotas": {"spec": {}, "status": {}},
    "limitranges": {"spec": {"limits": None}},
    "endpointslices.discovery.k8s.io": {"addressType": "", "endpoints": None},
}

#: fields the registry or admission fills in after the field manager ran (the Service REST
#: allocators, the Namespace strategy's finalizer, the ServiceAccount, Priority and
#: DefaultTolerationSeconds admission plugins): nobody owns them unless the writer sent them.
#: ``*`` stands for every element of a list.
_SET_AFTER_FIELD_MANAGER: dict[str, tuple[tuple[str, ...], ...]] = {
    "services": (("spec", "clusterIP"), ("spec", "clusterIPs"), ("spec", "ipFamilies"),
                 ("spec", "ipFamilyPolicy"), ("spec", "healthCheckNodePort"),
                 ("spec", "ports", "*", "nodePort")),
    "namespaces": (("spec", "finalizers"),),
    "pods": (("spec", "tolerations"), ("spec", "serviceAccountName"), ("spec", "serviceAccount"),
             ("spec", "priority"), ("spec", "preemptionPolicy")),
}


def _drop_unsent(obj: Any, sent: Any, path: Sequence[str]) -> None:
    """Remove ``path`` from ``obj`` wherever ``sent`` (the same object as the writer sent it)
    does not hold it; list elements are matched by position (defaulting keeps the order)."""
    if not path or not isinstance(obj, (dict, list)):
        return
    head, rest = path[0], path[1:]
    if head == "*":
        if isinstance(obj, list):
            sent_items = sent if isinstance(sent, list) else []
            for i, item in enumerate(obj):
                _drop_unsent(item, sent_items[i] if i < len(sent_items) else None, rest)
        return
    if not isinstance(obj, dict) or head not in obj:
        return
    sent_value = sent.get(head) if isinstance(sent, dict) else None
    if not rest:
        if sent_value is None:
            del obj[head]
        return
    _drop_unsent(obj[head], sent_value, rest)


def field_manager_view(kind_key: str, obj: JSONDict, sent: JSONDict | None) -> JSONDict:
    """``obj`` as the field manager sees it: without the fields the registry and admission fill
    in after it ran that the writer (``sent``: the object before defaulting) did not send."""
    late = _SET_AFTER_FIELD_MANAGER.get(kind_key)
    if not late or sent is None:
        return obj
    view = copy_json(obj)
    for path in late:
        _drop_unsent(view, sent, path)
    return view


_METADATA: FieldPath = (("f", "metadata"),)


def _changed(before: Any, after: Any) -> bool:
    """Whether a member present before and after was changed: a map or list present in both is
    not (its members are compared one by one), not even when it is empty now."""
    if after is _NODE or (after == {} and before is _NODE):
        return False
    return before is _NODE or not json_equal(before, after)


def track_update(old: JSONDict | None, new: JSONDict, manager: str, kind_key: str, *,
                 now: datetime | None = None, api_version: str | None = None,
                 subresource: str = "", sent: JSONDict | None = None) -> list[JSONDict]:
    """The ``managedFields`` an update (PUT, JSON/merge/strategic patch, create) leaves behind.

    The manager (``fieldManager``, else the server's user-agent-derived name such as
    ``kubectl-client-side-apply``) takes ownership of every leaf it changed or added and of every
    map or list it added; what it removed leaves every manager's set. A create (``old`` None) is
    compared with the kind's Go zero value. ``sent``: the object before the registry's defaults
    (see :func:`field_manager_view`). Returns the new list; the caller stores it in
    ``new["metadata"]["managedFields"]``.
    """
    api_version = api_version or str(new.get("apiVersion", ""))
    before = _tracked_paths(old if old is not None else _ZERO_VALUES.get(kind_key, {}), kind_key,
                            mark_nodes=True)
    before.setdefault(_METADATA, _NODE)  # ObjectMeta is a struct: every object has one
    after = _tracked_paths(field_manager_view(kind_key, new, sent), kind_key, mark_nodes=True)
    changed = {p for p, v in after.items() if p not in before or _changed(before[p], v)}
    removed = set(before) - set(after)
    changed_leaves = changed & _leaves(after)
    entries = _owned((new.get("metadata") or {}).get("managedFields")
                     or ((old or {}).get("metadata") or {}).get("managedFields") or [])
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


def before_defaults(kind_key: str, obj: JSONDict) -> JSONDict | None:
    """What :func:`track_update` needs of an object before the registry defaults it (``sent``):
    a copy for the kinds whose registry or admission fill fields in after the field manager,
    None for the others (nothing to copy)."""
    return copy_json(obj) if kind_key in _SET_AFTER_FIELD_MANAGER else None


def record_update(new: JSONDict, old: JSONDict | None, manager: str | None, kind_key: str, *,
                  now: datetime, api_version: str | None = None, subresource: str = "",
                  sent: JSONDict | None = None) -> None:
    """Store in ``new`` the managedFields a write by ``manager`` leaves (:func:`track_update`).

    A write without a manager (the emulator's own in-process writers) keeps the stored ones.
    """
    meta = new["metadata"]
    stored = (old or {}).get("metadata", {}).get("managedFields")
    if manager is None:
        if stored is not None:
            meta["managedFields"] = stored
        return
    if stored is not None and "managedFields" not in meta:
        meta["managedFields"] = stored
    managed = track_update(old, new, manager, kind_key, now=now, api_version=api_version,
                           subresource=subresource, sent=sent)
    if managed:
        meta["managedFields"] = managed
    else:
        meta.pop("managedFields", None)


def sort_entries(obj: JSONDict) -> None:
    """The order the real field manager stores entries in (``sortEncodedManagedFields``):
    by operation (``Apply`` before ``Update``), then time, manager and apiVersion — so an apply
    that changes nothing does not reorder them and commit."""
    entries = obj["metadata"].get("managedFields")
    if isinstance(entries, list) and len(entries) > 1 and all(isinstance(e, dict) for e in entries):
        entries.sort(key=lambda e: (str(e.get("operation", "")), str(e.get("time") or ""),
                                    str(e.get("manager", "")), str(e.get("apiVersion", ""))))


#: metadata the server sets: not a change a write makes
_SERVER_OWNED_META = ("uid", "creationTimestamp", "resourceVersion", "generation", "managedFields")


def keep_times_of_a_no_op(new: JSONDict, old: JSONDict) -> JSONDict:
    """kube-apiserver's ``IgnoreManagedFieldsTimestampsTransformer`` (apiserver
    ``endpoints/handlers/fieldmanager``, run on every update): when nothing but the ``time`` of
    managedFields entries changed, the stored times are kept, so the write commits nothing and
    bumps no resourceVersion — a repeated server-side apply in a later second is ``unchanged``."""
    new_mf = (new.get("metadata") or {}).get("managedFields")
    old_mf = (old.get("metadata") or {}).get("managedFields")
    if not new_mf or not old_mf or new_mf == old_mf or len(new_mf) != len(old_mf):
        return new

    def untimed(entries: list[JSONDict]) -> list[JSONDict]:
        return [{k: v for k, v in e.items() if k != "time"} for e in entries]

    if untimed(new_mf) != untimed(old_mf):
        return new

    def rest(obj: JSONDict) -> JSONDict:
        return {**obj, "metadata": {k: v for k, v in obj["metadata"].items()
                                    if k not in _SERVER_OWNED_META}}

    if rest(new) != rest(old):
        return new
    return {**new, "metadata": {**new["metadata"], "managedFields": old_mf}}


__all__ = [
    "ApplyResult",
    "FieldPath",
    "apply_patch",
    "before_defaults",
    "conflict_error",
    "field_manager_view",
    "fields_from_json",
    "fields_to_json",
    "keep_times_of_a_no_op",
    "path_string",
    "record_update",
    "sort_entries",
    "track_update",
]
