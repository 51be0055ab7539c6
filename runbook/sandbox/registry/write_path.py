"""What every write passes through before its commit, in kube-apiserver's order.

Decoding and ObjectMeta checks, defaults (with allocations undone on a dry run), mutating
admission, validation (+ the CRD schema for custom resources), validating admission, and the
managedFields stamp of an ``Update``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from runbook import schema as crd_schema
from runbook.errors import Cause
from runbook.kinds import (
    NAMESPACES,
    ResourceKind,
)
from runbook.sandbox.registry import patching, status, validation
from runbook.sandbox.registry.admission import AdmissionRequest
from runbook.sandbox.registry.context import RequestContext
from runbook.sandbox.registry.defaults import apply_defaults, omit_empty
from runbook.sandbox.registry.reads import ClusterReads
from runbook.sandbox.registry.status import ApiError
from runbook.sandbox.storage.store import (
    Obj,
)


def _type_error(kind: ResourceKind, path: str, value: Any, go_type: str) -> ApiError:
    """400 for a field of the wrong JSON type, worded like encoding/json's UnmarshalTypeError."""
    json_kind = {str: "string", bool: "bool", int: "number", float: "number", list: "array",
                 dict: "object"}.get(type(value), "value")
    return status.bad_request(f"json: cannot unmarshal {json_kind} into Go struct field "
                              f"{kind.kind}.{path} of type {go_type}")


class ClusterWritePath(ClusterReads):
    """The write path shared by create, update, patch and apply (see the module docstring)."""

    def _check_namespace_writable(self, kind: ResourceKind, name: str, namespace: str) -> None:
        ns = self.store.get(NAMESPACES.key, "", namespace)
        if ns is None:
            raise status.not_found(NAMESPACES, namespace)
        if ns["metadata"].get("deletionTimestamp") or (ns.get("status") or {}).get("phase") == "Terminating":
            raise status.namespace_terminating(kind, name, namespace)

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
