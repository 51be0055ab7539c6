"""The fix panel and the course in a real JupyterLab, clicked in a real chromium, where a trainee
would click.

1. A small notebook builds the panel against a ``seed-incident`` sandbox: Preview, type the
   context, Apply, Recreate workloads, Wait for rollout, Undo twice — and the sandbox's objects.
2. The course: Run All on notebooks 02 and 03, then as a trainee in 03's panel (the error finding
   preselected, Apply disabled until the context is typed, Recreate makes new ReplicaSets, the
   pods' injecting revision shown), the 03 exercise by hand with kubectl, then notebook 05 says
   in its first cells what to do.

Screenshots: ``reports/browser/<test>/`` (see ``tests/ui/browser.py``).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import nbformat
import pytest

from runbook import kinds as k
from runbook.apps import app_path
from runbook.audit import AuditLog
from runbook.fix.actions import set_tag_revision
from runbook.kube import Cluster, connect
from runbook.kube.apply import apply_manifests
from runbook.kube.objects import comparable
from runbook.mesh.rollout import injected_revision, wait_for_rollout
from runbook.sandbox import Sandbox
from runbook.ui.render import command_sections

from .browser import (
    Lab,
    chromium_page,
    copy_notebook,
    idle,
    jupyterlab,
    open_notebook,
    run_all,
    screenshot_dir,
)
from .conftest import NS, TAG, targets

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _panel_notebook(path: Path, kubeconfig: Path, audit: Path) -> None:
    source = "\n".join([
        "from runbook.fix import AuditLog",
        "from runbook.kube import connect",
        "from runbook.mesh.observe import diagnose_cluster",
        "from runbook.ui.panels import FixPanel",
        f"cluster = connect({str(kubeconfig)!r}, 'sandbox')",
        f"inventory, findings = diagnose_cluster(cluster, namespace={NS!r})",
        f"panel = FixPanel(cluster, findings, inventory, AuditLog({str(audit)!r}), namespace={NS!r})",
        "panel",
    ])
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)], metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, str(path))


def _type_context_and_apply(page: Any, scope: Any, confirm: Any, apply: Any) -> None:
    """The retarget is cluster-scoped: Apply waits for the context, typed by hand."""
    from playwright.sync_api import expect

    expect(apply).to_be_disabled()
    confirm.fill("sandbox")
    expect(apply).to_be_enabled(timeout=10_000)
    apply.click()
    expect(scope.get_by_text("✓ Applied: Retarget").first).to_be_visible(timeout=30_000)
    idle(page)


def test_click_preview_confirm_apply_undo_in_jupyterlab(
        tmp_path: Path, request: pytest.FixtureRequest) -> None:
    from playwright.sync_api import expect

    shots = screenshot_dir(request.node.name)
    with jupyterlab(tmp_path) as lab, Sandbox(scenario="seed-incident", clock="real") as sb:
        cluster = connect(sb.kubeconfig_path, "sandbox")
        apply_manifests(cluster, app_path("bookinfo"), namespace=NS)
        original = cluster.get(k.MUTATING_WEBHOOKS, TAG)
        _panel_notebook(tmp_path / "panel.ipynb", sb.kubeconfig_path, tmp_path / "audit.jsonl")
        with chromium_page(shots) as page:
            open_notebook(page, lab, "panel.ipynb")
            page.locator(".jp-Notebook .jp-Cell .jp-InputArea-editor").first.click()
            page.keyboard.press("Shift+Enter")
            preview = page.get_by_role("button", name="Preview")
            preview.wait_for(timeout=30_000)
            apply = page.get_by_role("button", name="Apply")
            expect(apply).to_be_disabled()
            preview.click()
            expect(page.get_by_text("Preview: Retarget istio-revision-tag-prod-canary").first
                   ).to_be_visible(timeout=30_000)
            confirm = page.get_by_placeholder("type sandbox")
            _type_context_and_apply(page, page, confirm, apply)
            assert targets(cluster) == ["istio-canary/istiod-1-18-5"] * 2
            # one click recreates: preview, dry run, apply of the namespaced restart
            page.get_by_role("button", name=f"Recreate workloads in {NS}").click()
            expect(page.get_by_text("✓ Applied: Rollout restart of 6").first).to_be_visible(
                timeout=30_000)
            idle(page)
            page.get_by_role("button", name="Wait for rollout").click()
            expect(page.get_by_text(f"6 deployment(s) in {NS} ready").first).to_be_visible(
                timeout=180_000)
            newest = page.locator(".mesh-runbook-log .mesh-runbook-record").first  # newest first
            assert "1-19-3" in newest.inner_text()
            page.screenshot(path=str(shots / "after-rollout.png"), full_page=True)
            # Undo reverts the newest change first: the restart, then the retarget — which is
            # cluster-scoped, so the context is typed again (the box emptied after the apply)
            undo = page.get_by_role("button", name="Undo")
            undo.click()
            expect(page.get_by_text("✓ Undone: Rollout restart of 6").first).to_be_visible(
                timeout=30_000)
            expect(undo).to_be_disabled()
            confirm.fill("sandbox")
            expect(undo).to_be_enabled(timeout=10_000)
            undo.click()
            expect(page.get_by_text("✓ Undone: Retarget").first).to_be_visible(timeout=30_000)
            assert comparable(cluster.get(k.MUTATING_WEBHOOKS, TAG)) == comparable(original)
        cluster.close()
    results = [json.loads(line)["result"] for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    # one record per change (applies and undos) and per dry run (Recreate's own, 6 Deployments)
    assert results.count("applied") == 1 + 6 + 6 + 1 and results.count("dry-run") == 6
    assert AuditLog(tmp_path / "audit.jsonl").unfinished() == []  # written ahead, each completed


def _replicasets(cluster: Cluster) -> dict[str, str]:
    """uid → name of the namespace's ReplicaSets."""
    return {rs["metadata"]["uid"]: rs["metadata"]["name"] for rs in cluster.list(k.REPLICA_SETS, NS)}


