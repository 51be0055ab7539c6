"""The living part of the sandbox: controllers, admission webhooks and emulated Istio, installed
into a :class:`~runbook.sandbox.registry.cluster.Registry` through its seams.

::

    world = World(cluster)          # ControllerManager + WebhookDispatcher + IstioEmulation + DataPlane
    with world.loading():           # scenario objects come up at once (pods start instantly)
        load_scenario(cluster, "seed-incident", run_work=False)
        world.drain()               # never while holding the store lock

:class:`~runbook.sandbox.sandbox.Sandbox` makes one for every sandbox (``controllers=False``
gives a bare API server). Nothing here is specific to the seed scenario's names: istiods, tags,
injectors and namespaces are recognised from labels and webhook configurations.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from collections.abc import Iterator

from runbook.sandbox.controllers import ControllerManager
from runbook.sandbox.istio import IstioEmulation
from runbook.sandbox.istio.dataplane import DataPlane
from runbook.sandbox.registry.cluster import Registry
from runbook.sandbox.registry.webhooks import WebhookDispatcher

#: how long ``loading`` may spend bringing a scenario's workloads up (wall time)
LOAD_SETTLE_SECONDS = 30.0

_WORLDS: weakref.WeakKeyDictionary[Registry, World] = weakref.WeakKeyDictionary()


class World:
    """Controllers, webhooks and Istio of one cluster (see the module docstring).

    Args:
        cluster: the cluster to bring to life.
        pod_start_seconds: delay between scheduling and Running (None: 1 s on a real clock, 0
            on a manual one).
    """

    def __init__(self, cluster: Registry, pod_start_seconds: float | None = None) -> None:
        self.cluster = cluster
        self.controllers = ControllerManager(cluster, pod_start_seconds)
        self.webhooks = WebhookDispatcher(cluster)
        self.istio = IstioEmulation(self.controllers.ctx, self.webhooks)
        # the ingress gateways' HTTP listeners: started by the Sandbox once it serves
        self.dataplane = DataPlane(cluster, self.istio.istiods)
        _WORLDS[cluster] = self

    @staticmethod
    def of(cluster: Registry) -> World | None:
        """The world living in a cluster (None for a bare API server): scenario loaders use it
        to register what they built in bulk with the controllers."""
        return _WORLDS.get(cluster)

    @contextlib.contextmanager
    def loading(self) -> Iterator[None]:
        """Scenario loading: what the scenario creates comes up at once (pods Running, istiods
        logging) — a scenario describes a cluster as it is, not as it boots."""
        ctx = self.controllers.ctx
        ctx.instant = True
        try:
            yield
        finally:
            ctx.instant = False

    def drain(self, timeout: float = LOAD_SETTLE_SECONDS) -> None:
        """Run queued work and due timers until neither is left (in this thread)."""
        clock, work = self.cluster.clock, self.cluster.work
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ran = clock.run_due() + work.run_pending()
            due = clock.next_due()
            # the controller thread may have queued a timer meanwhile: due ones are ours too
            if ran == 0 and work.idle and (due is None or due > clock.time()):
                return

    def reset(self) -> None:
        """Forget in-memory state after the cluster was cleared (scenario reload)."""
        self.controllers.reset()
        self.webhooks.reset()
        self.istio.reset()
        self.dataplane.reset()

    def stop(self) -> None:
        self.controllers.stop()
        self.webhooks.stop()
        self.istio.stop()
        self.dataplane.stop()


__all__ = ["World"]
