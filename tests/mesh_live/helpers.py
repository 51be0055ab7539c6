"""What the live injection-chain tests share."""

from __future__ import annotations

from typing import Any

from runbook import kinds as k
from runbook.apps import app_path
from runbook.kube import Cluster
from runbook.kube.apply import apply_manifests
from runbook.mesh.findings import Finding
from runbook.mesh.observe import diagnose_cluster


def failing_bookinfo_chain(sandbox: Any, settle: Any, cluster: Cluster, namespace: str) -> Finding:
    """Apply bookinfo to ``namespace``, check that no pod could be created, and return the MR101
    finding that explains it."""
    apply_manifests(cluster, app_path("bookinfo"), namespace=namespace)
    settle(sandbox, 5.0)
    assert cluster.list(k.PODS, namespace) == []
    return next(f for f in diagnose_cluster(cluster, namespace=namespace)[1]
                if f.code == "MR101" and f.subject.name == namespace)