def _kubectl(kubectl: str, sb: Sandbox, command: str) -> None:
    """A command as a trainee types it (the preview prints them), run by the real kubectl."""
    assert command.startswith("kubectl ")
    done = subprocess.run(["bash", "-c", kubectl + command.removeprefix("kubectl")],
                          env={"KUBECONFIG": str(sb.kubeconfig_path), "PATH": "/usr/bin:/bin",
                               "HOME": str(sb.kubeconfig_path.parent)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{command}: {done.stderr}"


@pytest.mark.kubectl
def test_the_course_as_a_trainee_clicks_it(tmp_path: Path, request: pytest.FixtureRequest,
                                            kubectl: str) -> None:
    from playwright.sync_api import expect

    shots = screenshot_dir(request.node.name)
    with jupyterlab(tmp_path) as lab, \
            Sandbox(scenario="seed-incident", clock="real", pod_start_seconds=0.2) as sb:
        cluster = connect(sb.kubeconfig_path, "sandbox")
        names = [copy_notebook(n, tmp_path, sb.kubeconfig_path) for n in (
            "02-diagnose-pods-not-created.ipynb", "03-fix-webhook-and-recreate.ipynb",
            "05-ingress-latency.ipynb")]
        with chromium_page(shots) as page:
            # notebook 02, Run All: the incident is live, the diagnosis names MR101
            open_notebook(page, lab, names[0])
            run_all(page)
            expect(page.get_by_text("the incident is live in l7-traffic-alpha").first).to_be_visible()
            page.screenshot(path=str(shots / "02-run-all.png"), full_page=True)

            # notebook 03, Run All (apply_fixes = False): nothing changed, the panel is untouched
            before_fix = _replicasets(cluster)
            open_notebook(page, lab, names[1])
            run_all(page)
            assert targets(cluster) == ["istio-system/istiod-1-18-5"] * 2
            panel = page.locator(".widget-vbox", has=page.get_by_role("button", name="Wait for rollout")).last
            panel.scroll_into_view_if_needed()
            finding = panel.locator(".widget-dropdown select").first
            chosen = finding.evaluate("s => s.options[s.selectedIndex].text").replace("\xa0", " ")
            assert chosen.startswith("error MR101 "), chosen  # the error, not the exercise's answer
            confirm = panel.get_by_placeholder("type sandbox")
            apply = panel.get_by_role("button", name="Apply")
            panel.get_by_role("button", name="Preview").click()
            expect(panel.get_by_text("Preview: Retarget").first).to_be_visible(timeout=30_000)
            idle(page)
            expect(confirm).to_have_value("")  # no cell wrote into it
            expect(apply).to_be_disabled()
            expect(panel.get_by_text("type the context name to enable Apply")).to_be_visible()
            page.screenshot(path=str(shots / "03-before-typing.png"))
            panel.get_by_role("button", name="Dry run").click()
            expect(panel.get_by_text("✓ Dry run").first).to_be_visible(timeout=30_000)
            idle(page)
            _type_context_and_apply(page, panel, confirm, apply)
            assert targets(cluster) == ["istio-canary/istiod-1-18-5"] * 2
            expect(confirm).to_have_value("")  # one typed name, one cluster-scoped change

            # Recreate: new ReplicaSets for every Deployment (not the old ones' back-off retry)
            panel.get_by_role("button", name=f"Recreate workloads in {NS}").click()
            expect(panel.get_by_text("✓ Applied: Rollout restart of 6").first).to_be_visible(
                timeout=30_000)
            idle(page)
            panel.get_by_role("button", name="Wait for rollout").click()
            verdict = panel.locator(".mesh-runbook-log .mesh-runbook-record").first
            # the panel waits up to rollout_timeout (120 s) for the Deployments
            expect(verdict).to_contain_text(f"6 deployment(s) in {NS} ready", timeout=180_000)
            expect(verdict).to_contain_text("every pod comes from a ReplicaSet created after the fix")
            expect(verdict).to_contain_text("1-19-3")  # the pods' injecting revision
            page.screenshot(path=str(shots / "03-after-rollout.png"))
            pods = [p for p in cluster.list(k.PODS, NS) if not p["metadata"].get("deletionTimestamp")]
            owners = {ref["uid"] for p in pods for ref in p["metadata"]["ownerReferences"]}
            assert len(pods) == 6 and not owners & set(before_fix), "pods of old ReplicaSets"
            assert {injected_revision(p) for p in pods} == {"1-19-3"}

            # the exercise by hand: the commands the tag plan's preview prints, then a restart
            plan = set_tag_revision(cluster, "prod-canary", "1-18-5")
            for command in [*command_sections(plan, "apply")[-1][1],
                            f"kubectl rollout restart deployment -n {NS}"]:
                _kubectl(kubectl, sb, command)
            assert wait_for_rollout(cluster, NS, timeout=90, progress=False).ok
            check = page.locator(".jp-Notebook .jp-CodeCell").last
            check.locator(".jp-InputArea-editor").click()
            page.keyboard.press("Shift+Enter")
            expect(check.locator(".jp-OutputArea")).to_contain_text("PASSED", timeout=60_000)
            # the panel's static record (for a reopened notebook) is there, hidden while it is live
            static = page.locator(".mesh-runbook-static")
            expect(static).to_have_count(1)
            expect(static).to_be_hidden()
            assert "Finding: error MR101" in (static.text_content() or "")
            page.keyboard.press("Escape")
            page.keyboard.press("Control+s")
            _saved_with(page, tmp_path / names[1], "Fix panel at this point")

            # notebook 05 after the exercise: its first cells say what to do
            open_notebook(page, lab, names[2])
            run_all(page)
            first = page.locator(".jp-Notebook .mesh-runbook-record").first
            expect(first).to_contain_text(
                "istiod 1-19-3 (the gateway of istio-canary) does not watch l7-traffic-alpha")
            expect(first).to_contain_text(re.compile(
                r"set canary_namespace = 'istio-prod', or runbook sandbox reset"))
            first.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "05-after-the-exercise.png"))

            # notebook 03 reopened later, its kernel gone: a static record where the panel was
            _shut_down_kernels(lab)
            open_notebook(page, lab, names[1])
            expect(page.get_by_text("Error displaying widget: model not found")).to_be_visible(
                timeout=30_000)
            static = page.locator(".mesh-runbook-static")
            expect(static).to_be_visible()
            expect(static).to_contain_text("Finding: error MR101")
            static.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "03-reopened.png"))
        cluster.close()
    assert sorted(p.name for p in shots.glob("*.png")) == [
        "02-run-all.png", "03-after-rollout.png", "03-before-typing.png", "03-reopened.png",
        "05-after-the-exercise.png"]


def _saved_with(page: Any, path: Path, text: str, timeout: float = 60.0) -> None:
    """Wait for JupyterLab's save to reach the file, keeping Playwright's event loop running
    (the save's request passes the page's route handler, which runs only meanwhile)."""
    deadline = time.monotonic() + timeout
    while text not in path.read_text():
        assert time.monotonic() < deadline, f"{path.name} was not saved with {text!r}"
        page.wait_for_timeout(200)


def _shut_down_kernels(lab: Lab) -> None:
    """What closing Jupyter does: every kernel gone, and its widget models with it."""
    with urllib.request.urlopen(f"{lab.base}/api/kernels?token={lab.token}", timeout=10) as r:
        kernels = json.load(r)
    for kernel in kernels:
        request = urllib.request.Request(
            f"{lab.base}/api/kernels/{kernel['id']}?token={lab.token}", method="DELETE")
        urllib.request.urlopen(request, timeout=30).close()

