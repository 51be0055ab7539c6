"""The sandbox's in-memory object store: what etcd plus the watch cache are to kube-apiserver.

Objects are plain dicts in the API's JSON shape, keyed by (kind key, namespace, name); the kind
key is :attr:`runbook.kinds.ResourceKind.key` (``pods``, ``replicasets.apps`` …) and the
namespace is ``""`` for cluster-scoped kinds.

Rules the rest of the sandbox relies on:

* **Stored dicts are immutable.** A write replaces the dict; nobody mutates one after it is
  committed. That is what lets the store cache each object's serialized JSON (orjson) and build a
  list body by joining cached bytes. :meth:`Store.get` hands out the stored dict: read it, copy it
  (:func:`copy_object`) before changing it.
* **resourceVersion** is one cluster-wide counter (a string of an int on the wire). Every commit
  takes the next value; a no-op update (the object equals the stored one) commits nothing and keeps
  the old resourceVersion, as kube-apiserver does.
* The store stamps ``uid``, ``creationTimestamp`` (from the sandbox :class:`~.clock.Clock`),
  ``generation`` (1 on create, +1 when anything but ``metadata``/``status`` changes or the
  deletion starts, for kinds that track it) and turns ``generateName`` into a name.
* **Watch history**: a bounded window of changes per kind. A watch from a resourceVersion older
  than the window gets 410 Gone (:meth:`Store.history_since`).
* **Subscribers** (:meth:`Store.subscribe`) are called after every committed change, in commit
  order, with a :class:`Change`. A subscriber may write to the store; its writes are delivered
  to every subscriber after the change being delivered (never interleaved).
* **Garbage collection** is a store-level collector (:meth:`Store.collect_garbage`, subscribed by
  default): when an object is deleted, objects whose ``ownerReferences`` name its uid are deleted
  too (background propagation), recursively. Orphan and foreground propagation are decided by the
  caller before the owner is deleted (see ``runbook.sandbox.registry.cluster``).
* **Thread-safety**: one re-entrant lock guards everything; any thread may call any method.
"""

from __future__ import annotations

import bisect
import logging
import os
import random
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from runbook.sandbox.clock import Clock

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name)

#: kinds whose objects carry metadata.generation (the real strategies that set it)
GENERATION_KINDS = frozenset({
    "deployments.apps", "replicasets.apps", "customresourcedefinitions.apiextensions.k8s.io",
    "mutatingwebhookconfigurations.admissionregistration.k8s.io",
    "validatingwebhookconfigurations.admissionregistration.k8s.io",
    "endpointslices.discovery.k8s.io", "pods",
})
#: the characters the apiserver uses for generateName suffixes (no vowels: no words)
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

DEFAULT_HISTORY = 10_000
log = logging.getLogger("runbook.sandbox")


def copy_object(obj: Obj) -> Obj:
    """A deep copy of a JSON-shaped dict (fast: through orjson)."""
    copied: Obj = orjson.loads(orjson.dumps(obj))
    return copied


def new_uid() -> str:
    """A random (version 4) UUID in its text form, as ``str(uuid.uuid4())`` writes it.

    Written out rather than through :mod:`uuid` because every created object gets one: building a
    ``UUID`` object and formatting it cost 3× more, a tenth of loading the ``scale`` world.
    """
    digits = os.urandom(16).hex()
    variant = "89ab"[int(digits[16], 16) & 3]  # RFC 4122 variant: 10xx
    return (f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{variant}{digits[17:20]}-"
            f"{digits[20:]}")


def generate_suffix(length: int = 5) -> str:
    """Random suffix for ``generateName`` (``SimpleNameGenerator``: 5 chars)."""
    return "".join(random.choices(_NAME_ALPHABET, k=length))


@dataclass(frozen=True)
class Change:
    """One committed change, as subscribers and watches see it.

    Attributes:
        type: ``ADDED``, ``MODIFIED`` or ``DELETED``.
        kind: the kind key.
        obj: the object after the change (for DELETED: the object as it was removed).
        old: the object before the change (None for ADDED).
        rv: the resourceVersion this change committed.
    """

    type: str
    kind: str
    obj: Obj
    old: Obj | None
    rv: int


