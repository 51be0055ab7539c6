"""A throwaway certificate authority and server certificate for the sandbox's TLS listener.

The sandbox serves HTTPS so that clients keep TLS verification ON (DESIGN: verification is never
disabled anywhere): the kubeconfig carries the CA as ``certificate-authority-data`` and the server
certificate names ``127.0.0.1`` and ``localhost``. Keys are ECDSA P-256 (fast to make: start-up
stays well under the 1.5 s target). Validity uses wall time, not the sandbox clock, because TLS
peers check it against their own clocks.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Certificates:
    """PEM bytes: the CA certificate, and the server's certificate and private key."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


@dataclass(frozen=True)
class Authority:
    """A certificate authority that issues certificates (:func:`issue`)."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _validity(days: int) -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.UTC)
    return now - dt.timedelta(hours=1), now + dt.timedelta(days=days)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """A private key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def new_authority(common_name: str = "mesh-runbook-sandbox-ca", days: int = 365) -> Authority:
    """A fresh self-signed CA."""
    not_before, not_after = _validity(days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return Authority(ca_key, ca_cert)


def issue(authority: Authority, common_name: str, *, dns: tuple[str, ...] = (),
          ips: tuple[str, ...] = (), organization: str | None = None, client: bool = False,
          days: int = 365) -> tuple[bytes, bytes]:
    """A certificate signed by ``authority``: (certificate PEM, private key PEM).

    Args:
        dns, ips: subject alternative names (a server certificate's names).
        organization: the subject's O (Kubernetes reads it as the client's group).
        client: a client certificate (``clientAuth``) instead of a server one.
    """
    not_before, not_after = _validity(days)
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attributes))
        .issuer_name(authority.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([
            ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH]),
            critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            authority.key.public_key()), critical=False)
    )
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(authority.key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem(key)


def make_certificates(days: int = 365) -> Certificates:
    """A fresh CA and a server certificate for 127.0.0.1/localhost signed by it."""
    authority = new_authority(days=days)
    cert_pem, server_key_pem = issue(authority, "kube-apiserver", dns=("localhost",),
                                     ips=("127.0.0.1",), days=days)
    return Certificates(ca_pem=authority.cert_pem, cert_pem=cert_pem, key_pem=server_key_pem)
