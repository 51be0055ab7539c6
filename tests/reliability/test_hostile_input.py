"""Hostile input and unlucky runs (issue #19): bounded YAML/JSON, deadlines, plain HTTP, servers that
are not API servers, the sandbox's admin API and lifecycle, and tracebacks turned into one line.

Every refusal is checked the way users see it (one line with what to do, exit 2) and recorded for
RELIABILITY.md; the hostile servers are raw sockets on 127.0.0.1 (``hostile_servers``).
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import runbook.cli as cli
from runbook.errors import InputError, InputLimitExceeded, NotAnApiServer, RunbookError
from runbook.kube import connect
from runbook.kube.apply import apply_manifests
from runbook.safeload import MAX_ALIAS_NODES, load_json, load_yaml
from runbook.sandbox import Sandbox, ensure_running, find_running, stop_running
from runbook.sandbox.process import state_path
from tests.waiting import wait_until

from .conftest import FAST_RETRY, Ledger, assert_one_clear_line
from .hostile_servers import (
    RawServer,
    answer,
    delayed,
    endless_headers,
    http09,
    huge_header,
    kubeconfig_for,
    redirect,
    rss_bytes,
    server_tls,
    timed,
    trickle,
)
from .test_bad_input import Outcome, cli_run

#: the ~700-byte alias bomb of the issue: fifteen levels of ten aliases (10^15 strings expanded)
BOMB = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: laughs\n  namespace: default\ndata:\n"
        '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        + "".join(f"  {c}: &{c} [{','.join(['*' + p] * 10)}]\n"
                  for p, c in zip("abcdefghijklmn", "bcdefghijklmno", strict=True)))
#: what the RSS of a process that was sent a bomb may grow by (the bomb expanded: gigabytes)
RSS_SLACK = 64 * 2**20
#: the size of the issue's client-side bomb (apply_manifests raised MemoryError on it)
CLIENT_BOMB_BYTES = 591
DEEP_JSON = "[" * 3000 + "]" * 3000
DEEP_YAML = "a:\n" + "".join("  " * i + "- \n" for i in range(1, 400))


def _line(outcome: Outcome) -> str:
    line = outcome.message.strip()
    assert_one_clear_line(line)
    return line


def _record(ledger: Ledger, surface: str, shown: str, expected: str, outcome: Outcome,
            unchanged: str = "nothing sent or written") -> None:
    ledger.record("bad_input", surface=surface, input=shown, expected=expected,
                  got=outcome.result, message=outcome.message.strip(), unchanged=unchanged)


# ---------------------------------------------------------------- YAML and JSON bombs, the sandbox


def _send(sb: Sandbox, method: str, path: str, body: bytes, content_type: str,
          token: str) -> tuple[int, dict[str, Any]]:
    context = ssl.create_default_context(cafile=str(sb.ca_path))
    conn = http.client.HTTPSConnection("127.0.0.1", sb.port, context=context, timeout=30)
    try:
        conn.request(method, path, body=body, headers={
            "Authorization": f"Bearer {token}", "Content-Type": content_type})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, (json.loads(data) if data.startswith(b"{") else {})
    finally:
        conn.close()


@pytest.fixture(scope="module")
def bare_sandbox() -> Iterator[Sandbox]:
    with Sandbox(scenario="seed-incident", clock="manual") as sb:
        yield sb


def test_the_bomb_is_the_one_of_the_issue() -> None:
    # the same text a plain loader expands without limit: the fixture is a real bomb
    assert 650 <= len(BOMB) <= 750, len(BOMB)
    with pytest.raises(InputLimitExceeded, match="aliases expand to more than"):
        load_yaml(BOMB)


@pytest.mark.parametrize(("who", "method", "path", "content_type", "body", "code"), [
    # the read-only user may create a SelfSubjectAccessReview: its body is parsed, bounded
    ("readonly", "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
     "application/yaml", BOMB, 400),
    # a write the read-only user may not make is refused before its body is read
    ("readonly", "POST", "/api/v1/namespaces/default/configmaps", "application/yaml", BOMB, 403),
    ("admin", "POST", "/api/v1/namespaces/default/configmaps", "application/yaml", BOMB, 400),
    ("admin", "PATCH", "/api/v1/namespaces/default/configmaps/laughs?fieldManager=x",
     "application/apply-patch+yaml", BOMB, 400),
    ("admin", "POST", "/api/v1/namespaces/default/configmaps", "application/json",
     DEEP_JSON, 400),
    ("admin", "PATCH", "/api/v1/namespaces/istio-prod/configmaps/istio-1-18-5",
     "application/merge-patch+json", '{"data": {"x": ' + "[" * 2000 + "]" * 2000 + "}}", 400),
], ids=["readonly-ssar-bomb", "readonly-write-bomb", "admin-configmap-bomb", "admin-apply-bomb",
        "admin-deep-json", "admin-deep-merge-patch"])
def test_yaml_and_json_bombs_leave_the_sandbox_up_and_small(
        bare_sandbox: Sandbox, ledger: Ledger, who: str, method: str, path: str,
        content_type: str, body: str, code: int) -> None:
    sb = bare_sandbox
    token = sb.readonly_token if who == "readonly" else sb.token
    before_rv, before_rss = sb.store.resource_version, rss_bytes()
    (status, answer_body), seconds = timed(lambda: _send(sb, method, path, body.encode(),
                                                         content_type, token))
    grown = rss_bytes() - before_rss
    assert status == code, answer_body
    assert grown < RSS_SLACK, f"the sandbox grew by {grown / 2**20:.0f} MiB"
    assert sb.store.resource_version == before_rv
    message = str(answer_body.get("message", ""))
    if code == 400:
        assert "nested deeper" in message or "aliases expand" in message, message
    # still serving
    assert _send(sb, "GET", "/api/v1/namespaces", b"", "application/json", sb.token)[0] == 200
    ledger.record("security", check=f"{len(body)}-byte {content_type} body as {who} user: "
                                    f"{method} {path.split('?')[0]}",
                  how="sent over HTTPS to a running sandbox (same process: RSS measured)",
                  result=f"{status} in {seconds * 1000:.0f} ms, RSS +{max(grown, 0) / 2**20:.1f} "
                         f"MiB, still serving; {message[:120]}")


def test_a_bomb_in_the_mesh_configmap_is_ignored_by_the_emulated_istiod(
        bare_sandbox: Sandbox, ledger: Ledger) -> None:
    sb = bare_sandbox
    cluster = connect(sb.kubeconfig_path, "sandbox", retry=FAST_RETRY)
    before = rss_bytes()
    from runbook.kinds import CONFIG_MAPS

    original = cluster.get(CONFIG_MAPS, "istio-1-18-5", "istio-prod")
    try:
        cluster.patch(CONFIG_MAPS, "istio-1-18-5", {"data": {"mesh": BOMB}}, "istio-prod")
        sb.settle()
        assert rss_bytes() - before < RSS_SLACK
        # the client reading the same ConfigMap refuses it in one line, as istiod ignores it
        from runbook.meshconfig import discovery_selectors

        with pytest.raises(InputLimitExceeded) as err:
            discovery_selectors(BOMB)
        assert_one_clear_line(str(err.value))
    finally:
        cluster.patch(CONFIG_MAPS, "istio-1-18-5",
                      {"data": {"mesh": (original.get("data") or {}).get("mesh", "")}},
                      "istio-prod")
        cluster.close()
    ledger.record("security", check="alias bomb as the mesh ConfigMap's `mesh` key",
                  how="patched by the admin user; emulated istiod and discovery_selectors read it",
                  result="istiod ignores it (as an unreadable meshConfig), the client refuses it "
                         "in one line; RSS stays within 64 MiB")


# ---------------------------------------------------------------- bombs and deep nesting, the client


@pytest.fixture
def hostile_files(tmp_path: Path) -> dict[str, Path]:
    client_bomb = ('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: default}\n'
                   'data:\n  a: &a ["x","x","x","x","x","x","x","x","x","x"]\n'
                   + "".join(f"  {c}: &{c} [{','.join(['*' + p] * 10)}]\n"
                             for p, c in zip("abcdefghijk", "bcdefghijkl", strict=True)))
    # padded with a comment to the 591 bytes of the issue's file
    client_bomb += "#" * (CLIENT_BOMB_BYTES - len(client_bomb) - 1) + "\n"
    files = {"client-bomb.yaml": client_bomb, "deep.json": DEEP_JSON, "deep.yaml": DEEP_YAML}
    out = {}
    for name, text in files.items():
        out[name] = tmp_path / name
        out[name].write_text(text)
    os.mkfifo(tmp_path / "pipe.yaml")
    out["pipe.yaml"] = tmp_path / "pipe.yaml"
    return out


def test_the_client_bomb_is_refused_before_any_work(
        bare_sandbox: Sandbox, hostile_files: dict[str, Path], ledger: Ledger) -> None:
    bomb = hostile_files["client-bomb.yaml"]
    assert bomb.stat().st_size == CLIENT_BOMB_BYTES
    cluster = connect(bare_sandbox.kubeconfig_path, "sandbox", retry=FAST_RETRY)
    sent = len(cluster.requests)
    before = rss_bytes()
    try:
        with pytest.raises(InputLimitExceeded) as err:
            apply_manifests(cluster, bomb)
    finally:
        cluster.close()
    assert rss_bytes() - before < RSS_SLACK
    assert len(cluster.requests) == sent, "a request was sent for a refused file"
    assert_one_clear_line(str(err.value))
    assert f"more than {MAX_ALIAS_NODES:,} nodes" in str(err.value)
    _record(ledger, "Python", f"apply_manifests(<{bomb.stat().st_size}-byte alias bomb>)",
            "InputLimitExceeded", Outcome("InputLimitExceeded", str(err.value)),
            "no request sent; RSS within 64 MiB")


@pytest.mark.slow
def test_notebook_01_refuses_a_bomb_as_its_manifests_parameter(
        bare_sandbox: Sandbox, tmp_path: Path, ledger: Ledger) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)
    before = bare_sandbox.store.resource_version
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["run", "01", "-p", "manifests", str(bomb), "--kubeconfig",
                         str(bare_sandbox.kubeconfig_path), "--context", "sandbox",
                         "--out", str(tmp_path / "out")])
    # the run stops at the cell that loads the manifests, named with the one-line error
    assert code == 1, err.getvalue()
    line = next(ln for ln in err.getvalue().splitlines() if "InputLimitExceeded" in ln)
    assert "aliases expand to more than" in line and "cell" in line
    assert bare_sandbox.store.resource_version == before
    ledger.record("bad_input", surface="notebook", input="runbook run 01 -p manifests "
                  f"<{len(BOMB)}-byte alias bomb>", expected="exit 1 (cell named)",
                  got=f"exit {code}", message=line.strip(), unchanged=f"rv {before} unchanged")


def test_a_deeply_nested_sidecar_annotation_is_skipped_not_a_crash(
        bare_sandbox: Sandbox, ledger: Ledger) -> None:
    from runbook.kinds import PODS
    from runbook.wellknown import SIDECAR_STATUS_ANNOTATION

    cluster = connect(bare_sandbox.kubeconfig_path, "sandbox", retry=FAST_RETRY)
    deep = "[" * 50_000 + "]" * 50_000  # 100 kB: fits the 256 kB annotation budget
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "deep-annotation", "namespace": "default",
                        "annotations": {SIDECAR_STATUS_ANNOTATION: deep}},
           "spec": {"containers": [{"name": "app", "image": "app"}]}}
    try:
        cluster.create(PODS, pod)
        outcome = cli_run("inventory", "--kubeconfig", str(bare_sandbox.kubeconfig_path),
                          "--context", "sandbox", "-o", "json")
    finally:
        cluster.delete(PODS, "deep-annotation", "default")
        cluster.close()
    assert outcome.result == "exit 0", outcome
    ledger.record("security", check="a pod annotation sidecar.istio.io/status nested 50,000 deep",
                  how="runbook inventory against the sandbox holding that pod",
                  result="exit 0: the annotation is read as unparseable (no RecursionError)")


#: (command and flag, the hostile file it is given, part of the expected line)
CLI_FILE_ROWS: list[tuple[str, str, str]] = [
    ("analyze -f", "client-bomb.yaml", "aliases expand"),
    ("analyze -f", "deep.json", "nested deeper than 100"),
    ("analyze -f", "deep.yaml", "nested deeper than 100"),
    ("inventory --kubeconfig", "deep.json", "nested deeper than 100"),
    ("analyze -f", "pipe.yaml", "is a FIFO (named pipe)"),
    ("inventory --kubeconfig", "pipe.yaml", "is a FIFO (named pipe)"),
]
#: how the report names each hostile file
FILE_SHOWN = {"client-bomb.yaml": f"<{CLIENT_BOMB_BYTES}-byte alias bomb>",
              "deep.json": "<JSON nested 3,000 deep>", "deep.yaml": "<YAML nested 400 deep>",
              "pipe.yaml": "<a FIFO>"}


@pytest.mark.parametrize(("command", "file", "part"), CLI_FILE_ROWS,
                         ids=[f"{c.split()[0]}-{f}" for c, f, _ in CLI_FILE_ROWS])
def test_hostile_files_are_one_line_and_exit_2(
        hostile_files: dict[str, Path], ledger: Ledger, command: str, file: str,
        part: str) -> None:
    outcome, seconds = timed(lambda: cli_run(*command.split(), str(hostile_files[file])))
    assert outcome.result == "exit 2", outcome
    assert part in _line(outcome)
    assert seconds < 10, f"took {seconds:.1f} s"
    _record(ledger, "CLI", f"runbook {command} {FILE_SHOWN[file]}", "exit 2", outcome)


def test_json_is_bounded_like_yaml() -> None:
    with pytest.raises(InputLimitExceeded):
        load_json(DEEP_JSON)
    with pytest.raises(InputLimitExceeded):
        load_json("[" * 101 + "]" * 101)
    assert load_json("[" * 100 + "]" * 100) is not None
    with pytest.raises(InputLimitExceeded, match="refers to the node that contains it"):
        load_yaml("a: &a [1, *a]\n")
    # ordinary anchors are fine
    assert load_yaml("a: &x {b: 1}\nc: *x\n") == {"a": {"b": 1}, "c": {"b": 1}}


# ---------------------------------------------------------------- deadlines, plain HTTP, fake servers


def _inventory(kubeconfig: Path, *extra: str) -> tuple[Outcome, float]:
    return timed(lambda: cli_run("inventory", "--kubeconfig", str(kubeconfig), "--context", "x",
                                 *extra))


@pytest.mark.parametrize(("name", "handler", "tls", "extra", "part", "limit"), [
    ("trickling one byte every 2 s (https)", trickle(2.0), True, (),
     "no complete answer within 3 s", 10.0),
    ("trickling, --request-timeout 1s (http, allowed)", trickle(2.0), False,
     ("--request-timeout", "1s", "--insecure-plain-http"), "no complete answer within 1 s", 6.0),
    ("never-ending header (https)", endless_headers, True, (), "cannot reach", 10.0),
    ("503 after 1 s to everything, --deadline 2s (https)",
     delayed(1.0, answer("503 Service Unavailable", b'{"kind": "Status", "code": 503}')), True,
     ("--deadline", "2s"), "the command's deadline (2 s) passed", 6.0),
    ("404 to everything (https)", answer("404 Not Found", b"404 page not found\n", "text/plain"),
     True, (), "not a Kubernetes API server", 10.0),
    ("an HTML page (https)", answer("200 OK", b"<html><body>hello</body></html>", "text/html"),
     True, (), "not JSON", 10.0),
    ("JSON of another shape (https)", answer("200 OK", b'{"hello": "world"}'), True, (),
     "not a Kubernetes version", 10.0),
], ids=["trickle", "trickle-1s", "endless-header", "slow-503-deadline", "404", "html",
        "wrong-json"])
def test_a_server_that_stalls_or_is_no_api_server_is_one_line_exit_2(
        tmp_path: Path, ledger: Ledger, name: str, handler: Any, tls: bool,
        extra: tuple[str, ...], part: str, limit: float) -> None:
    context, ca = server_tls() if tls else (None, None)
    with RawServer(handler, tls=context) as server:
        kubeconfig = kubeconfig_for(tmp_path / "kc", server.url, ca)
        outcome, seconds = _inventory(kubeconfig, *extra)
    assert outcome.result == "exit 2", outcome
    assert part in _line(outcome), outcome.message
    assert seconds < limit, f"took {seconds:.1f} s"
    _record(ledger, "CLI", f"runbook inventory {' '.join(extra)} (server: {name})".replace("  ", " "),
            "exit 2", outcome, f"answered in {seconds:.1f} s")


def test_diagnose_against_a_404_server_is_exit_2(tmp_path: Path) -> None:
    context, ca = server_tls()
    with RawServer(answer("404 Not Found", b"not here", "text/plain"), tls=context) as server:
        outcome = cli_run("diagnose", "--kubeconfig", str(kubeconfig_for(tmp_path / "kc",
                                                                         server.url, ca)),
                          "--context", "x")
    assert outcome.result == "exit 2" and "not a Kubernetes API server" in _line(outcome)


def test_an_endless_answer_is_cut_at_the_size_limit(tmp_path: Path, ledger: Ledger) -> None:
    def endless_body(conn: socket.socket, stop: Any) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
        while not stop.is_set():
            conn.sendall(chunk)

    context, ca = server_tls()
    with RawServer(endless_body, tls=context) as server:
        cluster = connect(kubeconfig_for(tmp_path / "kc", server.url, ca), "x", check=False)
        cluster.max_response_bytes = 4 * 2**20
        before = rss_bytes()
        with pytest.raises(NotAnApiServer) as err:
            cluster.version()
        cluster.close()
    assert rss_bytes() - before < RSS_SLACK
    assert_one_clear_line(str(err.value))
    assert "more than 4,194,304 bytes" in str(err.value)
    ledger.record("security", check="an answer that never ends (chunked, 64 KiB chunks)",
                  how="GET /version with max_response_bytes 4 MiB (default 256 MiB)",
                  result=f"NotAnApiServer: {err.value.message[:120]}")


def test_a_stated_length_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    # a body whose Content-Length is within the limit is read whole in one buffer; a larger one
    # is read only up to the limit
    def too_long(conn: socket.socket, stop: Any) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 8388608\r\n\r\n" + b" " * 8388608)

    context, ca = server_tls()
    with RawServer(too_long, tls=context) as server:
        cluster = connect(kubeconfig_for(tmp_path / "kc", server.url, ca), "x", check=False)
        cluster.max_response_bytes = 4 * 2**20
        with pytest.raises(NotAnApiServer) as err:
            cluster.version()
        cluster.close()
    assert "more than 4,194,304 bytes" in str(err.value)


def test_plain_http_is_refused_before_anything_is_sent(tmp_path: Path, ledger: Ledger) -> None:
    with RawServer(answer("200 OK", b'{"gitVersion": "v1.32.0"}')) as server:
        outcome = _inventory(kubeconfig_for(tmp_path / "kc", server.url))[0]
        contacted = len(server.conns)
    assert outcome.result == "exit 2", outcome
    assert "is not https" in _line(outcome) and "--insecure-plain-http" in outcome.message
    assert contacted == 0, "the token was sent"
    _record(ledger, "CLI", "runbook inventory (kubeconfig server: http://…)", "exit 2", outcome,
            "no connection made: the token never left")


def test_request_timeout_takes_kubectl_syntax(bare_sandbox: Sandbox) -> None:
    from runbook.deadline import parse_duration

    assert [parse_duration(v) for v in ("0", "30", "5s", "500ms", "1m30s", "1h")] == [
        0, 30, 5, 0.5, 90, 3600]
    for bad in ("soon", "5x", "-1s", "", "1e308"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    outcome = cli_run("inventory", "--request-timeout", "soon")
    assert outcome.result == "exit 2" and "invalid duration 'soon'" in outcome.message
    kubeconfig = str(bare_sandbox.kubeconfig_path)
    assert cli_run("inventory", "--kubeconfig", kubeconfig, "--context", "sandbox",
                   "--request-timeout", "0", "--table", "control_planes").result == "exit 0"


def test_a_short_deadline_armed_after_a_long_one_still_fires_on_time() -> None:
    from runbook.deadline import socket_deadline

    with socket_deadline(30.0) as long, socket_deadline(0.2) as short:
        a, b = socket.socketpair()
        short.track(lambda: (a,))
        started = time.monotonic()
        data = a.recv(1)  # returns once the deadline shuts the socket down
        took = time.monotonic() - started
        a.close()
        b.close()
    assert data == b"" and short.expired and not long.expired
    assert 0.1 < took < 2.0, took


def test_only_an_earliest_deadline_wakes_the_watchdog() -> None:
    from runbook.deadline import DeadlineWatch, _Watchdog

    dog, wakes = _Watchdog(), []
    notify = dog._cond.notify
    dog._cond.notify = lambda n=1: (wakes.append(n), notify(n))  # type: ignore[method-assign]
    # a request's deadline after the pending ones (the usual case) leaves it asleep
    first, later, earlier = DeadlineWatch(30.0), DeadlineWatch(60.0), DeadlineWatch(0.2)
    dog.arm(30.0, first)
    dog.arm(60.0, later)
    assert len(wakes) == 1
    dog.arm(0.2, earlier)
    assert len(wakes) == 2
    deadline = time.monotonic() + 5
    while not earlier.expired and time.monotonic() < deadline:
        time.sleep(0.01)
    assert earlier.expired and not first.expired and not later.expired


# ---------------------------------------------------------------- analyze -f URL


@pytest.mark.parametrize(("name", "handler", "part"), [
    ("HTTP/0.9 answer", http09, "BadStatusLine"),
    ("a 10 MB header line", huge_header, "LineTooLong"),
    ("never-ending headers", endless_headers, "more than 100 headers"),
    ("one header byte every 2 s", trickle(2.0), "no complete answer within 3 s"),
    ("redirect to ftp://", redirect("ftp://127.0.0.1/bookinfo.yaml"),
     "only http and https are followed"),
    ("redirect to file://", redirect("file:///etc/passwd"), "only http and https are followed"),
], ids=["http09", "huge-header", "endless-headers", "trickle", "redirect-ftp", "redirect-file"])
def test_analyze_url_against_a_hostile_server_is_one_line(
        ledger: Ledger, name: str, handler: Any, part: str) -> None:
    with RawServer(handler) as server:
        outcome, seconds = timed(lambda: cli_run("analyze", "-f", server.url + "/app.yaml"))
    assert outcome.result == "exit 2", outcome
    assert part in _line(outcome), outcome.message
    assert seconds < 10, f"took {seconds:.1f} s"
    _record(ledger, "CLI", f"runbook analyze -f URL (server: {name})", "exit 2", outcome,
            f"answered in {seconds:.1f} s")


# ---------------------------------------------------------------- the sandbox's admin API


ADMIN_ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("advance", {"seconds": 1e308}, "seconds must be a number from 0 to"),
    ("advance", {"seconds": -1}, "seconds must be a number"),
    ("advance", {"seconds": "5"}, "seconds must be a number"),
    ("advance", {"seconds": True}, "seconds must be a number"),
    ("advance", {"seconds": 1, "minutes": 2}, "unknown field(s) minutes"),
    ("settle", {"timeout": 1e308}, "timeout must be a number"),
    ("faults", {"action": "latency", "latency": 1e308}, "latency must be a number"),
    ("faults", {"status": "500"}, "status must be an integer"),
    ("faults", {"times": -1}, "times must be an integer"),
    ("reset", {"scenario": "empty"}, "unknown field(s) scenario"),
]


@pytest.mark.parametrize(("what", "body", "part"), ADMIN_ROWS,
                         ids=[f"{w}-{'-'.join(map(str, b))}" for w, b, _ in ADMIN_ROWS])
def test_the_admin_api_checks_its_arguments_and_stays_healthy(
        bare_sandbox: Sandbox, ledger: Ledger, what: str, body: dict[str, Any],
        part: str) -> None:
    sb = bare_sandbox
    clock_before = sb.clock.time()
    status, answer_body = _send(sb, "POST", f"/sandbox/v1/{what}", json.dumps(body).encode(),
                                "application/json", sb.token)
    assert status == 400, answer_body
    assert part in answer_body["message"], answer_body
    assert sb.clock.time() == clock_before
    assert not list(sb.faults)
    # every later request still works, including a sane advance
    assert _send(sb, "GET", "/api/v1/namespaces", b"", "application/json", sb.token)[0] == 200
    assert _send(sb, "POST", "/sandbox/v1/advance", b'{"seconds": 1}', "application/json",
                 sb.token)[0] == 200
    ledger.record("security", check=f"admin API POST /sandbox/v1/{what} {json.dumps(body)}",
                  how="sent to a running sandbox; then a list and advance 1 s",
                  result=f"400 {answer_body['message'][:100]}; later requests 200")


def test_a_negative_request_log_limit_is_refused(bare_sandbox: Sandbox) -> None:
    sb = bare_sandbox
    assert _send(sb, "GET", "/sandbox/v1/requests?limit=-1", b"", "application/json",
                 sb.token)[0] == 400


def test_a_silent_or_trickling_connection_is_closed(ledger: Ledger) -> None:
    sb = Sandbox(controllers=False, clock="manual")
    sb.idle_timeout = 1.0
    with sb:
        context = ssl.create_default_context(cafile=str(sb.ca_path))
        results = []
        for how in ("silent after the TLS handshake", "request head trickled, a byte per 0.3 s"):
            raw = socket.create_connection(("127.0.0.1", sb.port), timeout=10)
            conn = context.wrap_socket(raw, server_hostname="127.0.0.1")
            started = time.monotonic()
            closed = False
            try:
                if how.startswith("silent"):
                    closed = conn.recv(1) == b""
                else:
                    conn.sendall(b"GET /api HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                    while time.monotonic() - started < 10:
                        conn.sendall(b"a")
                        time.sleep(0.3)
            except (OSError, ssl.SSLError):
                closed = True
            finally:
                conn.close()
            took = time.monotonic() - started
            assert closed and took < 5, f"{how}: still open after {took:.1f} s"
            results.append(f"{how}: closed after {took:.1f} s")
    ledger.record("security", check="unauthenticated connections that never complete a request",
                  how="idle_timeout 1 s (default 90 s, kube-apiserver's IdleTimeout)",
                  result="; ".join(results))


# ---------------------------------------------------------------- the sandbox process's lifecycle


def _start_sandbox_process() -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "runbook.sandbox", "--scenario", "empty",
                             "--port", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=os.environ.copy())

    def started() -> bool:  # another process's start-up: nothing to wait on but its state file
        info = find_running()
        assert proc.poll() is None, "the sandbox process exited"
        return info is not None and info.pid == proc.pid

    try:
        wait_until(started, "the sandbox process's state file", 60)
    except AssertionError:
        proc.kill()
        proc.wait()
        raise
    return proc


def test_status_keeps_an_unhealthy_sandbox_and_nothing_starts_a_second(ledger: Ledger) -> None:
    proc = _start_sandbox_process()
    try:
        os.kill(proc.pid, signal.SIGSTOP)  # alive, holding its port, answering nothing
        outcome = cli_run("sandbox", "status")
        assert outcome.result == "exit 2", outcome
        assert "is running but does not answer" in _line(outcome)
        assert state_path().exists(), "status deleted the state of a live sandbox"
        with pytest.raises(InputError, match="is running but does not answer"):
            ensure_running(scenario="empty")
        assert json.loads(state_path().read_text())["pid"] == proc.pid
        # stop ends it even while it is stopped, and only then forgets it
        stopped = cli_run("sandbox", "stop")
        assert stopped.result == "exit 0", stopped
        assert proc.wait(timeout=20) is not None
        assert not state_path().exists()
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.terminate()
            proc.wait(timeout=30)
    _record(ledger, "CLI", "runbook sandbox status (its process stopped with SIGSTOP)", "exit 2",
            outcome, "state file kept; no second sandbox started")


def test_bombs_leave_a_sandbox_process_up_and_small(ledger: Ledger) -> None:
    proc = _start_sandbox_process()
    try:
        info = find_running()
        assert info is not None
        users = {u["name"]: u["user"]["token"]
                 for u in yaml.safe_load(info.kubeconfig_path.read_text())["users"]}
        context = ssl.create_default_context(cafile=str(info.ca_path))
        before = rss_bytes(proc.pid)
        codes = []
        for user, path in (("sandbox-readonly",
                            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"),
                           ("sandbox", "/api/v1/namespaces/default/configmaps")):
            conn = http.client.HTTPSConnection("127.0.0.1", int(info.url.rsplit(":", 1)[1]),
                                               context=context, timeout=30)
            conn.request("POST", path, body=BOMB.encode(), headers={
                "Authorization": f"Bearer {users[user]}", "Content-Type": "application/yaml"})
            codes.append(conn.getresponse().status)
            conn.close()
        grown = rss_bytes(proc.pid) - before
        assert codes == [400, 400], codes
        assert grown < RSS_SLACK, f"the sandbox process grew by {grown / 2**20:.0f} MiB"
        assert cli_run("sandbox", "status").result == "exit 0"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    ledger.record("security", check=f"the {len(BOMB)}-byte alias bomb to `runbook sandbox` in its "
                                    "own process (read-only SelfSubjectAccessReview, admin "
                                    "ConfigMap)",
                  how="RSS of the sandbox process from /proc before and after",
                  result=f"400, 400; RSS {before / 2**20:.0f} MiB → "
                         f"{(before + grown) / 2**20:.0f} MiB; status still answers")


def test_a_sandbox_that_is_gone_is_replaced_out_loud(capsys: pytest.CaptureFixture[str],
                                                     ledger: Ledger) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state_path().parent.mkdir(parents=True, exist_ok=True)
    state_path().write_text(json.dumps({
        "pid": dead.pid, "url": "https://127.0.0.1:1", "kubeconfig_path": "/nonexistent",
        "ca_path": "/nonexistent", "scenario": "seed-incident", "token": "t", "started_at": 0}))
    info = ensure_running(scenario="empty")
    try:
        err = capsys.readouterr().err
        assert f"the sandbox pid {dead.pid} (https://127.0.0.1:1) is gone" in err, err
        assert f"started a sandbox in the background (scenario empty, pid {info.pid}," in err
        assert info.pid != dead.pid
    finally:
        stop_running()
    ledger.record("security", check="a dead sandbox is replaced",
                  how="state file of an exited process, then connect/ensure_running",
                  result=f"announced on stderr: {err.strip()[:160]}")


# ---------------------------------------------------------------- tracebacks that became one line


def test_out_must_not_name_a_file_nor_write_through_a_symlink(tmp_path: Path,
                                                              ledger: Ledger) -> None:
    file = tmp_path / "report.txt"
    file.write_text("mine")
    victim = tmp_path / "victim"
    victim.write_text("precious")
    planted = tmp_path / "out"
    planted.mkdir()
    (planted / "00-mesh-inventory.html").symlink_to(victim)
    rows = [("runbook run 00 --out <an existing file>", ["run", "00", "--out", str(file)],
             "exists and is not a folder"),
            ("runbook demo --out <an existing file>", ["demo", "--out", str(file)],
             "exists and is not a folder"),
            ("runbook run 00 --out <folder with a planted symlink>",
             ["run", "00", "--out", str(planted)], "is a symbolic link"),
            ("runbook demo --out <folder with a planted symlink>",
             ["demo", "--out", str(planted)], "is a symbolic link")]
    for shown, argv, part in rows:
        outcome = cli_run(*argv)
        assert outcome.result == "exit 2", (shown, outcome)
        assert part in _line(outcome), outcome.message
        _record(ledger, "CLI", shown, "exit 2", outcome, "nothing written; no sandbox started")
    assert file.read_text() == "mine" and victim.read_text() == "precious"
    assert find_running() is None, "the demo started a sandbox before refusing"


@pytest.mark.parametrize(("argv", "part"), [
    (("--qps", "1e-9", "-n", "2"), "qps must be a number from"),
    (("--duration", "1e308"), "duration must be a positive number of seconds up to 86400"),
    (("--timeout", "1e308", "-n", "1"), "timeout must be a positive number of seconds up to"),
    (("--qps", "0.5", "-n", "1000000"), "more than a day"),
], ids=["qps-1e-9", "duration-1e308", "timeout-1e308", "schedule-too-long"])
def test_probe_numbers_out_of_range_are_one_line(ledger: Ledger, argv: tuple[str, ...],
                                                 part: str) -> None:
    outcome = cli_run("probe", "http://127.0.0.1:9/", *argv)
    assert outcome.result == "exit 2", outcome
    assert part in _line(outcome), outcome.message
    _record(ledger, "CLI", f"runbook probe URL {' '.join(argv)}", "exit 2", outcome)


def test_every_refusal_here_is_a_runbook_error() -> None:
    # the classes the rows rely on stay in the documented tree
    assert issubclass(InputLimitExceeded, InputError) and issubclass(InputError, RunbookError)
    assert yaml.safe_load(BOMB) is not None  # PyYAML itself accepts the bomb: the limit is ours
