"""Fix plans against the sandbox: preview, dry run, guarded apply, confirmation, audit, undo."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbook import kinds as k
from runbook.errors import (
    ConcurrentChange,
    ConfirmationRequired,
    FixError,
    InputError,
    PartialApply,
)
from runbook.fix import AuditLog
from runbook.fix.actions import plan_fix, relabel_namespace, retarget_webhook, set_tag_revision
from runbook.kube import Cluster, RetryPolicy, connect
from runbook.kube.objects import comparable
from runbook.manifests import load_manifests
from runbook.mesh.findings import Finding, FixSuggestion, Subject
from runbook.sandbox import Fault, Sandbox

SEED = Path(__file__).resolve().parents[2] / "runbook/sandbox/scenarios/seed-incident"
TAG = "istio-revision-tag-prod-canary"


@pytest.fixture
def cluster(sandbox: Sandbox):  # type: ignore[no-untyped-def]
    c = connect(sandbox.kubeconfig_path, "sandbox",
                retry=RetryPolicy(attempts=2, base_seconds=0.01, cap_seconds=0.02))
    for m in load_manifests(SEED / "00-namespaces.yaml") + load_manifests(SEED / "30-webhooks.yaml"):
        kind = k.default_registry().by_kind(m.obj["apiVersion"], m.obj["kind"])
        assert kind is not None
        c.create(kind, m.obj)
    yield c
    c.close()


@pytest.fixture
def audit(tmp_path: Path) -> AuditLog:
    return AuditLog(tmp_path / "audit.jsonl")


def _targets(cluster: Cluster, name: str = TAG) -> list[str]:
    obj = cluster.get(k.MUTATING_WEBHOOKS, name)
    return [f"{w['clientConfig']['service']['namespace']}/{w['clientConfig']['service']['name']}"
            for w in obj["webhooks"]]


def test_preview_shows_context_diff_and_kubectl(cluster: Cluster) -> None:
    plan = retarget_webhook(cluster, TAG, "istio-canary")
    text = plan.preview()
    assert "Context: sandbox" in text and "confirmation required" in text
    assert "-      namespace: istio-system" in text and "+      namespace: istio-canary" in text
    (cmd,) = [c for c in plan.kubectl() if c.startswith("kubectl patch")]
    assert "mutatingwebhookconfigurations.admissionregistration.k8s.io" in cmd
    assert '"value":"istio-canary"' in cmd


def test_dry_run_changes_nothing(cluster: Cluster, audit: AuditLog) -> None:
    rv = cluster.get(k.MUTATING_WEBHOOKS, TAG)["metadata"]["resourceVersion"]
    result = retarget_webhook(cluster, TAG, "istio-canary").dry_run(cluster, audit=audit)
    assert result.ok and [s.status for s in result.steps] == ["dry-run"]
    after = cluster.get(k.MUTATING_WEBHOOKS, TAG)
    assert after["metadata"]["resourceVersion"] == rv
    assert _targets(cluster) == ["istio-system/istiod-1-18-5"] * 2
    assert [r.result for r in audit.read()] == ["dry-run"]


def test_cluster_scoped_apply_needs_the_context_confirmed(cluster: Cluster) -> None:
    plan = retarget_webhook(cluster, TAG, "istio-canary")
    with pytest.raises(ConfirmationRequired, match="confirm='sandbox'"):
        plan.apply(cluster)
    with pytest.raises(ConfirmationRequired):
        plan.apply(cluster, confirm="prod-eu")
    assert _targets(cluster) == ["istio-system/istiod-1-18-5"] * 2


def test_apply_then_undo_restores_the_exact_object(cluster: Cluster, audit: AuditLog) -> None:
    original = cluster.get(k.MUTATING_WEBHOOKS, TAG)
    plan = retarget_webhook(cluster, TAG, "istio-canary")
    result = plan.apply(cluster, confirm="sandbox", audit=audit)
    assert result.ok
    assert _targets(cluster) == ["istio-canary/istiod-1-18-5"] * 2
    plan.undo(cluster, confirm="sandbox", audit=audit)
    restored = cluster.get(k.MUTATING_WEBHOOKS, TAG)
    assert comparable(restored) == comparable(original)
    records = audit.read()
    assert [(r.action, r.result) for r in records] == [("apply", "applied"), ("undo", "applied")]
    assert records[0].context == "sandbox" and records[0].object == f"MutatingWebhookConfiguration/{TAG}"
    assert records[0].before and records[0].after
    assert records[0].before["webhooks"][0]["clientConfig"]["service"]["namespace"] == "istio-system"
    assert records[0].after["webhooks"][0]["clientConfig"]["service"]["namespace"] == "istio-canary"


def test_a_change_by_someone_else_is_refused(cluster: Cluster, audit: AuditLog) -> None:
    plan = retarget_webhook(cluster, TAG, "istio-canary")
    cluster.patch(k.MUTATING_WEBHOOKS, TAG, {"metadata": {"labels": {"edited": "by-someone"}}})
    snapshot = cluster.get(k.MUTATING_WEBHOOKS, TAG)
    with pytest.raises(ConcurrentChange, match="changed by someone else"):
        plan.apply(cluster, confirm="sandbox", audit=audit)
    assert cluster.get(k.MUTATING_WEBHOOKS, TAG) == snapshot
    assert [r.result for r in audit.read()] == ["refused"]


def test_undo_refuses_to_overwrite_a_later_change(cluster: Cluster, audit: AuditLog) -> None:
    plan = retarget_webhook(cluster, TAG, "istio-canary")
    plan.apply(cluster, confirm="sandbox", audit=audit)
    cluster.patch(k.MUTATING_WEBHOOKS, TAG, {"metadata": {"labels": {"later": "change"}}})
    result = plan.undo(cluster, confirm="sandbox", audit=audit)
    assert not result.ok and "changed by someone else" in result.steps[0].detail
    assert _targets(cluster) == ["istio-canary/istiod-1-18-5"] * 2


def test_forbidden_patch_names_verb_resource_and_context(sandbox: Sandbox, cluster: Cluster) -> None:
    ro = connect(sandbox.kubeconfig_path, "sandbox-readonly")
    plan = retarget_webhook(ro, TAG, "istio-canary")
    with pytest.raises(FixError) as err:
        plan.apply(ro, confirm="sandbox-readonly")
    text = str(err.value)
    assert "cannot update mutatingwebhookconfigurations" in text
    assert "'sandbox-readonly'" in text


def test_unknown_webhook_name_is_bad_input(cluster: Cluster) -> None:
    with pytest.raises(InputError, match="has no webhook named nope"):
        retarget_webhook(cluster, TAG, "istio-canary", webhooks=["nope"])


def test_plan_is_bound_to_its_cluster(cluster: Cluster, sandbox: Sandbox) -> None:
    plan = retarget_webhook(cluster, TAG, "istio-canary")
    other = connect(sandbox.kubeconfig_path, "sandbox-readonly")
    with pytest.raises(FixError, match="was made for context 'sandbox'"):
        plan.apply(other, confirm="sandbox-readonly")


def test_set_tag_revision_copies_the_revision_injector(cluster: Cluster, audit: AuditLog) -> None:
    plan = set_tag_revision(cluster, "prod-canary", "1-18-5")
    assert any(c.startswith("istioctl tag set prod-canary --revision 1-18-5 -i istio-prod")
               for c in plan.kubectl())
    plan.apply(cluster, confirm="sandbox", audit=audit)
    assert _targets(cluster) == ["istio-prod/istiod"] * 2
    plan2 = set_tag_revision(cluster, "prod-canary", "1-19-3")
    plan2.apply(cluster, confirm="sandbox", audit=audit)
    tag = cluster.get(k.MUTATING_WEBHOOKS, TAG)
    assert tag["metadata"]["labels"]["istio.io/rev"] == "1-19-3"
    assert _targets(cluster) == ["istio-canary/istiod-revision"] * 2


def test_set_tag_revision_unknown_revision_is_istioctls_error(cluster: Cluster) -> None:
    with pytest.raises(InputError, match='cannot find MutatingWebhookConfiguration with revision'):
        set_tag_revision(cluster, "prod-canary", "9-9-9")
    with pytest.raises(InputError, match="revision tag 'nope' not found"):
        set_tag_revision(cluster, "nope", "1-18-5")


def test_relabel_namespace_drops_the_injection_label(cluster: Cluster, audit: AuditLog) -> None:
    cluster.patch(k.NAMESPACES, "l7-traffic-beta", {"metadata": {"labels": {"istio-injection": "enabled"}}})
    plan = relabel_namespace(cluster, "l7-traffic-beta", "prod-canary")
    plan.apply(cluster, confirm="sandbox", audit=audit)
    labels = cluster.get(k.NAMESPACES, "l7-traffic-beta")["metadata"]["labels"]
    assert labels["istio.io/rev"] == "prod-canary" and "istio-injection" not in labels
    keep = relabel_namespace(cluster, "l7-traffic-alpha", "1-19-3", drop_injection_label=False)
    assert keep.steps[0].after is not None


def test_relabel_warns_when_both_labels_stay(cluster: Cluster) -> None:
    cluster.patch(k.NAMESPACES, "l7-traffic-beta", {"metadata": {"labels": {"istio-injection": "enabled"}}})
    plan = relabel_namespace(cluster, "l7-traffic-beta", "1-19-3", drop_injection_label=False)
    assert "IST0123" in plan.rationale


def test_multi_step_failure_reports_completed_steps_and_undo_reverts(
        cluster: Cluster, sandbox: Sandbox, audit: AuditLog) -> None:
    cluster.create(k.MUTATING_WEBHOOKS, {
        **cluster.get(k.MUTATING_WEBHOOKS, TAG),
        "metadata": {"name": "istio-revision-tag-prod-canary-2",
                     "labels": {"istio.io/rev": "1-18-5", "istio.io/tag": "prod-canary"}}})
    plan = set_tag_revision(cluster, "prod-canary", "1-18-5")
    assert len(plan.steps) == 2
    sandbox.faults.add(Fault(action="error", verb="update", name=plan.steps[1].name, status=500))
    with pytest.raises(PartialApply) as err:
        plan.apply(cluster, confirm="sandbox", audit=audit)
    assert f"completed: MutatingWebhookConfiguration/{plan.steps[0].name}" in str(err.value)
    sandbox.faults.clear()
    plan.undo(cluster, confirm="sandbox", audit=audit)
    assert _targets(cluster, plan.steps[0].name) == ["istio-system/istiod-1-18-5"] * 2
    results = [(r.action, r.result) for r in audit.read()]
    assert results == [("apply", "applied"), ("apply", "failed"), ("undo", "applied")]


def test_plan_fix_takes_a_finding_or_its_suggestion_and_refuses_a_finding_without_one(
        cluster: Cluster) -> None:
    suggestion = FixSuggestion("retarget-webhook",
                               {"configuration": TAG, "service_namespace": "istio-canary"},
                               command="kubectl patch …", summary="retarget")
    finding = Finding("MR101", "error", Subject("MutatingWebhookConfiguration", None, TAG), "broken",
                      fix=suggestion)
    assert plan_fix(cluster, finding).diff() == plan_fix(cluster, suggestion).diff() != ""
    without = Finding("MR108", "info", Subject("Namespace", None, "shop"), "nothing to change")
    with pytest.raises(InputError, match="finding MR108 proposes no fix"):
        plan_fix(cluster, without)
    assert _targets(cluster) == ["istio-system/istiod-1-18-5"] * 2  # planning changed nothing
