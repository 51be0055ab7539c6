"""Services: type, ports, targetPort, the nodePort range."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runbook.sandbox.registry.validation.messages import (
    duplicate,
    forbidden,
    immutable,
    invalid,
    not_supported,
    required,
)
from runbook.sandbox.registry.validation.meta import (
    LABEL_RULE,
    Errs,
    add_name_errors,
    check_port_range,
    child_path,
    index_path,
    is_int,
    validate_labels,
)
from runbook.sandbox.registry.validation.pods import PROTOCOLS, check_iana_name

_SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
NODE_PORT_RANGE = (30000, 32767)


def validate_service(obj: Mapping[str, Any], errs: Errs, old: Mapping[str, Any] | None) -> None:
    spec = obj.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    stype = spec.get("type", "ClusterIP")
    if stype not in _SERVICE_TYPES:
        errs.append(not_supported("spec.type", stype, _SERVICE_TYPES))
    ports = spec.get("ports") or []
    headless = spec.get("clusterIP") == "None"
    if not ports and stype != "ExternalName" and not headless:
        errs.append(required("spec.ports"))
    if stype == "ExternalName" and not spec.get("externalName"):
        errs.append(required("spec.externalName"))
    names: set[str] = set()
    keys: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports if isinstance(ports, list) else []):
        where = index_path("spec.ports", i)
        if not isinstance(port, Mapping):
            continue
        name = port.get("name") or ""
        if len(ports) > 1 and not name:
            errs.append(required(child_path(where, "name")))
        elif name:
            add_name_errors(LABEL_RULE, child_path(where, "name"), str(name), errs)
            if name in names:
                errs.append(duplicate(child_path(where, "name"), name))
            names.add(str(name))
        check_port_range(child_path(where, "port"), port.get("port", 0), errs)
        protocol = port.get("protocol", "TCP")
        if protocol not in PROTOCOLS:
            errs.append(not_supported(child_path(where, "protocol"), protocol, PROTOCOLS))
        key = (port.get("port"), protocol)
        if key in keys:
            errs.append(duplicate(where, f"{port.get('port')}/{protocol}"))
        keys.add(key)
        target = port.get("targetPort")
        if target is not None:
            if isinstance(target, str):
                check_iana_name(child_path(where, "targetPort"), target, errs)
            else:
                check_port_range(child_path(where, "targetPort"), target, errs)
        node_port = port.get("nodePort")
        if node_port not in (None, 0):
            if stype == "ClusterIP":
                errs.append(forbidden(child_path(where, "nodePort"),
                                      "may not be used when `type` is 'ClusterIP'"))
            elif not is_int(node_port) or not NODE_PORT_RANGE[0] <= node_port <= NODE_PORT_RANGE[1]:
                errs.append(invalid(child_path(where, "nodePort"), node_port,
                                    "provided port is not in the valid range. The range of valid "
                                    f"ports is {NODE_PORT_RANGE[0]}-{NODE_PORT_RANGE[1]}"))
    selector = spec.get("selector")
    if selector is not None:
        validate_labels(selector, "spec.selector", errs)
    if old is not None:
        old_spec = old.get("spec") or {}
        old_ip = old_spec.get("clusterIP")
        if old_ip and old_spec.get("type") != "ExternalName" and stype != "ExternalName" and \
                spec.get("clusterIP", old_ip) != old_ip:
            errs.append(immutable("spec.clusterIP", spec.get("clusterIP")))
