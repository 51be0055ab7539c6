"""End to end on the ``seed-incident`` sandbox (controllers, admission, emulated istiods):
bookinfo applied → diagnosed → fixed from the panel by clicking → recreated → waited for; then the
exercise's solution; then notebook 03 run twice on one sandbox (the second run changes nothing)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from runbook import kinds as k
from runbook.apps import app_path
from runbook.exercises import check_tag_exercise
from runbook.fix import AuditLog
from runbook.fix.actions import set_tag_revision
from runbook.kube import Cluster, connect
from runbook.kube.apply import apply_manifests
from runbook.mesh.observe import diagnose_cluster, read_mesh
from runbook.mesh.rollout import injected_revision
from runbook.report import run_notebook
from runbook.sandbox import Sandbox
from runbook.ui.panels import FixPanel

from .conftest import NS, TAG, targets

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "03-fix-webhook-and-recreate.ipynb"

pytestmark = pytest.mark.slow


@pytest.fixture
def world() -> Iterator[tuple[Sandbox, Cluster]]:
    with Sandbox(scenario="seed-incident", clock="real") as sb:
        c = connect(sb.kubeconfig_path, "sandbox")
        yield sb, c
        c.close()


def _revisions_selected_by(cluster: Cluster, namespace: str, name: str) -> set[str]:
    """The istio.io/rev of the istiod pods a Service's selector picks (read from the cluster)."""
    selector = cluster.get(k.SERVICES, name, namespace)["spec"]["selector"]
    pods = cluster.list(k.PODS, namespace,
                        label_selector=",".join(f"{key}={v}" for key, v in selector.items()))
    return {p["metadata"]["labels"]["istio.io/rev"] for p in pods}


def _assert_bookinfo_up(cluster: Cluster, revision: str) -> None:
    pods = [p for p in cluster.list(k.PODS, NS) if not p["metadata"].get("deletionTimestamp")]
    assert len(pods) == 6
    for pod in pods:
        statuses = pod["status"].get("containerStatuses") or []
        assert [s["name"] for s in statuses if s["ready"]] and len(statuses) == 2, pod["metadata"]
        assert all(s["ready"] for s in statuses), pod["metadata"]["name"]
        assert injected_revision(pod) == revision, pod["metadata"]["name"]


def test_fix_from_the_panel_then_the_exercise(world: tuple[Sandbox, Cluster], tmp_path: Path) -> None:
    _sb, cluster = world
    audit = AuditLog(tmp_path / "audit.jsonl")
    apply_manifests(cluster, app_path("bookinfo"), namespace=NS)
    inv, findings = diagnose_cluster(cluster, namespace=NS)
    panel = FixPanel(cluster, findings, inv, audit, namespace=NS, rollout_timeout=60)
    assert panel.suggestion() is not None and panel.suggestion().action == "retarget-webhook"  # type: ignore[union-attr]

    panel.preview_button.click()
    panel.dry_run_button.click()
    panel.confirm.value = cluster.context
    panel.apply_button.click()
    assert panel.records[-1].ok, panel.records[-1].text
    assert targets(cluster) == ["istio-canary/istiod-1-18-5"] * 2
    panel.recreate_button.click()  # preview, dry run and apply in one click
    assert panel.records[-1].title.startswith("Applied: Rollout restart of 6"), panel.records[-1].text
    panel.wait_button.click()
    rollout = panel.records[-1]
    assert rollout.ok, rollout.text
    assert "6 deployment(s) in l7-traffic-alpha ready" in rollout.title
    assert "every pod comes from a ReplicaSet created after the fix" in rollout.text

    # the pods are injected by the istiod that the retargeted Service really selects
    selected = _revisions_selected_by(cluster, "istio-canary", "istiod-1-18-5")
    assert selected == {"1-19-3"}
    _assert_bookinfo_up(cluster, "1-19-3")
    assert "every pod was injected by revision 1-19-3" in rollout.text

    # the exercise: not done yet — the tag still claims 1-18-5
    before = check_tag_exercise(read_mesh(cluster), NS, revision="1-18-5")
    assert not before.passed and any("reaches revision 1-19-3" in w for w in before.still_wrong)
    # its solution, the way the notebook tells the trainee to do it with the package
    set_tag_revision(cluster, "prod-canary", "1-18-5").apply(cluster, confirm=cluster.context,
                                                             audit=audit)
    half = check_tag_exercise(read_mesh(cluster), NS, revision="1-18-5")
    assert [w.split(":")[0] for w in half.still_wrong] == ["6 pods have another sidecar"]
    panel.recreate(NS, apply=True)
    assert panel.wait_for_rollout(NS, timeout=60).ok
    after = check_tag_exercise(read_mesh(cluster), NS, revision="1-18-5")
    assert after.passed, after.summary()
    _assert_bookinfo_up(cluster, "1-18-5")
    assert _revisions_selected_by(cluster, "istio-prod", "istiod") == {"1-18-5"}

    # one audit record per change: the retarget, 6 restarts, the tag and the two revisions'
    # meshConfig (1-18-5 now watches the tag's namespaces, 1-19-3 stops), 6 restarts
    records = audit.read()
    applied = [r.object for r in records if r.action == "apply"]
    assert applied.count(f"MutatingWebhookConfiguration/{TAG}") == 2
    assert {"ConfigMap/istio-prod/istio-1-18-5", "ConfigMap/istio-canary/istio-1-19-3"} <= set(applied)
    assert len(applied) == 1 + 6 + 3 + 6


@pytest.mark.notebook
def test_notebook_03_applied_then_run_again_changes_nothing(
        world: tuple[Sandbox, Cluster], tmp_path: Path) -> None:
    sb, cluster = world
    first = run_notebook(NOTEBOOK, parameters={"apply_fixes": True}, out_dir=tmp_path / "1",
                         kubeconfig=str(sb.kubeconfig_path), context="sandbox", timeout=120)
    first.raise_for_status()
    assert {r.object for r in first.audit_records if r.result == "applied"} >= {
        f"MutatingWebhookConfiguration/{TAG}", f"Deployment/{NS}/details-v1"}
    text = _outputs(first.executed_path)
    assert "ready after" in text and "sidecars from revision 1-19-3" in text
    assert text.count("2/2 Running") >= 6 or text.count(" 2/2 ") >= 6
    _assert_bookinfo_up(cluster, "1-19-3")
    assert "not attempted" in text  # the exercise check in a headless run

    second = run_notebook(NOTEBOOK, parameters={"apply_fixes": True}, out_dir=tmp_path / "2",
                          kubeconfig=str(sb.kubeconfig_path), context="sandbox", timeout=120)
    second.raise_for_status()
    assert [r for r in second.audit_records if r.result == "applied"] == []
    text = _outputs(second.executed_path)
    assert "nothing blocks pod creation" in text and "no reason to recreate" in text


def _outputs(path: Path) -> str:
    nb = nbformat.read(str(path), as_version=4)
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            out.append(o.get("text", "") if o.get("output_type") == "stream"
                       else str((o.get("data") or {}).get("text/plain", "")))
    return "\n".join(out)
