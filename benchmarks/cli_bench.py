"""``runbook`` start-up against ``kubectl get ns``, on the same seed sandbox in the same run (issue 15).

What is measured, and how:

* a ``seed-incident`` sandbox runs as its own process (its own home directory and kubeconfig);
* each command is a fresh process started from here (``subprocess``, output discarded), timed
  from start to exit: ``kubectl get ns``; ``runbook --help``; ``runbook <cmd> --help`` for every
  subcommand; ``runbook diagnose -n l7-traffic-alpha`` against the sandbox (exit status 1: the
  field report's broken tag is found). The console script next to this interpreter is what a
  user runs;
* ``PYTHONDONTWRITEBYTECODE`` is dropped from the commands' environment: the unmeasured first run
  of each writes the package's bytecode cache, as installing it with pip does;
* the commands take turns, ROUNDS rounds, so that a change of load on the shared machine hits
  all of them alike; each figure is the median with its spread (min–max) in the note, and the
  median CPU time (user + system, from ``wait4``) beside it: a loaded machine stretches wall time,
  the more so for a process that needs more CPU;
* targets, as ratios of medians against ``kubectl get ns``: every help <= 4x, the diagnosis
  <= 15x. The load average at the start is in the notes.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import ROOT, Result, at_most, installed_env, sandbox_process

NAME = "cli"
ROUNDS = 11
HELP_TARGET = 4.0
DIAGNOSE_TARGET = 15.0
NAMESPACE = "l7-traffic-alpha"
START_TIMEOUT_S = 60.0


def _runbook() -> list[str]:
    script = Path(sys.executable).parent / "runbook"
    return [str(script)] if script.exists() else [sys.executable, "-m", "runbook"]


def _time(argv: list[str], env: dict[str, str], expect: int) -> tuple[float, float]:
    """Wall seconds from start to exit, and the CPU seconds (user + system) the process used."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    if proc.returncode != expect:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {err.decode()[-300:]}")
    return elapsed, usage.ru_utime + usage.ru_stime


def measure(rounds: int = ROUNDS) -> tuple[dict[str, list[float]], dict[str, list[float]], float]:
    """Wall and CPU seconds per run of every command (name → list), and the 1-minute load at the
    start."""
    from runbook.cli import COMMANDS

    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise RuntimeError("kubectl is not installed: the baseline of this benchmark")
    runbook = _runbook()
    load = os.getloadavg()[0]
    with sandbox_process(["--scenario", "seed-incident"], start_timeout=START_TIMEOUT_S) as sandbox:
        kubeconfig, env = sandbox.kubeconfig, sandbox.env
        env = installed_env(env)
        commands: dict[str, tuple[list[str], int]] = {
            "kubectl get ns": ([kubectl, "--kubeconfig", kubeconfig, "get", "ns"], 0),
            "runbook --help": ([*runbook, "--help"], 0),
        }
        commands.update({f"runbook {name} --help": ([*runbook, name, "--help"], 0) for name in COMMANDS})
        commands[f"runbook diagnose -n {NAMESPACE}"] = (
            [*runbook, "diagnose", "-n", NAMESPACE, "--kubeconfig", kubeconfig, "--context", "sandbox"], 1)
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for argv, expect in commands.values():  # one unmeasured run each: disk caches
            _time(argv, env, expect)
        for _ in range(rounds):
            for name, (argv, expect) in commands.items():
                wall, used = _time(argv, env, expect)
                times[name].append(wall)
                cpu[name].append(used)
    return times, cpu, load


def run() -> list[Result]:
    times, cpu, load = measure()
    base = statistics.median(times["kubectl get ns"])
    notes = f"load {load:.1f} at start, {ROUNDS} rounds, median (min–max)"

    def spread(name: str) -> str:
        # CPU time says what the process costs whatever the load: wall time stretches on a busy
        # machine, the more so for a process that needs more CPU
        return (f"{statistics.median(times[name]):.3f} s ({min(times[name]):.3f}–{max(times[name]):.3f}) "
                f"vs kubectl get ns {base:.3f} s; CPU {statistics.median(cpu[name]):.3f} s vs "
                f"{statistics.median(cpu['kubectl get ns']):.3f} s")

    kubectl = times["kubectl get ns"]
    results = [Result(NAME, "kubectl_get_ns_s", base,
                      note=f"{min(kubectl):.3f}–{max(kubectl):.3f} s; {notes}")]
    for name in times:
        if name == "kubectl get ns":
            continue
        target = HELP_TARGET if name.endswith("--help") else DIAGNOSE_TARGET
        ratio = statistics.median(times[name]) / base
        metric = name.removeprefix("runbook ").replace(" ", "_").replace("-", "") + "_vs_kubectl_x"
        results.append(at_most(NAME, metric, ratio, target, note=f"{name}: {spread(name)}"))
    return results


if __name__ == "__main__":
    from benchmarks import markdown

    print(markdown(run()))
