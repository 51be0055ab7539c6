"""Gateway ``tls.credentialName`` as istioctl's gateway SecretAnalyzer checks it: the Secret must
exist in the namespace of the gateway *pods* (not the Gateway's) — by name only; nothing else of a
Secret is ever read."""

from __future__ import annotations

from typing import Any

from runbook import kinds as k
from runbook.kube.reader import trim_secret
from runbook.manifests import parse_manifests
from runbook.mesh.analyze import analyze
from runbook.snapshot import Snapshot

from .world import seed_world, snapshot_of

BETA, PROD = "l7-traffic-beta", "istio-prod"   # the Gateway's namespace, its pods' namespace
GATEWAY = """
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: shop-tls}
spec:
  selector: {istio: ingressgateway, istio.io/rev: 1-18-5}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [shop.test]
    tls: {mode: SIMPLE, credentialName: shop-cert}
"""


def _secret(namespace: str, name: str = "shop-cert") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": name, "namespace": namespace},
            "data": {"tls.crt": "LS0tLS1CRUdJTi0tLS0t", "tls.key": "c2VjcmV0"}}


def _credential_messages(snapshot: Snapshot) -> list[str]:
    result = analyze(parse_manifests(GATEWAY, "gw.yaml"), snapshot, namespace=BETA)
    return [m for m in result.messages["message"] if "credentialName" in m]


def test_a_missing_secret_is_ist0101() -> None:
    assert _credential_messages(snapshot_of(seed_world())) == [
        'Referenced credentialName not found: "shop-cert"']


def test_the_secret_in_the_gateway_pods_namespace_is_found() -> None:
    assert _credential_messages(snapshot_of(seed_world(extra=[_secret(PROD)]))) == []


def test_a_secret_beside_the_gateway_object_is_not_where_the_pods_look() -> None:
    assert _credential_messages(snapshot_of(seed_world(extra=[_secret(BETA)]))) == [
        'Referenced credentialName not found: "shop-cert"']


def test_unreadable_secrets_skip_the_check() -> None:
    kinds = tuple(kind for kind in k.ALL_KNOWN_KINDS if kind is not k.SECRETS)
    snapshot = Snapshot.from_objects(seed_world(), kinds)
    result = analyze(parse_manifests(GATEWAY, "gw.yaml"), snapshot, namespace=BETA)
    assert not [m for m in result.messages["message"] if "credentialName" in m]
    assert "secrets could not be read: Gateway credentialName references not checked" in \
        result.skipped


def test_a_read_secret_keeps_its_name_and_nothing_of_its_contents() -> None:
    trimmed = trim_secret({**_secret(PROD), "stringData": {"password": "hunter2"},
                           "metadata": {"name": "shop-cert", "namespace": PROD,
                                        "annotations": {"note": "hunter2"}}})
    assert trimmed == {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                       "metadata": {"name": "shop-cert", "namespace": PROD}}
