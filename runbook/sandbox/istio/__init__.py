"""Emulated Istio: istiod control planes (webhooks, injection, push logs) found by their labels.

:class:`IstioEmulation` plugs :class:`~.istiod.Istiods` into the sandbox: as a webhook server
(:meth:`runbook.sandbox.registry.webhooks.WebhookDispatcher.add_server`) and as a store subscriber (an
istiod pod turning Running → start-up logs; config, Service and Endpoints changes → debounced
pushes).
Gateways need nothing here: they are plain Deployments and Services of the scenario, not injected
(``sidecar.istio.io/inject: "false"``), which the controllers run like any workload.
"""

from __future__ import annotations

from runbook.sandbox.controllers.base import ControllerContext
from runbook.sandbox.istio.injection import Injector, inject, injection_required, sidecar_status
from runbook.sandbox.istio.istiod import IstiodPod, Istiods, istiod_of
from runbook.sandbox.registry.webhooks import WebhookDispatcher
from runbook.sandbox.storage.store import Change


class IstioEmulation:
    """Every istiod of the cluster, wired into the controllers and the webhook dispatcher."""

    def __init__(self, ctx: ControllerContext, webhooks: WebhookDispatcher) -> None:
        self.ctx = ctx
        self.istiods = Istiods(ctx)
        webhooks.add_server(self.istiods.server)
        self._unsubscribe = ctx.store.subscribe(self._on_change)

    def _on_change(self, change: Change) -> None:
        if not self.ctx.paused:
            self.istiods.on_change(change)

    def reset(self) -> None:
        self.istiods.reset()

    def stop(self) -> None:
        self._unsubscribe()
        self.istiods.reset()


__all__ = ["Injector", "IstioEmulation", "IstiodPod", "Istiods", "inject", "injection_required",
           "istiod_of", "sidecar_status"]
