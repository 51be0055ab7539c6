"""Which istiod pushed a configuration: istiod logs → a table, and "who should have" → a verdict.

The field report confirms a push by eye: ``kubectl logs istiod-… | grep nginx-sample`` and finding
``Push debounce stable[39] 1 for config VirtualService/l7-traffic-beta/nginx-sample …``. Here the
same is done for every istiod pod of every revision at once, and compared with which revisions
*should* log it:

* :func:`pushes_frame` parses the log text of istiod pods (``runbook.formats.istiod_log``) into one
  row per pushed config;
* :func:`watching_revisions` says which revisions watch a namespace (meshConfig
  ``discoverySelectors``, evaluated by ``runbook.meshconfig`` exactly as the sandbox's emulated
  istiod evaluates them);
* :func:`push_status` compares the two for one object.

The kube layer's ``config_pushes`` / ``confirm_push`` read the logs and call these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from runbook import kinds as k
from runbook import wellknown as wk
from runbook.errors import InputError
from runbook.formats.istiod_log import PushLine, parse_push_lines
from runbook.mesh.model import MeshModel, build_model, labels_of, meta
from runbook.meshconfig import discovery_selectors, processes_config, watches_namespace
from runbook.selectors import LabelSelector
from runbook.snapshot import RawObject, Snapshot

if TYPE_CHECKING:
    import pandas as pd  # imported where a table is built (runbook.mesh's docstring says why)

#: columns of :func:`pushes_frame`, in order
PUSH_COLUMNS: tuple[str, ...] = (
    "time", "istiod_pod", "namespace", "revision", "push_id", "kind", "config_namespace",
    "config_name", "ms_since_change", "ms_since_push", "full", "forced", "more_configs", "reasons",
)

PodKey = str | tuple[str, str]


def pushes_frame(lines_by_pod: Mapping[PodKey, str], pods: Iterable[Mapping[str, Any]] = ()
                 ) -> pd.DataFrame:
    """One row per config named in a ``Push debounce stable`` line, from istiod logs.

    Args:
        lines_by_pod: log text per istiod pod; the key is ``"namespace/name"``, ``(namespace,
            name)`` or a bare pod name (then ``pods`` must name it in exactly one namespace).
        pods: the istiod pod objects, for their namespace and revision (label ``istio.io/rev``,
            else the ``REVISION`` env of the ``discovery`` container, else ``default``).

    Returns:
        Columns (see :data:`PUSH_COLUMNS`): ``time`` (UTC), ``istiod_pod``, ``namespace`` (of the
        istiod pod), ``revision``, ``push_id``, ``kind``, ``config_namespace``, ``config_name``
        (None for "for reason" lines), ``ms_since_change``, ``ms_since_push``, ``full``
        (None on newer ``forced=`` lines), ``forced`` (None on ``full=`` lines), ``more_configs``
        (the N of "and N more configs": configs in the same push that istiod did not name) and
        ``reasons`` (the reasons of "for reason" lines, e.g. ``"endpoint and 2 more reasons"``;
        ``"and N more configs"`` on config rows whose push carried more). Sorted by time.
    """
    import pandas as pd
    by_key: dict[tuple[str, str], Mapping[str, Any]] = {}
    by_name: dict[str, list[tuple[str, str]]] = {}
    for pod in pods:
        m = meta(pod)
        key = (m.get("namespace", ""), m.get("name", ""))
        by_key[key] = pod
        by_name.setdefault(key[1], []).append(key)
    rows: list[tuple[Any, ...]] = []
    for raw_key, text in lines_by_pod.items():
        namespace, name = _pod_key(raw_key, by_name)
        revision = _pod_revision(by_key.get((namespace, name)))
        for line in parse_push_lines(text or ""):
            rows.extend(_rows(line, name, namespace, revision))
    frame = pd.DataFrame(rows, columns=list(PUSH_COLUMNS))
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    for col in ("revision", "kind", "config_namespace", "config_name", "full", "forced", "reasons"):
        # missing stays None (not NaN): these are text/flag columns, and JSON output wants null
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame.sort_values("time", kind="stable", na_position="first").reset_index(drop=True)


def _pod_key(raw: PodKey, by_name: Mapping[str, list[tuple[str, str]]]) -> tuple[str, str]:
    if isinstance(raw, tuple):
        return raw[0], raw[1]
    if "/" in raw:
        ns, _, name = raw.partition("/")
        return ns, name
    known = by_name.get(raw, [])
    if len(known) == 1:
        return known[0]
    raise InputError(f"istiod pod {raw!r}: give it as namespace/name",
                     hint="its namespace is not known from the pods passed in"
                     if not known else "pods of that name exist in several namespaces")


def _pod_revision(pod: Mapping[str, Any] | None) -> str | None:
    if pod is None:
        return None
    rev = labels_of(pod).get(wk.REV_LABEL)
    if rev:
        return str(rev)
    for container in (pod.get("spec") or {}).get("containers") or []:
        if container.get("name") == "discovery":
            for env in container.get("env") or []:
                if env.get("name") == "REVISION" and env.get("value"):
                    return str(env["value"])
    return wk.DEFAULT_REVISION


def _rows(line: PushLine, pod: str, namespace: str, revision: str | None) -> list[tuple[Any, ...]]:
    common = (line.push_id,)
    tail = (line.quiet_ms, line.since_push_ms, line.full, line.forced, line.more_configs)
    if line.configs:
        more = f"and {line.more_configs} more configs" if line.more_configs else None
        return [(line.time, pod, namespace, revision, *common, kind, cns or None, cname, *tail, more)
                for kind, cns, cname in line.config_keys]
    reasons = " and ".join(line.reasons)
    if line.more_reasons:
        reasons += f" and {line.more_reasons} more reasons"
    return [(line.time, pod, namespace, revision, *common, None, None, None, *tail, reasons)]


# ------------------------------------------------------------------------------ who watches


@dataclass(frozen=True)
class ControlPlaneScope:
    """What one istiod revision takes in.

    Attributes:
        revision: the istiod revision (``default`` when unlabelled).
        namespace: where that istiod runs.
        configmap: the meshConfig ConfigMap read (``istio-<revision>`` or ``istio``); None when none
            was found (istiod then runs with defaults: every namespace).
        selectors: its discovery selectors (empty: every namespace).
        error: why the meshConfig could not be used, if it could not.
    """

    revision: str
    namespace: str
    configmap: str | None
    selectors: tuple[LabelSelector, ...] = ()
    error: str | None = None

    def watches(self, namespace_labels: Mapping[str, str] | None) -> bool:
        return watches_namespace(list(self.selectors), namespace_labels)

    def processes(self, config_labels: Mapping[str, str] | None) -> bool:
        """Whether this revision takes in config with these labels (``istio.io/rev`` filter)."""
        return processes_config(self.revision, config_labels,
                                self.revision == wk.DEFAULT_REVISION)

    def describe_selectors(self) -> str:
        if not self.selectors:
            return "no discoverySelectors: every namespace"
        return "discoverySelectors " + " | ".join(str(s) for s in self.selectors)


def control_plane_scopes(snapshot: Snapshot, model: MeshModel | None = None
                         ) -> dict[str, ControlPlaneScope]:
    """The scope of every istiod revision in a snapshot, by revision.

    ``model`` is the snapshot's :func:`~runbook.mesh.model.build_model`, when the caller has it.

    Revisions come from istiod Deployments (``runbook.mesh.model``); each one's meshConfig is the
    ``mesh`` key of ConfigMap ``istio-<revision>`` (``istio`` for the default revision) in its
    namespace, as Istio's charts name it. With no istiod Deployments readable, ConfigMaps named
    ``istio-*`` labelled ``istio.io/rev`` stand in.
    """
    configmaps = {(meta(cm).get("namespace", ""), meta(cm).get("name", "")): cm
                  for cm in snapshot.items(k.CONFIG_MAPS)}
    found: dict[str, tuple[str, RawObject | None]] = {}
    for istiod in (model or build_model(snapshot)).istiods:
        names = [f"istio-{istiod.revision}"]
        if istiod.revision == wk.DEFAULT_REVISION:
            names.insert(0, "istio")
        cm = next((configmaps[(istiod.namespace, n)] for n in names
                   if (istiod.namespace, n) in configmaps), None)
        found.setdefault(istiod.revision, (istiod.namespace, cm))
    if not found:
        for (ns, name), cm in configmaps.items():
            rev = labels_of(cm).get(wk.REV_LABEL)
            if rev and name == f"istio-{rev}" and "mesh" in (cm.get("data") or {}):
                found.setdefault(rev, (ns, cm))
    scopes: dict[str, ControlPlaneScope] = {}
    for rev, (ns, cm) in sorted(found.items()):
        if cm is None:
            scopes[rev] = ControlPlaneScope(rev, ns, None)
            continue
        try:
            selectors = tuple(discovery_selectors((cm.get("data") or {}).get("mesh")))
            scopes[rev] = ControlPlaneScope(rev, ns, meta(cm).get("name"), selectors)
        except InputError as exc:
            # istiod keeps its previous filter on an invalid selector; we cannot know it
            scopes[rev] = ControlPlaneScope(rev, ns, meta(cm).get("name"), (), exc.message)
    return scopes


def namespace_labels(snapshot: Snapshot, namespace: str) -> dict[str, str] | None:
    """Labels of a namespace in the snapshot; None when it is not there."""
    for ns in snapshot.items(k.NAMESPACES):
        if meta(ns).get("name") == namespace:
            return dict(labels_of(ns))
    return None


def watching_revisions(snapshot: Snapshot, namespace: str) -> dict[str, bool]:
    """Which istiod revisions watch ``namespace``: revision → True/False.

    Evaluated from each revision's meshConfig ``discoverySelectors`` with
    ``runbook.meshconfig.watches_namespace`` (no selectors: every namespace). A namespace missing
    from the snapshot is treated as unlabelled.
    """
    labels = namespace_labels(snapshot, namespace) or {}
    return {rev: scope.watches(labels) for rev, scope in control_plane_scopes(snapshot).items()}


# ------------------------------------------------------------------------------ verdict


@dataclass
class PushStatus:
    """Whether the control planes that should have pushed an object logged it.

    istiod names only the first config of a debounced push (``… for config Gateway/ns/a and 1
    more configs``), so a push can carry an object without naming it. Debouncing merges *every*
    event received since the previous push, so the first full push an istiod logs after the
    object changed (whose last merged change is not older than the object's change) carried it:
    that is reported as ``included`` — evidence, though not the object's own name in the log.

    Attributes:
        kind, namespace, name: the object (``VirtualService``, ``l7-traffic-beta``, ``nginx-sample``).
        expected: revisions that watch the namespace (from ``watchers``).
        logged: revision → time of its first push line naming the object.
        pods: revision → istiod pods that logged it.
        included: revision → the push line (unnamed) that carried the object (see above).
        missing: expected revisions with neither a named nor an including push.
        possibly: missing revisions that logged a multi-config push in the window.
        unexpected: revisions that logged it although ``watchers`` says they do not watch.
        not_watching: revisions that do not watch the namespace (not expected to log it).
        unreadable: ``namespace/pod`` → why that istiod's log could not be read (then a missing
            push may only be unseen).
    """

    kind: str
    namespace: str
    name: str
    expected: list[str]
    logged: dict[str, datetime] = field(default_factory=dict)
    pods: dict[str, list[str]] = field(default_factory=dict)
    included: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    possibly: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    not_watching: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)

    @property
    def confirmed(self) -> bool:
        """Every revision that watches the namespace pushed it (and at least one does)."""
        return bool(self.expected) and not self.missing

    @property
    def summary(self) -> str:
        """One line, e.g. ``Gateway l7-traffic-alpha/bookinfo-gateway: pushed by 1-19-3 …``."""
        what = f"{self.kind} {self.namespace}/{self.name}"
        parts = []
        if self.logged:
            parts.append("pushed by " + ", ".join(
                f"{rev} ({', '.join(self.pods.get(rev, []))} at {t:%H:%M:%S})"
                for rev, t in sorted(self.logged.items())))
        if self.included:
            parts.append("carried unnamed by " + ", ".join(
                f"{rev} ({line})" for rev, line in sorted(self.included.items())))
        if self.missing:
            parts.append("not (yet) logged by " + ", ".join(self.missing)
                         + (f" (a multi-config push of {', '.join(self.possibly)} may include it)"
                            if self.possibly else ""))
        if self.not_watching:
            parts.append("not watched by " + ", ".join(self.not_watching))
        if not self.expected:
            parts.append("no istiod revision watches this namespace")
        if self.unreadable:
            parts.append("logs not readable: " + ", ".join(
                f"{pod} ({why})" for pod, why in sorted(self.unreadable.items()))
                + " — check access to pods/log and retry")
        return f"{what}: " + "; ".join(parts) if parts else f"{what}: no push seen"


def push_status(frame: pd.DataFrame, obj_kind: str, namespace: str, name: str,
                watchers: Mapping[str, bool], *, since: datetime | None = None) -> PushStatus:
    """Compare the pushes in ``frame`` for one object with the revisions that should push it.

    Args:
        frame: from :func:`pushes_frame`.
        obj_kind, namespace, name: the object, e.g. ``"Gateway"``, ``"l7-traffic-alpha"``,
            ``"bookinfo-gateway"``.
        watchers: revision → whether it watches the namespace and takes in the object
            (:func:`watching_revisions`, narrowed by ``istio.io/rev`` filtering).
        since: when the object last changed; pushes before it are ignored, and the first full
            push after it counts as carrying it (see :class:`PushStatus`).
    """
    import pandas as pd
    rows = frame
    if since is not None:
        rows = rows[rows["time"] >= pd.Timestamp(since)]
    mine = rows[(rows["kind"] == obj_kind) & (rows["config_namespace"] == namespace)
                & (rows["config_name"] == name)]
    status = PushStatus(obj_kind, namespace, name,
                        expected=sorted(r for r, w in watchers.items() if w),
                        not_watching=sorted(r for r, w in watchers.items() if not w))
    for rev, group in mine.groupby("revision", sort=True, dropna=False):
        rev_name = str(rev)
        status.logged[rev_name] = group["time"].min().to_pydatetime()
        status.pods[rev_name] = sorted(set(group["istiod_pod"]))
    if since is not None:
        for rev in status.expected:
            if rev in status.logged:
                continue
            carrier = _first_full_push_after(rows[rows["revision"] == rev], since)
            if carrier is not None:
                status.included[rev] = carrier
    status.missing = [r for r in status.expected
                      if r not in status.logged and r not in status.included]
    multi = rows[rows["more_configs"] > 0]
    status.possibly = [r for r in status.missing if (multi["revision"] == r).any()]
    status.unexpected = sorted(r for r in status.logged if not watchers.get(r, False))
    return status


def _first_full_push_after(rows: pd.DataFrame, since: datetime) -> str | None:
    """The first full push whose last merged change is not older than ``since``, described."""
    import pandas as pd
    for _, row in rows.sort_values("time").iterrows():
        last_change = row["time"] - pd.Timedelta(milliseconds=float(row["ms_since_change"] or 0))
        # an incremental (full=false) push carries endpoints only; forced= lines do not say
        incremental = row["full"] is not None and not bool(row["full"])
        if last_change >= pd.Timestamp(since) and not incremental:
            first = f"{row['kind']}/{row['config_namespace']}/{row['config_name']}"
            more = int(row["more_configs"] or 0)
            tail = f" and {more} more configs" if more else ""
            return (f"push [{row['push_id']}] for {first}{tail} by {row['istiod_pod']} "
                    f"at {row['time']:%H:%M:%S}")
    return None


#: columns of :func:`watching_table`
WATCHING_COLUMNS: tuple[str, ...] = (
    "revision", "istiod_namespace", "configmap", "discovery_selectors", "watches", "ignores")


def watching_table(snapshot: Snapshot, namespaces: Sequence[str] | None = None) -> pd.DataFrame:
    """Which istiod revision takes in which namespace — meshConfig ``discoverySelectors``.

    Args:
        namespaces: the namespaces to judge (default: every namespace in the snapshot).

    Returns:
        One row per revision: ``revision``, ``istiod_namespace``, ``configmap`` (the meshConfig
        read), ``discovery_selectors`` (as text), ``watches`` and ``ignores`` (of ``namespaces``).
    """
    import pandas as pd
    names = list(namespaces) if namespaces is not None else sorted(
        str(meta(n).get("name")) for n in snapshot.items(k.NAMESPACES))
    rows = []
    for rev, scope in control_plane_scopes(snapshot).items():
        watched = [n for n in names if scope.watches(namespace_labels(snapshot, n) or {})]
        rows.append((rev, scope.namespace, scope.configmap, scope.describe_selectors(), watched,
                     [n for n in names if n not in watched]))
    return pd.DataFrame(rows, columns=pd.Index(WATCHING_COLUMNS))


__all__ = [
    "PUSH_COLUMNS",
    "WATCHING_COLUMNS",
    "ControlPlaneScope",
    "PushStatus",
    "control_plane_scopes",
    "namespace_labels",
    "push_status",
    "pushes_frame",
    "watching_revisions",
    "watching_table",
]
