"""What the emulated controllers share: keyed work, timers on the sandbox clock, status writes.

Controllers react to committed changes (store subscribers) by queueing keyed work on the
cluster's :class:`~runbook.sandbox.work.WorkQueue` — a burst of changes to one object runs its
sync once — and schedule retries, readiness delays and deadlines as clock timers with
:meth:`ControllerContext.after`. A timer's callback runs at the timer's due time (the clock shows
that time while it runs) and drains the work it caused before the clock moves on, so a manual
clock advanced by five minutes replays five minutes of controller history with correct
timestamps, without sleeping.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Iterator
from typing import Any

from runbook.kinds import ResourceKind
from runbook.sandbox.clock import Timer
from runbook.sandbox.controllers.events import EventRecorder, field_manager_of
from runbook.sandbox.registry.cluster import Registry, RequestContext
from runbook.sandbox.storage.store import Obj, PreconditionFailed, StoreKeyError
from runbook.timestamps import timestamp_or_none


def controller_context(component: str) -> RequestContext:
    """How a controller authenticates (``system:serviceaccount:kube-system:<component>``) and
    which field manager its writes record (:func:`~.events.field_manager_of`)."""
    return RequestContext(user=f"system:serviceaccount:kube-system:{component}",
                          field_manager=field_manager_of(component))


class ControllerContext:
    """Shared plumbing of the emulated controllers of one cluster.

    Args:
        cluster: the cluster they run against.
        pod_start_seconds: how long a scheduled pod stays ``ContainerCreating`` before it runs;
            None means 1 s on a real clock and 0 on a manual one (ready at the next ``settle``).
    """

    def __init__(self, cluster: Registry, pod_start_seconds: float | None = None) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.clock = cluster.clock
        self.recorder = EventRecorder(cluster)
        self._pod_start_seconds = pod_start_seconds
        self.generation = 0  # bumped by reset(): timers of an older world do nothing
        self._paused = 0
        self.instant = False  # scenario loading: pods start at once, whatever the clock

    @property
    def pod_start_seconds(self) -> float:
        if self.instant:
            return 0.0
        if self._pod_start_seconds is not None:
            return self._pod_start_seconds
        return 1.0 if self.clock.mode == "real" else 0.0

    @pod_start_seconds.setter
    def pod_start_seconds(self, value: float | None) -> None:
        self._pod_start_seconds = value

    @property
    def pod_stop_seconds(self) -> float:
        """How long a Terminating pod's containers take to exit before the kubelet deletes it:
        1 s on a real clock, 0 on a manual one (gone at the next ``settle``)."""
        if self.instant or self.clock.mode != "real":
            return 0.0
        return 1.0

    @property
    def paused(self) -> bool:
        """True while changes are not reacted to (bulk scenario building)."""
        return self._paused > 0

    @contextlib.contextmanager
    def pause(self) -> Iterator[None]:
        """Ignore committed changes inside the block (objects are written as already reconciled)."""
        self._paused += 1
        try:
            yield
        finally:
            self._paused -= 1

    def reset(self) -> None:
        self.generation += 1
        self.recorder.reset()

    def enqueue(self, key: Hashable, work: Callable[[], object]) -> None:
        """Queue ``work`` under ``key`` (de-duplicated until it runs)."""
        self.cluster.work.add(work, key=key)

    def after(self, delay: float, work: Callable[[], object]) -> Timer:
        """Run ``work`` ``delay`` seconds of sandbox time from now, then drain the work it caused."""
        return self.at(self.clock.time() + max(0.0, delay), work)

    def at(self, when: float, work: Callable[[], object]) -> Timer:
        """Run ``work`` at sandbox time ``when`` (epoch seconds), then drain the work it caused."""
        generation = self.generation

        def fire() -> None:
            if generation != self.generation:
                return
            try:
                work()
            except Exception as exc:  # one broken reconcile must not stop the clock
                self.cluster.work.errors.append(exc)
            self.cluster.work.run_pending()

        return self.clock.call_at(when, fire)

    def write_status(self, kind: ResourceKind, obj: Obj, status: Obj) -> Obj | None:
        """Store ``status`` on the object, guarded by its resourceVersion (what a status
        subresource write stores); returns the stored object, None when it changed meanwhile."""
        if obj.get("status") == status:
            return obj
        updated = dict(obj)
        updated["metadata"] = dict(obj["metadata"])
        updated["status"] = status
        try:
            return self.store.update(kind.key, updated,
                                     expect_rv=obj["metadata"].get("resourceVersion"))
        except (PreconditionFailed, StoreKeyError):
            return None


# ---------------------------------------------------------------------------- object helpers


def controller_ref(kind: ResourceKind, owner: Obj) -> Obj:
    """``metav1.NewControllerRef``: the owner reference a controller puts on what it creates."""
    meta = owner["metadata"]
    return {"apiVersion": kind.api_version, "kind": kind.kind, "name": meta["name"],
            "uid": meta.get("uid", ""), "controller": True, "blockOwnerDeletion": True}


def controller_of(obj: Obj) -> Obj | None:
    """The ownerReference with ``controller: true`` (``metav1.GetControllerOf``)."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return dict(ref)
    return None


def owned(store: Any, kind: ResourceKind, owner: Obj) -> list[Obj]:
    """Objects of ``kind`` whose controller reference names ``owner`` (by uid)."""
    uid = owner["metadata"].get("uid", "")
    out = []
    for dep_kind, ns, name in store.dependents(uid):
        if dep_kind != kind.key:
            continue
        obj = store.get(dep_kind, ns, name)
        ref = controller_of(obj) if obj is not None else None
        if obj is not None and ref is not None and ref.get("uid") == uid:
            out.append(obj)
    return out


def parse_time(value: Any) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp (None when absent or unreadable)."""
    when = timestamp_or_none(value)
    return when.timestamp() if when is not None else None


def condition(obj: Obj, type_: str) -> Obj | None:
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if cond.get("type") == type_:
            return dict(cond)
    return None


def pod_ready_since(pod: Obj) -> float | None:
    """When the pod's Ready condition turned True (None when it is not ready)."""
    cond = condition(pod, "Ready")
    if cond is None or cond.get("status") != "True":
        return None
    return parse_time(cond.get("lastTransitionTime")) or 0.0


def pod_is_active(pod: Obj) -> bool:
    """``controller.IsPodActive``: not finished and not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")


def pod_is_terminating(pod: Obj) -> bool:
    """``controller.FilterTerminatingPods``' test: being deleted and not finished."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and bool(pod["metadata"].get("deletionTimestamp"))


def pod_is_available(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    """``podutil.IsPodAvailable``: ready for at least ``minReadySeconds``."""
    since = pod_ready_since(pod)
    if since is None:
        return False
    return min_ready_seconds <= 0 or since + min_ready_seconds <= now


def resolve_fraction(value: Any, total: int, round_up: bool) -> int:
    """``intstr.GetScaledValueFromIntOrPercent``: an int, or a percentage of ``total``."""
    if isinstance(value, int):
        return value
    text = str(value or "0")
    if text.endswith("%"):
        try:
            percent = int(text[:-1])
        except ValueError:
            return 0
        scaled = percent * total
        return -(-scaled // 100) if round_up else scaled // 100
    try:
        return int(text)
    except ValueError:
        return 0


__all__ = [
    "ControllerContext",
    "condition",
    "controller_context",
    "controller_of",
    "controller_ref",
    "owned",
    "parse_time",
    "pod_is_active",
    "pod_is_available",
    "pod_is_terminating",
    "pod_ready_since",
    "resolve_fraction",
]
