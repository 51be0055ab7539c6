"""Deployments, ReplicaSets and the events that say why pods are not created.

``kubectl get deploy`` showed ``0/1`` and ``kubectl describe rs`` the ``FailedCreate`` event in the
field report; here every ReplicaSet event is a row, with the admission error parsed into columns
(webhook, URL, target Service and namespace, error kind) by
:func:`runbook.formats.admission.parse_admission_error`. Many events share one message: each
distinct message is parsed once.

A ReplicaSet *is failing* when it has fewer pods than it wants and either a ``ReplicaFailure``
condition or a ``FailedCreate`` event says why; both carry the apiserver's message (the condition
survives the events' one-hour TTL).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runbook import kinds as k
from runbook.formats.admission import AdmissionError, parse_admission_error
from runbook.gcpause import paused_gc
from runbook.mesh.model import MeshModel, Source, as_model, controller_owner

if TYPE_CHECKING:
    import pandas as pd  # imported where a table is built (runbook.mesh's docstring says why)

#: columns of :func:`workloads`
WORKLOAD_COLUMNS: tuple[str, ...] = (
    "namespace", "kind", "name", "deployment", "desired", "current", "ready", "available",
    "conditions", "problem", "sidecar_revisions",
)

#: columns of :func:`replicaset_events`
REPLICASET_EVENT_COLUMNS: tuple[str, ...] = (
    "namespace", "replicaset", "deployment", "reason", "type", "count", "first_seen", "last_seen",
    "message", "webhook", "url", "target_service", "target_namespace", "error_kind",
)


def _int(value: Any, default: int = 0) -> int:
    if type(value) is int:  # what the API sends: no conversion to try
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _conditions(status: Mapping[str, Any]) -> tuple[str, str | None]:
    """``Available=False(MinimumReplicasUnavailable), …`` and the message of a failing one.

    ``ReplicaFailure`` (it carries the apiserver's error) wins over ``Progressing``/``Available``
    False (which only say that replicas are missing).
    """
    conditions = status.get("conditions")
    if not conditions:
        return "", None
    parts: list[str] = []
    problems: dict[str, str] = {}
    for c in conditions:
        ctype, cstat, reason = c.get("type", ""), c.get("status", ""), c.get("reason")
        parts.append(f"{ctype}={cstat}({reason})" if reason else f"{ctype}={cstat}")
        # most conditions are healthy: one comparison of the status tells them apart
        if (cstat == "True" and ctype != "ReplicaFailure") or cstat not in ("True", "False"):
            continue
        bad = ctype == "ReplicaFailure" if cstat == "True" else ctype in ("Available", "Progressing")
        if bad and c.get("message") and ctype not in problems:
            problems[ctype] = " ".join(str(c["message"]).split())
    text = ", ".join(parts)
    if problems:
        for ctype in ("ReplicaFailure", "Progressing", "Available"):
            if ctype in problems:
                return text, problems[ctype]
    return text, None


@paused_gc
def workloads(source: Source) -> pd.DataFrame:
    """One row per Deployment and per ReplicaSet.

    Columns:
        namespace, kind (``Deployment`` | ``ReplicaSet``), name.
        deployment: the owning Deployment (the Deployment itself on its own row).
        desired, current, ready, available: ``spec.replicas`` and the status counts.
        conditions: ``Type=Status(Reason)`` of each condition.
        problem: the message of a failing condition (``ReplicaFailure`` True, ``Available`` or
            ``Progressing`` False) — for pods blocked by a webhook, the apiserver's error.
        sidecar_revisions: revisions (``sidecar.istio.io/status``) of the running pods.
    """
    import pandas as pd
    model = as_model(source)
    pod_revs: dict[tuple[str, str], set[str]] = defaultdict(set)
    for pods in model.pods_by_ns.values():
        for p in pods:
            if p.sidecar_revision:
                kind, owner = p.owner
                if kind == "ReplicaSet" and owner:
                    pod_revs[(p.namespace, owner)].add(p.sidecar_revision)
    owners = model.replicaset_deployments()
    rs_of_dep: dict[tuple[str, str], set[str]] = defaultdict(set)
    for (ns, name), dep in owners.items():
        if dep and (ns, name) in pod_revs:
            rs_of_dep[(ns, dep)].update(pod_revs[(ns, name)])
    # column by column, one comprehension each: 20,000 rows are 220,000 cells, and a loop that
    # builds row tuples (or calls a function per cell) was most of this table's time
    deployments = [d for items in model.deployments_by_ns.values() for d in items]
    objs = deployments + [rs for items in model.replicasets_by_ns.values() for rs in items]
    metas = [o.get("metadata") or {} for o in objs]
    namespaces = [m.get("namespace", "") for m in metas]
    names = [m.get("name", "") for m in metas]
    split = len(deployments)
    rs_keys = list(zip(namespaces[split:], names[split:], strict=True))
    specs = [o.get("spec") or {} for o in objs]
    statuses = [o.get("status") or {} for o in objs]
    conditions = [_conditions(st) if st.get("conditions") else ("", None) for st in statuses]
    revisions = ([rs_of_dep.get(key) for key in zip(namespaces[:split], names[:split], strict=True)]
                 + [pod_revs.get(key) for key in rs_keys])
    columns: dict[str, list[Any]] = {
        "namespace": namespaces,
        "kind": ["Deployment"] * split + ["ReplicaSet"] * (len(objs) - split),
        "name": names,
        "deployment": names[:split] + [owners.get(key) for key in rs_keys],
        "desired": [_int(sp.get("replicas"), 1) for sp in specs],
        "current": [_int(st.get("replicas")) for st in statuses],
        "ready": [_int(st.get("readyReplicas")) for st in statuses],
        "available": [_int(st.get("availableReplicas")) for st in statuses],
        "conditions": [c[0] for c in conditions],
        "problem": [c[1] for c in conditions],
        "sidecar_revisions": [sorted(r) if r else [] for r in revisions],
    }
    return pd.DataFrame(columns, columns=list(WORKLOAD_COLUMNS))


@paused_gc
def replicaset_events(source: Source) -> pd.DataFrame:
    """One row per event about a ReplicaSet (both event APIs), admission errors parsed.

    Columns:
        namespace, replicaset: the ReplicaSet the event is about.
        deployment: its owning Deployment (None when the ReplicaSet is gone or not owned).
        reason, type, count: ``FailedCreate``, ``Warning``, how often it was seen.
        first_seen, last_seen: UTC timestamps (``firstTimestamp``/``eventTime``,
            ``lastTimestamp``/``series.lastObservedTime``).
        message: the event message.
        webhook, url, target_service, target_namespace, error_kind: parsed from an admission
            error (None otherwise); error_kind is one of
            :data:`runbook.statuses.ADMISSION_ERROR_KINDS`.
    """
    import pandas as pd
    model = as_model(source)
    owners = model.replicaset_deployments()
    evs = [ev for ev in model.events() if ev.kind == "ReplicaSet"]
    parsed: dict[str, AdmissionError | None] = {}
    for msg in {ev.message for ev in evs}:
        parsed[msg] = parse_admission_error(msg)
    errs = [parsed[ev.message] for ev in evs]
    # column by column: one comprehension per column is much cheaper than a loop of appends
    df = pd.DataFrame({
        "namespace": [ev.namespace for ev in evs],
        "replicaset": [ev.name for ev in evs],
        "deployment": [owners.get((ev.namespace, ev.name)) for ev in evs],
        "reason": [ev.reason for ev in evs],
        "type": [ev.type for ev in evs],
        "count": pd.array([ev.count for ev in evs], dtype="int64"),
        "first_seen": pd.to_datetime([ev.first_seen or "" for ev in evs], utc=True, format="ISO8601",
                                     errors="coerce"),
        "last_seen": pd.to_datetime([ev.last_seen or "" for ev in evs], utc=True, format="ISO8601",
                                    errors="coerce"),
        "message": [ev.message for ev in evs],
        "webhook": [e.webhook if e else None for e in errs],
        "url": [e.url if e else None for e in errs],
        "target_service": [e.service if e else None for e in errs],
        "target_namespace": [e.service_namespace if e else None for e in errs],
        "error_kind": [e.error_kind if e else None for e in errs],
    }, columns=list(REPLICASET_EVENT_COLUMNS))
    return df


# ----------------------------------------------------------------------- failing ReplicaSets


#: a failing ReplicaSet's error until a condition or event names one (immutable: shared)
_NO_ERROR = AdmissionError(webhook="", error_kind="", cause="")


@dataclass
class FailingReplicaSet:
    """A ReplicaSet that cannot create its pods because an admission webhook call fails."""

    namespace: str
    name: str
    deployment: str | None
    desired: int
    current: int
    error: AdmissionError
    count: int = 0
    last_seen: str | None = None
    exists: bool = True
    messages: list[str] = field(default_factory=list)


def failing_replicasets(model: MeshModel) -> list[FailingReplicaSet]:
    """ReplicaSets short of pods whose condition or ``FailedCreate`` events name a webhook error.

    A ReplicaSet that is no longer in the snapshot (deleted, as the field report did) is skipped:
    its events outlive it by up to an hour and describe nothing that still fails. When
    ReplicaSets could not be read, the events alone are used (``exists`` False).
    """
    have_rs = model.has(k.REPLICA_SETS)
    found: dict[tuple[str, str], FailingReplicaSet] = {}
    cache: dict[str, AdmissionError | None] = {}
    one_line: dict[str, str] = {}  # many events share a message: each is normalised once

    def parse(msg: str) -> AdmissionError | None:
        if msg not in cache:
            cache[msg] = parse_admission_error(msg)
        return cache[msg]

    if have_rs:
        for ns, items in model.replicasets_by_ns.items():
            for rs in items:
                spec, status = rs.get("spec") or {}, rs.get("status") or {}
                desired, current = _int(spec.get("replicas"), 1), _int(status.get("replicas"))
                if current >= desired:
                    continue
                name = (rs.get("metadata") or {}).get("name", "")
                # what replicaset_deployments() maps it to, for the few short of pods only
                owner = controller_owner(rs, "Deployment")
                for c in status.get("conditions") or []:
                    if c.get("type") == "ReplicaFailure" and c.get("status") == "True":
                        err = parse(str(c.get("message") or ""))
                        if err:
                            found[(ns, name)] = FailingReplicaSet(
                                ns, name, owner, desired, current, err, messages=[err.message])
                # keep the ReplicaSet for events even without a condition
                if (ns, name) not in found:
                    found[(ns, name)] = FailingReplicaSet(ns, name, owner, desired, current,
                                                          _NO_ERROR)
    for ev in model.events_with_reason("FailedCreate"):
        if ev.kind != "ReplicaSet":
            continue
        key = (ev.namespace, ev.name)
        rec = found.get(key)
        if rec is None:
            if have_rs:
                continue
            rec = found[key] = FailingReplicaSet(ev.namespace, ev.name, None, 0, 0, _NO_ERROR,
                                                  exists=False)
        err = parse(ev.message)
        if err is None:
            continue
        if not rec.error.webhook or (ev.last_seen or "") >= (rec.last_seen or ""):
            rec.error = err
        rec.count += ev.count
        if ev.last_seen and ev.last_seen > (rec.last_seen or ""):
            rec.last_seen = ev.last_seen
        if ev.message not in rec.messages:
            text = one_line.get(ev.message)
            if text is None:
                text = one_line[ev.message] = " ".join(ev.message.split())
            rec.messages.append(text)
    return [r for r in found.values() if r.error.webhook]
