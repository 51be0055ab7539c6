"""The real engine (``--engine kube``, issue 12): build, start, the seed incident, memory, and
``runbook diagnose`` on both engines side by side.

* ``cold_build_s`` — ``go build`` of engines/kube when the cache holds no binary for the current
  sources (information; with Go's build cache warm this is a link, not a cold build: the note
  says which). When the binary is cached, 0 and the note says so;
* ``warm_start_s`` — ``KubeEngine(scenario="empty").start()`` with the binary cached, until the
  apiserver answered, the node registered and the scenario loaded. Target <= 10 s;
* ``seed_failed_create_s`` — on a ``seed-incident`` engine, from ``kubectl apply`` of bookinfo in
  l7-traffic-alpha to the first ``FailedCreate`` event from the real ReplicaSet controller.
  Target <= 5 s;
* ``engine_rss_mb`` — the summed RSS of etcd, kube-apiserver, kube-controller-manager and
  kube-scheduler with the seed world loaded, plus this process (the node agent and the emulated
  istiods run in it);
* ``diagnose_<engine>_s`` — ``runbook diagnose -n l7-traffic-alpha -o json`` as a command, on each
  engine with bookinfo failing (median of 3), each engine in its own background process
  (``ensure_running``) as a user's ``runbook sandbox`` runs;
* ``demo_<engine>_s`` — ``runbook demo --engine <engine>``: start, notebooks 00–06, stop.

Only 127.0.0.1 is contacted; the engines are stopped at the end.
"""

from __future__ import annotations

import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import Result, at_most, own_home
from runbook.sandbox import ENGINES, ensure_running, stop_running
from runbook.sandbox.realkube.build import binary_path, ensure_binary, find_go
from runbook.sandbox.realkube.engine import KubeEngine

NAME = "engine"
ROOT = Path(__file__).resolve().parents[1]
BOOKINFO = ROOT / "runbook" / "apps" / "bookinfo.yaml"
ALPHA = "l7-traffic-alpha"


def _say(text: str) -> None:
    print(f"engine_bench: {text}", file=sys.stderr, flush=True)


def _kubectl(kubeconfig: Path, *args: str) -> str:
    return subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args], check=True,
                          capture_output=True, text=True, timeout=60).stdout


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def _diagnose_s(kubeconfig: Path) -> float:
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "runbook", "diagnose", "--kubeconfig",
                        str(kubeconfig), "--context", "sandbox", "-n", ALPHA, "-o", "json"],
                       capture_output=True, timeout=120, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run() -> list[Result]:
    go = find_go()
    if go is None:
        _say("go is not installed: nothing to measure")
        return []
    results: list[Result] = []
    cached = binary_path(go).is_file()
    started = time.perf_counter()
    ensure_binary(_say)
    built = time.perf_counter() - started
    results.append(Result(NAME, "cold_build_s", 0.0 if cached else built,
                          note="binary cached: not rebuilt" if cached else
                          "go build -p 2 on this machine (Go's build cache as it was)"))
    state = Path(tempfile.mkdtemp(prefix="engine-bench-"))
    started = time.perf_counter()
    with KubeEngine(scenario="empty", state_dir=state, progress=_say):
        results.append(at_most(NAME, "warm_start_s", time.perf_counter() - started, 10.0,
                               "binary cached; until apiserver, node and scenario are ready"))
    with KubeEngine(scenario="seed-incident", state_dir=state, progress=_say) as engine:
        applied = time.perf_counter()
        _kubectl(engine.kubeconfig_path, "apply", "-f", str(BOOKINFO), "-n", ALPHA)
        while "FailedCreate" not in _kubectl(engine.kubeconfig_path, "get", "events", "-n", ALPHA,
                                             "--field-selector", "reason=FailedCreate"):
            time.sleep(0.05)
            if time.perf_counter() - applied > 60:
                break
        results.append(at_most(NAME, "seed_failed_create_s", time.perf_counter() - applied, 5.0,
                               "kubectl apply of bookinfo → first FailedCreate event"))
        assert engine.control_plane is not None
        pids = list(engine.control_plane.pids().values())
        components = _rss_mb(pids)
        agents = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        results.append(Result(NAME, "engine_rss_mb", components + agents,
                              note=f"etcd+apiserver+controller-manager+scheduler {components:.0f} MB"
                                   f" + node agent/istiods process (peak) {agents:.0f} MB"))
    shutil.rmtree(state, ignore_errors=True)
    for engine_name in ENGINES:
        results.append(Result(NAME, f"diagnose_{engine_name}_s", _diagnose_on(engine_name),
                              note="runbook diagnose -n l7-traffic-alpha -o json, median of 3; "
                                   "the engine in its own process"))
    for engine_name in ENGINES:
        results.append(Result(NAME, f"demo_{engine_name}_s", _demo_s(engine_name),
                              note="runbook demo --engine " + engine_name + ": start, 00–06, stop"))
    return results


def _diagnose_on(engine_name: str) -> float:
    with own_home("engine-bench-home-") as home:
        info = ensure_running("seed-incident", engine=engine_name)
        try:
            _kubectl(info.kubeconfig_path, "apply", "-f", str(BOOKINFO), "-n", ALPHA)
            time.sleep(3)  # a few back-off rounds, as a user would diagnose
            return _diagnose_s(info.kubeconfig_path)
        finally:
            stop_running()
            shutil.rmtree(home, ignore_errors=True)


def _demo_s(engine_name: str) -> float:
    with own_home("engine-bench-home-") as home:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "runbook", "demo", "--engine", engine_name,
                               "--out", str(home / "reports")], capture_output=True, text=True,
                              timeout=1800, check=False)
        took = time.perf_counter() - started
        _say(f"demo on {engine_name}: exit {done.returncode}\n{done.stdout}")
        shutil.rmtree(home, ignore_errors=True)
    return took if done.returncode == 0 else float("nan")


if __name__ == "__main__":
    from benchmarks import markdown

    print(markdown(run()))
