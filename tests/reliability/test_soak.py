"""A bounded soak: several clients list, update and watch the sandbox at once, under faults.

Writers (threads with ``runbook.kube`` and with the official client, plus one separate process)
increment counters held in ConfigMaps with guarded updates (the read resourceVersion is the
precondition; a 409 means re-read and try again). Listers read the counters page by page;
watchers follow every change and resume from the last resourceVersion they saw whenever a stream
ends. Injected faults: watch streams cut after a few events, 409s that no other writer caused,
503s on lists. It ends by itself after ``SOAK_SECONDS``; then:

* resourceVersions only grow — per writer, per lister, per watcher;
* no update is lost — each counter equals the number of updates its writers saw succeed;
* watches see every change — each watcher's sequence of resourceVersions is the store's history.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import urllib3
from kubernetes import client, config, watch

from runbook import kinds as k
from runbook.errors import Conflict
from runbook.kube import RetryPolicy, connect
from runbook.sandbox import Sandbox
from runbook.sandbox.apiserver.faults import parse_fault_spec

from .conftest import Ledger

pytestmark = pytest.mark.slow

SOAK_SECONDS = float(os.environ.get("RUNBOOK_SOAK_SECONDS", "25"))
NAMESPACE = "soak"
COUNTERS = [f"counter-{i}" for i in range(4)]
FAULTS = ("watch:configmaps:truncate-watch=7:probability=0.5",
          "update:configmaps:409:probability=0.05",
          "list:configmaps:503:probability=0.05")

# A writer in another process: the official client, guarded merge patches, its own tally.
PROCESS_WRITER = """
import json, random, sys, time
from kubernetes import client, config
from kubernetes.client.rest import ApiException
api = client.CoreV1Api(config.new_client_from_config(sys.argv[1], context="sandbox"))
names, deadline = sys.argv[3].split(","), time.monotonic() + float(sys.argv[2])
done, conflicts, last = {n: 0 for n in names}, 0, 0
while time.monotonic() < deadline:
    name = random.choice(names)
    while True:
        cm = api.read_namespaced_config_map(name, "soak")
        body = {"metadata": {"resourceVersion": cm.metadata.resource_version},
                "data": {"n": str(int(cm.data["n"]) + 1)}}
        try:
            out = api.patch_namespaced_config_map(name, "soak", body)
        except ApiException as exc:
            if exc.status == 409:
                conflicts += 1
                continue
            raise
        rv = int(out.metadata.resource_version)
        assert rv > last, (rv, last)
        last = rv
        done[name] += 1
        break
