"""The course's preconditions on the seed-incident sandbox: fresh, with bookinfo running, and after
notebook 03's exercise (istiod 1-19-3 no longer watches l7-traffic-alpha)."""

from __future__ import annotations

import pytest

from runbook import kinds as k
from runbook.apps import app_path
from runbook.fix import run_fix
from runbook.fix.actions import set_tag_revision
from runbook.fix.flow import proposed_fix, recreate_suggestion
from runbook.kube import Cluster
from runbook.kube.apply import apply_manifests
from runbook.mesh.course import RESET, check_preconditions
from runbook.mesh.observe import diagnose_cluster, read_mesh
from runbook.ui.render import render_preconditions
from tests.waiting import wait_until

ALPHA = "l7-traffic-alpha"


@pytest.fixture
def live(seed_cluster: Cluster) -> Cluster:
    return seed_cluster


def _ready(cluster: Cluster, namespace: str, timeout: float = 30.0) -> None:
    def ready() -> bool:
        deps = cluster.list(k.DEPLOYMENTS, namespace)
        return bool(deps) and all((d.get("status") or {}).get("readyReplicas") for d in deps)

    wait_until(ready, f"every Deployment of {namespace} ready", timeout, interval=0.1)


def test_fresh_sandbox_says_what_notebook_05_lacks(live: Cluster) -> None:
    snap = read_mesh(live)
    pre = check_preconditions(snap, "05", revisions=["1-18-5", "1-19-3"], incident_in=ALPHA,
                              running_in=ALPHA, gateway_for=("istio-canary", ALPHA),
                              gateway_parameter="canary_namespace")
    assert not pre.met
    assert pre.still_wrong == [f"bookinfo is not deployed in {ALPHA} — run notebooks 01 and 03 "
                               "first, or this notebook with apply_fixes = True"]
    assert pre.todo().startswith("Before notebook 05: bookinfo is not deployed")
    assert "the incident is live in l7-traffic-alpha" in pre.summary()
    record = render_preconditions(pre)
    assert record.ok is False and record.title == pre.todo()
    # the other revision's gateway has no route for the app: the one that does is named
    other = check_preconditions(snap, "05", gateway_for=("istio-prod", ALPHA),
                                gateway_parameter="canary_namespace")
    (line,) = other.still_wrong
    assert "istiod 1-18-5 (the gateway of istio-prod) does not watch l7-traffic-alpha" in line
    assert "set canary_namespace = 'istio-canary'" in line


def test_after_the_fix_and_after_the_exercise(live: Cluster) -> None:
    apply_manifests(live, app_path("bookinfo"), namespace=ALPHA)
    _inv, findings = diagnose_cluster(live, namespace=ALPHA)
    assert run_fix(live, proposed_fix(findings, ALPHA), apply=True, confirm="sandbox").ok
    assert run_fix(live, recreate_suggestion(ALPHA), apply=True).ok
    _ready(live, ALPHA)
    fixed = check_preconditions(read_mesh(live), "05", running_in=ALPHA, incident_in=ALPHA,
                                gateway_for=("istio-canary", ALPHA))
    assert [line.ok for line in fixed.lines] == [False, True, True]
    assert fixed.still_wrong[0].startswith(f"the incident is no longer live in {ALPHA}")
    assert fixed.still_wrong[0].endswith(f"{RESET} brings it back")
    # notebook 03's exercise: the tag's namespaces move to 1-18-5, whose istiod watches them now
    set_tag_revision(live, "prod-canary", "1-18-5").apply(live, confirm="sandbox")
    after = check_preconditions(read_mesh(live), "05", gateway_for=("istio-canary", ALPHA),
                                gateway_parameter="canary_namespace")
    (line,) = after.still_wrong
    assert "istiod 1-19-3 (the gateway of istio-canary) does not watch l7-traffic-alpha" in line
    assert f"set canary_namespace = 'istio-prod', or {RESET}" in line
