"""The commands the records print are the real thing: run by the real kubectl against the sandbox,
they change exactly what the plan changes (and their dry run changes nothing)."""

from __future__ import annotations

import os
import subprocess

import pytest

from runbook import kinds as k
from runbook.fix import FixPlan
from runbook.fix.actions import recreate_workloads, retarget_webhook, set_tag_revision
from runbook.kube import Cluster
from runbook.kube.objects import comparable
from runbook.sandbox import Sandbox
from runbook.ui.render import command_sections

from .conftest import NS, TAG

pytestmark = pytest.mark.kubectl

RESTARTED = "kubectl.kubernetes.io/restartedAt"


def _run(command: str, kubectl: str, sb: Sandbox) -> str:
    assert command.startswith("kubectl ")
    env = {**os.environ, "KUBECONFIG": str(sb.kubeconfig_path)}
    done = subprocess.run(["bash", "-c", kubectl + command.removeprefix("kubectl")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _commands(plan: FixPlan, action: str) -> list[str]:
    return command_sections(plan, action)[-1][1]  # the object-by-object kubectl commands


@pytest.mark.parametrize("make", [
    lambda c: retarget_webhook(c, TAG, "istio-canary"),
    lambda c: set_tag_revision(c, "prod-canary", "1-19-3"),
], ids=["retarget-webhook", "set-tag-revision"])
def test_printed_kubectl_does_what_the_plan_does(make, cluster: Cluster, bare_sandbox: Sandbox,  # type: ignore[no-untyped-def]
                                                 kubectl: str) -> None:
    plan: FixPlan = make(cluster)
    before = cluster.get(k.MUTATING_WEBHOOKS, TAG)
    for command in _commands(plan, "dry-run"):
        assert "--dry-run=server" in command
        _run(command, kubectl, bare_sandbox)
    assert cluster.get(k.MUTATING_WEBHOOKS, TAG)["metadata"]["resourceVersion"] == \
        before["metadata"]["resourceVersion"]
    for command in _commands(plan, "apply"):
        _run(command, kubectl, bare_sandbox)
    assert comparable(cluster.get(k.MUTATING_WEBHOOKS, TAG)) == comparable(plan.steps[0].after)
    for command in _commands(plan, "undo"):
        _run(command, kubectl, bare_sandbox)
    assert comparable(cluster.get(k.MUTATING_WEBHOOKS, TAG)) == comparable(before)


def test_rollout_restart_command_restarts_what_the_plan_restarts(
        cluster: Cluster, bare_sandbox: Sandbox, kubectl: str) -> None:
    plan = recreate_workloads(cluster, NS)
    (usual,) = command_sections(plan, "apply")[0][1]
    assert usual.startswith(f"kubectl rollout restart deployment -n {NS} ")
    _run(usual, kubectl, bare_sandbox)
    deps = cluster.list(k.DEPLOYMENTS, NS)
    assert {d["metadata"]["name"] for d in deps} == {s.name for s in plan.steps}
    assert all(RESTARTED in d["spec"]["template"]["metadata"]["annotations"] for d in deps)
