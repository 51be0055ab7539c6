"""One harness run: the emulated engine twice, the real engine when it can start."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

from runbook.sandbox.realkube.build import BuildError, find_go
from tests.differential.cases import Case, all_cases
from tests.differential.harness import run_engine
from tests.differential.report import Run


def kubectl_version() -> str:
    """``kubectl version --client`` as one line (the printed outputs depend on it)."""
    try:
        done = subprocess.run(["kubectl", "version", "--client"], capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    return " ".join(done.stdout.split()[:3]) or "unknown"


def run_harness(cases: list[Case] | None = None,
                progress: Callable[[str], None] | None = None) -> Run:
    """Run ``cases`` (all by default) on both engines; the real one's absence is recorded with
    the reason it gave, never papered over."""
    chosen = cases if cases is not None else all_cases()
    emulated = run_engine("emulated", chosen, progress)
    again = run_engine("emulated", chosen, progress)
    kube = None
    reason = ""
    try:
        kube = run_engine("kube", chosen, progress)
    except BuildError as exc:
        if find_go() is not None:
            raise  # Go is here: a failed build is a failure, not a reason to skip the comparison
        reason = str(exc)
    return Run(emulated, again, kube, reason, kubectl_version(), chosen)


__all__ = ["kubectl_version", "run_harness"]
