"""The diagnosis benchmark's measuring side, on a small scale world: it runs, and what it reports
holds — every request a cluster-wide list, the same count for more namespaces."""

from __future__ import annotations

import pytest

from benchmarks.diagnose_bench import RUNS, _child
from runbook.sandbox import Sandbox


@pytest.mark.parametrize("namespaces", [20, 120])
def test_child_measures_a_diagnosis_without_per_namespace_requests(namespaces: int) -> None:
    scenario = f"scale:namespaces={namespaces},replicasets=240,events=1200,broken=4"
    with Sandbox(scenario=scenario, clock="manual") as sb:
        figures = _child(str(sb.kubeconfig_path), with_kubectl=False)
    assert len(figures["diagnose_s"]) == RUNS and figures["peak_rss_mb"] > 0
    assert figures["errors"] >= 4  # the broken namespaces' chains
    assert not [p for p in figures["paths"] if "/namespaces/" in p]
    # one page per kind at this size: 11 kinds, whatever the number of namespaces
    assert figures["requests"] == 11 and set(figures["paths"].values()) == {1}
