"""Fixtures for the report tests: the small test notebooks and a kubeconfig full of planted secrets."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

NOTEBOOKS = Path(__file__).parent / "notebooks"


@pytest.fixture(scope="session")
def notebooks() -> Path:
    """The directory of this package's own small test notebooks."""
    return NOTEBOOKS


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def fake_pem(kind: str) -> str:
    """A PEM block with random content (never a real key)."""
    body = base64.b64encode(secrets.token_bytes(192)).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----\n"


def fake_jwt() -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    return ".".join([part(b'{"alg":"RS256","kid":"k1"}'),
                     part(b'{"iss":"kubernetes/serviceaccount","sub":"system:serviceaccount:' +
                          secrets.token_hex(8).encode() + b'"}'),
                     part(secrets.token_bytes(64))])


@dataclass
class PlantedKubeconfig:
    """A kubeconfig whose every secret is random, and the values a report must never contain."""

    path: Path
    context: str
    server: str
    secrets: dict[str, str]


@pytest.fixture
def planted_kubeconfig(tmp_path: Path) -> PlantedKubeconfig:
    token_file = tmp_path / "token"
    token_file.write_text("tokenfile-" + secrets.token_hex(16))
    key_pem = fake_pem("RSA PRIVATE KEY")
    cert_pem = fake_pem("CERTIFICATE")
    planted = {
        "token": "kubeconfig-token-" + secrets.token_hex(16),
        "password": "pw-" + secrets.token_hex(8),
        "client-key-data": _b64(key_pem),
        "client-key-body": key_pem.splitlines()[1],
        "client-certificate-data": _b64(cert_pem),
        "certificate-authority-data": _b64(fake_pem("CERTIFICATE")),
        "tokenFile": token_file.read_text(),
        "id-token": fake_jwt(),
        "refresh-token": "refresh-" + secrets.token_hex(12),
        "exec-env": "exec-secret-" + secrets.token_hex(12),
    }
    server = "https://203.0.113.10:6443"
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "prod-eu",
        "clusters": [{"name": "prod", "cluster": {
            "server": server, "certificate-authority-data": planted["certificate-authority-data"]}}],
        "contexts": [{"name": "prod-eu", "context": {"cluster": "prod", "user": "admin"}},
                     {"name": "prod-basic", "context": {"cluster": "prod", "user": "basic"}}],
        "users": [
            {"name": "admin", "user": {"token": planted["token"],
                                       "client-key-data": planted["client-key-data"],
                                       "client-certificate-data": planted["client-certificate-data"]}},
            {"name": "basic", "user": {"username": "ops", "password": planted["password"]}},
            {"name": "file", "user": {"tokenFile": "token"}},  # relative to the kubeconfig
            {"name": "oidc", "user": {"auth-provider": {"name": "oidc", "config": {
                "id-token": planted["id-token"], "refresh-token": planted["refresh-token"]}}}},
            {"name": "exec", "user": {"exec": {"command": "get-token", "apiVersion":
                                               "client.authentication.k8s.io/v1",
                                               "env": [{"name": "SECRET", "value": planted["exec-env"]}]}}},
        ],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return PlantedKubeconfig(path=path, context="prod-eu", server=server, secrets=planted)
