"""The sandbox knobs that make a webhook server fail on purpose, below the engines: the denial
knob (which pods serve, on which ports) and the real engine's egress proxy refusing an address
nobody listens on the way a pod network does."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest

from runbook.sandbox.realkube.egress import EgressProxy
from runbook.sandbox.registry.webhooks import DENY_ANNOTATION, denying_ports, denying_server


def _pod(phase: str = "Running", reason: str | None = "no", **meta: Any) -> dict[str, Any]:
    annotations = {DENY_ANNOTATION: reason} if reason is not None else {}
    return {"metadata": {"name": "policy-1", "annotations": annotations, **meta},
            "spec": {"containers": [{"name": "a", "ports": [{"containerPort": 8443}]},
                                    {"name": "b", "ports": [{"containerPort": 9443},
                                                            {"containerPort": "named"}]}]},
            "status": {"phase": phase}}


def test_a_running_pod_with_the_knob_serves_on_its_declared_ports_and_denies() -> None:
    pod = _pod(reason="pods must carry the label team")
    assert denying_ports(pod) == [8443, 9443]
    server = denying_server(pod, 9443)
    assert server is not None
    answer = server(None)  # type: ignore[arg-type]  # a denial reads nothing of the call
    assert (answer.allowed, answer.message) == (False, "pods must carry the label team")
    assert denying_server(pod, 15017) is None


@pytest.mark.parametrize("pod", [
    _pod(reason=None), _pod(reason=""), _pod(phase="Pending"),
    _pod(deletionTimestamp="2026-12-07T00:00:00Z"),
], ids=["no-knob", "empty-reason", "not-running", "terminating"])
def test_no_denying_server_without_the_knob_or_a_running_pod(pod: dict[str, Any]) -> None:
    assert denying_ports(pod) == [] and denying_server(pod, 8443) is None


def test_the_egress_proxy_refuses_an_address_without_a_listener_as_a_pod_network_does() -> None:
    async def connect(target: str) -> bytes:
        with tempfile.TemporaryDirectory(prefix="egress-") as tmp:
            proxy = EgressProxy(Path(tmp) / "egress.sock")
            await proxy.start()
            try:
                reader, writer = await asyncio.open_unix_connection(str(proxy.socket_path))
                writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
                await writer.drain()
                line = await asyncio.wait_for(reader.readline(), 10)
                writer.close()
                return line
            finally:
                await proxy.stop()

    assert asyncio.run(connect("10.244.0.6:15018")) == \
        b"HTTP/1.1 503 dial tcp 10.244.0.6:15018: connect: connection refused\r\n"
    # what the client sent is only echoed as printable ASCII: no header can be smuggled in
    assert asyncio.run(connect("10.244.0.6:1\x7f5")).startswith(b"HTTP/1.1 503 dial tcp 10.244")
