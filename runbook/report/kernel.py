"""The kernel a headless run uses: this interpreter, with a per-run environment.

A notebook run by ``runbook run`` must import the same ``runbook`` as the command itself. Looking the
kernel up by name (``python3``) can find a kernelspec of another Python: outside a virtualenv
(``pip install --user``, a system Python) or with ``JUPYTER_PREFER_ENV_PATH=0``, a user-level
``~/.local/share/jupyter/kernels/python3`` wins, and an environment may have none registered at all
(jupyter_client then falls back to ipykernel's built-in spec, only if nothing else is called
``python3``). So by default the
kernelspec is built here — ``sys.executable -m ipykernel_launcher`` — and handed to the kernel
manager directly: nothing needs ``jupyter kernelspec install``, nothing is written to disk. The
spec also carries the run's environment (``MESH_RUNBOOK_AUDIT`` …) and declares CurveZMQ support
(as ipykernel's own spec does) so that kernel traffic on the loopback is encrypted when pyzmq has
curve.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import IO, Any

import zmq
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager, NoSuchKernel
from jupyter_client.manager import AsyncKernelManager

from runbook.errors import InputError

#: the kernel name nbclient sees; "python3" makes it treat the kernel as ipykernel, so it passes
#: ``--HistoryManager.hist_file=:memory:`` — the injected parameters (secrets included) are not
#: written to an IPython history database (papermill#416)
KERNEL_NAME = "python3"


def current_kernel_spec(env: Mapping[str, str] | None = None) -> KernelSpec:
    """An ipykernel spec for the running interpreter."""
    return KernelSpec(
        argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        display_name=f"Python {sys.version_info.major}.{sys.version_info.minor} (mesh-runbook)",
        language="python",
        env=dict(env or {}),
        metadata={"supported_encryption": ["curve"]},
    )


def named_kernel_spec(name: str, env: Mapping[str, str] | None = None) -> KernelSpec:
    """An installed kernelspec by name, with ``env`` added to its environment.

    Raises:
        InputError: no such kernel (the message lists the installed ones).
    """
    manager = KernelSpecManager()
    try:
        spec = manager.get_kernel_spec(name)
    except NoSuchKernel:
        known = ", ".join(sorted(manager.find_kernel_specs())) or "none"
        raise InputError(f"no Jupyter kernel named {name!r} (installed: {known})",
                         hint="omit --kernel to use this interpreter") from None
    spec.env = {**(spec.env or {}), **dict(env or {})}
    return spec


def kernel_manager_class(spec: KernelSpec, log: IO[bytes] | None = None) -> type[AsyncKernelManager]:
    """A kernel manager class that always starts ``spec`` (for nbclient's ``kernel_manager_class``).

    Args:
        spec: the kernelspec to start.
        log: a file for the kernel process's own stdout/stderr (ipykernel's log lines such as
            "KeyboardInterrupt caught in kernel" when jupyter_client interrupts it before every
            shutdown). Without it they go to this process's terminal.
    """

    class PinnedKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            # encrypt kernel traffic when possible (also silences ipykernel's plain-TCP warning)
            if self.has_trait("transport_encryption") and zmq.has("curve"):
                self.transport_encryption = "auto"

        @property
        def kernel_spec(self) -> KernelSpec:
            return spec

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            # jupyter_client's documented seam for launching the process differently
            if log is not None:
                kw.setdefault("stdout", log)
                kw.setdefault("stderr", log)
            await super()._async_launch_kernel(kernel_cmd, **kw)

    return PinnedKernelManager


__all__ = ["KERNEL_NAME", "current_kernel_spec", "kernel_manager_class", "named_kernel_spec"]
