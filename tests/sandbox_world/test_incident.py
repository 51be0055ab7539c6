"""The field report, replayed with the real kubectl against the living seed-incident world.

Every step the report takes — apply bookinfo, see 0/1 Deployments and FailedCreate ReplicaSets,
``describe rs``, patch the tag's webhook, delete the ReplicaSets (or ``rollout restart``), grep the
istiods' logs for the push lines — is done as the report does it, and the results are read back
the way a person would read them. Nothing is faked: the errors, injections and log lines emerge
from the emulated apiserver, controllers and istiods.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kubernetes import client

from runbook.formats.istiod_log import parse_push_line
from runbook.sandbox import Sandbox
from tests.conftest import advance_world
from tests.sandbox_world.helpers import (
    BOOKINFO,
    BOOKINFO_DEPLOYMENTS,
    BOOKINFO_GATEWAY,
    REPORT_ERROR,
    Kubectl,
    api_for,
    injected_revision,
    kubectl_for,
    pods,
    proxy_image,
    retarget_tag_patch,
)

pytestmark = pytest.mark.kubectl
ALPHA, BETA = "l7-traffic-alpha", "l7-traffic-beta"


@pytest.fixture
def kc(kubectl: str, seed_sandbox: Sandbox, tmp_path: Path) -> Kubectl:
    return kubectl_for(kubectl, seed_sandbox, tmp_path)


def _table(text: str) -> dict[str, list[str]]:
    """kubectl's table output as name → remaining columns."""
    return {line.split()[0]: line.split()[1:] for line in text.strip().splitlines()[1:]}


def _istiod_pod(kc: Kubectl, namespace: str) -> str:
    names = kc("get", "pods", "-n", namespace, "-l", "app=istiod", "-o", "name").stdout.split()
    assert len(names) == 1, names
    return names[0].removeprefix("pod/")


@pytest.mark.parametrize("source", ["project", "upstream"])
def test_bookinfo_in_the_tagged_namespace_never_gets_pods(source: str, seed_sandbox: Sandbox,
                                                          kc: Kubectl, upstream: Path) -> None:
    manifest = BOOKINFO if source == "project" else upstream / "bookinfo.yaml"
    applied = kc("apply", "-f", str(manifest), "-n", ALPHA).stdout
    assert "deployment.apps/details-v1 created" in applied
    advance_world(seed_sandbox, 60)

    deploys = _table(kc("get", "deploy", "-n", ALPHA).stdout)
    assert {name: cols[:3] for name, cols in deploys.items()} == {
        d: ["0/1", "0", "0"] for d in BOOKINFO_DEPLOYMENTS}
    replicasets = _table(kc("get", "rs", "-n", ALPHA).stdout)
    assert len(replicasets) == 6
    for name, cols in replicasets.items():
        assert re.fullmatch(r"[a-z0-9-]+-[bcdf4-9]{8,10}", name), name  # pod-template-hash shape
        assert cols[:3] == ["1", "0", "0"]  # DESIRED CURRENT READY
    assert kc("get", "pods", "-n", ALPHA).stderr.strip() == f"No resources found in {ALPHA} namespace."

    with api_for(seed_sandbox) as api:
        events = client.CoreV1Api(api).list_namespaced_event(
            ALPHA, field_selector="reason=FailedCreate").items
    assert sorted(e.involved_object.name for e in events) == sorted(replicasets)
    for event in events:
        assert event.message == f"Error creating: {REPORT_ERROR}"
        assert event.type == "Warning" and event.source.component == "replicaset-controller"
        assert event.count > 1  # retried with backoff, aggregated into one event
    rs = seed_sandbox.store.objects("replicasets.apps", ALPHA)[0]
    failure = next(c for c in rs["status"]["conditions"] if c["type"] == "ReplicaFailure")
    assert (failure["status"], failure["reason"], failure["message"]) == (
        "True", "FailedCreate", REPORT_ERROR)
    dep = seed_sandbox.store.get("deployments.apps", ALPHA, "details-v1")
    conditions = {c["type"]: (c["status"], c["reason"]) for c in dep["status"]["conditions"]}
    assert conditions == {"Progressing": ("True", "NewReplicaSetCreated"),
                          "Available": ("False", "MinimumReplicasUnavailable"),
                          "ReplicaFailure": ("True", "FailedCreate")}


