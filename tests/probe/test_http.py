"""The probe against a real local HTTP server: counts, keep-alive, concurrency, schedule, errors."""

from __future__ import annotations

import math
import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from runbook.errors import InputError, ProbeError
from runbook.probe import COLUMNS, ERROR_KINDS, probe
from runbook.probe import loop as probe_loop
from runbook.probe.http import USER_AGENT, build_target
from runbook.probe.sockets import BLOCKING_RECEIVE, Poller, block_with_receive_timeout

from .conftest import Backend, start_backend, stop_backend


def test_count_keep_alive_and_columns(backend: Backend) -> None:
    run = probe(backend.url("/ok?upstream=7"), count=20)
    s = run.samples
    assert list(s.columns) == list(COLUMNS)
    assert list(s["seq"]) == list(range(20))
    assert (s["error_kind"] == "").all() and (s["status"] == 200).all()
    assert (s["bytes"] == 615).all()
    # one TCP connection, reused by every request after the first
    assert backend.connections == 1
    assert set(s["connection_id"]) == {1}
    assert list(s["reused"]) == [False] + [True] * 19
    assert s.loc[0, "connect_ms"] > 0 and (s.loc[1:, ["dns_ms", "connect_ms", "tls_ms"]] == 0).all().all()
    # phases are consistent: ttfb within total, latency = total without a schedule
    assert (s["ttfb_ms"] <= s["total_ms"]).all()
    assert np.allclose(s["latency_ms"], s["total_ms"])
    assert (s["intended_start"] == s["actual_start"]).all()
    assert (s["actual_start"].diff().dropna() > 0).all()
    # headers captured
    assert (s["server"] == "istio-envoy").all()
    assert (s["upstream_ms"] == 7.0).all()
    summary = run.summary()
    assert summary["count"] == 20 and summary["ok"] == 20 and summary["errors"] == 0
    assert summary["status_codes"] == {"200": 20}
    assert summary["connections"] == 1
    assert summary["p50_ms"] == pytest.approx(float(np.percentile(s["latency_ms"], 50)))


def test_host_header_is_sent_and_defaults_to_the_url_authority(backend: Backend) -> None:
    probe(backend.url(), count=3, host="bookinfo-gateway.test")
    assert backend.hosts == ["bookinfo-gateway.test"] * 3
    backend.hosts.clear()
    run = probe(backend.url(), count=1)
    assert backend.hosts == [f"127.0.0.1:{backend.port}"]
    assert run.host == f"127.0.0.1:{backend.port}" and run.label == run.host


def test_request_bytes_are_what_curl_would_send() -> None:
    t = build_target("http://10.0.0.1/productpage?u=normal", host="bookinfo-gateway.test", method="GET",
                     headers={"x-request-id": "abc"})
    assert t.request == (b"GET /productpage?u=normal HTTP/1.1\r\nHost: bookinfo-gateway.test\r\n"
                         + f"User-Agent: {USER_AGENT}\r\n".encode()
                         + b"Accept: */*\r\nx-request-id: abc\r\n\r\n")
    assert (t.host, t.port) == ("10.0.0.1", 80)
    v6 = build_target("http://[::1]:8080", host=None, method="HEAD", headers=None)
    assert v6.host_header == "[::1]:8080"
    assert v6.request.startswith(b"HEAD / HTTP/1.1\r\nHost: [::1]:8080\r\n")


def test_concurrency_runs_requests_in_parallel(backend: Backend) -> None:
    run = probe(backend.url("/delay?ms=100"), count=8, concurrency=4)
    s = run.samples
    assert (s["error_kind"] == "").all()
    assert s["connection_id"].nunique() == 4 and backend.connections == 4
    # 8 requests of 100 ms over 4 connections take ~200 ms, not 800 ms
    assert 0.19 <= run.elapsed_s < 0.6
    assert run.summary()["achieved_qps"] > 8 / 0.6


