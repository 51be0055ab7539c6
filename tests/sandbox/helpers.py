"""Small helpers for sandbox tests: raw HTTPS requests and Status bodies."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

from kubernetes.client.rest import ApiException

from runbook.sandbox import Sandbox


def raw(sb: Sandbox, method: str, path: str, body: bytes | str | None = None, *,
        token: str | None = "admin", content_type: str = "application/json",
        headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """One request as a client library would send it; returns (status, headers, body)."""
    context = ssl.create_default_context(cafile=str(sb.ca_path))
    data = body.encode() if isinstance(body, str) else body
    all_headers = {"Content-Type": content_type, **(headers or {})}
    if token == "admin":
        all_headers["Authorization"] = f"Bearer {sb.token}"
    elif token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(sb.url + path, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, context=context, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def status_of(exc: ApiException) -> dict[str, Any]:
    """The ``kind: Status`` body of a client error."""
    body: dict[str, Any] = json.loads(exc.body)
    assert body["kind"] == "Status" and body["status"] == "Failure"
    return body


def ns_manifest(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}


def deployment(name: str, namespace: str, replicas: int = 1, image: str = "nginx:1.25") -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels},
                         "spec": {"containers": [{"name": "main", "image": image,
                                                  "ports": [{"containerPort": 80}]}]}},
        },
    }
