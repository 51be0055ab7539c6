"""The sandbox's deletes: graceful pod deletion, finalizers, propagation (Background, Foreground,
Orphan), delete-collection and the namespace lifecycle (Terminating, then its contents, then it)."""

from __future__ import annotations

import contextlib

from runbook.kinds import (
    NAMESPACES,
    PODS,
    ResourceKind,
)
from runbook.sandbox.registry import status
from runbook.sandbox.registry.admission import AdmissionRequest
from runbook.sandbox.registry.context import SYSTEM, RequestContext
from runbook.sandbox.registry.reads import Selection
from runbook.sandbox.registry.status import ApiError
from runbook.sandbox.registry.writes import ClusterWrites
from runbook.sandbox.storage.store import (
    Obj,
    copy_object,
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


class ClusterDeletion(ClusterWrites):
    """Deletion and the namespace lifecycle."""

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
