"""Injection failure chains told apart by what the webhook call met: a caBundle that did not sign
istiod's certificate (MR113, MR101 tls), a call that timed out, and a webhook that denies the pod —
positive and negative worlds."""

from __future__ import annotations

import base64
import functools

import pytest

from runbook import wellknown as wk
from runbook.formats import admission as fmt
from runbook.mesh import diagnose
from runbook.mesh.model import build_model
from runbook.mesh.webhook_trust import describe_bundle, trust_mismatches
from runbook.sandbox.apiserver.tls import new_authority

from .test_diagnose import codes, only
from .worlds import World

REVISION_INJECTOR = "istio-sidecar-injector-1-19-3"
TAG = "istio-revision-tag-stable"
X509 = "tls: failed to verify certificate: x509: certificate signed by unknown authority"


@functools.cache
def _bundle(common_name: str) -> str:
    return base64.b64encode(new_authority(common_name).cert_pem).decode()


def _trust(world: World, configuration: str, bundle: str, *, policy: str = "Fail") -> None:
    for hook in world.find("MutatingWebhookConfiguration", configuration)["webhooks"]:
        hook["clientConfig"]["caBundle"] = bundle
        hook["failurePolicy"] = policy


def _copy(index: int) -> str:
    """One op of the copy command: the shell substitutes the revision injector's bundle."""
    return ('{\\"op\\":\\"replace\\",\\"path\\":\\"/webhooks/' + str(index)
            + '/clientConfig/caBundle\\",\\"value\\":\\"$(kubectl get mutatingwebhookconfiguration '
            "istio-sidecar-injector-1-19-3 -o jsonpath='{.webhooks[0].clientConfig.caBundle}')"
            '\\"}')


@pytest.fixture
def rotated(healthy: World) -> World:
    """istiod's CA was rotated: its own injector got the new bundle, the tag kept the old one."""
    _trust(healthy, REVISION_INJECTOR, _bundle("istiod-ca-2026"))
    _trust(healthy, TAG, _bundle("istiod-ca-2024"))
    return healthy


def test_a_tag_with_another_caBundle_is_mr113_with_the_copy_command(rotated: World) -> None:
    finding = only(diagnose(rotated.snapshot()), "MR113")
    assert finding.subject.name == TAG and finding.severity == "error"
    assert "trusts CN=istiod-ca-2024" in finding.message
    assert f"but {REVISION_INJECTOR} trusts CN=istiod-ca-2026" in finding.message
    assert "x509: certificate signed by unknown authority" in finding.message
    # one patch for both webhooks of the tag, each copying the reference's bundle by the shell
    assert finding.message.endswith(
        "copy the trusted caBundle: kubectl patch mutatingwebhookconfiguration "
        f'istio-revision-tag-stable --type=json -p "[{_copy(0)},{_copy(1)}]"')
    assert finding.namespaces == ["shop"]
    assert len(finding.evidence) >= 3  # both webhooks of the tag, then the reference


def test_under_failure_policy_ignore_the_mismatch_is_a_warning(healthy: World) -> None:
    _trust(healthy, REVISION_INJECTOR, _bundle("istiod-ca-2026"))
    _trust(healthy, TAG, _bundle("istiod-ca-2024"), policy="Ignore")
    finding = only(diagnose(healthy.snapshot()), "MR113")
    assert finding.severity == "warning" and "pods start without a sidecar" in finding.message


def test_pods_failing_with_x509_name_both_bundles_once(rotated: World) -> None:
    rotated.fail_in_new_namespace("payments", "details-v1", X509, pod_hash="c4b9x7m2q")
    findings = diagnose(rotated.snapshot())
    chain = only([f for f in findings if f.subject.name == "payments"], "MR101")
    assert X509 in chain.message
    assert f"{TAG} trusts CN=istiod-ca-2024 (expires " in chain.message
    assert f"but {REVISION_INJECTOR} trusts CN=istiod-ca-2026 (expires " in chain.message
    assert "for the same Service (see MR113)" in chain.message
    assert "copy the trusted caBundle: kubectl patch mutatingwebhookconfiguration" in chain.message
    # the failing-pods chain explains the tag: no second finding about it
    assert "MR113" not in codes(findings)


