"""start_engine: one call for either engine; the real one says clearly when it is not built."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from kubernetes import client, config

from runbook.errors import InputError
from runbook.sandbox import start_engine


def test_the_emulated_engine_starts_answers_and_stops(tmp_path: Path) -> None:
    with start_engine("emulated", scenario="empty", state_dir=tmp_path / "state") as handle:
        assert handle.engine == "emulated" and handle.url.startswith("https://127.0.0.1:")
        assert handle.kubeconfig_path == tmp_path / "state" / "kubeconfig"
        assert handle.ca_path.is_file()
        api = config.new_client_from_config(str(handle.kubeconfig_path), context="sandbox")
        names = {n.metadata.name for n in client.CoreV1Api(api).list_namespace().items}
        assert "kube-system" in names
        api.close()
    with pytest.raises(ConnectionRefusedError):  # stopped: nothing listens there any more
        socket.create_connection(("127.0.0.1", int(handle.url.rsplit(":", 1)[1])), timeout=2)


def test_an_unknown_engine_is_refused_in_one_line() -> None:
    with pytest.raises(InputError) as refused:
        start_engine("minikube")
    assert str(refused.value).startswith("unknown engine 'minikube'") and "\n" not in str(refused.value)
