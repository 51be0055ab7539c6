"""The fix panel, driven by clicking its buttons, against the sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from runbook import kinds as k
from runbook.errors import ConfirmationRequired
from runbook.fix import AuditLog
from runbook.kube import Cluster
from runbook.kube.objects import comparable
from runbook.mesh import Finding, Inventory
from runbook.sandbox import Fault, Sandbox
from runbook.ui.panels import FixPanel

from .conftest import NS, TAG, targets

RESTARTED = "kubectl.kubernetes.io/restartedAt"


def _panel(cluster: Cluster, diagnosis: tuple[Inventory, list[Finding]], audit: AuditLog,
           **kwargs: Any) -> FixPanel:
    inv, findings = diagnosis
    return FixPanel(cluster, findings, inv, audit, **kwargs)


def _select(panel: FixPanel, code: str) -> None:
    labels = [label for label, _ in panel.finding.options]
    panel.finding.value = next(i for i, label in enumerate(labels) if f" {code} " in label)


def _last(panel: FixPanel) -> str:
    return panel.records[-1].text


def test_offers_the_fixable_findings_with_the_proposal_selected(
        cluster: Cluster, diagnosis: tuple[Inventory, list[Finding]], audit: AuditLog) -> None:
    panel = _panel(cluster, diagnosis, audit)
    labels = [label for label, _ in panel.finding.options]
    assert [label.split()[1] for label in labels] == ["MR101", "MR106", "MR107"]
    assert labels[0].startswith("error MR101 Namespace l7-traffic-alpha — point")
    # retarget: the namespaces where a Service istiod-1-18-5 exists, the proposal selected
    assert panel.target.value == "istio-canary"
    (label,) = [lb for lb, v in panel.target.options if v == "istio-canary"]
    assert "revision 1-19-3" in label and "ready endpoint" in label
    assert "claims revision 1-18-5" in panel.target_help.value
    assert "MR101" in panel.finding_info.value and "kubectl patch" in panel.finding_info.value


def test_target_choices_for_tags_and_recreating(
        cluster: Cluster, diagnosis: tuple[Inventory, list[Finding]], audit: AuditLog) -> None:
    panel = _panel(cluster, diagnosis, audit)
    _select(panel, "MR106")
    assert panel.target.value == "1-18-5"
    assert sorted(v for _, v in panel.target.options) == ["1-18-5", "1-19-3"]
    assert any("istio-prod/istiod" in lb for lb, v in panel.target.options if v == "1-18-5")
    _select(panel, "MR107")
    assert panel.target.value == "rollout-restart"
    assert [v for _, v in panel.target.options] == ["rollout-restart", "delete-replicasets"]
    assert "cannot be undone" in panel.target_help.value
    assert "old pods keep serving" in panel.target_help.value


def test_apply_is_disabled_until_previewed_and_confirmed(
        cluster: Cluster, diagnosis: tuple[Inventory, list[Finding]], audit: AuditLog) -> None:
    panel = _panel(cluster, diagnosis, audit)
    assert panel.apply_button.disabled and panel.dry_run_button.disabled and panel.undo_button.disabled
    assert panel.confirm.layout.display == "none"
    panel.preview_button.click()
    assert panel.plan is not None and panel.plan.cluster_scoped
    assert panel.confirm.layout.display is None and "sandbox" in panel.confirm_help.value
    assert panel.apply_button.disabled and not panel.dry_run_button.disabled
    panel.confirm.value = "prod-eu"
    assert panel.apply_button.disabled
    panel.confirm.value = "sandbox"
    assert not panel.apply_button.disabled
    panel.target.value = "istio-canary"  # unchanged target keeps the preview
    assert not panel.apply_button.disabled
    _select(panel, "MR106")  # another finding discards it
    assert panel.plan is None and panel.apply_button.disabled
    assert targets(cluster) == ["istio-system/istiod-1-18-5"] * 2


def test_preview_dry_run_apply_undo_by_clicking(
        cluster: Cluster, diagnosis: tuple[Inventory, list[Finding]], audit: AuditLog) -> None:
    original = cluster.get(k.MUTATING_WEBHOOKS, TAG)
    panel = _panel(cluster, diagnosis, audit)
    panel.preview_button.click()
    panel.dry_run_button.click()
    after_dry_run = cluster.get(k.MUTATING_WEBHOOKS, TAG)
    assert after_dry_run["metadata"]["resourceVersion"] == original["metadata"]["resourceVersion"]
    assert targets(cluster) == ["istio-system/istiod-1-18-5"] * 2
    assert _last(panel).startswith("✓ Dry run")
    panel.confirm.value = "sandbox"
    panel.apply_button.click()
    assert _last(panel).startswith("✓ Applied"), _last(panel)
    assert targets(cluster) == ["istio-canary/istiod-1-18-5"] * 2
    # a typed context confirms one cluster-scoped change: Undo needs it typed again
    assert panel.confirm.value == "" and panel.apply_button.disabled and panel.undo_button.disabled
    assert "type the context name" in panel.confirm_help.value
    panel.confirm.value = "sandbox"
    assert not panel.undo_button.disabled and "Confirmed" in panel.confirm_help.value
    panel.undo_button.click()
    assert _last(panel).startswith("✓ Undone"), _last(panel)
    assert comparable(cluster.get(k.MUTATING_WEBHOOKS, TAG)) == comparable(original)
    assert panel.undo_button.disabled and panel.plan is None
    records = audit.read()
    assert [(r.action, r.result) for r in records] == [
        ("dry-run", "dry-run"), ("apply", "applied"), ("undo", "applied")]
    assert {r.object for r in records} == {f"MutatingWebhookConfiguration/{TAG}"}
    assert all(r.context == "sandbox" for r in records)


def test_records_show_the_diff_the_commands_and_the_audit(
        cluster: Cluster, diagnosis: tuple[Inventory, list[Finding]], audit: AuditLog) -> None:
    panel = _panel(cluster, diagnosis, audit)
    panel.preview_button.click()
    preview = panel.records[-1]
    assert "-      namespace: istio-system" in preview.text
    assert "+      namespace: istio-canary" in preview.text
    assert "$ kubectl patch mutatingwebhookconfigurations.admissionregistration.k8s.io " \
           f"{TAG} --type=json" in preview.text
    assert "context: sandbox" in preview.text and "type the context name 'sandbox'" in preview.text
    # the HTML has the same diff, coloured line by line and escaped
    assert "mesh-runbook-diff" in preview.html
    assert "background:#dafbe1;color:#116329\">+      namespace: istio-canary</span>" in preview.html
    assert "$ kubectl patch" in preview.html
    panel.dry_run_button.click()
    dry = panel.records[-1]
    assert "--dry-run=server" in dry.text and "dry-run" in dry.text
    assert f"Audit: 1 record (appended to {audit.path})" in dry.text
    panel.confirm.value = "sandbox"
    panel.apply_button.click()
    applied = panel.records[-1]
    assert "apply applied: MutatingWebhookConfiguration/" + TAG in applied.text
    assert "--dry-run" not in applied.text and "$ kubectl patch" in applied.text
    # the log widget holds every record with both representations
    outputs = panel.log_output.outputs
    assert len(outputs) == len(panel.records) == 3
    assert all(set(o["data"]) == {"text/plain", "text/html"} for o in outputs)


def test_a_change_by_someone_else_is_refused_in_one_line(
        cluster: Cluster, diagnosis: tuple[Inventory, list[Finding]], audit: AuditLog) -> None:
    panel = _panel(cluster, diagnosis, audit)
    panel.preview_button.click()
    cluster.patch(k.MUTATING_WEBHOOKS, TAG, {"metadata": {"labels": {"edited": "by-someone"}}})
    before = cluster.get(k.MUTATING_WEBHOOKS, TAG)
    panel.confirm.value = "sandbox"
    panel.apply_button.click()
    text = _last(panel)
    assert text.startswith("✗ apply refused: ") and "changed by someone else" in text
    assert "nothing was changed" in text and "Traceback" not in text
    assert cluster.get(k.MUTATING_WEBHOOKS, TAG) == before
    assert panel.plan is None and panel.apply_button.disabled  # preview again
    assert [r.result for r in audit.read()] == ["refused"]
    panel.preview_button.click()  # a new preview reads again: the other change is kept
    panel.apply_button.click()
    assert targets(cluster) == ["istio-canary/istiod-1-18-5"] * 2
    assert cluster.get(k.MUTATING_WEBHOOKS, TAG)["metadata"]["labels"]["edited"] == "by-someone"


def test_forbidden_names_verb_resource_and_context(
        readonly: Cluster, diagnosis: tuple[Inventory, list[Finding]], audit: AuditLog) -> None:
    panel = _panel(readonly, diagnosis, audit)
    panel.preview_button.click()
    panel.confirm.value = "sandbox-readonly"
    panel.apply_button.click()
    text = _last(panel)
    assert text.startswith("✗ apply refused: forbidden: cannot update "
                           "mutatingwebhookconfigurations")
    assert "context 'sandbox-readonly'" in text and "Traceback" not in text
    assert len(text.splitlines()) <= 2


def test_apply_offers_recreate_then_wait(
        cluster: Cluster, diagnosis: tuple[Inventory, list[Finding]], audit: AuditLog) -> None:
    panel = _panel(cluster, diagnosis, audit)
    assert panel.recreate_button.disabled and panel.wait_button.disabled
    panel.preview_button.click()
    panel.confirm.value = "sandbox"
    panel.apply_button.click()
    assert not panel.recreate_button.disabled and not panel.wait_button.disabled
    assert panel.recreate_button.description == f"Recreate workloads in {NS}"
    panel.recreate_button.click()  # one click: preview, dry run, apply (namespaced: no typing)
    assert panel.plan is not None and panel.plan.title.startswith("Rollout restart of 6")
    assert [r.title.split(":")[0] for r in panel.records[-3:]] == [
        "Preview", "Dry run (server-side, nothing stored)", "Applied"]
    assert "kubectl rollout restart deployment -n l7-traffic-alpha" in panel.records[-3].text
    assert not panel.plan.cluster_scoped and panel.apply_button.disabled
    deps = cluster.list(k.DEPLOYMENTS, NS)
    assert len(deps) == 6
    assert all(RESTARTED in d["spec"]["template"]["metadata"]["annotations"] for d in deps)
    panel.rollout_timeout = 0  # look once: no controllers run in this sandbox
    panel.wait_button.click()
    rollout = panel.records[-1]
    assert rollout.ok is False and "not ready" in rollout.title
    assert f"kubectl rollout status deployment/details-v1 -n {NS}" in rollout.text


def test_recreate_by_deleting_replicasets_is_explained_and_not_undoable(
        cluster: Cluster, bare_sandbox: Sandbox, diagnosis: tuple[Inventory, list[Finding]],
        audit: AuditLog) -> None:
    dep = cluster.get(k.DEPLOYMENTS, "details-v1", NS)
    cluster.create(k.REPLICA_SETS, {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "details-v1-ccbdcf56", "namespace": NS, "ownerReferences": [{
            "apiVersion": "apps/v1", "kind": "Deployment", "name": "details-v1",
            "uid": dep["metadata"]["uid"], "controller": True}]},
        "spec": {"replicas": 1, "selector": dep["spec"]["selector"],
                 "template": dep["spec"]["template"]}})
    panel = _panel(cluster, diagnosis, audit)
    _select(panel, "MR107")
    panel.target.value = "delete-replicasets"
    panel.preview_button.click()
    text = _last(panel)
    assert "delete ReplicaSet/l7-traffic-alpha/details-v1-ccbdcf56" in text
    assert "(cannot be undone)" in text and "kubectl delete rs -n l7-traffic-alpha --all" in text
    panel.apply_button.click()
    assert cluster.list(k.REPLICA_SETS, NS) == []
    assert panel.undo_button.disabled  # nothing to put back: the Deployment recreates it


def test_partial_apply_names_completed_steps_and_undo_reverts_them(
        cluster: Cluster, bare_sandbox: Sandbox, diagnosis: tuple[Inventory, list[Finding]],
        audit: AuditLog) -> None:
    second = "istio-revision-tag-prod-canary-2"
    cluster.create(k.MUTATING_WEBHOOKS, {
        **cluster.get(k.MUTATING_WEBHOOKS, TAG),
        "metadata": {"name": second, "labels": {"istio.io/rev": "1-18-5",
                                                 "istio.io/tag": "prod-canary"}}})
    panel = _panel(cluster, diagnosis, audit)
    _select(panel, "MR106")
    panel.preview_button.click()
    assert panel.plan is not None and len(panel.plan.steps) == 2
    bare_sandbox.faults.add(Fault(action="error", verb="update", name=second, status=500))
    panel.confirm.value = "sandbox"
    panel.apply_button.click()
    text = _last(panel)
    assert text.startswith("✗ apply refused: ") and f"completed: MutatingWebhookConfiguration/{TAG}" in text
    assert f"MutatingWebhookConfiguration/{second}: failed" in text
    assert not panel.undo_button.disabled
    bare_sandbox.faults.clear()
    panel.undo_button.click()
    assert targets(cluster) == ["istio-system/istiod-1-18-5"] * 2
    assert targets(cluster, second) == ["istio-system/istiod-1-18-5"] * 2


def test_another_target_than_the_proposal(
        cluster: Cluster, diagnosis: tuple[Inventory, list[Finding]], audit: AuditLog) -> None:
    panel = _panel(cluster, diagnosis, audit)
    _select(panel, "MR106")
    panel.target.value = "1-19-3"
    panel.preview_button.click()
    assert "istioctl tag set prod-canary --revision 1-19-3 -i istio-canary --overwrite" in _last(panel)
    panel.confirm.value = "sandbox"
    panel.apply_button.click()
    assert targets(cluster) == ["istio-canary/istiod-revision"] * 2
    assert cluster.get(k.MUTATING_WEBHOOKS, TAG)["metadata"]["labels"]["istio.io/rev"] == "1-19-3"


# ------------------------------------------------------------------------------- headless


def test_headless_without_apply_previews_and_dry_runs_only(
        cluster: Cluster, diagnosis: tuple[Inventory, list[Finding]], audit: AuditLog,
        capsys: pytest.CaptureFixture[str]) -> None:
    rv = cluster.get(k.MUTATING_WEBHOOKS, TAG)["metadata"]["resourceVersion"]
    panel = _panel(cluster, diagnosis, audit, namespace=NS)
    attempt = panel.apply_proposed(confirm="sandbox", apply=False)
    assert attempt.status == "dry-run" and attempt.finding is not None
    assert attempt.finding.code == "MR101"
    assert cluster.get(k.MUTATING_WEBHOOKS, TAG)["metadata"]["resourceVersion"] == rv
    assert [r.result for r in audit.read()] == ["dry-run"]
    printed = capsys.readouterr().out  # outside Jupyter display() prints the text records
    assert "Preview: Retarget istio-revision-tag-prod-canary" in printed
    assert "+      namespace: istio-canary" in printed and "--dry-run=server" in printed
    assert "not applied (preview only: applying was not asked for)" in printed


def test_headless_apply_then_recreate(
        cluster: Cluster, diagnosis: tuple[Inventory, list[Finding]], audit: AuditLog) -> None:
    panel = _panel(cluster, diagnosis, audit, namespace=NS)
    attempt = panel.apply_proposed(confirm=cluster.context)
    assert attempt.status == "applied", attempt.summary()
    assert targets(cluster) == ["istio-canary/istiod-1-18-5"] * 2
    assert panel.applied_plans == [attempt.plan]
    # code confirmed it; the box is the trainee's: Undo waits for the context to be typed
    assert panel.confirm.value == "" and panel.undo_button.disabled
    assert panel.confirmed_in_code == [(attempt.plan.title, "sandbox")]  # type: ignore[union-attr]
    assert "that does not confirm anything here" in panel.confirm_help.value
    recreate = panel.recreate(NS)
    assert recreate.status == "applied"
    assert [(r.action, r.result) for r in audit.read()] == (
        [("dry-run", "dry-run"), ("apply", "applied")] + [("dry-run", "dry-run")] * 6
        + [("apply", "applied")] * 6)


def test_headless_without_confirmation_is_refused_in_one_line(
        cluster: Cluster, diagnosis: tuple[Inventory, list[Finding]], audit: AuditLog,
        capsys: pytest.CaptureFixture[str]) -> None:
    panel = _panel(cluster, diagnosis, audit, namespace=NS)
    attempt = panel.apply_proposed(confirm=None)
    assert attempt.status == "failed" and isinstance(attempt.error, ConfirmationRequired)
    assert targets(cluster) == ["istio-system/istiod-1-18-5"] * 2
    out = capsys.readouterr().out
    assert "✗ apply refused: 'Retarget istio-revision-tag-prod-canary to istio-canary/" in out
    assert "confirm by passing confirm='sandbox'" in out and "Traceback" not in out


def test_headless_when_already_fixed_says_so(upstream: Any, cluster: Cluster, audit: AuditLog,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from runbook.mesh import diagnose, inventory

    from .conftest import seed_snapshot

    inv = inventory(seed_snapshot(upstream, fixed="set-tag"))
    panel = FixPanel(cluster, diagnose(inv), inv, audit, namespace=NS)
    attempt = panel.apply_proposed(confirm="sandbox")
    assert attempt.status == "nothing-to-do" and attempt.ok
    assert "nothing blocks pod creation" in capsys.readouterr().out
    assert audit.read() == []


def test_status_written_by_a_controller_is_no_concurrent_change(
        cluster: Cluster, diagnosis: tuple[Inventory, list[Finding]], audit: AuditLog) -> None:
    panel = _panel(cluster, diagnosis, audit, namespace=NS)
    panel.select_recreate()
    # what the Deployment controller does meanwhile: status and its revision annotation
    for name in ("details-v1", "ratings-v1"):
        cluster.patch(k.DEPLOYMENTS, name, {"status": {"observedGeneration": 1, "replicas": 0}},
                      NS, subresource="status")
        cluster.patch(k.DEPLOYMENTS, name, {"metadata": {"annotations": {
            "deployment.kubernetes.io/revision": "2"}}}, NS)
    panel.apply_button.click()
    assert _last(panel).startswith("✓ Applied: Rollout restart of 6"), _last(panel)
    details = cluster.get(k.DEPLOYMENTS, "details-v1", NS)
    assert details["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert RESTARTED in details["spec"]["template"]["metadata"]["annotations"]
    # the controller numbers the rollout; undo puts the template back and keeps its number
    cluster.patch(k.DEPLOYMENTS, "details-v1", {"metadata": {"annotations": {
        "deployment.kubernetes.io/revision": "3"}}}, NS)
    panel.undo_button.click()
    assert _last(panel).startswith("✓ Undone"), _last(panel)
    details = cluster.get(k.DEPLOYMENTS, "details-v1", NS)
    assert RESTARTED not in (details["spec"]["template"]["metadata"].get("annotations") or {})
    assert details["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    # while a change of the configuration by someone else is still refused
    panel.select_recreate()
    cluster.patch(k.DEPLOYMENTS, "details-v1", {"spec": {"replicas": 2}}, NS)
    panel.apply_button.click()
    assert _last(panel).startswith("✗ apply refused: ") and "changed by someone else" in _last(panel)
    assert cluster.get(k.DEPLOYMENTS, "details-v1", NS)["spec"]["replicas"] == 2


def test_a_diagnosis_without_fixes_gives_an_idle_panel(cluster: Cluster, audit: AuditLog) -> None:
    panel = FixPanel(cluster, [], None, audit, namespace=NS)
    assert panel.finding.options == () and panel.preview_button.disabled
    assert "no finding proposes a fix" in panel.finding_info.value
    panel.preview_button.click()  # a click on a disabled-looking button still says why, in one line
    assert _last(panel) == "✗ preview refused: no fix selected"
    attempt = panel.apply_proposed(confirm="sandbox")
    assert attempt.status == "nothing-to-do" and audit.read() == []


def test_print_log_prints_the_clicked_actions_once(
        cluster: Cluster, diagnosis: tuple[Inventory, list[Finding]], audit: AuditLog,
        capsys: pytest.CaptureFixture[str]) -> None:
    panel = _panel(cluster, diagnosis, audit, namespace=NS)
    panel.apply_proposed(apply=False)  # printed in its cell already
    capsys.readouterr()
    panel.preview_button.click()
    panel.dry_run_button.click()
    assert capsys.readouterr().out == ""  # clicks only reach the log widget
    shown = panel.print_log()
    out = capsys.readouterr().out
    assert [r.title.split(":")[0] for r in shown] == ["Preview", "Dry run (server-side, nothing stored)"]
    assert "2 action records from clicks" in out and "+      namespace: istio-canary" in out
    assert panel.print_log() == []
    assert "No action was taken by clicking" in capsys.readouterr().out


# ------------------------------------------------------------------------------- a trainee after Run All


def test_cells_never_choose_or_confirm_for_the_trainee(
        cluster: Cluster, diagnosis: tuple[Inventory, list[Finding]], audit: AuditLog) -> None:
    """Notebook 03's Run All: the headless proposal, then the alternative previewed by a cell."""
    from runbook.fix import alternative_fix

    inv, findings = diagnosis
    panel = FixPanel(cluster, findings, inv, audit, namespace=NS)
    panel.apply_proposed(apply=False, confirm=cluster.context)
    panel.update(findings, inv)
    alternative = alternative_fix(findings, NS)
    assert alternative is not None and alternative.code == "MR106"
    panel.run(alternative, apply=False)
    # the panel still opens on the error that explains the symptom, the box is empty
    label = dict((v, lb) for lb, v in panel.finding.options)[panel.finding.value]
    assert label.startswith("error MR101 ")
    assert panel.confirm.value == "" and panel.plan is None
    panel.preview_button.click()
    assert panel.plan is not None and panel.plan.cluster_scoped
    assert panel.apply_button.disabled and "type the context name" in panel.confirm_help.value
    panel.apply_button.click()  # even a click on the disabled button changes nothing
    assert targets(cluster) == ["istio-system/istiod-1-18-5"] * 2
    assert [r.result for r in audit.read()] == ["dry-run", "dry-run"]


