"""The field report on the real engine: the real apiserver, ReplicaSet controller and scheduler.

The same steps as tests/sandbox_world/test_incident.py, but the errors come from kube-apiserver's
webhook admission, the FailedCreate events and back-off from kube-controller-manager, the pods
from the scheduler and the node agent, the injection from an emulated istiod called by the
apiserver over HTTPS, and the push lines through ``kubectl logs`` (apiserver → kubelet API).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from runbook.sandbox import Sandbox
from runbook.sandbox.realkube.engine import KubeEngine
from tests.conftest import advance_world
from tests.engine_kube.conftest import wait_for
from tests.sandbox_world.helpers import (
    BOOKINFO,
    BOOKINFO_DEPLOYMENTS,
    BOOKINFO_GATEWAY,
    REPORT_ERROR,
    Kubectl,
    kubectl_for,
    retarget_tag_patch,
)

ALPHA = "l7-traffic-alpha"


@pytest.fixture
def kc(kubectl: str, seed_engine: KubeEngine, tmp_path: Path) -> Kubectl:
    return kubectl_for(kubectl, seed_engine, tmp_path)  # type: ignore[arg-type]


def _json(kc: Kubectl, *args: str) -> dict:  # type: ignore[type-arg]
    return json.loads(kc(*args, "-o", "json").stdout)


def _failed_create_events(kc: Kubectl) -> list[dict]:  # type: ignore[type-arg]
    items = _json(kc, "get", "events", "-n", ALPHA, "--field-selector", "reason=FailedCreate")
    return list(items["items"])


def test_01_the_incident_happens_on_the_real_apiserver(seed_engine: KubeEngine,
                                                        kc: Kubectl) -> None:
    applied = kc("apply", "-f", str(BOOKINFO), "-n", ALPHA).stdout
    assert "deployment.apps/details-v1 created" in applied

    # the real ReplicaSet controller retries with back-off: the event's count grows
    events = wait_for(lambda: [e for e in _failed_create_events(kc) if e.get("count", 1) > 1],
                      timeout=60, what="FailedCreate events counted more than once")
    for event in events:
        assert event["message"] == f"Error creating: {REPORT_ERROR}"
        assert event["type"] == "Warning"
        assert event["source"]["component"] == "replicaset-controller"
    deployments = _json(kc, "get", "deploy", "-n", ALPHA)["items"]
    assert sorted(d["metadata"]["name"] for d in deployments) == sorted(BOOKINFO_DEPLOYMENTS)
    assert kc("get", "pods", "-n", ALPHA).stderr.strip() == f"No resources found in {ALPHA} namespace."

    rs = events[0]["involvedObject"]["name"]
    described = kc("describe", "rs", rs, "-n", ALPHA).stdout
    assert re.search(r"ReplicaFailure\s+True\s+FailedCreate", described), described
    line = next(ln for ln in described.splitlines() if "FailedCreate" in ln and "Warning" in ln)
    assert re.search(r"Warning\s+FailedCreate\s+\S+ \(x\d+ over \S+\)\s+replicaset-controller\s+"
                     r"Error creating: ", line), line
    assert line.rstrip().endswith(REPORT_ERROR)


def _diagnose(kubeconfig: Path) -> tuple[int, dict]:  # type: ignore[type-arg]
    done = subprocess.run(
        [sys.executable, "-m", "runbook", "diagnose", "--kubeconfig", str(kubeconfig),
         "--context", "sandbox", "-n", ALPHA, "-o", "json"],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def test_02_runbook_diagnose_finds_what_it_finds_on_the_emulated_engine(
        seed_engine: KubeEngine, kc: Kubectl, kubectl: str, tmp_path: Path) -> None:
    kc("apply", "-f", str(BOOKINFO), "-n", ALPHA)
    wait_for(lambda: len({e["involvedObject"]["name"] for e in _failed_create_events(kc)}) == 6,
             timeout=60, what="FailedCreate events of the six ReplicaSets")
    real_code, real = _diagnose(seed_engine.kubeconfig_path)
    with Sandbox(scenario="seed-incident", clock="manual") as emulated:
        kubectl_for(kubectl, emulated, tmp_path)("apply", "-f", str(BOOKINFO), "-n", ALPHA)
        advance_world(emulated, 30)
        emulated_code, expected = _diagnose(emulated.kubeconfig_path)

    def essence(doc: dict) -> list[tuple[str, str, str, object]]:  # type: ignore[type-arg]
        return [(f["code"], f["severity"], json.dumps(f["subject"]),
                 (f.get("fix") or {}).get("params")) for f in doc["findings"]]

    assert real_code == emulated_code
    for got, want in zip(essence(real), essence(expected), strict=True):
        assert got[:3] == want[:3]
        params, wanted = dict(got[3] or {}), dict(want[3] or {})  # type: ignore[call-overload]
        for side in (params, wanted):  # pod-template-hash suffixes are each engine's own
            if "replicasets" in side:
                side["replicasets"] = sorted(n.rsplit("-", 1)[0] for n in side["replicasets"])
        assert {k: (params.get(k), wanted.get(k)) for k in set(params) | set(wanted)
                if params.get(k) != wanted.get(k)} == {}
    assert [f["code"] for f in real["findings"]] == ["MR101", "MR106", "MR107"]
    assert {r["error_kind"] for r in real["replicaset_events"]} == {"service_not_found"}


def test_03_the_report_fix_heals_it_with_injected_pods(seed_engine: KubeEngine,
                                                       kc: Kubectl) -> None:
    kc("apply", "-f", str(BOOKINFO), "-n", ALPHA)
    kc("patch", "mutatingwebhookconfiguration", "istio-revision-tag-prod-canary", "--type=json",
       "-p", retarget_tag_patch("istio-canary"))
    kc("rollout", "restart", "deployment", "-n", ALPHA)
    # until the rollouts finish, the first ReplicaSets still want a pod each and their retries
    # (back-off from the earlier failures) can add one beside six Ready pods
    for name in BOOKINFO_DEPLOYMENTS:
        kc("rollout", "status", f"deployment/{name}", "-n", ALPHA, "--timeout=55s")

    def all_running() -> list[dict] | None:  # type: ignore[type-arg]
        pods = _json(kc, "get", "pods", "-n", ALPHA)["items"]
        if any(p["metadata"].get("deletionTimestamp") for p in pods):
            return None  # the old ReplicaSets' pods are still Terminating (kubelet's grace)
        ready = [p for p in pods if p.get("status", {}).get("phase") == "Running" and all(
            c.get("ready") for c in p["status"].get("containerStatuses") or [{}])]
        return pods if len(pods) == len(BOOKINFO_DEPLOYMENTS) == len(ready) else None

    pods = wait_for(all_running, timeout=120, what="6 bookinfo pods Running and Ready")
    for pod in pods:
        names = [c["name"] for c in pod["spec"]["containers"]]
        assert names[-1] == "istio-proxy" and len(names) == 2
        status = json.loads(pod["metadata"]["annotations"]["sidecar.istio.io/status"])
        # the Service named istiod-1-18-5 in istio-canary selects the 1-19-3 pods (scenario README)
        assert status["revision"] == "1-19-3"
        assert pod["status"]["podIP"].startswith("10.244.")
    listed = kc("get", "pods", "-n", ALPHA).stdout.strip().splitlines()[1:]
    assert sorted(line.split()[0] for line in listed) == sorted(
        p["metadata"]["name"] for p in pods), listed
    assert all(line.split()[1:3] == ["2/2", "Running"] for line in listed), listed


def test_04_kubectl_logs_shows_the_istiod_push_of_the_gateway(seed_engine: KubeEngine,
                                                              kc: Kubectl) -> None:
    kc("apply", "-f", str(BOOKINFO_GATEWAY), "-n", ALPHA)
    istiod = kc("get", "pods", "-n", "istio-canary", "-l", "app=istiod", "-o", "name").stdout.split()
    assert len(istiod) == 1

    def pushed() -> str | None:
        logs = kc("logs", "-n", "istio-canary", istiod[0], "-c", "discovery").stdout
        return logs if "Gateway/l7-traffic-alpha/bookinfo-gateway" in logs else None

    logs = wait_for(pushed, timeout=30, what="the push line of the bookinfo gateway")
    assert re.search(r"Push debounce stable\[\d+\] \d+ for config Gateway/l7-traffic-alpha/"
                     r"bookinfo-gateway", logs), logs
    assert "All caches have been synced up" in logs  # start-up lines of the emulated istiod


def test_05_the_readonly_context_may_read_but_not_write(seed_engine: KubeEngine,
                                                        kc: Kubectl) -> None:
    assert kc("get", "pods", "-A", "--context", "sandbox-readonly").returncode == 0
    denied = kc("create", "namespace", "nope", "--context", "sandbox-readonly", check=False)
    assert denied.returncode == 1
    assert 'User "sandbox-readonly" cannot create resource "namespaces"' in denied.stderr


def test_06_runbook_applies_older_istio_versions_as_the_real_apiserver_requires(
        seed_engine: KubeEngine) -> None:
    # server-side apply of a v1alpha3 object must use the v1alpha3 path: the real apiserver
    # refuses it at the preferred version's path ("invalid object type"); the emulator did not
    from runbook.apps import app_path
    from runbook.kube import connect
    from runbook.kube.apply import apply_manifests

    with connect(seed_engine.kubeconfig_path, "sandbox") as cluster:
        applied = apply_manifests(cluster, app_path("sample-gateway-fixed"),
                                  namespace="l7-traffic-beta")
    assert set(applied["action"]) == {"created"}, applied.to_dict("records")


def test_07_runbook_reads_istiod_logs_as_kube_apiserver_serves_them(
        seed_engine: KubeEngine, kc: Kubectl) -> None:
    # kube-apiserver answers a pods/log request that accepts only text/plain with 406
    from runbook.kube import connect

    istiod = kc("get", "pods", "-n", "istio-prod", "-l", "app=istiod", "-o",
                "jsonpath={.items[0].metadata.name}").stdout
    with connect(seed_engine.kubeconfig_path, "sandbox") as cluster:
        text = cluster.logs("istio-prod", istiod, container="discovery", tail_lines=50)
    assert "All caches have been synced up" in text
