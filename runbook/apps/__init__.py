"""Manifests shipped with mesh-runbook (package data), written by the project.

Every file is plain Kubernetes YAML without namespaces: choose the namespace when applying
(``kubectl apply -f … -n <ns>``), as the field report does.

==========================  ===================================================================
name                        what it is for
==========================  ===================================================================
``bookinfo.yaml``           Bookinfo as the report deploys it: 4 Services, 4 ServiceAccounts,
                            6 Deployments (details-v1, ratings-v1, reviews-v1/v2/v3,
                            productpage-v1), images ``docker.io/istio/examples-bookinfo-*:1.18.0``.
                            Notebook 01 deploys it into ``l7-traffic-alpha``.
``bookinfo-gateway.yaml``   Gateway ``bookinfo-gateway`` and VirtualService ``bookinfo`` for host
                            ``bookinfo-gateway.test`` (notebook 04, ``l7-traffic-alpha``).
``sample-gateway.yml``      The report's nginx/echo exercise exactly as written — with its
                            mistakes, for the analyzer to find (notebook 04, ``l7-traffic-beta``).
``sample-gateway-fixed.yaml``  The same exercise corrected, with the nginx/echo Deployments and
                            Services it needs; its header comment lists every change.
==========================  ===================================================================
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from runbook.errors import InputError

_SUFFIXES = (".yaml", ".yml")


def _directory() -> Path:
    return Path(str(resources.files(__name__)))


def list_apps() -> list[str]:
    """File names of the shipped manifests, sorted (``bookinfo.yaml`` …)."""
    return sorted(p.name for p in _directory().iterdir() if p.suffix in _SUFFIXES and p.is_file())


def app_path(name: str) -> Path:
    """The path of a shipped manifest.

    Args:
        name: a file name from :func:`list_apps`; the suffix may be left out (``"bookinfo"``).

    Raises:
        InputError: no shipped manifest has that name (the message lists the ones that exist).
    """
    available = list_apps()
    if name in available:
        return _directory() / name
    matches = [f for f in available if Path(f).stem == name]
    if len(matches) == 1:
        return _directory() / matches[0]
    raise InputError(f"no shipped manifest called {name!r}",
                     hint=f"choose one of: {', '.join(available)}")


__all__ = ["app_path", "list_apps"]
