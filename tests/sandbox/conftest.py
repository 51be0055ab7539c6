"""Fixtures for the sandbox's own tests (the ``sandbox`` and ``kubectl`` fixtures live in
tests/conftest.py, for everyone)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from runbook.sandbox import Sandbox


def bare_sandbox(**kwargs: Any) -> Sandbox:
    """A sandbox without the emulated controllers, webhooks and istiods: the API server core alone,
    so that tests of API semantics see only what their own requests did."""
    return Sandbox(controllers=False, **kwargs)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """Overrides the project-wide ``sandbox`` fixture here: fresh, ``empty``, manual clock, bare."""
    with bare_sandbox(scenario="empty", clock="manual") as sb:
        yield sb


def make_api(sb: Sandbox, context: str = "sandbox") -> client.ApiClient:
    """An official-client ApiClient for the sandbox (TLS verified with the kubeconfig's CA)."""
    return config.new_client_from_config(config_file=str(sb.kubeconfig_path), context=context)


@pytest.fixture(scope="session")
def shared_sandbox() -> Iterator[Sandbox]:
    """One sandbox (real clock) for tests that only add their own namespaced objects."""
    with bare_sandbox(scenario="empty") as sb:
        yield sb


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[client.ApiClient]:
    """Official client bound to the function-scoped ``sandbox``."""
    api = make_api(sandbox)
    yield api
    api.close()


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def apps(api: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api)


KubectlRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def kube(kubectl: str, sandbox: Sandbox, tmp_path: Path) -> KubectlRunner:
    """Run the real kubectl against ``sandbox``: ``kube("get", "ns")`` → CompletedProcess.

    ``check=True`` (default) fails the test with kubectl's stderr when it exits non-zero.
    """
    env = dict(os.environ, KUBECONFIG=str(sandbox.kubeconfig_path),
               KUBECACHEDIR=str(tmp_path / "kube-cache"), HOME=str(tmp_path))

    def run(*args: str, check: bool = True, stdin: str | None = None
            ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([kubectl, *args], capture_output=True, text=True, env=env,
                                input=stdin, timeout=60)
        if check and result.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    return run
