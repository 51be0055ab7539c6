"""Clock, timers, work queue and store semantics, in process (no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from runbook.sandbox.clock import DEFAULT_START, Clock
from runbook.sandbox.storage.store import Change, PreconditionFailed, Store, StoreKeyError
from runbook.sandbox.work import WorkQueue


def test_manual_clock_is_frozen_until_advanced() -> None:
    clock = Clock("manual")
    assert clock.now() == DEFAULT_START
    assert clock.timestamp() == "2023-10-27T06:00:00Z"
    clock.advance(90.5)
    assert clock.time() == DEFAULT_START.timestamp() + 90.5
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_timers_fire_in_due_order_with_the_clock_at_their_due_time() -> None:
    clock = Clock("manual", start=datetime(2024, 1, 1, tzinfo=UTC))
    t0 = clock.time()
    fired: list[tuple[str, float]] = []
    clock.call_later(10, lambda: fired.append(("b", clock.time() - t0)))
    clock.call_later(5, lambda: fired.append(("a", clock.time() - t0)))
    cancelled = clock.call_later(7, lambda: fired.append(("x", clock.time() - t0)))
    cancelled.cancel()

    def retry() -> None:
        fired.append(("c", clock.time() - t0))
        clock.call_later(3, lambda: fired.append(("d", clock.time() - t0)))  # due at 15 + 3

    clock.call_later(15, retry)
    clock.advance(4)
    assert fired == []
    clock.advance(16)  # to t0 + 20: a, b, c run; d (due 18) too
    assert fired == [("a", 5.0), ("b", 10.0), ("c", 15.0), ("d", 18.0)]
    assert clock.time() - t0 == 20.0
    assert clock.next_due() is None


def test_real_clock_advance_moves_the_offset() -> None:
    clock = Clock("real")
    before = clock.time()
    clock.advance(3600)
    assert clock.time() - before >= 3600


def test_work_queue_dedupes_by_key_and_survives_errors() -> None:
    queue = WorkQueue()
    ran: list[str] = []
    queue.add(lambda: ran.append("first"), key="ns/a")
    queue.add(lambda: ran.append("second"), key="ns/a")  # replaces the first
    queue.add(lambda: 1 / 0)
    queue.add(lambda: ran.append("third"))
    assert queue.run_pending() == 3
    assert ran == ["second", "third"]
    assert isinstance(queue.errors[0], ZeroDivisionError)
    assert queue.idle


def _ns(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def test_store_stamps_metadata_and_keeps_rv_on_noop_update() -> None:
    store = Store(Clock("manual"))
    created = store.create("namespaces", _ns("a"))
    meta = created["metadata"]
    assert meta["resourceVersion"] == "1" and meta["uid"]
    assert meta["creationTimestamp"] == "2023-10-27T06:00:00Z"
    assert "generation" not in meta
    same = store.update("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                       "metadata": {"name": "a"}})
    assert same["metadata"]["resourceVersion"] == "1"
    assert store.resource_version == 1
    changed = store.update("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                          "metadata": {"name": "a", "labels": {"x": "y"}}})
    assert changed["metadata"]["resourceVersion"] == "2"
    with pytest.raises(PreconditionFailed):
        store.update("namespaces", {"metadata": {"name": "a"}}, expect_rv="1")
    with pytest.raises(StoreKeyError) as exc:
        store.create("namespaces", _ns("a"))
    assert exc.value.exists


def test_generation_bumps_on_spec_changes_only() -> None:
    store = Store(Clock("manual"))
    dep = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "d", "namespace": "n"}, "spec": {"replicas": 1}}
    assert store.create("deployments.apps", dep)["metadata"]["generation"] == 1
    labelled = {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "d", "namespace": "n", "labels": {"a": "b"}},
                "spec": {"replicas": 1}, "status": {"replicas": 1}}
    assert store.update("deployments.apps", labelled)["metadata"]["generation"] == 1
    scaled = {**labelled, "spec": {"replicas": 3}}
    assert store.update("deployments.apps", scaled)["metadata"]["generation"] == 2


def test_generate_name() -> None:
    store = Store(Clock("manual"))
    obj = store.create("configmaps", {"metadata": {"generateName": "cfg-", "namespace": "n"}})
    name = obj["metadata"]["name"]
    assert name.startswith("cfg-") and len(name) == len("cfg-") + 5


def test_watch_history_is_bounded_and_old_versions_are_gone() -> None:
    store = Store(Clock("manual"), history=3)
    for i in range(5):
        store.create("configmaps", {"metadata": {"name": f"c{i}", "namespace": "n"}})
    assert store.history_since("configmaps", 1) is None  # rv 2 fell out of the window
    recent = store.history_since("configmaps", 3)
    assert recent is not None and [c.rv for c in recent] == [4, 5]


def test_subscribers_see_changes_in_order_and_nested_writes_after() -> None:
    store = Store(Clock("manual"))
    seen: list[tuple[str, str, int]] = []

    def follower(change: Change) -> None:
        seen.append((change.type, change.obj["metadata"]["name"], change.rv))
        if change.obj["metadata"]["name"] == "a" and change.type == "ADDED":
            store.create("configmaps", {"metadata": {"name": "b", "namespace": "n"}})

    store.subscribe(follower)
    store.subscribe(lambda c: seen.append(("second-subscriber", c.obj["metadata"]["name"], c.rv)))
    store.create("configmaps", {"metadata": {"name": "a", "namespace": "n"}})
    assert seen == [("ADDED", "a", 1), ("second-subscriber", "a", 1),
                    ("ADDED", "b", 2), ("second-subscriber", "b", 2)]


def test_garbage_collector_follows_owner_references() -> None:
    store = Store(Clock("manual"))
    dep = store.create("deployments.apps", {"metadata": {"name": "d", "namespace": "n"}})
    rs = store.create("replicasets.apps", {"metadata": {
        "name": "d-1", "namespace": "n",
        "ownerReferences": [{"uid": dep["metadata"]["uid"], "kind": "Deployment", "name": "d"}]}})
    store.create("pods", {"metadata": {
        "name": "d-1-x", "namespace": "n",
        "ownerReferences": [{"uid": rs["metadata"]["uid"], "kind": "ReplicaSet", "name": "d-1"}]}})
    other = store.create("configmaps", {"metadata": {"name": "keep", "namespace": "n"}})
    store.create("pods", {"metadata": {
        "name": "two-owners", "namespace": "n",
        "ownerReferences": [{"uid": rs["metadata"]["uid"]}, {"uid": other["metadata"]["uid"]}]}})
    store.delete("deployments.apps", "n", "d")
    assert store.get("replicasets.apps", "n", "d-1") is None
    assert store.get("pods", "n", "d-1-x") is None
    assert store.get("pods", "n", "two-owners") is not None  # another owner still exists


def test_a_failing_subscriber_does_not_fail_the_write(caplog: pytest.LogCaptureFixture) -> None:
    store = Store(Clock("manual"))
    seen: list[int] = []

    def broken(change: Change) -> None:
        raise RuntimeError("bug in a controller")

    store.subscribe(broken)
    store.subscribe(lambda c: seen.append(c.rv))
    store.create("configmaps", {"metadata": {"name": "a", "namespace": "n"}})
    assert seen == [1] and store.get("configmaps", "n", "a") is not None
    assert "bug in a controller" in caplog.text
