"""A deadline on a whole HTTP exchange (connect, TLS, headers, body), not on each socket read.

Socket timeouts bound one ``recv`` at a time, so a server that trickles one byte every two seconds,
or sends headers that never end, keeps a client waiting forever (urllib3's ``Timeout(total=…)``
bounds the connect and each read, not their sum). :func:`socket_deadline` arms a deadline that
shuts the exchange's socket down when it passes: the blocked read then returns at once, and
``watch.expired`` tells the caller why it failed. One watchdog thread serves every deadline of the
process (a thread per exchange cost ~0.2 ms, a few per cent of a sandbox list page), and it works
for requests sent from any thread (``signal.alarm`` only works in the main one).

With urllib3 (the Kubernetes client's transport, and manifest fetches), :func:`use_deadline_pools`
gives a pool manager connections that hand their sockets to the deadline armed in the sending
thread by :func:`socket_deadline`.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
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
    disarmed: bool = False
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
            if self.disarmed:  # finished as the deadline passed: nothing to cut
                return
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


class _Watchdog:
    """One daemon thread that expires the armed deadlines, earliest first."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, DeadlineWatch]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float, watch: DeadlineWatch) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + seconds, next(self._seq), watch))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="runbook-deadlines",
                                                daemon=True)
                self._thread.start()
            if self._heap[0][2] is watch:
                # only an earliest deadline changes when the watchdog must wake; a later one it
                # reaches in order. Waking it for every request costs the readers the GIL
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    if self._heap and self._heap[0][2].disarmed:
                        heapq.heappop(self._heap)  # finished in time: drop it
                        continue
                    self._cond.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                _, _, watch = heapq.heappop(self._heap)
            if not watch.disarmed:
                watch._expire()


_WATCHDOG = _Watchdog()


@contextlib.contextmanager
def socket_deadline(seconds: float | None) -> Iterator[DeadlineWatch]:
    """Arm a deadline of ``seconds`` (None or 0: none) for what this thread sends meanwhile
    through deadline pools, and for the sockets tracked on the watch."""
    watch = DeadlineWatch(seconds or 0.0)
    if not seconds or seconds <= 0:
        yield watch
        return
    previous = getattr(_ARMED, "watch", None)
    _ARMED.watch = watch
    _WATCHDOG.arm(seconds, watch)
    try:
        yield watch
    finally:
        with watch._lock:
            watch.disarmed = True
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
