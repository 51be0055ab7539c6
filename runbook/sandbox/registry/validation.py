"""Field validation of built-in kinds, shaped like kube-apiserver's 422 ``Invalid`` answers.

Every problem is a :class:`runbook.errors.Cause` whose ``field`` is the path
(``spec.template.spec.containers[0].image``), ``reason`` the cause type (``FieldValueRequired``,
``FieldValueInvalid``, ``FieldValueNotSupported``, ``FieldValueDuplicate``,
``FieldValueForbidden``, ``FieldValueTooLong`` …) and ``message`` the error body exactly as
``field.Error.ErrorBody()`` writes it (``Invalid value: "Foo_Bar": a lowercase RFC 1123 …``).
:func:`invalid_message` composes the Status message (``Deployment.apps "x" is invalid: […]``).

What is checked follows ``pkg/apis/core/validation``, ``pkg/apis/apps/validation``,
``pkg/apis/admissionregistration/validation``, ``apiextensions-apiserver/pkg/apis/apiextensions/
validation`` and ``apimachinery/pkg/util/validation`` (the message texts come from there): object
names per kind (namespaces DNS-1123 label; services DNS-1035 label, as the real
``ValidateServiceName``; most others DNS-1123 subdomain), labels and annotations, pods and pod
templates (containers, names, images, ports, env names, restartPolicy), deployments and replica
sets (selector, template labels, replicas), services (type, ports, targetPort, nodePort range),
webhook configurations, CRDs, events, configmap/secret keys, and immutable fields on update.
Label keys/values reuse :mod:`runbook.selectors` (its own wording), selectors are parsed with
:func:`runbook.selectors.selector_from_dict`. Not covered: resource quantities, probes, security
contexts, volume sources (only names), and the many smaller rules of the real validators.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from runbook.errors import Cause
from runbook.kinds import ResourceKind
from runbook.selectors import SelectorError, label_key_errors, label_value_errors, selector_from_dict

# ---------------------------------------------------------------------------- messages

_DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + r"(\." + _DNS1123_LABEL + ")*"
_DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?"
_CONFIG_KEY = "[-._a-zA-Z0-9]+"
_RE_LABEL = re.compile(f"^{_DNS1123_LABEL}$")
_RE_SUBDOMAIN = re.compile(f"^{_DNS1123_SUBDOMAIN}$")
_RE_1035 = re.compile(f"^{_DNS1035_LABEL}$")
_RE_CONFIG_KEY = re.compile(f"^{_CONFIG_KEY}$")
_RE_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_RE_IANA_SVC = re.compile(r"^[-a-z0-9]+$")


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    """apimachinery ``RegexError`` (the double space before ``or`` is upstream's)."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    text = msg + " (e.g. "
    for i, example in enumerate(examples):
        if i:
            text += " or "
        text += f"'{example}', "
    return text + f"regex used for validation is '{fmt}')"


def dns1123_label_errors(value: str) -> list[str]:
    """``IsDNS1123Label``."""
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _RE_LABEL.match(value):
        errs.append(_regex_error("a lowercase RFC 1123 label must consist of lower case "
                                 "alphanumeric characters or '-', and must start and end with an "
                                 "alphanumeric character", _DNS1123_LABEL, "my-name", "123-abc"))
    return errs


def dns1123_subdomain_errors(value: str) -> list[str]:
    """``IsDNS1123Subdomain``."""
    errs = []
    if len(value) > 253:
        errs.append("must be no more than 253 characters")
    if not _RE_SUBDOMAIN.match(value):
        errs.append(_regex_error("a lowercase RFC 1123 subdomain must consist of lower case "
                                 "alphanumeric characters, '-' or '.', and must start and end with "
                                 "an alphanumeric character", _DNS1123_SUBDOMAIN, "example.com"))
    return errs


def dns1035_label_errors(value: str) -> list[str]:
    """``IsDNS1035Label``."""
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _RE_1035.match(value):
        errs.append(_regex_error("a DNS-1035 label must consist of lower case alphanumeric "
                                 "characters or '-', start with an alphabetic character, and end "
                                 "with an alphanumeric character", _DNS1035_LABEL, "my-name",
                                 "abc-123"))
    return errs


def _config_key_errors(key: str) -> list[str]:
    errs = []
    if len(key) > 253:
        errs.append("must be no more than 253 characters")
    if not _RE_CONFIG_KEY.match(key):
        errs.append(_regex_error("a valid config key must consist of alphanumeric characters, "
                                 "'-', '_' or '.'", _CONFIG_KEY, "key.name", "KEY_NAME",
                                 "key-name"))
    if key in (".", ".."):
        errs.append(f"must not be '{key}'")
    elif key.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def go_repr(value: Any) -> str:
    """How ``field.Error`` prints a bad value: ``%q`` for strings, ``%v`` for numbers and bools,
    ``null`` for nil, compact JSON (``{"app":"x"}``) for collections."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def required(path: str, detail: str = "") -> Cause:
    return Cause(path, "FieldValueRequired", "Required value" + (f": {detail}" if detail else ""))


def invalid(path: str, value: Any, detail: str) -> Cause:
    return Cause(path, "FieldValueInvalid", f"Invalid value: {go_repr(value)}: {detail}")


def not_supported(path: str, value: Any, supported: Sequence[str]) -> Cause:
    body = f"Unsupported value: {go_repr(value)}"
    if supported:
        body += ": supported values: " + ", ".join(json.dumps(s) for s in supported)
    return Cause(path, "FieldValueNotSupported", body)


def duplicate(path: str, value: Any) -> Cause:
    return Cause(path, "FieldValueDuplicate", f"Duplicate value: {go_repr(value)}")


def forbidden(path: str, detail: str) -> Cause:
    return Cause(path, "FieldValueForbidden", f"Forbidden: {detail}")


def too_long(path: str, limit: int) -> Cause:
    return Cause(path, "FieldValueTooLong", f"Too long: may not be more than {limit} bytes")


def immutable(path: str, value: Any) -> Cause:
    return invalid(path, value, "field is immutable")


def cause_text(cause: Cause) -> str:
    """``field.Error.Error()``: ``<field>: <body>``."""
    return f"{cause.field}: {cause.message}" if cause.field else cause.message


def invalid_message(kind: ResourceKind | str, name: str, causes: Sequence[Cause]) -> str:
    """The Status message of ``errors.NewInvalid``: ``Deployment.apps "x" is invalid: …``.

    Several causes are listed in brackets, duplicates once (``utilerrors.NewAggregate``).
    """
    if isinstance(kind, ResourceKind):
        qualified = f"{kind.kind}.{kind.group}" if kind.group else kind.kind
    else:
        qualified = kind
    texts: list[str] = []
    for cause in causes:
        text = cause_text(cause)
        if text not in texts:
            texts.append(text)
    if not texts:
        return f"{qualified} {json.dumps(name)} is invalid"
    body = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return f"{qualified} {json.dumps(name)} is invalid: {body}"


# ---------------------------------------------------------------------------- helpers

_Errs = list[Cause]


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _port_range(path: str, value: Any, errs: _Errs, *, prefix: str = "") -> None:
    if not _is_int(value) or not 1 <= value <= 65535:
        errs.append(invalid(path, value, f"{prefix}must be between 1 and 65535, inclusive"))


def _name_errors(fn: Callable[[str], list[str]], path: str, value: str, errs: _Errs) -> None:
    for msg in fn(value):
        errs.append(invalid(path, value, msg))


def _selector(path: str, value: Any, errs: _Errs) -> None:
    """A ``metav1.LabelSelector``; a parse failure is reported where the parser says."""
    try:
        selector_from_dict(value, field=path, nil_matches=True)
    except SelectorError as exc:
        where = exc.field or path
        text = str(exc)
        body = text[len(where) + 2:] if text.startswith(where + ": ") else text
        reason = "FieldValueInvalid"
        if body.startswith("Unsupported value"):
            reason = "FieldValueNotSupported"
        elif body.startswith("Required value"):
            reason = "FieldValueRequired"
        elif body.startswith("Forbidden"):
            reason = "FieldValueForbidden"
        errs.append(Cause(where, reason, body))


# ---------------------------------------------------------------------------- object meta

_SUBDOMAIN = dns1123_subdomain_errors
_LABEL = dns1123_label_errors

#: kind key -> the name rule of its ValidateNameFunc
_NAME_RULES: dict[str, Callable[[str], list[str]]] = {
    "namespaces": _LABEL,
    "services": dns1035_label_errors,
}

_TOTAL_ANNOTATION_SIZE = 256 * 1024


def _validate_meta(kind: ResourceKind, meta: Any, errs: _Errs, path: str = "metadata",
                   *, check_name: bool = True) -> None:
    if not isinstance(meta, Mapping):
        errs.append(required(_child(path, "name"), "name or generateName is required"))
        return
    name_rule = _NAME_RULES.get(kind.key, _SUBDOMAIN)
    name = meta.get("name") or ""
    generate = meta.get("generateName") or ""
    if check_name:
        if name:
            _name_errors(name_rule, _child(path, "name"), str(name), errs)
        elif generate:
            # ValidateObjectMeta masks the trailing "-" a generated suffix will follow.
            masked = str(generate)[:-1] if str(generate).endswith("-") else str(generate)
            for msg in name_rule(masked):
                errs.append(invalid(_child(path, "generateName"), generate, msg))
        else:
            errs.append(required(_child(path, "name"), "name or generateName is required"))
    namespace = meta.get("namespace") or ""
    if check_name:
        if kind.namespaced and not namespace:
            errs.append(required(_child(path, "namespace")))
        elif kind.namespaced:
            _name_errors(_LABEL, _child(path, "namespace"), str(namespace), errs)
        elif namespace:
            errs.append(forbidden(_child(path, "namespace"), "not allowed on this type"))
    _validate_labels(meta.get("labels"), _child(path, "labels"), errs)
    annotations = meta.get("annotations")
    if isinstance(annotations, Mapping):
        total = 0
        for key, value in annotations.items():
            for msg in label_key_errors(str(key).lower()):
                errs.append(invalid(_child(path, "annotations"), key, msg))
            total += len(str(key)) + len(str(value or ""))
        if total > _TOTAL_ANNOTATION_SIZE:
            errs.append(too_long(_child(path, "annotations"), _TOTAL_ANNOTATION_SIZE))
    elif annotations is not None:
        errs.append(invalid(_child(path, "annotations"), annotations, "must be a map of strings"))
    for i, ref in enumerate(meta.get("ownerReferences") or []):
        where = _index(_child(path, "ownerReferences"), i)
        if not isinstance(ref, Mapping):
            errs.append(invalid(where, ref, "must be an object"))
            continue
        for key in ("apiVersion", "kind", "name", "uid"):
            if not ref.get(key):
                errs.append(invalid(_child(where, key), ref.get(key, ""), f"{key} must not be empty"))


def _validate_labels(labels: Any, path: str, errs: _Errs) -> None:
    if labels is None:
        return
    if not isinstance(labels, Mapping):
        errs.append(invalid(path, labels, "must be a map of strings"))
        return
    for key, value in labels.items():
        for msg in label_key_errors(str(key)):
            errs.append(invalid(path, key, msg))
        if not isinstance(value, str):
            errs.append(invalid(path, value, "label values must be strings"))
            continue
        for msg in label_value_errors(value):
            errs.append(invalid(path, value, msg))


# ---------------------------------------------------------------------------- pods

_PROTOCOLS = ("SCTP", "TCP", "UDP")
_RESTART_POLICIES = ("Always", "Never", "OnFailure")
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")


def _validate_pod_spec(spec: Any, path: str, errs: _Errs, *, template: bool = False) -> None:
    if not isinstance(spec, Mapping):
        errs.append(required(_child(path, "containers")))
        return
    volumes = spec.get("volumes") or []
    volume_names: set[str] = set()
    for i, volume in enumerate(volumes if isinstance(volumes, list) else []):
        where = _index(_child(path, "volumes"), i)
        name = volume.get("name") if isinstance(volume, Mapping) else None
        if not name:
            errs.append(required(_child(where, "name")))
            continue
        _name_errors(_LABEL, _child(where, "name"), str(name), errs)
        if name in volume_names:
            errs.append(duplicate(_child(where, "name"), name))
        volume_names.add(str(name))
    containers = spec.get("containers")
    if not containers:
        errs.append(required(_child(path, "containers")))
    seen: set[str] = set()
    for field_name in ("initContainers", "containers"):
        items = spec.get(field_name) or []
        for i, container in enumerate(items if isinstance(items, list) else []):
            _validate_container(container, _index(_child(path, field_name), i), seen,
                                volume_names, errs)
    policy = spec.get("restartPolicy")
    if policy is not None and policy not in _RESTART_POLICIES:
        errs.append(not_supported(_child(path, "restartPolicy"), policy, _RESTART_POLICIES))
    if template and policy not in (None, "Always"):
        errs.append(not_supported(_child(path, "restartPolicy"), policy, ("Always",)))
    dns = spec.get("dnsPolicy")
    if dns is not None and dns not in ("ClusterFirst", "ClusterFirstWithHostNet", "Default",
                                       "None"):
        errs.append(not_supported(_child(path, "dnsPolicy"), dns,
                                  ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")))


def _validate_container(container: Any, path: str, seen: set[str], volumes: set[str],
                        errs: _Errs) -> None:
    if not isinstance(container, Mapping):
        errs.append(required(_child(path, "name")))
        return
    name = container.get("name")
    if not name:
        errs.append(required(_child(path, "name")))
    else:
        _name_errors(_LABEL, _child(path, "name"), str(name), errs)
        if name in seen:
            errs.append(duplicate(_child(path, "name"), name))
        seen.add(str(name))
    image = container.get("image")
    if not image or (isinstance(image, str) and not image.strip()):
        errs.append(required(_child(path, "image")))
    pull = container.get("imagePullPolicy")
    if pull is not None and pull not in _PULL_POLICIES:
        errs.append(not_supported(_child(path, "imagePullPolicy"), pull, _PULL_POLICIES))
    ports = container.get("ports") or []
    port_names: set[str] = set()
    for i, port in enumerate(ports if isinstance(ports, list) else []):
        where = _index(_child(path, "ports"), i)
        if not isinstance(port, Mapping):
            continue
        _port_range(_child(where, "containerPort"), port.get("containerPort", 0), errs)
        if "hostPort" in port and port["hostPort"] != 0:
            _port_range(_child(where, "hostPort"), port["hostPort"], errs)
        protocol = port.get("protocol", "TCP")
        if protocol not in _PROTOCOLS:
            errs.append(not_supported(_child(where, "protocol"), protocol, _PROTOCOLS))
        pname = port.get("name")
        if pname:
            _iana_name(_child(where, "name"), str(pname), errs)
            if pname in port_names:
                errs.append(duplicate(_child(where, "name"), pname))
            port_names.add(str(pname))
    env = container.get("env") or []
    for i, var in enumerate(env if isinstance(env, list) else []):
        where = _index(_child(path, "env"), i)
        vname = var.get("name") if isinstance(var, Mapping) else None
        if not vname:
            errs.append(required(_child(where, "name")))
        elif not _RE_ENV_NAME.match(str(vname)):
            errs.append(invalid(_child(where, "name"), vname, _regex_error(
                "a valid environment variable name must consist of alphabetic characters, "
                "digits, '_', '-', or '.', and must not start with a digit",
                "[-._a-zA-Z][-._a-zA-Z0-9]*", "my.env-name", "MY_ENV.NAME", "MyEnvName1")))
    mounts = container.get("volumeMounts") or []
    for i, mount in enumerate(mounts if isinstance(mounts, list) else []):
        where = _index(_child(path, "volumeMounts"), i)
        if not isinstance(mount, Mapping):
            continue
        mname = mount.get("name")
        if not mname:
            errs.append(required(_child(where, "name")))
        elif mname not in volumes:
            errs.append(Cause(_child(where, "name"), "FieldValueNotFound",
                              f"Not found: {go_repr(mname)}"))
        if not mount.get("mountPath"):
            errs.append(required(_child(where, "mountPath")))


def _iana_name(path: str, value: str, errs: _Errs) -> None:
    """``IsValidPortName`` (IANA_SVC_NAME)."""
    msgs = []
    if len(value) > 15:
        msgs.append("must be no more than 15 characters")
    if not _RE_IANA_SVC.match(value):
        msgs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in value:
        msgs.append("must not contain consecutive hyphens")
    if not re.search("[a-z]", value):
        msgs.append("must contain at least one letter (a-z)")
    if value.startswith("-") or value.endswith("-"):
        msgs.append("must not begin or end with a hyphen")
    for msg in msgs:
        errs.append(invalid(path, value, msg))


# ---------------------------------------------------------------------------- workloads


def _label_selector_literal(selector: Any) -> str:
    """``%#v`` of a *metav1.LabelSelector, as immutable-field errors print it."""
    if not isinstance(selector, Mapping):
        return "(*v1.LabelSelector)(nil)"
    labels = selector.get("matchLabels")
    labels_text = go_repr(labels) if isinstance(labels, Mapping) else "null"
    exprs = selector.get("matchExpressions")
    exprs_text = ("[]v1.LabelSelectorRequirement(nil)" if not exprs else
                  "[]v1.LabelSelectorRequirement{" + ", ".join(
                      f'v1.LabelSelectorRequirement{{Key:{json.dumps(e.get("key", ""))}, '
                      f'Operator:{json.dumps(e.get("operator", ""))}, '
                      f'Values:{go_repr(e.get("values") or [])}}}'
                      for e in exprs if isinstance(e, Mapping)) + "}")
    return f"&v1.LabelSelector{{MatchLabels:{labels_text}, MatchExpressions:{exprs_text}}}"


def _validate_workload(obj: Mapping[str, Any], errs: _Errs, old: Mapping[str, Any] | None) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        errs.append(required("spec.selector"))
        errs.append(required("spec.template.spec.containers"))
        return
    replicas = spec.get("replicas")
    if replicas is not None and (not _is_int(replicas) or replicas < 0):
        errs.append(invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    selector = spec.get("selector")
    template = spec.get("template")
    if selector is None:
        errs.append(required("spec.selector"))
    else:
        before = len(errs)
        _selector("spec.selector", selector, errs)
        parsed_ok = len(errs) == before
        if parsed_ok and isinstance(selector, Mapping) and not selector.get("matchLabels") and \
                not selector.get("matchExpressions"):
            errs.append(invalid("spec.selector", selector, "empty selector is invalid for "
                                "deployment" if obj.get("kind") == "Deployment" else
                                "empty selector is invalid"))
        elif parsed_ok and isinstance(template, Mapping):
            labels = (template.get("metadata") or {}).get("labels") or {}
            parsed = selector_from_dict(selector, field="spec.selector")
            if not parsed.matches(labels):
                errs.append(invalid("spec.template.metadata.labels", labels,
                                    "`selector` does not match template `labels`"))
    if not isinstance(template, Mapping):
        errs.append(required("spec.template.spec.containers"))
    else:
        meta = template.get("metadata") or {}
        _validate_labels(meta.get("labels") if isinstance(meta, Mapping) else None,
                         "spec.template.metadata.labels", errs)
        _validate_pod_spec(template.get("spec"), "spec.template.spec", errs, template=True)
    if obj.get("kind") == "Deployment":
        strategy = spec.get("strategy") or {}
        stype = strategy.get("type") if isinstance(strategy, Mapping) else None
        if stype is not None and stype not in ("Recreate", "RollingUpdate"):
            errs.append(not_supported("spec.strategy.type", stype, ("Recreate", "RollingUpdate")))
        if stype == "Recreate" and isinstance(strategy, Mapping) and strategy.get("rollingUpdate"):
            errs.append(forbidden("spec.strategy.rollingUpdate",
                                  "may not be specified when strategy `type` is 'Recreate'"))
    if old is not None:
        old_selector = (old.get("spec") or {}).get("selector")
        if old_selector is not None and selector != old_selector:
            errs.append(Cause("spec.selector", "FieldValueInvalid",
                              f"Invalid value: {_label_selector_literal(selector)}: field is "
                              "immutable"))


# ---------------------------------------------------------------------------- services

_SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
NODE_PORT_RANGE = (30000, 32767)


def _validate_service(obj: Mapping[str, Any], errs: _Errs, old: Mapping[str, Any] | None) -> None:
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
        where = _index("spec.ports", i)
        if not isinstance(port, Mapping):
            continue
        name = port.get("name") or ""
        if len(ports) > 1 and not name:
            errs.append(required(_child(where, "name")))
        elif name:
            _name_errors(_LABEL, _child(where, "name"), str(name), errs)
            if name in names:
                errs.append(duplicate(_child(where, "name"), name))
            names.add(str(name))
        _port_range(_child(where, "port"), port.get("port", 0), errs)
        protocol = port.get("protocol", "TCP")
        if protocol not in _PROTOCOLS:
            errs.append(not_supported(_child(where, "protocol"), protocol, _PROTOCOLS))
        key = (port.get("port"), protocol)
        if key in keys:
            errs.append(duplicate(where, f"{port.get('port')}/{protocol}"))
        keys.add(key)
        target = port.get("targetPort")
        if target is not None:
            if isinstance(target, str):
                _iana_name(_child(where, "targetPort"), target, errs)
            else:
                _port_range(_child(where, "targetPort"), target, errs)
        node_port = port.get("nodePort")
        if node_port not in (None, 0):
            if stype == "ClusterIP":
                errs.append(forbidden(_child(where, "nodePort"),
                                      "may not be used when `type` is 'ClusterIP'"))
            elif not _is_int(node_port) or not NODE_PORT_RANGE[0] <= node_port <= NODE_PORT_RANGE[1]:
                errs.append(invalid(_child(where, "nodePort"), node_port,
                                    "provided port is not in the valid range. The range of valid "
                                    f"ports is {NODE_PORT_RANGE[0]}-{NODE_PORT_RANGE[1]}"))
    selector = spec.get("selector")
    if selector is not None:
        _validate_labels(selector, "spec.selector", errs)
    if old is not None:
        old_spec = old.get("spec") or {}
        old_ip = old_spec.get("clusterIP")
        if old_ip and old_spec.get("type") != "ExternalName" and stype != "ExternalName" and \
                spec.get("clusterIP", old_ip) != old_ip:
            errs.append(immutable("spec.clusterIP", spec.get("clusterIP")))


# ---------------------------------------------------------------------------- webhooks

_OPERATIONS = ("*", "CONNECT", "CREATE", "DELETE", "UPDATE")
_SIDE_EFFECTS = ("None", "NoneOnDryRun")
_REVIEW_VERSIONS = ("v1", "v1beta1")


def _validate_webhooks(obj: Mapping[str, Any], errs: _Errs, mutating: bool) -> None:
    hooks = obj.get("webhooks") or []
    seen: set[str] = set()
    for i, hook in enumerate(hooks if isinstance(hooks, list) else []):
        where = _index("webhooks", i)
        if not isinstance(hook, Mapping):
            errs.append(required(_child(where, "name")))
            continue
        name = hook.get("name") or ""
        if not name:
            errs.append(required(_child(where, "name")))
        else:
            _name_errors(_SUBDOMAIN, _child(where, "name"), str(name), errs)
            if str(name).count(".") < 2:
                errs.append(invalid(_child(where, "name"), name,
                                    "should be a domain with at least three segments separated "
                                    "by dots"))
            if name in seen:
                errs.append(duplicate(_child(where, "name"), name))
            seen.add(str(name))
        _validate_client_config(hook.get("clientConfig"), _child(where, "clientConfig"), errs)
        for j, rule in enumerate(hook.get("rules") or []):
            _validate_rule(rule, _index(_child(where, "rules"), j), errs)
        policy = hook.get("failurePolicy")
        if policy is not None and policy not in ("Fail", "Ignore"):
            errs.append(not_supported(_child(where, "failurePolicy"), policy, ("Fail", "Ignore")))
        match = hook.get("matchPolicy")
        if match is not None and match not in ("Equivalent", "Exact"):
            errs.append(not_supported(_child(where, "matchPolicy"), match, ("Equivalent", "Exact")))
        side = hook.get("sideEffects")
        if side is None:
            errs.append(required(_child(where, "sideEffects"),
                                 "must specify one of " + ", ".join(_SIDE_EFFECTS)))
        elif side not in _SIDE_EFFECTS:
            errs.append(not_supported(_child(where, "sideEffects"), side, _SIDE_EFFECTS))
        versions = hook.get("admissionReviewVersions")
        if not versions:
            errs.append(required(_child(where, "admissionReviewVersions"),
                                 "must specify one of " + ", ".join(_REVIEW_VERSIONS)))
        elif not any(v in _REVIEW_VERSIONS for v in versions):
            errs.append(invalid(_child(where, "admissionReviewVersions"), versions,
                                "must include at least one of " + ", ".join(_REVIEW_VERSIONS)))
        timeout = hook.get("timeoutSeconds")
        if timeout is not None and (not _is_int(timeout) or not 1 <= timeout <= 30):
            errs.append(invalid(_child(where, "timeoutSeconds"), timeout,
                                "the timeout value must be between 1 and 30 seconds"))
        if mutating:
            reinvocation = hook.get("reinvocationPolicy")
            if reinvocation is not None and reinvocation not in ("IfNeeded", "Never"):
                errs.append(not_supported(_child(where, "reinvocationPolicy"), reinvocation,
                                          ("IfNeeded", "Never")))
        for selector_field in ("namespaceSelector", "objectSelector"):
            if hook.get(selector_field) is not None:
                _selector(_child(where, selector_field), hook[selector_field], errs)


def _validate_client_config(config: Any, path: str, errs: _Errs) -> None:
    config = config if isinstance(config, Mapping) else {}
    url, service = config.get("url"), config.get("service")
    if bool(url) == bool(service):
        errs.append(required(path, "exactly one of url or service is required"))
        return
    if url:
        text = str(url)
        if not text.startswith("https://"):
            errs.append(invalid(_child(path, "url"), url,
                                "'https' is the only allowed URL scheme"))
        elif "?" in text or "#" in text:
            errs.append(invalid(_child(path, "url"), url,
                                "query parameters are not allowed" if "?" in text
                                else "fragments are not allowed"))
        return
    svc = service if isinstance(service, Mapping) else {}
    where = _child(path, "service")
    if not svc.get("name"):
        errs.append(required(_child(where, "name"), "service name is required"))
    else:
        _name_errors(_LABEL, _child(where, "name"), str(svc["name"]), errs)
    if not svc.get("namespace"):
        errs.append(required(_child(where, "namespace"), "service namespace is required"))
    else:
        _name_errors(_LABEL, _child(where, "namespace"), str(svc["namespace"]), errs)
    if "port" in svc:
        _port_range(_child(where, "port"), svc["port"], errs, prefix="port is not valid: ")
    path_value = svc.get("path")
    if path_value is not None and path_value != "" and not str(path_value).startswith("/"):
        errs.append(invalid(_child(where, "path"), path_value, "must start with a '/'"))


def _validate_rule(rule: Any, path: str, errs: _Errs) -> None:
    rule = rule if isinstance(rule, Mapping) else {}
    operations = rule.get("operations")
    if not operations:
        errs.append(required(_child(path, "operations")))
    else:
        for k, op in enumerate(operations):
            if op not in _OPERATIONS:
                errs.append(not_supported(_index(_child(path, "operations"), k), op, _OPERATIONS))
        if "*" in operations and len(operations) > 1:
            errs.append(invalid(_child(path, "operations"), operations,
                                "if '*' is present, must not specify other operations"))
    for key in ("apiGroups", "apiVersions", "resources"):
        if not rule.get(key):
            errs.append(required(_child(path, key)))
    scope = rule.get("scope")
    if scope is not None and scope not in ("*", "Cluster", "Namespaced"):
        errs.append(not_supported(_child(path, "scope"), scope, ("*", "Cluster", "Namespaced")))


# ---------------------------------------------------------------------------- CRDs


def _validate_crd(obj: Mapping[str, Any], errs: _Errs) -> None:
    spec = obj.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    group = spec.get("group") or ""
    if not group:
        errs.append(required("spec.group"))
    else:
        _name_errors(_SUBDOMAIN, "spec.group", str(group), errs)
        if "." not in str(group):
            errs.append(invalid("spec.group", group, "should be a domain with at least one dot"))
    names = spec.get("names")
    names = names if isinstance(names, Mapping) else {}
    plural = names.get("plural") or ""
    if not plural:
        errs.append(required("spec.names.plural"))
    else:
        _name_errors(_LABEL, "spec.names.plural", str(plural), errs)
    if names.get("singular"):
        _name_errors(_LABEL, "spec.names.singular", str(names["singular"]), errs)
    if not names.get("kind"):
        errs.append(required("spec.names.kind"))
    name = (obj.get("metadata") or {}).get("name")
    if plural and group and name != f"{plural}.{group}":
        errs.append(invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    scope = spec.get("scope")
    if scope not in ("Cluster", "Namespaced"):
        if scope is None:
            errs.append(required("spec.scope"))
        else:
            errs.append(not_supported("spec.scope", scope, ("Cluster", "Namespaced")))
    versions = spec.get("versions") or []
    if not versions:
        errs.append(invalid("spec.versions", versions, "must have exactly one version marked as "
                            "storage version"))
        return
    storage = 0
    seen: set[str] = set()
    for i, version in enumerate(versions):
        where = _index("spec.versions", i)
        version = version if isinstance(version, Mapping) else {}
        vname = version.get("name") or ""
        if not vname:
            errs.append(required(_child(where, "name")))
        else:
            _name_errors(_LABEL, _child(where, "name"), str(vname), errs)
            if vname in seen:
                errs.append(duplicate(_child(where, "name"), vname))
            seen.add(str(vname))
        storage += bool(version.get("storage"))
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if not schema:
            errs.append(required(_child(where, "schema.openAPIV3Schema"), "schemas are required"))
        for j, column in enumerate(version.get("additionalPrinterColumns") or []):
            cwhere = _index(_child(where, "additionalPrinterColumns"), j)
            column = column if isinstance(column, Mapping) else {}
            if not column.get("name"):
                errs.append(required(_child(cwhere, "name")))
            if not column.get("jsonPath"):
                errs.append(required(_child(cwhere, "jsonPath")))
            ctype = column.get("type")
            if ctype not in ("integer", "number", "string", "boolean", "date"):
                errs.append(not_supported(_child(cwhere, "type"), ctype,
                                          ("boolean", "date", "integer", "number", "string")))
    if storage != 1:
        errs.append(invalid("spec.versions", [v.get("name") for v in versions
                                              if isinstance(v, Mapping)],
                            "must have exactly one version marked as storage version"))
    if not any(isinstance(v, Mapping) and v.get("served") for v in versions):
        errs.append(invalid("spec.versions", [v.get("name") for v in versions
                                              if isinstance(v, Mapping)],
                            "must have at least one version marked as served"))


# ---------------------------------------------------------------------------- small kinds


def _validate_config_keys(obj: Mapping[str, Any], errs: _Errs, fields: Sequence[str]) -> None:
    seen: set[str] = set()
    for field_name in fields:
        data = obj.get(field_name)
        if data is None:
            continue
        if not isinstance(data, Mapping):
            errs.append(invalid(field_name, data, "must be a map"))
            continue
        for key in data:
            where = f"{field_name}[{key}]"
            for msg in _config_key_errors(str(key)):
                errs.append(invalid(where, key, msg))
            if key in seen:
                errs.append(duplicate(where, key))
            seen.add(str(key))


def _validate_event(obj: Mapping[str, Any], errs: _Errs, events_v1: bool) -> None:
    namespace = (obj.get("metadata") or {}).get("namespace") or ""
    regarding_key = "regarding" if events_v1 else "involvedObject"
    regarding = obj.get(regarding_key) or {}
    if isinstance(regarding, Mapping) and regarding.get("namespace") and namespace and \
            regarding["namespace"] != namespace:
        errs.append(invalid(f"{regarding_key}.namespace", regarding["namespace"],
                            "does not match event.namespace"))
    etype = obj.get("type")
    if etype not in (None, "", "Normal", "Warning") or (events_v1 and not etype):
        errs.append(not_supported("type", etype or "", ("Normal", "Warning")))
    if events_v1:
        for key in ("reportingController", "reportingInstance", "action", "reason"):
            if not obj.get(key):
                errs.append(required(key))
        if not obj.get("eventTime"):
            errs.append(required("eventTime"))


# ---------------------------------------------------------------------------- entry point


def validate_object(kind: ResourceKind, obj: dict[str, Any], old: dict[str, Any] | None = None
                    ) -> list[Cause]:
    """Validate ``obj`` (a create, or an update of ``old``) the way kube-apiserver does.

    Args:
        kind: the object's kind (``runbook.kinds``).
        obj: the object as it would be stored.
        old: the stored object on update; enables the immutable-field checks.

    Returns:
        The causes of a 422 answer; empty when the object is valid. Custom resources get only
        the metadata checks here (their schema is :func:`runbook.schema.validate_against_schema`).
    """
    errs: _Errs = []
    if not isinstance(obj, Mapping):
        return [invalid("", obj, "must be an object")]
    meta = obj.get("metadata")
    _validate_meta(kind, meta, errs)
    if old is not None and isinstance(meta, Mapping):
        old_meta = old.get("metadata") or {}
        for key in ("name", "namespace"):
            if old_meta.get(key) and meta.get(key) != old_meta.get(key):
                errs.append(immutable(f"metadata.{key}", meta.get(key)))
    key = kind.key
    if key == "pods":
        _validate_pod_spec(obj.get("spec"), "spec", errs)
    elif key in ("deployments.apps", "replicasets.apps"):
        _validate_workload(obj, errs, old)
    elif key == "services":
        _validate_service(obj, errs, old)
    elif key == "mutatingwebhookconfigurations.admissionregistration.k8s.io":
        _validate_webhooks(obj, errs, mutating=True)
    elif key == "validatingwebhookconfigurations.admissionregistration.k8s.io":
        _validate_webhooks(obj, errs, mutating=False)
    elif key == "customresourcedefinitions.apiextensions.k8s.io":
        _validate_crd(obj, errs)
    elif key == "configmaps":
        _validate_config_keys(obj, errs, ("data", "binaryData"))
    elif key == "secrets":
        _validate_config_keys(obj, errs, ("data", "stringData"))
    elif key == "events":
        _validate_event(obj, errs, events_v1=False)
    elif key == "events.events.k8s.io":
        _validate_event(obj, errs, events_v1=True)
    return errs


__all__ = [
    "NODE_PORT_RANGE",
    "cause_text",
    "dns1035_label_errors",
    "dns1123_label_errors",
    "dns1123_subdomain_errors",
    "duplicate",
    "forbidden",
    "go_repr",
    "immutable",
    "invalid",
    "invalid_message",
    "not_supported",
    "required",
    "too_long",
    "validate_object",
]