def test_x509_without_a_reference_points_at_istiods_ca(healthy: World) -> None:
    _trust(healthy, TAG, _bundle("istiod-ca-2024"))
    _trust(healthy, REVISION_INJECTOR, _bundle("istiod-ca-2024"))
    healthy.fail_in_new_namespace("payments", "details-v1", X509, pod_hash="c4b9x7m2q")
    chain = only(diagnose(healthy.snapshot()), "MR101")
    assert "caBundle (CN=istiod-ca-2024 (expires" in chain.message
    assert ("kubectl get configmap istio-ca-root-cert -n istio-system -o "
            "jsonpath='{.data.root-cert\\.pem}'") in chain.message


@pytest.mark.parametrize("bundles", [
    pytest.param({}, id="no caBundle anywhere (the emulated engine's default)"),
    pytest.param({REVISION_INJECTOR: "istiod-ca", TAG: "istiod-ca"}, id="one CA"),
])
def test_agreeing_bundles_are_no_finding(healthy: World, bundles: dict[str, str]) -> None:
    for configuration, cn in bundles.items():
        _trust(healthy, configuration, _bundle(cn))
    assert "MR113" not in codes(diagnose(healthy.snapshot()))


def test_two_tags_that_disagree_without_the_revisions_injector_is_no_guess(healthy: World) -> None:
    healthy.remove("MutatingWebhookConfiguration", names=[REVISION_INJECTOR])
    other = healthy.find("MutatingWebhookConfiguration", TAG)
    healthy.add({**other, "metadata": {**other["metadata"], "name": "istio-revision-tag-canary"}})
    _trust(healthy, TAG, _bundle("ca-one"))
    _trust(healthy, "istio-revision-tag-canary", _bundle("ca-two"))
    assert trust_mismatches(build_model(healthy.snapshot())) == []


def test_an_unreadable_bundle_is_named_as_such() -> None:
    assert describe_bundle("bm90IGEgY2VydA==") == \
        "an unreadable caBundle (not base64 PEM certificates)"
    assert describe_bundle("").startswith("no caBundle")


# ----------------------------------------------------------------------------- timeout


def test_a_timeout_names_the_timeout_and_the_blocked_path(healthy: World) -> None:
    cause = "context deadline exceeded"
    healthy.fail_in_new_namespace("slow", "details-v1", cause, pod_hash="t7m4k2b9")
    chain = only(diagnose(healthy.snapshot()), "MR101")
    assert "did not answer within its timeoutSeconds (10s)" in chain.message
    assert "istiod istiod-1-19-3 (revision 1-19-3) has 1/1 ready pods" in chain.message
    assert "NetworkPolicies in istio-system" in chain.message and "15017" in chain.message
    assert chain.fix is None  # nothing in the objects to change


# ------------------------------------------------------------------------------ denial

POLICY = "require-team-label"
POLICY_HOOK = "team.policy.example.com"


def _policy_webhook(namespace_label: str = "policy") -> dict[str, object]:
    return {"apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration", "metadata": {"name": POLICY},
            "webhooks": [{
                "name": POLICY_HOOK, "admissionReviewVersions": ["v1"], "sideEffects": "None",
                "failurePolicy": "Fail",
                "clientConfig": {"service": {"name": "policy", "namespace": "policy-system",
                                             "path": "/validate", "port": 443}},
                "namespaceSelector": {"matchLabels": {namespace_label: "enforced"}},
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                           "resources": ["pods"]}]}]}


def test_a_denying_policy_webhook_is_named_with_its_scope(healthy: World) -> None:
    healthy.add(_policy_webhook())
    healthy.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "orders", "labels": {wk.REV_LABEL: "stable", "policy": "enforced"}}})
    healthy.add(*[o for o in healthy.of_kind("Deployment", "shop")
                  if o["metadata"]["name"] == "ratings-v1"], namespace="orders")
    healthy.run_deployment("orders", "ratings-v1", pod_hash="r2d8q4x6",
                           failure=fmt.webhook_denied(POLICY_HOOK, "pods must carry label team"))
    chain = only([f for f in diagnose(healthy.snapshot()) if f.subject.name == "orders"],
                 "MR101")
    assert f"webhook {POLICY_HOOK} of {POLICY} denied the pods: pods must carry label team" in \
        chain.message and "istiod" not in chain.message
    assert f"{POLICY} (a policy webhook, not Istio's injector) rejected the pod" in chain.message
    assert "namespaceSelector policy=enforced" in chain.message
    assert any(e.startswith(f"ValidatingWebhookConfiguration {POLICY} rules:")
               for e in chain.evidence)
