"""Server-side Tables: the field report's `kubectl get` outputs rebuilt from objects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runbook import kinds
from runbook.sandbox.apiserver.printing import eval_json_path, human_duration, to_table

NOW = datetime(2023, 10, 27, 6, 1, 16, tzinfo=UTC)


def _ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _meta(name: str, seconds: float, namespace: str = "l7-traffic-alpha") -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "creationTimestamp": _ago(seconds)}


def _rows(table: dict[str, Any]) -> list[list[Any]]:
    return [row["cells"] for row in table["rows"]]


def _headers(table: dict[str, Any]) -> list[str]:
    return [c["name"] for c in table["columnDefinitions"]]


@pytest.mark.parametrize(("seconds", "text"), [
    (-5, "<invalid>"), (-0.5, "0s"), (0, "0s"), (113, "113s"), (119.9, "119s"), (145, "2m25s"),
    (240, "4m"), (277, "4m37s"), (600, "10m"), (105 * 60, "105m"), (3 * 3600, "3h"),
    (3 * 3600 + 120, "3h2m"), (22 * 3600, "22h"), (50 * 3600, "2d2h"), (72 * 3600, "3d"),
    (10 * 86400, "10d"), (800 * 86400, "2y70d"), (9 * 365 * 86400, "9y"),
])
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def _service(name: str, seconds: float, ip: str, ports: list[dict[str, Any]], *,
             namespace: str = "l7-traffic-alpha", type_: str = "ClusterIP",
             ingress: list[dict[str, str]] | None = None) -> dict[str, Any]:
    svc: dict[str, Any] = {"apiVersion": "v1", "kind": "Service",
                           "metadata": _meta(name, seconds, namespace),
                           "spec": {"type": type_, "clusterIP": ip, "clusterIPs": [ip],
                                    "ports": ports, "selector": {"app": name}}}
    if ingress is not None:
        svc["status"] = {"loadBalancer": {"ingress": ingress}}
    return svc


def test_services_as_in_the_field_report() -> None:
    table = to_table(kinds.SERVICES, [
        _service("details", 145, "100.111.56.251", [{"port": 9080, "protocol": "TCP"}]),
        _service("istio-ingressgateway", 117 * 60, "100.110.197.23", [
            {"port": p, "nodePort": n, "protocol": "TCP"} for p, n in
            ((15021, 30331), (80, 32232), (443, 32582), (31400, 31519), (15443, 32673))],
            namespace="istio-canary", type_="LoadBalancer", ingress=[{"ip": "10.237.149.244"}]),
        _service("istiod-1-18-5", 105 * 60, "100.109.220.197", [
            {"port": p, "protocol": "TCP"} for p in (15010, 15012, 443, 15014)],
            namespace="istio-canary"),
        _service("istio-ingressgateway", 22 * 3600, "100.104.31.241", [
            {"port": 15021, "nodePort": 30816}, {"port": 80, "nodePort": 31241},
            {"port": 443, "nodePort": 32336}], namespace="istio-prod", type_="LoadBalancer",
            ingress=[{"hostname": "a8790f018666a43ad92a1add681cbfd0-2083997433.eu-west-1.elb."
                                  "amazonaws.com"}]),
        _service("pending-lb", 60, "10.0.0.9", [{"port": 80, "nodePort": 30080}],
                 type_="LoadBalancer"),
    ], NOW, wide=True)
    assert _headers(table) == ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age",
                               "Selector"]
    assert [c["priority"] for c in table["columnDefinitions"]] == [0, 0, 0, 0, 0, 0, 1]
    assert _rows(table) == [
        ["details", "ClusterIP", "100.111.56.251", "<none>", "9080/TCP", "2m25s", "app=details"],
        ["istio-ingressgateway", "LoadBalancer", "100.110.197.23", "10.237.149.244",
         "15021:30331/TCP,80:32232/TCP,443:32582/TCP,31400:31519/TCP,15443:32673/TCP", "117m",
         "app=istio-ingressgateway"],
        ["istiod-1-18-5", "ClusterIP", "100.109.220.197", "<none>",
         "15010/TCP,15012/TCP,443/TCP,15014/TCP", "105m", "app=istiod-1-18-5"],
        ["istio-ingressgateway", "LoadBalancer", "100.104.31.241",
         "a8790f018666a43ad92a1add681cbfd0-2083997433.eu-west-1.elb.amazonaws.com",
         "15021:30816/TCP,80:31241/TCP,443:32336/TCP", "22h", "app=istio-ingressgateway"],
        ["pending-lb", "LoadBalancer", "10.0.0.9", "<pending>", "80:30080/TCP", "60s",
         "app=pending-lb"],
    ]
    narrow = to_table(kinds.SERVICES, [_service("details", 145, "100.111.56.251",
                                                [{"port": 9080}])], NOW)
    assert _headers(narrow)[-1] == "Age" and len(narrow["rows"][0]["cells"]) == 6


def _deployment(name: str, seconds: float) -> dict[str, Any]:
    return {"metadata": _meta(name, seconds), "spec": {
        "replicas": 1, "selector": {"matchLabels": {"app": name.split("-")[0], "version": "v1"}},
        "template": {"spec": {"containers": [{"name": "details", "image": "img:1.18.0"}]}}},
        "status": {}}


def test_deployments_and_replicasets_as_in_the_field_report() -> None:
    deployments = to_table(kinds.DEPLOYMENTS, [_deployment("details-v1", 220)], NOW, wide=True)
    assert _headers(deployments) == ["Name", "Ready", "Up-to-date", "Available", "Age",
                                     "Containers", "Images", "Selector"]
    assert _rows(deployments) == [["details-v1", "0/1", 0, 0, "3m40s", "details", "img:1.18.0",
                                   "app=details,version=v1"]]
    rs = {"metadata": _meta("details-v1-ccbdcf56", 255), "spec": {
        "replicas": 1, "selector": {"matchLabels": {
            "app": "details", "version": "v1", "pod-template-hash": "ccbdcf56"}},
        "template": {"spec": {"containers": [{"name": "details", "image": "img:1.18.0"}]}}},
        "status": {"replicas": 0}}
    table = to_table(kinds.REPLICA_SETS, [rs], NOW, wide=True)
    assert _rows(table) == [["details-v1-ccbdcf56", 1, 0, 0, "4m15s", "details", "img:1.18.0",
                             "app=details,pod-template-hash=ccbdcf56,version=v1"]]
    assert [c["type"] for c in table["columnDefinitions"]][1:4] == ["integer"] * 3


def _pod(name: str, statuses: list[dict[str, Any]], *, phase: str = "Running",
         **extra: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {"metadata": _meta(name, 100), "spec": {"containers": [
        {"name": s["name"]} for s in statuses], "nodeName": "node-1"},
        "status": {"phase": phase, "containerStatuses": statuses,
                   "podIPs": [{"ip": "10.1.0.7"}]}}
    pod.update(extra)
    return pod


def test_pod_ready_status_and_restarts() -> None:
    running = {"ready": True, "restartCount": 0, "state": {"running": {}}}
    pods = [
        _pod("details-v1-5f4d584748-xww9x", [{"name": "details", **running},
                                              {"name": "istio-proxy", **running}]),
        _pod("creating", [{"name": "app", "ready": False, "restartCount": 0,
                           "state": {"waiting": {"reason": "ContainerCreating"}}}],
             phase="Pending"),
        _pod("crashing", [{"name": "app", "ready": False, "restartCount": 4,
                           "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                           "lastState": {"terminated": {"exitCode": 1,
                                                        "finishedAt": _ago(30)}}}]),
        _pod("done", [{"name": "app", "ready": False, "restartCount": 0,
                       "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
             phase="Succeeded"),
    ]
    pods[0]["metadata"]["labels"] = {"app": "details"}
    deleting = _pod("going", [{"name": "app", **running}])
    deleting["metadata"]["deletionTimestamp"] = _ago(1)
    initializing = _pod("init", [], phase="Pending")
    initializing["spec"]["initContainers"] = [{"name": "istio-init"}]
    initializing["spec"]["containers"] = [{"name": "app"}]
    initializing["status"]["initContainerStatuses"] = [
        {"name": "istio-init", "ready": False, "restartCount": 0,
         "state": {"waiting": {"reason": "PodInitializing"}}}]
    table = to_table(kinds.PODS, [*pods, deleting, initializing], NOW, wide=True)
    assert _headers(table) == ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node",
                               "Nominated Node", "Readiness Gates"]
    rows = _rows(table)
    assert rows[0] == ["details-v1-5f4d584748-xww9x", "2/2", "Running", "0", "100s", "10.1.0.7",
                       "node-1", "<none>", "<none>"]
    assert rows[1][1:4] == ["0/1", "ContainerCreating", "0"]
    assert rows[2][1:4] == ["0/1", "CrashLoopBackOff", "4 (30s ago)"]
    assert rows[3][2] == "Completed"
    assert table["rows"][3]["conditions"] == [{"type": "Completed", "status": "True",
                                               "reason": "Succeeded",
                                               "message": "The pod has completed successfully."}]
    assert rows[4][2] == "Terminating"
    assert rows[5][1:3] == ["0/1", "Init:0/1"]
    row = table["rows"][0]["object"]
    assert row == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                   "metadata": pods[0]["metadata"]}


def test_events_table_has_its_own_shape() -> None:
    event = {"metadata": _meta("details-v1-ccbdcf56.17a1", 277), "type": "Warning",
             "reason": "FailedCreate", "count": 16, "firstTimestamp": _ago(277),
             "lastTimestamp": _ago(113), "source": {"component": "replicaset-controller"},
             "involvedObject": {"kind": "ReplicaSet", "name": "details-v1-ccbdcf56"},
             "message": 'Error creating: Internal error occurred: failed calling webhook '
                        '"rev.namespace.sidecar-injector.istio.io" '}
    table = to_table(kinds.EVENTS, [event], NOW)
    assert _headers(table) == ["Last Seen", "Type", "Reason", "Object", "Message"]
    assert _rows(table) == [["113s", "Warning", "FailedCreate", "replicaset/details-v1-ccbdcf56",
                             'Error creating: Internal error occurred: failed calling webhook '
                             '"rev.namespace.sidecar-injector.istio.io"']]
    wide = to_table(kinds.EVENTS, [event], NOW, wide=True)
    assert _rows(wide)[0][4:] == ["", "replicaset-controller", _rows(table)[0][4], "4m37s", 16,
                                  "details-v1-ccbdcf56.17a1"]
    new_api = {"metadata": _meta("e2", 10), "regarding": {"kind": "Pod", "name": "p"},
               "reason": "Scheduled", "note": "ok", "type": "Normal", "eventTime": _ago(10),
               "reportingController": "default-scheduler", "reportingInstance": "s-1"}
    assert _rows(to_table(kinds.EVENTS_V1, [new_api], NOW, wide=True))[0] == [
        "10s", "Normal", "Scheduled", "pod/p", "", "default-scheduler, s-1", "ok", "10s", 1, "e2"]


def test_small_kinds() -> None:
    ns = {"metadata": _meta("l7-traffic-alpha", 3600, ""), "status": {"phase": "Active"}}
    assert _rows(to_table(kinds.NAMESPACES, [ns], NOW)) == [["l7-traffic-alpha", "Active", "60m"]]
    cm = {"metadata": _meta("istio", 60), "data": {"mesh": "x", "meshNetworks": "y"}}
    assert _rows(to_table(kinds.CONFIG_MAPS, [cm], NOW)) == [["istio", 2, "60s"]]
    secret = {"metadata": _meta("s", 60), "type": "Opaque", "data": {"a": "eA=="}}
    assert _rows(to_table(kinds.SECRETS, [secret], NOW)) == [["s", "Opaque", 1, "60s"]]
    sa = {"metadata": _meta("bookinfo-details", 60)}
    assert _rows(to_table(kinds.SERVICE_ACCOUNTS, [sa], NOW)) == [["bookinfo-details", 0, "60s"]]
    mwc = {"metadata": _meta("istio-revision-tag-prod-canary", 7200, ""),
           "webhooks": [{"name": "a"}, {"name": "b"}]}
    assert _rows(to_table(kinds.MUTATING_WEBHOOKS, [mwc], NOW)) == [
        ["istio-revision-tag-prod-canary", 2, "120m"]]
    node = {"metadata": {**_meta("node-1", 86400 * 3, ""), "labels": {
        "node-role.kubernetes.io/control-plane": ""}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
                   "nodeInfo": {"kubeletVersion": "v1.29.0"},
                   "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}}
    assert _rows(to_table(kinds.NODES, [node], NOW, wide=True)) == [
        ["node-1", "Ready", "control-plane", "3d", "v1.29.0", "10.0.0.1", "<none>", "<unknown>",
         "<unknown>", "<unknown>"]]
    ep = {"metadata": _meta("details", 60), "subsets": [
        {"addresses": [{"ip": f"10.1.0.{i}"} for i in range(5)], "ports": [{"port": 9080}]}]}
    assert _rows(to_table(kinds.ENDPOINTS, [ep], NOW)) == [
        ["details", "10.1.0.0:9080,10.1.0.1:9080,10.1.0.2:9080 + 2 more...", "60s"]]
    crd = {"metadata": {"name": "gateways.networking.istio.io",
                        "creationTimestamp": "2023-10-27T04:00:00Z"}}
    table = to_table(kinds.CRDS, [crd], NOW)
    assert _headers(table) == ["Name", "Created At"]
    assert _rows(table) == [["gateways.networking.istio.io", "2023-10-27T04:00:00Z"]]


def test_custom_resources_use_the_printer_columns(istio_crds: Any) -> None:
    vs = {"apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
          "metadata": _meta("bookinfo", 31),
          "spec": {"hosts": ["bookinfo-gateway.test"], "gateways": ["bookinfo-gateway"]}}
    crd = istio_crds["1.18.5"]["virtualservices.networking.istio.io"]
    table = to_table(kinds.VIRTUAL_SERVICES, [vs], NOW, crd=crd, version="v1alpha3")
    assert _headers(table) == ["Name", "Gateways", "Hosts", "Age"]
    assert _rows(table) == [["bookinfo", '["bookinfo-gateway"]', '["bookinfo-gateway.test"]',
                             "31s"]]
    assert table["columnDefinitions"][1]["description"] == (
        "The names of gateways and sidecars that should apply these routes")
    gateway = {"apiVersion": "networking.istio.io/v1alpha3", "kind": "Gateway",
               "metadata": _meta("bookinfo-gateway", 21), "spec": {}}
    gw_table = to_table(kinds.GATEWAYS, [gateway], NOW,
                        crd=istio_crds["1.18.5"]["gateways.networking.istio.io"])
    assert _headers(gw_table) == ["Name", "Age"] and _rows(gw_table) == [["bookinfo-gateway",
                                                                          "21s"]]
    missing = {**vs, "spec": {"hosts": ["x"]}}
    assert _rows(to_table(kinds.VIRTUAL_SERVICES, [missing], NOW, crd=crd))[0][1] is None


def test_json_path_subset() -> None:
    obj = {"status": {"conditions": [{"type": "Ready", "status": "True"},
                                     {"type": "Other", "status": "False"}]},
           "spec": {"ports": [{"number": 80}, {"number": 443}]}}
    assert eval_json_path(obj, '.status.conditions[?(@.type=="Ready")].status') == ["True"]
    assert eval_json_path(obj, ".spec.ports[1].number") == [443]
    assert eval_json_path(obj, "{.spec.ports[*].number}") == [80, 443]
    assert eval_json_path(obj, ".spec.missing") == []
