"""The sandbox's writes: create, update, patch, server-side apply, the ``scale`` subresource."""

from __future__ import annotations

from typing import Any

import orjson
import yaml

from runbook.errors import Cause, InputLimitExceeded
from runbook.kinds import (
    CRDS,
    EVENTS,
    EVENTS_V1,
    PODS,
    SERVICE_ACCOUNTS,
    SERVICES,
    ResourceKind,
)
from runbook.safeload import load_json, load_yaml
from runbook.sandbox.registry import convert, patching, status
from runbook.sandbox.registry.admission import AdmissionRequest
from runbook.sandbox.registry.context import RequestContext
from runbook.sandbox.registry.patching.managed_fields import (
    apply_patch,
    keep_times_of_a_no_op,
    sort_entries,
)
from runbook.sandbox.registry.serviceaccounts import mount_token
from runbook.sandbox.registry.status import ApiError
from runbook.sandbox.registry.validation.small_kinds import validate_events_v1_update
from runbook.sandbox.registry.write_path import ClusterWritePath
from runbook.sandbox.storage.store import (
    GENERATION_KINDS,
    Obj,
    PreconditionFailed,
    StoreKeyError,
    copy_object,
)

PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)


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


class ClusterWrites(ClusterWritePath):
    """Create, update, patch and apply: optimistic concurrency, ``status`` and ``scale``, dry runs."""

    def create(self, kind: ResourceKind, namespace: str | None, body: Any,
               ctx: RequestContext, *, keep_status: bool = False,
               managed_fields: list[Obj] | None = None) -> Obj:
        """Create an object (POST); returns what is stored (or would be, on dry run).

        Args:
            keep_status: keep the body's ``status`` (scenario loading and in-process controllers
                write objects as a cluster would hold them; API clients cannot).
            managed_fields: the managedFields to store (server-side apply computed them).
        """
        written_as = kind
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
            sent = self._before_defaults(kind, obj, ctx) if managed_fields is None else None
            self._defaults(kind, obj, None)
            if kind.key == CRDS.key:
                self._establish_crd(obj)
            if managed_fields is not None:
                meta["managedFields"] = managed_fields
            else:
                meta.pop("managedFields", None)
                self._stamp_managed_fields(kind, obj, None, ctx, sent=sent, written_as=written_as)
            sort_entries(obj)
            name = meta.get("name") or ""
            if not name:
                # generateName: the store picks the name; admission and validation see it first
                probe = self.store.create(kind.key, copy_object(obj), dry_run=True)
                name = meta["name"] = probe["metadata"]["name"]
            if kind.key == PODS.key:
                self._mount_service_account_token(obj)
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

    def _mount_service_account_token(self, pod: Obj) -> None:
        """ServiceAccount admission (a built-in mutating plugin: after the managedFields of the
        request are taken, before the webhooks) mounts the token volume (``serviceaccounts``)."""
        spec = pod.get("spec")
        account = spec.get("serviceAccountName") if isinstance(spec, dict) else None
        mount_token(pod, self.store.get(SERVICE_ACCOUNTS.key, pod["metadata"]["namespace"],
                                        str(account or "default")))

    def update(self, kind: ResourceKind, namespace: str | None, name: str, body: Any,
               ctx: RequestContext, *, subresource: str = "") -> Obj:
        """Replace an object (PUT), or its ``status`` / ``scale`` subresource."""
        if subresource == "scale":
            return self._write_scale(kind, namespace, name, body, ctx)
        written_as = kind
        view = kind.key == EVENTS_V1.key
        if view:
            body = convert.events_v1_to_core(self._decode_object(kind, body, namespace, url_name=name))
            kind = EVENTS
        new = self._decode_object(kind, body, namespace, url_name=name)
        if view:
            self._check_events_v1_update(namespace, name, new)
        return self._replace(kind, namespace, name, new, ctx, subresource=subresource,
                             written_as=written_as)

    def _check_events_v1_update(self, namespace: str | None, name: str, new: Obj) -> None:
        """An Event written through events.k8s.io/v1 keeps what it said (ValidateEventUpdate)."""
        old = self.get(EVENTS, namespace, name)
        causes = validate_events_v1_update(new, old)
        if causes:
            raise status.invalid(EVENTS, name, causes)

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
        written_as = kind
        if view:
            kind, patched = EVENTS, convert.events_v1_to_core(patched)
            self._check_events_v1_update(namespace, name, patched)
        return self._replace(kind, namespace, name, patched, ctx, subresource=subresource,
                             written_as=written_as), False

    def _apply(self, kind: ResourceKind, namespace: str | None, name: str, body: bytes,
               ctx: RequestContext, subresource: str) -> tuple[Obj, bool]:
        """Server-side apply through ``managed_fields.apply_patch`` (see its docstring for the rules)."""
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
            result = apply_patch(
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
                 ctx: RequestContext, *, subresource: str = "", managed_by_apply: bool = False,
                 written_as: ResourceKind | None = None) -> Obj:
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
                sent = None
                if not subresource:
                    sent = None if managed_by_apply else self._before_defaults(kind, new, ctx)
                    self._defaults(kind, new, old)
                if kind.key == CRDS.key:
                    self._establish_crd(new)
                if not managed_by_apply:
                    self._stamp_managed_fields(kind, new, old, ctx, subresource, sent=sent,
                                               written_as=written_as)
                sort_entries(new)
                request = AdmissionRequest("UPDATE", kind, namespace if kind.namespaced else None, name,
                                           new, old, ctx.user, ctx.dry_run, subresource)
                new = self._admit_and_validate(request, ctx, old)
                new = keep_times_of_a_no_op(new, old)
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
