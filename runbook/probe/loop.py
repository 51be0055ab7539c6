"""The probe's event loop: one thread, non-blocking sockets, one row per request.

Used by :func:`runbook.probe.http.probe`, which checks the parameters and builds the samples table
from the rows (:mod:`runbook.probe.http` says why the probe runs its own loop).

Name resolution runs in a worker thread (so a slow resolver cannot stall the other connections),
is cached for 60 s like libcurl's default DNS cache, and names under ``.invalid`` are never looked
up: RFC 6761 §6.4 reserves them to fail, and resolvers "SHOULD" answer negatively without a query,
so the probe does exactly that (no packet leaves the machine). Proxies from the environment are not
used: a proxy would be measured instead of the gateway.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import select
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from runbook.probe.response import ProtocolError, ResponseParser
from runbook.probe.sockets import (
    BLOCKING_RECEIVE,
    DONTWAIT,
    READ,
    WRITE,
    Poller,
    address_text,
    block_with_receive_timeout,
    os_error_text,
    resolve_host,
    strerror_text,
)
from runbook.probe.target import ProbeTarget, is_invalid_tld

#: like libcurl's CURLOPT_DNS_CACHE_TIMEOUT default
DNS_CACHE_SECONDS = 60.0
#: how often ``on_progress`` is called at most
PROGRESS_INTERVAL = 0.1
#: how long the one-connection closed loop polls for an answer before it sleeps in recv (see
#: :func:`_poll_then_wait`): past a loopback answer (~30 µs here), far short of a network round trip
POLL_BEFORE_SLEEP_NS = 100_000

ProgressCallback = Callable[[int, "int | None", float], None]

_IDLE, _RESOLVING, _CONNECTING, _TLS, _SENDING, _RECEIVING = range(6)


def _poll_then_wait(recv_into: Callable[..., int], view: memoryview, until_ns: int) -> int:
    """Receive on the solo connection's blocking socket: poll (``MSG_DONTWAIT``) until ``until_ns``,
    then sleep in ``recv`` (which gives up after its SO_RCVTIMEO with BlockingIOError).

    A thread that sleeps until the answer wakes its idle CPU on arrival, and that wake-up is the
    client's cost, not the server's: ~50 µs of a 75 µs loopback p50 on a 2-vCPU VM, where polling
    measures 30 µs. Each miss yields the CPU, so a server that shares it runs at once (without the
    yield its p99 tripled in that placement). An answer later than the bound costs the sleep it
    always did, plus the bound in CPU.
    """
    perf = time.perf_counter_ns
    yield_cpu = os.sched_yield
    while True:
        try:
            return recv_into(view, 0, DONTWAIT)
        except BlockingIOError:
            if perf() >= until_ns:
                return recv_into(view)
            yield_cpu()


class _Request:
    __slots__ = ("bytes", "conn_id", "connected", "dns_done", "done", "error", "error_kind", "first",
                 "intended", "retried", "reused", "seq", "server", "start", "status", "tls_done",
                 "upstream")

    def __init__(self, seq: int, intended: int, start: int) -> None:
        self.seq = seq
        self.intended = intended
        self.start = start
        self.dns_done = start
        self.connected = start
        self.tls_done = start
        self.first = 0
        self.done = 0
        self.status = 0
        self.bytes = 0
        self.server = ""
        self.upstream: float | None = None
        self.conn_id = 0
        self.reused = False
        self.retried = False
        self.error_kind = ""
        self.error = ""


class _Conn:
    __slots__ = ("addr_index", "addrs", "fd", "flags", "id", "mask", "parser", "recv_into", "req", "slot",
                 "sock", "state", "wait_recv_into", "wbuf")

    def __init__(self, conn_id: int, slot: int, head_request: bool) -> None:
        self.id = conn_id
        self.slot = slot
        self.sock: socket.socket | None = None
        # sock.recv_into for plain TCP (the fast path: into the loop's buffer, no allocation)
        self.recv_into: Callable[[memoryview], int] | None = None
        # the solo connection's blocking recv_into (see ProbeLoop.solo); its other I/O passes DONTWAIT
        self.wait_recv_into: Callable[..., int] | None = None
        self.flags = 0  # send/recv flags: DONTWAIT on plain TCP, 0 on TLS (ssl refuses flags)
        self.fd = -1
        self.state = _IDLE
        self.mask = 0
        self.req: _Request | None = None
        self.parser = ResponseParser(head_request)
        self.addrs: list[tuple[Any, ...]] = []
        self.addr_index = 0
        self.wbuf = b""


#: stands for "no such fd" in the loop's fd map lookups
_NO_CONN = _Conn(-1, -1, False)


class ProbeLoop:
    """One run: the selector, the connections, the schedule and the rows."""

    def __init__(self, target: ProbeTarget, *, count: int | None, duration: float | None, concurrency: int,
                 qps: float | None, timeout: float, verify_tls: bool, head_request: bool,
                 on_progress: ProgressCallback | None, stop: threading.Event | None = None) -> None:
        self.t = target
        self.stop = stop
        self.stopped = False
        self.count = count
        self.duration = duration
        self.concurrency = concurrency
        self.qps = qps
        self.timeout_ns = int(timeout * 1e9)
        self.timeout = timeout
        self.head_request = head_request
        self.on_progress = on_progress
        self.poller = Poller()
        self.fdmap: dict[int, _Conn | None] = {}  # fd → its connection (None: the resolver's wake-up)
        self.free: deque[int] = deque(range(concurrency))
        self.conns: list[_Conn | None] = [None] * concurrency
        self.next_conn_id = 1
        self.finished: list[_Request] = []  # in the order they finished
        # Timeouts are found by scanning the connections this often (no per-request timer: the
        # bookkeeping would cost more than the precision is worth; a timeout is seconds, this is ≤ 10 ms).
        self.check_every = min(0.01, timeout / 20)
        self.check_every_ns = int(self.check_every * 1e9)
        self.next_check = 0
        self.inflight = 0
        self.next_seq = 0
        self.ssl_ctx: ssl.SSLContext | None = None
        # One connection and no schedule (the closed loop that measures latency): the loop waits for
        # the answer in recv() itself, not in epoll_wait() then recv() — one syscall less between
        # the two timestamps of every request. The wait gives up after check_every (SO_RCVTIMEO), so
        # timeouts, progress and stop are checked exactly as often as with the poller.
        self.solo = concurrency == 1 and not qps and target.scheme != "https" and BLOCKING_RECEIVE
        if target.scheme == "https":
            ctx = ssl.create_default_context()
            if not verify_tls:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["http/1.1"])
            self.ssl_ctx = ctx
        self.dns_cache: dict[str, tuple[list[tuple[Any, ...]], int]] = {}
        self.resolver: ThreadPoolExecutor | None = None
        self.resolved: deque[tuple[_Conn, _Request, Future[list[tuple[Any, ...]]]]] = deque()
        self.wake_r: socket.socket | None = None
        self.wake_w: socket.socket | None = None
        self.period_ns = 1e9 / qps if qps else 0.0
        if qps:
            planned = []
            if count is not None:
                planned.append(count)
            if duration is not None:
                planned.append(math.ceil(duration * qps - 1e-9))
            self.scheduled: int | None = min(planned)
        else:
            self.scheduled = None
        self.t0 = 0
        self.last_done = 0
        self.started_at = datetime.now(UTC)
        self.run_deadline: int | None = None

    # ---- scheduling

    def _want_more(self, now: int) -> bool:
        if self.run_deadline is not None and now >= self.run_deadline:
            return False
        if self.stop is not None and self.stop.is_set():
            if self.scheduled is not None and not self.stopped:
                # the schedule ends where it was stopped: what was due by then stays "scheduled"
                # (unsent = the client fell behind), what was not due is not part of the run
                due = int((now - self.t0) // self.period_ns) + 1 if now >= self.t0 else 0
                self.scheduled = min(self.scheduled, max(self.next_seq, due))
            self.stopped = True
            return False  # requests in flight still finish
        if self.scheduled is not None:
            return self.next_seq < self.scheduled
        return self.count is None or self.next_seq < self.count

    def _start_due(self, now: int) -> None:
        while self.free and self._want_more(now):
            if self.qps:
                intended = self.t0 + int(self.next_seq * self.period_ns)
                if intended > now:
                    return
            else:
                intended = now
            # the slot freed last holds an open idle connection; the others are opened only when
            # every open one is busy, so a schedule gets as many connections as it needs
            slot = self.free.pop()
            req = _Request(self.next_seq, intended, now)
            self.next_seq += 1
            self.inflight += 1
            self._begin(slot, req, now)
            if not self.free:
                return  # the usual case: back to the wait without more work in the measured window
            now = time.perf_counter_ns()

    def _next_wake(self, now: int) -> float | None:
        """Seconds until something is due (a scheduled send, a timeout), None when nothing is."""
        due: int | None = self.next_check if self.inflight else None
        if self.qps and self.free and self._want_more(now):
            send_at = self.t0 + int(self.next_seq * self.period_ns)
            due = send_at if due is None else min(due, send_at)
        if due is None:
            return PROGRESS_INTERVAL if self.on_progress else None
        wait = max(0.0, (due - now) / 1e9)
        if self.on_progress:
            wait = min(wait, PROGRESS_INTERVAL)
        return wait

    def _wait(self, timeout: float | None) -> list[tuple[int, int]]:
        # epoll/selectors round timeouts up to whole milliseconds, which would make scheduled sends
        # late by up to 1 ms. So long waits stop ≥ 1 ms early, and the last stretch (< 2 ms) is waited
        # with select() on the poller's own fd, which has microsecond resolution.
        poller = self.poller
        if timeout is None or timeout == 0 or poller.fileno is None:
            return poller.poll(timeout)
        if timeout >= 0.002:
            # (whole ms − 1.5 ms): the poller's ceil() then waits exactly (whole ms − 1) ms
            return poller.poll((math.floor(timeout * 1e3) - 1.5) / 1e3)
        ready, _, _ = select.select([poller.fileno], [], [], timeout)
        return poller.poll(0) if ready else []

    # ---- connections

    def _set_mask(self, conn: _Conn, mask: int) -> None:
        if conn.mask == mask or conn.sock is None:
            return
        if conn.mask == 0:
            self.poller.register(conn.fd, mask)
            self.fdmap[conn.fd] = conn
        elif mask == 0:
            self.poller.unregister(conn.fd)
            self.fdmap.pop(conn.fd, None)
        else:
            self.poller.modify(conn.fd, mask)
        conn.mask = mask

    def _close(self, conn: _Conn) -> None:
        if conn.sock is not None:
            if conn.mask:
                self.fdmap.pop(conn.fd, None)
                with contextlib.suppress(KeyError, ValueError, OSError):
                    self.poller.unregister(conn.fd)
            with contextlib.suppress(OSError):
                conn.sock.close()
        conn.sock = None
        conn.recv_into = conn.wait_recv_into = None
        conn.mask = 0
        conn.state = _IDLE
        if self.conns[conn.slot] is conn:
            self.conns[conn.slot] = None

    def _begin(self, slot: int, req: _Request, now: int) -> None:
        conn = self.conns[slot]
        if conn is not None and conn.sock is not None and conn.state == _IDLE:
            req.reused = True
            req.conn_id = conn.id
            conn.req = req
            self._send(conn, restamp=True)
            return
        self._open(slot, req, now)

    def _open(self, slot: int, req: _Request, now: int) -> None:
        conn = _Conn(self.next_conn_id, slot, self.head_request)
        self.next_conn_id += 1
        self.conns[slot] = conn
        conn.req = req
        req.reused = False
        t = self.t
        if t.literal:
            family = socket.AF_INET6 if ":" in t.host else socket.AF_INET
            conn.addrs = [(family, (t.host, t.port))]
            self._connect(conn, now)
            return
        if is_invalid_tld(t.host):
            self._fail(conn, "dns", f"could not resolve host {t.host}: names under .invalid never resolve "
                                    "(RFC 6761; not looked up)", now)
            return
        cached = self.dns_cache.get(t.host)
        if cached is not None and cached[1] > now:
            conn.addrs = cached[0]
            self._connect(conn, now)
            return
        conn.state = _RESOLVING
        if self.resolver is None:
            self.resolver = ThreadPoolExecutor(max_workers=min(4, self.concurrency),
                                               thread_name_prefix="probe-dns")
            self.wake_r, self.wake_w = socket.socketpair()
            self.wake_r.setblocking(False)
            self.wake_w.setblocking(False)
            self.poller.register(self.wake_r.fileno(), READ)
            self.fdmap[self.wake_r.fileno()] = None
        future = self.resolver.submit(resolve_host, t.host, t.port)
        wake_w = self.wake_w

        def done(f: Future[list[tuple[Any, ...]]], conn: _Conn = conn, req: _Request = req) -> None:
            self.resolved.append((conn, req, f))  # deque.append is thread-safe
            with contextlib.suppress(OSError):
                if wake_w is not None:
                    wake_w.send(b"\0")

        future.add_done_callback(done)

    def _on_resolved(self) -> None:
        assert self.wake_r is not None
        with contextlib.suppress(OSError):
            while self.wake_r.recv(4096):
                pass
        while self.resolved:
            conn, req, future = self.resolved.popleft()
            now = time.perf_counter_ns()
            if conn.req is not req or req.done:
                continue  # timed out while resolving
            req.dns_done = now
            exc = future.exception()
            if exc is not None:
                self._fail(conn, "dns", f"could not resolve host {self.t.host}: {os_error_text(exc)}", now)
                continue
            conn.addrs = future.result()
            self.dns_cache[self.t.host] = (conn.addrs, now + int(DNS_CACHE_SECONDS * 1e9))
            self._connect(conn, now)

    def _connect(self, conn: _Conn, now: int) -> None:
        req = conn.req
        assert req is not None
        family, sockaddr = conn.addrs[conn.addr_index]
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError as exc:
            self._fail(conn, "other", f"cannot create a socket: {os_error_text(exc)}", now)
            return
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sock = sock
        conn.fd = sock.fileno()
        conn.recv_into = sock.recv_into if self.ssl_ctx is None else None
        conn.flags = DONTWAIT if self.ssl_ctx is None else 0
        err = sock.connect_ex(sockaddr)
        if err in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY):
            conn.state = _CONNECTING
            self._set_mask(conn, WRITE)
            return
        self._connect_failed(conn, err, now)

    def _connect_failed(self, conn: _Conn, err: int, now: int) -> None:
        assert conn.req is not None
        where = address_text(conn.addrs[conn.addr_index][1])
        if conn.addr_index + 1 < len(conn.addrs):
            # like curl: try the next address of the name before giving up
            self._close(conn)
            self.conns[conn.slot] = conn
            conn.addr_index += 1
            self._connect(conn, time.perf_counter_ns())
            return
        text = f"{errno.errorcode.get(err, err)} {where}: {strerror_text(err)}"
        if err == errno.ECONNREFUSED:
            self._fail(conn, "refused", f"connection refused by {where}", now)
        elif err == errno.ETIMEDOUT:
            self._fail(conn, "timeout", f"connect to {where} timed out", now)
        elif err in (errno.ECONNRESET, errno.ECONNABORTED):
            self._fail(conn, "reset", f"connection reset by {where} while connecting", now)
        else:
            self._fail(conn, "other", f"cannot connect: {text}", now)

    def _on_connected(self, conn: _Conn, now: int) -> None:
        assert conn.sock is not None and conn.req is not None
        err = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._connect_failed(conn, err, now)
            return
        conn.req.conn_id = conn.id  # established: from here on the row names its connection
        conn.req.connected = now
        conn.req.tls_done = now
        if self.ssl_ctx is not None:
            self._set_mask(conn, 0)
            try:
                conn.sock = self.ssl_ctx.wrap_socket(conn.sock, server_hostname=self.t.tls_name,
                                                     do_handshake_on_connect=False)
            except (ssl.SSLError, ValueError, OSError) as exc:
                self._fail(conn, "tls", f"TLS setup failed: {os_error_text(exc)}", now)
                return
            conn.state = _TLS
            self._handshake(conn)
            return
        if self.solo:
            try:
                block_with_receive_timeout(conn.sock, self.check_every)
            except OSError:
                pass  # stays non-blocking: the poller waits for it instead
            else:
                conn.wait_recv_into = conn.sock.recv_into
                conn.recv_into = None  # the inline receive would block now; _on_readable passes DONTWAIT
        self._send(conn)

    def _handshake(self, conn: _Conn) -> None:
        sock = conn.sock
        assert isinstance(sock, ssl.SSLSocket) and conn.req is not None
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            self._set_mask(conn, READ)
            return
        except ssl.SSLWantWriteError:
            self._set_mask(conn, WRITE)
            return
        except ssl.SSLCertVerificationError as exc:
            self._fail(conn, "tls", f"TLS certificate not accepted: {exc.verify_message or exc}",
                       time.perf_counter_ns())
            return
        except (ssl.SSLError, OSError) as exc:
            self._fail(conn, "tls", f"TLS handshake failed: {os_error_text(exc)}", time.perf_counter_ns())
            return
        conn.req.tls_done = time.perf_counter_ns()
        self._send(conn)

    def _send(self, conn: _Conn, *, restamp: bool = False) -> None:
        req = conn.req
        sock = conn.sock
        assert req is not None and sock is not None
        data = self.t.request
        start = time.perf_counter_ns()
        try:
            n = sock.send(data, conn.flags)
        except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            n = 0
        except OSError as exc:
            n = -1
            error = exc
        if restamp:
            # a request on an idle keep-alive connection starts when its bytes go out; when the server
            # runs on this CPU its answer is already waiting here, so keep the work after send() small
            req.start = start
        if n < 0:
            self._transport_error(conn, error, time.perf_counter_ns())
            return
        if n == len(data):
            conn.state = _RECEIVING
            if conn.mask != READ:
                self._set_mask(conn, READ)
            return
        conn.wbuf = data[n:]
        conn.state = _SENDING
        self._set_mask(conn, WRITE)

    def _on_writable_sending(self, conn: _Conn) -> None:
        sock = conn.sock
        assert sock is not None
        try:
            n = sock.send(conn.wbuf, conn.flags)
        except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            return
        except OSError as exc:
            self._transport_error(conn, exc, time.perf_counter_ns())
            return
        conn.wbuf = conn.wbuf[n:]
        if not conn.wbuf:
            conn.state = _RECEIVING
            self._set_mask(conn, READ)

    def _on_readable(self, conn: _Conn) -> None:
        """Read what arrived (the general path: TLS, idle connections, errors)."""
        sock = conn.sock
        assert sock is not None
        while True:
            try:
                data = sock.recv(65536, conn.flags)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                data = b""  # TLS close (with or without close_notify): the connection ended
            except OSError as exc:
                self._recv_error(conn, exc)
                return
            if not self._on_data(conn, data, time.perf_counter_ns()):
                return
            # TLS can hold decrypted bytes that no longer show as readable on the socket
            if not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
                return

    def _recv_error(self, conn: _Conn, exc: OSError) -> None:
        if conn.state == _IDLE:
            self._close(conn)
        else:
            self._transport_error(conn, exc, time.perf_counter_ns())

    def _on_data(self, conn: _Conn, data: bytes, now: int) -> bool:
        """Handle received bytes (``now``: taken right after recv returned, before any parsing).

        Returns:
            True when the response is still incomplete (more may be read).
        """
        req = conn.req
        if conn.state != _RECEIVING or req is None:
            # an idle keep-alive connection: the server closed it (or sent junk) — drop it
            self._close(conn)
            return False
        parser = conn.parser
        if not data:
            if parser.eof():
                req.done = now
                self._complete(conn, now)
            else:
                self._closed_early(conn, now)
            return False
        if not req.first:
            req.first = now
        try:
            complete = parser.feed(data)
        except ProtocolError as exc:
            self._fail(conn, "http_protocol", str(exc), now, keep_status=True)
            return False
        if complete:
            req.done = now
            self._complete(conn, now)
            return False
        return True

    def _closed_early(self, conn: _Conn, now: int) -> None:
        req = conn.req
        parser = conn.parser
        assert req is not None
        if req.reused and not parser.received and not req.retried:
            self._retry(conn, now)
            return
        if not parser.received:
            text = "server closed the connection without answering (empty reply)"
        elif parser.status:
            text = f"server closed the connection after {parser.body_bytes} body bytes (response incomplete)"
        else:
            text = "server closed the connection in the middle of the response head"
        self._fail(conn, "reset", text, now, keep_status=True)

    def _retry(self, conn: _Conn, now: int) -> None:
        # A keep-alive connection the server had already closed: curl retries such a request once on
        # a fresh connection; so does the probe. The time lost stays in this request's total.
        req = conn.req
        assert req is not None
        req.retried = True
        req.conn_id = 0
        self._close(conn)
        self._open(conn.slot, req, now)

    def _transport_error(self, conn: _Conn, exc: OSError, now: int) -> None:
        req = conn.req
        assert req is not None
        if isinstance(exc, ssl.SSLError):
            self._fail(conn, "tls", f"TLS error: {os_error_text(exc)}", now, keep_status=True)
            return
        err = exc.errno or 0
        if err in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
            if req.reused and not conn.parser.received and not req.retried:
                self._retry(conn, now)
                return
            got = f" after {conn.parser.body_bytes} body bytes" if conn.parser.status else ""
            self._fail(conn, "reset", f"connection reset by peer{got}", now, keep_status=True)
        elif err == errno.ETIMEDOUT:
            self._fail(conn, "timeout", f"connection timed out: {os_error_text(exc)}", now, keep_status=True)
        else:
            self._fail(conn, "other", os_error_text(exc), now, keep_status=True)

    # ---- finishing requests

    def _complete(self, conn: _Conn, now: int) -> None:
        req = conn.req
        parser = conn.parser
        assert req is not None
        req.status = parser.status
        req.bytes = parser.body_bytes
        req.server = parser.server
        req.upstream = parser.upstream_ms
        self._record(req)
        conn.req = None
        if parser.keep_alive and conn.sock is not None:
            conn.state = _IDLE  # stays registered for reading: notices a server-side close
            parser.reset()
        else:
            self._close(conn)
        self.free.append(conn.slot)

    def _fail(self, conn: _Conn, kind: str, text: str, now: int, *, keep_status: bool = False) -> None:
        req = conn.req
        assert req is not None
        req.error_kind = kind
        req.error = " ".join(text.split())
        req.done = now
        if keep_status:
            req.status = conn.parser.status
            req.bytes = conn.parser.body_bytes
            req.server = conn.parser.server
            req.upstream = conn.parser.upstream_ms
        self._record(req)
        conn.req = None
        self._close(conn)
        self.free.append(conn.slot)

    def _record(self, req: _Request) -> None:
        # Only the request's raw clock readings are kept here: this runs between a response and the
        # next request, so turning them into a row waits until the run is over (see _row).
        self.inflight -= 1
        if req.done > self.last_done:
            self.last_done = req.done
        self.finished.append(req)

    def _row(self, req: _Request) -> tuple[Any, ...]:
        """A finished request as a row of :data:`runbook.probe.http.COLUMNS`."""
        t0 = self.t0
        start = req.start
        total = (req.done - start) / 1e6
        if self.qps:
            latency = (req.done - req.intended) / 1e6
            intended = (req.intended - t0) / 1e9
        else:
            latency = total
            intended = (start - t0) / 1e9
        if req.reused:
            dns = connect = tls = 0.0  # nothing to set up on an open keep-alive connection
        else:
            dns = (req.dns_done - start) / 1e6
            connect = (req.connected - req.dns_done) / 1e6 if req.connected >= req.dns_done else 0.0
            tls = (req.tls_done - req.connected) / 1e6 if req.tls_done >= req.connected else 0.0
        return (
            req.seq, req.conn_id, req.reused, intended, (start - t0) / 1e9, dns, connect, tls,
            (req.first - start) / 1e6 if req.first else math.nan,
            total, latency, req.status, req.bytes, req.server,
            math.nan if req.upstream is None else req.upstream,
            req.error_kind, req.error,
        )

    def _expire(self, now: int) -> None:
        """Fail the requests that have run longer than the timeout."""
        self.next_check = now + self.check_every_ns
        limit = now - self.timeout_ns
        for conn in self.conns:
            if conn is None:
                continue
            req = conn.req
            if req is None or req.done or req.start > limit:
                continue
            waited = f"{self.timeout * 1000:.0f} ms"
            if conn.state == _RESOLVING:
                what = "resolving the host name"  # the resolver's late answer is ignored (req.done)
            elif conn.state == _CONNECTING:
                what = "connecting"
            elif conn.state == _TLS:
                what = "the TLS handshake"
            elif not conn.parser.received:
                what = "waiting for the response (0 bytes received)"
            else:
                what = f"receiving the response ({conn.parser.body_bytes} body bytes so far)"
            self._fail(conn, "timeout", f"timed out after {waited} {what}", now, keep_status=True)

    # ---- the run

    def run(self) -> list[tuple[Any, ...]]:
        """Run to the end and return the rows; sets ``t0``, ``started_at`` and ``last_done``."""
        wait = self._wait
        poll = self.poller.poll
        perf = time.perf_counter_ns
        fdmap = self.fdmap
        missing = _NO_CONN
        # Without a schedule only request timeouts are timers: wake at least this often to check them
        # (a constant keeps the wait — which is in the measured window — free of arithmetic).
        coarse = None if self.qps else self.check_every
        solo = self.conns if self.solo else None
        poll_ns = POLL_BEFORE_SLEEP_NS
        events: list[tuple[int, int]]
        no_events: list[tuple[int, int]] = []
        # Plain TCP answers are received into one buffer and copied out after the receive timestamp:
        # recv(65536) would allocate 64 KiB (and shrink it) between the two timestamps of a request.
        view = memoryview(bytearray(65536))
        last_progress = 0
        self.started_at = datetime.now(UTC)
        self.t0 = self.last_done = time.perf_counter_ns()
        self.next_check = self.t0 + self.check_every_ns
        # each pass reads the clock once at its end, and the next pass starts requests with that reading
        now = self.t0
        if self.duration is not None:
            self.run_deadline = self.t0 + int(self.duration * 1e9)
        try:
            while True:
                if self.free:
                    self._start_due(now)
                if not self.inflight and not self._want_more(perf()):
                    break
                conn = solo[0] if solo is not None else None
                if conn is not None and conn.state == _RECEIVING and conn.wait_recv_into is not None:
                    events = no_events
                    req = conn.req
                    assert req is not None  # a receiving connection has its request
                    try:
                        n = _poll_then_wait(conn.wait_recv_into, view, req.start + poll_ns)
                    except BlockingIOError:
                        pass  # nothing within check_every: timeouts, progress and stop are checked below
                    except OSError as exc:
                        self._recv_error(conn, exc)
                    else:
                        now = perf()
                        self._on_data(conn, view[:n].tobytes(), now)
                else:
                    events = poll(coarse) if coarse is not None else wait(self._next_wake(perf()))
                for fd, _events in events:
                    conn = fdmap.get(fd, missing)
                    if conn is missing:
                        continue  # closed while handling an earlier event of this batch
                    if conn is None:
                        self._on_resolved()
                        continue
                    state = conn.state
                    recv_into = conn.recv_into
                    if state == _RECEIVING and recv_into is not None:
                        # the common case, inline: plain TCP, a response arriving
                        try:
                            n = recv_into(view)
                        except BlockingIOError:
                            continue
                        except OSError as exc:
                            self._recv_error(conn, exc)
                            continue
                        now = perf()
                        self._on_data(conn, view[:n].tobytes(), now)
                    elif state in (_RECEIVING, _IDLE):
                        self._on_readable(conn)
                    elif state == _CONNECTING:
                        self._on_connected(conn, time.perf_counter_ns())
                    elif state == _TLS:
                        self._handshake(conn)
                    elif state == _SENDING:
                        self._on_writable_sending(conn)
                now = perf()
                if now >= self.next_check:
                    self._expire(now)
                if self.on_progress is not None and now - last_progress >= PROGRESS_INTERVAL * 1e9:
                    last_progress = now
                    self.on_progress(len(self.finished), self.planned, (now - self.t0) / 1e9)
            if self.on_progress is not None:
                self.on_progress(len(self.finished), self.planned, (self.last_done - self.t0) / 1e9)
        finally:
            self.close()
        return [self._row(req) for req in self.finished]

    @property
    def planned(self) -> int | None:
        """Requests the run will send at most (None when only a duration bounds it)."""
        return self.scheduled if self.scheduled is not None else self.count

    def close(self) -> None:
        for conn in self.conns:
            if conn is not None:
                self._close(conn)
        if self.resolver is not None:
            self.resolver.shutdown(wait=False, cancel_futures=True)
        for s in (self.wake_r, self.wake_w):
            if s is not None:
                with contextlib.suppress(OSError):
                    s.close()
        self.poller.close()


__all__ = ["DNS_CACHE_SECONDS", "PROGRESS_INTERVAL", "ProbeLoop", "ProgressCallback"]
