"""Resource semantics of the sandbox: what kube-apiserver's registry does between HTTP and etcd.

:class:`Cluster` owns the :class:`~.store.Store`, the served kinds (a
:class:`runbook.kinds.KindRegistry` that grows and shrinks with CRDs), the admission chain, the
work queue, pod logs and the clock. The HTTP layer (``runbook.sandbox.apiserver.server``) decodes requests
and calls the verbs here; in-process controllers of later tasks may call the same verbs (they then
pass through admission and validation like any client) or write to the store directly.

The write path, in kube-apiserver's order::

    defaults → admission.mutating → validation (+ CRD schema) → admission.validating → commit

Semantics implemented here (each has tests in tests/sandbox/):

* namespaces must exist (404 ``namespaces "x" not found``) and not be terminating (403) for
  namespaced creates; deleting a namespace marks it ``Terminating`` and a queued finalizer deletes
  its contents, then the namespace;
* the ``status`` subresource: writes to the main resource keep the stored status, writes to
  ``/status`` change only status; ``scale`` reads and writes ``spec.replicas`` as
  autoscaling/v1 Scale;
* optimistic concurrency (409 on a stale resourceVersion), AlreadyExists, generateName;
* ``dryRun=All``: everything up to the commit runs, nothing is stored;
* deletion with ``propagationPolicy`` Background (the store's collector), Foreground (the owner
  carries ``foregroundDeletion`` until its dependents are gone) and Orphan (dependents lose the
  ownerReference), plus ``metadata.finalizers`` holding an object until they are removed;
* CRDs: creating one serves its kinds in every served version; deleting one removes kind and
  objects; custom resources are validated against the version's ``openAPIV3Schema``;
* the ``default`` ServiceAccount of each namespace (the serviceaccount controller's job).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import yaml

from runbook import schema as crd_schema
from runbook.errors import Cause, InputLimitExceeded
from runbook.kinds import (
    BUILTIN_KINDS,
    CRDS,
    EVENTS,
    EVENTS_V1,
    NAMESPACES,
    PODS,
    SERVICE_ACCOUNTS,
    SERVICES,
    KindRegistry,
    ResourceKind,
)
from runbook.safeload import load_json, load_yaml
from runbook.sandbox.clock import Clock
from runbook.sandbox.registry import convert, patching, status, validation
from runbook.sandbox.registry.admission import AdmissionChain, AdmissionRequest
from runbook.sandbox.registry.defaults import Allocator, apply_defaults, omit_empty
from runbook.sandbox.registry.discovery import version_priority
from runbook.sandbox.registry.status import ApiError
from runbook.sandbox.storage.logs import PodLogs
from runbook.sandbox.storage.store import (
    DEFAULT_HISTORY,
    GENERATION_KINDS,
    Change,
    Entry,
    Obj,
    PreconditionFailed,
    Store,
    StoreKeyError,
    copy_object,
)
from runbook.sandbox.work import WorkQueue
from runbook.selectors import (
    FieldRequirement,
    LabelSelector,
    SelectorError,
    field_value,
    parse_field_selector,
    parse_label_selector,
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

#: served for ``kubectl auth can-i`` only (create, answered by the server; never stored)
SELF_SUBJECT_ACCESS_REVIEWS = ResourceKind("authorization.k8s.io", "v1", "SelfSubjectAccessReview",
                                           "selfsubjectaccessreviews", False, verbs=("create",))

#: the largest request body kube-apiserver reads (``MaxRequestBodyBytes``, 3 MiB)
MAX_BODY = 3 * 1024 * 1024

PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)


def pod_grace_period(pod: Obj, requested: int | None) -> int:
    """Seconds a deleted pod stays Terminating (``CheckGracefulDelete`` of the pod strategy):
    none for a pod no node runs or one that has finished; else the request's
    ``gracePeriodSeconds``, or the pod's ``terminationGracePeriodSeconds`` (30 by default)."""
    if not (pod.get("spec") or {}).get("nodeName"):
        return 0
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return 0
    if requested is None:
        requested = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
    return max(int(requested or 0), 0)


@dataclass
class RequestContext:
    """Who asks and how (the parts of a request that are not the object).

    Attributes:
        user: the authenticated user name.
        dry_run: ``dryRun=All``.
        field_manager: ``fieldManager`` (defaults by verb as the real server derives them).
        field_validation: ``Strict`` | ``Warn`` | ``Ignore`` (unknown fields of custom resources).
        force: ``force=true`` for server-side apply.
        warnings: filled by the verb: sent back as ``Warning: 299 - "…"`` headers.
    """

    user: str = "system:admin"
    dry_run: bool = False
    field_manager: str | None = None
    field_validation: str = "Warn"
    force: bool = False
    warnings: list[str] = field(default_factory=list)


SYSTEM = RequestContext(user="system:serviceaccount:kube-system:sandbox-controllers")


