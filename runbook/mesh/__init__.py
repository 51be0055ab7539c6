"""Istio knowledge as plain functions over a :class:`~runbook.snapshot.Snapshot`.

No HTTP here: ``runbook.kube.read_snapshot`` fills a snapshot from a cluster, and everything in
this package turns it into pandas DataFrames and :class:`Finding` records::

    snap = read_snapshot(cluster)          # runbook.kube
    inv = inventory(snap)                  # every table, one pass
    findings = diagnose(inv)               # reuses the inventory's index
    findings_frame(findings)               # one row per finding

A diagnosis *of a cluster* has one way in, ``runbook.diagnose_cluster`` (:mod:`runbook.mesh.observe`:
the read and the two calls above); :func:`inventory` and :func:`diagnose` are its pure half, for a
snapshot already in hand (tests, fixture files, benchmarks).

pandas is imported by the functions that build tables, not by the modules: findings need none,
and ``runbook diagnose`` prints findings to a person waiting for them (pandas and numpy are a
quarter of a second of its start).

Tables (columns documented on each function): :func:`control_planes`, :func:`revision_tags`,
:func:`namespace_injection`, :func:`workloads`, :func:`replicaset_events`,
:func:`webhook_targets`. Finding codes: :mod:`runbook.mesh.findings`.
"""

from __future__ import annotations

from runbook.mesh.diagnose import TABLES, Inventory, diagnose, frame_records, inventory
from runbook.mesh.findings import (
    CODES,
    Finding,
    FixSuggestion,
    Subject,
    findings_frame,
    has_errors,
)
from runbook.mesh.injection import namespace_injection
from runbook.mesh.model import MeshModel, build_model
from runbook.mesh.revisions import control_planes, revision_tags
from runbook.mesh.webhooks import webhook_targets
from runbook.mesh.workloads import replicaset_events, workloads

__all__ = [
    "CODES",
    "TABLES",
    "Finding",
    "FixSuggestion",
    "Inventory",
    "MeshModel",
    "Subject",
    "build_model",
    "control_planes",
    "diagnose",
    "findings_frame",
    "frame_records",
    "has_errors",
    "inventory",
    "namespace_injection",
    "replicaset_events",
    "revision_tags",
    "webhook_targets",
    "workloads",
]
