"""Fault specs (``runbook sandbox --faults``): the parser, the answers they produce, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runbook import kinds as k
from runbook.cli import main
from runbook.errors import InputError
from runbook.kube import connect
from runbook.sandbox import Fault, Sandbox
from runbook.sandbox.apiserver.faults import format_fault_spec, parse_fault_spec
from runbook.sandbox.process import admin_request, read_state
from tests.sandbox.helpers import raw

from .conftest import Ledger, assert_one_clear_line


@pytest.mark.parametrize(("spec", "fields"), [
    ("list:pods:503:times=3,retry-after=1",
     dict(action="error", verb="list", resource="pods", status=503, times=3, retry_after=1)),
    ("update:mutatingwebhookconfigurations:409:times=5",
     dict(action="error", verb="update", resource="mutatingwebhookconfigurations", status=409)),
    ("get:*:latency=2", dict(action="latency", verb="get", resource="", latency=2.0)),
    ("*:*:500:probability=0.05", dict(verb="", resource="", status=500, probability=0.05)),
    ("create:configmaps:drop-response", dict(action="drop-response", verb="create")),
    ("delete:replicasets.apps:drop:ns=prod,name=web-1",
     dict(action="drop", namespace="prod", name="web-1", resource="replicasets.apps")),
    ("watch:pods:truncate-watch=3", dict(action="truncate-watch", after_events=3)),
    ("watch:pods:truncate-watch", dict(action="truncate-watch", after_events=0)),
    ("patch:virtualservices:504:skip=1,latency=0.5,path=/apis/networking.istio.io",
     dict(status=504, skip=1, latency=0.5, path="/apis/networking.istio.io")),
    ("LIST:Pods:503:message=etcd is down",
     dict(verb="list", resource="pods", message="etcd is down")),
])
def test_valid_specs_become_faults_and_print_back(spec: str, fields: dict[str, Any]) -> None:
    fault = parse_fault_spec(spec)
    for name, value in fields.items():
        assert getattr(fault, name) == value, name
    again = parse_fault_spec(format_fault_spec(fault))
    assert again.to_dict() == fault.to_dict()


@pytest.mark.parametrize(("spec", "why"), [
    ("list:pods", "expected at least VERB:RESOURCE:EFFECT"),
    ("", "expected at least VERB:RESOURCE:EFFECT"),
    ("fetch:pods:503", "unknown verb 'fetch'"),
    ("list:pods:200", "an HTTP error status (400-599), not 200"),
    ("list:pods:teapot", "unknown effect 'teapot'"),
    ("list:pods:latency", "latency needs seconds"),
    ("list:pods:latency=soon", "latency must be a number"),
    ("list:pods:503:times=0", "times must be at least 1"),
    ("list:pods:503:times=2.5", "times must be a whole number"),
    ("list:pods:503:probability=1.5", "probability must be between 0 and 1"),
    ("list:pods:503:retry-after=-1", "must be a finite number, not negative"),
    ("get:pods:latency=inf", "must be a finite number"),
    ("list:pods:503:colour=red", "unknown option 'colour=red'"),
    ("list:pods:503:times", "unknown option 'times'"),
    ("list:pods:drop=1", "drop takes no value"),
])
def test_bad_specs_are_refused_in_one_line(spec: str, why: str) -> None:
    with pytest.raises(InputError) as err:
        parse_fault_spec(spec)
    assert why in str(err.value)
    assert "list:pods:503:times=3,retry-after=1" in str(err.value)  # the fix is on the same line
    assert_one_clear_line(str(err.value))


def test_an_injected_409_is_shaped_like_a_real_conflict(sandbox: Sandbox) -> None:
    """A stale-resourceVersion PUT answers with the registry's Conflict; the fault, the same."""
    path = "/api/v1/namespaces/default/configmaps/cm"
    code, _, body = raw(sandbox, "POST", "/api/v1/namespaces/default/configmaps",
                        json.dumps({"metadata": {"name": "cm"}}))
    created = json.loads(body)
    stale = {**created, "metadata": {**created["metadata"], "resourceVersion": "1"}}
    code, _, real = raw(sandbox, "PUT", path, json.dumps(stale))
    assert code == 409
    sandbox.faults.add(parse_fault_spec("update:configmaps:409:times=1"))
    code, _, injected = raw(sandbox, "PUT", path, json.dumps(created))  # a current rv: no conflict
    assert code == 409
    assert json.loads(injected) == json.loads(real)
    assert json.loads(real)["details"] == {"name": "cm", "kind": "configmaps"}


