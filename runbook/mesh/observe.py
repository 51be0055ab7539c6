"""The mesh functions, against a live cluster: read (cluster-wide, paginated), then compute.

These are the one-call entry points the notebooks and the CLI use. Each reads what it needs
through :mod:`runbook.kube` and hands plain data to the pure functions of this package, so the
knowledge stays testable without a server and the reads stay few (one list per kind, never one
call per namespace or object).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from runbook import kinds as k
from runbook import wellknown as wk
from runbook.errors import ClusterError, InputError, NotFound
from runbook.kube import CONFIG_KINDS, DIAGNOSIS_KINDS, Cluster, read_snapshot
from runbook.manifests import Manifest
from runbook.mesh.diagnose import Inventory, diagnose, inventory
from runbook.mesh.findings import Finding
from runbook.snapshot import Snapshot
from runbook.timestamps import format_timestamp, timestamp_or_none

if TYPE_CHECKING:
    import pandas as pd  # imported where a table is built (runbook.mesh's docstring says why)

    from runbook.mesh.analyze import AnalysisResult
    from runbook.mesh.pushes import PushStatus

# the analyzer and the push-log parsing are imported by the functions that use them: `runbook
# diagnose` is started by a person waiting for its answer and needs neither

#: log lines read per istiod pod at most (a bound on memory and time on chatty control planes)
DEFAULT_TAIL_LINES = 5000


def read_mesh(cluster: Cluster, *, with_config: bool = False) -> Snapshot:
    """A cluster-wide snapshot of everything the diagnosis (and optionally the analyzer) reads."""
    kinds = DIAGNOSIS_KINDS + (CONFIG_KINDS if with_config else ())
    return read_snapshot(cluster, kinds)


def check_namespace(snapshot: Snapshot, namespace: str | None) -> None:
    """Raise a one-line InputError when ``namespace`` is not in the snapshot."""
    if namespace is None or not snapshot.readable(k.NAMESPACES):
        return
    names = sorted(n["metadata"]["name"] for n in snapshot.items(k.NAMESPACES))
    if namespace not in names:
        shown = ", ".join(names[:12]) + (" …" if len(names) > 12 else "")
        raise InputError(f"namespace {namespace!r} does not exist in context "
                         f"{snapshot.context!r} (namespaces: {shown})",
                         hint="check the name (kubectl get ns)")


def inventory_cluster(cluster: Cluster) -> Inventory:
    """Every inventory table of a live cluster (``runbook inventory``; notebook 00)."""
    return inventory(read_mesh(cluster))


def diagnose_cluster(cluster: Cluster, *, namespace: str | None = None
                     ) -> tuple[Inventory, list[Finding]]:
    """Inventory and findings of a live cluster (``runbook diagnose``; notebook 02).

    Raises:
        InputError: ``namespace`` does not exist.
    """
    return diagnose_snapshot(read_mesh(cluster), namespace=namespace)


def diagnose_snapshot(snap: Snapshot, *, namespace: str | None = None
                      ) -> tuple[Inventory, list[Finding]]:
    """:func:`diagnose_cluster` on a snapshot already read (:func:`read_mesh`).

    Raises:
        InputError: ``namespace`` does not exist.
    """
    check_namespace(snap, namespace)
    inv = inventory(snap)
    return inv, diagnose(inv, namespace=namespace)


def analyze_cluster(cluster: Cluster, objects: Sequence[Manifest | dict[str, Any]] | None = None,
                    *, namespace: str | None = None) -> AnalysisResult:
    """Analyze files against the cluster's state, or (no objects) the cluster's Istio config."""
    snap = read_mesh(cluster, with_config=True)
    check_namespace(snap, namespace)
    crds = snap.items(k.CRDS) or None
    from runbook.mesh.analyze import analyze

    return analyze(list(objects) if objects else None, snap, namespace=namespace, crds=crds)


# ------------------------------------------------------------------ which istiod pushed a config


def istiod_pods(cluster: Cluster) -> list[dict[str, Any]]:
    """Every istiod pod of every revision (label ``app=istiod``), cluster-wide."""
    return cluster.list(k.PODS, label_selector=f"app={wk.ISTIOD_APP}")


def config_pushes(cluster: Cluster, *, since: datetime | None = None,
                  tail_lines: int = DEFAULT_TAIL_LINES) -> pd.DataFrame:
    """``Push debounce stable`` lines of every istiod pod, as a table (see ``PUSH_COLUMNS``).

    Reads are bounded: ``tailLines`` always, ``sinceTime`` when ``since`` is given. A pod whose
    log cannot be read (not started yet, 403) is skipped; the table says what was read.
    """
    frame, _ = _read_pushes(cluster, since, tail_lines)
    return frame


def _read_pushes(cluster: Cluster, since: datetime | None, tail_lines: int
                 ) -> tuple[pd.DataFrame, dict[str, str]]:
    """The pushes table, and ``namespace/pod`` → why its log could not be read."""
    import pandas as pd

    from runbook.mesh.pushes import PUSH_COLUMNS, pushes_frame

    pods = istiod_pods(cluster)
    texts: dict[str | tuple[str, str], str] = {}
    unreadable: dict[str, str] = {}
    since_time = format_timestamp(since) if since else None
    for pod in pods:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        try:
            texts[(ns, name)] = cluster.logs(ns, name, container=_discovery_container(pod),
                                             tail_lines=tail_lines, since_time=since_time)
        except ClusterError as exc:
            unreadable[f"{ns}/{name}"] = exc.message
            continue
    if not texts:
        return pd.DataFrame(columns=list(PUSH_COLUMNS)), unreadable
    return pushes_frame(texts, pods), unreadable


def _discovery_container(pod: Mapping[str, Any]) -> str | None:
    names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    return "discovery" if "discovery" in names else (names[0] if names else None)


def _changed_at(obj: Mapping[str, Any]) -> datetime | None:
    """When the object was last written: its newest managedFields time, else its creation."""
    meta = obj.get("metadata") or {}
    stamps = [m.get("time") for m in meta.get("managedFields") or [] if m.get("time")]
    stamps.append(meta.get("creationTimestamp"))
    parsed = [when for s in stamps if (when := timestamp_or_none(s)) is not None]
    return max(parsed) if parsed else None


def confirm_push(cluster: Cluster, kind: k.ResourceKind | str, name: str, namespace: str, *,
                 timeout: float = 30.0, poll: float = 0.5) -> PushStatus:
    """Wait until every istiod revision that watches ``namespace`` has logged the object's push.

    Args:
        kind: a ResourceKind or a kind name (``Gateway``, ``VirtualService``, ``vs`` …).
        timeout: seconds to wait at most (the answer is returned either way; check
            ``.confirmed`` and ``.summary``).

    Returns:
        Which revisions logged it (and when, by which pod), which should have and did not, and
        which do not watch the namespace at all; istiod pods whose log could not be read (a
        fault, 403) are named in ``unreadable`` and in the summary, so "not logged" is never
        confused with "could not look".
    """
    from runbook.mesh.pushes import control_plane_scopes, push_status, watching_revisions

    resolved = k.default_registry().by_name(kind) if isinstance(kind, str) else kind
    if resolved is None:
        raise InputError(f"unknown kind {kind!r}", hint="use Gateway, VirtualService or "
                                                        "DestinationRule")
    obj = cluster.get(resolved, name, namespace)
    # managedFields times have whole seconds; the push verdict treats them as a lower bound
    since = _changed_at(obj)
    snap = read_snapshot(cluster, (k.NAMESPACES, k.CONFIG_MAPS, k.DEPLOYMENTS, k.PODS))
    labels = (obj.get("metadata") or {}).get("labels") or {}
    scopes = control_plane_scopes(snap)
    watchers = {rev: watching and scopes[rev].processes(labels) if rev in scopes else watching
                for rev, watching in watching_revisions(snap, namespace).items()}
    deadline = time.monotonic() + timeout
    while True:
        frame, unreadable = _read_pushes(cluster, since, DEFAULT_TAIL_LINES)
        status = push_status(frame, resolved.kind, namespace, name, watchers, since=since)
        status.unreadable = unreadable
        if status.confirmed or not status.expected or time.monotonic() >= deadline:
            return status
        time.sleep(poll)


# ------------------------------------------------------------------ push verdicts, several objects

#: columns of :func:`confirm_pushes`
PUSH_VERDICT_COLUMNS: tuple[str, ...] = (
    "kind", "namespace", "name", "confirmed", "expected", "pushed_by", "carried_by", "missing",
    "not_watching", "verdict")



def confirm_pushes(cluster: Cluster, objects: pd.DataFrame | Iterable[tuple[str, str, str]], *,
                   kinds: Sequence[str] = ("Gateway", "VirtualService", "DestinationRule"),
                   timeout: float = 30.0) -> pd.DataFrame:
    """:func:`~runbook.mesh.observe.confirm_push` for several objects, as one table.

    Args:
        objects: ``(kind, namespace, name)`` tuples, or a frame with those columns (e.g. what
            ``apply_manifests`` returned); kinds other than ``kinds`` are left out.
        timeout: seconds to wait per object while a revision that should push it has not.

    Returns:
        One row per object: ``kind``, ``namespace``, ``name``, ``confirmed`` (every revision that
        watches the namespace and takes the object in pushed it), ``expected`` (those revisions),
        ``pushed_by`` (revisions whose push line names it), ``carried_by`` (revisions whose first
        full push after the change carried it unnamed, "… and N more configs"), ``missing``,
        ``not_watching`` (revisions that do not watch the namespace), ``verdict`` (one line). An
        object that is not in the cluster (e.g. only dry-run applied) is a row saying so.
    """
    import pandas as pd
    if isinstance(objects, pd.DataFrame):
        triples = list(zip(objects["kind"], objects["namespace"], objects["name"], strict=True))
    else:
        triples = list(objects)
    rows: list[tuple[Any, ...]] = []
    for kind, namespace, name in triples:
        if kind not in kinds:
            continue
        try:
            s = confirm_push(cluster, str(kind), str(name), str(namespace), timeout=timeout)
        except NotFound:
            rows.append((kind, namespace, name, False, [], [], [], [], [],
                         f"{kind} {namespace}/{name}: not in the cluster (not applied — a dry run?)"))
            continue
        except ClusterError as exc:
            rows.append((kind, namespace, name, False, [], [], [], [], [],
                         f"{kind} {namespace}/{name}: {exc.one_line()}"))
            continue
        rows.append((kind, namespace, name, s.confirmed, s.expected, sorted(s.logged),
                     sorted(s.included), s.missing, s.not_watching, s.summary))
    return pd.DataFrame(rows, columns=list(PUSH_VERDICT_COLUMNS))


__all__ = [
    "PUSH_VERDICT_COLUMNS",
    "analyze_cluster",
    "check_namespace",
    "config_pushes",
    "confirm_push",
    "confirm_pushes",
    "diagnose_cluster",
    "inventory_cluster",
    "istiod_pods",
    "read_mesh",
]
