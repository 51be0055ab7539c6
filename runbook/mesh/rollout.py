"""Waiting for Deployments to come up, and the pods table that proves which revision injected them.

:func:`wait_for_rollout` polls (cluster-wide list calls on one namespace, never one call per
object) with a progress bar (``tqdm.auto``: a widget in Jupyter, text elsewhere) and a timeout.
It always ends with a table of the pods — READY as ``2/2``, status, and the Istio revision that
injected each pod (``sidecar.istio.io/status``) — and names every stuck Deployment with its latest
warning event, pointing at the diagnosis notebook.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from runbook import kinds as k
from runbook import wellknown as wk
from runbook.errors import InputError, NotFound
from runbook.kube import Cluster
from runbook.safeload import load_json

POD_COLUMNS = ["namespace", "pod", "deployment", "ready", "status", "restarts", "revision",
               "proxy_image", "node_ip", "pod_ip"]
DEPLOYMENT_COLUMNS = ["deployment", "desired", "updated", "ready", "available", "complete",
                      "reason"]


def injected_revision(pod: Mapping[str, Any]) -> str | None:
    """The revision of the istiod that injected the pod (``sidecar.istio.io/status``), if any."""
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(wk.SIDECAR_STATUS_ANNOTATION)
    if not raw:
        return None
    try:
        status = load_json(raw, wk.SIDECAR_STATUS_ANNOTATION)
    except ValueError:
        return None
    rev = status.get("revision") if isinstance(status, dict) else None
    return str(rev) if rev else None


def _pod_status(pod: Mapping[str, Any]) -> str:
    """kubectl's STATUS column, simplified: waiting reasons first, then the phase."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    status = pod.get("status") or {}
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            return str(waiting["reason"])
    return str(status.get("phase") or "Pending")


def pods_table(pods: Sequence[Mapping[str, Any]],
               replicasets: Sequence[Mapping[str, Any]] = ()) -> pd.DataFrame:
    """One row per pod: ``namespace``, ``pod``, ``deployment`` (through its ReplicaSet), ``ready``
    (``2/2``), ``status``, ``restarts``, ``revision`` (injecting istiod revision, None when not
    injected), ``proxy_image`` (the istio-proxy image), ``node_ip``, ``pod_ip``."""
    rs_owner = {rs["metadata"]["name"]: _owner(rs, "Deployment") for rs in replicasets}
    rows = []
    for pod in pods:
        meta: Mapping[str, Any] = pod.get("metadata") or {}
        spec: Mapping[str, Any] = pod.get("spec") or {}
        status: Mapping[str, Any] = pod.get("status") or {}
        rs = _owner(pod, "ReplicaSet")
        statuses = status.get("containerStatuses") or []
        containers = spec.get("containers") or []
        ready = sum(1 for cs in statuses if cs.get("ready"))
        proxy = next((c.get("image") for c in containers if c.get("name") == "istio-proxy"), None)
        rows.append({
            "namespace": meta.get("namespace"), "pod": meta.get("name"),
            "deployment": rs_owner.get(rs) if rs else None,
            "ready": f"{ready}/{len(containers)}", "status": _pod_status(pod),
            "restarts": sum(int(cs.get("restartCount") or 0) for cs in statuses),
            "revision": injected_revision(pod), "proxy_image": proxy,
            "node_ip": status.get("hostIP"), "pod_ip": status.get("podIP"),
        })
    return pd.DataFrame(rows, columns=POD_COLUMNS).sort_values(["namespace", "pod"],
                                                                ignore_index=True)


def _owner(obj: Mapping[str, Any], kind: str) -> str | None:
    """Name of the owner of ``kind`` (ownerReferences), if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == kind:
            return str(ref.get("name"))
    return None


def _pods_add_up(pods: Sequence[Mapping[str, Any]], replicasets: Sequence[Mapping[str, Any]],
                 deployments: set[str], desired: int) -> bool:
    """Whether no pod is terminating and the deployments' live pods are exactly ``desired``."""
    if any(p["metadata"].get("deletionTimestamp") for p in pods):
        return False
    owned = {str(rs["metadata"]["name"]) for rs in replicasets
             if _owner(rs, "Deployment") in deployments}
    return sum(1 for p in pods if _owner(p, "ReplicaSet") in owned) == desired


