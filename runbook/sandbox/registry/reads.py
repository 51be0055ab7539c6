"""The sandbox's reads: served kinds, get, list pages (selectors, continue tokens), watch."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import orjson

from runbook.kinds import (
    CRDS,
    EVENTS,
    EVENTS_V1,
    KindRegistry,
    ResourceKind,
)
from runbook.sandbox.clock import Clock
from runbook.sandbox.registry import convert, status
from runbook.sandbox.registry.admission import AdmissionChain
from runbook.sandbox.registry.defaults import Allocator
from runbook.sandbox.storage.logs import PodLogs
from runbook.sandbox.storage.store import (
    Change,
    Entry,
    Obj,
    Store,
)
from runbook.sandbox.work import WorkQueue
from runbook.selectors import (
    FieldRequirement,
    LabelSelector,
    SelectorError,
    parse_field_selector,
    parse_label_selector,
    value_at,
)

#: field selectors each kind supports besides metadata.name/metadata.namespace (the registries'
#: ``GetAttrs``/``ToSelectableFields``); a selector on anything else is a 400
SELECTABLE_FIELDS: dict[str, frozenset[str]] = {
    "events": frozenset({
        "involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
        "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
        "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type",
    }),
    "events.events.k8s.io": frozenset({
        "regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid",
        "regarding.apiVersion", "regarding.resourceVersion", "regarding.fieldPath", "reason",
        "reportingController", "type",
    }),
    "pods": frozenset({
        "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
        "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName",
    }),
    "nodes": frozenset({"spec.unschedulable"}),
    "namespaces": frozenset({"status.phase"}),
    "secrets": frozenset({"type"}),
    "replicasets.apps": frozenset({"status.replicas"}),
}


#: selectable field name → where its value lives in the stored object, where they differ
_FIELD_PATHS = {("events", "source"): "source.component",
                **{(EVENTS_V1.key, f): path for f, path in convert.FIELD_PATHS.items()}}


@dataclass
class ListPage:
    """One page of a list: the entries (object + cached JSON) and the list metadata."""

    kind: ResourceKind
    entries: list[Entry]
    resource_version: str
    continue_token: str = ""
    remaining: int | None = None


@dataclass
class Selection:
    """A parsed label + field selector for one kind."""

    labels: LabelSelector
    fields: tuple[FieldRequirement, ...]
    kind_key: str

    @property
    def empty(self) -> bool:
        return self.labels.empty and not self.fields

    def __post_init__(self) -> None:
        # a list applies the selection to every object of the kind (50,000 events for one
        # involvedObject.kind): each field's path is looked up and split once, not per object
        self._paths = tuple(
            (tuple(_FIELD_PATHS.get((self.kind_key, req.field), req.field).split(".")),
             req.value, req.negate) for req in self.fields)

    def matches(self, obj: Obj) -> bool:
        if not self.labels.empty:
            meta = obj.get("metadata") or {}
            if not self.labels.matches(meta.get("labels")):
                return False
        for parts, value, negate in self._paths:  # noqa: SIM110 (no generator per object)
            if (value_at(obj, parts) != value) != negate:
                return False
        return True


def _encode_continue(rv: int, key: tuple[str, str]) -> str:
    start = f"{key[0]}/{key[1]}\x00" if key[0] else f"{key[1]}\x00"
    data = orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start})
    return base64.b64encode(data).decode()


class ClusterReads:
    """The kinds a :class:`~runbook.sandbox.registry.cluster.Registry` serves, and its reads.

    The attributes are the state every part of the cluster shares; ``Registry.__init__`` sets them.
    """

    clock: Clock
    store: Store
    kinds: KindRegistry
    admission: AdmissionChain
    work: WorkQueue
    logs: PodLogs
    allocator: Allocator
    _crd_kinds: dict[str, str]  # CRD name -> kind key it serves
    _storage_version: dict[str, str]

    def resolve(self, group: str, version: str, plural: str) -> ResourceKind:
        """The kind served at ``/apis/{group}/{version}/{plural}`` (404 if none)."""
        kind = self.kinds.by_plural(group, plural)
        if kind is None or version not in kind.versions:
            raise status.resource_not_found()
        return kind

    def crd_for(self, kind: ResourceKind) -> Obj | None:
        """The CRD object behind a custom kind (None for built-in kinds)."""
        for crd_name, key in self._crd_kinds.items():
            if key == kind.key:
                return self.store.get(CRDS.key, "", crd_name)
        return None

    @staticmethod
    def stored_kind(kind: ResourceKind) -> ResourceKind:
        """The kind whose store holds ``kind``'s objects (events.k8s.io Events are core Events)."""
        return EVENTS if kind.key == EVENTS_V1.key else kind

    def storage_version(self, kind: ResourceKind) -> str:
        """The version a kind's objects are stored in (a CRD's storage version)."""
        return self._storage_version.get(kind.key, kind.version)

    def present(self, kind: ResourceKind, obj: Obj, version: str | None) -> Obj:
        """The object as a client asking for ``version`` sees it (apiVersion converted)."""
        if kind.key == EVENTS_V1.key:
            return convert.core_to_events_v1(obj)
        if version is None or not kind.group:
            return obj
        wanted = kind.api_version_for(version)
        if obj.get("apiVersion") == wanted:
            return obj
        converted = dict(obj)
        converted["apiVersion"] = wanted
        return converted

    def get(self, kind: ResourceKind, namespace: str | None, name: str) -> Obj:
        """The stored object (read-only; events.k8s.io Events in the core shape) or 404."""
        obj = self.store.get(self.stored_kind(kind).key, namespace or "", name)
        if obj is None:
            raise status.not_found(kind, name)
        return obj

    def selection(self, kind: ResourceKind, label_selector: str | None,
                  field_selector: str | None) -> Selection:
        """Parse selectors as the list/watch/deletecollection handlers get them (400 if bad)."""
        try:
            labels = parse_label_selector(label_selector)
            fields = parse_field_selector(field_selector)
        except SelectorError as exc:
            raise status.bad_request(str(exc)) from None
        allowed = SELECTABLE_FIELDS.get(kind.key, frozenset())
        for req in fields:
            if req.field not in ("metadata.name", "metadata.namespace") and req.field not in allowed:
                raise status.bad_request(f'field label not supported: {req.field}')
        return Selection(labels, fields, kind.key)

    def list_page(self, kind: ResourceKind, namespace: str | None, selection: Selection, *,
                  limit: int | None = None, continue_token: str | None = None) -> ListPage:
        """One page of a list, in (namespace, name) order, as the etcd-backed list gives it.

        ``remainingItemCount`` is set only when there is no selector (as the real server does).
        The continue token is the real one's shape (base64 JSON with ``rv`` and ``start``); pages
        after the first show the objects as they are now, not as of the first page (LIMITS).
        """
        store, kind = self.store, self.stored_kind(kind)
        after: tuple[str, str] | None = None
        with store.lock:
            list_rv = store.resource_version
            if continue_token:
                list_rv, after = self._decode_continue(kind, continue_token)
            entries: list[Entry] = []
            last: tuple[str, str] | None = None
            more = False
            test = None if selection.empty else selection.matches
            for key, entry in store.scan(kind.key, namespace, after):
                if limit and len(entries) >= limit:
                    more = True
                    break
                if test is None or test(entry.obj):
                    entries.append(entry)
                last = key
            page = ListPage(kind, entries, str(list_rv))
            if more and last is not None:
                page.continue_token = _encode_continue(list_rv, last)
                if selection.empty:
                    page.remaining = store.remaining_after(kind.key, namespace, last)
            return page

    def _decode_continue(self, kind: ResourceKind, token: str) -> tuple[int, tuple[str, str]]:
        try:
            data = orjson.loads(base64.b64decode(token, validate=False))
            rv, start = int(data["rv"]), str(data["start"])
            if data.get("v") != "meta.k8s.io/v1":
                raise ValueError("unexpected version")
        except (ValueError, KeyError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
            raise status.bad_request(f"invalid continue token: {exc}") from None
        if rv < self.store.oldest_rv(kind.key):
            raise status.expired(status.CONTINUE_EXPIRED)
        key = start.rstrip("\x00")
        if not kind.namespaced:
            # cluster-scoped keys are ("", name): the token holds the bare name
            return rv, ("", key)
        ns, _, name = key.partition("/")
        return rv, (ns, name)

    def watch(self, kind: ResourceKind, namespace: str | None, selection: Selection,
              resource_version: str | None, send: Callable[[str, Obj], None]) -> Callable[[], None]:
        """Start a watch: ``send(type, obj)`` gets every matching change; returns ``stop``.

        With no resourceVersion (or ``"0"``) the watch starts with synthetic ADDED events for what
        exists; with one, it replays the history after it (410 Gone when that is too old). Objects
        that start or stop matching the selectors arrive as ADDED or DELETED, as from the watch
        cache. ``send`` is called with the store lock held: it must only enqueue.
        """
        store = self.store
        # events.k8s.io/v1 Events are watched where they are kept: with the core/v1 ones
        stored = self.stored_kind(kind).key

        def on_change(change: Change) -> None:
            if change.kind != stored:
                return
            for type_, obj in self._filtered(change, namespace, selection):
                send(type_, obj)

        with store.lock:
            if resource_version in (None, "", "0"):
                for _, entry in store.scan(stored, namespace):
                    if selection.empty or selection.matches(entry.obj):
                        send("ADDED", entry.obj)
            else:
                try:
                    rv = int(resource_version)
                except ValueError:
                    raise status.bad_request(
                        f'invalid resource version "{resource_version}"') from None
                history = store.history_since(stored, rv)
                if history is None:
                    raise status.too_old(rv, store.oldest_rv(stored) + 1)
                for change in history:
                    on_change(change)
            return store.subscribe(on_change)

    def _filtered(self, change: Change, namespace: str | None, selection: Selection
                  ) -> Iterable[tuple[str, Obj]]:
        obj_ns = change.obj["metadata"].get("namespace") or ""
        if namespace is not None and obj_ns != namespace:
            return ()
        if selection.empty:
            return ((change.type, change.obj),)
        now = selection.matches(change.obj)
        if change.type == "ADDED":
            return (("ADDED", change.obj),) if now else ()
        if change.type == "DELETED":
            return (("DELETED", change.obj),) if now else ()
        before = change.old is not None and selection.matches(change.old)
        if now and before:
            return (("MODIFIED", change.obj),)
        if now:
            return (("ADDED", change.obj),)
        if before:
            return (("DELETED", change.obj),)
        return ()
