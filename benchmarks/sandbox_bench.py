"""The sandbox's own figures (issue 2): list throughput to the official client, and start-up time.

* ``list_raw_objects_per_s`` — 50,000 core/v1 Events served in pages of 500 to
  ``CoreV1Api.list_event_for_all_namespaces(limit=500, _continue=…, _preload_content=False)`` and
  parsed with ``orjson.loads``: the raw-JSON path the project's tables use (runbook.kube.cluster;
  DESIGN: tables are built from raw JSON). The sandbox runs in its own process, as ``runbook
  sandbox`` does; the median of 5 runs. Target >= 50,000 objects/s, client included.
* ``list_raw_in_process_objects_per_s`` — the same with the sandbox in the client's process (how
  the tests run it): server and client then share one GIL (information only).
* ``list_server_objects_per_s`` — the in-process pages as the server's request log times them (the
  sandbox's share of the work): it must not be what limits the figures above.
* ``list_typed_objects_per_s`` — the client's typed models (information only: the client's own
  cost).
* ``start_in_process_s`` — ``Sandbox()`` to the first answered request (scenario ``empty``, TLS
  certificate made); ``start_subprocess_s`` — ``ensure_running`` spawning ``python -m
  runbook.sandbox`` to its first answer. Target <= 1.5 s each.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import tempfile
import time
from typing import TYPE_CHECKING, Any

import orjson

from benchmarks import Result, at_least, at_most

if TYPE_CHECKING:
    from runbook.sandbox import Sandbox

NAME = "sandbox"
EVENTS = 50_000
PAGE = 500
RUNS = 5


def _event(i: int, namespace: str) -> dict[str, object]:
    rs = f"details-v1-{i % 97:03d}ccbdcf56"
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{rs}.{i:08x}", "namespace": namespace},
        "involvedObject": {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                           "namespace": namespace, "uid": f"00000000-0000-0000-0000-{i:012d}"},
        "reason": "FailedCreate", "type": "Warning", "count": 16,
        "message": ('Error creating: Internal error occurred: failed calling webhook '
                    '"rev.namespace.sidecar-injector.istio.io": failed to call webhook: Post '
                    '"https://istiod-1-18-5.istio-system.svc:443/inject?timeout=10s": service '
                    '"istiod-1-18-5" not found'),
        "source": {"component": "replicaset-controller"},
        "firstTimestamp": "2023-10-27T05:56:00Z", "lastTimestamp": "2023-10-27T05:58:44Z",
    }


def _fill(sandbox: Sandbox) -> None:
    # straight into the store: the benchmark measures serving, not 50,000 admissions
    namespaces = [f"team-{n}" for n in range(10)]
    for ns in namespaces:
        sandbox.store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                            "metadata": {"name": ns}})
    for i in range(EVENTS):
        sandbox.store.create("events", _event(i, namespaces[i % len(namespaces)]))


def _list_all(core: Any, typed: bool) -> int:
    count, token = 0, None
    while True:
        kwargs: dict[str, Any] = {"limit": PAGE}
        if token:
            kwargs["_continue"] = token
        if typed:
            page = core.list_event_for_all_namespaces(**kwargs)
            count += len(page.items)
            token = page.metadata._continue
        else:
            resp = core.list_event_for_all_namespaces(_preload_content=False, **kwargs)
            body = orjson.loads(resp.data)
            count += len(body["items"])
            token = body["metadata"].get("continue")
        if not token:
            return count


def _rates(kubeconfig: str) -> list[float]:
    """Objects/s of RUNS full raw-JSON listings, after one warm-up listing."""
    from kubernetes import client, config

    api = config.new_client_from_config(kubeconfig, context="sandbox")
    try:
        core = client.CoreV1Api(api)
        _list_all(core, typed=False)  # warm-up: connection, caches of serialized objects
        rates = []
        for _ in range(RUNS):
            started = time.perf_counter()
            count = _list_all(core, typed=False)
            rates.append(count / (time.perf_counter() - started))
            assert count == EVENTS, count
        return rates
    finally:
        api.close()


def _serve_filled(kubeconfig: Any, stop: Any) -> None:
    """In a child process: a filled sandbox (API server only) until ``stop`` is set."""
    from runbook.sandbox import Sandbox

    # the API server alone: emulated controllers would only add noise to a serving figure
    with Sandbox(controllers=False) as sb:
        _fill(sb)
        kubeconfig.put(str(sb.kubeconfig_path))
        stop.wait()


def _throughput_own_process() -> Result:
    spawn = multiprocessing.get_context("spawn")
    kubeconfig, stop = spawn.Queue(), spawn.Event()
    server = spawn.Process(target=_serve_filled, args=(kubeconfig, stop), daemon=True)
    server.start()
    try:
        rates = _rates(kubeconfig.get(timeout=300))
    finally:
        stop.set()
        server.join(timeout=30)
    return at_least(NAME, "list_raw_objects_per_s", statistics.median(rates), 50_000,
                    f"{EVENTS} events, pages of {PAGE}, official client + orjson, sandbox in its own "
                    f"process; median of {RUNS}: " + ", ".join(f"{r:,.0f}" for r in rates))


def _throughput_in_process() -> list[Result]:
    from kubernetes import client, config

    from runbook.sandbox import Sandbox

    results: list[Result] = []
    with Sandbox(controllers=False) as sb:
        _fill(sb)
        sb.requests.clear()
        rates = _rates(str(sb.kubeconfig_path))
        server_ms = sum(r.duration_ms for r in sb.requests.records())
        served = EVENTS * (RUNS + 1)  # the warm-up listing is in the request log too
        results.append(Result(NAME, "list_raw_in_process_objects_per_s", statistics.median(rates),
                              note="the same, sandbox in the client's process (one GIL for both)"))
        results.append(Result(NAME, "list_server_objects_per_s", served / (server_ms / 1000),
                              note="server time only (request log), in-process pages"))
        api = config.new_client_from_config(str(sb.kubeconfig_path), context="sandbox")
        try:
            started = time.perf_counter()
            count = _list_all(client.CoreV1Api(api), typed=True)
            results.append(Result(NAME, "list_typed_objects_per_s",
                                  count / (time.perf_counter() - started),
                                  note="client's typed models (information only)"))
        finally:
            api.close()
    return results


def _first_answer_in_process() -> float:
    import ssl
    import urllib.request

    from runbook.sandbox import Sandbox

    started = time.perf_counter()
    sb = Sandbox()
    try:
        sb.start()
        context = ssl.create_default_context(cafile=str(sb.ca_path))
        request = urllib.request.Request(sb.url + "/api/v1/namespaces",
                                         headers={"Authorization": f"Bearer {sb.token}"})
        with urllib.request.urlopen(request, context=context, timeout=10) as resp:
            resp.read()
        return time.perf_counter() - started
    finally:
        sb.stop()


def _first_answer_subprocess() -> float:
    from runbook.sandbox import ensure_running, stop_running

    previous = os.environ.get("MESH_RUNBOOK_HOME")
    with tempfile.TemporaryDirectory() as home:
        os.environ["MESH_RUNBOOK_HOME"] = home  # never touch (or find) the user's own sandbox
        try:
            started = time.perf_counter()
            ensure_running(scenario="empty")  # returns once the new process answered
            return time.perf_counter() - started
        finally:
            stop_running()
            if previous is None:
                os.environ.pop("MESH_RUNBOOK_HOME", None)
            else:
                os.environ["MESH_RUNBOOK_HOME"] = previous


def run() -> list[Result]:
    results = [_throughput_own_process(), *_throughput_in_process()]
    results.append(at_most(NAME, "start_in_process_s", _first_answer_in_process(), 1.5,
                           "Sandbox() with its controllers to first answered request (modules "
                           "already imported)"))
    results.append(at_most(NAME, "start_subprocess_s", _first_answer_subprocess(), 1.5,
                           "python -m runbook.sandbox spawned to first answer (imports included)"))
    return results