def system_writer(field_manager: str) -> RequestContext:
    """The controllers' identity, recording ``field_manager`` in managedFields as the component
    of a real cluster that writes the same object does (so server-side apply conflicts with it)."""
    return RequestContext(user=SYSTEM.user, field_manager=field_manager)


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

    def matches(self, obj: Obj) -> bool:
        meta = obj.get("metadata") or {}
        if not self.labels.matches(meta.get("labels")):
            return False
        for req in self.fields:
            path = _FIELD_PATHS.get((self.kind_key, req.field), req.field)
            have = field_value(obj, path)
            if (have != req.value) != req.negate:
                return False
        return True


class Cluster:
    """The sandbox's API semantics over its store (see the module docstring).

    Args:
        clock: the sandbox clock.
        history: watch history per kind.
    """

    def __init__(self, clock: Clock, history: int = DEFAULT_HISTORY) -> None:
        self.clock = clock
        self.store = Store(clock, history=history)
        self.kinds = KindRegistry((*BUILTIN_KINDS, SELF_SUBJECT_ACCESS_REVIEWS))
        self.admission = AdmissionChain()
        self.work = WorkQueue()
        self.logs = PodLogs()
        self.allocator = Allocator()
        self._crd_kinds: dict[str, str] = {}  # CRD name -> kind key it serves
        self._storage_version: dict[str, str] = {}
        self.store.subscribe(self._on_change)

    # ------------------------------------------------------------------ kinds

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

    # ------------------------------------------------------------------ reads

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
            for key, entry in store.scan(kind.key, namespace, after):
                if limit and len(entries) >= limit:
                    more = True
                    break
                if selection.empty or selection.matches(entry.obj):
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

        def on_change(change: Change) -> None:
            if change.kind != kind.key:
                return
            for type_, obj in self._filtered(change, namespace, selection):
                send(type_, obj)

        with store.lock:
            if resource_version in (None, "", "0"):
                for _, entry in store.scan(kind.key, namespace):
                    if selection.empty or selection.matches(entry.obj):
                        send("ADDED", entry.obj)
            else:
                try:
                    rv = int(resource_version)
                except ValueError:
                    raise status.bad_request(
                        f'invalid resource version "{resource_version}"') from None
                history = store.history_since(kind.key, rv)
                if history is None:
                    raise status.too_old(rv, store.oldest_rv(kind.key) + 1)
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

    # ------------------------------------------------------------------ create

    def create(self, kind: ResourceKind, namespace: str | None, body: Any,
               ctx: RequestContext, *, keep_status: bool = False,
               managed_fields: list[Obj] | None = None) -> Obj:
        """Create an object (POST); returns what is stored (or would be, on dry run).

        Args:
            keep_status: keep the body's ``status`` (scenario loading and in-process controllers
                write objects as a cluster would hold them; API clients cannot).
            managed_fields: the managedFields to store (server-side apply computed them).
        """
        if kind.key == EVENTS_V1.key:
            kind, body = EVENTS, convert.events_v1_to_core(self._decode_object(kind, body, namespace))
        obj = self._decode_object(kind, body, namespace)
        meta = obj["metadata"]
        if meta.get("resourceVersion"):
            # the registry's BeforeCreate returns a plain error: kube-apiserver answers a 500
            # with no reason
            raise ApiError(500, "", "resourceVersion should not be set on objects to be created")
        if not meta.get("name") and not meta.get("generateName"):
            raise status.invalid(kind, "", [Cause("metadata.name", "FieldValueRequired",
                                                  "Required value: name or generateName is required")])
        if kind.namespaced:
            self._check_namespace_writable(kind, meta.get("name") or meta.get("generateName", ""),
                                           meta["namespace"])
        if not keep_status and "status" in kind.subresources:
            # built-in strategies reset status to its zero value; custom resources drop it
            if self.crd_for(kind) is None:
                obj["status"] = {}
            else:
                obj.pop("status", None)
        for f in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                  "generation"):
            meta.pop(f, None)
        with self._allocations(ctx.dry_run):
            self._defaults(kind, obj, None)
            if kind.key == CRDS.key:
                self._establish_crd(obj)
            if managed_fields is not None:
                meta["managedFields"] = managed_fields
            else:
                meta.pop("managedFields", None)
                self._stamp_managed_fields(kind, obj, None, ctx)
            _sort_managed_fields(obj)
            name = meta.get("name") or ""
            if not name:
                # generateName: the store picks the name; admission and validation see it first
                probe = self.store.create(kind.key, copy_object(obj), dry_run=True)
                name = meta["name"] = probe["metadata"]["name"]
            request = AdmissionRequest("CREATE", kind, meta.get("namespace"), name, obj, None,
                                       ctx.user, ctx.dry_run)
            obj = self._admit_and_validate(request, ctx)
            try:
                # custom resources carry metadata.generation, like the built-in kinds that have one
                stored = self.store.create(kind.key, obj, dry_run=ctx.dry_run,
                                           generation=kind.key in GENERATION_KINDS
                                           or self.crd_for(kind) is not None)
            except StoreKeyError:
                raise status.already_exists(kind, name) from None
        if kind.key == SERVICES.key and not ctx.dry_run:
            self.allocator.reserve(stored)
        return stored

    # ------------------------------------------------------------------ update, patch

    def update(self, kind: ResourceKind, namespace: str | None, name: str, body: Any,
               ctx: RequestContext, *, subresource: str = "") -> Obj:
        """Replace an object (PUT), or its ``status`` / ``scale`` subresource."""
        if subresource == "scale":
            return self._write_scale(kind, namespace, name, body, ctx)
        if kind.key == EVENTS_V1.key:
            body = convert.events_v1_to_core(self._decode_object(kind, body, namespace, url_name=name))
            kind = EVENTS
        new = self._decode_object(kind, body, namespace, url_name=name)
        return self._replace(kind, namespace, name, new, ctx, subresource=subresource)

    def patch(self, kind: ResourceKind, namespace: str | None, name: str, content_type: str,
              body: bytes, ctx: RequestContext, *, subresource: str = "") -> tuple[Obj, bool]:
        """Apply a patch (PATCH); returns the object and whether it was created (apply only)."""
        media = content_type.split(";")[0].strip().lower()
        if media not in PATCH_TYPES:
            raise status.route_unsupported_media_type()
        if media == "application/apply-patch+yaml":
            if kind.key == EVENTS_V1.key:
                raise status.unsupported_media_type(PATCH_TYPES[:3])
            return self._apply(kind, namespace, name, body, ctx, subresource)
        try:
            patch_doc = load_json(body, "the patch")
        except orjson.JSONDecodeError as exc:
            raise status.bad_request(f"error decoding patch: {exc}") from None
        except InputLimitExceeded as exc:
            raise status.bad_request(exc.message) from None
        view = kind.key == EVENTS_V1.key
        current = self._current(kind, namespace, name, subresource)
        if view:
            current = convert.core_to_events_v1(current)
        try:
            if media == "application/json-patch+json":
                patched = patching.json_patch(copy_object(current), patch_doc)
            elif media == "application/merge-patch+json":
                patched = patching.merge_patch(copy_object(current), patch_doc)
            else:
                patched = patching.strategic_merge_patch(copy_object(current), patch_doc, kind.key)
        except patching.PatchError as exc:
            raise _patch_error(kind, name, exc) from None
        if not isinstance(patched, dict):
            raise status.bad_request("the patch did not produce an object")
        if subresource == "scale":
            return self._write_scale(kind, namespace, name, patched, ctx), False
        if view:
            kind, patched = EVENTS, convert.events_v1_to_core(patched)
        return self._replace(kind, namespace, name, patched, ctx, subresource=subresource), False

    def _apply(self, kind: ResourceKind, namespace: str | None, name: str, body: bytes,
               ctx: RequestContext, subresource: str) -> tuple[Obj, bool]:
        """Server-side apply through ``patching.apply_patch`` (see its docstring for the rules)."""
        if not ctx.field_manager:
            raise status.bad_request(
                "PATCH, application/apply-patch+yaml requests must have fieldManager set")
        try:
            applied = load_yaml(body, "the applied configuration")
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise status.bad_request(f"error decoding YAML: {exc}") from None
        except InputLimitExceeded as exc:
            raise status.bad_request(exc.message) from None
        if not isinstance(applied, dict):
            raise status.bad_request("the applied configuration must be an object")
        live = self.store.get(kind.key, namespace or "", name)
        if live is not None and subresource:
            raise status.method_not_supported(kind, "apply to a subresource")
        try:
            result = patching.apply_patch(
                copy_object(live) if live is not None else None, applied, ctx.field_manager,
                ctx.force, kind.key, now=self.clock.now(),
                api_version=kind.api_version_for(self.storage_version(kind)))
        except patching.PatchError as exc:
            raise _patch_error(kind, name, exc) from None
        merged = result.object
        if live is None:
            merged.setdefault("metadata", {}).setdefault("name", name)
            if kind.namespaced:
                merged["metadata"].setdefault("namespace", namespace)
            return self._create_applied(kind, namespace, merged, ctx), True
        return self._replace(kind, namespace, name, merged, ctx, managed_by_apply=True), False

    def _create_applied(self, kind: ResourceKind, namespace: str | None, obj: Obj,
                        ctx: RequestContext) -> Obj:
        """Create through apply: the apply result's managedFields are kept as they are."""
        managed = obj.get("metadata", {}).get("managedFields")
        return self.create(kind, namespace, obj, ctx, managed_fields=managed)

    def _current(self, kind: ResourceKind, namespace: str | None, name: str,
                 subresource: str) -> Obj:
        current = self.get(kind, namespace, name)
        if subresource == "scale":
            return self._scale_of(kind, current)
        return current

    def _replace(self, kind: ResourceKind, namespace: str | None, name: str, new: Obj,
                 ctx: RequestContext, *, subresource: str = "", managed_by_apply: bool = False
                 ) -> Obj:
        store = self.store
        with store.lock:
            old = self.get(kind, namespace, name)
            meta = new.setdefault("metadata", {})
            if meta.get("name", name) != name:
                raise status.bad_request(
                    f"the name of the object ({meta.get('name')}) does not match the name on the URL "
                    f"({name})")
            meta["name"] = name
            if kind.namespaced:
                if meta.get("namespace") not in (None, "", namespace):
                    raise status.bad_request("the namespace of the provided object does not match "
                                             "the namespace sent on the request")
                meta["namespace"] = namespace
            else:
                meta.pop("namespace", None)
            expect_rv = meta.get("resourceVersion") or None
            if expect_rv is not None and expect_rv != old["metadata"].get("resourceVersion"):
                raise status.conflict(kind, name, status.STALE)
            if expect_rv is None and kind.key in _NO_UNCONDITIONAL_UPDATE:
                raise status.unconditional_update(kind, name)
            if subresource == "status":
                status_part = new.get("status")
                new = copy_object(old)
                if status_part is None:
                    new.pop("status", None)
                else:
                    new["status"] = status_part
            elif "status" in kind.subresources:
                if "status" in old:
                    new["status"] = copy_object({"s": old["status"]})["s"]
                else:
                    new.pop("status", None)
            # server-owned metadata cannot be changed by clients
            for f in ("deletionTimestamp", "deletionGracePeriodSeconds"):
                if f in old["metadata"]:
                    new["metadata"][f] = old["metadata"][f]
                else:
                    new["metadata"].pop(f, None)
            with self._allocations(ctx.dry_run):
                if not subresource:
                    self._defaults(kind, new, old)
                if kind.key == CRDS.key:
                    self._establish_crd(new)
                if not managed_by_apply:
                    self._stamp_managed_fields(kind, new, old, ctx, subresource)
                _sort_managed_fields(new)
                request = AdmissionRequest("UPDATE", kind, namespace if kind.namespaced else None, name,
                                           new, old, ctx.user, ctx.dry_run, subresource)
                new = self._admit_and_validate(request, ctx, old)
                new = _ignore_managed_fields_times(new, old)
                try:
                    stored = store.update(kind.key, new, expect_rv=old["metadata"].get("resourceVersion"),
                                          dry_run=ctx.dry_run)
                except PreconditionFailed:
                    raise status.conflict(kind, name, status.STALE) from None
            if (not ctx.dry_run and stored["metadata"].get("deletionTimestamp")
                    and not stored["metadata"].get("finalizers")):
                # the last finalizer is gone: the pending deletion completes now
                store.delete(kind.key, namespace or "", name)
            elif kind.key == SERVICES.key and not ctx.dry_run:
                self.allocator.reserve(stored)
            return stored

    # ------------------------------------------------------------------ scale

    def _scale_of(self, kind: ResourceKind, obj: Obj) -> Obj:
        if "scale" not in kind.subresources:
            raise status.resource_not_found()
        meta = obj["metadata"]
        selector = (obj.get("spec") or {}).get("selector") or {}
        labels = selector.get("matchLabels") or {}
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                              "creationTimestamp") if k in meta},
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
            "status": {
                "replicas": (obj.get("status") or {}).get("replicas", 0),
                "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
            },
        }

    def get_scale(self, kind: ResourceKind, namespace: str | None, name: str) -> Obj:
        """``GET …/scale``: the autoscaling/v1 Scale of a Deployment or ReplicaSet."""
        return self._scale_of(kind, self.get(kind, namespace, name))

    def _write_scale(self, kind: ResourceKind, namespace: str | None, name: str, body: Any,
                     ctx: RequestContext) -> Obj:
        if "scale" not in kind.subresources:
            raise status.resource_not_found()
        if not isinstance(body, dict):
            raise status.bad_request("the body must be an autoscaling/v1 Scale object")
        replicas = (body.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise ApiError(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: spec.replicas: '
                           f"Invalid value: {replicas}: must be greater than or equal to 0",
                           {"name": name, "group": "autoscaling", "kind": "Scale",
                            "causes": [{"reason": "FieldValueInvalid", "field": "spec.replicas",
                                        "message": f"Invalid value: {replicas}: must be greater "
                                                   "than or equal to 0"}]})
        current = copy_object(self.get(kind, namespace, name))
        rv = (body.get("metadata") or {}).get("resourceVersion")
        if rv:
            current["metadata"]["resourceVersion"] = rv
        current.setdefault("spec", {})["replicas"] = replicas
        stored = self._replace(kind, namespace, name, current, ctx, subresource="scale")
        return self._scale_of(kind, stored)

    # ------------------------------------------------------------------ delete

    def delete(self, kind: ResourceKind, namespace: str | None, name: str, ctx: RequestContext, *,
               propagation: str | None = None, preconditions: Obj | None = None,
               grace_period: int | None = None) -> tuple[Obj, bool]:
        """Delete (DELETE); returns ``(object, gone)`` — ``gone`` False while finalizers hold it
        or, for a pod on a node, while its kubelet stops it (graceful deletion).

        Args:
            grace_period: DeleteOptions ``gracePeriodSeconds`` (pods; None: the pod's own).

        Raises:
            ApiError: 404, 409 on failed preconditions, 400 on an unknown propagation policy.
        """
        kind = self.stored_kind(kind)
        propagation = propagation or "Background"
        if propagation not in ("Background", "Foreground", "Orphan"):
            raise status.bad_request(f'propagationPolicy: Unsupported value: "{propagation}": '
                                     'supported values: "Foreground", "Background", "Orphan"')
        store = self.store
        ns = namespace or ""
        with store.lock:
            obj = self.get(kind, namespace, name)
            meta = obj["metadata"]
            pre = preconditions or {}
            if pre.get("uid") and pre["uid"] != meta.get("uid"):
                raise status.conflict(kind, name, f"Precondition failed: UID in precondition: "
                                      f"{pre['uid']}, UID in object meta: {meta.get('uid')}")
            if pre.get("resourceVersion") and pre["resourceVersion"] != meta.get("resourceVersion"):
                raise status.conflict(kind, name, "Precondition failed: ResourceVersion in "
                                      f"precondition: {pre['resourceVersion']}, ResourceVersion in "
                                      f"object meta: {meta.get('resourceVersion')}")
            request = AdmissionRequest("DELETE", kind, namespace if kind.namespaced else None, name,
                                       obj, obj, ctx.user, ctx.dry_run)
            self.admission.run_mutating(request)
            self.admission.run_validating(request)
            if ctx.dry_run:
                return obj, True
            if kind.key == NAMESPACES.key:
                return self._terminate_namespace(obj), False
            if meta.get("deletionTimestamp") and not (
                    grace_period == 0 and kind.key == PODS.key and not meta.get("finalizers")):
                return obj, False  # already on its way out (grace 0 ends a pod's grace period)
            grace = pod_grace_period(obj, grace_period) if kind.key == PODS.key else 0
            if grace and not meta.get("finalizers") and propagation != "Foreground":
                # Terminating: the pod's kubelet stops its containers and then deletes it
                # with grace 0 (the pod strategy's CheckGracefulDelete)
                held = copy_object(obj)
                held["metadata"]["deletionTimestamp"] = self.clock.timestamp(after=grace)
                held["metadata"]["deletionGracePeriodSeconds"] = grace
                return store.update(kind.key, held), False
            if propagation == "Orphan":
                self._orphan_dependents(meta.get("uid", ""))
            finalizers = list(meta.get("finalizers") or [])
            if propagation == "Foreground" and store.dependents(meta.get("uid", "")):
                finalizers.append("foregroundDeletion")
            if finalizers:
                held = copy_object(obj)
                held["metadata"]["deletionTimestamp"] = self.clock.timestamp()
                held["metadata"]["deletionGracePeriodSeconds"] = 0
                held["metadata"]["finalizers"] = finalizers
                held = store.update(kind.key, held)
                if "foregroundDeletion" in finalizers:
                    # The answer shows the owner as the call left it (finalizer set); the
                    # dependents then go, and with them the owner - all before we return.
                    self._delete_dependents_foreground(held)
                    current = store.get(kind.key, ns, name)
                    if current is not None:
                        rest = copy_object(current)
                        rest["metadata"]["finalizers"] = [
                            f for f in rest["metadata"]["finalizers"] if f != "foregroundDeletion"]
                        if rest["metadata"]["finalizers"]:
                            store.update(kind.key, rest)
                        else:
                            store.delete(kind.key, ns, name)
                return held, False
            gone = store.delete(kind.key, ns, name)
            return gone, True

    def _orphan_dependents(self, uid: str) -> None:
        for dep_kind, dep_ns, dep_name in self.store.dependents(uid):
            dep = self.store.get(dep_kind, dep_ns, dep_name)
            if dep is None:
                continue
            updated = copy_object(dep)
            refs = [r for r in updated["metadata"].get("ownerReferences") or () if r.get("uid") != uid]
            if refs:
                updated["metadata"]["ownerReferences"] = refs
            else:
                updated["metadata"].pop("ownerReferences", None)
            self.store.update(dep_kind, updated)

    def _delete_dependents_foreground(self, owner: Obj) -> None:
        for dep_kind, dep_ns, dep_name in self.store.dependents(owner["metadata"]["uid"]):
            kind = self.kinds.by_key(dep_kind)
            if kind is None or self.store.get(dep_kind, dep_ns, dep_name) is None:
                continue
            try:
                self.delete(kind, dep_ns or None, dep_name, SYSTEM, propagation="Foreground")
            except ApiError:
                continue  # already gone, or held by a finalizer: the owner waits like the real GC

    def delete_collection(self, kind: ResourceKind, namespace: str | None, selection: Selection,
                          ctx: RequestContext, *, propagation: str | None = None) -> list[Obj]:
        """``DELETE`` on a collection: deletes what matches; returns the deleted objects."""
        kind = self.stored_kind(kind)
        deleted = []
        for obj in [o for o in self.store.objects(kind.key, namespace) if selection.matches(o)]:
            meta = obj["metadata"]
            try:
                gone, _ = self.delete(kind, meta.get("namespace"), meta["name"], ctx,
                                      propagation=propagation)
            except ApiError as exc:
                if exc.code == 404:
                    continue  # removed meanwhile (e.g. by the garbage collector)
                raise
            deleted.append(gone)
        return deleted

    # ------------------------------------------------------------------ namespaces

    def _check_namespace_writable(self, kind: ResourceKind, name: str, namespace: str) -> None:
        ns = self.store.get(NAMESPACES.key, "", namespace)
        if ns is None:
            raise status.not_found(NAMESPACES, namespace)
        if ns["metadata"].get("deletionTimestamp") or (ns.get("status") or {}).get("phase") == "Terminating":
            raise status.namespace_terminating(kind, name, namespace)

    def _terminate_namespace(self, ns: Obj) -> Obj:
        name = ns["metadata"]["name"]
        if ns["metadata"].get("deletionTimestamp"):
            return ns
        terminating = copy_object(ns)
        terminating["metadata"]["deletionTimestamp"] = self.clock.timestamp()
        terminating.setdefault("status", {})["phase"] = "Terminating"
        stored = self.store.update(NAMESPACES.key, terminating)
        self.work.add(lambda: self._finalize_namespace(name), key=("namespace-finalize", name))
        return stored

    def _finalize_namespace(self, name: str) -> None:
        """The namespace controller: delete what the namespace holds; when it is empty, the
        namespace goes too. Objects held by finalizers keep it ``Terminating`` (as in a real
        cluster) until they are gone; each removal queues this again."""
        store = self.store
        with store.lock:
            ns = store.get(NAMESPACES.key, "", name)
            if ns is None or not ns["metadata"].get("deletionTimestamp"):
                return
            remaining = 0
            for kind in list(self.kinds):
                if not kind.namespaced or self.stored_kind(kind) is not kind:
                    continue
                for obj in store.objects(kind.key, name):
                    remaining += 1
                    if obj["metadata"].get("deletionTimestamp"):
                        continue
                    with contextlib.suppress(ApiError):  # already gone: the GC was faster
                        self.delete(kind, name, obj["metadata"]["name"], SYSTEM)
            if remaining and any(store.count(k.key, name) for k in self.kinds if k.namespaced):
                return
            store.delete(NAMESPACES.key, "", name)

    # ------------------------------------------------------------------ helpers

    def _decode_object(self, kind: ResourceKind, body: Any, namespace: str | None,
                       url_name: str | None = None) -> Obj:
        """Check a decoded body against the URL (kind, apiVersion, namespace) — 400 on mismatch."""
        if not isinstance(body, dict):
            raise status.bad_request(f"the object provided is unrecognized (must be a JSON object "
                                     f"of kind {kind.kind})")
        obj = body
        api_version, kind_name = obj.get("apiVersion"), obj.get("kind")
        if kind_name is not None and kind_name != kind.kind:
            raise status.bad_request(f"the kind of the object ({kind_name}) does not match the "
                                     f"expected kind ({kind.kind})")
        if api_version is not None:
            group, _, version = str(api_version).rpartition("/")
            if group != kind.group or version not in kind.versions:
                raise status.bad_request(
                    f"the API version in the data ({api_version}) does not match the expected API "
                    f"version ({kind.api_version})")
        obj["apiVersion"] = kind.api_version_for(self.storage_version(kind))
        obj["kind"] = kind.kind
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise _type_error(kind, "metadata", meta, "v1.ObjectMeta")
        for f in ("name", "generateName", "namespace", "resourceVersion", "uid"):
            if f in meta and meta[f] is not None and not isinstance(meta[f], str):
                raise _type_error(kind, f"metadata.{f}", meta[f], "string")
        finalizers = meta.get("finalizers")
        if finalizers is not None and (not isinstance(finalizers, list)
                                       or not all(isinstance(f, str) for f in finalizers)):
            raise _type_error(kind, "metadata.finalizers", finalizers, "[]string")
        if kind.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and namespace and body_ns != namespace:
                raise status.bad_request("the namespace of the provided object does not match the "
                                         "namespace sent on the request")
            if not (body_ns or namespace):
                raise status.bad_request("the namespace of the object must be set")
            meta["namespace"] = body_ns or namespace
        else:
            meta.pop("namespace", None)
        if url_name is not None and meta.get("name") not in (None, url_name):
            raise status.bad_request(f"the name of the object ({meta.get('name')}) does not match "
                                     f"the name on the URL ({url_name})")
        return obj

    def _defaults(self, kind: ResourceKind, obj: Obj, old: Obj | None) -> None:
        """Defaulting; a body whose fields have the wrong JSON types is a 400, as decoding it into
        the Go types would be on the real server (the sandbox finds out while defaulting).
        ClusterIPs/NodePorts it allocates are given back by :meth:`_allocations` on failure."""
        try:
            apply_defaults(kind.key, obj, self.allocator, old)
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            raise status.bad_request(f"error decoding {kind.kind}: a field has the wrong type "
                                     f"({exc})") from None

    @contextlib.contextmanager
    def _allocations(self, dry_run: bool) -> Iterator[None]:
        """Keep what defaulting allocated only when the write is committed."""
        self.allocator.begin()
        try:
            yield
        except BaseException:
            self.allocator.end(keep=False)
            raise
        self.allocator.end(keep=not dry_run)

    def _admit_and_validate(self, request: AdmissionRequest, ctx: RequestContext,
                            old: Obj | None = None) -> Obj:
        self.admission.run_mutating(request)
        obj = request.obj
        kind = request.kind
        if self.crd_for(kind) is None and isinstance(obj, dict):
            omit_empty(kind.key, obj)
        try:
            causes = list(validation.validate_object(kind, obj, old))
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            raise status.bad_request(f"error decoding {kind.kind}: a field has the wrong type "
                                     f"({exc})") from None
        crd = self.crd_for(kind)
        if crd is not None:
            causes += self._validate_custom(kind, crd, obj, ctx)
        if causes:
            seen: set[tuple[str, str]] = set()
            unique = [c for c in causes if (c.field, c.message) not in seen
                      and not seen.add((c.field, c.message))]  # type: ignore[func-returns-value]
            raise status.invalid(kind, request.name, unique)
        self.admission.run_validating(request)
        return obj

    def _validate_custom(self, kind: ResourceKind, crd: Obj, obj: Obj, ctx: RequestContext
                         ) -> list[Cause]:
        """Schema validation and pruning of a custom resource (``runbook.schema``).

        Unknown fields: ``fieldValidation=Strict`` → 400, ``Warn`` (the server default) → a
        ``Warning`` header each, ``Ignore`` → silently; in the last two cases they are pruned.
        """
        version = str(obj.get("apiVersion", "")).rpartition("/")[2]
        schema = crd_schema.version_schema(crd, version)
        if not schema:
            return []
        causes, unknown = crd_schema.validate_against_schema(
            obj, schema, strict_unknown=ctx.field_validation != "Ignore")
        if unknown and ctx.field_validation == "Strict":
            raise status.bad_request(crd_schema.strict_decoding_message(unknown))
        if ctx.field_validation == "Warn":
            ctx.warnings.extend(crd_schema.unknown_field_warning(p) for p in unknown)
        pruned = crd_schema.prune(obj, schema)
        obj.clear()
        obj.update(pruned)
        return list(causes)

    def _stamp_managed_fields(self, kind: ResourceKind, new: Obj, old: Obj | None,
                              ctx: RequestContext, subresource: str = "") -> None:
        """Record the write's field manager (``patching.track_update``) in ``managedFields``.

        In-process writers without a field manager leave the stored bookkeeping as it was.
        """
        meta = new["metadata"]
        if ctx.field_manager is None:
            if old is not None and "managedFields" in old["metadata"]:
                meta["managedFields"] = old["metadata"]["managedFields"]
            return
        if old is not None and "managedFields" not in meta and "managedFields" in old["metadata"]:
            meta["managedFields"] = old["metadata"]["managedFields"]
        managed = patching.track_update(old, new, ctx.field_manager, kind.key, now=self.clock.now(),
                                        api_version=new.get("apiVersion"), subresource=subresource)
        if managed:
            meta["managedFields"] = managed
        else:
            meta.pop("managedFields", None)

    # ------------------------------------------------------------------ CRDs, controllers

    def _establish_crd(self, crd: Obj) -> None:
        """What the CRD controllers write into ``status`` (names accepted, established)."""
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        storage = [v.get("name") for v in spec.get("versions") or () if v.get("storage")]
        now = self.clock.timestamp()
        crd["status"] = {
            "acceptedNames": names,
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": now},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": now},
            ],
            "storedVersions": storage,
        }

    def _on_change(self, change: Change) -> None:
        if change.kind == CRDS.key:
            self._crd_changed(change)
        elif change.kind == NAMESPACES.key:
            name = change.obj["metadata"]["name"]
            if change.type != "DELETED" and not change.obj["metadata"].get("deletionTimestamp"):
                self.work.add(lambda: self._ensure_default_sa(name), key=("default-sa", name))
        elif change.kind == SERVICE_ACCOUNTS.key and change.type == "DELETED":
            meta = change.obj["metadata"]
            if meta["name"] == "default":
                ns = meta.get("namespace", "")
                self.work.add(lambda: self._ensure_default_sa(ns), key=("default-sa", ns))
        elif change.kind == PODS.key and change.type == "DELETED":
            meta = change.obj["metadata"]
            self.logs.drop_pod(meta.get("namespace", ""), meta["name"])
        elif change.kind == SERVICES.key and change.type == "DELETED":
            self.allocator.release(change.obj)
        if change.type == "DELETED" and change.obj["metadata"].get("namespace"):
            ns_name = change.obj["metadata"]["namespace"]
            ns = self.store.get(NAMESPACES.key, "", ns_name)
            if ns is not None and ns["metadata"].get("deletionTimestamp"):
                self.work.add(lambda: self._finalize_namespace(ns_name),
                              key=("namespace-finalize", ns_name))

    def _ensure_default_sa(self, namespace: str) -> None:
        """The serviceaccount controller: every active namespace has a ``default`` ServiceAccount."""
        if self.store.get(SERVICE_ACCOUNTS.key, namespace, "default") is not None:
            return
        # the namespace may be gone or terminating, or the account created meanwhile: all fine
        with contextlib.suppress(ApiError):
            self.create(SERVICE_ACCOUNTS, namespace,
                        {"apiVersion": "v1", "kind": "ServiceAccount",
                         "metadata": {"name": "default", "namespace": namespace}},
                        system_writer("kube-controller-manager"))

    def _crd_changed(self, change: Change) -> None:
        crd_name = change.obj["metadata"]["name"]
        old_key = self._crd_kinds.pop(crd_name, None)
        if change.type == "DELETED":
            if old_key:
                self.kinds.remove(old_key)
                self._storage_version.pop(old_key, None)
                self.store.drop_kind(old_key)
            return
        kind = kind_from_crd(change.obj)
        if kind is None:
            return
        builtin = self.kinds.by_key(kind.key)
        if builtin is not None and builtin.key not in self._crd_kinds.values() and old_key != kind.key:
            return  # a CRD cannot shadow a built-in kind
        self.kinds.add(kind)
        self._crd_kinds[crd_name] = kind.key
        spec = change.obj.get("spec") or {}
        self._storage_version[kind.key] = next(
            (v["name"] for v in spec.get("versions") or () if v.get("storage")), kind.version)

    def reset(self) -> None:
        """Forget every object, custom kind, plugin, log and queued work (a scenario reload)."""
        with self.store.lock:
            for key in list(self._crd_kinds.values()):
                self.kinds.remove(key)
            self._crd_kinds.clear()
            self._storage_version.clear()
            self.store.clear()
            self.work.clear()
            self.logs.clear()
            self.allocator.clear()


