"""The world :func:`runbook.mesh.analyze.analyze` checks: file objects and cluster objects
resolved together, indexed by kind, with what can be said "not found" about.

File objects replace same-named cluster objects; ``namespace`` places objects that name none,
like ``kubectl apply -n``. A kind is *readable* when the snapshot read it or the files hold it:
only then may a check say that something of that kind does not exist.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from runbook import kinds as k
from runbook.manifests import Manifest
from runbook.mesh.model import labels_of, meta
from runbook.snapshot import RawObject, Snapshot

#: the Istio networking kinds the analyzer knows, and the reserved gateway of the sidecars
ISTIO_GROUP = "networking.istio.io"
GATEWAY, VIRTUAL_SERVICE, DESTINATION_RULE = "Gateway", "VirtualService", "DestinationRule"
SERVICE_ENTRY, SIDECAR = "ServiceEntry", "Sidecar"
MESH_GATEWAY = "mesh"

#: our own CRDs for the Istio networking kinds (used when the cluster's CRDs are unknown)
BUNDLED_CRDS = Path(__file__).resolve().parents[1] / "sandbox" / "scenarios" / "istio-crds.yaml"


@dataclass
class Item:
    """One object of the analysed world, with where it came from."""

    obj: RawObject
    group: str
    kind: str
    namespace: str | None
    name: str
    source: str | None
    from_file: bool

    @property
    def labels(self) -> dict[str, str]:
        return dict(labels_of(self.obj))

    @property
    def spec(self) -> dict[str, Any]:
        spec = self.obj.get("spec")
        return spec if isinstance(spec, dict) else {}

    @property
    def version(self) -> str:
        return str(self.obj.get("apiVersion", "")).rpartition("/")[2]

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass
class Workload:
    """Pods that share a controller (or one bare pod): what a selector can select."""

    namespace: str
    kind: str
    name: str
    labels: dict[str, str]
    template: dict[str, Any]
    pods: list[RawObject]
    is_gateway: bool = False
    revision: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


class World:
    """Files and cluster objects resolved together, indexed for the checks."""

    def __init__(self, items: list[Item], readable: set[tuple[str, str]],
                 crds: list[RawObject] | None) -> None:
        self.items = items
        self.readable = readable
        self.by_kind: dict[tuple[str, str], dict[tuple[str | None, str], Item]] = defaultdict(dict)
        for it in items:
            self.by_kind[(it.group, it.kind)][(it.namespace, it.name)] = it
        #: CRDs to judge custom resources by; authoritative when they are the cluster's (or given)
        self.crds_authoritative = crds is not None
        self.crds: list[RawObject] = crds if crds is not None else bundled_crds()

    def of(self, group: str, kind: str) -> list[Item]:
        return list(self.by_kind.get((group, kind), {}).values())

    def get(self, group: str, kind: str, namespace: str | None, name: str) -> Item | None:
        return self.by_kind.get((group, kind), {}).get((namespace, name))

    def known(self, group: str, kind: str) -> bool:
        """Whether the world's view of this kind is complete enough to say "not found"."""
        return (group, kind) in self.readable

    def snapshot(self) -> Snapshot:
        """The world as a Snapshot (for functions shared with the diagnosis)."""
        registry = k.default_registry()
        objects: dict[str, list[RawObject]] = {}
        for kind in registry:
            if (kind.group, kind.kind) in self.readable:
                objects[kind.key] = [it.obj for it in self.of(kind.group, kind.kind)]
        return Snapshot(objects=objects)


def normalise(objects: Sequence[RawObject | Manifest]) -> list[tuple[RawObject, str | None]]:
    out: list[tuple[RawObject, str | None]] = []
    for o in objects:
        if isinstance(o, Manifest):
            out.append((o.obj, f"{o.source}:{o.line}"))
        elif isinstance(o, Mapping):
            out.append((dict(o), None))
        else:
            raise TypeError(f"analyze() takes dicts or Manifests, got {type(o).__name__}")
    return out


def scope_of(group: str, kind: str, crds: list[RawObject]) -> bool:
    """Whether a kind is namespaced (unknown kinds: yes, like most)."""
    for rk in k.ALL_KNOWN_KINDS:
        if rk.group == group and rk.kind == kind:
            return rk.namespaced
    for crd in crds:
        spec = crd.get("spec") or {}
        if spec.get("group") == group and (spec.get("names") or {}).get("kind") == kind:
            return spec.get("scope") != "Cluster"
    return True


def build_world(objects: Sequence[RawObject | Manifest], snapshot: Snapshot | None,
                 namespace: str | None, crds: list[RawObject] | None) -> World:
    registry = k.default_registry()
    items: dict[tuple[str, str, str | None, str], Item] = {}
    readable: set[tuple[str, str]] = set()
    snapshot_crds: list[RawObject] = []
    if snapshot is not None:
        snapshot_crds = snapshot.items(k.CRDS)
        plural_kinds = {
            f"{(c.get('spec') or {}).get('names', {}).get('plural')}.{(c.get('spec') or {}).get('group')}":
            (c.get("spec") or {}).get("names", {}).get("kind") for c in snapshot_crds}
        for key, objs in snapshot.objects.items():
            rk = registry.by_key(key)
            group = rk.group if rk else key.partition(".")[2]
            kind_name = rk.kind if rk else plural_kinds.get(key)
            readable.add((group, kind_name or ""))
            for obj in objs:
                kind = kind_name or str(obj.get("kind", ""))
                m = meta(obj)
                obj_ns = m.get("namespace") if scope_of(group, kind, snapshot_crds) else None
                items[(group, kind, obj_ns, m.get("name", ""))] = Item(
                    obj, group, kind, obj_ns, m.get("name", ""), None, False)
    file_crds = [o for o, _ in normalise(objects) if o.get("kind") == "CustomResourceDefinition"]
    for obj, source in normalise(objects):
        group = str(obj.get("apiVersion", "")).rpartition("/")[0]
        kind = str(obj.get("kind", ""))
        readable.add((group, kind))
        obj = copy.copy(obj)
        m = dict(meta(obj))
        ns: str | None = None
        if scope_of(group, kind, snapshot_crds + file_crds):
            # like `kubectl apply -n`: the flag places objects that name no namespace
            ns = m.get("namespace") or namespace or "default"
            m["namespace"] = ns
        obj["metadata"] = m
        items[(group, kind, ns, m.get("name", ""))] = Item(
            obj, group, kind, ns, str(m.get("name", "")), source, True)
    if crds is None and snapshot is not None and snapshot.readable(k.CRDS):
        # the cluster's CRDs (with any the files add) are what the apiserver will judge by
        crds = [it.obj for it in items.values() if (it.group, it.kind) == (k.CRDS.group, k.CRDS.kind)]
    return World(list(items.values()), readable, crds)


@cache
def _bundled_crds_cached() -> tuple[RawObject, ...]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return tuple(d for d in yaml.load_all(BUNDLED_CRDS.read_text(encoding="utf-8"), Loader=loader) if d)


def bundled_crds() -> list[RawObject]:
    # parsed once: the schema engine caches compiled schemas per object, so one shared,
    # never-mutated copy keeps repeated analyses fast
    return list(_bundled_crds_cached())
