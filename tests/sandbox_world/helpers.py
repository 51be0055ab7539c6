"""Helpers for the living-world tests: kubectl against a given sandbox, pod views, webhook edits."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from runbook.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
BOOKINFO = ROOT / "runbook" / "apps" / "bookinfo.yaml"
BOOKINFO_GATEWAY = ROOT / "runbook" / "apps" / "bookinfo-gateway.yaml"
SAMPLE_GATEWAY_FIXED = ROOT / "runbook" / "apps" / "sample-gateway-fixed.yaml"
ISTIO_CRDS = ROOT / "runbook" / "sandbox" / "scenarios" / "istio-crds.yaml"
RENAMED = Path(__file__).parent / "renamed"
#: the field report's error, exactly (formats.md §5b)
REPORT_ERROR = (
    'Internal error occurred: failed calling webhook "rev.namespace.sidecar-injector.istio.io": '
    'failed to call webhook: Post "https://istiod-1-18-5.istio-system.svc:443/inject?timeout=10s": '
    'service "istiod-1-18-5" not found')
BOOKINFO_DEPLOYMENTS = ("details-v1", "productpage-v1", "ratings-v1", "reviews-v1", "reviews-v2",
                        "reviews-v3")

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def kubectl_for(kubectl: str, sb: Sandbox, home: Path) -> Kubectl:
    """``run("get", "pods", "-n", ns)`` → CompletedProcess; fails the test on a non-zero exit
    unless ``check=False``. ``shell=`` runs a pipeline (``kubectl logs … | grep …``)."""
    env = dict(os.environ, KUBECONFIG=str(sb.kubeconfig_path), HOME=str(home),
               KUBECACHEDIR=str(home / "kube-cache"), PATH=f"{Path(kubectl).parent}:"
               f"{os.environ.get('PATH', '')}")

    def run(*args: str, check: bool = True, shell: str | None = None
            ) -> subprocess.CompletedProcess[str]:
        if shell is not None:
            result = subprocess.run(shell, shell=True, capture_output=True, text=True, env=env,
                                    timeout=60)
        else:
            result = subprocess.run([kubectl, *args], capture_output=True, text=True, env=env,
                                    timeout=60)
        if check and result.returncode != 0:
            pytest.fail(f"kubectl {shell or ' '.join(args)} failed ({result.returncode}): "
                        f"{result.stderr}")
        return result

    return run


def api_for(sb: Sandbox) -> client.ApiClient:
    """An official-client ApiClient for the sandbox."""
    return config.new_client_from_config(config_file=str(sb.kubeconfig_path), context="sandbox")


def pods(sb: Sandbox, namespace: str) -> list[dict[str, Any]]:
    return sb.store.objects("pods", namespace)


def injected_revision(pod: dict[str, Any]) -> str | None:
    raw = (pod["metadata"].get("annotations") or {}).get("sidecar.istio.io/status")
    return json.loads(raw)["revision"] if raw else None


def proxy_image(pod: dict[str, Any]) -> str | None:
    return next((c["image"] for c in pod["spec"]["containers"] if c["name"] == "istio-proxy"),
                None)


def ready_column(pod: dict[str, Any]) -> str:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return f"{sum(1 for c in statuses if c.get('ready'))}/{len(pod['spec']['containers'])}"


def retarget_tag_patch(namespace: str) -> str:
    """The report's fix as a JSON patch on both webhooks of the tag configuration."""
    return json.dumps([{"op": "replace", "path": f"/webhooks/{i}/clientConfig/service/namespace",
                        "value": namespace} for i in (0, 1)])
