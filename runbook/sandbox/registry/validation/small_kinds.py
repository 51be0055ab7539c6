"""ConfigMap and Secret keys, Events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from runbook.sandbox.registry.validation.messages import (
    config_key_errors,
    duplicate,
    invalid,
    not_supported,
    required,
)
from runbook.sandbox.registry.validation.meta import Errs


def validate_config_keys(obj: Mapping[str, Any], errs: Errs, fields: Sequence[str]) -> None:
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
            for msg in config_key_errors(str(key)):
                errs.append(invalid(where, key, msg))
            if key in seen:
                errs.append(duplicate(where, key))
            seen.add(str(key))


def validate_event(obj: Mapping[str, Any], errs: Errs, events_v1: bool) -> None:
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


#: what ValidateEventUpdate holds immutable for a write through events.k8s.io/v1 (core/v1 writes
#: are exempt, for backward compatibility): the stored core/v1 field, and the internal type's
#: field name its error names, in the order Go checks them (``reason`` twice, as upstream does)
_EVENT_IMMUTABLE = (
    ("involvedObject", "involvedObject"), ("reason", "reason"), ("message", "message"),
    ("source", "source"), ("firstTimestamp", "firstTimestamp"),
    ("lastTimestamp", "lastTimestamp"), ("count", "count"), ("reason", "reason"),
    ("type", "type"), ("eventTime", "eventTime"), ("action", "action"), ("related", "related"),
    ("reportingComponent", "reportingController"), ("reportingInstance", "reportingInstance"),
)


def _go_zero(value: Any) -> Any:
    """JSON's absent, null and empty all decode to the Go field's zero value."""
    return None if value in (None, "", 0, {}) else value


def validate_events_v1_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> Errs:
    """The causes of an events.k8s.io/v1 update (both in the stored core/v1 shape) that changes
    what an Event said: such an update is 422, as kube-apiserver's ValidateEventUpdate says."""
    errs: Errs = []
    for stored, name in _EVENT_IMMUTABLE:
        if _go_zero(new.get(stored)) != _go_zero(old.get(stored)):
            errs.append(invalid(name, new.get(stored), "field is immutable"))
    return errs
