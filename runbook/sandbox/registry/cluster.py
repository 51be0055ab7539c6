"""Resource semantics of the sandbox: what kube-apiserver's registry does between HTTP and etcd.

:class:`Registry` (kube-apiserver's name for this layer; ``runbook.kube.Cluster`` is the client
side, a different thing) owns the :class:`~.store.Store`, the served kinds (a
:class:`runbook.kinds.KindRegistry` that grows and shrinks with CRDs), the admission chain, the
work queue, pod logs and the clock. The HTTP layer (``runbook.sandbox.apiserver.server``) decodes requests
and calls the verbs here; in-process controllers call the same verbs (they then
pass through admission and validation like any client) or write to the store directly.

:class:`Registry` is built in parts, each a base of the next: ``reads`` (kinds, get, list,
watch) → ``write_path`` (what every write passes through) → ``writes`` (create, update, patch,
apply, scale) → ``deletion`` (propagation, finalizers, namespaces) → here (CRDs, the two
built-in controllers, reset).

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

import contextlib

from runbook.kinds import (
    BUILTIN_KINDS,
    CRDS,
    NAMESPACES,
    PODS,
    SERVICE_ACCOUNTS,
    SERVICES,
    KindRegistry,
    ResourceKind,
)
from runbook.sandbox.clock import Clock
from runbook.sandbox.registry.admission import AdmissionChain
from runbook.sandbox.registry.context import SYSTEM, RequestContext, system_writer
from runbook.sandbox.registry.defaults import Allocator
from runbook.sandbox.registry.deletion import ClusterDeletion, pod_grace_period
from runbook.sandbox.registry.discovery import version_priority
from runbook.sandbox.registry.reads import ListPage, Selection
from runbook.sandbox.registry.status import ApiError
from runbook.sandbox.storage.logs import PodLogs
from runbook.sandbox.storage.store import (
    DEFAULT_HISTORY,
    Change,
    Obj,
    Store,
)
from runbook.sandbox.work import WorkQueue

#: served for ``kubectl auth can-i`` only (create, answered by the server; never stored)
SELF_SUBJECT_ACCESS_REVIEWS = ResourceKind("authorization.k8s.io", "v1", "SelfSubjectAccessReview",
                                           "selfsubjectaccessreviews", False, verbs=("create",))


#: the largest request body kube-apiserver reads (``MaxRequestBodyBytes``, 3 MiB)
MAX_BODY = 3 * 1024 * 1024


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


class Registry(ClusterDeletion):
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


__all__ = [
    "MAX_BODY",
    "SELF_SUBJECT_ACCESS_REVIEWS",
    "SYSTEM",
    "ListPage",
    "Registry",
    "RequestContext",
    "Selection",
    "kind_from_crd",
    "pod_grace_period",
    "system_writer",
]