def test_describe_rs_shows_the_backoff_aggregated_like_the_report(kubectl: str,
                                                                  tmp_path: Path) -> None:
    # kubectl describe computes ages from its own clock: the sandbox clock starts 4m37s ago
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=277)
    with Sandbox(scenario="seed-incident", clock="manual", clock_start=start) as sb:
        kc = kubectl_for(kubectl, sb, tmp_path)
        kc("apply", "-f", str(BOOKINFO), "-n", ALPHA)
        advance_world(sb, 200)  # 16 failures need 5 ms · (2^15 − 1) ≈ 163.8 s
        rs = next(r["metadata"]["name"] for r in sb.store.objects("replicasets.apps", ALPHA)
                  if r["metadata"]["name"].startswith("details-v1-"))
        described = kc("describe", "rs", rs, "-n", ALPHA).stdout
    assert "Controlled By:  Deployment/details-v1" in described
    assert "deployment.kubernetes.io/desired-replicas: 1" in described
    assert "deployment.kubernetes.io/max-replicas: 2" in described
    assert "deployment.kubernetes.io/revision: 1" in described
    assert "Replicas:       0 current / 1 desired" in described
    assert re.search(r"ReplicaFailure\s+True\s+FailedCreate", described)
    line = next(ln for ln in described.splitlines() if "FailedCreate  " in ln and "Warning" in ln)
    assert re.search(r"Warning\s+FailedCreate\s+1[01]\ds \(x16 over 4m[34]\ds\)\s+"
                     r"replicaset-controller\s+Error creating: ", line), line
    assert line.rstrip().endswith(REPORT_ERROR)


def test_report_fix_patch_webhook_then_delete_replicasets(seed_sandbox: Sandbox,
                                                          kc: Kubectl) -> None:
    kc("apply", "-f", str(BOOKINFO), "-n", ALPHA)
    advance_world(seed_sandbox, 120)
    grep = kc(shell="kubectl get MutatingWebhookConfiguration istio-revision-tag-prod-canary "
                    "-o yaml | grep 'namespace: istio-system' -C 2").stdout
    assert grep.count("name: istiod-1-18-5") == 2
    kc("patch", "mutatingwebhookconfiguration", "istio-revision-tag-prod-canary", "--type=json",
       "-p", retarget_tag_patch("istio-canary"))
    deleted = kc("delete", "rs", "-n", ALPHA, "--all").stdout.splitlines()
    assert len(deleted) == 6 and all(re.fullmatch(r'replicaset.apps "[a-z0-9-]+" deleted', ln)
                                     for ln in deleted)
    advance_world(seed_sandbox, 1)

    listed = _table(kc("get", "pod", "-n", ALPHA).stdout)
    assert len(listed) == 6
    assert all(cols[:3] == ["2/2", "Running", "0"] for cols in listed.values()), listed
    for pod in pods(seed_sandbox, ALPHA):
        # the Service named istiod-1-18-5 in istio-canary selects the 1-19-3 pods (README)
        assert injected_revision(pod) == "1-19-3"
        assert proxy_image(pod) == "docker.io/istio/proxyv2:1.19.3"
        assert pod["spec"]["initContainers"][0]["image"] == "docker.io/istio/proxyv2:1.19.3"
    deploys = _table(kc("get", "deploy", "-n", ALPHA).stdout)
    assert all(cols[:3] == ["1/1", "1", "1"] for cols in deploys.values())


def test_fix_then_rollout_restart(seed_sandbox: Sandbox, kc: Kubectl) -> None:
    kc("apply", "-f", str(BOOKINFO), "-n", ALPHA)
    advance_world(seed_sandbox, 30)
    kc("patch", "mutatingwebhookconfiguration", "istio-revision-tag-prod-canary", "--type=json",
       "-p", retarget_tag_patch("istio-canary"))
    restarted = kc("rollout", "restart", "deployment", "-n", ALPHA).stdout
    assert restarted.count("restarted") == 6
    advance_world(seed_sandbox, 1)
    advance_world(seed_sandbox, 1)

    for name in BOOKINFO_DEPLOYMENTS:
        status = kc("rollout", "status", f"deployment/{name}", "-n", ALPHA, "--watch=false").stdout
        assert status.strip() == f'deployment "{name}" successfully rolled out'
    listed = _table(kc("get", "pod", "-n", ALPHA).stdout)
    assert len(listed) == 6 and all(cols[:2] == ["2/2", "Running"] for cols in listed.values())
    assert {injected_revision(p) for p in pods(seed_sandbox, ALPHA)} == {"1-19-3"}
    replicasets = _table(kc("get", "rs", "-n", ALPHA).stdout)
    assert len(replicasets) == 12  # the failed revision-1 sets stay, scaled to 0
    assert sorted(cols[0] for cols in replicasets.values()) == ["0"] * 6 + ["1"] * 6
    events = kc("get", "events", "-n", ALPHA, "--field-selector", "reason=ScalingReplicaSet").stdout
    assert re.search(r"Scaled down replica set details-v1-[bcdf4-9]+ from 1 to 0", events)


