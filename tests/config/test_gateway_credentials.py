"""Gateway ``tls.credentialName`` as istioctl's gateway SecretAnalyzer checks it: the Secret must
exist in the namespace of the gateway *pods* (not the Gateway's) — by name only for a cluster's
Secrets, whose values are never read — and (IST0161) hold a certificate istiod would serve, judged
for Secrets given in files."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from runbook import kinds as k
from runbook.kube.reader import trim_secret
from runbook.manifests import parse_manifests
from runbook.mesh.analyze import analyze
from runbook.mesh.gateway_credentials import credential_problem
from runbook.sandbox.apiserver.tls import key_pem
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


# --------------------------------------------- IST0161: what istiod would serve (files only)


def _certificate(*, expired: bool = False) -> tuple[str, str]:
    """A self-signed certificate and its key (PEM), valid now or expired yesterday."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shop.test")])
    now = dt.datetime.now(dt.UTC)
    start, end = ((now - dt.timedelta(days=30), now - dt.timedelta(days=1)) if expired
                  else (now - dt.timedelta(hours=1), now + dt.timedelta(days=30)))
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end).sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key_pem(key).decode())


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _file_secret(data: dict[str, str] | None = None, namespace: str = PROD,
                 string_data: dict[str, str] | None = None) -> str:
    secret: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                              "metadata": {"name": "shop-cert", "namespace": namespace}}
    if data is not None:
        secret["data"] = {key: _b64(value) for key, value in data.items()}
    if string_data is not None:
        secret["stringData"] = string_data
    return yaml.safe_dump(secret)


def _analyze_with(secret_yaml: str, snapshot: Snapshot | None = None) -> Any:
    manifests = parse_manifests(GATEWAY + "---\n" + secret_yaml, "gw.yaml")
    return analyze(manifests, snapshot or snapshot_of(seed_world()), namespace=BETA)


INVALID = ("The credential referenced by the Gateway shop-tls in namespace istio-prod is invalid, "
           "which can cause the traffic not to work as expected.")


def _ist0161(result: Any) -> list[str]:
    return [f.message for f in result.findings if f.code == "IST0161"]


def test_a_file_secret_with_a_valid_certificate_is_clean() -> None:
    cert, key = _certificate()
    result = _analyze_with(_file_secret({"tls.crt": cert, "tls.key": key}))
    assert _ist0161(result) == []
    assert not [m for m in result.messages["message"] if "credentialName" in m]


def test_cert_and_key_keys_count_as_well() -> None:
    cert, key = _certificate()
    assert _ist0161(_analyze_with(_file_secret({"cert": cert, "key": key}))) == []


def test_an_expired_certificate_is_ist0161_with_its_dates_and_the_fix() -> None:
    cert, key = _certificate(expired=True)
    result = _analyze_with(_file_secret({"tls.crt": cert, "tls.key": key}))
    assert _ist0161(result) == [INVALID]
    finding = next(f for f in result.findings if f.code == "IST0161")
    assert finding.severity == "error" and finding.subject.name == "shop-tls"
    assert any(e.startswith("Secret istio-prod/shop-cert: certificate is expired or not yet valid")
               for e in finding.evidence)
    assert any(e.startswith("kubectl create secret tls shop-cert -n istio-prod")
               for e in finding.evidence)


@pytest.mark.parametrize(("data", "reason"), [
    ({"ca.crt": "x"}, "found secret, but didn't have expected keys (cert and key) or "
                      "(tls.crt and tls.key); found: ca.crt"),
    ({"tls.crt": "", "tls.key": ""}, 'found keys "tls.crt" and "tls.key", but they were empty'),
    ({"tls.crt": "not a certificate", "tls.key": "k"}, "pem decode failed"),
    ({"tls.crt": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "tls.key": "k"},
     "the first PEM block (CERTIFICATE) is not an X.509 certificate"),
])
def test_a_secret_istiod_cannot_serve_is_ist0161(data: dict[str, str], reason: str) -> None:
    result = _analyze_with(_file_secret(data))
    assert _ist0161(result) == [INVALID]
    evidence = next(f for f in result.findings if f.code == "IST0161").evidence
    assert any(e.startswith(f"Secret istio-prod/shop-cert: {reason}") for e in evidence)


def test_string_data_counts_as_the_api_server_merges_it() -> None:
    cert, key = _certificate()
    result = _analyze_with(_file_secret(string_data={"tls.crt": cert, "tls.key": key}))
    assert _ist0161(result) == []


def test_an_invalid_secret_beside_the_gateway_object_is_still_not_found() -> None:
    result = _analyze_with(_file_secret({"ca.crt": "x"}, namespace=BETA))
    assert _ist0161(result) == []
    assert 'Referenced credentialName not found: "shop-cert"' in list(result.messages["message"])


def test_a_cluster_secret_is_known_by_name_and_never_judged() -> None:
    # a cluster Secret arrives as metadata only: its existence counts, its values are not there
    snapshot = snapshot_of(seed_world(extra=[trim_secret(_secret(PROD))]))
    result = analyze(parse_manifests(GATEWAY, "gw.yaml"), snapshot, namespace=BETA)
    assert not [m for m in result.messages["message"] if "credential" in m]
    assert any("IST0161" in why for why in result.skipped)


def test_credential_problem_judges_validity_at_the_given_time() -> None:
    cert, key = _certificate()
    secret = {"data": {"tls.crt": _b64(cert), "tls.key": _b64(key)}}
    assert credential_problem(secret) is None
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    assert str(credential_problem(secret, later)).startswith("certificate is expired")
    assert credential_problem({"data": {"tls.crt": "%%%"}}) == "data[tls.crt] is not base64"
