"""The sandbox's engines behind one call: ``start_engine(engine, scenario, port, state_dir)``.

* ``emulated`` — this package's API server, controllers and Istio (:class:`~.sandbox.Sandbox`)
  on a real clock, so that it behaves in time as a real control plane does;
* ``kube`` — the real kube-apiserver, controller-manager and scheduler (issue #12). It is not
  part of this build: asking for it raises :class:`EngineUnavailable` saying so.

The handle a caller gets is started, a context manager, and has ``url``, ``kubeconfig_path``,
``ca_path``, ``engine``, ``stop()`` and ``reset()`` whichever engine runs.
"""

from __future__ import annotations

from pathlib import Path

from runbook.sandbox.sandbox import Sandbox

ENGINES = ("emulated", "kube")


class EngineUnavailable(RuntimeError):
    """The engine asked for cannot run here (not built, or unknown); ``str()`` says what to do."""


class EmulatedEngine(Sandbox):
    """The emulated engine: a :class:`Sandbox` on a real clock."""

    engine = "emulated"


def start_engine(engine: str = "emulated", scenario: str = "empty", port: int = 0,
                 state_dir: Path | None = None) -> EmulatedEngine:
    """Start an engine serving ``scenario`` on 127.0.0.1 (``port`` 0: any free port).

    Args:
        engine: ``emulated`` or ``kube``.
        scenario: a scenario name or a path of manifests.
        port: the API server's port.
        state_dir: where its kubeconfig and CA go (a temporary directory when None).

    Raises:
        EngineUnavailable: ``kube`` in a build without the real engine, or an unknown name.
    """
    if engine == "kube":
        raise EngineUnavailable(
            "the real engine (--engine kube) is not part of this build: use --engine emulated, "
            "or build it (issue #12) and retry")
    if engine != "emulated":
        raise EngineUnavailable(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    kubeconfig = state_dir / "kubeconfig" if state_dir is not None else None
    if state_dir is not None:
        state_dir.mkdir(parents=True, exist_ok=True)
    handle = EmulatedEngine(scenario=scenario, port=port, clock="real", kubeconfig_path=kubeconfig)
    handle.start()
    return handle


__all__ = ["ENGINES", "EmulatedEngine", "EngineUnavailable", "start_engine"]
