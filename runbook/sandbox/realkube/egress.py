"""The apiserver's way into the "cluster network": an HTTP CONNECT proxy on a Unix socket.

kube-apiserver dials admission webhooks (endpoint addresses, ``--enable-aggregator-routing``)
and kubelets (``kubectl logs``) through its ``cluster`` egress selector; the engine configures
that selector as ``HTTPConnect`` over this socket. A pod or node address is only a name here:
the proxy maps ``IP:port`` to a listener of the engine on 127.0.0.1, and dials nothing else, so no
packet leaves the machine and no network namespace or root is needed. An address without a
listener gets ``503`` with the reason a pod network gives for a port nobody listens on
(``dial tcp <ip>:<port>: connect: connection refused``), which the apiserver reports inside its
proxy error for that address.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path

MAX_HEADER_BYTES = 16384


class EgressProxy:
    """CONNECT ``ip:port`` → ``127.0.0.1:<local port>`` for the routes added."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self._routes: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self._server: asyncio.base_events.Server | None = None
        self.dialed: list[str] = []  # what the apiserver asked for (newest last, bounded)

    def add_route(self, ip: str, port: int, local_port: int) -> None:
        with self._lock:
            self._routes[(ip, port)] = local_port

    def remove_route(self, ip: str, port: int) -> None:
        with self._lock:
            self._routes.pop((ip, port), None)

    def route(self, ip: str, port: int) -> int | None:
        with self._lock:
            return self._routes.get((ip, port))

    async def start(self) -> None:
        self.socket_path.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(self._handle, path=str(self.socket_path))
        self.socket_path.chmod(0o600)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        self.socket_path.unlink(missing_ok=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        request = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        local = None
        target = request[1] if len(request) == 3 and request[0] == "CONNECT" else ""
        host, _, port_text = target.rpartition(":")
        if port_text.isdigit():
            local = self.route(host.strip("[]"), int(port_text))
            self.dialed = [*self.dialed[-99:], target]
        if local is None:
            # the target is only a name, never parsed into the reply: printable ASCII only
            shown = "".join(ch for ch in target if " " < ch < "\x7f")[:100]
            writer.write(f"HTTP/1.1 503 dial tcp {shown}: connect: connection refused\r\n"
                         "Content-Length: 0\r\n\r\n".encode("ascii"))
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", local)
        except OSError:
            writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


__all__ = ["EgressProxy"]