def test_the_log_shows_the_newest_record_first(
        cluster: Cluster, diagnosis: tuple[Inventory, list[Finding]], audit: AuditLog) -> None:
    panel = _panel(cluster, diagnosis, audit)
    panel.preview_button.click()
    panel.dry_run_button.click()
    texts = [o["data"]["text/plain"] for o in panel.log_output.outputs]
    assert texts[0].startswith("✓ Dry run") and texts[1].startswith("• Preview:"), texts


def _complete(cluster: Cluster) -> None:
    """What the Deployment controller reports once every replica is updated and available."""
    for dep in cluster.list(k.DEPLOYMENTS, NS):
        replicas = dep["spec"].get("replicas", 1)
        cluster.patch(k.DEPLOYMENTS, dep["metadata"]["name"], {"status": {
            "observedGeneration": dep["metadata"]["generation"], "replicas": replicas,
            "updatedReplicas": replicas, "readyReplicas": replicas,
            "availableReplicas": replicas}}, NS, subresource="status")


def _replicaset_with_pod(cluster: Cluster, name: str, revision: str | None = None) -> None:
    """A ReplicaSet of details-v1 with one pod (injected by ``revision`` when given)."""
    annotations = {"sidecar.istio.io/status": f'{{"revision": "{revision}"}}'} if revision else {}
    dep = cluster.get(k.DEPLOYMENTS, "details-v1", NS)
    rs = cluster.create(k.REPLICA_SETS, {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": NS, "ownerReferences": [{
            "apiVersion": "apps/v1", "kind": "Deployment", "name": "details-v1",
            "uid": dep["metadata"]["uid"], "controller": True}]},
        "spec": {"replicas": 1, "selector": dep["spec"]["selector"],
                 "template": dep["spec"]["template"]}})
    cluster.create(k.PODS, {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"{name}-x1", "namespace": NS, "annotations": annotations,
                     "labels": dep["spec"]["template"]["metadata"]["labels"],
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                          "name": name, "uid": rs["metadata"]["uid"],
                                          "controller": True}]},
        "spec": {"containers": [{"name": "details", "image": "details:1"}]}})


