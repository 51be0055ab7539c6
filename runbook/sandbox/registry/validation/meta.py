"""ObjectMeta (names per kind, labels, annotations) and the small helpers every kind's rules use."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from runbook.errors import Cause
from runbook.kinds import ResourceKind
from runbook.sandbox.registry.validation.messages import (
    dns1035_label_errors,
    dns1123_label_errors,
    dns1123_subdomain_errors,
    duplicate,
    forbidden,
    invalid,
    required,
    too_long,
)
from runbook.selectors import SelectorError, label_key_errors, label_value_errors, selector_from_dict

Errs = list[Cause]


def child_path(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def index_path(path: str, i: int) -> str:
    return f"{path}[{i}]"


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_port_range(path: str, value: Any, errs: Errs, *, prefix: str = "") -> None:
    if not is_int(value) or not 1 <= value <= 65535:
        errs.append(invalid(path, value, f"{prefix}must be between 1 and 65535, inclusive"))


def add_name_errors(fn: Callable[[str], list[str]], path: str, value: str, errs: Errs) -> None:
    for msg in fn(value):
        errs.append(invalid(path, value, msg))


def add_item_name_errors(fn: Callable[[str], list[str]], path: str, name: Any, seen: set[str],
                         errs: Errs) -> bool:
    """The ``name`` of one item of a list keyed by name (containers, volumes, CRD versions):
    required, valid by ``fn``, and not one an earlier item has (``seen`` collects them). Whether
    there was a name, for the checks that need one."""
    if not name:
        errs.append(required(path))
        return False
    add_name_errors(fn, path, str(name), errs)
    if name in seen:
        errs.append(duplicate(path, name))
    seen.add(str(name))
    return True


def check_selector(path: str, value: Any, errs: Errs) -> None:
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



SUBDOMAIN_RULE = dns1123_subdomain_errors
LABEL_RULE = dns1123_label_errors

#: kind key -> the name rule of its ValidateNameFunc
_NAME_RULES: dict[str, Callable[[str], list[str]]] = {
    "namespaces": LABEL_RULE,
    "services": dns1035_label_errors,
}

_TOTAL_ANNOTATION_SIZE = 256 * 1024


def validate_meta(kind: ResourceKind, meta: Any, errs: Errs, path: str = "metadata",
                   *, check_name: bool = True) -> None:
    if not isinstance(meta, Mapping):
        errs.append(required(child_path(path, "name"), "name or generateName is required"))
        return
    name_rule = _NAME_RULES.get(kind.key, SUBDOMAIN_RULE)
    name = meta.get("name") or ""
    generate = meta.get("generateName") or ""
    if check_name:
        if name:
            add_name_errors(name_rule, child_path(path, "name"), str(name), errs)
        elif generate:
            # ValidateObjectMeta masks the trailing "-" a generated suffix will follow.
            masked = str(generate)[:-1] if str(generate).endswith("-") else str(generate)
            for msg in name_rule(masked):
                errs.append(invalid(child_path(path, "generateName"), generate, msg))
        else:
            errs.append(required(child_path(path, "name"), "name or generateName is required"))
    namespace = meta.get("namespace") or ""
    if check_name:
        if kind.namespaced and not namespace:
            errs.append(required(child_path(path, "namespace")))
        elif kind.namespaced:
            add_name_errors(LABEL_RULE, child_path(path, "namespace"), str(namespace), errs)
        elif namespace:
            errs.append(forbidden(child_path(path, "namespace"), "not allowed on this type"))
    validate_labels(meta.get("labels"), child_path(path, "labels"), errs)
    annotations = meta.get("annotations")
    if isinstance(annotations, Mapping):
        total = 0
        for key, value in annotations.items():
            for msg in label_key_errors(str(key).lower()):
                errs.append(invalid(child_path(path, "annotations"), key, msg))
            total += len(str(key)) + len(str(value or ""))
        if total > _TOTAL_ANNOTATION_SIZE:
            errs.append(too_long(child_path(path, "annotations"), _TOTAL_ANNOTATION_SIZE))
    elif annotations is not None:
        errs.append(invalid(child_path(path, "annotations"), annotations, "must be a map of strings"))
    for i, ref in enumerate(meta.get("ownerReferences") or []):
        where = index_path(child_path(path, "ownerReferences"), i)
        if not isinstance(ref, Mapping):
            errs.append(invalid(where, ref, "must be an object"))
            continue
        for key in ("apiVersion", "kind", "name", "uid"):
            if not ref.get(key):
                errs.append(invalid(child_path(where, key), ref.get(key, ""), f"{key} must not be empty"))


def validate_labels(labels: Any, path: str, errs: Errs) -> None:
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
