"""Injection failure chains reproduced on the emulated cluster (over HTTP, official client): a
policy webhook that denies the pods in front of the injector, two injectors for the same pods, a
tag whose caBundle did not sign the servers' certificate, and a webhook server that answers after
timeoutSeconds — each diagnosed, its way out applied, and the pods created and injected once."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

from runbook import kinds as k
from runbook.apps import app_path
from runbook.fix import plan_fix
from runbook.fix.actions import set_tag_revision
from runbook.kube import Cluster
from runbook.kube.apply import apply_manifests
from runbook.mesh.observe import diagnose_cluster
from runbook.sandbox.apiserver.tls import new_authority
from runbook.sandbox.registry.webhooks import ANSWER_SECONDS_ANNOTATION, DENY_ANNOTATION
from tests.mesh_live.helpers import failing_bookinfo_chain
from tests.sandbox_world.helpers import kubectl_for

PROD = "istio-prod"
BETA = "l7-traffic-beta"     # bound to 1-18-5, injected by PROD_INJECTOR
PROD_INJECTOR = "istio-sidecar-injector-1-18-5-istio-prod"
POLICY_NS, POLICY, POLICY_HOOK = "policy-system", "require-team-label", "team.policy.example.com"
REASON = "pods must carry the label team"



def _proxies(cluster: Cluster, namespace: str) -> list[int]:
    """istio-proxy containers per pod of the namespace."""
    return [sum(c["name"] == "istio-proxy" for c in p["spec"]["containers"])
            for p in cluster.list(k.PODS, namespace)]


def _policy_objects() -> list[tuple[k.ResourceKind, dict[str, Any]]]:
    labels = {"app": "policy"}
    return [
        (k.NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": POLICY_NS}}),
        (k.DEPLOYMENTS, {"apiVersion": "apps/v1", "kind": "Deployment",
                         "metadata": {"name": "policy", "namespace": POLICY_NS},
                         "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                                  "template": {"metadata": {
                                      "labels": labels,
                                      # the sandbox knob: this pod's server denies every request
                                      "annotations": {DENY_ANNOTATION: REASON}}, "spec": {
                                      "containers": [{"name": "policy", "image": "policy:1",
                                                      "ports": [{"containerPort": 8443}]}]}}}}),
        (k.SERVICES, {"apiVersion": "v1", "kind": "Service",
                      "metadata": {"name": "policy", "namespace": POLICY_NS},
                      "spec": {"selector": labels, "ports": [
                          {"name": "https", "port": 443, "targetPort": 8443}]}}),
        (k.VALIDATING_WEBHOOKS, {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration", "metadata": {"name": POLICY},
            "webhooks": [{
                "name": POLICY_HOOK, "admissionReviewVersions": ["v1"], "sideEffects": "None",
                "failurePolicy": "Fail",
                "clientConfig": {"service": {"name": "policy", "namespace": POLICY_NS,
                                             "path": "/validate", "port": 443}},
                "namespaceSelector": {"matchLabels": {"policy": "enforced"}},
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                           "resources": ["pods"]}]}]}),
    ]


def test_a_denying_policy_webhook_and_its_way_out(seed_sandbox, world_settle,  # type: ignore[no-untyped-def]
                                                  cluster: Cluster) -> None:
    # the policy engine's pods answer on 8443 and deny every pod (the sandbox's knob)
    for kind, obj in _policy_objects():
        cluster.create(kind, obj)
    world_settle(seed_sandbox, 2.0)
    cluster.patch(k.NAMESPACES, BETA, {"metadata": {"labels": {"policy": "enforced"}}})
    apply_manifests(cluster, app_path("bookinfo"), namespace=BETA)
    world_settle(seed_sandbox, 5.0)
    assert cluster.list(k.PODS, BETA) == []

    findings = diagnose_cluster(cluster, namespace=BETA)[1]
    chain = next(f for f in findings if f.code == "MR101" and f.subject.name == BETA)
    assert f"webhook {POLICY_HOOK} of {POLICY} denied the pods: {REASON}" in chain.message
    assert any(f'admission webhook "{POLICY_HOOK}" denied the request: {REASON}' in e
               for e in chain.evidence)
    assert f"{POLICY} (a policy webhook, not Istio's injector) rejected the pod" in chain.message
    assert "namespaceSelector policy=enforced" in chain.message and "istiod" not in chain.message

    # the way out the message names: take the namespace out of the policy's selector
    cluster.patch(k.NAMESPACES, BETA, {"metadata": {"labels": {"policy": None}}})
    world_settle(seed_sandbox, 120.0)  # the ReplicaSet controller retries with back-off
    assert _proxies(cluster, BETA) and set(_proxies(cluster, BETA)) == {1}
    assert not [f for f in diagnose_cluster(cluster, namespace=BETA)[1] if f.code == "MR101"]


def test_two_injectors_for_the_same_pods_and_the_way_out(seed_sandbox, world_settle,  # type: ignore[no-untyped-def]
                                                         cluster: Cluster) -> None:
    # a second copy of the revision's injector, e.g. left by an install under another name
    copy_of = copy.deepcopy(cluster.get(k.MUTATING_WEBHOOKS, PROD_INJECTOR))
    copy_of["metadata"] = {"name": "istio-sidecar-injector-1-18-5-copy",
                           "labels": copy_of["metadata"].get("labels") or {}}
    cluster.create(k.MUTATING_WEBHOOKS, copy_of)
    world_settle(seed_sandbox, 1.0)
    apply_manifests(cluster, app_path("bookinfo"), namespace=BETA)
    world_settle(seed_sandbox, 5.0)
    # every pod passes both webhooks; injection is idempotent, so one sidecar each
    assert _proxies(cluster, BETA) and set(_proxies(cluster, BETA)) == {1}

    findings = diagnose_cluster(cluster)[1]
    overlaps = [f for f in findings if f.code == "IST0139"
                and f.message.startswith("Webhook overlaps with others")]
    assert {f.subject.name for f in overlaps} == {PROD_INJECTOR, "istio-sidecar-injector-1-18-5-copy"}
    assert all(BETA in f.namespaces for f in overlaps)
    assert "istioctl tag remove / istioctl uninstall --revision" in overlaps[0].message

    cluster.delete(k.MUTATING_WEBHOOKS, "istio-sidecar-injector-1-18-5-copy")
    world_settle(seed_sandbox, 1.0)
    assert not [f for f in diagnose_cluster(cluster)[1] if f.code == "IST0139"
                and f.message.startswith("Webhook overlaps with others")]


ALPHA = "l7-traffic-alpha"   # bound to tag prod-canary
TAG = "istio-revision-tag-prod-canary"


def _bundle(pem: bytes) -> str:
    return base64.b64encode(pem).decode()


def _set_bundle(cluster: Cluster, configuration: str, bundle: str,
                kind: k.ResourceKind = k.MUTATING_WEBHOOKS) -> None:
    hooks = cluster.get(kind, configuration)["webhooks"]
    cluster.patch(kind, configuration, [
        {"op": "add", "path": f"/webhooks/{i}/clientConfig/caBundle", "value": bundle}
        for i in range(len(hooks))], patch_type="json")


def test_a_tag_with_a_foreign_caBundle_and_the_copy_command(  # type: ignore[no-untyped-def]
        seed_sandbox, world_settle, cluster: Cluster, kubectl: str, tmp_path: Path) -> None:
    # the incident fixed the good way, then the tag gets a caBundle from another cluster's CA
    set_tag_revision(cluster, "prod-canary", "1-18-5").apply(cluster, confirm="sandbox")
    _set_bundle(cluster, TAG, _bundle(new_authority("istiod-ca-elsewhere").cert_pem))
    apply_manifests(cluster, app_path("bookinfo"), namespace=ALPHA)
    world_settle(seed_sandbox, 5.0)
    assert cluster.list(k.PODS, ALPHA) == []

    chain = next(f for f in diagnose_cluster(cluster, namespace=ALPHA)[1]
                 if f.code == "MR101" and f.subject.name == ALPHA)
    assert "x509: certificate signed by unknown authority" in chain.message
    assert f"{TAG} trusts CN=istiod-ca-elsewhere (expires " in chain.message
    assert f"but {PROD_INJECTOR} trusts no caBundle" in chain.message
    command = chain.message.split("copy the trusted caBundle: ", 1)[1]

    # the command as given, with the real kubectl (the emulated injector carries no bundle:
    # the tag's is removed), then the workloads recreated as MR107 proposes
    kc = kubectl_for(kubectl, seed_sandbox, tmp_path)
    kc(shell=command)
    assert all("caBundle" not in h["clientConfig"]
               for h in cluster.get(k.MUTATING_WEBHOOKS, TAG)["webhooks"])
    recreate = next(f for f in diagnose_cluster(cluster, namespace=ALPHA)[1] if f.code == "MR107")
    assert recreate.fix is not None
    plan_fix(cluster, recreate.fix).apply(cluster, confirm="sandbox")
    world_settle(seed_sandbox, 5.0)
    assert _proxies(cluster, ALPHA) and set(_proxies(cluster, ALPHA)) == {1}


def test_a_caBundle_of_the_servers_own_ca_is_trusted(  # type: ignore[no-untyped-def]
        seed_sandbox, world_settle, cluster: Cluster) -> None:
    # both configurations that call istio-prod/istiod, as istiod's webhook controller patches them
    trusted = _bundle(seed_sandbox.world.webhooks.ca_pem)
    _set_bundle(cluster, PROD_INJECTOR, trusted)
    _set_bundle(cluster, "istio-validator-1-18-5-istio-prod", trusted, k.VALIDATING_WEBHOOKS)
    apply_manifests(cluster, app_path("bookinfo"), namespace=BETA)
    world_settle(seed_sandbox, 5.0)
    assert _proxies(cluster, BETA) and set(_proxies(cluster, BETA)) == {1}
    assert "MR113" not in [f.code for f in diagnose_cluster(cluster)[1]]


def test_a_webhook_server_that_answers_too_late_times_out(  # type: ignore[no-untyped-def]
        seed_sandbox, world_settle, cluster: Cluster) -> None:
    slow = {"spec": {"template": {"metadata": {"annotations": {ANSWER_SECONDS_ANNOTATION: "12"}}}}}
    cluster.patch(k.DEPLOYMENTS, "istiod-1-18-5", slow, PROD)
    world_settle(seed_sandbox, 30.0)
    chain = failing_bookinfo_chain(seed_sandbox, world_settle, cluster, BETA)
    assert '?timeout=10s": context deadline exceeded' in " ".join(chain.evidence)
    assert "did not answer within its timeoutSeconds (10s)" in chain.message
    assert "istiod istiod-1-18-5 (revision 1-18-5) has 1/1 ready pods" in chain.message

    # a webhook allowed longer than the server takes answers in time
    hooks = cluster.get(k.MUTATING_WEBHOOKS, PROD_INJECTOR)["webhooks"]
    cluster.patch(k.MUTATING_WEBHOOKS, PROD_INJECTOR, [
        {"op": "replace", "path": f"/webhooks/{i}/timeoutSeconds", "value": 15}
        for i in range(len(hooks))], patch_type="json")
    world_settle(seed_sandbox, 120.0)   # the ReplicaSet controller retries with back-off
    assert _proxies(cluster, BETA) and set(_proxies(cluster, BETA)) == {1}