#: the type fields a real list's items of a built-in kind go without (the list says them)
_TYPE_META = ("apiVersion", "kind")


class Entry:
    """A stored object and its serialized JSON, made on first need and kept: ``raw`` whole,
    ``list_item`` as a built-in kind's list item."""

    __slots__ = ("_list_item", "_raw", "obj")

    def __init__(self, obj: Obj) -> None:
        self.obj = obj
        self._raw: bytes | None = None
        self._list_item: bytes | None = None

    @property
    def raw(self) -> bytes:
        if self._raw is None:
            self._raw = orjson.dumps(self.obj)
        return self._raw

    @property
    def list_item(self) -> bytes:
        """The object as :func:`list_item` makes it, serialized."""
        if self._list_item is None:
            self._list_item = orjson.dumps(list_item(self.obj))
        return self._list_item


def list_item(obj: Obj) -> Obj:
    """``obj`` without apiVersion/kind: kube-apiserver encodes a built-in list's items without
    their TypeMeta (a custom resource's items, stored unstructured, keep theirs)."""
    return {k: v for k, v in obj.items() if k not in _TYPE_META}


class PreconditionFailed(Exception):
    """The stored object's resourceVersion is not the one the writer expected (a 409 Conflict)."""


class StoreKeyError(KeyError):
    """The object is (not) there: ``exists`` says which, for create vs. update/delete."""

    def __init__(self, kind: str, namespace: str, name: str, exists: bool) -> None:
        self.kind, self.namespace, self.name, self.exists = kind, namespace, name, exists
        super().__init__(f"{kind} {namespace}/{name}")


Subscriber = Callable[[Change], None]


