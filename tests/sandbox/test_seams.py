"""The seams later tasks plug into: admission chain, subscribers, clock timers, settle, pod logs,
request log, faults and the admin API."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from runbook.formats.admission import internal_error, webhook_call_failed
from runbook.sandbox import AdmissionRequest, Change, Fault, Sandbox
from runbook.sandbox.registry.status import ApiError
from tests.sandbox.helpers import raw, status_of


def _cm(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {}}


def test_admission_plugins_mutate_and_reject_also_on_dry_run(sandbox: Sandbox,
                                                             core: client.CoreV1Api) -> None:
    seen: list[tuple[str, str, bool]] = []

    def label_everything(req: AdmissionRequest) -> None:
        seen.append((req.operation, req.name, req.dry_run))
        if req.operation in ("CREATE", "UPDATE"):
            req.obj.setdefault("metadata", {}).setdefault("labels", {})["admitted"] = "yes"

    def failing_webhook(req: AdmissionRequest) -> None:
        if req.kind.key == "pods" and req.operation == "CREATE":
            cause = webhook_call_failed("rev.namespace.sidecar-injector.istio.io",
                                        "https://istiod-1-18-5.istio-system.svc:443/inject",
                                        'service "istiod-1-18-5" not found')
            raise ApiError(500, "InternalError", internal_error(cause))

    sandbox.admission.mutating.append(label_everything)
    sandbox.admission.validating.append(failing_webhook)
    made = core.create_namespaced_config_map("default", _cm("adm"))
    assert made.metadata.labels == {"admitted": "yes"}
    core.create_namespaced_config_map("default", _cm("adm-dry"), dry_run="All")
    assert ("CREATE", "adm-dry", True) in seen
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_pod("default", {"metadata": {"name": "p"},
                                               "spec": {"containers": [{"name": "c", "image": "i"}]}})
    body = status_of(exc.value)
    assert (exc.value.status, body["reason"]) == (500, "InternalError")
    assert body["message"] == (
        'Internal error occurred: failed calling webhook "rev.namespace.sidecar-injector.istio.io": '
        'failed to call webhook: Post "https://istiod-1-18-5.istio-system.svc:443/inject?timeout=10s": '
        'service "istiod-1-18-5" not found')
    assert sandbox.store.get("pods", "default", "p") is None


def test_subscribers_get_every_committed_change(sandbox: Sandbox, core: client.CoreV1Api) -> None:
    changes: list[Change] = []
    stop = sandbox.store.subscribe(changes.append)
    core.create_namespaced_config_map("default", _cm("sub"))
    core.patch_namespaced_config_map("sub", "default", {"data": {"a": "b"}})
    core.delete_namespaced_config_map("sub", "default")
    stop()
    core.create_namespaced_config_map("default", _cm("after"))
    assert [(c.type, c.kind) for c in changes] == [
        ("ADDED", "configmaps"), ("MODIFIED", "configmaps"), ("DELETED", "configmaps")]
    # an empty ``data`` map is omitted when stored, as Go's omitempty does on a real server
    assert changes[1].old is not None and "data" not in changes[1].old
    assert [c.rv for c in changes] == sorted(c.rv for c in changes)


def test_timers_and_settle_drive_controllers_without_sleeping(sandbox: Sandbox,
                                                              core: client.CoreV1Api) -> None:
    # a toy controller: 10 s (sandbox time) after a ConfigMap appears, it marks it "ripe"
    def on_change(change: Change) -> None:
        if change.kind == "configmaps" and change.type == "ADDED":
            name = change.obj["metadata"]["name"]
            # work items may call the sandbox over HTTP: they run outside the server's loop
            sandbox.clock.call_later(10, lambda: sandbox.cluster.work.add(
                lambda: core.patch_namespaced_config_map(name, "default", {"data": {"ripe": "yes"}})))

    sandbox.store.subscribe(on_change)
    core.create_namespaced_config_map("default", _cm("fruit"))
    sandbox.settle()
    assert core.read_namespaced_config_map("fruit", "default").data is None  # {} is omitted
    sandbox.advance(9)
    assert core.read_namespaced_config_map("fruit", "default").data is None  # {} is omitted
    sandbox.advance(1)
    sandbox.settle()
    assert core.read_namespaced_config_map("fruit", "default").data == {"ripe": "yes"}
    assert sandbox.clock.timestamp() == "2023-10-27T06:00:10Z"


def test_pod_logs(sandbox: Sandbox, core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", {"metadata": {"name": "istiod-x"}, "spec": {"containers": [
        {"name": "discovery", "image": "istio/pilot:1.18.5"}]}})
    start = sandbox.clock.time()
    for i in range(5):
        sandbox.logs.append("default", "istiod-x", "discovery", f"line {i}", start + i)
    sandbox.advance(10)
    assert core.read_namespaced_pod_log("istiod-x", "default") == "".join(f"line {i}\n" for i in range(5))
    assert core.read_namespaced_pod_log("istiod-x", "default", tail_lines=2) == "line 3\nline 4\n"
    assert core.read_namespaced_pod_log("istiod-x", "default", since_seconds=7) == "line 3\nline 4\n"
    stamped = core.read_namespaced_pod_log("istiod-x", "default", timestamps=True, tail_lines=1)
    assert stamped == "2023-10-27T06:00:04.000000000Z line 4\n"
    assert core.read_namespaced_pod_log("istiod-x", "default", limit_bytes=8) == "line 0\nl"
    # sinceTime: the official client has no parameter for it; kubectl --since-time sends it
    code, _, since = raw(sandbox, "GET", "/api/v1/namespaces/default/pods/istiod-x/log"
                         "?sinceTime=2023-10-27T06:00:03Z")
    assert (code, since) == (200, b"line 3\nline 4\n")
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod_log("istiod-x", "default", container="nope")
    assert status_of(exc.value)["message"] == "container nope is not valid for pod istiod-x"
    # follow: lines written later arrive on the open stream
    resp = core.read_namespaced_pod_log("istiod-x", "default", follow=True, tail_lines=0,
                                        _preload_content=False)
    sandbox.logs.append("default", "istiod-x", "discovery", "pushed", sandbox.clock.time())
    assert resp.readline() == b"pushed\n"
    resp.release_conn()


def test_request_log_records_every_request(sandbox: Sandbox, core: client.CoreV1Api) -> None:
    sandbox.requests.clear()
    core.list_namespaced_config_map("default", label_selector="a=b")
    with pytest.raises(ApiException):
        core.read_namespaced_config_map("missing", "default")
    records = sandbox.requests.records()
    assert [(r.method, r.path, r.status, r.verb, r.user) for r in records] == [
        ("GET", "/api/v1/namespaces/default/configmaps", 200, "list", "sandbox"),
        ("GET", "/api/v1/namespaces/default/configmaps/missing", 404, "get", "sandbox"),
    ]
    assert records[0].query == "labelSelector=a%3Db" and records[0].duration_ms >= 0


def test_fault_error_with_retry_after_and_times(sandbox: Sandbox, core: client.CoreV1Api) -> None:
    sandbox.faults.add(Fault(action="error", verb="list", resource="configmaps", status=429,
                             message="slow down", retry_after=3, times=1))
    code, headers, body = raw(sandbox, "GET", "/api/v1/namespaces/default/configmaps")
    assert code == 429 and headers["Retry-After"] == "3"
    assert json.loads(body)["details"] == {"retryAfterSeconds": 3}
    assert raw(sandbox, "GET", "/api/v1/namespaces/default/configmaps")[0] == 200  # used up
    sandbox.faults.add(Fault(action="error", namespace="kube-system", status=503))
    assert raw(sandbox, "GET", "/api/v1/namespaces/kube-system/configmaps")[0] == 503
    assert raw(sandbox, "GET", "/api/v1/namespaces/default/configmaps")[0] == 200


def test_fault_latency(sandbox: Sandbox) -> None:
    sandbox.faults.add(Fault(action="latency", latency=0.3, path="/api/v1/nodes"))
    raw(sandbox, "GET", "/api/v1/nodes")
    record = sandbox.requests.find(path="/api/v1/nodes")[-1]
    assert record.duration_ms >= 300


def test_fault_drop_closes_the_connection_and_the_server_lives_on(sandbox: Sandbox) -> None:
    sandbox.faults.add(Fault(action="drop", verb="get", name="default", times=1))
    context = ssl.create_default_context(cafile=str(sandbox.ca_path))
    conn = http.client.HTTPSConnection("127.0.0.1", sandbox.port, context=context, timeout=5)
    conn.request("GET", "/api/v1/namespaces/default", headers={"Authorization": f"Bearer {sandbox.token}"})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, ssl.SSLError, socket.error)):
        conn.getresponse()
    conn.close()
    assert raw(sandbox, "GET", "/api/v1/namespaces/default")[0] == 200
    assert sandbox.requests.find(path="/api/v1/namespaces/default")[0].status == 0


def test_fault_truncated_watch(sandbox: Sandbox, core: client.CoreV1Api) -> None:
    for i in range(3):
        core.create_namespaced_config_map("default", _cm(f"t{i}"))
    sandbox.faults.add(Fault(action="truncate-watch", resource="configmaps", after_events=2))
    got = []
    with pytest.raises(Exception):  # noqa: B017 - the client sees a broken chunked stream
        for event in watch.Watch().stream(core.list_namespaced_config_map, "default",
                                          timeout_seconds=5):
            got.append(event["object"].metadata.name)
    assert got == ["t0", "t1"]


def test_admin_api(sandbox: Sandbox) -> None:
    code, _, body = raw(sandbox, "GET", "/sandbox/v1/status")
    status = json.loads(body)
    assert code == 200 and status["scenario"] == "empty" and status["clock"] == "manual"
    assert status["objects"]["namespaces"] == 4
    raw(sandbox, "POST", "/sandbox/v1/advance", json.dumps({"seconds": 60}))
    assert sandbox.clock.timestamp() == "2023-10-27T06:01:00Z"
    code, _, body = raw(sandbox, "POST", "/sandbox/v1/faults",
                        json.dumps({"action": "error", "verb": "list", "status": 500}))
    assert code == 201 and json.loads(body)["id"] >= 1
    assert raw(sandbox, "GET", "/api/v1/nodes")[0] == 500
    assert len(json.loads(raw(sandbox, "GET", "/sandbox/v1/faults")[2])["items"]) == 1
    raw(sandbox, "DELETE", "/sandbox/v1/faults")
    assert raw(sandbox, "GET", "/api/v1/nodes")[0] == 200
    assert raw(sandbox, "POST", "/sandbox/v1/faults", json.dumps({"action": "explode"}))[0] == 400
    requests = json.loads(raw(sandbox, "GET", "/sandbox/v1/requests?limit=2")[2])["items"]
    assert [(r["path"], r["status"]) for r in requests] == [("/api/v1/nodes", 200),
                                                             ("/sandbox/v1/faults", 400)]
    raw(sandbox, "POST", "/api/v1/namespaces/default/configmaps", json.dumps(_cm("gone-on-reset")))
    assert raw(sandbox, "POST", "/sandbox/v1/reset")[0] == 200
    assert sandbox.store.get("configmaps", "default", "gone-on-reset") is None
    assert sandbox.store.get("namespaces", "", "kube-system") is not None
    assert raw(sandbox, "POST", "/sandbox/v1/settle", "{}")[0] == 200
    ro = raw(sandbox, "POST", "/sandbox/v1/reset", token=sandbox.readonly_token)
    assert ro[0] == 403


def test_concurrent_writers_keep_the_store_consistent(sandbox: Sandbox) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(50):
                body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                   "metadata": {"name": f"w{n}-{i}"}})
                assert raw(sandbox, "POST", "/api/v1/namespaces/default/configmaps", body)[0] == 201
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    versions = [int(o["metadata"]["resourceVersion"]) for o in sandbox.store.objects("configmaps")]
    assert len(versions) == 200 and len(set(versions)) == 200


def test_fault_probability_and_matching(sandbox: Sandbox) -> None:
    never = sandbox.faults.add(Fault(action="error", status=500, probability=0.0))
    always = sandbox.faults.add(Fault(action="error", status=503, resource="nodes", times=2))
    assert raw(sandbox, "GET", "/api/v1/namespaces")[0] == 200  # probability 0: never fires
    assert [raw(sandbox, "GET", "/api/v1/nodes")[0] for _ in range(3)] == [503, 503, 200]
    assert never.fired == 0 and always.fired == 2
    with pytest.raises(ValueError):
        Fault(action="error", probability=1.5)
