"""Injection failure chains on the real engine, where kube-apiserver calls the webhooks itself
over HTTPS: a tag whose caBundle did not sign istiod's certificate (x509) and two injectors for the
same pods, and a webhook that answers too late — diagnosed from the real events, the way out run
with kubectl as the message gives it. One engine for the module: each test puts back what it
broke or works in a namespace of its own."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from runbook.kube import connect
from runbook.mesh.observe import diagnose_cluster
from runbook.sandbox.apiserver.tls import new_authority
from runbook.sandbox.realkube.engine import KubeEngine
from runbook.sandbox.registry.webhooks import ANSWER_SECONDS_ANNOTATION
from tests.engine_kube.conftest import wait_for
from tests.sandbox_world.helpers import BOOKINFO, Kubectl, kubectl_for

ALPHA = "l7-traffic-alpha"   # bound to tag prod-canary, which calls istio-prod/istiod (healthy)
TAG = "istio-revision-tag-prod-canary"
PROD_INJECTOR = "istio-sidecar-injector-1-18-5-istio-prod"
BETA = "l7-traffic-beta"     # bound to revision 1-18-5: PROD_INJECTOR's namespaces
SLOW = "chain-timeout"       # bound to revision 1-18-5 too, for the timeout alone


@pytest.fixture
def kc(kubectl: str, healthy_engine: KubeEngine, tmp_path: Path) -> Kubectl:
    return kubectl_for(kubectl, healthy_engine, tmp_path)  # type: ignore[arg-type]


def _json(kc: Kubectl, *args: str) -> dict[str, Any]:
    return dict(json.loads(kc(*args, "-o", "json").stdout))


def _injected_running(kc: Kubectl, namespace: str = ALPHA) -> list[dict[str, Any]] | None:
    pods = _json(kc, "get", "pods", "-n", namespace)["items"]
    running = [p for p in pods if p["status"].get("phase") == "Running"
               and any(c["name"] == "istio-proxy" for c in p["spec"]["containers"])]
    return running if len(running) == 6 else None


def test_a_tag_with_a_foreign_caBundle_fails_x509_and_the_copy_command_repairs_it(
        healthy_engine: KubeEngine, kc: Kubectl) -> None:
    foreign = base64.b64encode(new_authority("istiod-ca-elsewhere").cert_pem).decode()
    patch = json.dumps([{"op": "replace", "path": f"/webhooks/{i}/clientConfig/caBundle",
                         "value": foreign} for i in (0, 1)])
    kc("patch", "mutatingwebhookconfiguration", TAG, "--type=json", "-p", patch)
    kc("apply", "-f", str(BOOKINFO), "-n", ALPHA)
    events = wait_for(lambda: [e for e in _json(kc, "get", "events", "-n", ALPHA)["items"]
                               if e["reason"] == "FailedCreate" and "x509" in e["message"]],
                      timeout=60, what="FailedCreate events with the x509 error")
    assert "certificate signed by unknown authority" in events[0]["message"]

    with connect(healthy_engine.kubeconfig_path, "sandbox") as cluster:
        findings = diagnose_cluster(cluster, namespace=ALPHA)[1]
    chain = next(f for f in findings if f.code == "MR101" and f.subject.name == ALPHA)
    assert f"{TAG} trusts CN=istiod-ca-elsewhere (expires " in chain.message
    assert f"but {PROD_INJECTOR} trusts CN=" in chain.message
    command = chain.message.split("copy the trusted caBundle: ", 1)[1]
    assert command.startswith(f"kubectl patch mutatingwebhookconfiguration {TAG} --type=json")

    # the way out as the message gives it (both webhooks of the tag), then recreate
    kc(shell=command)
    bundles = {h["clientConfig"]["caBundle"] for name in (TAG, PROD_INJECTOR)
               for h in _json(kc, "get", "mutatingwebhookconfiguration", name)["webhooks"]}
    assert len(bundles) == 1 and foreign not in bundles
    kc("rollout", "restart", "deployment", "-n", ALPHA)
    wait_for(lambda: _injected_running(kc), timeout=120,
             what="six injected bookinfo pods after the caBundle copy")


def test_two_injectors_for_the_same_pods_inject_once_and_are_named(
        healthy_engine: KubeEngine, kc: Kubectl, tmp_path: Path) -> None:
    copy_of = _json(kc, "get", "mutatingwebhookconfiguration", PROD_INJECTOR)
    copy_of["metadata"] = {"name": f"{PROD_INJECTOR}-copy",
                           "labels": copy_of["metadata"].get("labels") or {}}
    manifest = tmp_path / "copy.json"
    manifest.write_text(json.dumps(copy_of))
    kc("create", "-f", str(manifest))
    kc("apply", "-f", str(BOOKINFO), "-n", BETA)
    pods = wait_for(lambda: _injected_running(kc, BETA), timeout=120,
                    what="six injected bookinfo pods")
    # the real apiserver calls both webhooks; the second sees an injected pod and leaves it
    assert all(sum(c["name"] == "istio-proxy" for c in p["spec"]["containers"]) == 1
               for p in pods)

    with connect(healthy_engine.kubeconfig_path, "sandbox") as cluster:
        overlaps = [f for f in diagnose_cluster(cluster)[1] if f.code == "IST0139"
                    and f.message.startswith("Webhook overlaps with others")]
        assert {f.subject.name for f in overlaps} == {PROD_INJECTOR, f"{PROD_INJECTOR}-copy"}
        assert all(BETA in f.namespaces for f in overlaps)
        kc("delete", "mutatingwebhookconfiguration", f"{PROD_INJECTOR}-copy")
        assert not [f for f in diagnose_cluster(cluster)[1] if f.code == "IST0139"
                    and f.message.startswith("Webhook overlaps with others")]


def test_a_webhook_that_answers_too_late_times_out_on_the_real_apiserver(
        healthy_engine: KubeEngine, kc: Kubectl) -> None:
    # the sandbox knob: istiod's webhook server answers after 12 s (timeoutSeconds is 10)
    def answer_after(seconds: str | None) -> None:
        slow = json.dumps({"spec": {"template": {"metadata": {"annotations": {
            ANSWER_SECONDS_ANNOTATION: seconds}}}}})
        kc("patch", "deployment", "istiod-1-18-5", "-n", "istio-prod", "-p", slow)
        kc("rollout", "status", "deployment", "istiod-1-18-5", "-n", "istio-prod",
           "--timeout=90s")

    answer_after("12")
    kc("create", "namespace", SLOW)
    kc("label", "namespace", SLOW, "istio.io/rev=1-18-5")
    kc("apply", "-f", str(BOOKINFO), "-n", SLOW)
    events = wait_for(lambda: [e for e in _json(kc, "get", "events", "-n", SLOW)["items"]
                               if e["reason"] == "FailedCreate"], timeout=90,
                      what="FailedCreate events of the timed-out calls")
    assert "?timeout=10s\": context deadline exceeded" in events[0]["message"], events[0]["message"]

    with connect(healthy_engine.kubeconfig_path, "sandbox") as cluster:
        findings = diagnose_cluster(cluster, namespace=SLOW)[1]
    chain = next(f for f in findings if f.code == "MR101" and f.subject.name == SLOW)
    assert "did not answer within its timeoutSeconds (10s)" in chain.message
    assert "istiod istiod-1-18-5 (revision 1-18-5) has 1/1 ready pods" in chain.message
    answer_after(None)   # the knob removed: istiod answers at once again