@pytest.mark.skipif(not BLOCKING_RECEIVE, reason="Linux only (MSG_DONTWAIT, SO_RCVTIMEO)")
def test_one_connection_waits_for_its_answers_in_recv_not_in_the_poller(
        backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """Closed loop on one connection: no poller wait between a request's two timestamps."""
    waits: list[float | None] = []

    class CountingPoller(Poller):
        def __init__(self) -> None:
            super().__init__()
            inner = self.poll

            def poll(timeout: float | None) -> list[tuple[int, int]]:
                waits.append(timeout)
                return inner(timeout)

            self.poll = poll

    monkeypatch.setattr(probe_loop, "Poller", CountingPoller)
    solo = probe(backend.url(), count=200).samples
    assert (solo["error_kind"] == "").all() and solo["reused"].sum() == 199
    assert len(waits) <= 3  # the connect only
    # an answer slower than the wait's 10 ms limit: the wait gives up, checks timeouts, waits again
    waits.clear()
    slow = probe(backend.url("/delay?ms=60"), count=2).samples
    assert (slow["error_kind"] == "").all() and (slow["total_ms"] >= 60).all() and len(waits) <= 3
    # several connections share the poller's wait
    waits.clear()
    pair = probe(backend.url(), count=200, concurrency=2).samples
    assert (pair["error_kind"] == "").all() and len(waits) >= 100


@pytest.mark.skipif(not BLOCKING_RECEIVE, reason="Linux only (MSG_DONTWAIT, SO_RCVTIMEO)")
def test_the_solo_receive_polls_until_its_bound_then_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    yields: list[int] = []
    monkeypatch.setattr(probe_loop.os, "sched_yield", lambda: yields.append(1))
    ours, peer = socket.socketpair()
    with ours, peer:
        block_with_receive_timeout(ours, 0.5)
        view = memoryview(bytearray(64))
        now = time.perf_counter_ns
        # an answer already there: taken by the first poll
        peer.send(b"early")
        assert probe_loop._poll_then_wait(ours.recv_into, view, now() + 10**9) == 5 and not yields
        # an answer later than the bound: polls (yielding the CPU each time) until it, then sleeps
        timer = threading.Timer(0.05, peer.send, (b"late",))
        timer.start()
        started = now()
        assert probe_loop._poll_then_wait(ours.recv_into, view, started + 100_000) == 4
        assert bytes(view[:4]) == b"late" and yields and now() - started >= 40_000_000
        timer.join()
        # nothing at all: the sleep gives up after the socket's receive timeout, as before
        yields.clear()
        with pytest.raises(BlockingIOError):
            probe_loop._poll_then_wait(ours.recv_into, view, now() - 1)
        assert not yields  # a bound already past goes straight to the sleep


def test_duration_bounds_the_run(backend: Backend) -> None:
    run = probe(backend.url("/delay?ms=20"), duration=0.3)
    s = run.samples
    assert 5 <= len(s) <= 16
    assert (s["actual_start"] < 0.3).all()
    assert 0.3 <= run.elapsed_s < 0.6
    assert run.count is None and run.duration == 0.3


def test_fixed_qps_schedule(backend: Backend) -> None:
    run = probe(backend.url(), qps=200, count=60, concurrency=2)
    s = run.samples
    assert np.allclose(s["intended_start"], s["seq"] / 200, atol=1e-6)
    lag = s["actual_start"] - s["intended_start"]
    assert (lag >= 0).all()
    assert lag.median() < 0.005
    summary = run.summary()
    assert summary["requested_qps"] == 200 and summary["scheduled"] == 60 and summary["unsent"] == 0
    assert 170 < summary["achieved_qps"] <= 205
    assert summary["send_lag_p50_ms"] == pytest.approx(float(np.percentile(lag * 1000, 50)))


def test_qps_latency_counts_from_the_intended_time(backend: Backend) -> None:
    """A 40 ms server at 100 QPS on one connection: requests queue; their wait must be counted.

    A closed-loop client would report ~40 ms for every request (coordinated omission). The
    intended-time latency of request i is ~40 ms × (i + 1) − 10 ms × i.
    """
    run = probe(backend.url("/delay?ms=40"), qps=100, count=8, concurrency=1)
    s = run.samples
    assert (s["error_kind"] == "").all()
    assert s["total_ms"].max() < 150  # each answer alone is fast…
    assert np.allclose(s["latency_ms"], s["total_ms"] + (s["actual_start"] - s["intended_start"]) * 1000)
    assert s["latency_ms"].is_monotonic_increasing
    assert s["latency_ms"].iloc[-1] > 250  # …but the last request was due 280 ms before it finished
    summary = run.summary()
    assert summary["p50_ms"] > 2 * s["total_ms"].median()
    assert summary["achieved_qps"] < 40 and summary["send_lag_p99_ms"] > 150
    # the same load spread over enough connections does not queue
    fast = probe(backend.url("/delay?ms=40"), qps=100, count=8, concurrency=8).samples
    assert (fast["latency_ms"] - fast["total_ms"]).max() < 15


def test_duration_and_qps_schedule_stops_at_the_deadline(backend: Backend) -> None:
    run = probe(backend.url("/delay?ms=50"), qps=100, duration=0.2, concurrency=1)
    summary = run.summary()
    assert summary["scheduled"] == 20
    # one slow connection cannot keep up: the rest of the schedule is reported, not hidden
    assert summary["count"] <= 5 and summary["unsent"] == 20 - summary["count"]


def test_refused_port_is_an_error_row(closed_port: int) -> None:
    run = probe(f"http://127.0.0.1:{closed_port}/", count=3)
    s = run.samples
    assert list(s["error_kind"]) == ["refused"] * 3
    assert (s["status"] == 0).all() and s["ttfb_ms"].isna().all()
    assert (s["connection_id"] == 0).all()  # no connection was established
    assert s["error"].iloc[0] == f"connection refused by 127.0.0.1:{closed_port}"
    summary = run.summary()
    assert summary["errors_by_kind"] == {"refused": 3} and summary["ok"] == 0
    assert np.isnan(summary["p50_ms"])


def test_timeout_is_an_error_row(backend: Backend) -> None:
    run = probe(backend.url("/hang"), count=1, timeout=0.3)
    row = run.samples.iloc[0]
    assert row["error_kind"] == "timeout"
    assert 300 <= row["total_ms"] < 1000
    assert row["error"] == "timed out after 300 ms waiting for the response (0 bytes received)"


def test_reset_mid_response_and_rst(backend: Backend) -> None:
    partial = probe(backend.url("/partial"), count=1).samples.iloc[0]
    assert partial["error_kind"] == "reset"
    assert partial["status"] == 200 and partial["bytes"] == 10
    assert "after 10 body bytes" in partial["error"]
    rst = probe(backend.url("/rst"), count=1).samples.iloc[0]
    assert rst["error_kind"] == "reset" and rst["status"] == 0


def test_not_http_is_a_protocol_error(backend: Backend) -> None:
    row = probe(backend.url("/garbage"), count=1).samples.iloc[0]
    assert row["error_kind"] == "http_protocol"
    assert "not an HTTP response" in row["error"] or "malformed status line" in row["error"]


def test_dns_invalid_names_fail_without_a_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_lookup(*args: object, **kwargs: object) -> object:
        raise AssertionError("a .invalid name must not be looked up")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)
    run = probe("http://gateway.probe-test.invalid/productpage", count=2)
    s = run.samples
    assert list(s["error_kind"]) == ["dns", "dns"]
    assert s["error"].iloc[0].startswith("could not resolve host gateway.probe-test.invalid")
    assert (s["connection_id"] == 0).all()


