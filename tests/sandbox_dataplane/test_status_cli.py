"""``runbook sandbox status`` against a background sandbox: where each gateway answers, and why not."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from runbook.cli import main
from runbook.sandbox import SandboxInfo, ensure_running, stop_running


@pytest.fixture
def background() -> Iterator[SandboxInfo]:
    """A seed-incident sandbox in its own process (MESH_RUNBOOK_HOME is the test's: conftest)."""
    info = ensure_running(scenario="seed-incident")
    try:
        yield info
    finally:
        stop_running()


def test_status_lists_every_gateway_node_port(background: SandboxInfo,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "status"]) == 0
    # a listener's reason continues on indented lines when it is longer than the terminal
    text = re.sub(r"\n {19}(?=\S)", " ", capsys.readouterr().out)
    assert "gateways:   8 node ports on 127.0.0.1" in text
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("  127.0.0.1:")}
    # no Gateway yet: the http2 ports are closed, and the line says why
    assert "istio-prod/istio-ingressgateway:80 (http2) closed — " in lines["127.0.0.1:31241"]
    assert "no Gateway server for port 80" in lines["127.0.0.1:31241"]
    assert "istio-canary/istio-ingressgateway:80 (http2)" in lines["127.0.0.1:32232"]
    # the status ports listen, unless another sandbox on this machine holds them (then: busy)
    assert lines["127.0.0.1:30816"].split()[3] in ("listening", "busy")
    assert main(["sandbox", "status", "-o", "json"]) == 0
    listeners = json.loads(capsys.readouterr().out)["dataplane"]["listeners"]
    assert {item["nodePort"] for item in listeners} == {
        30816, 31241, 32336, 30331, 32232, 32582, 31519, 32673}
