"""The cells of each built-in kind's rows, as ``pkg/printers/internalversion/printers.go`` prints them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# ages and timestamps as kubectl shows them, shared with the client side (runbook.formats.kubectl)
from runbook.formats.kubectl import human_duration, parse_time
from runbook.formats.kubectl import since as age
from runbook.sandbox.apiserver.printing.columns import Row


def get_path(obj: Any, *path: str) -> Any:
    cur = obj
    for key in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    return cur


def int_or(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _containers(spec: Any) -> tuple[str, str]:
    """``layoutContainerCells``: names and images, comma separated."""
    items = get_path(spec, "containers") or []
    names = ",".join(str(c.get("name", "")) for c in items if isinstance(c, Mapping))
    images = ",".join(str(c.get("image", "")) for c in items if isinstance(c, Mapping))
    return names, images


def format_labels(labels: Any) -> str:
    """``labels.FormatLabels``: ``k=v`` sorted, ``<none>`` when empty."""
    if not isinstance(labels, Mapping) or not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def format_label_selector(selector: Any) -> str:
    """``metav1.FormatLabelSelector`` (``<none>`` for an empty one, ``<error>`` if invalid)."""
    if not isinstance(selector, Mapping):
        return "<none>"
    terms: list[tuple[str, str]] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        terms.append((str(key), f"{key}={value}"))
    for expr in selector.get("matchExpressions") or []:
        if not isinstance(expr, Mapping):
            return "<error>"
        key, op = str(expr.get("key", "")), expr.get("operator")
        values = ",".join(sorted(str(v) for v in expr.get("values") or []))
        text = {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                "Exists": key, "DoesNotExist": f"!{key}"}.get(str(op))
        if text is None:
            return "<error>"
        terms.append((key, text))
    # labels.internalSelector sorts its requirements by key (stable for equal keys)
    text = ",".join(t for _, t in sorted(terms, key=lambda kv: kv[0]))
    return text or "<none>"


def table_row(obj: Mapping[str, Any], cells: list[Any], include_object: str,
         conditions: list[dict[str, str]] | None = None) -> Row:
    row: Row = {"cells": cells}
    if conditions:
        row["conditions"] = conditions
    if include_object == "Object":
        row["object"] = obj
    elif include_object != "None":
        row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                         "metadata": obj.get("metadata") or {}}
    return row



_POD_SUCCEEDED = [{"type": "Completed", "status": "True", "reason": "Succeeded",
                   "message": "The pod has completed successfully."}]
_POD_FAILED = [{"type": "Completed", "status": "True", "reason": "Failed",
                "message": "The pod failed."}]


def _pod_cells(pod: Mapping[str, Any], now: datetime) -> tuple[list[Any], list[Any], Any]:
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []
                  if isinstance(c, Mapping)}
    total = len(spec.get("containers") or [])
    total += sum(1 for c in init_specs.values() if c.get("restartPolicy") == "Always")
    ready = restarts = sidecar_restarts = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    def finished(cs: Mapping[str, Any]) -> datetime | None:
        return parse_time(get_path(cs, "lastState", "terminated", "finishedAt"))

    def later(a: datetime | None, b: datetime | None) -> datetime | None:
        return b if b is not None and (a is None or b > a) else a

    initializing = False
    init_statuses = status.get("initContainerStatuses") or []
    for i, cs in enumerate(init_statuses):
        restarts += int_or(cs.get("restartCount"))
        last_restart = later(last_restart, finished(cs))
        sidecar = (init_specs.get(cs.get("name")) or {}).get("restartPolicy") == "Always"
        if sidecar:
            sidecar_restarts += int_or(cs.get("restartCount"))
            last_sidecar_restart = later(last_sidecar_restart, finished(cs))
        state = cs.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated and int_or(terminated.get("exitCode")) == 0:
            continue
        if sidecar and cs.get("started"):
            ready += bool(cs.get("ready"))
            continue
        if terminated:
            if not terminated.get("reason"):
                signal = int_or(terminated.get("signal"))
                reason = (f"Init:Signal:{signal}" if signal else
                          f"Init:ExitCode:{int_or(terminated.get('exitCode'))}")
            else:
                reason = "Init:" + terminated["reason"]
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(spec.get('initContainers') or [])}"
        initializing = True
        break
    initialized = any(c.get("type") == "Initialized" and c.get("status") == "True"
                      for c in status.get("conditions") or [])
    if not initializing or initialized:
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += int_or(cs.get("restartCount"))
            last_restart = later(last_restart, finished(cs))
            state = cs.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated:
                signal = int_or(terminated.get("signal"))
                reason = (f"Signal:{signal}" if signal else
                          f"ExitCode:{int_or(terminated.get('exitCode'))}")
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            pod_ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                            for c in status.get("conditions") or [])
            reason = "Running" if pod_ready else "NotReady"
    deleting = bool(get_path(pod, "metadata", "deletionTimestamp"))
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and phase not in ("Failed", "Succeeded"):
        reason = "Terminating"
    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration((now - last_restart).total_seconds())} ago)"
    cells: list[Any] = [get_path(pod, "metadata", "name") or "", f"{ready}/{total}", reason,
                        restarts_text, age(get_path(pod, "metadata", "creationTimestamp"), now)]
    ips = status.get("podIPs") or []
    pod_ip = (ips[0].get("ip") if ips and isinstance(ips[0], Mapping) else "") or "<none>"
    gates = spec.get("readinessGates") or []
    gates_text = "<none>"
    if gates:
        conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        passed = sum(1 for g in gates if conds.get(g.get("conditionType")) == "True")
        gates_text = f"{passed}/{len(gates)}"
    wide = [pod_ip, spec.get("nodeName") or "<none>",
            status.get("nominatedNodeName") or "<none>", gates_text]
    conditions = (_POD_SUCCEEDED if phase == "Succeeded" else
                  _POD_FAILED if phase == "Failed" else None)
    return cells, wide, conditions




def _service_cells(svc: Mapping[str, Any], now: datetime, wide: bool) -> tuple[list[Any],
                                                                                 list[Any]]:
    spec = svc.get("spec") or {}
    stype = spec.get("type") or "ClusterIP"
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    cluster_ip = ips[0] if ips else "<none>"
    external = spec.get("externalIPs") or []
    if stype in ("ClusterIP", "NodePort"):
        external_ip = ",".join(external) if external else "<none>"
    elif stype == "LoadBalancer":
        found = sorted({str(i.get("ip") or i.get("hostname")) for i in
                        get_path(svc, "status", "loadBalancer", "ingress") or []
                        if isinstance(i, Mapping) and (i.get("ip") or i.get("hostname"))})
        lb = ",".join(found)
        if not wide and len(lb) > 16:
            lb = lb[:13] + "..."  # loadBalancerWidth
        lb_list = lb.split(",") if lb else []
        external_ip = ",".join([*lb_list, *external]) if external else (lb or "<pending>")
    elif stype == "ExternalName":
        external_ip = spec.get("externalName") or ""
    else:
        external_ip = "<unknown>"
    pieces = []
    for port in spec.get("ports") or []:
        protocol = port.get("protocol") or "TCP"
        node_port = int_or(port.get("nodePort"))
        pieces.append(f"{port.get('port')}:{node_port}/{protocol}" if node_port > 0
                      else f"{port.get('port')}/{protocol}")
    ports = ",".join(pieces) or "<none>"
    name = get_path(svc, "metadata", "name") or ""
    cells = [name, stype, cluster_ip, external_ip, ports,
             age(get_path(svc, "metadata", "creationTimestamp"), now)]
    return cells, [format_labels(spec.get("selector"))]


def _endpoints_text(ep: Mapping[str, Any]) -> str:
    subsets = ep.get("subsets") or []
    if not subsets:
        return "<none>"
    shown: list[str] = []
    count, more, limit = 0, False, 3
    for subset in subsets:
        addresses = subset.get("addresses") or []
        ports = subset.get("ports") or []
        if not ports:
            count += len(addresses)
            for address in addresses:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(str(address.get("ip", "")))
            continue
        for port in ports:
            count += len(addresses)
            for address in addresses:
                if len(shown) == limit:
                    more = True
                    break
                ip = str(address.get("ip", ""))
                host = f"[{ip}]" if ":" in ip else ip  # net.JoinHostPort
                shown.append(f"{host}:{port.get('port')}")
    text = ",".join(shown)
    return f"{text} + {count - limit} more..." if more else text


def _first_three(values: list[str]) -> str:
    """``listWithMoreString`` of kubectl's printers: three values, then ``+ N more...``."""
    text = ",".join(values[:3])
    if len(values) > 3:
        return f"{text} + {len(values) - 3} more..."
    return text or "<unset>"


