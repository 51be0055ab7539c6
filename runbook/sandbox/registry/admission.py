"""The admission chain: plugins the write path calls before validation and commit.

kube-apiserver runs mutating admission (defaulting plugins, mutating webhooks), then validation,
then validating admission, then stores. The sandbox has the same seams::

    decode → defaults → chain.mutating (in order) → validation → chain.validating → commit

A plugin is a callable taking an :class:`AdmissionRequest`. A mutating plugin may change
``request.obj`` in place or assign a new dict to it; any plugin rejects the request by raising
:class:`runbook.sandbox.registry.status.ApiError` — e.g. ``status.internal_error(...)`` is how a failed
webhook call surfaces (``Internal error occurred: failed calling webhook …``, a 500), and
``ApiError(400, "BadRequest", formats.admission.webhook_denied(...))`` a denial. The chain runs for
dry-run writes too (``request.dry_run`` is True), as the real server calls webhooks whose
``sideEffects`` are None; a plugin with side effects must skip them on dry run.

Operations: ``CREATE``, ``UPDATE`` (PUT, PATCH, apply on an existing object, status/scale
subresource writes with ``subresource`` set) and ``DELETE`` (``obj`` is the object being
deleted; mutations of it are ignored).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runbook.kinds import ResourceKind


@dataclass
class AdmissionRequest:
    """What a plugin sees (the shape of an AdmissionReview request, as plain data).

    Attributes:
        operation: ``CREATE`` | ``UPDATE`` | ``DELETE``.
        kind: the resource kind.
        namespace: the namespace (None for cluster-scoped kinds).
        name: the object name (after ``generateName`` was resolved).
        obj: the object being written (mutable for mutating plugins).
        old: the stored object for UPDATE/DELETE, else None (read-only).
        user: who is asking (``system:serviceaccount:…`` for in-process controllers).
        dry_run: the write will not be stored.
        subresource: ``""``, ``status`` or ``scale``.
    """

    operation: str
    kind: ResourceKind
    namespace: str | None
    name: str
    obj: dict[str, Any]
    old: dict[str, Any] | None
    user: str
    dry_run: bool = False
    subresource: str = ""


AdmissionPlugin = Callable[[AdmissionRequest], None]


@dataclass
class AdmissionChain:
    """Ordered plugin lists; add with ``chain.mutating.append(plugin)`` (thread-safe to run)."""

    mutating: list[AdmissionPlugin] = field(default_factory=list)
    validating: list[AdmissionPlugin] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def run_mutating(self, request: AdmissionRequest) -> None:
        """Call the mutating plugins in order (they may change ``request.obj``)."""
        for plugin in self._snapshot(self.mutating):
            plugin(request)

    def run_validating(self, request: AdmissionRequest) -> None:
        """Call the validating plugins in order (they may only reject)."""
        for plugin in self._snapshot(self.validating):
            plugin(request)

    def _snapshot(self, plugins: list[AdmissionPlugin]) -> list[AdmissionPlugin]:
        with self._lock:
            return list(plugins)

    def clear(self) -> None:
        with self._lock:
            self.mutating.clear()
            self.validating.clear()
