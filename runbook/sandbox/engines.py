"""Two engines behind one contract: ``start_engine("emulated"|"kube", …)``.

::

    with start_engine("kube", scenario="seed-incident") as engine:
        engine.url, engine.kubeconfig_path, engine.ca_path, engine.engine
        engine.reset()

``emulated`` (the default) is :class:`~runbook.sandbox.sandbox.Sandbox`: pure Python, starts in
under a second, a drivable clock, fault injection. ``kube`` is
:class:`~runbook.sandbox.realkube.engine.KubeEngine`: the real kube-apiserver,
kube-controller-manager and kube-scheduler built from the official Go modules, embedded etcd,
node agents standing in for kubelets, the emulated istiods as real admission webhooks. Both write
the same kubeconfig (contexts ``sandbox`` and ``sandbox-readonly``); code above cannot tell which
one runs.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from runbook.errors import InputError

if TYPE_CHECKING:  # the server is imported when an engine starts: ENGINES alone stays cheap (--help)
    from runbook.sandbox.sandbox import Sandbox

ENGINES = ("emulated", "kube")


class Engine(Protocol):
    """What both engines offer once started."""

    @property
    def engine(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def kubeconfig_path(self) -> Path: ...

    @property
    def ca_path(self) -> Path: ...

    @property
    def token(self) -> str: ...

    def stop(self) -> None: ...

    def reset(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...


class EmulatedEngine:
    """The emulated engine behind the common contract (``.sandbox`` is the Sandbox itself)."""

    engine = "emulated"

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    @property
    def url(self) -> str:
        return self.sandbox.url

    @property
    def kubeconfig_path(self) -> Path:
        return self.sandbox.kubeconfig_path

    @property
    def ca_path(self) -> Path:
        return self.sandbox.ca_path

    @property
    def token(self) -> str:
        return self.sandbox.token

    def stop(self) -> None:
        self.sandbox.stop()

    def reset(self) -> None:
        self.sandbox.reset()

    def __enter__(self) -> EmulatedEngine:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def check_engine(engine: str) -> None:
    """Raises InputError for an engine name that is not one of :data:`ENGINES`."""
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}", hint=f"use one of {', '.join(ENGINES)}")


def start_engine(engine: str = "emulated", scenario: str = "empty", port: int = 0,
                 state_dir: Path | None = None) -> Engine:
    """A started engine (a context manager that stops it).

    Args:
        engine: ``emulated`` or ``kube``.
        scenario: a scenario name or a path of YAML manifests.
        port: the API server's port on 127.0.0.1 (0: any free port).
        state_dir: where the engine keeps its files (kubeconfig, and for ``kube`` the run
            directory with etcd's data); default a temporary directory removed on stop.

    Raises:
        InputError: an unknown engine or scenario, a port in use, or (``kube``) no Go or a
            failed build.
    """
    check_engine(engine)
    if engine == "kube":
        from runbook.sandbox.realkube.engine import KubeEngine

        return KubeEngine(scenario=scenario, port=port, state_dir=state_dir).start()
    from runbook.sandbox.sandbox import Sandbox

    kubeconfig = state_dir / "kubeconfig" if state_dir is not None else None
    return EmulatedEngine(Sandbox(scenario=scenario, port=port, kubeconfig_path=kubeconfig).start())


__all__ = ["ENGINES", "EmulatedEngine", "Engine", "check_engine", "start_engine"]