def deployment_progress(deployment: Mapping[str, Any]) -> tuple[int, int, bool]:
    """(desired, ready-and-updated, complete) as ``kubectl rollout status`` judges it."""
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    meta = deployment.get("metadata") or {}
    desired = int(spec.get("replicas", 1) or 0)
    updated = int(status.get("updatedReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    replicas = int(status.get("replicas") or 0)
    observed = int(status.get("observedGeneration") or 0) >= int(meta.get("generation") or 0)
    complete = observed and updated == desired and replicas == desired and available == desired
    return desired, min(updated, available), complete


def _latest_warning(events: Sequence[Mapping[str, Any]], names: set[str]) -> str:
    mine = [e for e in events if (e.get("involvedObject") or {}).get("name") in names
            and e.get("type") == "Warning"]
    if not mine:
        return ""
    last = max(mine, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    count = last.get("count") or 1
    return f"{last.get('reason')} (x{count}): {last.get('message')}"


@dataclass
class Rollout:
    """The outcome of :func:`wait_for_rollout`.

    Attributes:
        namespace: where.
        ok: every Deployment completed its rollout in time.
        seconds: how long the wait took.
        deployments: one row per Deployment (see ``DEPLOYMENT_COLUMNS``).
        pods: the pods table (see :func:`pods_table`).
        stuck: one line per Deployment that did not complete, with its latest warning event.
        retried: pods (names) owned by a ReplicaSet that existed before the fix
            (``replicasets_before``): the ReplicaSet controller's back-off retry made them, no
            recreate did. Empty when no such set was given.
        checked_origin: a set of ReplicaSets from before the fix was given, so the pods' origin
            was checked.
        refused: the wait ended before its timeout because every unfinished Deployment reported
            ``ReplicaFailure`` (``stop_when_refused``).
    """

    namespace: str
    ok: bool
    seconds: float
    deployments: pd.DataFrame
    pods: pd.DataFrame
    stuck: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    checked_origin: bool = False
    refused: bool = False

    @property
    def recreated(self) -> bool:
        """Complete, and (when checked) every pod comes from a ReplicaSet created after the fix."""
        return self.ok and not self.retried

    def origin(self) -> str | None:
        """One line: where the pods come from (None when their origin was not checked)."""
        if not self.checked_origin or self.pods.empty:
            return None
        if not self.retried:
            return ("every pod comes from a ReplicaSet created after the fix: the workloads "
                    "were recreated")
        shown = ", ".join(self.retried[:3]) + (" …" if len(self.retried) > 3 else "")
        return (f"{len(self.retried)} pod(s) come from ReplicaSets that existed before the fix "
                f"({shown}): the ReplicaSet controller's back-off retry made them, not a recreate "
                f"— recreate the workloads (kubectl rollout restart deployment -n "
                f"{self.namespace}) so that every pod goes through admission now")

    def summary(self) -> str:
        if self.deployments.empty:
            return f"no Deployments in {self.namespace}: nothing to wait for"
        if self.ok:
            revs = sorted({str(r) for r in self.pods["revision"].dropna()})
            injected = f"; sidecars from revision {', '.join(revs)}" if revs else "; no sidecars"
            retried = (f" — not recreated: {len(self.retried)} pod(s) from ReplicaSets older "
                       "than the fix" if self.retried else "")
            return (f"{len(self.deployments)} deployment(s) in {self.namespace} ready after "
                    f"{self.seconds:.1f}s{injected}{retried}")
        refused = " (their pod creations are refused: ReplicaFailure)" if self.refused else ""
        return (f"{len(self.stuck)} deployment(s) in {self.namespace} not ready after "
                f"{self.seconds:.0f}s{refused}:\n" + "\n".join(f"  - {s}" for s in self.stuck)
                + "\nSee notebooks/02-diagnose-pods-not-created.ipynb (runbook diagnose -n "
                + f"{self.namespace}) for why.")


def replicaset_uids(cluster: Cluster, namespace: str) -> frozenset[str]:
    """The uids of the namespace's ReplicaSets now: read when a fix is applied, so that a later
    :func:`wait_for_rollout` can tell recreated pods from pods the old ReplicaSets retried."""
    return frozenset(str(rs["metadata"].get("uid")) for rs in cluster.list(k.REPLICA_SETS, namespace))


def retried_pods(pods: Sequence[Mapping[str, Any]], replicasets_before: Collection[str]) -> list[str]:
    """Names of the pods whose owning ReplicaSet (by uid) is one of ``replicasets_before``."""
    out = []
    for pod in pods:
        refs = (pod.get("metadata") or {}).get("ownerReferences") or []
        if any(r.get("kind") == "ReplicaSet" and r.get("uid") in replicasets_before for r in refs):
            out.append(str(pod["metadata"]["name"]))
    return sorted(out)


def wait_for_rollout(cluster: Cluster, namespace: str, *, deployments: Sequence[str] | None = None,
                     timeout: float = 120.0, poll: float = 0.5, progress: bool = True,
                     replicasets_before: Collection[str] | None = None,
                     stop_when_refused: bool = False) -> Rollout:
    """Wait until the namespace's Deployments (or the named ones) have completed their rollout
    and the pods they replaced (Terminating) are gone; the pods table holds the others.

    Never raises on a timeout: the result says what is stuck and why (``.ok`` is False).

    Args:
        replicasets_before: uids of the ReplicaSets that existed when the fix was applied
            (:func:`replicaset_uids`). Their pods are listed in ``Rollout.retried``: a Deployment
            can complete on pods its old ReplicaSet retried with back-off, without any recreate.
        stop_when_refused: for a rollout that is expected to fail: end the wait at the first
            poll after the first look (so the controller has been seen retrying, and a condition
            left from before is not taken for the present) at which every unfinished Deployment
            reports ``ReplicaFailure`` (the API server refuses its pods, e.g. a failing injection
            webhook). Waiting on would only watch the back-off retries be refused the same way.

    Raises:
        InputError: the namespace does not exist, or a named Deployment is not in it.
    """
    try:
        cluster.get(k.NAMESPACES, namespace)
    except NotFound:
        raise InputError(f"namespace {namespace!r} does not exist") from None
    bar = _progress_bar(progress, namespace)
    start = time.monotonic()
    looks = 0
    try:
        while True:
            deps = cluster.list(k.DEPLOYMENTS, namespace)
            if deployments:
                missing = sorted(set(deployments) - {d["metadata"]["name"] for d in deps})
                if missing:
                    raise InputError(f"no Deployment {', '.join(missing)} in {namespace}")
                deps = [d for d in deps if d["metadata"]["name"] in deployments]
            progress_rows = [deployment_progress(d) for d in deps]
            total = sum(p[0] for p in progress_rows)
            done = sum(min(p[1], p[0]) for p in progress_rows)
            if bar is not None:
                bar.total = max(total, 1)
                bar.n = done
                bar.refresh()
            # done once the replaced pods are gone too: until then they still serve and
            # count against the namespace (a real kubelet takes seconds to stop a pod). An old
            # ReplicaSet's back-off retry can also create a pod just before it is scaled down,
            # which the Deployment's status does not count yet: the pods themselves must add up.
            # The lists read for that check are the ones the pods table is made of, so a poll
            # reads each at most once.
            pods: list[dict[str, Any]] | None = None
            replicasets: list[dict[str, Any]] | None = None
            complete = all(p[2] for p in progress_rows)
            if complete:
                pods = cluster.list(k.PODS, namespace)
                replicasets = cluster.list(k.REPLICA_SETS, namespace)
                complete = _pods_add_up(pods, replicasets, {d["metadata"]["name"] for d in deps},
                                        total)
            elapsed = time.monotonic() - start
            refused = stop_when_refused and looks > 0 and not complete and all(
                p[2] or _replica_failure(d) for d, p in zip(deps, progress_rows, strict=True))
            if complete or refused or elapsed >= timeout:
                break
            looks += 1
            time.sleep(poll)
    finally:
        if bar is not None:
            bar.close()
    if pods is None or replicasets is None:
        pods = cluster.list(k.PODS, namespace)
        replicasets = cluster.list(k.REPLICA_SETS, namespace)
    pods = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    rows, stuck = [], []
    events: list[dict[str, Any]] | None = None
    for dep, (desired, ready, done) in zip(deps, progress_rows, strict=True):
        name = dep["metadata"]["name"]
        status = dep.get("status") or {}
        reason = ""
        if not done:
            if events is None:
                events = cluster.list(k.EVENTS, namespace)
            owned = {rs["metadata"]["name"] for rs in replicasets if _owner(rs, "Deployment") == name}
            reason = _latest_warning(events, owned | {name}) or _condition_reason(dep)
            stuck.append(f"{name}: {ready}/{desired} ready — {reason or 'no event yet'}")
        rows.append({"deployment": name, "desired": desired,
                     "updated": int(status.get("updatedReplicas") or 0),
                     "ready": int(status.get("readyReplicas") or 0),
                     "available": int(status.get("availableReplicas") or 0),
                     "complete": done, "reason": reason})
    retried = retried_pods(pods, replicasets_before) if replicasets_before is not None else []
    return Rollout(namespace, not stuck, time.monotonic() - start,
                   pd.DataFrame(rows, columns=DEPLOYMENT_COLUMNS), pods_table(pods, replicasets), stuck,
                   retried, replicasets_before is not None, refused=bool(stuck) and refused)


def _replica_failure(dep: Mapping[str, Any]) -> bool:
    """Whether the Deployment reports ``ReplicaFailure`` (its ReplicaSet's pods are refused)."""
    return any(c.get("type") == "ReplicaFailure" and c.get("status") == "True"
               for c in (dep.get("status") or {}).get("conditions") or [])


def _condition_reason(dep: Mapping[str, Any]) -> str:
    for cond in (dep.get("status") or {}).get("conditions") or []:
        if cond.get("status") == "False" or cond.get("type") == "ReplicaFailure":
            return f"{cond.get('type')}: {cond.get('reason')}: {cond.get('message')}"
    return ""


def _progress_bar(enabled: bool, namespace: str) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=1, desc=f"rollout {namespace}", unit="pod", leave=True)
