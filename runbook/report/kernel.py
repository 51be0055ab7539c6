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

A run's kernel is started by :class:`RunKernel` and handed to nbclient as its kernel manager (``km``),
so it can be started before the run: ``runbook demo`` starts the next notebook's kernel, with that
notebook's modules preloaded (:mod:`runbook.report.preload`), while the current notebook runs.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager, NoSuchKernel
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync

from runbook.audit import AUDIT_COPY_ENV, AUDIT_ENV, RUN_ENV, AuditLog
from runbook.errors import InputError
from runbook.paths import HEADLESS_ENV, output_folder
from runbook.report.preload import EXTENSION as PRELOAD_EXTENSION
from runbook.report.preload import preload_environment

#: the kernel name nbclient sees; "python3" makes it treat the kernel as ipykernel, so it passes
#: ``--HistoryManager.hist_file=:memory:`` — the injected parameters (secrets included) are not
#: written to an IPython history database (papermill#416)
KERNEL_NAME = "python3"
#: what nbclient adds for a kernel it starts itself (see KERNEL_NAME); a kernel started here for
#: nbclient gets it too
MEMORY_HISTORY_ARGUMENT = "--HistoryManager.hist_file=:memory:"


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
            self.clients: list[AsyncKernelClient] = []

        def client(self, **kwargs: Any) -> AsyncKernelClient:  # type: ignore[override]  # as jupyter_client's own
            # kept, so that whoever shuts the kernel down can close the channels nbclient opened
            # (nbclient leaves a client open on a kernel manager it was given)
            made = super().client(**kwargs)
            self.clients.append(made)
            return made

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


class RunKernel:
    """One run's kernel process, started at construction, for nbclient's ``km``.

    Args:
        spec: the kernelspec to start (its environment is the run's).
        cwd: the kernel's working directory (the notebook's folder, as Jupyter does).
        extensions: IPython extensions the kernel loads before it answers (only for a kernel of
            this interpreter, which can import them).
    """

    def __init__(self, spec: KernelSpec, cwd: Path, *, extensions: Sequence[str] = ()) -> None:
        # the kernel process's own log lines, shown only when it fails (closed by shutdown)
        self.log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self.manager = kernel_manager_class(spec, self.log)(kernel_name=KERNEL_NAME)
        arguments = [MEMORY_HISTORY_ARGUMENT]
        if extensions:
            arguments.append(f"--IPKernelApp.extensions={list(extensions)!r}")
        try:
            # returns once the process is launched: it starts (and preloads) on its own
            run_sync(self.manager.start_kernel)(extra_arguments=arguments, cwd=str(cwd))
        except BaseException:
            self.log.close()
            raise
        self._stop_requested = False
        self._closed = False

    def request_stop(self) -> None:
        """Ask the kernel to exit (interrupt, then ``shutdown_request``, as jupyter_client's graceful
        shutdown does) without waiting for it: the exit takes about a second, and the report can be
        written meanwhile. :meth:`shutdown` waits for it."""
        if self._stop_requested or self._closed:
            return
        self._stop_requested = True
        for made in getattr(self.manager, "clients", []):
            made.stop_channels()
        if run_sync(self.manager.is_alive)():
            run_sync(self.manager.interrupt_kernel)()
            run_sync(self.manager.request_shutdown)()

    def shutdown(self) -> None:
        """Stop the kernel and wait for it (killed if it does not exit within jupyter_client's
        ``shutdown_wait_time``), then close its log; twice is harmless."""
        if self._closed:
            return
        try:
            self.request_stop()
            if self.manager.has_kernel:
                run_sync(self.manager.finish_shutdown)()
        finally:
            self._closed = True
            run_sync(self.manager.cleanup_resources)()
            self.log.close()


@dataclass
class RunStart:
    """A run's identity and its kernel, settled before its first cell: the kernel's environment
    carries the run's id and audit files, so the kernel can be started ahead of the run
    (:func:`start_run`) and the run itself pick it up (``run_notebook(..., start=)``).

    Attributes:
        notebook: the notebook (absolute).
        out: the output folder.
        run_id: the id the kernel tags its audit records with.
        audit_path: this run's copy of its audit records.
        user_audit: the user's trail, which the kernel appends to as well.
        kernel: the started kernel; the run shuts it down.
    """

    notebook: Path
    out: Path
    run_id: str
    audit_path: Path
    user_audit: AuditLog
    kernel: RunKernel

    def discard(self) -> None:
        """Stop the kernel of a run that will not happen."""
        self.kernel.shutdown()


def start_run(path: str | os.PathLike[str], out_dir: str | os.PathLike[str] = "reports", *,
              kernel_name: str | None = None) -> RunStart:
    """Start the kernel of a run of ``path`` into ``out_dir``, returning at once; the kernel
    starts, and imports what the notebook imports, while the caller does other work.

    A kernel of this interpreter preloads the notebook's imports (:mod:`runbook.report.preload`);
    an installed kernel (``kernel_name``) is started as it is.

    Raises:
        InputError: ``kernel_name`` is not installed.
    """
    notebook = Path(path).expanduser().resolve()
    out = output_folder(out_dir)
    user_audit = AuditLog()  # $MESH_RUNBOOK_AUDIT or the home's: the kernel appends there itself
    run_id = uuid.uuid4().hex[:16]
    audit_path = out / f"{notebook.stem}.audit.jsonl"
    env = {AUDIT_ENV: str(user_audit.path.expanduser().resolve()), AUDIT_COPY_ENV: str(audit_path),
           RUN_ENV: run_id, HEADLESS_ENV: "1"}
    if kernel_name:
        kernel = RunKernel(named_kernel_spec(kernel_name, env), notebook.parent)
    else:
        kernel = RunKernel(current_kernel_spec({**env, **preload_environment(notebook)}),
                           notebook.parent, extensions=[PRELOAD_EXTENSION])
    return RunStart(notebook=notebook, out=out, run_id=run_id, audit_path=audit_path,
                    user_audit=user_audit, kernel=kernel)


__all__ = ["KERNEL_NAME", "MEMORY_HISTORY_ARGUMENT", "RunKernel", "RunStart", "current_kernel_spec",
           "kernel_manager_class", "named_kernel_spec", "start_run"]