def _endpoint_slice_cells(eps: Mapping[str, Any]) -> tuple[str, str]:
    """``formatDiscoveryPorts`` and ``formatDiscoveryEndpoints``."""
    ports = [str(p["port"]) if p.get("port") is not None else str(p.get("name") or "*")
             for p in eps.get("ports") or ()]
    addresses = [str(a) for e in eps.get("endpoints") or () for a in e.get("addresses") or ()]
    return _first_three(ports), _first_three(addresses)


def _quota_cells(quota: Mapping[str, Any]) -> tuple[str, str]:
    """``printResourceQuota``: ``name: used/hard`` pairs, requests and limits apart."""
    status = quota.get("status") or {}
    hard, used = status.get("hard") or {}, status.get("used") or {}
    request: list[str] = []
    limit: list[str] = []
    for name in sorted(hard):
        pair = f"{name}: {used.get(name, '0')}/{hard[name]}"
        (limit if name.startswith("limits.") else request).append(pair)
    return ", ".join(request), ", ".join(limit)


def _event_view(event: Mapping[str, Any]) -> dict[str, Any]:
    """events.k8s.io/v1 events share the core table: map them onto core/v1 field names."""
    if "regarding" not in event and "note" not in event and "deprecatedCount" not in event:
        return dict(event)
    source = event.get("deprecatedSource") or {}
    return {
        "metadata": event.get("metadata") or {},
        "involvedObject": event.get("regarding") or {},
        "reason": event.get("reason"), "message": event.get("note"), "type": event.get("type"),
        "firstTimestamp": event.get("deprecatedFirstTimestamp"),
        "lastTimestamp": event.get("deprecatedLastTimestamp"),
        "count": event.get("deprecatedCount"), "source": source,
        "eventTime": event.get("eventTime"), "series": event.get("series"),
        "reportingComponent": event.get("reportingController"),
        "reportingInstance": event.get("reportingInstance"),
    }


