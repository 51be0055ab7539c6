"""The ReplicaSet controller (k8s.io/kubernetes ``pkg/controller/replicaset``), emulated.

A sync compares the active pods a ReplicaSet controls (controllerRef by uid; not finished, not
being deleted) with ``spec.replicas``:

* too few → create the missing ones (at most 500 per sync, in slow-start batches of 1, 2, 4 …
  that stop at the first failed batch) from the template, ``generateName: <rs>-``, through the
  API's create path — so defaulting, **admission webhooks** and validation decide, exactly as for
  the real controller. Each success records ``SuccessfulCreate`` ``Created pod: <name>``; each
  failure ``FailedCreate`` ``Error creating: <the API error>`` (``RealPodControl``);
* too many → delete the surplus, least useful first (unscheduled, pending, not ready, newest),
  recording ``SuccessfulDelete`` ``Deleted pod: <name>``.

Then the status is written as ``calculateStatus`` does: ``replicas``, ``fullyLabeledReplicas``,
``readyReplicas``, ``availableReplicas``, ``observedGeneration`` and the ``ReplicaFailure``
condition (``True``/``FailedCreate`` with the create error as message while creations fail,
removed after a successful sync).

A failed sync is retried with the work queue's per-item exponential backoff,
``5 ms · 2^(failures-1)`` capped at 1000 s (``DefaultControllerRateLimiter``'s item limiter), on
the sandbox clock — so 16 failures span 5 ms · (2^15 − 1) ≈ 163.8 s and ``kubectl describe rs``
shows ``(x16 over …)`` after about 4½ minutes, like the field report. A successful sync forgets
the failures. (The real queue also re-syncs on every watch event of the ReplicaSet; here only
spec changes, pod changes and the backoff timer trigger syncs, which is what keeps the
aggregated count exactly on the backoff schedule.)
"""

from __future__ import annotations

import dataclasses

from runbook.formats.admission import failed_create
from runbook.kinds import PODS, REPLICA_SETS
from runbook.sandbox.clock import Timer
from runbook.sandbox.controllers.base import (
    ControllerContext,
    condition,
    controller_context,
    controller_of,
    controller_ref,
    owned,
    pod_is_active,
    pod_is_available,
    pod_is_terminating,
    pod_ready_since,
)
from runbook.sandbox.controllers.events import NORMAL, WARNING
from runbook.sandbox.registry.status import ApiError
from runbook.sandbox.storage.store import Change, Obj, copy_object
from runbook.timestamps import format_timestamp

COMPONENT = "replicaset-controller"
BURST_REPLICAS = 500
BACKOFF_BASE = 0.005
BACKOFF_CAP = 1000.0


def backoff_delay(failures: int) -> float:
    """Delay before retry number ``failures`` (1-based): 5 ms · 2^(failures − 1), at most 1000 s."""
    return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, failures - 1))


def pod_from_template(rs: Obj) -> Obj:
    """``controller.GetPodFromTemplate``: the pod a ReplicaSet asks the API to create."""
    template = rs["spec"].get("template") or {}
    tmeta = template.get("metadata") or {}
    meta: Obj = {"generateName": f"{rs['metadata']['name']}-",
                 "namespace": rs["metadata"]["namespace"],
                 "labels": dict(tmeta.get("labels") or {}),
                 "ownerReferences": [controller_ref(REPLICA_SETS, rs)]}
    if tmeta.get("annotations"):
        meta["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        meta["finalizers"] = list(tmeta["finalizers"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": copy_object(template.get("spec") or {})}


