"""Servers that misbehave on purpose, for the hostile-input tests: raw sockets on 127.0.0.1.

Each :class:`RawServer` runs one handler per connection in a thread, stops when its ``with``
block ends, and stops by itself after ``lifetime`` seconds whatever happens (a test that hangs
must not leave it serving).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

Handler = Callable[[socket.socket, threading.Event], None]


class RawServer:
    """``handler(conn, stop)`` for every connection, after the request head has been read."""

    def __init__(self, handler: Handler, *, tls: ssl.SSLContext | None = None,
                 lifetime: float = 60.0) -> None:
        self.handler = handler
        self.tls = tls
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = int(self.listener.getsockname()[1])
        self.conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lifetime = threading.Timer(lifetime, self.close)
        self._lifetime.daemon = True

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> RawServer:
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)
        self._lifetime.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.stop.set()
        self._lifetime.cancel()
        with contextlib.suppress(OSError):
            self.listener.close()
        for conn in list(self.conns):
            with contextlib.suppress(OSError):
                conn.close()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5)

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        self.conns.append(conn)
        try:
            conn.settimeout(5)
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
                self.conns.append(conn)
            _read_head(conn)
            self.handler(conn, self.stop)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()


def _read_head(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


# ---------------------------------------------------------------- handlers


def answer(status: str, body: bytes, content_type: str = "application/json") -> Handler:
    """Every request gets the same complete answer."""
    def handle(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    return handle


def delayed(seconds: float, then: Handler) -> Handler:
    """``then``, after ``seconds`` (a slow server whose answers do come)."""
    def handle(conn: socket.socket, stop: threading.Event) -> None:
        if not stop.wait(seconds):
            then(conn, stop)
    return handle


def trickle(every: float = 2.0) -> Handler:
    """A status line, then one header byte every ``every`` seconds: the head never ends."""
    def handle(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: ")
        while not stop.wait(every):
            conn.sendall(b"a")
    return handle


def endless_headers(conn: socket.socket, stop: threading.Event) -> None:
    """Header lines as fast as they are read, forever (until stopped)."""
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    n = 0
    while not stop.is_set():
        conn.sendall(b"X-Header-%d: value\r\n" % n)
        n += 1


def huge_header(conn: socket.socket, stop: threading.Event) -> None:
    """One 10 MB header line."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Huge: ")
    chunk = b"a" * 65536
    for _ in range(160):
        if stop.is_set():
            return
        conn.sendall(chunk)
    conn.sendall(b"\r\n\r\n")


def http09(conn: socket.socket, stop: threading.Event) -> None:
    """An HTTP/0.9 answer: the body, no status line, no headers."""
    conn.sendall(b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")


def redirect(location: str) -> Handler:
    return answer(f"302 Found\r\nLocation: {location}", b"")


def server_tls() -> tuple[ssl.SSLContext, bytes]:
    """A server TLS context for 127.0.0.1 and the CA that verifies it (the sandbox's maker)."""
    from runbook.sandbox.apiserver.tls import make_certificates

    certs = make_certificates()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
        cert.write_bytes(certs.cert_pem)
        key.write_bytes(certs.key_pem)
        context.load_cert_chain(cert, key)
    return context, certs.ca_pem


def kubeconfig_for(path: Path, server: str, ca_pem: bytes | None = None,
                   token: str = "hostile-input-token") -> Path:
    """A kubeconfig with one context ``x`` pointing at ``server``."""
    import base64

    cluster: dict[str, Any] = {"server": server}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}]}))
    return path


def rss_bytes(pid: int | None = None) -> int:
    """Resident set size of a process (this one by default), from /proc."""
    status = Path(f"/proc/{pid or 'self'}/status").read_text()
    line = next(ln for ln in status.splitlines() if ln.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = fn()
    return result, time.monotonic() - started
