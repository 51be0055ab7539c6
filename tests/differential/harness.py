"""Run the cases on an engine and compare what two engines answered.

``run_engine(engine)`` starts the engine once per scenario (``runbook.sandbox.start_engine``),
runs the shared cases each in its own namespace, then every ``fresh`` case on a reset world, and
returns each case's observations, masked (``normalise.py``). ``compare(a, b)`` lists where two
runs differ, step by step. Nothing here knows which engine it talks to: only the kubeconfig.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from kubernetes import config

from runbook.sandbox import start_engine
from tests.differential.cases import Api, Case, Kubectl, all_cases, fill, namespace_for
from tests.differential.normalise import mask_body, mask_text

Observation = dict[str, Any]
#: how long a write's consequences may take on a loaded machine before the next step reads
SETTLE_TIMEOUT = 30.0


@dataclass
class Difference:
    """Where two engines answered a case differently."""

    case: str
    area: str
    step: int  # index in the case's steps
    what: str  # the step, as written
    left: Any
    right: Any


class _Session:
    """HTTP and kubectl against one started engine."""

    def __init__(self, kubeconfig: Path, home: Path) -> None:
        self.kubeconfig = kubeconfig
        self.home = home
        self._clients: dict[str, Any] = {}
        self.env = dict(os.environ, KUBECONFIG=str(kubeconfig), HOME=str(home),
                        KUBECACHEDIR=str(home / "kube-cache"))

    def _client(self, context: str) -> Any:
        api = self._clients.get(context)
        if api is None:
            api = self._clients[context] = config.new_client_from_config(
                str(self.kubeconfig), context=context)
        return api

    def api(self, step: Api, ns: str) -> Observation:
        api = self._client(step.context)
        headers = {"Content-Type": step.content_type, **_accept_json(api), "Accept": step.accept}
        body = fill(step.body, ns)
        raw = body if isinstance(body, str) or body is None else orjson.dumps(body).decode()
        answer = api.rest_client.pool_manager.request(
            step.method, api.configuration.host + fill(step.path, ns), headers=headers, body=raw,
            timeout=30, preload_content=True)
        content_type = answer.headers.get("Content-Type", "")
        stream = "watch=1" in step.path or "watch=true" in step.path
        seen: Observation = {"status": answer.status, "type": content_type.split(";")[0],
                             "body": mask_body(answer.data, content_type, stream)}
        if "json" in content_type:
            seen["newline"] = answer.data.endswith(b"\n")
        return seen

    def kubectl(self, step: Kubectl, ns: str) -> Observation:
        try:
            done = subprocess.run(["bash", "-c", fill(step.line, ns)], input=step.stdin,
                                  capture_output=True, text=True, env=self.env,
                                  timeout=step.timeout)
        except subprocess.TimeoutExpired:
            return {"timeout": step.timeout}
        return {"exit": done.returncode, "stdout": mask_text(done.stdout),
                "stderr": mask_text(done.stderr)}

    def settle(self, timeout: float = SETTLE_TIMEOUT) -> None:
        """Wait (at most ``timeout``) until the controllers have acted on the last write, as a
        reader's pause between two commands lets them: every Deployment has observed its
        generation and is available or reports ``ReplicaFailure``, and every failing
        ReplicaSet's ``FailedCreate`` event has been recorded and counted up by a retry. The
        emulated controllers act within the write; the real ones at their own pace."""
        api = self._client("sandbox")
        deadline = time.monotonic() + timeout
        while not _settled(api) and time.monotonic() < deadline:
            time.sleep(0.2)

    def wait_for_service_account(self, ns: str, timeout: float = SETTLE_TIMEOUT) -> None:
        """Wait (at most ``timeout``) for the serviceaccount controller's ``default`` account in
        a new namespace: ServiceAccount admission refuses pods (403) until it exists, and a case
        compares what a namespace of some age answers, not that race."""
        api = self._client("sandbox")
        path = f"{api.configuration.host}/api/v1/namespaces/{ns}/serviceaccounts/default"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = api.rest_client.pool_manager.request(
                "GET", path, headers=_accept_json(api), timeout=30, preload_content=True)
            if answer.status == 200:
                return
            time.sleep(0.1)

    def close(self) -> None:
        for api in self._clients.values():
            api.close()


def _accept_json(api: Any) -> dict[str, str]:
    """The headers of a JSON request as the client's user."""
    headers = {"Accept": "application/json"}
    auth = api.configuration.auth_settings().get("BearerToken")
    if auth:
        headers["Authorization"] = auth["value"]
    return headers