def replicaset_status(rs: Obj, pods: list[Obj], now: float, error: str | None,
                      diff: int, terminating: int = 0) -> Obj:
    """``calculateStatus`` of the real controller for these active pods.

    Args:
        error: the message of the create/delete error of this sync (None when it succeeded).
        diff: active pods minus desired (the sign names FailedCreate/FailedDelete).
        terminating: its pods being deleted and not finished (``terminatingReplicas``, written
            even when 0: DeploymentReplicaSetTerminatingReplicas, on since 1.35).
    """
    template_labels = ((rs["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = int(rs["spec"].get("minReadySeconds") or 0)
    fully = ready = available = 0
    for pod in pods:
        labels = pod["metadata"].get("labels") or {}
        if all(labels.get(k) == v for k, v in template_labels.items()):
            fully += 1
        if pod_ready_since(pod) is not None:
            ready += 1
            if pod_is_available(pod, min_ready, now):
                available += 1
    status: Obj = {"replicas": len(pods)}
    if fully:
        status["fullyLabeledReplicas"] = fully
    if ready:
        status["readyReplicas"] = ready
    if available:
        status["availableReplicas"] = available
    status["observedGeneration"] = rs["metadata"].get("generation", 1)
    status["terminatingReplicas"] = terminating
    conditions = [c for c in (rs.get("status") or {}).get("conditions") or ()
                  if c.get("type") != "ReplicaFailure"]
    failure = condition(rs, "ReplicaFailure")
    if error is not None:
        if failure is None:
            reason = "FailedCreate" if diff < 0 else "FailedDelete"
            failure = {"type": "ReplicaFailure", "status": "True", "reason": reason,
                       "message": error, "lastTransitionTime": _timestamp(now)}
        conditions.append(failure)
    if conditions:
        status["conditions"] = conditions
    return status


def _timestamp(when: float) -> str:
    from datetime import UTC, datetime

    return format_timestamp(datetime.fromtimestamp(when, tz=UTC))


class ReplicaSetController:
    """Keeps each ReplicaSet's pods at ``spec.replicas`` (see the module docstring)."""

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.api = controller_context(COMPONENT)
        # pods are created without a field manager: no managedFields on them (a listed
        # difference) — tracking them costs ~40 % of a pod's creation, and nobody applies pods
        self.pod_api = dataclasses.replace(self.api, field_manager=None)
        self.failures: dict[tuple[str, str], int] = {}
        self._retries: dict[tuple[str, str], Timer] = {}

    def reset(self) -> None:
        self.failures.clear()
        for timer in self._retries.values():
            timer.cancel()
        self._retries.clear()

    # ------------------------------------------------------------------ events in

    def on_change(self, change: Change) -> None:
        if change.kind == REPLICA_SETS.key:
            meta = change.obj["metadata"]
            key = (meta.get("namespace", ""), meta["name"])
            if change.type == "DELETED":
                self.forget(key)
                return
            old = change.old
            # status-only writes (our own) do not trigger a sync: the backoff timer does
            if old is None or old.get("spec") != change.obj.get("spec") or \
                    old["metadata"].get("deletionTimestamp") != meta.get("deletionTimestamp"):
                self.enqueue(key)
        elif change.kind == PODS.key:
            ref = controller_of(change.obj)
            if ref is None and change.old is not None:
                ref = controller_of(change.old)
            if ref is not None and ref.get("kind") == REPLICA_SETS.kind:
                ns = change.obj["metadata"].get("namespace", "")
                if change.type == "MODIFIED" and not _pod_status_changed(change):
                    return
                self.enqueue((ns, str(ref.get("name", ""))))

    def enqueue(self, key: tuple[str, str]) -> None:
        self.ctx.enqueue(("replicaset", *key), lambda: self.sync(key))

    def forget(self, key: tuple[str, str]) -> None:
        self.failures.pop(key, None)
        timer = self._retries.pop(key, None)
        if timer is not None:
            timer.cancel()

    def schedule_retry(self, key: tuple[str, str], failures: int, when: float | None = None) -> None:
        """Retry ``key`` after the backoff for ``failures`` (or at ``when``); used by syncs and by
        scenarios that build failing ReplicaSets in bulk."""
        self.failures[key] = failures
        old = self._retries.pop(key, None)
        if old is not None:
            old.cancel()
        if when is None:
            when = self.ctx.clock.time() + backoff_delay(failures)
        self._retries[key] = self.ctx.at(when, lambda: self._retry(key))

    def _retry(self, key: tuple[str, str]) -> None:
        self._retries.pop(key, None)
        self.sync(key)

    # ------------------------------------------------------------------ sync

    def sync(self, key: tuple[str, str]) -> None:
        ctx = self.ctx
        store = ctx.store
        rs = store.get(REPLICA_SETS.key, *key)
        if rs is None:
            self.forget(key)
            return
        pods = [p for p in owned(store, PODS, rs) if pod_is_active(p)]
        desired = int((rs.get("spec") or {}).get("replicas", 1))
        diff = len(pods) - desired
        error: str | None = None
        if not rs["metadata"].get("deletionTimestamp"):
            if diff < 0:
                error = self._create_pods(rs, min(-diff, BURST_REPLICAS))
            elif diff > 0:
                error = self._delete_pods(rs, pods, min(diff, BURST_REPLICAS))
            if diff:
                pods = [p for p in owned(store, PODS, rs) if pod_is_active(p)]
        now = ctx.clock.time()
        current = store.get(REPLICA_SETS.key, *key)
        if current is not None:
            terminating = sum(1 for p in owned(store, PODS, current) if pod_is_terminating(p))
            status = replicaset_status(current, pods, now, error, diff, terminating)
            ctx.write_status(REPLICA_SETS, current, status)
            self._requeue_for_availability(key, current, pods, now)
        if error is not None:
            self.schedule_retry(key, self.failures.get(key, 0) + 1)
        else:
            self.forget(key)

    def _requeue_for_availability(self, key: tuple[str, str], rs: Obj, pods: list[Obj],
                                  now: float) -> None:
        """With ``minReadySeconds``, a ready pod becomes available later: sync again then."""
        min_ready = int(rs["spec"].get("minReadySeconds") or 0)
        if min_ready <= 0:
            return
        pending = [since + min_ready for p in pods
                   if (since := pod_ready_since(p)) is not None and since + min_ready > now]
        if pending:
            self.ctx.at(min(pending), lambda: self.enqueue(key))

    def _create_pods(self, rs: Obj, count: int) -> str | None:
        """Slow-start batches (1, 2, 4 …); returns the first error's message, if any."""
        batch, remaining = 1, count
        while remaining > 0:
            size = min(batch, remaining)
            error = None
            for _ in range(size):
                message = self._create_one(rs)
                if message is not None and error is None:
                    error = message
            if error is not None:
                return error
            remaining -= size
            batch *= 2
        return None

    def _create_one(self, rs: Obj) -> str | None:
        ctx = self.ctx
        pod = pod_from_template(rs)
        try:
            created = ctx.cluster.create(PODS, rs["metadata"]["namespace"], pod, self.pod_api)
        except ApiError as exc:
            causes = (exc.details or {}).get("causes") or ()
            if any(c.get("reason") == "NamespaceTerminating" for c in causes):
                return exc.message  # the real controller records no event for these
            ctx.recorder.event(REPLICA_SETS, rs, WARNING, "FailedCreate",
                               failed_create(exc.message), component=COMPONENT)
            return exc.message
        ctx.recorder.event(REPLICA_SETS, rs, NORMAL, "SuccessfulCreate",
                           f"Created pod: {created['metadata']['name']}", component=COMPONENT)
        return None

    def _delete_pods(self, rs: Obj, pods: list[Obj], count: int) -> str | None:
        ctx = self.ctx
        error = None
        for pod in sorted(pods, key=_deletion_rank)[:count]:
            name = pod["metadata"]["name"]
            try:
                ctx.cluster.delete(PODS, pod["metadata"]["namespace"], name, self.api)
            except ApiError as exc:
                if exc.code == 404:
                    continue
                ctx.recorder.event(REPLICA_SETS, rs, WARNING, "FailedDelete",
                                   f"Error deleting: {exc.message}", component=COMPONENT)
                error = error or exc.message
                continue
            ctx.recorder.event(REPLICA_SETS, rs, NORMAL, "SuccessfulDelete",
                               f"Deleted pod: {name}", component=COMPONENT)
        return error



def _pod_status_changed(change: Change) -> bool:
    old, new = change.old or {}, change.obj
    if old.get("metadata", {}).get("deletionTimestamp") != new["metadata"].get("deletionTimestamp"):
        return True
    old_status, new_status = old.get("status") or {}, new.get("status") or {}
    if old_status.get("phase") != new_status.get("phase"):
        return True
    return pod_ready_since(old) != pod_ready_since(new)


def _deletion_rank(pod: Obj) -> tuple[int, int, int, str]:
    """``ActivePodsWithRanks`` simplified: unscheduled < pending < not ready < ready; newer first."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    scheduled = 1 if spec.get("nodeName") else 0
    running = 1 if status.get("phase") == "Running" else 0
    ready = 1 if pod_ready_since(pod) is not None else 0
    created = pod["metadata"].get("creationTimestamp", "")
    # newest first among equals: invert the timestamp's sort order
    return (scheduled, running, ready, "".join(chr(0x10FFFF - ord(c)) for c in created))


__all__ = ["ReplicaSetController", "backoff_delay", "pod_from_template", "replicaset_status"]
