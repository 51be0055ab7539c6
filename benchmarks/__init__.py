"""Benchmarks: ``python -m benchmarks [NAME …]`` runs them and prints one markdown table.

A benchmark is a module ``benchmarks/<name>_bench.py`` with ``run() -> list[Result]``; nothing else
needs registering. Targets come from the issues; each result says whether it met its target.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pkgutil
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]



def installed_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` for timing the package's commands as a user runs them once pip installed it: without
    ``PYTHONDONTWRITEBYTECODE``, so that an unmeasured first run writes the bytecode cache that pip
    writes at install (without it every run compiles the package's modules from source again)."""
    return {key: value for key, value in env.items() if key != "PYTHONDONTWRITEBYTECODE"}


def placement() -> tuple[set[int], set[int]] | None:
    """(the clients' CPU, the server's CPU): two distinct CPUs this process may use, else None.

    A user's cluster runs on other machines: a benchmark that puts the server on this one gives
    it a CPU of its own, so that the clients compared do not compete with it for one."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None
    return ({cpus[0]}, {cpus[1]}) if len(cpus) >= 2 else None


@contextlib.contextmanager
def pinned(cpus: set[int] | None) -> Iterator[None]:
    """This thread, and the threads and processes it starts, on ``cpus`` for the block."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@dataclass
class Result:
    """One measured figure.

    Attributes:
        benchmark: which benchmark measured it.
        metric: what was measured, with its unit (``objects_per_s``, ``p50_us``).
        value: the figure.
        target: the target as text (``>= 50000``), empty when there is none.
        passed: None when there is no target.
        note: anything a reader needs to interpret the figure.
    """

    benchmark: str
    metric: str
    value: float
    target: str = ""
    passed: bool | None = None
    note: str = ""


def at_least(benchmark: str, metric: str, value: float, target: float, note: str = "") -> Result:
    return Result(benchmark, metric, value, f">= {target:g}", value >= target, note)


def at_most(benchmark: str, metric: str, value: float, target: float, note: str = "") -> Result:
    return Result(benchmark, metric, value, f"<= {target:g}", value <= target, note)


@dataclass(frozen=True)
class SandboxProcess:
    """A sandbox a benchmark started in its own process: how to reach it."""

    kubeconfig: str
    pid: int
    env: dict[str, str]  # this environment points ``runbook`` at it (its own MESH_RUNBOOK_HOME)


@contextlib.contextmanager
def sandbox_process(args: Sequence[str], *, start_timeout: float,
                    cpus: set[int] | None = None) -> Iterator[SandboxProcess]:
    """``python -m runbook.sandbox ARGS`` with its own home directory and kubeconfig (its threads
    on ``cpus`` when given), stopped after.

    Raises:
        RuntimeError: it did not answer within ``start_timeout`` seconds (its log's end is named).
    """
    home = Path(tempfile.mkdtemp(prefix="runbook-bench-"))
    kubeconfig = home / "kubeconfig"
    env = {**os.environ, "MESH_RUNBOOK_HOME": str(home)}
    env.pop("KUBECONFIG", None)
    log = open(home / "sandbox.log", "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(
        [sys.executable, "-m", "runbook.sandbox", *args, "--port", "0", "--kubeconfig-out", str(kubeconfig)],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    try:
        deadline = time.monotonic() + start_timeout
        # the server prints its kubeconfig line once it answers: poll the log (another process)
        while b"export KUBECONFIG=" not in (home / "sandbox.log").read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox {' '.join(args)} did not start: "
                                   + (home / "sandbox.log").read_text(errors="replace")[-500:])
            time.sleep(0.1)
        yield SandboxProcess(str(kubeconfig), proc.pid, env)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(home, ignore_errors=True)


@contextlib.contextmanager
def own_home(prefix: str) -> Iterator[Path]:
    """A fresh ``MESH_RUNBOOK_HOME`` for the block: a sandbox started inside is nobody else's."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    previous = os.environ.get("MESH_RUNBOOK_HOME")
    os.environ["MESH_RUNBOOK_HOME"] = str(home)
    try:
        yield home
    finally:
        if previous is None:
            os.environ.pop("MESH_RUNBOOK_HOME", None)
        else:
            os.environ["MESH_RUNBOOK_HOME"] = previous


def discover() -> dict[str, Callable[[], list[Result]]]:
    """Every ``*_bench`` module in this package, by short name."""
    found: dict[str, Callable[[], list[Result]]] = {}
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name.endswith("_bench"):
            module = importlib.import_module(f"benchmarks.{info.name}")
            found[info.name.removesuffix("_bench")] = module.run
    return found


def markdown(results: list[Result]) -> str:
    lines = ["| benchmark | metric | value | target | pass | note |", "|---|---|---|---|---|---|"]
    for r in results:
        ok = "" if r.passed is None else ("yes" if r.passed else "**NO**")
        lines.append(f"| {r.benchmark} | {r.metric} | {r.value:,.3f} | {r.target} | {ok} | {r.note} |")
    return "\n".join(lines)
