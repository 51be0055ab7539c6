"""Emulated Kubernetes controllers: what kube-controller-manager, the scheduler and the kubelet do.

::

    manager = ControllerManager(cluster)        # subscribes to the store
    manager.deployments / .replicasets / .kubelet / .endpoints / .recorder

Deployment → ReplicaSet → Pods (through admission) → scheduled, started, Ready → Endpoints,
with events recorded like client-go's correlator. Every controller reacts to committed changes by
queueing keyed work and keeps time on the sandbox clock (see :mod:`.base`): tests drive it with a
manual clock and ``Sandbox.settle``/``advance``, never with sleeps.
"""

from __future__ import annotations

from runbook.sandbox.controllers.base import ControllerContext
from runbook.sandbox.controllers.deployment import DeploymentController
from runbook.sandbox.controllers.endpoints import EndpointsController
from runbook.sandbox.controllers.events import EventRecorder
from runbook.sandbox.controllers.kubelet import Kubelet
from runbook.sandbox.controllers.replicaset import ReplicaSetController
from runbook.sandbox.registry.cluster import Registry
from runbook.sandbox.storage.store import Change


class ControllerManager:
    """The emulated controllers of one cluster, subscribed to its store.

    Args:
        cluster: the cluster to run against.
        pod_start_seconds: see :class:`~.base.ControllerContext` (None: 1 s real, 0 manual).
    """

    def __init__(self, cluster: Registry, pod_start_seconds: float | None = None) -> None:
        self.ctx = ControllerContext(cluster, pod_start_seconds)
        self.deployments = DeploymentController(self.ctx)
        self.replicasets = ReplicaSetController(self.ctx)
        self.kubelet = Kubelet(self.ctx)
        self.endpoints = EndpointsController(self.ctx)
        self._controllers = (self.deployments, self.replicasets, self.kubelet, self.endpoints)
        self._unsubscribe = cluster.store.subscribe(self._on_change)

    @property
    def recorder(self) -> EventRecorder:
        return self.ctx.recorder

    def _on_change(self, change: Change) -> None:
        if self.ctx.paused:
            return
        for controller in self._controllers:
            controller.on_change(change)

    def reset(self) -> None:
        """Forget in-memory state (backoffs, caches, timers) — the store was cleared."""
        self.ctx.reset()
        for controller in self._controllers:
            controller.reset()

    def stop(self) -> None:
        """Unsubscribe: the cluster runs without controllers from now on."""
        self._unsubscribe()
        self.ctx.reset()


__all__ = [
    "ControllerContext",
    "ControllerManager",
    "DeploymentController",
    "EndpointsController",
    "EventRecorder",
    "Kubelet",
    "ReplicaSetController",
]
