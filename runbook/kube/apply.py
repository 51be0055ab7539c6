"""``kubectl apply`` done carefully: validate everything first, then server-side apply, idempotently.

:func:`apply_manifests` reads files, directories or URLs (:mod:`runbook.manifests`), maps each
object to its resource through the cluster's discovery (custom resources included), and:

1. **validates all objects first** with a server-side dry run (schema, admission, missing
   namespaces, unknown kinds) — if any fails, nothing is applied unless ``continue_on_error``;
2. applies them in dependency order (CRDs and Namespaces first) with **server-side apply** and a
   field manager, so a second apply of the same files changes nothing — which is also why a patch
   whose answer was lost (timeout, dropped connection) is sent once more: it cannot apply twice;
3. reports one row per object: ``created`` / ``configured`` / ``unchanged`` / ``failed`` /
   ``not-applied`` (or ``… (dry run)``), with the error as one line.

``namespace`` works like ``kubectl apply -n``: it fills in objects that have none and refuses
objects that name another one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from runbook.errors import ClusterError, InputError, Unreachable
from runbook.kinds import KindRegistry, ResourceKind
from runbook.kube.cluster import Cluster
from runbook.kube.discovery import discover_kinds
from runbook.kube.objects import comparable
from runbook.manifests import Manifest, load_manifests

FIELD_MANAGER = "mesh-runbook"
#: applied first, in this order (as kubectl and Helm do), so later objects find what they need
_FIRST = ("CustomResourceDefinition", "Namespace", "ServiceAccount", "ConfigMap", "Secret")

APPLY_COLUMNS = ["object", "kind", "namespace", "name", "action", "error", "source"]


@dataclass
class _Item:
    manifest: Manifest
    kind: ResourceKind | None
    namespace: str | None
    name: str
    error: str = ""


def apply_manifests(
    cluster: Cluster,
    source: str | Path | Iterable[str | Path] | list[Manifest],
    *,
    namespace: str | None = None,
    dry_run: bool = False,
    continue_on_error: bool = False,
    force_conflicts: bool = False,
    field_manager: str = FIELD_MANAGER,
) -> pd.DataFrame:
    """Apply manifests; return one row per object.

    Args:
        source: file(s), directory, URL, or already loaded manifests.
        namespace: like ``kubectl apply -n``.
        dry_run: validate and show what would happen; the server stores nothing.
        continue_on_error: apply the valid objects even when others fail validation.
        force_conflicts: take over fields another field manager owns (``--force-conflicts``).

    Returns:
        DataFrame with columns ``object`` (``Kind/ns/name``), ``kind``, ``namespace``, ``name``,
        ``action`` (created | configured | unchanged | failed | not-applied, with `` (dry run)``
        appended in dry runs), ``error`` (one line, empty when fine), ``source`` (file:line).

    Raises:
        ManifestError: a file cannot be read or is not valid YAML (nothing applied).
    """
    if isinstance(source, list) and source and all(isinstance(m, Manifest) for m in source):
        manifests: list[Manifest] = [m for m in source if isinstance(m, Manifest)]
    else:
        manifests = load_manifests(source)  # type: ignore[arg-type]
    if not manifests:
        raise InputError("no objects to apply", hint="check the file or directory")
    registry = discover_kinds(cluster)
    items = [_resolve(m, registry, namespace) for m in manifests]
    items.sort(key=_order)
    # 1. validate everything with a server-side dry run
    for item in items:
        if not item.error:
            item.error = _try(lambda i=item: _apply_one(cluster, i, True, force_conflicts,
                                                        field_manager))
    failed = any(i.error for i in items)
    rows = []
    for item in items:
        if item.error:
            rows.append(_row(item, "failed", item.error))
        elif dry_run:
            rows.append(_row(item, _action(cluster, item, dry=True) + " (dry run)", ""))
        elif failed and not continue_on_error:
            rows.append(_row(item, "not-applied", "not applied: other objects failed validation "
                                                  "(pass continue_on_error=True to apply the rest)"))
        else:
            # 2. apply for real, in order
            action = _action(cluster, item, dry=False, force=force_conflicts,
                             field_manager=field_manager)
            rows.append(_row(item, action, item.error))
    return pd.DataFrame(rows, columns=APPLY_COLUMNS)


def _resolve(m: Manifest, registry: KindRegistry, namespace: str | None) -> _Item:
    obj = m.obj
    meta = obj.setdefault("metadata", {})
    name = str(meta.get("name") or "")
    kind = registry.by_kind(str(obj.get("apiVersion")), str(obj.get("kind")))
    version = str(obj.get("apiVersion", "")).rpartition("/")[2]
    if kind is not None and version in kind.versions:
        # server-side apply decodes the body as the URL's version: a v1alpha3 object sent to
        # the v1beta1 path is refused ("invalid object type"); kubectl uses the object's version
        kind = dataclasses.replace(kind, version=version)
    if kind is None:
        return _Item(m, None, meta.get("namespace"), name,
                     f'no matches for kind "{obj.get("kind")}" in version "{obj.get("apiVersion")}"'
                     " — ensure CRDs are installed first")
    if not name:
        return _Item(m, kind, meta.get("namespace"), name,
                     "metadata.name is required — give every object a name")
    ns = meta.get("namespace")
    if kind.namespaced:
        if namespace and ns and ns != namespace:
            return _Item(m, kind, ns, name,
                         f'the namespace from the provided object "{ns}" does not match the '
                         f'namespace "{namespace}" — pass namespace="{ns}" or remove it from the file')
        ns = ns or namespace or "default"
        meta["namespace"] = ns
    else:
        ns = None
        meta.pop("namespace", None)
    return _Item(m, kind, ns, name)


def _order(item: _Item) -> tuple[int, str]:
    kind = str(item.manifest.obj.get("kind"))
    return (_FIRST.index(kind) if kind in _FIRST else len(_FIRST), "")


def _apply_one(cluster: Cluster, item: _Item, dry_run: bool, force: bool,
               field_manager: str) -> dict[str, Any]:
    assert item.kind is not None
    return cluster.patch(item.kind, item.name, item.manifest.obj, item.namespace,
                         patch_type="apply", dry_run=dry_run, field_manager=field_manager,
                         force=force or None)


def _action(cluster: Cluster, item: _Item, *, dry: bool, force: bool = False,
            field_manager: str = FIELD_MANAGER) -> str:
    assert item.kind is not None
    try:
        before = cluster.get(item.kind, item.name, item.namespace)
    except ClusterError as exc:
        if exc.status != 404:
            item.error = exc.one_line()
            return "failed"
        before = None
    if dry:
        if before is None:
            return "created"
        try:
            would_be = _apply_one(cluster, item, True, force, field_manager)
        except ClusterError as exc:
            item.error = exc.one_line()
            return "failed"
        return "unchanged" if comparable(would_be) == comparable(before) else "configured"
    try:
        after = _apply_one(cluster, item, False, force, field_manager)
    except Unreachable as exc:
        if not exc.maybe_applied:
            item.error = exc.one_line()
            return "failed"
        # The answer was lost after the patch was sent: it may have been applied. Server-side
        # apply is declarative, so sending the same intent again settles it without applying
        # anything twice (an apply that changes nothing commits nothing, the resourceVersion
        # stays); an unguarded imperative write would never be repeated like this.
        try:
            after = _apply_one(cluster, item, False, force, field_manager)
        except ClusterError as again:
            item.error = (exc if isinstance(again, Unreachable) else again).one_line()
            return "failed"
    except ClusterError as exc:
        item.error = exc.one_line()
        return "failed"
    if before is None:
        return "created"
    same = before["metadata"].get("resourceVersion") == after["metadata"].get("resourceVersion")
    return "unchanged" if same else "configured"


def _try(fn: Any) -> str:
    try:
        fn()
    except ClusterError as exc:
        return exc.one_line()
    return ""


def _row(item: _Item, action: str, error: str) -> dict[str, Any]:
    kind = str(item.manifest.obj.get("kind", "?"))
    label = f"{kind}/{item.namespace}/{item.name}" if item.namespace else f"{kind}/{item.name}"
    return {"object": label, "kind": kind, "namespace": item.namespace, "name": item.name,
            "action": action, "error": error,
            "source": f"{item.manifest.source}:{item.manifest.line}"}