def _list(api: Any, path: str) -> list[dict[str, Any]]:
    answer = api.rest_client.pool_manager.request(
        "GET", api.configuration.host + path, headers=_accept_json(api), timeout=30,
        preload_content=True)
    items: list[dict[str, Any]] = orjson.loads(answer.data).get("items") or []
    return items


def _failing(obj: dict[str, Any]) -> bool:
    return any(c.get("type") == "ReplicaFailure" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or ())


def _settled(api: Any) -> bool:
    """Whether the workloads are where the controllers leave them (see ``_Session.settle``)."""
    for deployment in _list(api, "/apis/apps/v1/deployments"):
        wanted = (deployment.get("spec") or {}).get("replicas", 1)
        status = deployment.get("status") or {}
        if status.get("observedGeneration", 0) < deployment["metadata"].get("generation", 1):
            return False
        done = all(status.get(f, 0) == wanted for f in
                   ("replicas", "updatedReplicas", "availableReplicas"))
        if not (done or _failing(deployment)):
            return False
    failing = {rs["metadata"]["uid"] for rs in _list(api, "/apis/apps/v1/replicasets")
               if _failing(rs)}
    counted = {e["involvedObject"].get("uid") for e in _list(api, "/api/v1/events")
               if e.get("reason") == "FailedCreate" and (e.get("count") or 1) > 1}
    return failing <= counted


def _run_case(session: _Session, case: Case, ns: str) -> list[Observation]:
    session.api(Api("POST", "/api/v1/namespaces", {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}), ns)
    session.wait_for_service_account(ns)
    seen = []
    for step in case.steps:
        seen.append(session.api(step, ns) if isinstance(step, Api) else session.kubectl(step, ns))
        if isinstance(step, Kubectl) and step.settle:
            session.settle()
    return seen


def run_engine(engine: str, cases: Iterable[Case] | None = None,
               progress: Callable[[str], None] | None = None) -> dict[str, list[Observation]]:
    """Every case's observations on a fresh ``engine`` (``BuildError`` when the real one cannot
    start). Shared cases run first on one engine per scenario; ``fresh`` cases each on a reset
    world."""
    chosen = list(cases if cases is not None else all_cases())
    index = {c.id: i for i, c in enumerate(all_cases())}
    results: dict[str, list[Observation]] = {}
    by_scenario: dict[str, list[Case]] = {}
    for case in chosen:
        by_scenario.setdefault(case.scenario, []).append(case)
    with tempfile.TemporaryDirectory(prefix="differential-") as tmp:
        for scenario, group in by_scenario.items():
            state = Path(tmp) / scenario
            with start_engine(engine, scenario=scenario, state_dir=state) as handle:
                session = _Session(Path(handle.kubeconfig_path), state)
                try:
                    ordered = [c for c in group if not c.fresh] + [c for c in group if c.fresh]
                    for case in ordered:
                        if case.fresh:
                            handle.reset()
                        started = time.monotonic()
                        results[case.id] = _run_case(session, case,
                                                     namespace_for(index[case.id]))
                        if progress is not None:
                            progress(f"{engine} {case.id} {time.monotonic() - started:.1f}s")
                finally:
                    session.close()
    return results


def _describe(step: Api | Kubectl) -> str:
    if isinstance(step, Api):
        return f"{step.method} {step.path} ({step.content_type})"
    return step.line


def compare(left: dict[str, list[Observation]], right: dict[str, list[Observation]],
            cases: Iterable[Case] | None = None) -> list[Difference]:
    """Every step whose observations differ, for the cases both runs have."""
    differences = []
    for case in cases if cases is not None else all_cases():
        if case.id not in left or case.id not in right:
            continue
        for i, (a, b) in enumerate(zip(left[case.id], right[case.id], strict=True)):
            if a != b:
                differences.append(Difference(case.id, case.area, i, _describe(case.steps[i]), a, b))
    return differences


__all__ = ["Difference", "Observation", "compare", "run_engine"]