def _event_cells(raw: Mapping[str, Any], now: datetime) -> tuple[list[Any], list[Any]]:
    event = _event_view(raw)
    first = age(event.get("firstTimestamp"), now) if parse_time(event.get("firstTimestamp")) \
        else age(event.get("eventTime"), now)
    last = age(event.get("lastTimestamp"), now) if parse_time(event.get("lastTimestamp")) \
        else first
    count = int_or(event.get("count"))
    series = event.get("series")
    if isinstance(series, Mapping):
        last = age(series.get("lastObservedTime"), now)
        count = int_or(series.get("count"))
    elif count == 0:
        count = 1  # singleton events of the new API carry no count
    involved = event.get("involvedObject") or {}
    kind = str(involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent") or ""
    instance = source.get("host") or event.get("reportingInstance") or ""
    source_text = f"{component}, {instance}" if instance else component
    message = str(event.get("message") or "").strip()
    narrow = [last, event.get("type") or "", event.get("reason") or "", target, message]
    wide = [last, event.get("type") or "", event.get("reason") or "", target,
            involved.get("fieldPath") or "", source_text, message, first, count,
            get_path(event, "metadata", "name") or ""]
    return narrow, wide


_ROLE_PREFIX = "node-role.kubernetes.io/"


def _node_cells(node: Mapping[str, Any], now: datetime) -> tuple[list[Any], list[Any]]:
    status = node.get("status") or {}
    states: list[str] = []
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready":
            states = ["Ready" if cond.get("status") == "True" else "NotReady"]
    if not states:
        states = ["Unknown"]
    if get_path(node, "spec", "unschedulable"):
        states.append("SchedulingDisabled")
    roles: set[str] = set()
    for key, value in (get_path(node, "metadata", "labels") or {}).items():
        if key.startswith(_ROLE_PREFIX) and key[len(_ROLE_PREFIX):]:
            roles.add(key[len(_ROLE_PREFIX):])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    info = status.get("nodeInfo") or {}

    def address(kind: str) -> str:
        for entry in status.get("addresses") or []:
            if entry.get("type") == kind:
                return str(entry.get("address"))
        return "<none>"

    cells = [get_path(node, "metadata", "name") or "", ",".join(states),
             ",".join(sorted(roles)) or "<none>",
             age(get_path(node, "metadata", "creationTimestamp"), now), info.get("kubeletVersion", "")]
    wide = [address("InternalIP"), address("ExternalIP"), info.get("osImage") or "<unknown>",
            info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"]
    return cells, wide


def builtin_cells(key: str, obj: Mapping[str, Any], now: datetime,
                   wide: bool) -> tuple[list[Any], list[Any], Any]:
    """Narrow cells, wide-only cells and row conditions of one object of a built-in kind."""
    name = get_path(obj, "metadata", "name") or ""
    created = age(get_path(obj, "metadata", "creationTimestamp"), now)
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if key == "pods":
        return _pod_cells(obj, now)
    if key == "deployments.apps":
        names, images = _containers(get_path(spec, "template", "spec"))
        return ([name, f"{int_or(status.get('readyReplicas'))}/{int_or(spec.get('replicas'), 1)}",
                 int_or(status.get("updatedReplicas")), int_or(status.get("availableReplicas")),
                 created],
                [names, images, _selector_string(spec.get("selector"))], None)
    if key == "replicasets.apps":
        names, images = _containers(get_path(spec, "template", "spec"))
        return ([name, int_or(spec.get("replicas"), 1), int_or(status.get("replicas")),
                 int_or(status.get("readyReplicas")), created],
                [names, images, format_label_selector(spec.get("selector"))], None)
    if key == "services":
        cells, extra = _service_cells(obj, now, wide)
        return cells, extra, None
    if key == "endpoints":
        return [name, _endpoints_text(obj), created], [], None
    if key == "endpointslices.discovery.k8s.io":
        ports, endpoints = _endpoint_slice_cells(obj)
        return [name, obj.get("addressType") or "", ports, endpoints, created], [], None
    if key == "resourcequotas":
        request, limit = _quota_cells(obj)
        return [name, created, request, limit], [], None
    if key in ("events", "events.events.k8s.io"):
        narrow, wide_cells = _event_cells(obj, now)
        return (wide_cells, [], None) if wide else (narrow, [], None)
    if key == "namespaces":
        return [name, status.get("phase") or "", created], [], None
    if key == "nodes":
        cells, extra = _node_cells(obj, now)
        return cells, extra, None
    if key == "serviceaccounts":
        return [name, len(obj.get("secrets") or []), created], [], None
    if key == "configmaps":
        return [name, len(obj.get("data") or {}) + len(obj.get("binaryData") or {}), created], \
            [], None
    if key == "secrets":
        return [name, obj.get("type") or "", len(obj.get("data") or {}), created], [], None
    if key.startswith(("mutatingwebhookconfigurations.", "validatingwebhookconfigurations.")):
        return [name, len(obj.get("webhooks") or []), created], [], None
    when = parse_time(get_path(obj, "metadata", "creationTimestamp"))
    return [name, when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else
            "0001-01-01T00:00:00Z"], [], None


def _selector_string(selector: Any) -> str:
    """``LabelSelectorAsSelector(...).String()`` (empty for a nil/empty selector)."""
    text = format_label_selector(selector)
    return "" if text == "<none>" else text
