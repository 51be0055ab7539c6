"""CustomResourceDefinitions: names, versions, scope."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runbook.sandbox.registry.validation.messages import invalid, not_supported, required
from runbook.sandbox.registry.validation.meta import (
    LABEL_RULE,
    SUBDOMAIN_RULE,
    Errs,
    add_item_name_errors,
    add_name_errors,
    child_path,
    index_path,
)


def validate_crd(obj: Mapping[str, Any], errs: Errs) -> None:
    spec = obj.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    group = spec.get("group") or ""
    if not group:
        errs.append(required("spec.group"))
    else:
        add_name_errors(SUBDOMAIN_RULE, "spec.group", str(group), errs)
        if "." not in str(group):
            errs.append(invalid("spec.group", group, "should be a domain with at least one dot"))
    names = spec.get("names")
    names = names if isinstance(names, Mapping) else {}
    plural = names.get("plural") or ""
    if not plural:
        errs.append(required("spec.names.plural"))
    else:
        add_name_errors(LABEL_RULE, "spec.names.plural", str(plural), errs)
    if names.get("singular"):
        add_name_errors(LABEL_RULE, "spec.names.singular", str(names["singular"]), errs)
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
        where = index_path("spec.versions", i)
        version = version if isinstance(version, Mapping) else {}
        add_item_name_errors(LABEL_RULE, child_path(where, "name"), version.get("name"), seen, errs)
        storage += bool(version.get("storage"))
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if not schema:
            errs.append(required(child_path(where, "schema.openAPIV3Schema"), "schemas are required"))
        for j, column in enumerate(version.get("additionalPrinterColumns") or []):
            cwhere = index_path(child_path(where, "additionalPrinterColumns"), j)
            column = column if isinstance(column, Mapping) else {}
            if not column.get("name"):
                errs.append(required(child_path(cwhere, "name")))
            if not column.get("jsonPath"):
                errs.append(required(child_path(cwhere, "jsonPath")))
            ctype = column.get("type")
            if ctype not in ("integer", "number", "string", "boolean", "date"):
                errs.append(not_supported(child_path(cwhere, "type"), ctype,
                                          ("boolean", "date", "integer", "number", "string")))
    if storage != 1:
        errs.append(invalid("spec.versions", [v.get("name") for v in versions
                                              if isinstance(v, Mapping)],
                            "must have exactly one version marked as storage version"))
    if not any(isinstance(v, Mapping) and v.get("served") for v in versions):
        errs.append(invalid("spec.versions", [v.get("name") for v in versions
                                              if isinstance(v, Mapping)],
                            "must have at least one version marked as served"))
