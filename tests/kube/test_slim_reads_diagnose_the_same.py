"""A diagnosis read drops what no table reads (pod statuses' IDs and digests, init containers'
arguments, ReplicaSets' pod specs, events' object versions …): on every scenario, over HTTP, the
findings and every inventory table are those of a read that keeps the objects whole, and the
findings of the snapshot alone (no tables built) are those of its inventory."""

from __future__ import annotations

import time
from typing import Any

import pytest

from runbook import kinds as k
from runbook.kube import DIAGNOSIS_KINDS, connect, read_snapshot
from runbook.kube.reader import DEFAULT_TRIMS
from runbook.mesh import inventory
from runbook.mesh.diagnose import diagnose
from runbook.sandbox import Sandbox
from runbook.sandbox.scenarios import names
from runbook.snapshot import Snapshot

#: a small scale world: broken ReplicaSets with their events, many namespaces and workloads
SMALL_SCALE = "scale:namespaces=20,replicasets=60,events=400,broken=5"
SCENARIOS = [SMALL_SCALE if name == "scale" else name for name in names()]


def _keep_whole(obj: dict[str, Any]) -> dict[str, Any]:
    return obj


def _versions(snap: Snapshot) -> dict[str, list[tuple[str, str]]]:
    return {key: sorted((f'{o["metadata"].get("namespace")}/{o["metadata"]["name"]}',
                         o["metadata"].get("resourceVersion", "")) for o in items)
            for key, items in snap.objects.items()}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_slim_read_diagnoses_as_the_whole_objects_do(scenario: str) -> None:
    with Sandbox(scenario=scenario, clock="manual") as sb:
        sb.settle()
        cluster = connect(sb.kubeconfig_path, "sandbox")
        # a trim of the caller's own turns parse-time trimming off: objects arrive whole
        whole_trims = {key: _keep_whole for key in DEFAULT_TRIMS}
        deadline = time.monotonic() + 30
        while True:  # compare two reads of the same versions (a kubelet may move a pod on between)
            slim = read_snapshot(cluster, DIAGNOSIS_KINDS)
            whole = read_snapshot(cluster, DIAGNOSIS_KINDS, trims=whole_trims)
            if _versions(slim) == _versions(whole) or time.monotonic() > deadline:
                break
        cluster.close()
    assert _versions(slim) == _versions(whole)
    pods = slim.items(k.PODS) + whole.items(k.PODS)
    if scenario != "empty":
        assert pods
        # the read is slimmer: what is dropped was there
        assert any("imageID" in cs for p in whole.items(k.PODS)
                   for cs in (p.get("status") or {}).get("containerStatuses") or [])
        assert not any("imageID" in cs for p in slim.items(k.PODS)
                       for cs in (p.get("status") or {}).get("containerStatuses") or [])
    slim_inventory, whole_inventory = inventory(slim), inventory(whole)
    slim_findings, whole_findings = diagnose(slim_inventory), diagnose(whole_inventory)
    assert [f.to_dict() for f in slim_findings] == [f.to_dict() for f in whole_findings]
    # `runbook diagnose -o table` diagnoses the snapshot without building the tables: the same
    assert [f.to_dict() for f in diagnose(slim)] == [f.to_dict() for f in slim_findings]
    assert scenario == "empty" or whole_findings
    whole_tables = whole_inventory.tables()
    for name, table in slim_inventory.tables().items():
        assert table.astype(str).equals(whole_tables[name].astype(str)), name
