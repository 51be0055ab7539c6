"""The HTTP probe: bounded, honest latency measurements against one URL, errors kept as rows.

Method (DESIGN.md › Probe method; anchors: curl ``-w`` phases, wrk/wrk2, fortio, hey):

* Requests go to the URL with an optional ``Host:`` header (the field report's
  ``curl -HHost:bookinfo-gateway.test http://$INGRESS_HOST:$INGRESS_PORT/productpage``), over
  ``concurrency`` keep-alive HTTP/1.1 connections.
* Without ``qps`` it is a closed loop (like wrk/hey): each connection sends its next request as soon
  as the previous answer is complete.
* With ``qps`` there is one schedule of intended send times ``i / qps`` shared by all connections
  (like wrk2): a request whose time has come takes the connection freed last, opens another one
  when all are busy (up to ``concurrency``; by default as many as the schedule needs), or waits;
  its ``latency_ms`` counts from the intended time, so a slow server cannot hide the requests it
  delayed ("coordinated omission"). ``summary()`` reports requested vs achieved rate, how late
  requests left, and whether the schedule was kept (:func:`runbook.probe.stats.verdict`).
* An answer with a status outside 1xx–3xx (and ``accept_status``) is a failed request
  (``error_kind`` ``http_<status>``): statistics then describe the requests that were served.
* Every run is bounded by ``count`` and/or ``duration``; each request by ``timeout``.
* Failures are rows (``error_kind`` refused/timeout/reset/dns/tls/http_protocol/other), never an
  exception in the middle of a run; only bad parameters raise :class:`~runbook.errors.ProbeError`
  (an :class:`~runbook.errors.InputError`) before anything is sent.

Why a small event loop over raw sockets and not a client library — measured on this project's CI
machine (2 vCPU VM, shared) against nginx serving a 615-byte page on 127.0.0.1, one keep-alive
connection, p50 of the time from sending the request to the last byte received, five interleaved
1-second rounds per client (``benchmarks/probe_bench.py`` re-measures wrk, this probe and pycurl):

=========================================================  =======  ===============
client                                                     best     median (µs)
=========================================================  =======  ===============
``wrk -t1 -c1 --latency``                                  12.0     13.0
this module (non-blocking socket + epoll, one thread)      13.8     14.7
blocking ``send``/``recv`` loop, no parsing                11.6     12.1
pycurl, one reused easy handle (libcurl ``TOTAL_TIME_T``)  22.0     35.0
pycurl multi + ``socket_action`` + epoll                   32.7     48.0
``http.client``                                            86.9     93.4
=========================================================  =======  ===============

libcurl spends 10–25 µs more per request inside ``perform()`` (transfer setup, connection-cache
checks, ``poll`` plus a failing ``read`` per request, seen with ``strace -c``): 1.7–2.7× wrk. A
blocking loop is as fast for one connection but cannot run several connections, a schedule and
timeouts in one thread (threads would put the GIL inside the measured time; in an earlier session
it measured 40 µs against 22 µs for epoll, depending on where the scheduler placed nginx). So the
probe runs its own loop: one thread, non-blocking sockets, ``epoll`` directly on Linux (1.5 µs per
ready wait from Python, against 2.8 µs through ``selectors``, which is the fallback elsewhere), a
small HTTP/1.1 parser (:mod:`runbook.probe.response`), timestamps taken right after ``recv``
returns (before any parsing), no bookkeeping between ``send`` and the wait that could be done
later, and the garbage collector paused for the run (as ``timeit`` does) so that collections do
not show up as latency.

Phases follow curl's ``-w`` variables, all from the request's start: ``dns_ms``
(``time_namelookup``), ``connect_ms`` (TCP handshake: ``time_connect − time_namelookup``),
``tls_ms`` (``time_appconnect − time_connect``), ``ttfb_ms`` (``time_starttransfer``) and
``total_ms`` (``time_total``); on a reused connection the first three are 0.

Name resolution runs in a worker thread (so a slow resolver cannot stall the other connections),
is cached for 60 s like libcurl's default DNS cache, and names under ``.invalid`` are never looked
up: RFC 6761 §6.4 reserves them to fail, and resolvers "SHOULD" answer negatively without a query,
so the probe does exactly that (no packet leaves the machine). Proxies from the environment are not
used: a proxy would be measured instead of the gateway.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gc
import ipaddress
import math
import os
import re
import select
import selectors
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import metadata
from typing import TYPE_CHECKING, Any

from runbook.errors import ProbeError
from runbook.probe.response import ProtocolError, ResponseParser
from runbook.redaction import redact_url

if TYPE_CHECKING:
    import pandas as pd

# pandas (and the statistics over it) are imported where a run's samples are built or read: the
# command line's `runbook probe --help` imports this module for its defaults

#: the kinds of failure a row can carry (``error_kind``); "" means the request got a full response
ERROR_KINDS = ("refused", "timeout", "reset", "dns", "tls", "http_protocol", "other")

#: columns of :attr:`ProbeRun.samples`, in order (documented on :class:`ProbeRun`)
COLUMNS = (
    "seq", "connection_id", "reused", "intended_start", "actual_start", "dns_ms", "connect_ms",
    "tls_ms", "ttfb_ms", "total_ms", "latency_ms", "status", "bytes", "server", "upstream_ms",
    "error_kind", "error",
)

DEFAULT_TIMEOUT = 5.0
#: longest probe run, and longest QPS schedule (a day): run time must fit the clocks' arithmetic
MAX_DURATION_S = 86400.0
#: the QPS range: at least one request a day, at most what one loop could ever send
MIN_QPS, MAX_QPS = 1 / MAX_DURATION_S, 1e6
#: longest per-request timeout (an hour)
MAX_TIMEOUT_S = 3600.0
MAX_CONCURRENCY = 1000
#: connections a ``qps`` schedule may open when none are given: enough for ``qps × timeout``
#: requests in flight (each lasts at most the timeout), but no more than this
MAX_AUTO_CONNECTIONS = 256
#: HTTP statuses that count as served by default (1xx–3xx); any other answer is a failure, as
#: availability SLOs count them: a fast 503 or 404 is not a fast service
SERVED_STATUSES = range(100, 400)
#: like libcurl's CURLOPT_DNS_CACHE_TIMEOUT default
DNS_CACHE_SECONDS = 60.0
#: how often ``on_progress`` is called at most
PROGRESS_INTERVAL = 0.1
_PR_SET_TIMERSLACK, _PR_GET_TIMERSLACK = 29, 30  # <linux/prctl.h>

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 9110 §5.6.2 token

try:
    _VERSION = metadata.version("mesh-runbook")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    _VERSION = "0"
USER_AGENT = f"mesh-runbook-probe/{_VERSION}"

ProgressCallback = Callable[[int, "int | None", float], None]


# --------------------------------------------------------------------------------------------
# the result


@dataclass
class ProbeRun:
    """One probe run: its samples, what was asked for, and its summary.

    ``samples`` has one row per request, ordered by ``seq``:

    ============== =========================================================================
    seq            0-based request number (= position in the QPS schedule)
    connection_id  1-based id of the TCP connection used (0: none was established)
    reused         True when the request went over an already open keep-alive connection
    intended_start seconds from the run start at which the request was due (QPS schedule);
                   equal to ``actual_start`` without a schedule
    actual_start   seconds from the run start at which the probe started the request
    dns_ms         name resolution (0 for IP literals, cached names and reused connections)
    connect_ms     TCP handshake
    tls_ms         TLS handshake (0 for http)
    ttfb_ms        from ``actual_start`` to the first response byte (NaN when none arrived)
    total_ms       from ``actual_start`` to the last response byte, or to the failure
    latency_ms     what the statistics use: from ``intended_start`` to the end with a QPS
                   schedule (no coordinated omission), else ``total_ms``
    status         HTTP status of the final response; 0 when none was read (curl's ``000``)
    bytes          body bytes received (after de-chunking)
    server         the ``server`` response header ("" when absent)
    upstream_ms    ``x-envoy-upstream-service-time`` (whole ms; NaN when absent)
    error_kind     "" for a served response, else one of :data:`ERROR_KINDS` or ``http_<status>``
                   for an answer whose status is not accepted (4xx/5xx by default)
    error          one line describing the failure ("" when none)
    ============== =========================================================================

    Attributes:
        samples: the table above.
        url: the URL probed, credentials in it masked (``access_token=[redacted]``).
        host: the ``Host`` header sent.
        method: the HTTP method.
        concurrency: the most connections the run could open (``connections`` in the summary
            says how many it used).
        qps: the requested rate (None: closed loop, as fast as answers come back).
        count: the requested number of requests (None when bounded by duration only).
        duration: the requested duration in seconds (None when bounded by count only).
        timeout: per-request timeout in seconds.
        label: a name for charts and comparisons (e.g. ``canary``, ``after fix``).
        started_at: wall-clock time (UTC) of the run start; ``intended_start`` 0 is this instant.
        elapsed_s: from the run start to the end of the last request.
        scheduled: requests in the QPS schedule (None without ``qps``); those not sent before the
            duration ran out are ``scheduled − len(samples)``.
        accept_status: statuses counted as served besides 1xx–3xx.
    """

    samples: pd.DataFrame
    url: str
    host: str
    method: str
    concurrency: int
    qps: float | None
    count: int | None
    duration: float | None
    timeout: float
    label: str
    started_at: datetime
    elapsed_s: float
    scheduled: int | None = None
    accept_status: tuple[int, ...] = ()

    def parameters(self) -> dict[str, Any]:
        """What was asked for, as a JSON-ready dict."""
        return {
            "label": self.label,
            "url": self.url,
            "host": self.host,
            "method": self.method,
            "concurrency": self.concurrency,
            "requested_qps": self.qps,
            "count": self.count,
            "duration_s": self.duration,
            "timeout_s": self.timeout,
            "accept_status": list(self.accept_status),
            "started_at": self.started_at.isoformat(),
        }

    def summary(self) -> dict[str, Any]:
        """Counts, errors by kind, status codes, rates and latency percentiles (ms).

        Keys: ``label``, ``count``, ``ok``, ``errors``, ``errors_by_kind``, ``status_codes``,
        ``connections``, ``requested_qps``, ``achieved_qps``, ``elapsed_s``, ``scheduled``,
        ``unsent``, and ``min_ms``, ``p50_ms``, ``p75_ms``, ``p90_ms``, ``p99_ms``, ``p99_9_ms``,
        ``max_ms``, ``mean_ms`` over the requests that got a complete response (see
        :func:`runbook.probe.stats.summarize`), led by ``trustworthy`` and ``verdict``: whether
        the schedule was kept, in one sentence (:func:`runbook.probe.stats.verdict`).
        """
        from runbook.probe import stats

        out: dict[str, Any] = {"label": self.label}
        out.update(stats.summarize(self.samples, elapsed_s=self.elapsed_s, requested_qps=self.qps,
                                   scheduled=self.scheduled))
        return out

    def to_dict(self) -> dict[str, Any]:
        """``parameters``, ``summary`` and ``samples`` (a list of row objects) — ``-o json``."""
        from runbook.frames import frame_records

        return {
            "parameters": self.parameters(),
            "summary": self.summary(),
            "samples": frame_records(self.samples),
        }

    def at(self, when: datetime | float) -> float:
        """Seconds from the run start of a wall-clock time (or seconds, returned unchanged).

        Used to place events such as "fix applied" (an audit record's timestamp) on a timeline.
        """
        if isinstance(when, datetime):
            if when.tzinfo is None:
                raise ProbeError(f"event time {when.isoformat()} has no timezone; use an aware datetime")
            return (when - self.started_at) / timedelta(seconds=1)
        return float(when)


# --------------------------------------------------------------------------------------------
# parameters


@dataclass(frozen=True)
class _Target:
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


def build_target(url: str, *, host: str | None, method: str, headers: Mapping[str, str] | None) -> _Target:
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
    return _Target(url=url, scheme=scheme, host=connect_host, port=port, host_header=host_header,
                   request=request, tls_name=tls_name, literal=literal)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_invalid_tld(name: str) -> bool:
    """RFC 6761 §6.4: names under ``.invalid`` never resolve."""
    name = name.lower().rstrip(".")
    return name == "invalid" or name.endswith(".invalid")


# --------------------------------------------------------------------------------------------
# the event loop

_IDLE, _RESOLVING, _CONNECTING, _TLS, _SENDING, _RECEIVING = range(6)
_READ, _WRITE = 1, 2


class _Poller:
    """Readiness of file descriptors: ``epoll`` on Linux, the ``selectors`` module elsewhere.

    epoll is used directly because each wait is in the measured path: a ready ``epoll.poll``
    costs 1.5 µs from Python on the CI machine, ``selectors``' ``select()`` 2.8 µs.
    ``poll`` returns ``(fd, events)`` pairs; ``fileno`` is pollable itself (for precise waits).
    """

    def __init__(self) -> None:
        self.fileno: int | None = None
        self._epoll = getattr(select, "epoll", None)
        if self._epoll is not None:
            ep = self._epoll()
            self._ep = ep
            self.fileno = ep.fileno()
            self.poll: Callable[[float | None], list[tuple[int, int]]] = ep.poll
            self._flags = {_READ: select.EPOLLIN, _WRITE: select.EPOLLOUT,
                           _READ | _WRITE: select.EPOLLIN | select.EPOLLOUT}
        else:  # pragma: no cover - macOS/BSD
            sel = selectors.DefaultSelector()
            self._sel = sel
            with contextlib.suppress(AttributeError, NotImplementedError):
                self.fileno = sel.fileno()
            self.poll = self._select
            self._flags = {_READ: selectors.EVENT_READ, _WRITE: selectors.EVENT_WRITE,
                           _READ | _WRITE: selectors.EVENT_READ | selectors.EVENT_WRITE}

    def _select(self, timeout: float | None) -> list[tuple[int, int]]:  # pragma: no cover
        return [(key.fd, ev) for key, ev in self._sel.select(timeout)]

    def register(self, fd: int, mask: int) -> None:
        if self._epoll is not None:
            self._ep.register(fd, self._flags[mask])
        else:  # pragma: no cover
            self._sel.register(fd, self._flags[mask])

    def modify(self, fd: int, mask: int) -> None:
        if self._epoll is not None:
            self._ep.modify(fd, self._flags[mask])
        else:  # pragma: no cover
            self._sel.modify(fd, self._flags[mask])

    def unregister(self, fd: int) -> None:
        if self._epoll is not None:
            self._ep.unregister(fd)
        else:  # pragma: no cover
            self._sel.unregister(fd)

    def close(self) -> None:
        if self._epoll is not None:
            self._ep.close()
        else:  # pragma: no cover
            self._sel.close()


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
    __slots__ = ("addr_index", "addrs", "fd", "id", "mask", "parser", "recv", "req", "slot", "sock", "state",
                 "wbuf")

    def __init__(self, conn_id: int, slot: int, head_request: bool) -> None:
        self.id = conn_id
        self.slot = slot
        self.sock: socket.socket | None = None
        self.recv: Callable[[int], bytes] | None = None  # sock.recv for plain TCP (the fast path)
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


class _Loop:
    """One run: the selector, the connections, the schedule and the rows."""

    def __init__(self, target: _Target, *, count: int | None, duration: float | None, concurrency: int,
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
        self.poller = _Poller()
        self.fdmap: dict[int, _Conn | None] = {}  # fd → its connection (None: the resolver's wake-up)
        self.free: deque[int] = deque(range(concurrency))
        self.conns: list[_Conn | None] = [None] * concurrency
        self.next_conn_id = 1
        self.rows: list[tuple[Any, ...]] = []
        # Timeouts are found by scanning the connections this often (no per-request timer: the
        # bookkeeping would cost more than the precision is worth; a timeout is seconds, this is ≤ 10 ms).
        self.check_every = min(0.01, timeout / 20)
        self.check_every_ns = int(self.check_every * 1e9)
        self.next_check = 0
        self.inflight = 0
        self.next_seq = 0
        self.ssl_ctx: ssl.SSLContext | None = None
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
        conn.recv = None
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
        if _is_invalid_tld(t.host):
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
            self.poller.register(self.wake_r.fileno(), _READ)
            self.fdmap[self.wake_r.fileno()] = None
        future = self.resolver.submit(_resolve, t.host, t.port)
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
                self._fail(conn, "dns", f"could not resolve host {self.t.host}: {_os_text(exc)}", now)
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
            self._fail(conn, "other", f"cannot create a socket: {_os_text(exc)}", now)
            return
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sock = sock
        conn.fd = sock.fileno()
        conn.recv = sock.recv if self.ssl_ctx is None else None
        err = sock.connect_ex(sockaddr)
        if err in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY):
            conn.state = _CONNECTING
            self._set_mask(conn, _WRITE)
            return
        self._connect_failed(conn, err, now)

    def _connect_failed(self, conn: _Conn, err: int, now: int) -> None:
        assert conn.req is not None
        where = _addr_text(conn.addrs[conn.addr_index][1])
        if conn.addr_index + 1 < len(conn.addrs):
            # like curl: try the next address of the name before giving up
            self._close(conn)
            self.conns[conn.slot] = conn
            conn.addr_index += 1
            self._connect(conn, time.perf_counter_ns())
            return
        text = f"{errno.errorcode.get(err, err)} {where}: {_strerror(err)}"
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
                self._fail(conn, "tls", f"TLS setup failed: {_os_text(exc)}", now)
                return
            conn.state = _TLS
            self._handshake(conn)
            return
        self._send(conn)

    def _handshake(self, conn: _Conn) -> None:
        sock = conn.sock
        assert isinstance(sock, ssl.SSLSocket) and conn.req is not None
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            self._set_mask(conn, _READ)
            return
        except ssl.SSLWantWriteError:
            self._set_mask(conn, _WRITE)
            return
        except ssl.SSLCertVerificationError as exc:
            self._fail(conn, "tls", f"TLS certificate not accepted: {exc.verify_message or exc}",
                       time.perf_counter_ns())
            return
        except (ssl.SSLError, OSError) as exc:
            self._fail(conn, "tls", f"TLS handshake failed: {_os_text(exc)}", time.perf_counter_ns())
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
            n = sock.send(data)
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
            if conn.mask != _READ:
                self._set_mask(conn, _READ)
            return
        conn.wbuf = data[n:]
        conn.state = _SENDING
        self._set_mask(conn, _WRITE)

    def _on_writable_sending(self, conn: _Conn) -> None:
        sock = conn.sock
        assert sock is not None
        try:
            n = sock.send(conn.wbuf)
        except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            return
        except OSError as exc:
            self._transport_error(conn, exc, time.perf_counter_ns())
            return
        conn.wbuf = conn.wbuf[n:]
        if not conn.wbuf:
            conn.state = _RECEIVING
            self._set_mask(conn, _READ)

    def _on_readable(self, conn: _Conn) -> None:
        """Read what arrived (the general path: TLS, idle connections, errors)."""
        sock = conn.sock
        assert sock is not None
        while True:
            try:
                data = sock.recv(65536)
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
            self._fail(conn, "tls", f"TLS error: {_os_text(exc)}", now, keep_status=True)
            return
        err = exc.errno or 0
        if err in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
            if req.reused and not conn.parser.received and not req.retried:
                self._retry(conn, now)
                return
            got = f" after {conn.parser.body_bytes} body bytes" if conn.parser.status else ""
            self._fail(conn, "reset", f"connection reset by peer{got}", now, keep_status=True)
        elif err == errno.ETIMEDOUT:
            self._fail(conn, "timeout", f"connection timed out: {_os_text(exc)}", now, keep_status=True)
        else:
            self._fail(conn, "other", _os_text(exc), now, keep_status=True)

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
        self.inflight -= 1
        if req.done > self.last_done:
            self.last_done = req.done
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
        self.rows.append((
            req.seq, req.conn_id, req.reused, intended, (start - t0) / 1e9, dns, connect, tls,
            (req.first - start) / 1e6 if req.first else math.nan,
            total, latency, req.status, req.bytes, req.server,
            math.nan if req.upstream is None else req.upstream,
            req.error_kind, req.error,
        ))

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
        last_progress = 0
        self.started_at = datetime.now(UTC)
        self.t0 = self.last_done = time.perf_counter_ns()
        self.next_check = self.t0 + self.check_every_ns
        if self.duration is not None:
            self.run_deadline = self.t0 + int(self.duration * 1e9)
        try:
            while True:
                if self.free:
                    self._start_due(perf())
                if not self.inflight and not self._want_more(perf()):
                    break
                events = poll(coarse) if coarse is not None else wait(self._next_wake(perf()))
                for fd, _events in events:
                    conn = fdmap.get(fd, missing)
                    if conn is missing:
                        continue  # closed while handling an earlier event of this batch
                    if conn is None:
                        self._on_resolved()
                        continue
                    state = conn.state
                    recv = conn.recv
                    if state == _RECEIVING and recv is not None:
                        # the common case, inline: plain TCP, a response arriving
                        try:
                            data = recv(65536)
                        except BlockingIOError:
                            continue
                        except OSError as exc:
                            self._recv_error(conn, exc)
                            continue
                        self._on_data(conn, data, perf())
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
                    self.on_progress(len(self.rows), self.planned, (now - self.t0) / 1e9)
            if self.on_progress is not None:
                self.on_progress(len(self.rows), self.planned, (self.last_done - self.t0) / 1e9)
        finally:
            self.close()
        return self.rows

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


@contextlib.contextmanager
def _fine_timer_slack() -> Iterator[None]:
    """Linux: 1 ns timer slack for this thread during a scheduled run, then restore it.

    The default 50 µs slack lets the kernel fire timers that much later, which a QPS schedule would
    count as latency (measured: median send lag 87 µs → 42 µs at 1,000 QPS). PR_SET_TIMERSLACK is
    per thread and harmless elsewhere; on other systems this does nothing.
    """
    libc = None
    old = 0
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            old = libc.prctl(_PR_GET_TIMERSLACK, 0, 0, 0, 0)
            if old <= 0 or libc.prctl(_PR_SET_TIMERSLACK, 1, 0, 0, 0) != 0:
                libc = None
        except (OSError, AttributeError):
            libc = None
    try:
        yield
    finally:
        if libc is not None:
            libc.prctl(_PR_SET_TIMERSLACK, old, 0, 0, 0)


def _progress_bar(loop: _Loop, desc: str, duration: float | None,
                  chained: ProgressCallback | None) -> Any:
    """A tqdm.auto bar fed by the loop's progress callback (requests, or seconds when unplanned)."""
    from tqdm.auto import tqdm

    planned = loop.planned
    if planned is None:
        bar = tqdm(total=duration, unit="s", desc=desc, bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s")
    else:
        bar = tqdm(total=planned, unit="req", desc=desc)

    def update(done: int, planned: int | None, elapsed: float) -> None:
        bar.n = done if planned is not None else min(elapsed, duration or elapsed)
        bar.refresh()
        if chained is not None:
            chained(done, planned, elapsed)

    loop.on_progress = update
    return bar


def _resolve(host: str, port: int) -> list[tuple[Any, ...]]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[tuple[Any, ...]] = []
    for family, _, _, _, sockaddr in infos:
        item = (family, sockaddr)
        if item not in seen:
            seen.append(item)
    if not seen:
        raise socket.gaierror(socket.EAI_NONAME, "no address")
    return seen


def _strerror(err: int) -> str:
    try:
        return os.strerror(err)
    except ValueError:  # pragma: no cover
        return str(err)


def _os_text(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return f"{exc.reason} ({exc.library or 'ssl'})" if exc.library else str(exc.reason)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _addr_text(sockaddr: Any) -> str:
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


# --------------------------------------------------------------------------------------------
# the public entry point


def probe(
    url: str,
    *,
    host: str | None = None,
    count: int | None = None,
    duration: float | None = None,
    concurrency: int | None = None,
    qps: float | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    accept_status: Iterable[int] = (),
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    label: str | None = None,
    verify_tls: bool = True,
    on_progress: ProgressCallback | None = None,
    progress_bar: bool = False,
    stop: threading.Event | None = None,
) -> ProbeRun:
    """Send bounded HTTP traffic to ``url`` and measure every request.

    Args:
        url: ``http://`` or ``https://`` URL, e.g. ``http://127.0.0.1:31241/productpage``.
        host: the ``Host`` header (``bookinfo-gateway.test``); default: the URL's host[:port].
            For https it is also the TLS server name (SNI), as the gateway routes on it.
        count: number of requests. At least one of ``count``/``duration`` is required.
        duration: seconds during which requests are started (requests in flight then finish).
        concurrency: keep-alive connections used in parallel at most (1–1000); default 1 for a
            closed loop, and for a ``qps`` schedule as many as it needs (up to ``qps × timeout``
            and :data:`MAX_AUTO_CONNECTIONS`): one connection cannot keep a rate faster than its
            answers come back, and a schedule not kept measures the probe's own queue.
        qps: fixed request rate over all connections; latency then counts from each request's
            intended send time. None: closed loop (each connection sends as fast as answers come).
        accept_status: statuses counted as served besides 1xx–3xx (e.g. ``[404]`` where a 404 is
            the expected answer); every other answer is a failed request ``http_<status>``.
        timeout: seconds allowed per request (resolution, connect, TLS, answer).
        method: HTTP method (GET, HEAD …); no request body is sent.
        headers: extra request headers.
        label: a name for charts and comparisons; default the Host header.
        verify_tls: verify the server certificate for https (False: like ``curl -k``).
        on_progress: called at most every 0.1 s as ``on_progress(done, planned, elapsed_s)``;
            ``planned`` is None when only a duration bounds the run.
        progress_bar: show a ``tqdm.auto`` bar (a widget in notebooks, text in terminals).
        stop: ends the run early once set (from another thread: a probe recording in the
            background while something else happens); no request is started after it is set,
            those in flight finish. ``count``/``duration`` still bound the run.

    Returns:
        A :class:`ProbeRun` (samples, parameters, ``summary()``).

    Raises:
        ProbeError: bad URL or parameters (an InputError: nothing was sent). Failed requests
            (refused, timeout, reset, dns, tls, http_protocol, other) are rows, not exceptions.
    """
    method = (method or "").upper()
    target = build_target(url, host=host, method=method, headers=headers)
    if count is None and duration is None:
        raise ProbeError("unbounded probe: give count or duration", hint="e.g. count=100 or duration=10")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        raise ProbeError(f"count must be a positive integer, not {count!r}")
    if duration is not None and not (isinstance(duration, int | float)
                                     and 0 < duration <= MAX_DURATION_S):
        raise ProbeError(f"duration must be a positive number of seconds up to {MAX_DURATION_S:g}"
                         f" (a day), not {duration!r}")
    if concurrency is None:
        concurrency = (min(MAX_AUTO_CONNECTIONS, max(1, math.ceil(qps * timeout)))
                       if isinstance(qps, int | float) and isinstance(timeout, int | float)
                       and 0 < qps < math.inf and 0 < timeout < math.inf else 1)
    accepted = tuple(sorted(set(accept_status)))
    if not all(isinstance(code, int) and 100 <= code <= 599 for code in accepted):
        raise ProbeError(f"accept_status must be HTTP statuses from 100 to 599, not {list(accept_status)!r}")
    if (not isinstance(concurrency, int) or isinstance(concurrency, bool)
            or not 1 <= concurrency <= MAX_CONCURRENCY):
        raise ProbeError(f"concurrency must be an integer from 1 to {MAX_CONCURRENCY}, not {concurrency!r}")
    if qps is not None and not (isinstance(qps, int | float) and MIN_QPS <= qps <= MAX_QPS):
        raise ProbeError(f"qps must be a number from {MIN_QPS:g} (one request a day) to "
                         f"{MAX_QPS:g}, not {qps!r}")
    if qps is not None and count is not None and (count - 1) / qps > MAX_DURATION_S:
        raise ProbeError(f"the schedule would last {(count - 1) / qps:.0f} s ({count} requests at "
                         f"{qps:g}/s), more than a day", hint="raise --qps or lower -n")
    if not (isinstance(timeout, int | float) and 0 < timeout <= MAX_TIMEOUT_S):
        raise ProbeError(f"timeout must be a positive number of seconds up to {MAX_TIMEOUT_S:g}, "
                         f"not {timeout!r}")
    if qps is not None and duration is not None and count is None and duration * qps < 1:
        raise ProbeError(f"the schedule is empty: {duration} s at {qps} requests/s is less than one request")

    loop = _Loop(target, count=count, duration=duration, concurrency=concurrency, qps=qps,
                 timeout=float(timeout), verify_tls=verify_tls, head_request=method == "HEAD",
                 on_progress=on_progress, stop=stop)
    bar = _progress_bar(loop, label or target.host_header, duration, on_progress) if progress_bar else None
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection in the middle of a request would show up as its latency
    try:
        with _fine_timer_slack() if qps else contextlib.nullcontext():
            rows = loop.run()
    finally:
        if gc_was_enabled:
            gc.enable()
        if bar is not None:
            bar.close()
    import pandas as pd

    samples = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
    samples = samples.sort_values("seq", kind="stable").reset_index(drop=True)
    samples = samples.astype({"seq": "int64", "connection_id": "int64", "reused": "bool", "status": "int64",
                              "bytes": "int64", "server": "str", "error_kind": "str", "error": "str"})
    for col in ("intended_start", "actual_start", "dns_ms", "connect_ms", "tls_ms", "ttfb_ms", "total_ms",
                "latency_ms", "upstream_ms"):
        samples[col] = samples[col].astype("float64")
    samples = mark_http_failures(samples, accepted)
    return ProbeRun(
        # the URL as shown everywhere (CLI, charts, reports): access_token=… values masked
        samples=samples, url=redact_url(target.url), host=target.host_header, method=method,
        concurrency=concurrency,
        qps=float(qps) if qps is not None else None, count=count,
        duration=float(duration) if duration is not None else None, timeout=float(timeout),
        label=label or target.host_header, started_at=loop.started_at,
        elapsed_s=(loop.last_done - loop.t0) / 1e9,
        scheduled=loop.scheduled, accept_status=accepted,
    )


def mark_http_failures(samples: pd.DataFrame, accept_status: Iterable[int] = ()) -> pd.DataFrame:
    """``samples`` with every answer outside 1xx–3xx (and ``accept_status``) as a failed request.

    Such rows get ``error_kind`` ``http_<status>`` and ``error`` ``HTTP <status>``; the status
    stays. Rows already failed are left as they are; ``samples`` itself is not changed.
    """
    out = samples.copy()
    served = set(SERVED_STATUSES) | set(accept_status)
    bad = (out["error_kind"] == "") & ~out["status"].isin(served)
    out.loc[bad, "error_kind"] = "http_" + out.loc[bad, "status"].astype(str)
    out.loc[bad, "error"] = "HTTP " + out.loc[bad, "status"].astype(str)
    return out


__all__ = ["COLUMNS", "DEFAULT_TIMEOUT", "ERROR_KINDS", "MAX_AUTO_CONNECTIONS", "SERVED_STATUSES",
           "USER_AGENT", "ProbeRun", "build_target", "mark_http_failures", "probe"]
