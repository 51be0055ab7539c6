"""Server-side printing: ``meta.k8s.io/v1`` Tables as kube-apiserver's table convertors build them.

``kubectl get`` asks for ``application/json;as=Table;v=v1;g=meta.k8s.io`` and prints what comes
back, so the columns and cells here are what a trainee sees. They follow
``pkg/printers/internalversion/printers.go`` (built-in kinds), the apiextensions
``tableconvertor`` (custom resources: ``additionalPrinterColumns`` of the served version, else
``Age``), and ``rest.defaultTableConvertor`` (``CustomResourceDefinition``: ``Name`` and
``Created At``). Ages are ``duration.HumanDuration`` (``2m25s``, ``105m``, ``22h``, ``3d4h``).
Column descriptions are the Go types' swagger docs.

kube-apiserver always generates the wide table (``GenerateOptions{Wide: true}``) and lets kubectl
hide ``priority > 0`` columns unless ``-o wide``; pass ``wide=True`` to get exactly that.
``wide=False`` gives the narrow table (for clients that print it themselves).

The columns are in :mod:`.columns`, the built-in kinds' cells in :mod:`.cells`, custom resources'
in :mod:`.custom`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# ages and timestamps as kubectl shows them, shared with the client side (runbook.formats.kubectl)
from runbook.formats.kubectl import human_duration, parse_time
from runbook.formats.kubectl import since as age
from runbook.kinds import ResourceKind
from runbook.sandbox.apiserver.printing.cells import (
    builtin_cells,
    format_label_selector,
    format_labels,
    table_row,
)
from runbook.sandbox.apiserver.printing.columns import COLUMNS, DEFAULT_COLUMNS, Row
from runbook.sandbox.apiserver.printing.custom import custom_table, eval_json_path, printer_columns


def to_table(kind: ResourceKind, objects: list[dict[str, Any]], now: datetime,
             crd: dict[str, Any] | None = None, wide: bool = False, *,
             version: str | None = None, include_object: str = "Metadata",
             resource_version: str | None = None) -> dict[str, Any]:
    """Render objects of one kind as a ``meta.k8s.io/v1`` Table.

    Args:
        kind: the kind being listed.
        objects: the objects (one row each, in order).
        now: the server's clock (ages are relative to it).
        crd: the CustomResourceDefinition of a custom resource (its printer columns).
        wide: include ``priority > 0`` columns and cells, as kube-apiserver always does.
        version: the requested version of a custom resource (defaults to ``kind.version``).
        include_object: ``Metadata`` (default: PartialObjectMetadata), ``Object`` or ``None``.
        resource_version: the list's resourceVersion, put in the Table's metadata.

    Returns:
        The Table as a JSON-ready dict.
    """
    key = kind.key
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    rows: list[Row] = []
    if key in COLUMNS:
        columns = COLUMNS[key]
        for obj in objects:
            narrow, extra, conditions = builtin_cells(key, obj, now, wide)
            cells = narrow + extra if wide else narrow
            rows.append(table_row(obj, cells, include_object, conditions))
        shown = columns if wide else [c for c in columns if not c["priority"]]
    elif kind.group and key != "customresourcedefinitions.apiextensions.k8s.io" and \
            not _is_builtin_group(kind.group):
        all_columns, cell_rows = custom_table(objects, crd, version or kind.version, now)
        keep = [i for i, c in enumerate(all_columns) if wide or not c["priority"]]
        shown = [all_columns[i] for i in keep]
        for obj, cells in zip(objects, cell_rows, strict=True):
            rows.append(table_row(obj, [cells[i] for i in keep], include_object))
    else:
        shown = DEFAULT_COLUMNS
        for obj in objects:
            cells, _, _ = builtin_cells(key, obj, now, wide)
            rows.append(table_row(obj, cells, include_object))
    metadata: dict[str, Any] = {}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata,
            "columnDefinitions": [dict(c) for c in shown], "rows": rows}


_BUILTIN_GROUPS = frozenset({"", "apps", "events.k8s.io", "admissionregistration.k8s.io",
                             "apiextensions.k8s.io", "batch", "policy", "rbac.authorization.k8s.io",
                             "networking.k8s.io", "storage.k8s.io", "coordination.k8s.io",
                             "discovery.k8s.io", "autoscaling", "scheduling.k8s.io",
                             "certificates.k8s.io", "node.k8s.io", "flowcontrol.apiserver.k8s.io"})


def _is_builtin_group(group: str) -> bool:
    return group in _BUILTIN_GROUPS


__all__ = [
    "age",
    "eval_json_path",
    "format_label_selector",
    "format_labels",
    "human_duration",
    "parse_time",
    "printer_columns",
    "to_table",
]
