"""Whether a Secret named by a Gateway's ``tls.credentialName`` holds a certificate istiod can serve
(istioctl's IST0161, InvalidGatewayCredential).

The rule is istiod's own: pilot ``credentials/kube.ExtractCertInfo`` takes the certificate from the
``cert``/``key`` pair, else from ``tls.crt``/``tls.key`` (both non-empty), and
``xds.ValidateCertificate`` decodes the first PEM block of it as X.509 certificates that must all
be valid now. Only Secrets given in files are judged: Secrets read from a cluster are listed as
metadata only (``runbook.kube.reader``), so their values are never there to judge.

``stringData`` is merged over ``data`` as the API server does on write; istioctl reads ``data``
alone, and so reports a file Secret written with ``stringData`` as invalid.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

#: the key pairs istiod takes a gateway's certificate and key from, in its order
CERT_KEY_PAIRS: tuple[tuple[str, str], ...] = (("cert", "key"), ("tls.crt", "tls.key"))

#: one PEM block, as Go's ``pem.Decode`` finds the first one (any type)
_PEM_BLOCK = re.compile(rb"-----BEGIN ([^-\r\n]*)-----\r?\n(.*?)-----END \1-----", re.S)


def secret_values(secret: Mapping[str, Any]) -> dict[str, bytes] | str:
    """The Secret's values by key (``data`` decoded, ``stringData`` over it), or why they cannot
    be decoded."""
    values: dict[str, bytes] = {}
    data = secret.get("data") or {}
    string_data = secret.get("stringData") or {}
    if not isinstance(data, Mapping) or not isinstance(string_data, Mapping):
        return "data and stringData must be maps of key to value"
    for key, encoded in data.items():
        try:
            values[str(key)] = base64.b64decode(str(encoded or ""), validate=True)
        except (binascii.Error, ValueError):
            return f"data[{key}] is not base64"
    for key, text in string_data.items():
        values[str(key)] = str(text or "").encode()
    return values


def credential_problem(secret: Mapping[str, Any], now: datetime | None = None) -> str | None:
    """Why istiod would reject this Secret as a gateway credential (None: it would serve it)."""
    values = secret_values(secret)
    if isinstance(values, str):
        return values
    for cert_key, key_key in CERT_KEY_PAIRS:
        if values.get(cert_key) and values.get(key_key):
            return certificate_problem(values[cert_key], now or datetime.now(UTC))
    for cert_key, key_key in CERT_KEY_PAIRS:
        if cert_key in values and key_key in values:
            return f'found keys "{cert_key}" and "{key_key}", but they were empty'
    found = sorted(values)
    listed = ", ".join(found[:3]) + (f", and {len(found) - 3} more..." if len(found) > 3 else "")
    return ("found secret, but didn't have expected keys (cert and key) or (tls.crt and tls.key); "
            f"found: {listed or 'no keys'}")


def certificate_problem(pem: bytes, now: datetime) -> str | None:
    """Why the first PEM block is not a certificate valid at ``now`` (None: it is)."""
    block = _PEM_BLOCK.search(pem)
    if block is None:
        return "pem decode failed"
    try:
        der = base64.b64decode(b"".join(block.group(2).split()), validate=True)
        cert = x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError) as exc:
        return (f"the first PEM block ({block.group(1).decode(errors='replace')}) is not an "
                f"X.509 certificate: {exc}")
    if now < cert.not_valid_before_utc or now > cert.not_valid_after_utc:
        return ("certificate is expired or not yet valid (valid from "
                f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} to "
                f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)")
    return None
