"""What a probe run sends: the URL checked and the HTTP/1.1 request built once for the whole run.

:func:`build_target` refuses what cannot be sent (a bad URL, credentials in it, a header with a
line break) before anything leaves the machine, with a :class:`~runbook.errors.ProbeError` that
never repeats a credential.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata

from runbook.errors import ProbeError
from runbook.redaction import redact_url

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 9110 §5.6.2 token

try:
    _VERSION = metadata.version("mesh-runbook")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    _VERSION = "0"
USER_AGENT = f"mesh-runbook-probe/{_VERSION}"


@dataclass(frozen=True)
class ProbeTarget:
    """A checked URL and the request bytes sent on every connection."""

    url: str
    scheme: str
    host: str          # what to connect to (resolved)
    port: int
    host_header: str
    request: bytes
    tls_name: str | None   # SNI and certificate name
    literal: bool      # host is an IP address: no resolution


def _check_header_text(what: str, value: str) -> None:
    if any(c in value for c in "\r\n\0"):
        # the value is not repeated: header values carry credentials (Authorization, Cookie)
        at = min(value.find(c) for c in "\r\n\0" if c in value) + 1
        raise ProbeError(f"{what} contains a line break or NUL (character {at})",
                         hint="give each header as one line; nothing was sent")


def build_target(url: str, *, host: str | None, method: str,
                 headers: Mapping[str, str] | None) -> ProbeTarget:
    """Validate the URL and build the request bytes once for the whole run.

    Raises:
        ProbeError: not an http(s) URL, no host, a bad port, credentials in the URL, or a header /
            method that cannot be sent.
    """
    if not isinstance(url, str) or not url.strip():
        raise ProbeError("no URL given", hint="e.g. http://127.0.0.1:31241/productpage")
    url = url.strip()
    url_shown = redact_url(url)  # what a refusal may repeat: access_token=… values masked
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ProbeError(f"invalid URL {url_shown!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        if not parts.scheme:
            raise ProbeError(f"invalid URL {url_shown!r}: no scheme", hint=f"write http://{url_shown}")
        raise ProbeError(f"invalid URL {url_shown!r}: only http and https are supported, "
                         f"not {parts.scheme!r}")
    if not parts.hostname:
        raise ProbeError(f"invalid URL {url_shown!r}: no host")
    if parts.username is not None or parts.password is not None:
        # the URL is not repeated as given: it holds the password
        where = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
        shown = parts._replace(netloc=f"{parts.username or ''}:[masked]@{where}"
                               + (f":{port}" if port else "")).geturl()
        raise ProbeError(f"invalid URL {shown!r}: credentials in URLs are not sent",
                         hint="pass headers={'Authorization': ...} instead")
    if any(c.isspace() for c in url):
        raise ProbeError(f"invalid URL {url_shown!r}: contains whitespace", hint="percent-encode it (%20)")
    if port == 0:
        raise ProbeError(f"invalid URL {url_shown!r}: port 0")
    default_port = 443 if scheme == "https" else 80
    port = port or default_port
    connect_host = parts.hostname
    literal = True
    try:
        ip = ipaddress.ip_address(connect_host)
    except ValueError:
        literal = False
        ip = None
    if host is None:
        shown = f"[{connect_host}]" if ip is not None and ip.version == 6 else connect_host
        host_header = shown if port == default_port else f"{shown}:{port}"
    else:
        host_header = host.strip()
        if not host_header or any(c.isspace() for c in host_header) or "/" in host_header:
            raise ProbeError(f"invalid Host header {host!r}", hint="e.g. bookinfo-gateway.test")
    if not _TOKEN.match(method):
        raise ProbeError(f"invalid HTTP method {method!r}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host_header}"]
    extra = dict(headers or {})
    names = {k.lower() for k in extra}
    if "host" in names:
        if host is not None:
            raise ProbeError("Host given twice (host= and headers)", hint="use host= only")
        host_header = next(v for k, v in extra.items() if k.lower() == "host")
        _check_header_text("Host header", host_header)
        lines[1] = f"Host: {host_header}"
    if "user-agent" not in names:
        lines.append(f"User-Agent: {USER_AGENT}")
    if "accept" not in names:
        lines.append("Accept: */*")
    for name, value in extra.items():
        if name.lower() == "host":
            continue
        if not _TOKEN.match(name):
            raise ProbeError(f"invalid header name {name!r}")
        _check_header_text(f"header {name}", str(value))
        lines.append(f"{name}: {value}")
    if "content-length" in names or "transfer-encoding" in names:
        raise ProbeError("request bodies are not supported (Content-Length/Transfer-Encoding given)")
    try:
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start:exc.end]
        raise ProbeError(f"header or path not encodable as HTTP/1.1 (latin-1): {bad!r}",
                         hint="percent-encode non-ASCII paths") from None
    tls_name = None
    if scheme == "https":
        # SNI and the certificate name follow the Host header: what the gateway routes on
        tls_name = host_header.rsplit(":", 1)[0] if not host_header.startswith("[") else None
        if tls_name is None or _is_ip(tls_name):
            tls_name = connect_host if not literal else None
    return ProbeTarget(url=url, scheme=scheme, host=connect_host, port=port, host_header=host_header,
                   request=request, tls_name=tls_name, literal=literal)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_invalid_tld(name: str) -> bool:
    """RFC 6761 §6.4: names under ``.invalid`` never resolve."""
    name = name.lower().rstrip(".")
    return name == "invalid" or name.endswith(".invalid")


# --------------------------------------------------------------------------------------------


__all__ = ["USER_AGENT", "ProbeTarget", "build_target", "is_invalid_tld"]
