"""Mutating and validating webhook configurations: client config, rules, side effects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runbook.sandbox.registry.validation.messages import duplicate, invalid, not_supported, required
from runbook.sandbox.registry.validation.meta import (
    LABEL_RULE,
    SUBDOMAIN_RULE,
    Errs,
    add_name_errors,
    check_port_range,
    check_selector,
    child_path,
    index_path,
    is_int,
)

_OPERATIONS = ("*", "CONNECT", "CREATE", "DELETE", "UPDATE")
_SIDE_EFFECTS = ("None", "NoneOnDryRun")
_REVIEW_VERSIONS = ("v1", "v1beta1")


def validate_webhooks(obj: Mapping[str, Any], errs: Errs, mutating: bool) -> None:
    hooks = obj.get("webhooks") or []
    seen: set[str] = set()
    for i, hook in enumerate(hooks if isinstance(hooks, list) else []):
        where = index_path("webhooks", i)
        if not isinstance(hook, Mapping):
            errs.append(required(child_path(where, "name")))
            continue
        name = hook.get("name") or ""
        if not name:
            errs.append(required(child_path(where, "name")))
        else:
            add_name_errors(SUBDOMAIN_RULE, child_path(where, "name"), str(name), errs)
            if str(name).count(".") < 2:
                errs.append(invalid(child_path(where, "name"), name,
                                    "should be a domain with at least three segments separated "
                                    "by dots"))
            if name in seen:
                errs.append(duplicate(child_path(where, "name"), name))
            seen.add(str(name))
        _validate_client_config(hook.get("clientConfig"), child_path(where, "clientConfig"), errs)
        for j, rule in enumerate(hook.get("rules") or []):
            _validate_rule(rule, index_path(child_path(where, "rules"), j), errs)
        policy = hook.get("failurePolicy")
        if policy is not None and policy not in ("Fail", "Ignore"):
            errs.append(not_supported(child_path(where, "failurePolicy"), policy, ("Fail", "Ignore")))
        match = hook.get("matchPolicy")
        if match is not None and match not in ("Equivalent", "Exact"):
            errs.append(not_supported(child_path(where, "matchPolicy"), match, ("Equivalent", "Exact")))
        side = hook.get("sideEffects")
        if side is None:
            errs.append(required(child_path(where, "sideEffects"),
                                 "must specify one of " + ", ".join(_SIDE_EFFECTS)))
        elif side not in _SIDE_EFFECTS:
            errs.append(not_supported(child_path(where, "sideEffects"), side, _SIDE_EFFECTS))
        versions = hook.get("admissionReviewVersions")
        if not versions:
            errs.append(required(child_path(where, "admissionReviewVersions"),
                                 "must specify one of " + ", ".join(_REVIEW_VERSIONS)))
        elif not any(v in _REVIEW_VERSIONS for v in versions):
            errs.append(invalid(child_path(where, "admissionReviewVersions"), versions,
                                "must include at least one of " + ", ".join(_REVIEW_VERSIONS)))
        timeout = hook.get("timeoutSeconds")
        if timeout is not None and (not is_int(timeout) or not 1 <= timeout <= 30):
            errs.append(invalid(child_path(where, "timeoutSeconds"), timeout,
                                "the timeout value must be between 1 and 30 seconds"))
        if mutating:
            reinvocation = hook.get("reinvocationPolicy")
            if reinvocation is not None and reinvocation not in ("IfNeeded", "Never"):
                errs.append(not_supported(child_path(where, "reinvocationPolicy"), reinvocation,
                                          ("IfNeeded", "Never")))
        for selector_field in ("namespaceSelector", "objectSelector"):
            if hook.get(selector_field) is not None:
                check_selector(child_path(where, selector_field), hook[selector_field], errs)


def _validate_client_config(config: Any, path: str, errs: Errs) -> None:
    config = config if isinstance(config, Mapping) else {}
    url, service = config.get("url"), config.get("service")
    if bool(url) == bool(service):
        errs.append(required(path, "exactly one of url or service is required"))
        return
    if url:
        text = str(url)
        if not text.startswith("https://"):
            errs.append(invalid(child_path(path, "url"), url,
                                "'https' is the only allowed URL scheme"))
        elif "?" in text or "#" in text:
            errs.append(invalid(child_path(path, "url"), url,
                                "query parameters are not allowed" if "?" in text
                                else "fragments are not allowed"))
        return
    svc = service if isinstance(service, Mapping) else {}
    where = child_path(path, "service")
    if not svc.get("name"):
        errs.append(required(child_path(where, "name"), "service name is required"))
    else:
        add_name_errors(LABEL_RULE, child_path(where, "name"), str(svc["name"]), errs)
    if not svc.get("namespace"):
        errs.append(required(child_path(where, "namespace"), "service namespace is required"))
    else:
        add_name_errors(LABEL_RULE, child_path(where, "namespace"), str(svc["namespace"]), errs)
    if "port" in svc:
        check_port_range(child_path(where, "port"), svc["port"], errs, prefix="port is not valid: ")
    path_value = svc.get("path")
    if path_value is not None and path_value != "" and not str(path_value).startswith("/"):
        errs.append(invalid(child_path(where, "path"), path_value, "must start with a '/'"))


def _validate_rule(rule: Any, path: str, errs: Errs) -> None:
    rule = rule if isinstance(rule, Mapping) else {}
    operations = rule.get("operations")
    if not operations:
        errs.append(required(child_path(path, "operations")))
    else:
        for k, op in enumerate(operations):
            if op not in _OPERATIONS:
                errs.append(not_supported(index_path(child_path(path, "operations"), k), op, _OPERATIONS))
        if "*" in operations and len(operations) > 1:
            errs.append(invalid(child_path(path, "operations"), operations,
                                "if '*' is present, must not specify other operations"))
    for key in ("apiGroups", "apiVersions", "resources"):
        if not rule.get(key):
            errs.append(required(child_path(path, key)))
    scope = rule.get("scope")
    if scope is not None and scope not in ("*", "Cluster", "Namespaced"):
        errs.append(not_supported(child_path(path, "scope"), scope, ("*", "Cluster", "Namespaced")))
