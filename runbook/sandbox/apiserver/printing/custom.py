"""Custom resources' Tables: ``additionalPrinterColumns`` (JSONPath cells, typed) else ``Age``."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

# ages and timestamps as kubectl shows them, shared with the client side (runbook.formats.kubectl)
from runbook.formats.kubectl import parse_time
from runbook.formats.kubectl import since as age
from runbook.sandbox.apiserver.printing.cells import get_path, int_or
from runbook.sandbox.apiserver.printing.columns import DOCS, NAME_COLUMN, Column

_TOKEN = re.compile(r"""\.(?P<field>[^.\[\]]+)|\[(?P<index>-?\d+|\*)\]|\['(?P<quoted>[^']*)'\]"""
                    r"""|\[\?\(@\.(?P<fkey>[\w.-]+)\s*==\s*["'](?P<fval>[^"']*)["']\)\]""")


def eval_json_path(obj: Any, path: str) -> list[Any]:
    """The values a simple JSONPath (``.spec.hosts``, ``.status.conditions[?(@.type=="Ready")]
    .status``, ``.spec.ports[0].number``, ``[*]``) finds; missing keys give no value."""
    expr = path.strip()
    if expr.startswith("{") and expr.endswith("}"):
        expr = expr[1:-1]
    if expr.startswith("$"):
        expr = expr[1:]
    current = [obj]
    pos = 0
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if match is None:
            return []
        pos = match.end()
        nxt: list[Any] = []
        for value in current:
            name = match.group("field") or match.group("quoted")
            if name is not None:
                if isinstance(value, Mapping) and name in value:
                    nxt.append(value[name])
            elif match.group("index") is not None and isinstance(value, list):
                index = match.group("index")
                if index == "*":
                    nxt.extend(value)
                elif -len(value) <= int(index) < len(value):
                    nxt.append(value[int(index)])
            elif match.group("fkey") and isinstance(value, list):
                keys = match.group("fkey").split(".")
                for item in value:
                    if str(get_path(item, *keys)) == match.group("fval"):
                        nxt.append(item)
        current = nxt
    return current


def _go_json(value: Any) -> str:
    # encoding/json.Marshal: compact, HTML-escaped
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _string_cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return _go_json(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _typed_cell(type_: str, value: Any, now: datetime) -> Any:
    """apiextensions ``cellForJSONValue``."""
    if value is None:
        return None
    if type_ == "integer" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if type_ == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if type_ == "boolean" and isinstance(value, bool):
        return value
    if type_ == "date" and isinstance(value, str):
        return age(value, now) if parse_time(value) else "<invalid>"
    return None


def printer_columns(crd: Mapping[str, Any], version: str) -> list[dict[str, Any]]:
    """``additionalPrinterColumns`` of the served version, else the ``Age`` default."""
    spec = crd.get("spec") or {}
    columns: list[dict[str, Any]] | None = None
    for entry in spec.get("versions") or []:
        if isinstance(entry, Mapping) and entry.get("name") == version:
            columns = entry.get("additionalPrinterColumns")
    if columns is None:
        columns = spec.get("additionalPrinterColumns")
    if not columns:
        return [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp",
                 "description": DOCS["creationTimestamp"]}]
    return [dict(c) for c in columns if isinstance(c, Mapping)]


def custom_table(objects: Sequence[Mapping[str, Any]], crd: Mapping[str, Any] | None,
                  version: str, now: datetime) -> tuple[list[Column], list[list[Any]]]:
    if crd is None:
        defs = [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp",
                 "description": DOCS["creationTimestamp"]}]
    else:
        defs = printer_columns(crd, version)
    columns = [NAME_COLUMN] + [{
        "name": c.get("name", ""), "type": c.get("type", "string"), "format": c.get("format", ""),
        "description": c.get("description") or
        f"Custom resource definition column (in JSONPath format): {c.get('jsonPath', '')}",
        "priority": int_or(c.get("priority"))} for c in defs]
    rows = []
    for obj in objects:
        cells: list[Any] = [get_path(obj, "metadata", "name") or ""]
        for column in defs:
            found = eval_json_path(obj, str(column.get("jsonPath", "")))
            value = found[0] if found else None
            cells.append(_string_cell(value) if column.get("type") == "string"
                         else _typed_cell(str(column.get("type")), value, now))
        rows.append(cells)
    return columns, rows
