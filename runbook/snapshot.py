"""A read of a cluster as plain data: raw API objects by kind, and what could not be read.

``runbook.kube`` fills it (cluster-wide, paginated lists); ``runbook.mesh`` computes tables and
findings from it without talking to any server, so the same functions serve the notebooks, the
CLI and tests built from fixture files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runbook.kinds import ResourceKind

#: a Kubernetes object as the API returned it (its JSON, parsed): what the client reads and
#: writes, the snapshot holds, a fix plan changes and the audit trail keeps before and after
RawObject = dict[str, Any]


@dataclass
class Snapshot:
    """Raw objects per kind key (``pods``, ``replicasets.apps`` …).

    Attributes:
        objects: kind key -> list of raw objects (dicts as the API returned them, minus the
            bookkeeping, uids, pod-spec bulk and status detail no table reads, which
            ``runbook.kube.read_snapshot`` trims: see its ``DEFAULT_TRIMS``).
        unreadable: kind key -> why it could not be read (e.g. a 403 message); a kind that is
            absent from both maps was not asked for.
        context: the kube context it was read from (None for fixture-built snapshots).
        server: the API server URL.
        read_at: ISO timestamp of the read.
        requests: how many API requests the read took.
    """

    objects: dict[str, list[RawObject]] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)
    context: str | None = None
    server: str | None = None
    read_at: str | None = None
    requests: int = 0

    def items(self, kind: ResourceKind) -> list[RawObject]:
        """Objects of ``kind`` (empty when none, not asked for, or unreadable)."""
        return self.objects.get(kind.key, [])

    def readable(self, kind: ResourceKind) -> bool:
        return kind.key in self.objects

    @classmethod
    def from_objects(cls, objects: Iterable[Mapping[str, Any]],
                     kinds: Iterable[ResourceKind]) -> Snapshot:
        """Build a snapshot from a flat list of manifests (fixtures, files).

        Every kind in ``kinds`` is marked readable (an empty list when no object has it), so that
        "none present" and "not read" stay distinct.
        """
        kinds = list(kinds)
        snap = cls(objects={k.key: [] for k in kinds})
        for obj in objects:
            api_version, kind_name = obj.get("apiVersion", ""), obj.get("kind", "")
            group = api_version.rpartition("/")[0]
            for k in kinds:
                if k.kind == kind_name and k.group == group:
                    snap.objects[k.key].append(dict(obj))
                    break
        return snap
