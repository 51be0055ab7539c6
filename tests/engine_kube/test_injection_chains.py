"""The injection failure chains on the real engine, one engine for the module: kube-apiserver
calls the webhooks itself, writes its own error into the ReplicaSet controller's FailedCreate
events (or, under ``failurePolicy: Ignore``, admits the pods unmutated), our diagnosis names the
chain and its way out, and the way out — run as the finding gives it — brings injected pods.

Each test works in a namespace of its own and puts back what it broke, except the last, which
removes a revision for good. Service not found is tests/engine_kube/test_seed_incident.py; a
foreign caBundle, two injectors and a timeout are tests/engine_kube/test_webhook_chains.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runbook import kinds as k
from runbook import wellknown as wk
from runbook.fix import plan_fix
from runbook.fix.actions import set_tag_revision
from runbook.kube import Cluster, connect
from runbook.mesh.findings import Finding
from runbook.mesh.observe import diagnose_cluster
from runbook.sandbox.realkube.engine import KubeEngine
from runbook.sandbox.registry.webhooks import DENY_ANNOTATION
from tests.engine_kube.conftest import wait_for
from tests.sandbox_world.helpers import Kubectl, kubectl_for

PROD = "istio-prod"                  # revision 1-18-5, served by Service istio-prod/istiod
ISTIOD = "istiod-1-18-5"
PROD_INJECTOR = "istio-sidecar-injector-1-18-5-istio-prod"
TAG = "istio-revision-tag-prod-canary"
IMAGE = "docker.io/istio/examples-bookinfo-details-v1:1.18.0"
POLICY_NS, POLICY, POLICY_HOOK = "policy-system", "require-team-label", "team.policy.example.com"
REASON = "pods must carry the label team"


@pytest.fixture
def kc(kubectl: str, healthy_engine: KubeEngine, tmp_path: Path) -> Kubectl:
    return kubectl_for(kubectl, healthy_engine, tmp_path)  # type: ignore[arg-type]


@pytest.fixture
def cluster(healthy_engine: KubeEngine) -> Iterator[Cluster]:
    with connect(healthy_engine.kubeconfig_path, "sandbox") as client:
        yield client


def _json(kc: Kubectl, *args: str) -> Any:
    return json.loads(kc(*args, "-o", "json").stdout)


def _workload(kc: Kubectl, namespace: str, revision: str = "1-18-5", **labels: str) -> None:
    """A namespace bound to ``revision`` (plus ``labels``) running one Deployment ``app``."""
    kc("create", "namespace", namespace)
    kc("label", "namespace", namespace, f"{wk.REV_LABEL}={revision}",
       *(f"{key}={value}" for key, value in labels.items()))
    kc("create", "deployment", "app", f"--image={IMAGE}", "--port=9080", "-n", namespace)


def _failed_create(kc: Kubectl, namespace: str, text: str) -> str:
    """The first FailedCreate event message of the namespace holding ``text`` (waited for)."""
    def found() -> str | None:
        return next((e["message"] for e in _json(kc, "get", "events", "-n", namespace)["items"]
                     if e["reason"] == "FailedCreate" and text in e["message"]), None)
    return str(wait_for(found, timeout=60, what=f"a FailedCreate event with {text!r}"))


def _injected(kc: Kubectl, namespace: str, revision: str = "1-18-5") -> None:
    """Wait until the namespace's pods all run with one sidecar of ``revision``."""
    def done() -> bool:
        pods = _json(kc, "get", "pods", "-n", namespace)["items"]
        return bool(pods) and all(
            p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
            and [c["name"] for c in p["spec"]["containers"]].count("istio-proxy") == 1
            and json.loads(p["metadata"]["annotations"][wk.SIDECAR_STATUS_ANNOTATION])
            ["revision"] == revision for p in pods)
    wait_for(done, timeout=120, what=f"injected pods ({revision}) in {namespace}")


def _chain(cluster: Cluster, namespace: str, code: str = "MR101") -> Finding:
    findings = diagnose_cluster(cluster, namespace=namespace)[1]
    return next(f for f in findings if f.code == code and namespace in f.namespaces)


def _istiod_ready(kc: Kubectl) -> None:
    kc("rollout", "status", "deployment", ISTIOD, "-n", PROD, "--timeout=120s")


def _set_policy(kc: Kubectl, policy: str) -> None:
    hooks = _json(kc, "get", "mutatingwebhookconfiguration", PROD_INJECTOR)["webhooks"]
    kc("patch", "mutatingwebhookconfiguration", PROD_INJECTOR, "--type=json", "-p", json.dumps(
        [{"op": "replace", "path": f"/webhooks/{i}/failurePolicy", "value": policy}
         for i in range(len(hooks))]))


