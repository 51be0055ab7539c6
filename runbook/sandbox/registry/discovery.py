"""Discovery and OpenAPI documents, built from the kinds the sandbox serves right now.

* Legacy discovery: ``/api`` (APIVersions), ``/apis`` (APIGroupList), ``/api/v1`` and
  ``/apis/{group}/{version}`` (APIResourceList with verbs, namespaced, shortNames, categories,
  singularName and subresources as ``pods/log``, ``deployments/scale`` …).
* Aggregated discovery (``apidiscovery.k8s.io/v2``): what kubectl ≥ 1.30 asks ``/api`` and
  ``/apis`` for first (``Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList``);
  one answer then replaces a request per group version.
* OpenAPI v3: ``/openapi/v3`` (the index of group versions) and ``/openapi/v3/{api|apis/g}/{v}``
  with one PATCH operation per kind carrying ``x-kubernetes-group-version-kind`` and the
  ``fieldValidation`` query parameter. That is what kubectl's ``QueryParamVerifierV3`` reads to
  decide that the server validates fields itself, so ``kubectl apply``/``create`` send
  ``fieldValidation=Strict`` instead of downloading ``/openapi/v2`` for client-side validation.
  The documents carry no schemas (``components.schemas`` is empty), so kubectl builds its
  strategic-merge patches from its compiled-in types (``kubectl explain`` does not work: LIMITS).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

from runbook.kinds import ResourceKind

Obj = dict[str, Any]

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

_SUBRESOURCE_VERBS = {
    "status": ["get", "patch", "update"],
    "scale": ["get", "patch", "update"],
    "log": ["get"],
}


def _subresource_kind(kind: ResourceKind, sub: str, version: str) -> dict[str, str]:
    if sub == "scale":
        return {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    if sub == "log":
        return {"group": "", "version": "v1", "kind": "Pod"}
    return {"group": kind.group, "version": version, "kind": kind.kind}


def _scope(kind: ResourceKind) -> str:
    return "Namespaced" if kind.namespaced else "Cluster"


_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key of kube-aware version ordering: GA > beta > alpha, higher numbers first, then
    anything else alphabetically (``v1`` < ``v1beta1`` < ``v1alpha3`` < ``foo``)."""
    m = _VERSION_RE.match(version)
    if not m:
        return (3, 0, 0, version)
    major, stage, minor = int(m.group(1)), m.group(2), int(m.group(3) or 0)
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -major, -minor, "")



def api_versions() -> Obj:
    """``GET /api``: the core group's versions."""
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}


def _groups(kinds: Iterable[ResourceKind]) -> dict[str, list[str]]:
    """group -> versions (preferred first) over all non-core kinds."""
    found: dict[str, set[str]] = {}
    for k in kinds:
        if k.group:
            found.setdefault(k.group, set()).update(k.versions)
    return {g: sorted(vs, key=version_priority) for g, vs in sorted(found.items())}


def _group_entry(group: str, versions: list[str]) -> Obj:
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}


def root_paths(kinds: Iterable[ResourceKind]) -> list[str]:
    """``GET /``: the paths the server answers (RootPaths)."""
    paths = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v3", "/readyz", "/version",
             "/sandbox/v1/status"]
    for group, versions in _groups(kinds).items():
        paths += [f"/apis/{group}", *(f"/apis/{group}/{v}" for v in versions)]
    return sorted(paths)


def api_group_list(kinds: Iterable[ResourceKind]) -> Obj:
    """``GET /apis``."""
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group_entry(g, vs) for g, vs in _groups(kinds).items()]}


def api_group(kinds: Iterable[ResourceKind], group: str) -> Obj | None:
    """``GET /apis/{group}`` (None when the group is not served)."""
    versions = _groups(kinds).get(group)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group, versions)}


