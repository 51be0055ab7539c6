"""What a cluster serves: discovery documents turned into :class:`~runbook.kinds.ResourceKind`.

Needed to apply arbitrary manifests (``apiVersion``/``kind`` → URL path and scope) the way kubectl's
REST mapper does, including custom resources whose CRDs exist only in that cluster.
"""

from __future__ import annotations

from typing import Any

from runbook.errors import ClusterError
from runbook.kinds import KindRegistry, ResourceKind
from runbook.kube.cluster import Cluster


def discover_kinds(cluster: Cluster) -> KindRegistry:
    """Read ``/api/v1`` and every group version under ``/apis`` into a registry.

    Group versions that fail to answer (an aggregated API that is down) are skipped, as kubectl
    does; their kinds are then simply unknown.
    """
    registry = KindRegistry()
    _add_group_version(registry, cluster, "", "v1", all_versions=("v1",))
    groups: dict[str, Any] = cluster.request("GET", "/apis", verb="get", resource="apis")
    for group in groups.get("groups") or []:
        name = group.get("name", "")
        versions = tuple(v["version"] for v in group.get("versions") or [])
        preferred = (group.get("preferredVersion") or {}).get("version") or (versions or ("",))[0]
        # preferred first, then the others, so each kind's ``version`` is the preferred one
        for version in (preferred, *[v for v in versions if v != preferred]):
            _add_group_version(registry, cluster, name, version, all_versions=versions)
    return registry


def _add_group_version(registry: KindRegistry, cluster: Cluster, group: str, version: str, *,
                       all_versions: tuple[str, ...]) -> None:
    path = f"/apis/{group}/{version}" if group else f"/api/{version}"
    try:
        doc: dict[str, Any] = cluster.request("GET", path, verb="get", resource=path)
    except ClusterError:
        return
    for res in doc.get("resources") or []:
        name = res.get("name", "")
        if "/" in name:  # subresources are listed as "pods/log"
            continue
        key = f"{name}.{group}" if group else name
        existing = registry.by_key(key)
        served = tuple(v for v in all_versions
                       if v == version or (existing and v in existing.versions))
        if existing is not None:
            # keep the preferred version; remember that this version serves the kind too
            registry.add(ResourceKind(
                existing.group, existing.version, existing.kind, existing.plural,
                existing.namespaced, versions=tuple(dict.fromkeys((*existing.versions, version))),
                short_names=existing.short_names, subresources=existing.subresources,
                categories=existing.categories, verbs=existing.verbs, singular=existing.singular))
            continue
        subs = tuple(sorted(r["name"].split("/", 1)[1] for r in doc.get("resources") or []
                            if r.get("name", "").startswith(name + "/")))
        registry.add(ResourceKind(
            group, version, res.get("kind", ""), name, bool(res.get("namespaced")),
            versions=served or (version,), short_names=tuple(res.get("shortNames") or ()),
            subresources=subs, categories=tuple(res.get("categories") or ()),
            verbs=tuple(res.get("verbs") or ()), singular=res.get("singularName") or ""))