def _resolver_is_local() -> bool:
    try:
        lines = Path("/etc/resolv.conf").read_text().splitlines()
    except OSError:
        return False
    servers = [ln.split()[1] for ln in lines if ln.startswith("nameserver") and len(ln.split()) > 1]
    return not servers


@pytest.mark.skipif(not _resolver_is_local(),
                    reason="/etc/resolv.conf names a non-local nameserver: a real failed lookup would leave "
                           "the machine (the .invalid path above covers dns rows without a query)")
def test_dns_failure_through_the_resolver() -> None:  # pragma: no cover - depends on the host
    row = probe("http://no-such-host.probe-test.invalid./", count=1).samples.iloc[0]
    assert row["error_kind"] == "dns"


def test_names_are_resolved_off_the_loop_and_cached(backend: Backend) -> None:
    # "localhost" comes from /etc/hosts ("files" precede "dns" in nsswitch): no packet leaves
    run = probe(backend.url("/close", host="localhost"), count=3)
    s = run.samples
    assert (s["error_kind"] == "").all(), s["error"].tolist()
    assert s["connection_id"].tolist() == [1, 2, 3] and not s["reused"].any()
    assert s.loc[0, "dns_ms"] > 0
    assert (s.loc[1:, "dns_ms"] == 0).all()  # cached, like libcurl's 60 s DNS cache


