"""Deployments and ReplicaSets: selector, template labels, replicas."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from runbook.errors import Cause
from runbook.sandbox.registry.validation.messages import (
    forbidden,
    invalid,
    not_supported,
    required,
)
from runbook.sandbox.registry.validation.meta import Errs, check_selector, is_int, validate_labels
from runbook.sandbox.registry.validation.pods import validate_pod_spec
from runbook.selectors import selector_from_dict


def _label_selector_literal(selector: Any) -> str:
    """A *metav1.LabelSelector as ``field.Error`` prints a bad value: ``json.Marshal`` of it
    (its fields in the Go type's order, empty ones omitted), ``null`` for nil."""
    if not isinstance(selector, Mapping):
        return "null"
    out: dict[str, Any] = {}
    labels = selector.get("matchLabels")
    if isinstance(labels, Mapping) and labels:
        out["matchLabels"] = dict(sorted(labels.items()))  # Go marshals map keys sorted
    exprs = [e for e in selector.get("matchExpressions") or () if isinstance(e, Mapping)]
    if exprs:
        out["matchExpressions"] = [
            {"key": e.get("key", ""), "operator": e.get("operator", ""),
             **({"values": list(e["values"])} if e.get("values") else {})} for e in exprs]
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def validate_workload(obj: Mapping[str, Any], errs: Errs, old: Mapping[str, Any] | None) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        errs.append(required("spec.selector"))
        errs.append(required("spec.template.spec.containers"))
        return
    replicas = spec.get("replicas")
    if replicas is not None and (not is_int(replicas) or replicas < 0):
        errs.append(invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    selector = spec.get("selector")
    template = spec.get("template")
    if selector is None:
        errs.append(required("spec.selector"))
        # LabelSelectorAsSelector(nil) selects nothing, so the template's labels never match it
        meta = template.get("metadata") if isinstance(template, Mapping) else None
        labels = meta.get("labels") if isinstance(meta, Mapping) else None
        errs.append(invalid("spec.template.metadata.labels", labels,
                            "`selector` does not match template `labels`"))
    else:
        before = len(errs)
        check_selector("spec.selector", selector, errs)
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
        validate_labels(meta.get("labels") if isinstance(meta, Mapping) else None,
                         "spec.template.metadata.labels", errs)
        validate_pod_spec(template.get("spec"), "spec.template.spec", errs, template=True)
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