def test_an_injected_429_is_the_apiservers_plain_text_answer(sandbox: Sandbox) -> None:
    """kube-apiserver's max-in-flight/APF filter answers 429 with ``http.Error`` (text/plain)."""
    sandbox.faults.add(parse_fault_spec("list:pods:429:times=1"))
    code, headers, body = raw(sandbox, "GET", "/api/v1/pods")
    assert code == 429
    assert headers["Retry-After"] == "1" and headers["Content-Type"].startswith("text/plain")
    assert body == b"Too many requests, please try again later.\n"
    c = connect(sandbox.kubeconfig_path, "sandbox")
    sandbox.faults.add(parse_fault_spec("list:pods:429:retry-after=0,times=1"))
    assert c.list(k.PODS) == [] and c.requests[-1].attempts == 2  # understood and retried
    c.close()


def test_drop_response_commits_the_write_and_loses_the_answer(sandbox: Sandbox) -> None:
    sandbox.faults.add(parse_fault_spec("create:configmaps:drop-response:times=1"))
    with pytest.raises(OSError):
        raw(sandbox, "POST", "/api/v1/namespaces/default/configmaps",
            json.dumps({"metadata": {"name": "lost-answer"}}), timeout=5)
    assert sandbox.store.get(k.CONFIG_MAPS.key, "default", "lost-answer") is not None
    (record,) = sandbox.requests.find("POST", "/api/v1/namespaces/default/configmaps")
    assert record.status == 0  # the request log says no answer left the server


def test_skip_lets_the_first_matching_requests_through(sandbox: Sandbox) -> None:
    sandbox.faults.add(parse_fault_spec("get:namespaces:503:skip=2,times=1"))
    codes = [raw(sandbox, "GET", "/api/v1/namespaces/default")[0] for _ in range(4)]
    assert codes == [200, 200, 503, 200]


def test_the_cli_refuses_bad_specs_before_starting_anything(capsys: pytest.CaptureFixture[str],
                                                             ledger: Ledger) -> None:
    assert main(["sandbox", "--faults", "list:pods:503", "list:pods:9000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("runbook sandbox: fault spec 'list:pods:9000'") and err.count("\n") == 1
    assert read_state() is None  # nothing was started
    assert main(["sandbox", "status", "--faults", "list:pods:503"]) == 2
    assert "--faults applies when a sandbox starts" in capsys.readouterr().err
    ledger.record("bad_input", surface="CLI", input="runbook sandbox --faults list:pods:9000",
                  expected="exit 2", got="exit 2", message=err.strip(), unchanged="nothing started")


@pytest.mark.slow
def test_runbook_sandbox_faults_are_in_force_from_the_first_request(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kubeconfig = tmp_path / "kc"
    proc = subprocess.Popen(
        [sys.executable, "-m", "runbook", "sandbox", "--kubeconfig-out", str(kubeconfig),
         "--faults", "list:namespaces:503:times=1", "get:*:latency=0.1:probability=0.5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]
        assert lines[0].startswith("sandbox serving https://127.0.0.1:")
        assert lines[1].strip() == f"export KUBECONFIG={kubeconfig}"
        assert lines[2].strip() == "fault 1 in force: list:namespaces:503:times=1"
        assert lines[3].strip() == "fault 2 in force: get:*:latency=0.1:probability=0.5"
        info = read_state()
        assert info is not None and info.pid == proc.pid
        assert main(["sandbox", "status"]) == 0
        assert ("faults:     2 in force: list:namespaces:503:times=1, "
                "get:*:latency=0.1:probability=0.5") in capsys.readouterr().out
        listed = admin_request(info, "GET", "/sandbox/v1/faults")["items"]
        assert [f["status"] for f in listed] == [503, 500]
        cluster = connect(kubeconfig, "sandbox")
        assert len(cluster.list(k.NAMESPACES)) == 4
        assert cluster.requests[-1].attempts == 2  # the injected 503, then the retry
        cluster.close()
        assert [Fault.from_dict({key: v for key, v in f.items() if key not in ("id", "fired")}
                                ).action
                for f in admin_request(info, "GET", "/sandbox/v1/faults")["items"]] == ["latency"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    assert proc.returncode == 0