def test_connection_close_and_server_drops(backend: Backend) -> None:
    run = probe(backend.url("/close"), count=4)
    assert backend.connections == 4 and not run.samples["reused"].any()
    # a server that closes without saying so: the stale connection is retried once, like curl
    backend.connections = 0
    dropped = probe(backend.url("/drop"), count=5).samples
    assert (dropped["error_kind"] == "").all(), dropped["error"].tolist()
    assert backend.connections == 5 and dropped["connection_id"].nunique() == 5


def test_framing_chunked_head_interim(backend: Backend) -> None:
    chunked = probe(backend.url("/chunked?chunks=5,300,1"), count=3).samples
    assert (chunked["bytes"] == 306).all() and (chunked["error_kind"] == "").all()
    assert chunked["reused"].tolist() == [False, True, True]
    head = probe(backend.url("/ok?size=5000"), count=2, method="head").samples
    assert (head["bytes"] == 0).all() and (head["status"] == 200).all() and head["reused"].iloc[1]
    interim = probe(backend.url("/interim"), count=1).samples.iloc[0]
    assert interim["status"] == 200 and interim["bytes"] == len(b"after interim")


def test_statuses_are_counted_and_answers_of_400_and_more_are_failures(backend: Backend) -> None:
    run = probe(backend.url("/status?code=503"), count=4)
    summary = run.summary()
    assert summary["status_codes"] == {"503": 4} and summary["errors"] == 4 and summary["ok"] == 0
    assert summary["errors_by_kind"] == {"http_503": 4} and set(run.samples["error"]) == {"HTTP 503"}
    assert math.isnan(summary["p50_ms"])  # no latency of requests that were not served
    accepted = probe(backend.url("/status?code=404"), count=2, accept_status=[404]).summary()
    assert accepted["errors"] == 0 and accepted["ok"] == 2 and accepted["status_codes"] == {"404": 2}
    redirect = probe(backend.url("/status?code=302"), count=1).summary()
    assert redirect["ok"] == 1  # 1xx-3xx are served


def test_accept_status_must_be_statuses(backend: Backend) -> None:
    with pytest.raises(ProbeError, match="accept_status must be HTTP statuses"):
        probe(backend.url(), count=1, accept_status=[99])


def test_progress_callback(backend: Backend) -> None:
    calls: list[tuple[int, int | None, float]] = []
    probe(backend.url(), count=10, on_progress=lambda d, p, e: calls.append((d, p, e)))
    assert calls and calls[-1][:2] == (10, 10)
    calls.clear()
    probe(backend.url("/delay?ms=10"), duration=0.25, on_progress=lambda d, p, e: calls.append((d, p, e)))
    assert calls[-1][1] is None and len(calls) >= 2 and calls[-1][2] >= 0.25