def test_healthy_world_injects_the_1_18_5_sidecar(kubectl: str, tmp_path: Path) -> None:
    with Sandbox(scenario="healthy", clock="manual") as sb:
        kc = kubectl_for(kubectl, sb, tmp_path)
        hook = kc("get", "mutatingwebhookconfiguration", "istio-revision-tag-prod-canary", "-o",
                  "jsonpath={.webhooks[*].clientConfig.service.namespace}/"
                  "{.webhooks[0].clientConfig.service.name}").stdout
        assert hook == "istio-prod istio-prod/istiod"
        kc("apply", "-f", str(BOOKINFO), "-n", ALPHA)
        advance_world(sb, 1)
        listed = _table(kc("get", "pod", "-n", ALPHA).stdout)
        assert len(listed) == 6 and all(c[:2] == ["2/2", "Running"] for c in listed.values())
        for pod in pods(sb, ALPHA):
            assert injected_revision(pod) == "1-18-5"
            assert proxy_image(pod) == "docker.io/istio/proxyv2:1.18.5"
            assert pod["metadata"]["annotations"]["istio.io/rev"] == "1-18-5"


def test_gateway_pushes_are_logged_by_the_watching_istiod_only(seed_sandbox: Sandbox,
                                                               kc: Kubectl) -> None:
    advance_world(seed_sandbox, 5)
    canary, prod = _istiod_pod(kc, "istio-canary"), _istiod_pod(kc, "istio-prod")
    gateway, virtual_service = BOOKINFO_GATEWAY.read_text().split("\n---\n")
    # the report applies the file once; its two objects reached istiod 0.8 s apart
    kc(shell=f"kubectl apply -n {ALPHA} -f - <<'EOF'\n{gateway}\nEOF")
    advance_world(seed_sandbox, 0.783)
    kc(shell=f"kubectl apply -n {ALPHA} -f - <<'EOF'\n{virtual_service}\nEOF")
    advance_world(seed_sandbox, 1)

    out = kc(shell=f'kubectl logs {canary} -n istio-canary | grep "bookinfo"').stdout
    lines = [parse_push_line(ln) for ln in out.splitlines()]
    assert [(p.configs, p.events, p.full, p.quiet_ms, p.scope) for p in lines if p] == [
        (["Gateway/l7-traffic-alpha/bookinfo-gateway"], 1, True, 100.0, "ads"),
        (["VirtualService/l7-traffic-alpha/bookinfo"], 1, True, 100.0, "ads")]
    first, second = (p for p in lines if p)
    assert second.push_id == first.push_id + 1
    assert re.match(r"^2023-10-27T06:00:05\.100000Z\tinfo\tads\tPush debounce stable\[\d+\] 1 "
                    r"for config Gateway/l7-traffic-alpha/bookinfo-gateway: 100ms since last "
                    r"change, 100ms since last push, full=true$", out.splitlines()[0])
    unwatched = kc(shell=f'kubectl logs {prod} -n istio-prod | grep "bookinfo"', check=False)
    assert unwatched.returncode == 1 and unwatched.stdout == ""

    sample = (Path(BOOKINFO).parent / "sample-gateway.yml").read_text()
    kc(shell=f"kubectl apply -n {BETA} -f - <<'EOF'\n{sample}\nEOF")
    advance_world(seed_sandbox, 1)
    beta_prod = kc(shell=f'kubectl logs {prod} -n istio-prod | grep "nginx-sample"').stdout
    parsed = [parse_push_line(ln) for ln in beta_prod.splitlines()]
    assert parsed and all(p is not None and p.full for p in parsed)
    assert parsed[0] is not None and parsed[0].configs == [
        "Gateway/l7-traffic-beta/nginx-sample-gateway"]
    beta_canary = kc(shell=f'kubectl logs {canary} -n istio-canary | grep "nginx-sample"',
                     check=False)
    assert beta_canary.returncode == 1


def test_pod_log_options_reach_the_istiod_log(seed_sandbox: Sandbox, kc: Kubectl) -> None:
    advance_world(seed_sandbox, 5)
    kc("apply", "-f", str(BOOKINFO_GATEWAY), "-n", ALPHA)
    advance_world(seed_sandbox, 1)
    canary = _istiod_pod(kc, "istio-canary")
    tail = kc("logs", canary, "-n", "istio-canary", "--tail=2").stdout.splitlines()
    assert len(tail) == 2 and "Push debounce stable" in tail[0] and "XDS: Pushing:" in tail[1]
    stamped = kc("logs", canary, "-n", "istio-canary", "--timestamps", "--tail=1").stdout
    assert re.match(r"^2023-10-27T06:00:05\.100000000Z 2023-10-27T06:00:05\.100000Z\tinfo\tads\t",
                    stamped)
    # sinceTime has whole seconds on the wire: the start-up lines at 06:00:00 are left out
    since = kc("logs", canary, "-n", "istio-canary", "--since-time=2023-10-27T06:00:03Z").stdout
    assert len(since.splitlines()) == 2 and all("06:00:05.1" in ln for ln in since.splitlines())
    everything = kc("logs", canary, "-n", "istio-canary").stdout.splitlines()
    assert everything[0].startswith("2023-10-27T06:00:00.000000Z\tinfo\tFLAG: ")
