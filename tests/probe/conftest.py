"""A local HTTP backend on 127.0.0.1 with controllable delay, status, framing and failures.

Paths (query parameters in brackets):

=================  ==========================================================================
/ok                200 with a body [size=N bytes, default 615] and [upstream=MS] as
                   ``x-envoy-upstream-service-time``; ``server: istio-envoy``
/delay             like /ok after [ms=N] milliseconds
/status            [code=N] with a small body
/chunked           chunked body of [chunks=a,b,c] byte counts
/close             200 with ``Connection: close``
/drop              200 without ``Connection: close``, then the server closes anyway
/partial           promises 1000 body bytes, sends 10, closes (reset mid-response)
/rst               reads the request and answers with a TCP RST
/garbage           answers with bytes that are not HTTP
/hang              never answers (until the fixture stops)
/interim           a ``100 Continue`` interim response before the 200
=================  ==========================================================================

The backend records the ``Host`` header of every request and counts accepted connections.
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Backend:
    """The server, what it saw, and how to stop it."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.port = server.server_address[1]
        self.hosts: list[str] = []
        self.connections = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def url(self, path: str = "/ok", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like an Envoy gateway
    # head and body are written separately: without TCP_NODELAY, Nagle + the client's delayed ACK
    # would add 40 ms to every keep-alive answer (Envoy sets TCP_NODELAY too)
    disable_nagle_algorithm = True

    @property
    def backend(self) -> Backend:
        return self.server.backend  # type: ignore[attr-defined,no-any-return]

    def setup(self) -> None:
        super().setup()
        with self.backend.lock:
            self.backend.connections += 1

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        with self.backend.lock:
            self.backend.hosts.append(self.headers.get("Host", ""))
        handler = getattr(self, "_path_" + parts.path.strip("/"), None)
        if handler is None:
            self._answer(404, b"not found")
            return
        handler(query)

    def _answer(self, code: int, body: bytes, extra: dict[str, str] | None = None) -> None:
        self.send_response(code)  # adds "Server: istio-envoy" (version_string) and Date
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def version_string(self) -> str:
        return "istio-envoy"

    def _path_ok(self, q: dict[str, str]) -> None:
        extra = {"x-envoy-upstream-service-time": q["upstream"]} if "upstream" in q else {}
        self._answer(200, b"x" * int(q.get("size", "615")), extra)

    def _path_delay(self, q: dict[str, str]) -> None:
        self.backend.stop.wait(int(q.get("ms", "50")) / 1000)
        self._path_ok(q)

    def _path_status(self, q: dict[str, str]) -> None:
        self._answer(int(q.get("code", "200")), b"status")

    def _path_chunked(self, q: dict[str, str]) -> None:
        sizes = [int(s) for s in q.get("chunks", "5,300,1").split(",")]
        self.send_response(200)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for n in sizes:
            self.wfile.write(f"{n:x};ext=1\r\n".encode() + b"c" * n + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\nx-trailer: yes\r\n\r\n")

    def _path_close(self, q: dict[str, str]) -> None:
        self._answer(200, b"bye", {"connection": "close"})
        self.close_connection = True

    def _path_drop(self, q: dict[str, str]) -> None:
        self._answer(200, b"dropped after this")
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def _path_partial(self, q: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("content-length", "1000")
        self.end_headers()
        self.wfile.write(b"p" * 10)
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def _path_rst(self, q: dict[str, str]) -> None:
        # SO_LINGER with a zero timeout: close() sends RST instead of FIN
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    def _path_garbage(self, q: dict[str, str]) -> None:
        self.wfile.write(b"HELLO I AM NOT HTTP\r\n\r\n")
        self.close_connection = True

    def _path_hang(self, q: dict[str, str]) -> None:
        self.backend.stop.wait(60)
        self.close_connection = True

    def _path_interim(self, q: dict[str, str]) -> None:
        self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.wfile.flush()
        self._answer(200, b"after interim")


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # a probe that gives up on a slow answer closes its end: the write that follows fails by
        # design, and its traceback would only bury the test output
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def start_backend(ssl_context: object | None = None) -> tuple[Backend, threading.Thread]:
    server = _QuietServer(("127.0.0.1", 0), _Handler)
    if ssl_context is not None:
        server.socket = ssl_context.wrap_socket(server.socket, server_side=True)  # type: ignore[attr-defined]
    backend = Backend(server)
    server.backend = backend  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return backend, thread


def stop_backend(backend: Backend, thread: threading.Thread) -> None:
    backend.stop.set()
    backend.server.shutdown()
    backend.server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def backend() -> Iterator[Backend]:
    """A fresh backend per test (connection counts and hosts start at zero)."""
    server, thread = start_backend()
    try:
        yield server
    finally:
        stop_backend(server, thread)


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
