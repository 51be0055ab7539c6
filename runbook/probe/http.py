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

The request is checked and built once (:mod:`runbook.probe.target`) and sent by the probe's own loop
(:mod:`runbook.probe.loop`). Why a small event loop over raw sockets and not a client library —
measured on this project's CI machine (2 vCPU VM, shared) against nginx serving a 615-byte page on
127.0.0.1, one keep-alive connection, p50 of the time from sending the request to the last byte
received, five interleaved 1-second rounds per client (``benchmarks/probe_bench.py`` re-measures
wrk, this probe and pycurl):

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
timeouts in one thread (threads would put the GIL inside the measured time: 40 µs against 22 µs for
epoll, depending on where the scheduler placed nginx). So the probe runs its own loop: one thread,
non-blocking sockets, ``epoll`` directly on Linux (1.5 µs per ready wait from Python, against 2.8 µs
through ``selectors``, which is the fallback elsewhere), a small HTTP/1.1 parser
(:mod:`runbook.probe.response`), timestamps taken right after ``recv`` returns (before any parsing),
no bookkeeping between ``send`` and the wait that could be done later, answers received into one
reused buffer (``recv(65536)`` would allocate 64 KiB inside the measured time), and the garbage
collector paused for the run (as ``timeit`` does) so that collections do not show up as latency.
One connection without a schedule — the closed loop that measures latency — gets the blocking
loop's speed too: its socket is made blocking with a kernel receive timeout (``SO_RCVTIMEO``) equal
to the loop's timeout-check interval, the loop waits for the answer in ``recv`` itself (one syscall
fewer per request than ``epoll_wait`` then ``recv``: 2 per request, against wrk's 6), and its other
sends and receives pass ``MSG_DONTWAIT``; timeouts, progress and stop are checked as often as with
the poller (Linux; elsewhere the poller waits). Before it sleeps in ``recv``, that loop polls for
the answer for up to 100 µs, yielding the CPU between tries: a client that sleeps is woken with its
idle CPU when the answer arrives, and on a VM that wake-up is the client's own latency, not the
server's (against nginx on the other vCPU: p50 75–95 µs sleeping, 30–40 µs polling; wrk, which
sleeps in ``epoll_wait``, 75–100 µs). A slower answer costs the 100 µs of CPU and the sleep.

Phases follow curl's ``-w`` variables, all from the request's start: ``dns_ms``
(``time_namelookup``), ``connect_ms`` (TCP handshake: ``time_connect − time_namelookup``),
``tls_ms`` (``time_appconnect − time_connect``), ``ttfb_ms`` (``time_starttransfer``) and
``total_ms`` (``time_total``); on a reused connection the first three are 0.
"""

from __future__ import annotations

import contextlib
import gc
import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from runbook.errors import ProbeError
from runbook.probe.loop import ProbeLoop, ProgressCallback
from runbook.probe.sockets import fine_timer_slack
from runbook.probe.target import USER_AGENT, build_target
from runbook.redaction import redact_url

if TYPE_CHECKING:
    import pandas as pd

    from runbook.probe.stats import RunSummary

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

    def summary(self) -> RunSummary:
        """Counts, errors by kind, status codes, rates and latency percentiles (ms).

        Keys: ``label``, ``count``, ``ok``, ``errors``, ``errors_by_kind``, ``status_codes``,
        ``connections``, ``requested_qps``, ``achieved_qps``, ``elapsed_s``, ``scheduled``,
        ``unsent``, and ``min_ms``, ``p50_ms``, ``p75_ms``, ``p90_ms``, ``p99_ms``, ``p99_9_ms``,
        ``max_ms``, ``mean_ms`` over the requests that got a complete response (see
        :func:`runbook.probe.stats.summarize`), led by ``trustworthy`` and ``verdict``: whether
        the schedule was kept, in one sentence (:func:`runbook.probe.stats.verdict`).
        """
        from runbook.probe import stats

        summary = stats.summarize(self.samples, elapsed_s=self.elapsed_s, requested_qps=self.qps,
                                  scheduled=self.scheduled)
        return {"label": self.label, **summary}

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


def _progress_bar(loop: ProbeLoop, desc: str, duration: float | None,
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

    loop = ProbeLoop(target, count=count, duration=duration, concurrency=concurrency, qps=qps,
                 timeout=float(timeout), verify_tls=verify_tls, head_request=method == "HEAD",
                 on_progress=on_progress, stop=stop)
    bar = _progress_bar(loop, label or target.host_header, duration, on_progress) if progress_bar else None
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection in the middle of a request would show up as its latency
    try:
        with fine_timer_slack() if qps else contextlib.nullcontext():
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