def kind_from_crd(crd: Obj) -> ResourceKind | None:
    """The :class:`ResourceKind` a CRD serves (None when it serves no version)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    served = [v for v in spec.get("versions") or () if v.get("served", True)]
    if not served or not names.get("plural") or not names.get("kind") or not spec.get("group"):
        return None
    versions = tuple(sorted((str(v["name"]) for v in served), key=version_priority))
    storage = next((v for v in spec.get("versions") or () if v.get("storage")), served[0])
    subresources = tuple(sorted((storage.get("subresources") or {}).keys()))
    return ResourceKind(
        group=spec["group"], version=versions[0], kind=names["kind"], plural=names["plural"],
        namespaced=spec.get("scope", "Namespaced") == "Namespaced", versions=versions,
        short_names=tuple(names.get("shortNames") or ()), subresources=subresources,
        categories=tuple(names.get("categories") or ()),
        singular=names.get("singular") or names["kind"].lower())


def _sort_managed_fields(obj: Obj) -> None:
    """The order the real field manager stores entries in (``sortEncodedManagedFields``):
    by operation (``Apply`` before ``Update``), then time, manager and apiVersion — so an apply
    that changes nothing does not reorder them and commit."""
    entries = obj["metadata"].get("managedFields")
    if isinstance(entries, list) and len(entries) > 1 and all(isinstance(e, dict) for e in entries):
        entries.sort(key=lambda e: (str(e.get("operation", "")), str(e.get("time") or ""),
                                    str(e.get("manager", "")), str(e.get("apiVersion", ""))))


def _ignore_managed_fields_times(new: Obj, old: Obj) -> Obj:
    """kube-apiserver's ``IgnoreManagedFieldsTimestampsTransformer`` (apiserver
    ``endpoints/handlers/fieldmanager``, run on every update): when nothing but the ``time`` of
    managedFields entries changed, the stored times are kept, so the write commits nothing and
    bumps no resourceVersion — a repeated server-side apply in a later second is ``unchanged``."""
    new_mf = (new.get("metadata") or {}).get("managedFields")
    old_mf = (old.get("metadata") or {}).get("managedFields")
    if not new_mf or not old_mf or new_mf == old_mf or len(new_mf) != len(old_mf):
        return new

    def untimed(entries: list[Obj]) -> list[Obj]:
        return [{k: v for k, v in e.items() if k != "time"} for e in entries]

    if untimed(new_mf) != untimed(old_mf):
        return new
    server_owned = ("uid", "creationTimestamp", "resourceVersion", "generation", "managedFields")

    def rest(obj: Obj) -> Obj:
        return {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k not in server_owned}}

    if rest(new) != rest(old):
        return new
    return {**new, "metadata": {**new["metadata"], "managedFields": old_mf}}


def _encode_continue(rv: int, key: tuple[str, str]) -> str:
    start = f"{key[0]}/{key[1]}\x00" if key[0] else f"{key[1]}\x00"
    data = orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start})
    return base64.b64encode(data).decode()


def _type_error(kind: ResourceKind, path: str, value: Any, go_type: str) -> ApiError:
    """400 for a field of the wrong JSON type, worded like encoding/json's UnmarshalTypeError."""
    json_kind = {str: "string", bool: "bool", int: "number", float: "number", list: "array",
                 dict: "object"}.get(type(value), "value")
    return status.bad_request(f"json: cannot unmarshal {json_kind} into Go struct field "
                              f"{kind.kind}.{path} of type {go_type}")


#: kinds whose registry refuses an update without a resourceVersion (AllowUnconditionalUpdate)
_NO_UNCONDITIONAL_UPDATE = frozenset({
    "mutatingwebhookconfigurations.admissionregistration.k8s.io",
    "validatingwebhookconfigurations.admissionregistration.k8s.io"})


def _patch_error(kind: ResourceKind, name: str, exc: patching.PatchError) -> ApiError:
    # the patch handler's errors (NewApplyConflict, NewGenericServerResponse) name no object:
    # their details hold the causes only
    details: Obj = {}
    if exc.causes:
        details["causes"] = [{"reason": c.reason, "message": c.message, "field": c.field}
                             for c in exc.causes]
    return ApiError(exc.status, exc.reason, str(exc), details)