class Store:
    """In-memory objects with resourceVersions, watch history and change subscribers.

    Args:
        clock: where creationTimestamps come from.
        history: changes kept per kind for watches (older resourceVersions get 410 Gone).
        gc: subscribe the ownerReference garbage collector (default True).
    """

    def __init__(self, clock: Clock, history: int = DEFAULT_HISTORY, gc: bool = True) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self._history_size = history
        self._rv = 0
        self._objects: dict[str, dict[Key, Entry]] = {}
        self._sorted: dict[str, list[Key]] = {}  # kind -> keys in (namespace, name) order
        self._dirty: set[str] = set()  # kinds whose sorted key list must be rebuilt
        self._history: dict[str, deque[Change]] = {}
        self._compacted: dict[str, int] = {}  # kind -> newest rv that fell out of the history
        self._subscribers: list[Subscriber] = []
        self._pending: deque[Change] = deque()
        self._dispatching = False
        self._by_uid: dict[str, tuple[str, str, str]] = {}
        self._dependents: dict[str, set[tuple[str, str, str]]] = {}  # owner uid -> dependents
        if gc:
            self.subscribe(self.collect_garbage)

    # ------------------------------------------------------------------ reading

    @property
    def resource_version(self) -> int:
        """The newest committed resourceVersion."""
        return self._rv

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        """The stored object (read-only: copy before changing) or None."""
        with self.lock:
            entry = self._objects.get(kind, {}).get((namespace, name))
            return entry.obj if entry else None

    def get_raw(self, kind: str, namespace: str, name: str) -> bytes | None:
        """The stored object's JSON bytes (cached) or None."""
        with self.lock:
            entry = self._objects.get(kind, {}).get((namespace, name))
            return entry.raw if entry else None

    def by_uid(self, uid: str) -> tuple[str, Obj] | None:
        """``(kind key, object)`` of the object with this uid, or None."""
        with self.lock:
            where = self._by_uid.get(uid)
            if where is None:
                return None
            obj = self.get(*where)
            return (where[0], obj) if obj is not None else None

    def count(self, kind: str, namespace: str | None = None) -> int:
        with self.lock:
            objs = self._objects.get(kind, {})
            if namespace is None:
                return len(objs)
            return sum(1 for ns, _ in objs if ns == namespace)

    def kinds(self) -> list[str]:
        """Kind keys that hold at least one object."""
        with self.lock:
            return [k for k, objs in self._objects.items() if objs]

    def objects(self, kind: str, namespace: str | None = None) -> list[Obj]:
        """Objects of a kind (in one namespace, or all), in (namespace, name) order."""
        with self.lock:
            return [e.obj for _, e in self.scan(kind, namespace)]

    def scan(self, kind: str, namespace: str | None = None, after: Key | None = None
             ) -> Iterator[tuple[Key, Entry]]:
        """Entries in (namespace, name) order, starting after ``after``; hold :attr:`lock`.

        This is the paginated list's engine: the sorted key list is rebuilt only after writes
        added or removed keys, so walking page after page of an unchanged kind costs a bisect.
        """
        objs = self._objects.get(kind)
        if not objs:
            return
        keys = self._sorted_keys(kind)
        start = 0
        if namespace is not None:
            start = bisect.bisect_left(keys, (namespace, ""))
        if after is not None:
            start = max(start, bisect.bisect_right(keys, after))
        for i in range(start, len(keys)):
            key = keys[i]
            if namespace is not None and key[0] != namespace:
                return
            yield key, objs[key]

    def remaining_after(self, kind: str, namespace: str | None, key: Key) -> int:
        """How many objects of the kind (in the namespace) sort after ``key``."""
        with self.lock:
            keys = self._sorted_keys(kind)
            pos = bisect.bisect_right(keys, key)
            if namespace is None:
                return len(keys) - pos
            return bisect.bisect_left(keys, (namespace + "\x00", "")) - pos

    def _sorted_keys(self, kind: str) -> list[Key]:
        if kind in self._dirty or kind not in self._sorted:
            self._sorted[kind] = sorted(self._objects.get(kind, {}))
            self._dirty.discard(kind)
        return self._sorted[kind]

    # ------------------------------------------------------------------ writing

    def create(self, kind: str, obj: Obj, *, generation: bool | None = None,
               dry_run: bool = False) -> Obj:
        """Store a new object; returns the stored dict (with uid, rv, timestamps).

        ``obj`` is taken over (not copied): the caller must not use it afterwards.

        Raises:
            StoreKeyError: an object with that name exists (``exists=True``).
        """
        meta = obj.setdefault("metadata", {})
        with self.lock:
            namespace = meta.get("namespace") or ""
            if not meta.get("name") and meta.get("generateName"):
                for _ in range(100):
                    candidate = meta["generateName"] + generate_suffix()
                    if (namespace, candidate) not in self._objects.get(kind, {}):
                        meta["name"] = candidate
                        break
            name = meta["name"]
            if not isinstance(name, str) or not isinstance(namespace, str):
                # the key must sort with the others: a non-string would break every later list
                raise TypeError(f"name and namespace must be strings, not {name!r}, {namespace!r}")
            if (namespace, name) in self._objects.get(kind, {}):
                raise StoreKeyError(kind, namespace, name, exists=True)
            meta["uid"] = new_uid()
            meta["creationTimestamp"] = self.clock.timestamp()
            if generation if generation is not None else kind in GENERATION_KINDS:
                meta["generation"] = 1
            else:
                meta.pop("generation", None)
            if dry_run:
                meta.pop("resourceVersion", None)
                return obj
            self._commit("ADDED", kind, (namespace, name), obj, None)
            return obj

    def update(self, kind: str, obj: Obj, *, expect_rv: str | None = None,
               dry_run: bool = False) -> Obj:
        """Replace a stored object; returns what is stored afterwards.

        Server-owned metadata (uid, creationTimestamp, generation) is carried over from the stored
        object; ``generation`` is bumped when anything outside metadata and status changed. An
        update that changes nothing commits nothing and returns the stored object unchanged.

        Args:
            expect_rv: when given, the stored resourceVersion must equal it.

        Raises:
            StoreKeyError: no such object (``exists=False``).
            PreconditionFailed: ``expect_rv`` is stale.
        """
        meta = obj.setdefault("metadata", {})
        namespace, name = meta.get("namespace") or "", meta["name"]
        with self.lock:
            entry = self._objects.get(kind, {}).get((namespace, name))
            if entry is None:
                raise StoreKeyError(kind, namespace, name, exists=False)
            old = entry.obj
            old_meta = old["metadata"]
            if expect_rv is not None and expect_rv != old_meta.get("resourceVersion"):
                raise PreconditionFailed(old_meta.get("resourceVersion", ""))
            for field in ("uid", "creationTimestamp", "resourceVersion", "generation"):
                if field in old_meta:
                    meta[field] = old_meta[field]
                else:
                    meta.pop(field, None)
            if obj == old:
                return old
            # the registry counts a spec change, and the start of a deletion (BeforeDelete for
            # graceful deletion, markAsDeleting for finalizers), as a new generation
            if "generation" in old_meta and (_spec_changed(kind, old, obj) or (
                    meta.get("deletionTimestamp") and not old_meta.get("deletionTimestamp"))):
                meta["generation"] = old_meta["generation"] + 1
            if dry_run:
                return obj
            self._commit("MODIFIED", kind, (namespace, name), obj, old)
            return obj

    def delete(self, kind: str, namespace: str, name: str, *, expect_rv: str | None = None,
               expect_uid: str | None = None, dry_run: bool = False) -> Obj:
        """Remove an object; returns it as it was. Dependents go with it (see the GC).

        Raises:
            StoreKeyError: no such object.
            PreconditionFailed: ``expect_rv``/``expect_uid`` do not match.
        """
        with self.lock:
            entry = self._objects.get(kind, {}).get((namespace, name))
            if entry is None:
                raise StoreKeyError(kind, namespace, name, exists=False)
            meta = entry.obj["metadata"]
            if expect_rv is not None and expect_rv != meta.get("resourceVersion"):
                raise PreconditionFailed(meta.get("resourceVersion", ""))
            if expect_uid is not None and expect_uid != meta.get("uid"):
                raise PreconditionFailed(meta.get("uid", ""))
            if dry_run:
                return entry.obj
            # The DELETED event carries a fresh resourceVersion, as the watch cache's does.
            gone = dict(entry.obj)
            gone["metadata"] = dict(meta)
            self._commit("DELETED", kind, (namespace, name), gone, entry.obj)
            return gone

    def drop_kind(self, kind: str) -> list[Obj]:
        """Delete every object of a kind (a CRD went away); returns what was removed."""
        with self.lock:
            gone = []
            for ns, name in list(self._objects.get(kind, {})):
                gone.append(self.delete(kind, ns, name))
            self._history.pop(kind, None)
            self._compacted.pop(kind, None)
            return gone

    def clear(self) -> None:
        """Forget every object (a scenario reset). resourceVersions keep counting up."""
        with self.lock:
            self._objects.clear()
            self._sorted.clear()
            self._dirty.clear()
            self._by_uid.clear()
            self._dependents.clear()
            # Watches from before the reset must start over: everything before now is "too old".
            for kind in list(self._history):
                self._compacted[kind] = self._rv
            self._history.clear()

    def _commit(self, type_: str, kind: str, key: Key, obj: Obj, old: Obj | None) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        objs = self._objects.setdefault(kind, {})
        uid = obj["metadata"].get("uid", "")
        where = (kind, key[0], key[1])
        if old is not None:
            self._unindex_owners(old, where)
        if type_ == "DELETED":
            del objs[key]
            self._dirty.add(kind)
            self._by_uid.pop(uid, None)
        else:
            if key not in objs:
                self._dirty.add(kind)
            objs[key] = Entry(obj)
            self._by_uid[uid] = where
            for ref in obj["metadata"].get("ownerReferences") or ():
                self._dependents.setdefault(ref.get("uid", ""), set()).add(where)
        change = Change(type_, kind, obj, old, self._rv)
        history = self._history.setdefault(kind, deque())
        history.append(change)
        if len(history) > self._history_size:
            self._compacted[kind] = history.popleft().rv
        self._pending.append(change)
        self._dispatch()

    def _unindex_owners(self, old: Obj, where: tuple[str, str, str]) -> None:
        for ref in old["metadata"].get("ownerReferences") or ():
            deps = self._dependents.get(ref.get("uid", ""))
            if deps is not None:
                deps.discard(where)
                if not deps:
                    del self._dependents[ref.get("uid", "")]

    # ------------------------------------------------------------------ subscribers, watches

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(change)`` after every committed change; returns an unsubscribe function.

        Callbacks run with the store lock held, in commit order: keep them short (enqueue work
        rather than do it) — a slow callback stalls every writer. An exception in a callback is
        logged and does not reach the writer (the change is already committed).
        """
        with self.lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self.lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def _dispatch(self) -> None:
        if self._dispatching:
            return  # the outer dispatch loop delivers it, after the change it is delivering
        self._dispatching = True
        try:
            while self._pending:
                change = self._pending.popleft()
                for callback in list(self._subscribers):
                    try:
                        callback(change)
                    except Exception:
                        # the change is committed: a failing subscriber must not fail the write
                        # (nor starve the subscribers after it)
                        log.exception("store subscriber %r failed on %s %s", callback, change.type,
                                      change.kind)
        finally:
            self._dispatching = False

    def history_since(self, kind: str, rv: int) -> list[Change] | None:
        """Changes of a kind with resourceVersion > ``rv``; None when ``rv`` is too old (410)."""
        with self.lock:
            if rv < self._compacted.get(kind, 0):
                return None
            return [c for c in self._history.get(kind, ()) if c.rv > rv]

    def oldest_rv(self, kind: str) -> int:
        """The oldest resourceVersion a watch of this kind can still start from."""
        with self.lock:
            return self._compacted.get(kind, 0)

    # ------------------------------------------------------------------ garbage collection

    def dependents(self, uid: str) -> list[tuple[str, str, str]]:
        """``(kind, namespace, name)`` of objects with an ownerReference to ``uid``."""
        with self.lock:
            return sorted(self._dependents.get(uid, ()))

    def collect_garbage(self, change: Change) -> None:
        """Subscriber: delete the dependents of a deleted object (background propagation).

        An ownerReference names its owner by uid; a dependent with several owners survives while
        another of its owners still exists, as the real garbage collector decides.
        """
        if change.type != "DELETED":
            return
        uid = change.obj["metadata"].get("uid", "")
        for kind, ns, name in self.dependents(uid):
            dep = self.get(kind, ns, name)
            if dep is None:
                continue
            owners = [r.get("uid") for r in dep["metadata"].get("ownerReferences") or ()]
            if any(o != uid and o in self._by_uid for o in owners):
                continue
            self.delete(kind, ns, name)


#: spec fields whose writes are not the kind's update strategy's: a pod's ``nodeName`` is set by
#: the binding subresource, which writes storage directly (no new generation)
_NOT_GENERATION = {"pods": frozenset({"nodeName"})}


#: kinds whose strategy also counts a change of labels as a new generation (EndpointSlice's
#: PrepareForUpdate compares everything but metadata, and the labels)
_LABELS_ARE_GENERATION = frozenset({"endpointslices.discovery.k8s.io"})


def _spec_changed(kind: str, old: Obj, new: Obj) -> bool:
    if kind in _LABELS_ARE_GENERATION and (old["metadata"].get("labels") or {}) != (
            new["metadata"].get("labels") or {}):
        return True
    keys = (set(old) | set(new)) - {"metadata", "status"}
    if any(old.get(k) != new.get(k) for k in keys - {"spec"}):
        return True
    old_spec, new_spec = old.get("spec"), new.get("spec")
    ignored = _NOT_GENERATION.get(kind)
    if ignored and isinstance(old_spec, dict) and isinstance(new_spec, dict):
        return any(old_spec.get(k) != new_spec.get(k)
                   for k in (set(old_spec) | set(new_spec)) - ignored)
    return old_spec != new_spec