def resource_list(kinds: Iterable[ResourceKind], group: str, version: str) -> Obj | None:
    """``GET /api/v1`` or ``/apis/{group}/{version}`` (None when nothing is served there)."""
    resources: list[Obj] = []
    for k in sorted(kinds, key=lambda k: k.plural):
        if k.group != group or version not in k.versions:
            continue
        entry: Obj = {"name": k.plural, "singularName": k.singular, "namespaced": k.namespaced,
                      "kind": k.kind, "verbs": list(k.verbs)}
        if k.short_names:
            entry["shortNames"] = list(k.short_names)
        if k.categories:
            entry["categories"] = list(k.categories)
        entry["storageVersionHash"] = _hash(f"{k.group}/{k.version}/{k.kind}")[:11]
        resources.append(entry)
        for sub in k.subresources:
            sub_kind = _subresource_kind(k, sub, version)
            sub_entry: Obj = {"name": f"{k.plural}/{sub}", "singularName": "",
                              "namespaced": k.namespaced, "kind": sub_kind["kind"],
                              "verbs": _SUBRESOURCE_VERBS.get(sub, ["get"])}
            if sub_kind["group"] != k.group:
                sub_entry["group"], sub_entry["version"] = sub_kind["group"], sub_kind["version"]
            resources.append(sub_entry)
    if not resources:
        return None
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": resources}


def aggregated(kinds: Iterable[ResourceKind], core: bool) -> Obj:
    """``apidiscovery.k8s.io/v2`` APIGroupDiscoveryList for ``/api`` (core) or ``/apis``."""
    kinds = list(kinds)
    groups = {"": ["v1"]} if core else _groups(kinds)
    items = []
    for group, versions in groups.items():
        version_entries = []
        for version in versions:
            resources = []
            for k in sorted(kinds, key=lambda k: k.plural):
                if k.group != group or version not in k.versions:
                    continue
                res: Obj = {
                    "resource": k.plural,
                    "responseKind": {"group": k.group, "version": version, "kind": k.kind},
                    "scope": _scope(k),
                    "singularResource": k.singular,
                    "verbs": list(k.verbs),
                }
                if k.short_names:
                    res["shortNames"] = list(k.short_names)
                if k.categories:
                    res["categories"] = list(k.categories)
                if k.subresources:
                    res["subresources"] = [
                        {"subresource": sub, "responseKind": _subresource_kind(k, sub, version),
                         "verbs": _SUBRESOURCE_VERBS.get(sub, ["get"])}
                        for sub in k.subresources]
                resources.append(res)
            version_entries.append({"version": version, "resources": resources,
                                    "freshness": "Current"})
        items.append({"metadata": {"name": group, "creationTimestamp": None},
                      "versions": version_entries})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {}, "items": items}


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def openapi_v3_index(kinds: Iterable[ResourceKind]) -> Obj:
    """``GET /openapi/v3``: ``paths`` maps ``api/v1`` / ``apis/g/v`` to their documents."""
    paths: Obj = {}
    kinds = list(kinds)
    gvs = {("", "v1")} | {(k.group, v) for k in kinds if k.group for v in k.versions}
    for group, version in sorted(gvs):
        rel = f"apis/{group}/{version}" if group else f"api/{version}"
        doc_hash = _hash(repr(sorted((k.key, k.versions) for k in kinds if k.group == group)))
        paths[rel] = {"serverRelativeURL": f"/openapi/v3/{rel}?hash={doc_hash.upper()[:128]}"}
    return {"paths": paths}


def openapi_v3_document(kinds: Iterable[ResourceKind], group: str, version: str) -> Obj | None:
    """The OpenAPI v3 document of one group version (paths with PATCH operations only)."""
    paths: Obj = {}
    for k in kinds:
        if k.group != group or version not in k.versions:
            continue
        gvk = {"group": k.group, "version": version, "kind": k.kind}
        path = k.path("{namespace}" if k.namespaced else None, "{name}", version=version)
        paths[path] = {
            "patch": {
                "description": f"partially update the specified {k.kind}",
                "operationId": f"patch{k.kind}",
                "parameters": [
                    {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
                    {"name": "fieldManager", "in": "query",
                     "schema": {"type": "string", "uniqueItems": True}},
                    {"name": "fieldValidation", "in": "query",
                     "schema": {"type": "string", "uniqueItems": True}},
                    {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": True}},
                ],
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": gvk,
            },
        }
    if not paths and not (group == "" and version == "v1"):
        return None
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"},
            "paths": paths, "components": {"schemas": {}}}
