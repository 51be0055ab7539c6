"""A sandbox as a process of its own, and how other processes (notebook kernels) find it.

``python -m runbook.sandbox`` (and ``runbook sandbox``) runs :func:`serve` in the foreground: it
starts a :class:`~.sandbox.Sandbox`, writes the state file ``$MESH_RUNBOOK_HOME/sandbox/state.json``
(pid, url, kubeconfig path, scenario, CA path, admin token), prints ``export KUBECONFIG=…`` and
runs until SIGINT/SIGTERM, then removes the state file.

:func:`check_running` reads the state file and says whether its process is running (alive and
answering), unhealthy (alive, still a sandbox, but not answering: its state is kept, it holds its
ports) or gone (the stale file is removed); :func:`find_running` is the running one.
:func:`ensure_running` returns the running sandbox or starts one in the background and waits
until it answers, saying so on stderr (and that it replaces one that is gone); it refuses to start
a second one next to an unhealthy one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from runbook.errors import InputError
from runbook.paths import runbook_home
from runbook.sandbox.apiserver.faults import Fault, format_fault_spec

STATE_FILE = "state.json"


@dataclass(frozen=True)
class SandboxInfo:
    """A running sandbox, as its state file describes it.

    Attributes:
        pid: process id of the sandbox server.
        url: ``https://127.0.0.1:PORT``.
        kubeconfig_path: the kubeconfig it wrote (contexts ``sandbox``, ``sandbox-readonly``).
        ca_path: the CA certificate that verifies its TLS certificate.
        scenario: the scenario it was started with.
        token: the bearer token of user ``sandbox`` (for the admin API).
        started_at: epoch seconds.
        engine: ``emulated`` or ``kube`` (files written before engines existed: emulated).
        resets: how many resets the process has done (``kube`` resets on SIGHUP and counts).
    """

    pid: int
    url: str
    kubeconfig_path: Path
    ca_path: Path
    scenario: str
    token: str
    started_at: float
    engine: str = "emulated"
    resets: int = 0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["kubeconfig_path"], data["ca_path"] = str(self.kubeconfig_path), str(self.ca_path)
        return data


def sandbox_dir() -> Path:
    """``$MESH_RUNBOOK_HOME/sandbox`` (created on demand)."""
    return runbook_home() / "sandbox"


def state_path() -> Path:
    """``$MESH_RUNBOOK_HOME/sandbox/state.json``."""
    return sandbox_dir() / STATE_FILE


def read_state() -> SandboxInfo | None:
    """The state file's contents (None when missing or unreadable); no liveness check."""
    try:
        data = json.loads(state_path().read_text())
        return SandboxInfo(int(data["pid"]), str(data["url"]), Path(data["kubeconfig_path"]),
                           Path(data["ca_path"]), str(data["scenario"]), str(data["token"]),
                           float(data["started_at"]), str(data.get("engine", "emulated")),
                           int(data.get("resets", 0)))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    # A sandbox this process started is its child: once it exits it is a zombie (kill(pid, 0)
    # still succeeds) until reaped, so reap it here.
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_sandbox_process(pid: int) -> bool:
    """Whether ``pid`` runs ``runbook.sandbox``/``runbook sandbox`` (Linux ``/proc``; False
    where that cannot be read)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"runbook.sandbox" in cmdline or (b"sandbox" in cmdline and any(
        part.endswith(b"runbook") or part == b"runbook.cli" for part in cmdline))


def admin_request(info: SandboxInfo, method: str, path: str, body: Any = None,
                  timeout: float = 5.0) -> Any:
    """Call the sandbox (admin API or any path) with its token, verifying TLS with its CA.

    Raises:
        OSError: no answer (urllib's errors are OSErrors).
    """
    context = ssl.create_default_context(cafile=str(info.ca_path))
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(info.url + path, data=data, method=method, headers={
        "Authorization": f"Bearer {info.token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout, context=context) as resp:
        return json.loads(resp.read() or b"null")


def _answers(info: SandboxInfo) -> bool:
    try:
        admin_request(info, "GET", "/version", timeout=2.0)
        return True
    except (OSError, ValueError):
        return False


RUNNING, UNHEALTHY, GONE, NONE = "running", "unhealthy", "gone", "none"


def check_running() -> tuple[SandboxInfo | None, str]:
    """The state file's sandbox and its health: ``running``, ``unhealthy`` (its process lives and
    is a sandbox, but does not answer — the state is kept: it still holds its ports), ``gone``
    (dead, or the pid now runs something else: the stale file is removed) or ``none``."""
    info = read_state()
    if info is None:
        if state_path().exists():
            state_path().unlink(missing_ok=True)
        return None, NONE
    if _alive(info.pid):
        if _answers(info):
            return info, RUNNING
        if _is_sandbox_process(info.pid):
            return info, UNHEALTHY
    state_path().unlink(missing_ok=True)
    return info, GONE


def unhealthy_error(info: SandboxInfo) -> InputError:
    """The refusal for a sandbox process that lives but does not answer."""
    return InputError(f"the sandbox pid {info.pid} ({info.url}) is running but does not answer",
                      hint="stop it with `runbook sandbox stop` (its log: "
                           f"{sandbox_dir() / 'sandbox.log'}), then start again")


def find_running() -> SandboxInfo | None:
    """The sandbox another process started, if it is alive and answering."""
    info, health = check_running()
    return info if health == RUNNING else None


#: how long a background real engine may take to come up (its first start builds it: longer)
KUBE_START_TIMEOUT = 180.0


def ensure_running(scenario: str = "seed-incident", timeout: float | None = None,
                   engine: str = "emulated") -> SandboxInfo:
    """The running sandbox, or a new background one started with ``scenario`` and ``engine``.

    An already running sandbox is returned as it is, whatever its scenario (``reset`` or stop it
    to change). The new process survives this one (own session); stop it with
    ``runbook sandbox stop``.

    Args:
        timeout: seconds to wait (default 30, or :data:`KUBE_START_TIMEOUT` for ``kube``).

    Raises:
        InputError: it did not come up within ``timeout`` seconds (its log is named), or a
            sandbox process lives but does not answer (a second one would fight it for ports).
    """
    info, health = check_running()
    if health == RUNNING and info is not None:
        return info
    if health == UNHEALTHY and info is not None:
        raise unhealthy_error(info)
    # never silently: whoever expected the old sandbox learns that its objects are gone
    replaced = f"the sandbox pid {info.pid} ({info.url}) is gone; " if info is not None else ""
    if timeout is None:
        timeout = KUBE_START_TIMEOUT if engine == "kube" else 30.0
    directory = sandbox_dir()
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / "sandbox.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "runbook.sandbox", "--scenario", scenario, "--port", "0",
             "--engine", engine],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env=os.environ.copy())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = read_state()
        if info is not None and info.pid == proc.pid and _answers(info):
            which = f"scenario {scenario}, " + ("engine kube, " if engine == "kube" else "")
            print(f"runbook: {replaced}started a sandbox in the background ({which}pid {info.pid}, "
                  f"{info.url}); it keeps running — stop it with: runbook sandbox stop",
                  file=sys.stderr, flush=True)
            return info
        if proc.poll() is not None:
            break
        time.sleep(0.02)  # polling another process's start-up: there is no event to wait on
    if proc.poll() is None:
        proc.terminate()
    tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
    raise InputError(f"the sandbox did not start: {' | '.join(tail) or 'no output'}",
                     hint=f"see {log_path}")


def stop_running(timeout: float = 10.0) -> SandboxInfo | None:
    """Stop the running sandbox (SIGTERM, then wait; SIGKILL if it outlives ``timeout``);
    returns what was stopped, or None.

    A sandbox process that lives but no longer answers (``unhealthy``) is stopped too — as long
    as its command line says it is one (a reused pid is left alone).

    Raises:
        InputError: the process outlived SIGKILL too; its state file is kept.
    """
    info = read_state()
    if info is None or not _alive(info.pid) or not (_is_sandbox_process(info.pid)
                                                     or _answers(info)):
        state_path().unlink(missing_ok=True)
        return None
    os.kill(info.pid, signal.SIGTERM)
    # a stopped process (SIGSTOP, a debugger) acts on SIGTERM only once it continues
    os.kill(info.pid, signal.SIGCONT)
    if info.engine == "kube":
        timeout = max(timeout, 60.0)  # four processes shut down, etcd last
    if not _wait_exit(info.pid, timeout):
        # a background sandbox leads its own process group: the real engine's components go too
        if os.getpgid(info.pid) == info.pid:
            os.killpg(info.pid, signal.SIGKILL)
        else:
            os.kill(info.pid, signal.SIGKILL)
        if not _wait_exit(info.pid, 5.0):
            raise InputError(f"the sandbox pid {info.pid} did not exit, even on SIGKILL",
                             hint="look at it (ps), it still holds its ports")
    state_path().unlink(missing_ok=True)
    return info


def _wait_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)  # waiting for another process to exit: there is no event for it
    return True


def _write_state(info: SandboxInfo) -> None:
    tmp = state_path().with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(info.to_json(), fh)
    os.replace(tmp, state_path())  # atomic: readers never see half a file


def reset_running(info: SandboxInfo, timeout: float = 300.0) -> None:
    """Reset the running sandbox to its scenario and wait until it is done.

    The emulated engine resets through its admin API; the real engine's process resets on
    SIGHUP and counts the resets in the state file.

    Raises:
        InputError: the reset did not finish within ``timeout`` seconds.
    """
    if info.engine != "kube":
        admin_request(info, "POST", "/sandbox/v1/reset", timeout=timeout)
        return
    os.kill(info.pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = read_state()
        if current is None or current.pid != info.pid:
            raise InputError("the sandbox stopped during the reset",
                             hint=f"see {sandbox_dir() / 'sandbox.log'} or start it again")
        if current.resets > info.resets:
            return
        time.sleep(0.1)  # another process's work: its state file is the only signal
    raise InputError(f"the reset did not finish within {timeout:.0f} s",
                     hint="see the sandbox's output; `runbook sandbox stop` and start it again")


def serve(scenario: str = "empty", port: int = 0, kubeconfig_out: str | None = None,
          clock: str = "real", quiet: bool = False, faults: Sequence[Fault] = (),
          engine: str = "emulated") -> int:
    """Run a sandbox in the foreground until SIGINT/SIGTERM (``runbook sandbox``).

    Args:
        faults: put in force before the first request (``runbook sandbox --faults SPEC…``).
        engine: ``emulated`` or ``kube`` (the real control plane; no manual clock, no faults).
    """
    from runbook.sandbox.engines import check_engine

    check_engine(engine)
    if engine == "kube" and (clock != "real" or faults):
        raise InputError("--clock manual and --faults are features of the emulated engine",
                         hint="drop them, or use --engine emulated")
    directory = sandbox_dir()
    directory.mkdir(parents=True, exist_ok=True)
    running, health = check_running()
    if health == UNHEALTHY and running is not None:
        raise unhealthy_error(running)
    if health == RUNNING and running is not None:
        raise InputError(f"a sandbox is already running (pid {running.pid}, {running.url})",
                         hint="use it (runbook sandbox status) or stop it (runbook sandbox stop)")
    if health == GONE and running is not None:
        print(f"runbook: the sandbox pid {running.pid} ({running.url}) is gone; starting this one",
              file=sys.stderr, flush=True)
    kubeconfig = Path(kubeconfig_out).expanduser() if kubeconfig_out else directory / "kubeconfig"
    if engine == "kube":
        return _serve_kube(scenario, port, kubeconfig, quiet)
    from runbook.sandbox.sandbox import Sandbox

    sandbox = Sandbox(scenario=scenario, port=port, clock=clock, kubeconfig_path=kubeconfig)
    for fault in faults:
        sandbox.faults.add(fault)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        sandbox.start()
        _write_state(SandboxInfo(os.getpid(), sandbox.url, sandbox.kubeconfig_path,
                                 sandbox.ca_path, scenario, sandbox.token, sandbox.started_at))
        if not quiet:
            print(f"sandbox serving {sandbox.url} (scenario {scenario}, clock {clock})", flush=True)
            print(f"export KUBECONFIG={sandbox.kubeconfig_path}", flush=True)
            for fault in sandbox.faults:
                print(f"fault {fault.id} in force: {format_fault_spec(fault)}", flush=True)
        # Wake up now and then: the kernel may deliver SIGTERM/SIGINT to one of the server's
        # threads, and Python runs the handler only when the main thread executes bytecode.
        while not stop.wait(0.25):
            pass
    finally:
        sandbox.stop()
        _forget_own_state(previous)
    if not quiet:
        print("sandbox stopped", flush=True)
    return 0


def _forget_own_state(previous: dict[signal.Signals, Any]) -> None:
    current = read_state()
    if current is not None and current.pid == os.getpid():
        state_path().unlink(missing_ok=True)
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def _serve_kube(scenario: str, port: int, kubeconfig: Path, quiet: bool) -> int:
    """``serve`` for the real engine: SIGHUP resets, a component that dies stops it all."""
    from runbook.sandbox.realkube.engine import KubeEngine

    stop, reset = threading.Event(), threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        (reset if signum == signal.SIGHUP else stop).set()

    engine = KubeEngine(scenario=scenario, port=port, state_dir=sandbox_dir(),
                        kubeconfig_path=kubeconfig, on_failure=lambda reason: stop.set(),
                        progress=(lambda line: None) if quiet else
                        (lambda line: print(line, flush=True)))
    previous = {s: signal.signal(s, on_signal)
                for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        engine.start()
        info = SandboxInfo(os.getpid(), engine.url, engine.kubeconfig_path, engine.ca_path,
                           scenario, engine.token, engine.started_at, engine="kube")
        _write_state(info)
        if not quiet:
            print(f"sandbox serving {engine.url} (engine kube, scenario {scenario})", flush=True)
            print(f"export KUBECONFIG={engine.kubeconfig_path}", flush=True)
        while not stop.wait(0.25):
            if reset.is_set():
                reset.clear()
                engine.reset()
                info = dataclasses.replace(info, resets=info.resets + 1)
                _write_state(info)
                if not quiet:
                    print(f"reset to scenario {scenario}", flush=True)
    finally:
        engine.stop()
        _forget_own_state(previous)
    if engine.failure:
        raise ComponentFailure(f"the real engine stopped: {engine.failure}")
    if not quiet:
        print("sandbox stopped", flush=True)
    return 0


class ComponentFailure(InputError):
    """A component of the real engine exited; everything else was stopped."""
