"""The scale benchmark's cluster, small: its generator stays correct and the diagnosis finds the
broken namespaces (and only those) among many healthy ones."""

from __future__ import annotations

from benchmarks.mesh_bench import scale_snapshot
from runbook.mesh import diagnose, inventory


def test_scaled_cluster_diagnosis() -> None:
    snap = scale_snapshot(namespaces=60, replicasets=240, events=1_200, broken=3)
    inv = inventory(snap)
    assert len(inv.replicaset_events) == 1_200
    assert set(inv.control_planes["revision"]) == {"blue", "green"}
    findings = diagnose(inv)
    chains = [f for f in findings if f.code == "MR101"]
    assert sorted(f.subject.name for f in chains) == ["app-0000", "app-0001", "app-0002"]
    # the tag claims blue and the Service of that name in cp-blue serves blue: no MR106 warning
    assert chains[0].fix is not None and chains[0].fix.params["service_namespace"] == "cp-blue"
    assert not [f for f in findings if f.code == "MR106"]
    # the rest is information: MR107 per broken namespace, IST0102 for the unlabelled control
    # plane namespaces (istioctl reports those too)
    assert [(f.code, f.severity) for f in findings if f.code != "MR101"] == (
        [("MR107", "info")] * 3 + [("IST0102", "info")] * 2)