def test_progress_bar(backend: Backend, capsys: pytest.CaptureFixture[str]) -> None:
    probe(backend.url(), count=5, progress_bar=True, label="canary")
    err = capsys.readouterr().err
    assert "canary" in err and "5/5" in err
    probe(backend.url("/delay?ms=10"), duration=0.2, progress_bar=True, label="timed")
    assert "timed: 100%" in capsys.readouterr().err.replace("\r", "\n")  # a duration bar counts seconds


def test_to_dict_is_json_ready(backend: Backend) -> None:
    run = probe(backend.url(), count=2, label="canary")
    out = run.to_dict()
    assert set(out) == {"parameters", "summary", "samples"}
    assert out["parameters"]["label"] == "canary" and out["summary"]["label"] == "canary"
    assert out["samples"][0]["upstream_ms"] is None and isinstance(out["samples"][0]["seq"], int)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: cannot make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=bookinfo-gateway.test", "-addext", "subjectAltName=DNS:bookinfo-gateway.test",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def test_https_and_tls_errors(tls_files: tuple[Path, Path], backend: Backend) -> None:
    cert, key = tls_files
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    secure, thread = start_backend(ctx)
    try:
        url = f"https://127.0.0.1:{secure.port}/ok"
        run = probe(url, count=3, host="bookinfo-gateway.test", verify_tls=False)
        s = run.samples
        assert (s["error_kind"] == "").all(), s["error"].tolist()
        assert s.loc[0, "tls_ms"] > 0 and s["reused"].tolist() == [False, True, True]
        assert secure.hosts == ["bookinfo-gateway.test"] * 3
        # a self-signed certificate is refused when verifying
        bad = probe(url, count=1, host="bookinfo-gateway.test").samples.iloc[0]
        assert bad["error_kind"] == "tls" and "certificate" in bad["error"]
    finally:
        stop_backend(secure, thread)
    # TLS to a plain-HTTP port fails in the handshake
    plain = probe(f"https://127.0.0.1:{backend.port}/ok", count=1, verify_tls=False).samples.iloc[0]
    assert plain["error_kind"] == "tls"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"url": "ftp://example.test/"}, "only http and https"),
    ({"url": "127.0.0.1:31241/productpage"}, "no scheme"),
    ({"url": "http://"}, "no host"),
    ({"url": "http://127.0.0.1:99999/"}, "invalid URL"),
    ({"url": "http://user:pw@127.0.0.1/"}, "credentials"),
    ({"url": "http://127.0.0.1/a b"}, "whitespace"),
    ({"url": "http://127.0.0.1/", "count": None}, "unbounded"),
    ({"url": "http://127.0.0.1/", "count": 0}, "count must be"),
    ({"url": "http://127.0.0.1/", "duration": -1, "count": None}, "duration must be"),
    ({"url": "http://127.0.0.1/", "concurrency": 0}, "concurrency must be"),
    ({"url": "http://127.0.0.1/", "qps": 0}, "qps must be"),
    ({"url": "http://127.0.0.1/", "timeout": 0}, "timeout must be"),
    ({"url": "http://127.0.0.1/", "qps": 1, "duration": 0.5, "count": None}, "schedule is empty"),
    ({"url": "http://127.0.0.1/", "headers": {"x-evil": "a\r\nb: c"}}, "line break"),
    ({"url": "http://127.0.0.1/", "headers": {"Host": "a"}, "host": "b"}, "Host given twice"),
    ({"url": "http://127.0.0.1/", "method": "GE T"}, "invalid HTTP method"),
    ({"url": "http://127.0.0.1/", "host": "a b"}, "invalid Host header"),
])
def test_bad_input_is_refused_before_sending(kwargs: dict[str, object], message: str) -> None:
    args = {"count": 1, **kwargs}
    url = args.pop("url")
    with pytest.raises(ProbeError) as info:
        probe(url, **args)  # type: ignore[arg-type]
    assert isinstance(info.value, InputError)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_error_kinds_are_the_documented_ones() -> None:
    assert ERROR_KINDS == ("refused", "timeout", "reset", "dns", "tls", "http_protocol", "other")
