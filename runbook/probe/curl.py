"""One request shown the way ``curl -s -I`` shows it: the field report's check, before a probe run.

The report ends each part with::

    curl -s -I -HHost:bookinfo-gateway.test "http://$INGRESS_HOST:$INGRESS_PORT/productpage"
    HTTP/1.1 200 OK
    server: istio-envoy
    ...
    x-envoy-upstream-service-time: 1172

:func:`curl_head` sends that one ``HEAD`` request (the same request line and headers the probe
sends, built by :func:`runbook.probe.http.build_target`) and keeps the status line and the header
lines exactly as they arrived — names in the server's case, in the server's order — so what a
notebook prints is what curl would print. A failure is kept as curl's one-line error (``Failed to
connect to 127.0.0.1 port 31241: Connection refused``), never raised: an unreachable gateway is
an expected answer during an incident. Only a bad URL raises :class:`~runbook.errors.ProbeError`.
"""

from __future__ import annotations

import shlex
import socket
import ssl
import time
from dataclasses import dataclass

from runbook.probe.http import DEFAULT_TIMEOUT, build_target
from runbook.redaction import redact_url

#: curl's exit codes for the failures this reports (``man curl`` › EXIT CODES)
CURL_EXIT = {"dns": 6, "refused": 7, "timeout": 28, "tls": 35, "protocol": 8, "other": 56}
_MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class HeadResponse:
    """The answer to one HEAD request.

    Attributes:
        url: the URL asked; host: the ``Host`` header sent.
        status: the status code (0 when no answer came).
        status_line: ``HTTP/1.1 200 OK`` as received.
        headers: ``(name, value)`` pairs as received.
        elapsed_ms: from connecting to the end of the header block.
        error_kind: "" or one of ``dns``, ``refused``, ``timeout``, ``tls``, ``protocol``, ``other``.
        error: curl's message for it.
    """

    url: str
    host: str
    status: int = 0
    status_line: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    elapsed_ms: float = 0.0
    error_kind: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error_kind

    def header(self, name: str) -> str | None:
        """A header's value (case-insensitive), None when absent."""
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    def text(self) -> str:
        """What ``curl -s -I`` prints (with ``-S`` for errors: ``curl: (7) …``)."""
        if self.error_kind:
            return f"curl: ({CURL_EXIT[self.error_kind]}) {self.error}"
        return "\n".join([self.status_line, *(f"{k}: {v}" for k, v in self.headers)])

    def command(self) -> str:
        """The equivalent command line."""
        return f"curl -s -I -HHost:{shlex.quote(self.host)} {shlex.quote(self.url)}"

    def __str__(self) -> str:
        return self.text()


def curl_head(url: str, *, host: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> HeadResponse:
    """Send one ``HEAD`` request like ``curl -s -I -HHost:<host> <url>`` and keep its answer.

    Args:
        url: ``http://`` or ``https://`` URL (e.g. ``address.base_url() + "/productpage"``).
        host: the ``Host`` header (default: the URL's host).
        timeout: seconds for connecting and for the answer.

    Returns:
        The status line and headers as received, or curl's one-line error.

    Raises:
        ProbeError: a bad URL or Host (nothing was sent).
    """
    target = build_target(url, host=host, method="HEAD", headers=None)
    result = HeadResponse(url=redact_url(target.url), host=target.host_header)  # as shown
    started = time.perf_counter()
    if target.host.lower().endswith(".invalid"):
        # RFC 6761 §6.4: never looked up (the probe's rule too)
        return _failed(result, "dns", f"Could not resolve host: {target.host}", started)
    try:
        sock = socket.create_connection((target.host, target.port), timeout=timeout)
    except socket.gaierror:
        return _failed(result, "dns", f"Could not resolve host: {target.host}", started)
    except TimeoutError:
        return _failed(result, "timeout", f"Connection timed out after {timeout * 1000:.0f} milliseconds",
                       started)
    except OSError as exc:
        why = "Connection refused" if isinstance(exc, ConnectionRefusedError) else (exc.strerror or str(exc))
        kind = "refused" if isinstance(exc, ConnectionRefusedError) else "other"
        return _failed(result, kind, f"Failed to connect to {target.host} port {target.port}: {why}",
                       started)
    try:
        if target.scheme == "https":
            context = ssl.create_default_context()
            try:
                sock = context.wrap_socket(sock, server_hostname=target.tls_name or target.host)
            except ssl.SSLError as exc:
                return _failed(result, "tls", f"TLS handshake failed: {exc.reason or exc}", started)
        sock.sendall(target.request)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
            if len(head) > _MAX_HEAD:
                break
    except TimeoutError:
        return _failed(result, "timeout", f"Operation timed out after {timeout * 1000:.0f} milliseconds "
                                          "with 0 bytes received", started)
    except OSError as exc:
        return _failed(result, "other", f"Recv failure: {exc.strerror or exc}", started)
    finally:
        sock.close()
    return _parse(result, head, started)


def _failed(result: HeadResponse, kind: str, text: str, started: float) -> HeadResponse:
    return HeadResponse(result.url, result.host, elapsed_ms=(time.perf_counter() - started) * 1000,
                        error_kind=kind, error=text)


def _parse(result: HeadResponse, head: bytes, started: float) -> HeadResponse:
    block, sep, _ = head.partition(b"\r\n\r\n")
    lines = block.decode("latin-1").split("\r\n")
    status_line = lines[0] if lines else ""
    parts = status_line.split(" ", 2)
    if not sep or len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        what = "Empty reply from server" if not head else "Unsupported HTTP response"
        return _failed(result, "protocol", what, started)
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers.append((name.strip(), value.strip()))
    return HeadResponse(result.url, result.host, int(parts[1]), status_line, tuple(headers),
                        (time.perf_counter() - started) * 1000)


__all__ = ["CURL_EXIT", "HeadResponse", "curl_head"]
