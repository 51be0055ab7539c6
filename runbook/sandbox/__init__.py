"""runbook.sandbox — an embedded Kubernetes API server for the resources this project touches.

The official Python client and the real kubectl use it unchanged; only the kubeconfig differs
from a real cluster. See docs/sandbox.md (how to start it, how it maps things, LIMITS).

Seams for in-process code (controllers, admission webhooks, emulated istiod)::

    Sandbox            context manager: server thread, kubeconfig, advance/settle/reset/stop
    Sandbox.cluster    resource semantics (create/update/patch/delete/list/watch) — Registry
    Sandbox.store      objects, resourceVersions, watch history, subscribe(callback) — Store
    Sandbox.admission  AdmissionChain: .mutating / .validating plugin lists
    Sandbox.clock      Clock: now(), call_at/call_later timers, advance()
    Sandbox.cluster.work  WorkQueue for reconcile work (settle() waits for it)
    Sandbox.logs       PodLogs: append(namespace, pod, container, line, when)
    Sandbox.faults     FaultTable (add Fault(...) or parse_fault_spec("list:pods:503:times=2"));
                       Sandbox.requests: RequestLog
    Sandbox.world      World: controllers, webhook dispatcher, emulated istiods (None when
                       controllers=False) — see docs/sandbox.md "The living world"
    scenarios.register(name)   add a scenario loader (register_with_options: name:k=v,…)
    start_engine(engine, …)    either engine behind one contract: "emulated" (this package's
                               server) or "kube" (a real control plane, runbook.sandbox.realkube)

The names below are imported on first use (:mod:`runbook.lazy`): ``runbook sandbox status`` and the
command line's other paths that need one submodule must not load the whole server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runbook.lazy import lazy_exports

if TYPE_CHECKING:
    from runbook.sandbox.apiserver.faults import (
        Fault,
        FaultTable,
        RequestLog,
        RequestRecord,
        format_fault_spec,
        parse_fault_spec,
    )
    from runbook.sandbox.clock import Clock
    from runbook.sandbox.engines import ENGINES, EmulatedEngine, Engine, start_engine
    from runbook.sandbox.process import SandboxInfo, ensure_running, find_running, stop_running
    from runbook.sandbox.registry.admission import AdmissionChain, AdmissionRequest
    from runbook.sandbox.registry.cluster import Registry, RequestContext
    from runbook.sandbox.registry.status import ApiError
    from runbook.sandbox.sandbox import Sandbox
    from runbook.sandbox.storage.logs import PodLogs
    from runbook.sandbox.storage.store import Change, Store
    from runbook.sandbox.world import World

#: exported name → the submodule that defines it
_EXPORTS = {
    "AdmissionChain": "registry.admission", "AdmissionRequest": "registry.admission",
    "Clock": "clock", "Registry": "registry.cluster", "RequestContext": "registry.cluster",
    "ENGINES": "engines", "EmulatedEngine": "engines", "Engine": "engines",
    "start_engine": "engines",
    "Fault": "apiserver.faults", "FaultTable": "apiserver.faults",
    "RequestLog": "apiserver.faults", "RequestRecord": "apiserver.faults",
    "format_fault_spec": "apiserver.faults", "parse_fault_spec": "apiserver.faults",
    "PodLogs": "storage.logs",
    "SandboxInfo": "process", "ensure_running": "process", "find_running": "process",
    "stop_running": "process",
    "Sandbox": "sandbox", "ApiError": "registry.status", "Change": "storage.store",
    "Store": "storage.store", "World": "world",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "ENGINES",
    "AdmissionChain",
    "AdmissionRequest",
    "ApiError",
    "Change",
    "Clock",
    "EmulatedEngine",
    "Engine",
    "Fault",
    "FaultTable",
    "PodLogs",
    "Registry",
    "RequestContext",
    "RequestLog",
    "RequestRecord",
    "Sandbox",
    "SandboxInfo",
    "Store",
    "World",
    "ensure_running",
    "find_running",
    "format_fault_spec",
    "parse_fault_spec",
    "start_engine",
    "stop_running",
]
