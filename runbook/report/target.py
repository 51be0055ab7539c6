"""Which cluster a run targeted, for the report header and for masking.

Read from the kubeconfig file itself (context → cluster → server), without building an API client:
loading a kubeconfig with the official client runs exec credential plugins and refreshes
auth-provider tokens, which a report header has no business doing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from runbook.errors import InputLimitExceeded
from runbook.kube import default_kubeconfig
from runbook.safeload import load_yaml

SANDBOX_CONTEXT = "sandbox"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class RunTarget:
    """The cluster a notebook run was pointed at.

    Attributes:
        context: the kube context (None when it could not be determined).
        server: the API server URL, when known.
        kubeconfig: the kubeconfig file used, when known.
        is_sandbox: whether this is the local sandbox.
        kubeconfigs: every kubeconfig file whose secrets must be masked.
        note: why something is unknown.
    """

    context: str | None
    server: str | None = None
    kubeconfig: str | None = None
    is_sandbox: bool = False
    kubeconfigs: list[str] = field(default_factory=list)
    note: str = ""


def describe_target(kubeconfig: str | None, context: str | None) -> RunTarget:
    """Resolve the notebooks' ``kubeconfig``/``context`` parameters like ``runbook.kube.connect``.

    ``kubeconfig=None, context="sandbox"`` is the local sandbox (found through its state file; no
    sandbox is started here); otherwise the kubeconfig (``$KUBECONFIG``/``~/.kube/config`` when
    None) and its context (the current one when None).
    """
    if kubeconfig is None and context == SANDBOX_CONTEXT:
        from runbook.sandbox import find_running

        info = find_running()
        if info is None:
            return RunTarget(context=SANDBOX_CONTEXT, is_sandbox=True, note="no sandbox is running")
        path = str(info.kubeconfig_path)
        return RunTarget(context=SANDBOX_CONTEXT, server=str(info.url), kubeconfig=path,
                      is_sandbox=True, kubeconfigs=[path])
    path = str(Path(kubeconfig).expanduser()) if kubeconfig else default_kubeconfig()
    kubeconfigs = [path]
    if kubeconfig is None and os.environ.get("KUBECONFIG"):
        # kubectl merges every file of $KUBECONFIG; any of them can be printed, mask them all
        kubeconfigs = [p for p in os.environ["KUBECONFIG"].split(os.pathsep) if p]
    data = _load(path)
    if data is None:
        return RunTarget(context=context, kubeconfig=path, kubeconfigs=kubeconfigs,
                      note=f"kubeconfig {path} cannot be read")
    name = context if context is not None else data.get("current-context") or None
    contexts = {str(e.get("name")): e.get("context") or {}
                for e in data.get("contexts") or [] if isinstance(e, dict)}
    clusters = {str(e.get("name")): e.get("cluster") or {}
                for e in data.get("clusters") or [] if isinstance(e, dict)}
    if name is None or name not in contexts:
        return RunTarget(context=name, kubeconfig=path, kubeconfigs=kubeconfigs,
                      note=f"context {name!r} not found in {path}")
    cluster = clusters.get(str(contexts[name].get("cluster")), {})
    server = cluster.get("server") if isinstance(cluster, dict) else None
    return RunTarget(context=name, server=server, kubeconfig=path, kubeconfigs=kubeconfigs,
                  is_sandbox=name == SANDBOX_CONTEXT and _is_loopback(server))


def _load(path: str) -> dict[str, Any] | None:
    try:
        data = load_yaml(Path(path).read_bytes(), path)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, InputLimitExceeded):
        return None
    return data if isinstance(data, dict) else None


def _is_loopback(server: Any) -> bool:
    return isinstance(server, str) and (urlparse(server).hostname or "") in _LOOPBACK


__all__ = ["SANDBOX_CONTEXT", "RunTarget", "describe_target"]
