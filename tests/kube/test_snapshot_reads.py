"""What a diagnosis read keeps: injected pods without their bulk, ReplicaSet events only, and the
garbage collector back as it was — against the living seed world over HTTP."""

from __future__ import annotations

import gc
import time
from typing import Any

import pytest

from runbook import kinds as k
from runbook.kube import connect, read_snapshot
from runbook.mesh import inventory
from runbook.sandbox import Sandbox


@pytest.fixture
def seed():  # type: ignore[no-untyped-def]
    with Sandbox(scenario="seed-incident", clock="manual") as sb:
        sb.settle()
        c = connect(sb.kubeconfig_path, "sandbox")
        yield c
        c.close()


def _versions(objects: list[dict[str, Any]]) -> dict[str, str]:
    return {f'{o["metadata"].get("namespace")}/{o["metadata"]["name"]}': o["metadata"]["resourceVersion"]
            for o in objects}


def test_pods_keep_what_the_tables_read_and_lose_env_mounts_and_volumes(seed) -> None:  # type: ignore[no-untyped-def]
    # l7-traffic-beta is bound to 1-18-5: the pod gets istio-proxy, its env, mounts and volumes
    seed.create(k.PODS, {"metadata": {"name": "sleep", "namespace": "l7-traffic-beta",
                                      "labels": {"app": "sleep"}},
                         "spec": {"containers": [{"name": "sleep", "image": "curlimages/curl"}]}})
    # the sandbox's kubelet moves the new pod on between two reads: compare reads of one version
    deadline = time.monotonic() + 30
    while True:
        full = seed.list(k.PODS, "l7-traffic-beta")
        snap = read_snapshot(seed)
        fat = read_snapshot(seed, trims={k.PODS.key: lambda o: o, k.DEPLOYMENTS.key: lambda o: o,
                                         k.REPLICA_SETS.key: lambda o: o})
        slim = [p for p in snap.items(k.PODS) if p["metadata"]["namespace"] == "l7-traffic-beta"]
        if (_versions(full) == _versions(slim) and _versions(snap.items(k.PODS))
                == _versions(fat.items(k.PODS))) or time.monotonic() > deadline:
            break
    assert full and len(slim) == len(full)
    before, after = full[0], next(p for p in slim if p["metadata"]["name"]
                                  == full[0]["metadata"]["name"])
    assert "volumes" in before["spec"] and "volumes" not in after["spec"]
    assert any("env" in c for c in before["spec"]["containers"])
    for c_full, c_slim in zip(before["spec"]["containers"], after["spec"]["containers"],
                              strict=True):
        assert set(c_slim) <= {"name", "image", "args", "command", "ports"}
        assert (c_slim["name"], c_slim["image"]) == (c_full["name"], c_full["image"])
    assert after["status"] == before["status"] and after["metadata"]["labels"] == before[
        "metadata"]["labels"]
    # the tables built from the slim read are the tables built from the full one
    for name, df in inventory(fat).tables().items():
        assert inventory(snap).tables()[name].astype(str).equals(df.astype(str)), name


def test_only_replicaset_events_are_read_and_the_gc_is_restored(seed) -> None:  # type: ignore[no-untyped-def]
    every = seed.list(k.EVENTS)
    assert {e["involvedObject"]["kind"] for e in every} >= {"Pod", "ReplicaSet"}
    assert gc.isenabled()
    snap = read_snapshot(seed)
    assert gc.isenabled()
    kinds = {e["involvedObject"]["kind"] for e in snap.items(k.EVENTS)}
    assert kinds == {"ReplicaSet"}
    assert len(snap.items(k.EVENTS)) == sum(e["involvedObject"]["kind"] == "ReplicaSet"
                                            for e in every)
    gc.disable()
    try:
        read_snapshot(seed, [k.NAMESPACES])
        assert not gc.isenabled()  # a caller's own pause is left alone
    finally:
        gc.enable()