def test_wait_fails_when_the_pods_come_from_replicasets_older_than_the_fix(
        cluster: Cluster, diagnosis: tuple[Inventory, list[Finding]], audit: AuditLog) -> None:
    _replicaset_with_pod(cluster, "details-v1-old")  # failing to create pods before the fix
    panel = _panel(cluster, diagnosis, audit, namespace=NS, rollout_timeout=0)
    panel.preview_button.click()
    panel.confirm.value = "sandbox"
    panel.apply_button.click()
    _complete(cluster)  # as if the old ReplicaSet's back-off retry had succeeded: no recreate
    panel.wait_button.click()
    verdict = panel.records[-1]
    assert verdict.ok is False and "not recreated: 1 pod(s)" in verdict.title, verdict.text
    assert "details-v1-old-x1" in verdict.text and "back-off retry" in verdict.text
    # a recreate makes a new ReplicaSet (the old one's pods go away): the wait passes
    cluster.delete(k.PODS, "details-v1-old-x1", NS)
    _replicaset_with_pod(cluster, "details-v1-new", revision="1-19-3")
    panel.wait_button.click()
    verdict = panel.records[-1]
    assert verdict.ok and "every pod comes from a ReplicaSet created after the fix" in verdict.text


def test_a_headless_run_records_the_panel_as_it_was_at_its_cell(
        cluster: Cluster, diagnosis: tuple[Inventory, list[Finding]], audit: AuditLog,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from runbook.paths import HEADLESS_ENV

    panel = _panel(cluster, diagnosis, audit, namespace=NS)
    live = panel._repr_mimebundle_()
    assert live is not None and "application/vnd.jupyter.widget-view+json" in live
    monkeypatch.setenv(HEADLESS_ENV, "1")
    before = panel._repr_mimebundle_()
    assert before is not None and set(before) == {"text/plain", "text/html"}
    assert "Fix panel at this point" in before["text/plain"]
    assert "Finding: error MR101" in before["text/plain"] and "Preview: none yet" in before["text/plain"]
    panel.apply_proposed(confirm="sandbox")
    after = panel._repr_mimebundle_()
    assert after is not None and "Undo: disabled" in after["text/plain"]  # nobody typed the context
    assert before["text/plain"] != after["text/plain"]
