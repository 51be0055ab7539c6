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
* ``list_<engine>_objects_per_s`` and ``list_emulated_vs_kube`` (issue 17) — both engines side by
  side in one run, each in its own background process (``python -m runbook.sandbox [--engine
  kube]``), each filled with the same 50,000 Events through HTTP creates, then listed in pages of
  500 by the project's client path (:meth:`runbook.kube.cluster.Cluster.list_pages`), RUNS times,
  the engines alternating (so load from other processes falls on both). The ratio is the emulated
  rate over the real engine's (target >= 1: the emulator is never the slower world); the notes
  carry every run, the servers' CPU seconds per listing (the emulated process; kube-apiserver
  with etcd) and the load average at the start.
* ``start_in_process_s`` — ``Sandbox()`` to the first answered request (scenario ``empty``, TLS
  certificate made); ``start_subprocess_s`` — ``ensure_running`` spawning ``python -m
  runbook.sandbox`` to its first answer. Target <= 1.5 s each.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from benchmarks import Result, at_least, at_most, sandbox_process

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


def _process_tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants (the real engine's etcd and
    kube-apiserver are children of its driver)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited meanwhile
    return total


def _fill_over_http(kubeconfig: str, threads: int = 4) -> None:
    """The benchmark's 50,000 Events, created through the API as any client would."""
    from concurrent.futures import ThreadPoolExecutor

    from runbook.kinds import EVENTS as EVENT_KIND
    from runbook.kinds import NAMESPACES
    from runbook.kube.cluster import connect

    namespaces = [f"team-{n}" for n in range(10)]
    with connect(kubeconfig, context="sandbox") as cluster:
        for ns in namespaces:
            cluster.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                        "metadata": {"name": ns}})

    def create_share(share: int) -> None:
        with connect(kubeconfig, context="sandbox") as cluster:
            for i in range(share, EVENTS, threads):
                ns = namespaces[i % len(namespaces)]
                cluster.create(EVENT_KIND, _event(i, ns), ns)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(create_share, range(threads)))


def _list_through_project_client(kubeconfig: str) -> int:
    from runbook.kinds import EVENTS as EVENT_KIND
    from runbook.kube.cluster import connect

    with connect(kubeconfig, context="sandbox") as cluster:
        return sum(len(page.get("items") or ()) for page in cluster.list_pages(EVENT_KIND))


def _spread(values: list[float]) -> str:
    return f"median {statistics.median(values):,.0f}, {min(values):,.0f}–{max(values):,.0f}"


def _list_side_by_side() -> list[Result]:
    """Both engines, the same list, the same client, the same run (see the module docstring)."""
    from runbook.sandbox.realkube.build import find_go

    if find_go() is None:
        print("sandbox_bench: go is not installed: no real engine to list from side by side",
              file=sys.stderr, flush=True)
        return []
    load = os.getloadavg()
    rates: dict[str, list[float]] = {"emulated": [], "kube": []}
    server_cpu: dict[str, list[float]] = {"emulated": [], "kube": []}
    with (sandbox_process(["--scenario", "empty"], start_timeout=120) as emulated,
          sandbox_process(["--engine", "kube", "--scenario", "empty"], start_timeout=300) as kube):
        engines = {"emulated": emulated, "kube": kube}
        for name, side in engines.items():
            started = time.perf_counter()
            _fill_over_http(side.kubeconfig)
            print(f"sandbox_bench: {EVENTS} events created on {name} in "
                  f"{time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
            _list_through_project_client(side.kubeconfig)  # warm-up: connections, caches
        for run in range(RUNS):
            order = ("emulated", "kube") if run % 2 == 0 else ("kube", "emulated")
            for name in order:
                side = engines[name]
                cpu = _process_tree_cpu_s(side.pid)
                started = time.perf_counter()
                count = _list_through_project_client(side.kubeconfig)
                rates[name].append(count / (time.perf_counter() - started))
                server_cpu[name].append(_process_tree_cpu_s(side.pid) - cpu)
                # the real engine records a few events of its own (its node registering)
                assert EVENTS <= count < EVENTS + 100, (name, count)
    ratio = statistics.median(rates["emulated"]) / statistics.median(rates["kube"])
    ratios = [e / k for e, k in zip(rates["emulated"], rates["kube"], strict=True)]
    load_note = f"load average at start {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}"
    results = [
        Result(NAME, f"list_{name}_objects_per_s", statistics.median(rates[name]),
               note=f"{EVENTS} events created over HTTP, pages of {PAGE}, runbook.kube "
                    f"Cluster.list_pages, {RUNS} runs alternating: {_spread(rates[name])}; server "
                    f"CPU per listing {statistics.median(server_cpu[name]):.2f} s; {load_note}")
        for name in ("emulated", "kube")]
    results.append(at_least(NAME, "list_emulated_vs_kube", ratio, 1.0,
                            "emulated rate / real engine's rate, medians; per run: "
                            + ", ".join(f"{r:.2f}" for r in ratios)))
    return results


def run() -> list[Result]:
    results = [*_list_side_by_side(), _throughput_own_process(), *_throughput_in_process()]
    results.append(at_most(NAME, "start_in_process_s", _first_answer_in_process(), 1.5,
                           "Sandbox() with its controllers to first answered request (modules "
                           "already imported)"))
    results.append(at_most(NAME, "start_subprocess_s", _first_answer_subprocess(), 1.5,
                           "python -m runbook.sandbox spawned to first answer (imports included)"))
    return results
