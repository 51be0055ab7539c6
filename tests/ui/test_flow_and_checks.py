"""The logic under the panel, on plain data: which fix is proposed, the choices, the exercise check,
and the records' two representations."""

from __future__ import annotations

import copy
from pathlib import Path

from runbook import kinds as k
from runbook.errors import PartialApply, StepOutcome
from runbook.exercises import check_tag_exercise
from runbook.fix import alternative_fix, choose, proposed_fix, recreate_suggestion, target_choice
from runbook.mesh import Finding, Inventory, diagnose
from runbook.mesh.rollout import pods_table
from runbook.ui.render import Record, diff_html, render_check, render_error

from .conftest import NS, seed_snapshot


def test_the_proposal_is_the_error_fix_and_the_alternative_the_tag(
        diagnosis: tuple[Inventory, list[Finding]]) -> None:
    _inv, findings = diagnosis
    proposal = proposed_fix(findings, NS)
    assert proposal is not None and proposal.code == "MR101"
    assert proposal.fix is not None and proposal.fix.action == "retarget-webhook"
    assert proposed_fix(findings, "l7-traffic-beta") is None
    alt = alternative_fix(findings, NS, besides=proposal)
    assert alt is not None and alt.code == "MR106" and alt.fix is not None
    assert alt.fix.params["revision"] == "1-18-5"
    rec = recreate_suggestion(NS, "delete-replicasets")
    assert dict(rec.params) == {"namespace": NS, "method": "delete-replicasets"}  # all Deployments
    assert rec.command == f"kubectl delete rs -n {NS} --all"


def test_after_the_report_fix_only_the_tag_repoint_is_left(upstream: Path) -> None:
    findings = diagnose(seed_snapshot(upstream, fixed="retarget"))
    assert proposed_fix(findings, NS) is None  # pods are created again
    alt = alternative_fix(findings, NS)
    assert alt is not None and alt.code == "MR105"
    assert alt.fix is not None and alt.fix.command == (
        "istioctl tag set prod-canary --revision 1-18-5 -i istio-prod --overwrite")


def test_choices_come_from_the_inventory(diagnosis: tuple[Inventory, list[Finding]]) -> None:
    inv, findings = diagnosis
    retarget = findings[0].fix
    assert retarget is not None
    choice = target_choice(retarget, inv)
    assert choice is not None and choice.param == "service_namespace"
    # istio-system has no such Service; istio-canary is the only place it lives
    assert [o.value for o in choice.options] == ["istio-canary"]
    assert choice.selected == "istio-canary"
    changed = choose(retarget, "istio-prod")
    assert changed.params["service_namespace"] == "istio-prod" and "revision" not in changed.params
    assert choose(retarget, "istio-canary") is retarget
    assert target_choice(retarget) is not None  # without an inventory: the proposal only
    assert [o.value for o in target_choice(retarget).options] == ["istio-canary"]  # type: ignore[union-attr]


def test_exercise_check_fails_before_and_passes_after_the_solution(upstream: Path) -> None:
    before = check_tag_exercise(seed_snapshot(upstream, fixed="retarget"), NS, revision="1-18-5")
    assert not before.passed
    wrong = "\n".join(before.still_wrong)
    assert "calls istio-canary/istiod-1-18-5, which reaches revision 1-19-3" in wrong
    assert "istioctl tag set prod-canary --revision 1-18-5 -i istio-prod --overwrite" in wrong
    assert "6 pods have another sidecar" in wrong and "kubectl rollout restart" in wrong

    after = check_tag_exercise(seed_snapshot(upstream, fixed="set-tag"), NS, revision="1-18-5")
    assert after.passed, after.summary()
    assert "every pod has a sidecar of revision 1-18-5" in after.summary()


def test_exercise_check_tag_moved_but_pods_not_recreated(upstream: Path) -> None:
    # the solution's first half: the tag moved, the pods still carry the sidecar of 1-19-3
    snap = seed_snapshot(upstream, fixed="retarget")
    for obj in snap.objects[k.MUTATING_WEBHOOKS.key]:
        if obj["metadata"]["name"] == "istio-revision-tag-prod-canary":
            for hook in obj["webhooks"]:
                hook["clientConfig"]["service"] = {"namespace": "istio-prod", "name": "istiod",
                                                   "path": "/inject", "port": 443}
    check = check_tag_exercise(snap, NS, revision="1-18-5")
    assert [ln.ok for ln in check.lines] == [True, True, True, True, True, False, True, True, False]
    # moved by hand, the tag left its namespaces to istiod 1-19-3 (MR110), and the pods kept theirs
    assert check.still_wrong[0].startswith("istiod 1-18-5 does not watch l7-traffic-alpha")
    assert check.still_wrong[1].startswith("6 pods have another sidecar")


def test_exercise_check_notices_pods_that_are_not_ready(upstream: Path) -> None:
    snap = seed_snapshot(upstream, fixed="set-tag")
    pods = [p for p in snap.objects[k.PODS.key] if p["metadata"]["namespace"] == NS]
    pods[0]["status"]["containerStatuses"][1]["ready"] = False
    check = check_tag_exercise(snap, NS)
    assert not check.passed
    assert check.still_wrong == [f"1 of 6 pods not ready or terminating ({pods[0]['metadata']['name']}) "
                                 f"— wait for the rollout (kubectl rollout status deployment/<name> -n {NS})"]
    table = pods_table(pods)
    assert set(table["ready"]) == {"1/2", "2/2"}


def test_exercise_check_in_a_headless_run_is_not_attempted(upstream: Path) -> None:
    check = check_tag_exercise(seed_snapshot(upstream, fixed="retarget"), NS)
    record = render_check(check, headless=True)
    assert "not attempted" in record.text and record.ok is None
    interactive = render_check(check, headless=False)
    assert interactive.ok is False and "✗" in interactive.text and "not done yet" in interactive.title


def test_records_have_text_and_escaped_html() -> None:
    html = diff_html("--- a\n+++ b\n@@ -1 +1 @@\n-x: <old>\n+x: <new>\n")
    assert "&lt;new&gt;" in html and "<new>" not in html
    assert "background:#ffebe9" in html and "background:#dafbe1" in html
    rec = Record("t", "text", "<b>html</b>", True)
    assert str(rec) == "text" and rec._repr_html_() == "<b>html</b>"
    assert rec.output()["data"] == {"text/plain": "text", "text/html": "<b>html</b>"}


def test_a_partial_apply_is_one_title_line_plus_its_steps() -> None:
    err = PartialApply("'Point tag' stopped at step 2 of 2: boom",
                       steps=[StepOutcome("A", "applied"), StepOutcome("B", "failed", "boom")])
    rec = render_error("apply", err)
    first, *rest = rec.text.splitlines()
    assert first.startswith("✗ apply refused: 'Point tag' stopped at step 2 of 2") and "completed: A" in first
    assert rest == ["  A: applied", "  B: failed — boom"]
    unexpected = render_error("preview", KeyError("x"))
    assert unexpected.text.startswith("✗ preview failed: KeyError") and "please report" in unexpected.text


def test_choose_leaves_the_original_suggestion_alone(diagnosis: tuple[Inventory, list[Finding]]) -> None:
    _inv, findings = diagnosis
    fix = findings[1].fix
    assert fix is not None
    before = copy.deepcopy(dict(fix.params))
    other = choose(fix, "1-19-3")
    assert other.params["revision"] == "1-19-3" and dict(fix.params) == before
    assert "changed by hand: revision=1-19-3" in other.summary
