"""The sandbox as a process: state file, discovery from another process, the CLI."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client, config

from runbook.cli import main
from runbook.sandbox import ensure_running, find_running, stop_running
from runbook.sandbox.process import admin_request, state_path


def test_ensure_running_starts_a_background_sandbox_that_others_find(capsys: pytest.CaptureFixture[str]
                                                                      ) -> None:
    assert find_running() is None
    started = time.monotonic()
    info = ensure_running(scenario="empty")
    elapsed = time.monotonic() - started
    try:
        assert elapsed < 10
        assert info.url.startswith("https://127.0.0.1:")
        assert state_path().is_file()
        # another process (a notebook kernel) finds it through the state file and uses it
        code = ("from runbook.sandbox import find_running; from kubernetes import client, config;"
                "i = find_running(); api = config.new_client_from_config(str(i.kubeconfig_path), "
                "context='sandbox'); print(len(client.CoreV1Api(api).list_namespace().items))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=os.environ.copy(), timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "4"
        assert ensure_running().pid == info.pid  # reused, not started twice
        assert main(["sandbox", "status", "-o", "json"]) == 0
        assert json.loads(capsys.readouterr().out)["scenario"] == "empty"
        api = config.new_client_from_config(str(info.kubeconfig_path), context="sandbox")
        client.CoreV1Api(api).create_namespace({"metadata": {"name": "temp"}})
        assert main(["sandbox", "reset"]) == 0
        names = [n.metadata.name for n in client.CoreV1Api(api).list_namespace().items]
        assert "temp" not in names
        api.close()
    finally:
        assert main(["sandbox", "stop"]) == 0
    assert find_running() is None and not state_path().exists()
    assert main(["sandbox", "status"]) == 2  # nothing running: a one-line error, exit 2


def test_stale_state_file_is_detected_and_removed() -> None:
    state_path().parent.mkdir(parents=True, exist_ok=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    state_path().write_text(json.dumps({
        "pid": int(dead), "url": "https://127.0.0.1:9", "kubeconfig_path": "/nonexistent",
        "ca_path": "/nonexistent", "scenario": "empty", "token": "x", "started_at": 0}))
    assert find_running() is None
    assert not state_path().exists()
    state_path().write_text("{not json")
    assert find_running() is None and not state_path().exists()
    assert stop_running() is None


@pytest.mark.slow
def test_foreground_cli_prints_export_and_stops_on_sigterm(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc"
    proc = subprocess.Popen([sys.executable, "-m", "runbook", "sandbox", "--kubeconfig-out",
                             str(kubeconfig), "--scenario", "empty"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=os.environ.copy())
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        second = proc.stdout.readline()
        assert first.startswith("sandbox serving https://127.0.0.1:")
        assert second.strip() == f"export KUBECONFIG={kubeconfig}"
        info = find_running()
        assert info is not None and info.pid == proc.pid
        assert admin_request(info, "GET", "/version")["gitVersion"] == "v1.32.0"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert not state_path().exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_unknown_scenario_fails_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "--scenario", "no-such-scenario"]) == 2
    err = capsys.readouterr().err
    assert "unknown scenario 'no-such-scenario'" in err and "empty" in err
    assert find_running() is None


def test_stop_also_stops_a_sandbox_that_no_longer_answers() -> None:
    info = ensure_running(scenario="empty")
    os.kill(info.pid, signal.SIGSTOP)  # alive, but answers nothing (as a wedged server would)
    try:
        stopped = stop_running(timeout=5)
        assert stopped is not None and stopped.pid == info.pid
        assert not state_path().exists()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(info.pid, signal.SIGCONT)
    # stop_running continued it, waited for its exit and reaped it (our child): it is gone
    with pytest.raises(ProcessLookupError):
        os.kill(info.pid, 0)