def test_a_denying_policy_webhook_is_named_and_leaving_its_scope_ends_it(
        kc: Kubectl, cluster: Cluster, tmp_path: Path) -> None:
    # a policy engine's pod, made to deny every request by the sandbox knob
    bundle = kc("get", "mutatingwebhookconfiguration", PROD_INJECTOR, "-o",
                "jsonpath={.webhooks[0].clientConfig.caBundle}").stdout
    labels = {"app": "policy"}
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": POLICY_NS}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "policy", "namespace": POLICY_NS},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
             "metadata": {"labels": labels, "annotations": {DENY_ANNOTATION: REASON}},
             "spec": {"containers": [{"name": "policy", "image": "openpolicyagent/gatekeeper:v3",
                                      "ports": [{"containerPort": 8443}]}]}}}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "policy", "namespace": POLICY_NS},
         "spec": {"selector": labels, "ports": [{"name": "https", "port": 443,
                                                 "targetPort": 8443}]}},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
         "metadata": {"name": POLICY},
         "webhooks": [{
             "name": POLICY_HOOK, "admissionReviewVersions": ["v1"], "sideEffects": "None",
             "failurePolicy": "Fail",
             "clientConfig": {"caBundle": bundle, "service": {
                 "name": "policy", "namespace": POLICY_NS, "path": "/validate", "port": 443}},
             "namespaceSelector": {"matchLabels": {"policy": "enforced"}},
             "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                        "resources": ["pods"]}]}]},
    ]
    manifest = tmp_path / "policy.json"
    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    kc("apply", "-f", str(manifest))
    kc("rollout", "status", "deployment", "policy", "-n", POLICY_NS, "--timeout=60s")
    _workload(kc, "chain-denied", policy="enforced")
    event = _failed_create(kc, "chain-denied", "denied the request")
    assert f'admission webhook "{POLICY_HOOK}" denied the request: {REASON}' in event

    chain = _chain(cluster, "chain-denied")
    assert f"webhook {POLICY_HOOK} of {POLICY} denied the pods: {REASON}" in chain.message
    assert f"{POLICY} (a policy webhook, not Istio's injector) rejected the pod" in chain.message
    assert "namespaceSelector policy=enforced" in chain.message

    # the way out the message names: the namespace leaves the policy's selector
    kc("label", "namespace", "chain-denied", "policy-")
    kc("rollout", "restart", "deployment", "app", "-n", "chain-denied")
    _injected(kc, "chain-denied")
    kc("delete", "validatingwebhookconfiguration", POLICY)


def test_connection_refused_names_the_wrong_target_port(kc: Kubectl, cluster: Cluster) -> None:
    ports = _json(kc, "get", "service", "istiod", "-n", PROD)["spec"]["ports"]
    index = next(i for i, p in enumerate(ports) if p["port"] == 443)
    retarget = '[{"op":"replace","path":"/spec/ports/%d/targetPort","value":%d}]'
    kc("patch", "service", "istiod", "-n", PROD, "--type=json", "-p", retarget % (index, 15018))
    _workload(kc, "chain-refused")
    event = _failed_create(kc, "chain-refused", "connection refused")
    assert ':15018, code 503: 503 dial tcp 10.244.' in event, event

    chain = _chain(cluster, "chain-refused")
    assert (f"Service {PROD}/istiod sends port 443 to targetPort 15018, but istiod {ISTIOD} "
            "listens on") in chain.message
    assert "set the Service's targetPort to istiod's webhook port" in chain.message

    kc("patch", "service", "istiod", "-n", PROD, "--type=json", "-p", retarget % (index, 15017))
    kc("rollout", "restart", "deployment", "app", "-n", "chain-refused")
    _injected(kc, "chain-refused")


def test_no_endpoints_names_the_istiod_without_pods(kc: Kubectl, cluster: Cluster) -> None:
    kc("scale", "deployment", ISTIOD, "-n", PROD, "--replicas=0")
    wait_for(lambda: not _json(kc, "get", "pods", "-n", PROD, "-l", "app=istiod")["items"],
             timeout=60, what="istiod's pods gone")
    _workload(kc, "chain-no-endpoints")
    event = _failed_create(kc, "chain-no-endpoints", "no endpoints")
    assert event.endswith('/inject?timeout=10s": no endpoints available for service "istiod"')

    chain = _chain(cluster, "chain-no-endpoints")
    assert f"finds no istiod to answer (no endpoints available for service \"istiod\"); istiod " \
        f"{ISTIOD} (revision 1-18-5) has 0/0 ready pods — bring the istiod pods back" \
        in chain.message

    kc("scale", "deployment", ISTIOD, "-n", PROD, "--replicas=1")
    _istiod_ready(kc)
    kc("rollout", "restart", "deployment", "app", "-n", "chain-no-endpoints")
    _injected(kc, "chain-no-endpoints")


def test_failure_policy_ignore_starts_pods_without_sidecars_and_is_found_from_the_pods(
        kc: Kubectl, cluster: Cluster) -> None:
    _set_policy(kc, "Ignore")
    kc("scale", "deployment", ISTIOD, "-n", PROD, "--replicas=0")
    wait_for(lambda: not _json(kc, "get", "pods", "-n", PROD, "-l", "app=istiod")["items"],
             timeout=60, what="istiod's pods gone")
    _workload(kc, "chain-ignore")
    pods = wait_for(lambda: [p for p in _json(kc, "get", "pods", "-n", "chain-ignore")["items"]
                             if p["status"].get("phase") == "Running"],
                    timeout=60, what="the pod admitted without its webhook")
    assert [c["name"] for c in pods[0]["spec"]["containers"]] == ["examples-bookinfo-details-v1"]
    # the apiserver says nothing: no event tells, only the pods and the webhook do
    assert not [e for e in _json(kc, "get", "events", "-n", "chain-ignore")["items"]
                if e["reason"] == "FailedCreate"]

    finding = _chain(cluster, "chain-ignore", "MR112")
    assert "its failurePolicy is Ignore" in finding.message
    assert "repair the target first (see MR103)" in finding.message
    assert finding.fix is not None and finding.fix.params["deployments"] == ["app"]

    kc("scale", "deployment", ISTIOD, "-n", PROD, "--replicas=1")
    _istiod_ready(kc)
    plan_fix(cluster, finding.fix).apply(cluster, confirm="sandbox")   # rollout restart
    _injected(kc, "chain-ignore")
    _set_policy(kc, "Fail")
    assert not [f for f in diagnose_cluster(cluster, namespace="chain-ignore")[1]
                if f.code == "MR112"]


def test_the_injector_deadlock_and_its_way_out(kc: Kubectl, cluster: Cluster) -> None:
    # istio-prod bound to its own revision, and istiod's template without its opt-out label
    kc("scale", "deployment", ISTIOD, "-n", PROD, "--replicas=0")
    wait_for(lambda: not _json(kc, "get", "pods", "-n", PROD, "-l", "app=istiod")["items"],
             timeout=60, what="istiod's pods gone")
    kc("label", "namespace", PROD, f"{wk.REV_LABEL}=1-18-5")
    kc("patch", "deployment", ISTIOD, "-n", PROD, "--type=json", "-p",
       '[{"op":"remove","path":"/spec/template/metadata/labels/sidecar.istio.io~1inject"}]')
    kc("scale", "deployment", ISTIOD, "-n", PROD, "--replicas=1")
    _failed_create(kc, PROD, 'no endpoints available for service "istiod"')

    findings = diagnose_cluster(cluster)[1]
    lock = next(f for f in findings if f.code == "MR111")
    assert lock.subject.name == PROD_INJECTOR
    assert "no istiod pod can ever start and restarting istiod cannot help" in lock.message
    assert "see MR111" in next(f for f in findings
                               if f.code == "MR101" and f.subject.name == PROD).message
    command = f"kubectl label namespace {PROD} {wk.INJECTION_LABEL}=disabled --overwrite; " \
        f"kubectl label namespace {PROD} {wk.REV_LABEL}-"
    assert command in lock.message

    kc(shell=command)
    # the ReplicaSet controller retries with back-off: the next try passes admission
    _istiod_ready(kc)
    assert "MR111" not in [f.code for f in diagnose_cluster(cluster)[1]]
    kc("label", "namespace", PROD, f"{wk.INJECTION_LABEL}-")


def test_a_revision_removed_while_its_tag_still_names_it(kc: Kubectl, cluster: Cluster) -> None:
    # the tag serves 1-18-5 the good way, then revision 1-18-5 is uninstalled under it
    set_tag_revision(cluster, "prod-canary", "1-18-5").apply(cluster, confirm="sandbox")
    kc("delete", "deployment", ISTIOD, "-n", PROD)
    kc("delete", "service", "istiod", "-n", PROD)
    kc("delete", "mutatingwebhookconfiguration", PROD_INJECTOR)
    _workload(kc, "chain-removed", revision="prod-canary")
    _failed_create(kc, "chain-removed", 'service "istiod" not found')

    findings = diagnose_cluster(cluster)[1]
    chain = next(f for f in findings if f.code == "MR101" and f.subject.name == "chain-removed")
    assert f"webhook rev.namespace.sidecar-injector.istio.io of {TAG} calls Service " \
        f"{PROD}/istiod, which does not exist" in chain.message
    assert any("tag prod-canary claims revision 1-18-5, which no istiod runs any more" in e
               for e in chain.evidence)
    assert chain.fix is not None and chain.fix.command == \
        "istioctl tag set prod-canary --revision 1-19-3 -i istio-canary --overwrite"
    # a namespace labelled with the removed revision itself: no injector serves it any more
    assert any(f.code == "MR104" and f.subject.name == "l7-traffic-beta" for f in findings)

    plan_fix(cluster, chain.fix).apply(cluster, confirm="sandbox")
    assert cluster.get(k.MUTATING_WEBHOOKS, TAG)["metadata"]["labels"][wk.REV_LABEL] == "1-19-3"
    kc("rollout", "restart", "deployment", "app", "-n", "chain-removed")
    _injected(kc, "chain-removed", revision="1-19-3")
