"""Pods and pod templates: containers, names, images, ports, env names, restartPolicy."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from runbook.errors import Cause
from runbook.sandbox.registry.validation.messages import (
    RE_ENV_NAME,
    RE_IANA_SVC,
    duplicate,
    go_repr,
    invalid,
    not_supported,
    regex_error,
    required,
)
from runbook.sandbox.registry.validation.meta import (
    LABEL_RULE,
    Errs,
    add_item_name_errors,
    check_port_range,
    child_path,
    index_path,
)

PROTOCOLS = ("SCTP", "TCP", "UDP")
_RESTART_POLICIES = ("Always", "Never", "OnFailure")
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")


def validate_pod_spec(spec: Any, path: str, errs: Errs, *, template: bool = False) -> None:
    if not isinstance(spec, Mapping):
        errs.append(required(child_path(path, "containers")))
        return
    volumes = spec.get("volumes") or []
    volume_names: set[str] = set()
    for i, volume in enumerate(volumes if isinstance(volumes, list) else []):
        where = index_path(child_path(path, "volumes"), i)
        name = volume.get("name") if isinstance(volume, Mapping) else None
        if not add_item_name_errors(LABEL_RULE, child_path(where, "name"), name, volume_names,
                                    errs):
            continue
    containers = spec.get("containers")
    if not containers:
        errs.append(required(child_path(path, "containers")))
    seen: set[str] = set()
    for field_name in ("initContainers", "containers"):
        items = spec.get(field_name) or []
        for i, container in enumerate(items if isinstance(items, list) else []):
            _validate_container(container, index_path(child_path(path, field_name), i), seen,
                                volume_names, errs)
    policy = spec.get("restartPolicy")
    if policy is not None and policy not in _RESTART_POLICIES:
        errs.append(not_supported(child_path(path, "restartPolicy"), policy, _RESTART_POLICIES))
    if template and policy not in (None, "Always"):
        errs.append(not_supported(child_path(path, "restartPolicy"), policy, ("Always",)))
    dns = spec.get("dnsPolicy")
    if dns is not None and dns not in ("ClusterFirst", "ClusterFirstWithHostNet", "Default",
                                       "None"):
        errs.append(not_supported(child_path(path, "dnsPolicy"), dns,
                                  ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")))


def _validate_container(container: Any, path: str, seen: set[str], volumes: set[str],
                        errs: Errs) -> None:
    if not isinstance(container, Mapping):
        errs.append(required(child_path(path, "name")))
        return
    add_item_name_errors(LABEL_RULE, child_path(path, "name"), container.get("name"), seen, errs)
    image = container.get("image")
    if not image or (isinstance(image, str) and not image.strip()):
        errs.append(required(child_path(path, "image")))
    pull = container.get("imagePullPolicy")
    if pull is not None and pull not in _PULL_POLICIES:
        errs.append(not_supported(child_path(path, "imagePullPolicy"), pull, _PULL_POLICIES))
    ports = container.get("ports") or []
    port_names: set[str] = set()
    for i, port in enumerate(ports if isinstance(ports, list) else []):
        where = index_path(child_path(path, "ports"), i)
        if not isinstance(port, Mapping):
            continue
        check_port_range(child_path(where, "containerPort"), port.get("containerPort", 0), errs)
        if "hostPort" in port and port["hostPort"] != 0:
            check_port_range(child_path(where, "hostPort"), port["hostPort"], errs)
        protocol = port.get("protocol", "TCP")
        if protocol not in PROTOCOLS:
            errs.append(not_supported(child_path(where, "protocol"), protocol, PROTOCOLS))
        pname = port.get("name")
        if pname:
            check_iana_name(child_path(where, "name"), str(pname), errs)
            if pname in port_names:
                errs.append(duplicate(child_path(where, "name"), pname))
            port_names.add(str(pname))
    env = container.get("env") or []
    for i, var in enumerate(env if isinstance(env, list) else []):
        where = index_path(child_path(path, "env"), i)
        vname = var.get("name") if isinstance(var, Mapping) else None
        if not vname:
            errs.append(required(child_path(where, "name")))
        elif not RE_ENV_NAME.match(str(vname)):
            errs.append(invalid(child_path(where, "name"), vname, regex_error(
                "a valid environment variable name must consist of alphabetic characters, "
                "digits, '_', '-', or '.', and must not start with a digit",
                "[-._a-zA-Z][-._a-zA-Z0-9]*", "my.env-name", "MY_ENV.NAME", "MyEnvName1")))
    mounts = container.get("volumeMounts") or []
    for i, mount in enumerate(mounts if isinstance(mounts, list) else []):
        where = index_path(child_path(path, "volumeMounts"), i)
        if not isinstance(mount, Mapping):
            continue
        mname = mount.get("name")
        if not mname:
            errs.append(required(child_path(where, "name")))
        elif mname not in volumes:
            errs.append(Cause(child_path(where, "name"), "FieldValueNotFound",
                              f"Not found: {go_repr(mname)}"))
        if not mount.get("mountPath"):
            errs.append(required(child_path(where, "mountPath")))


def check_iana_name(path: str, value: str, errs: Errs) -> None:
    """``IsValidPortName`` (IANA_SVC_NAME)."""
    msgs = []
    if len(value) > 15:
        msgs.append("must be no more than 15 characters")
    if not RE_IANA_SVC.match(value):
        msgs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in value:
        msgs.append("must not contain consecutive hyphens")
    if not re.search("[a-z]", value):
        msgs.append("must contain at least one letter (a-z)")
    if value.startswith("-") or value.endswith("-"):
        msgs.append("must not begin or end with a hyphen")
    for msg in msgs:
        errs.append(invalid(path, value, msg))