print(json.dumps({"done": done, "conflicts": conflicts}))
"""


@dataclass
class Tally:
    """What every client saw; filled from several threads."""

    updates: Counter[str] = field(default_factory=Counter)
    conflicts: int = 0
    lists: int = 0
    resumes: int = 0
    events: dict[str, list[int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, who: str, exc: BaseException) -> None:
        with self.lock:
            self.errors.append(f"{who}: {type(exc).__name__}: {exc}")


def _guarded(who: str, tally: Tally, stop: threading.Event,
             one_update: Callable[[str], int]) -> Callable[[], None]:
    """A writer loop: pick a counter, update it (re-read on 409), check rvs only grow."""
    def loop() -> None:
        last, i = 0, int(who[-1])
        try:
            while not stop.is_set():
                name = COUNTERS[i % len(COUNTERS)]
                i += 1
                while True:
                    try:
                        rv = one_update(name)
                    except Conflict:
                        with tally.lock:
                            tally.conflicts += 1
                        continue
                    break
                assert rv > last, f"{who}: resourceVersion went from {last} to {rv}"
                last = rv
                with tally.lock:
                    tally.updates[name] += 1
        except BaseException as exc:  # any other failure is a finding of the soak
            tally.fail(who, exc)
    return loop


def test_clients_at_once_lose_nothing_and_watches_see_every_change(ledger: Ledger) -> None:
    with Sandbox(scenario="empty", controllers=False, history=500_000) as sb:
        admin = connect(sb.kubeconfig_path, "sandbox")
        admin.create(k.NAMESPACES, {"metadata": {"name": NAMESPACE}})
        for name in COUNTERS:
            admin.create(k.CONFIG_MAPS, {"metadata": {"name": name, "namespace": NAMESPACE},
                                         "data": {"n": "0"}})
        start_rv = sb.store.resource_version
        for spec in FAULTS:
            sb.faults.add(parse_fault_spec(spec))
        tally, stop, written = Tally(), threading.Event(), threading.Event()
        threads: list[threading.Thread] = []

        # --- writers with runbook.kube: GET, then PUT guarded by the read resourceVersion
        for w in range(3):
            cluster = connect(sb.kubeconfig_path, "sandbox",
                              retry=RetryPolicy(attempts=6, base_seconds=0.01, cap_seconds=0.1))

            def kube_update(name: str, cluster: Any = cluster) -> int:
                cm = cluster.get(k.CONFIG_MAPS, name, NAMESPACE)
                cm["data"]["n"] = str(int(cm["data"]["n"]) + 1)
                return int(cluster.replace(k.CONFIG_MAPS, cm)["metadata"]["resourceVersion"])

            threads.append(threading.Thread(target=_guarded(f"kube-writer-{w}", tally, stop,
                                                            kube_update)))

        # --- writers with the official client: merge patch carrying the resourceVersion
        for w in range(2):
            api = client.CoreV1Api(config.new_client_from_config(str(sb.kubeconfig_path),
                                                                 context="sandbox"))

            def official_update(name: str, api: Any = api) -> int:
                cm = api.read_namespaced_config_map(name, NAMESPACE)
                body = {"metadata": {"resourceVersion": cm.metadata.resource_version},
                        "data": {"n": str(int(cm.data["n"]) + 1)}}
                try:
                    out = api.patch_namespaced_config_map(name, NAMESPACE, body)
                except client.ApiException as exc:
                    if exc.status == 409:
                        raise Conflict("409") from None
                    raise
                return int(out.metadata.resource_version)

            threads.append(threading.Thread(target=_guarded(f"official-writer-{w}", tally, stop,
                                                            official_update)))

        # --- listers: paginated lists (limit 2), list resourceVersions and counters only grow
        def lister(who: str) -> None:
            cluster = connect(sb.kubeconfig_path, "sandbox",
                              retry=RetryPolicy(attempts=6, base_seconds=0.01, cap_seconds=0.1))
            last_rv, seen = 0, dict.fromkeys(COUNTERS, 0)
            try:
                while not stop.is_set():
                    pages = list(cluster.list_pages(k.CONFIG_MAPS, NAMESPACE, page_size=2))
                    rv = int(pages[0]["metadata"]["resourceVersion"])
                    assert rv >= last_rv, f"{who}: list resourceVersion {last_rv} → {rv}"
                    last_rv = rv
                    for page in pages:
                        for cm in page["items"]:
                            n = int(cm["data"]["n"])
                            name = cm["metadata"]["name"]
                            assert n >= seen[name], f"{who}: {name} went back {seen[name]} → {n}"
                            seen[name] = n
                    with tally.lock:
                        tally.lists += 1
            except BaseException as exc:
                tally.fail(who, exc)

        threads += [threading.Thread(target=lister, args=(f"lister-{i}",)) for i in range(2)]

        # --- watchers: the official client's Watch, resumed from the last resourceVersion seen
        def watcher(who: str) -> None:
            api = client.CoreV1Api(config.new_client_from_config(str(sb.kubeconfig_path),
                                                                 context="sandbox"))
            seen: list[int] = []
            rv = str(start_rv)
            try:
                # until every writer (the process too) is done and every change was seen
                while not written.is_set() or _behind(sb, seen):
                    try:
                        for event in watch.Watch().stream(
                                api.list_namespaced_config_map, NAMESPACE, resource_version=rv,
                                timeout_seconds=2, _request_timeout=(5, 10)):
                            obj = event["raw_object"]
                            assert event["type"] != "ERROR", obj
                            rv = obj["metadata"]["resourceVersion"]
                            seen.append(int(rv))
                    except (urllib3.exceptions.ProtocolError, ValueError):
                        pass  # the stream was cut (a truncate-watch fault): resume from rv
                    with tally.lock:
                        tally.resumes += 1
            except BaseException as exc:
                tally.fail(who, exc)
            with tally.lock:
                tally.events[who] = seen

        watchers = [threading.Thread(target=watcher, args=(f"watcher-{i}",)) for i in range(3)]

        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-c", PROCESS_WRITER, str(sb.kubeconfig_path), str(SOAK_SECONDS),
             ",".join(COUNTERS)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for thread in threads + watchers:
            thread.start()
        stop.wait(SOAK_SECONDS)
        stop.set()
        out, err = process.communicate(timeout=60)
        for thread in threads:
            thread.join(timeout=30)
        written.set()
        for thread in watchers:
            thread.join(timeout=30)
        took = time.monotonic() - started
        assert not [t.name for t in threads + watchers if t.is_alive()], "a client did not stop"
        assert process.returncode == 0, err[-2000:]
        from_process = json.loads(out)

        # ------------------------------------------------------------ verdicts
        assert tally.errors == []
        final = {cm["metadata"]["name"]: int(cm["data"]["n"])
                 for cm in admin.list(k.CONFIG_MAPS, NAMESPACE) if cm["metadata"]["name"] in COUNTERS}
        expected = {name: tally.updates[name] + from_process["done"][name] for name in COUNTERS}
        assert final == expected  # every successful update is there: none lost, none doubled
        history = [c.rv for c in sb.store.history_since(k.CONFIG_MAPS.key, start_rv) or []]
        assert len(history) == sum(final.values())  # and nothing else was committed
        for who, seen in tally.events.items():
            assert seen == history, f"{who} saw {len(seen)} of {len(history)} changes"
        assert tally.conflicts + from_process["conflicts"] > 0  # they really raced
        assert tally.resumes > len(tally.events)  # streams really ended (truncated, timed out)
        updates = sum(final.values())
        ledger.record("soak", clients="3 runbook.kube writers, 2 official-client writers, "
                                      "1 writer process, 2 listers, 3 watchers",
                      faults=", ".join(FAULTS), seconds=round(took, 1), updates=updates,
                      load_seconds=SOAK_SECONDS, updates_per_s=round(updates / SOAK_SECONDS),
                      conflicts_retried=tally.conflicts + from_process["conflicts"],
                      lists=tally.lists, watch_streams=tally.resumes,
                      events_per_watcher=len(history),
                      verdict="rvs monotonic; counters = successful updates; every watcher saw "
                              "the store's history exactly")
        for spec, what in zip(FAULTS, ("streams resumed from the last resourceVersion: each "
                                       f"watcher saw all {len(history)} changes",
                                       "guarded writers re-read and retried: counters exact",
                                       "listers retried (reads): lists only moved forward"),
                              strict=True):
            ledger.record("faults", flow="soak (watch, update, list at once)", fault=spec,
                          outcome=what, attempted=0, applied=0, rolled_back=0, lost=0, doubled=0)
        admin.close()


def _behind(sb: Sandbox, seen: list[int]) -> bool:
    """A watcher still has changes to catch up on after the writers stopped."""
    newest = [c.rv for c in sb.store.history_since(k.CONFIG_MAPS.key, seen[-1] if seen else 0) or []
              if (c.obj.get("metadata") or {}).get("namespace") == NAMESPACE]
    return bool(newest)
