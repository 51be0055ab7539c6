"""One event recorder for every emulated controller, aggregating like client-go's EventCorrelator.

client-go (``tools/record/events_cache.go``) passes each event through three stages before it
writes anything; the recorder here does the same, on the sandbox clock:

1. **Spam filter** — a token bucket per source + involved object (burst 25, one token back every
   5 minutes); an event without a token is dropped, as ``EventSourceObjectSpamFilter`` does.
2. **Aggregator** — events that differ only in their message (same source, object, type and
   reason): once 10 distinct messages were seen within 10 minutes, further ones are written as
   one event whose message starts ``(combined from similar events): `` (``EventAggregator``).
3. **Logger** — an event identical to one already written (source, object incl. fieldPath, type,
   reason, message) is not written again: the stored one gets ``count + 1`` and a new
   ``lastTimestamp``; ``firstTimestamp`` stays (``eventLogger.eventObserve``). That is what makes
   ``kubectl describe rs`` print ``113s (x16 over 4m37s)``.

New events are named ``<involvedObject.name>.<unix nanoseconds in hex>`` like
``record.makeEvent``; they carry ``source.component`` (and ``source.host`` for the kubelet),
``reportingComponent``/``reportingInstance`` and ``eventTime: null``, as core/v1 events written by
kube-controller-manager and the kubelet do. Writes go through :meth:`Registry.create` and
:meth:`Registry.update` (validation and admission apply, as for any client).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from runbook.kinds import EVENTS, ResourceKind
from runbook.sandbox.registry.cluster import Registry, RequestContext
from runbook.sandbox.registry.status import ApiError
from runbook.sandbox.storage.store import Obj, copy_object

#: EventAggregator: distinct messages before similar events are combined, and the window
AGGREGATE_MAX_EVENTS = 10
AGGREGATE_WINDOW_SECONDS = 600.0
AGGREGATE_PREFIX = "(combined from similar events): "
#: EventSourceObjectSpamFilter: burst and refill (1 token per 5 minutes)
SPAM_BURST = 25
SPAM_REFILL_SECONDS = 300.0

NORMAL = "Normal"
WARNING = "Warning"


@dataclass
class _Aggregate:
    messages: set[str] = field(default_factory=set)
    last: float = 0.0


@dataclass
class _Bucket:
    tokens: float
    last: float


def object_reference(kind: ResourceKind, obj: Obj, field_path: str = "") -> Obj:
    """``involvedObject`` for an object (``reference.GetReference``): kind, namespace, name, uid,
    apiVersion, resourceVersion and, for a container, ``fieldPath``."""
    meta = obj.get("metadata") or {}
    ref: Obj = {"kind": kind.kind}
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    ref["name"] = meta.get("name", "")
    ref["uid"] = meta.get("uid", "")
    ref["apiVersion"] = kind.api_version
    ref["resourceVersion"] = meta.get("resourceVersion", "")
    if field_path:
        ref["fieldPath"] = field_path
    return ref


class EventRecorder:
    """Records core/v1 Events for in-process controllers (see the module docstring).

    Args:
        cluster: where events are written.
    """

    def __init__(self, cluster: Registry) -> None:
        self.cluster = cluster
        self._logged: dict[tuple[str, ...], tuple[str, str]] = {}  # event key -> (ns, name)
        self._aggregates: dict[tuple[str, ...], _Aggregate] = {}
        self._buckets: dict[tuple[str, ...], _Bucket] = {}
        self.dropped = 0

    def reset(self) -> None:
        """Forget every cache (a scenario reload: the controllers start afresh)."""
        self._logged.clear()
        self._aggregates.clear()
        self._buckets.clear()
        self.dropped = 0

    def event(self, kind: ResourceKind, obj: Obj, type_: str, reason: str, message: str, *,
              component: str, host: str = "", field_path: str = "") -> Obj | None:
        """Record one occurrence; returns the stored Event (None when the spam filter dropped it).

        Args:
            kind, obj: the involved object.
            type_: ``Normal`` or ``Warning``.
            reason, message: what happened.
            component: ``source.component`` / ``reportingComponent`` (``replicaset-controller``).
            host: ``source.host`` / ``reportingInstance`` (the node name, for the kubelet).
            field_path: e.g. ``spec.containers{istio-proxy}`` for a container's event.
        """
        ref = object_reference(kind, obj, field_path)
        now = self.cluster.clock.time()
        if not self._take_token(component, host, ref, now):
            self.dropped += 1
            return None
        message, key = self._aggregate(component, host, ref, type_, reason, message, now)
        return self._write(ref, type_, reason, message, component, host, key)

    def remember(self, event: Obj) -> None:
        """Make an already stored Event known to the logger stage (scenarios built in bulk), so the
        next identical occurrence counts up on it instead of writing a new one."""
        source = event.get("source") or {}
        key = _event_key(str(source.get("component", "")), str(source.get("host", "")),
                         event.get("involvedObject") or {}, str(event.get("type", "")),
                         str(event.get("reason", "")), str(event.get("message", "")))
        meta = event["metadata"]
        self._logged[key] = (meta.get("namespace", ""), meta["name"])

    # ------------------------------------------------------------------ stages

    def _take_token(self, component: str, host: str, ref: Obj, now: float) -> bool:
        key = (component, host, ref["kind"], ref.get("namespace", ""), ref["name"], ref["uid"],
               ref["apiVersion"])
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(SPAM_BURST), now)
        bucket.tokens = min(float(SPAM_BURST),
                            bucket.tokens + (now - bucket.last) / SPAM_REFILL_SECONDS)
        bucket.last = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    def _aggregate(self, component: str, host: str, ref: Obj, type_: str, reason: str,
                   message: str, now: float) -> tuple[str, tuple[str, ...]]:
        agg_key = (component, host, ref["kind"], ref.get("namespace", ""), ref["name"],
                   ref["uid"], ref["apiVersion"], type_, reason, component, host)
        record = self._aggregates.get(agg_key)
        if record is None or now - record.last > AGGREGATE_WINDOW_SECONDS:
            record = self._aggregates[agg_key] = _Aggregate()
        record.messages.add(message)
        record.last = now
        if len(record.messages) < AGGREGATE_MAX_EVENTS:
            return message, _event_key(component, host, ref, type_, reason, message)
        record.messages.pop()  # the set does not grow past the threshold
        # the aggregate key (not the message) identifies the combined event: it counts up
        return AGGREGATE_PREFIX + message, ("aggregate", *agg_key)

    def _write(self, ref: Obj, type_: str, reason: str, message: str, component: str,
               host: str, key: tuple[str, ...]) -> Obj | None:
        cluster = self.cluster
        namespace = ref.get("namespace") or "default"
        # no field manager: Events record no managedFields here (nobody applies them; tracking
        # them would cost a third of a pod's creation time) — a listed difference
        ctx = RequestContext(user=f"system:serviceaccount:kube-system:{component}")
        now = cluster.clock.timestamp()
        where = self._logged.get(key)
        if where is not None:
            stored = cluster.store.get(EVENTS.key, *where)
            if stored is not None:
                updated = copy_object(stored)
                updated["count"] = int(updated.get("count") or 1) + 1
                updated["lastTimestamp"] = now
                updated["message"] = message
                with contextlib.suppress(ApiError):
                    return cluster.update(EVENTS, where[0], where[1], updated, ctx)
        # unix nanoseconds make the name; a manual clock can give several events one instant
        nanos = int(cluster.clock.time() * 1e9)
        while cluster.store.get(EVENTS.key, namespace, f"{ref['name']}.{nanos:x}") is not None:
            nanos += 1
        event = make_event(ref, type_, reason, message, component, host, now, now, 1,
                           name=f"{ref['name']}.{nanos:x}")
        try:
            stored = cluster.create(EVENTS, namespace, event, ctx)
        except ApiError:
            return None  # e.g. the namespace is terminating: the real recorder gives up too
        self._logged[key] = (namespace, stored["metadata"]["name"])
        return stored


#: the field manager of each component's writes: the real server derives it from the client's
#: user agent (``kube-controller-manager/v1.32.0 (…)/replicaset-controller`` → its first word)
_MANAGERS = {"kubelet": "kubelet", "default-scheduler": "kube-scheduler"}


def field_manager_of(component: str) -> str:
    """``kubelet``, ``kube-scheduler``, or ``kube-controller-manager`` for every controller."""
    return _MANAGERS.get(component, "kube-controller-manager")


def make_event(ref: Obj, type_: str, reason: str, message: str, component: str, host: str,
               first: str, last: str, count: int, *, name: str) -> Obj:
    """A core/v1 Event as ``record.makeEvent`` shapes it (also used to build scenarios in bulk)."""
    source: Obj = {"component": component}
    if host:
        source["host"] = host
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": ref.get("namespace") or "default"},
        "involvedObject": ref, "reason": reason, "message": message, "source": source,
        "firstTimestamp": first, "lastTimestamp": last, "count": count, "type": type_,
        "eventTime": None, "reportingComponent": component, "reportingInstance": host,
    }


def _event_key(component: str, host: str, ref: Any, type_: str, reason: str, message: str
               ) -> tuple[str, ...]:
    """``getEventKey``: everything that makes two events the same occurrence."""
    return (component, host, str(ref.get("kind", "")), str(ref.get("namespace", "")),
            str(ref.get("name", "")), str(ref.get("fieldPath", "")), str(ref.get("uid", "")),
            str(ref.get("apiVersion", "")), type_, reason, message)


__all__ = ["NORMAL", "WARNING", "EventRecorder", "make_event", "object_reference"]
