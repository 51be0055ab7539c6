"""A deadline on a whole HTTP exchange (connect, TLS, headers, body), not on each socket read.

Socket timeouts bound one ``recv`` at a time, so a server that trickles one byte every two seconds,
or sends headers that never end, keeps a client waiting forever (urllib3's ``Timeout(total=…)``
bounds the connect and each read, not their sum). :func:`socket_deadline` arms a timer that shuts
the exchange's socket down when the deadline passes: the blocked read then returns at once, and
``watch.expired`` tells the caller why it failed. One timer thread per exchange is cheap next to an
HTTP round trip, and works in any thread (``signal.alarm`` only works in the main one).

With urllib3 (the Kubernetes client's transport, and manifest fetches), :func:`use_deadline_pools`
gives a pool manager connections that hand their sockets to the deadline armed in the sending
thread by :func:`socket_deadline`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import urllib3

from runbook import routing


@dataclass
class DeadlineWatch:
    """The state of one armed deadline: the sockets to cut and whether it expired."""

    seconds: float
    expired: bool = False
    _sockets: list[Callable[[], Iterable[socket.socket | None]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def track(self, sockets: Callable[[], Iterable[socket.socket | None]]) -> None:
        """Cut what ``sockets()`` returns (evaluated when the deadline passes) at expiry."""
        with self._lock:
            self._sockets.append(sockets)
            expired = self.expired
        if expired:
            self._cut(sockets)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            tracked = list(self._sockets)
        for sockets in tracked:
            self._cut(sockets)

    @staticmethod
    def _cut(sockets: Callable[[], Iterable[socket.socket | None]]) -> None:
        for sock in sockets():
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


#: the deadline armed in this thread (read by the connections below)
_ARMED = threading.local()


@contextlib.contextmanager
def socket_deadline(seconds: float | None) -> Iterator[DeadlineWatch]:
    """Arm a deadline of ``seconds`` (None or 0: none) for what this thread sends meanwhile
    through deadline pools, and for the sockets tracked on the watch."""
    watch = DeadlineWatch(seconds or 0.0)
    if not seconds or seconds <= 0:
        yield watch
        return
    timer = threading.Timer(seconds, watch._expire)
    timer.daemon = True
    previous = getattr(_ARMED, "watch", None)
    _ARMED.watch = watch
    timer.start()
    try:
        yield watch
    finally:
        timer.cancel()
        _ARMED.watch = previous


def _track(sockets: Callable[[], Iterable[socket.socket | None]]) -> None:
    watch = getattr(_ARMED, "watch", None)
    if watch is not None:
        watch.track(sockets)


class _DeadlineConnection(urllib3.connection.HTTPConnection):
    """Hands its sockets to the deadline armed in the sending thread."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _track(lambda: (sock,))  # the raw socket: cuts a stalled TLS handshake too
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _track(lambda: (self.sock,))  # a kept-alive connection never calls _new_conn again
        super().request(*args, **kwargs)


class _DeadlineHTTPSConnection(_DeadlineConnection, urllib3.connection.HTTPSConnection):
    pass


class _DeadlineHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _DeadlineConnection


class _DeadlineHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


def use_deadline_pools(manager: urllib3.PoolManager) -> None:
    """Make ``manager``'s connections deadline-aware (plain and HTTP-proxy managers; a SOCKS
    manager keeps its own pools, with per-operation timeouts only)."""
    if type(manager) in (urllib3.PoolManager, urllib3.ProxyManager):
        # an instance attribute: urllib3's module-level table stays untouched
        manager.pool_classes_by_scheme = {"http": _DeadlineHTTPPool, "https": _DeadlineHTTPSPool}


def parse_duration(text: str) -> float:
    """Seconds in a kubectl ``--request-timeout`` value: ``0`` (none), ``30`` (seconds), ``5s``,
    ``500ms``, ``1m30s`` — a Go duration, as Istio's (``runbook.routing``), or bare seconds.

    Raises:
        ValueError: anything else, or a negative value (the message says what is accepted).
    """
    value = text.strip()
    if value.isdigit():
        return float(value)
    try:
        return routing.parse_duration(value)
    except ValueError:
        raise ValueError(f"invalid duration {text!r}: use 0 (no limit), a number of seconds, or "
                         "a number with a unit, e.g. 5s, 500ms, 1m") from None


__all__ = ["DeadlineWatch", "parse_duration", "socket_deadline", "use_deadline_pools"]
