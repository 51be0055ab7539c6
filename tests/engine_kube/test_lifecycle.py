"""``runbook sandbox --engine kube`` as a user runs it: one-line errors for bad input and
faults, and nothing left behind — no process, no run directory, no socket — after Ctrl-C or
when a component dies."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from runbook.sandbox.process import read_state, sandbox_dir
from tests.engine_kube.conftest import wait_for

BAD_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: mismatched
  namespace: default
spec:
  selector:
    matchLabels: {app: one}
  template:
    metadata:
      labels: {app: two}
    spec:
      containers:
      - name: app
        image: nginx
"""


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runbook", "sandbox", "--engine", "kube",
                           *args], capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, **(env or {})})


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _assert_nothing_left(pids: list[int]) -> None:
    # killed components may take a moment to exit on a loaded machine
    wait_for(lambda: not [p for p in pids if _alive(p)], timeout=30,
             what="every engine process gone")
    assert not list(sandbox_dir().glob("kube-*")), "a run directory was left behind"
    assert read_state() is None


def test_without_go_it_says_what_to_install() -> None:
    done = _cli("--scenario", "empty", env={"MESH_RUNBOOK_GO": ""}, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "`go` is not installed" in lines[0] and "install Go" in lines[0]
    _assert_nothing_left([])


def test_an_unknown_scenario_is_one_line_before_anything_starts() -> None:
    done = _cli("--scenario", "no-such-scenario", timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        done.stderr.strip()] and "unknown scenario 'no-such-scenario'" in done.stderr


def test_a_port_in_use_is_one_line(engine_binary: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = _cli("--port", str(port), timeout=60)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert f"port {port} on 127.0.0.1 is in use" in done.stderr
    _assert_nothing_left([])


def test_a_scenario_the_apiserver_refuses_names_object_and_reason(engine_binary: Path,
                                                                   tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(BAD_DEPLOYMENT)
    done = _cli("--scenario", str(tmp_path))
    assert done.returncode == 2, done.stderr
    error = [ln for ln in done.stderr.splitlines() if ln.startswith("runbook sandbox:")]
    assert len(error) == 1, done.stderr
    assert "bad.yaml (document 1, line 1): Deployment/default/mismatched" in error[0]
    # the real apiserver's validation message, as kubectl would show it
    assert 'Deployment.apps "mismatched" is invalid' in error[0]
    assert "`selector` does not match template `labels`" in error[0]
    _assert_nothing_left([])


def _start(tmp_path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "runbook", "sandbox", "--engine", "kube",
                             "--scenario", "empty"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (read_state() is not None and read_state().pid == proc.pid)  # type: ignore[union-attr]
             or proc.poll() is not None, timeout=300, what="the engine's state file")
    assert proc.poll() is None, proc.communicate()
    return proc


def test_ctrl_c_stops_everything_and_removes_its_files(engine_binary: Path,
                                                       tmp_path: Path) -> None:
    proc = _start(tmp_path)
    children = _children(proc.pid)
    assert len(children) == 4  # etcd, apiserver, controller-manager, scheduler
    assert list(sandbox_dir().glob("kube-*"))
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=180)  # four processes stop in turn (~13 s when idle)
    assert proc.returncode == 0, err
    assert "sandbox stopped" in out
    _assert_nothing_left(children)


@pytest.mark.parametrize("component", ["scheduler"])
def test_a_component_that_dies_stops_the_engine_and_is_named(engine_binary: Path,
                                                             tmp_path: Path,
                                                             component: str) -> None:
    proc = _start(tmp_path)
    children = _children(proc.pid)
    victim = next(p for p in children
                  if (Path("/proc") / str(p) / "cmdline").read_bytes().split(b"\0")[1]
                  == component.encode())
    os.kill(victim, signal.SIGKILL)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 2
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"runbook sandbox: the real engine stopped: {component} exited "
                           "with status -9"), err
    _assert_nothing_left(children)


def test_a_failed_build_is_one_line_naming_go_s_error(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from runbook.sandbox.realkube.build import BuildError, ensure_binary, find_go

    if find_go() is None:
        pytest.skip("go is not installed: the real engine cannot be built")
    module = tmp_path / "module"
    module.mkdir()
    (module / "go.mod").write_text("module broken\n\ngo 1.26.0\n")
    (module / "main.go").write_text("package main\n\nfunc main() { undefinedCall() }\n")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(BuildError) as caught:
        ensure_binary(progress=lambda line: None, module_dir=module)
    line = caught.value.one_line()
    assert "\n" not in line and "`go build` of the real engine failed" in line
    assert "undefined: undefinedCall" in line and "build.log" in line
    assert not list((tmp_path / "cache").rglob("mesh-engine*"))  # nothing half-built is kept
