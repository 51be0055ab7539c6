"""What counts as a secret in a name, and objects with their secret values taken out.

Defined once for both sides that need it: the report masker (``runbook.report.masking``) masks
notebook text, and the audit trail (``runbook.audit``) keeps copies of the objects a fix
changed — a Secret's data, a container's ``DB_PASSWORD`` given as a literal value, or kubectl's
``last-applied-configuration`` copy of either must not be written to an append-only file that is
shown in notebooks and reports.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

#: parameter / key / variable names whose values are secret (case-insensitive, ``-``/``_`` alike)
SECRET_NAME = re.compile(
    r"(?i)^(?:.*[-_])?(?:token|password|passwd|secret|api[-_]?key|private[-_]?key|credentials?"
    r"|client[-_]key[-_]data|client[-_]certificate[-_]data|certificate[-_]authority[-_]data"
    r"|auth(?:orization)?)$"
)
REDACTED = "[redacted]"
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def is_secret_name(name: str) -> bool:
    """Whether a parameter, key or variable called ``name`` holds a secret (``DB_PASSWORD`` …)."""
    return bool(SECRET_NAME.match(name))


def redact_object(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """A copy of a Kubernetes object without secret values (structure and names kept).

    * a Secret's ``data`` and ``stringData`` values;
    * ``{"name": <secret-looking>, "value": "…"}`` pairs anywhere (container ``env``);
    * the same inside kubectl's ``last-applied-configuration`` annotation (a JSON copy).
    """
    if obj is None:
        return None
    out = copy.deepcopy(obj)
    _redact(out)
    annotations = (out.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(_LAST_APPLIED)
    if isinstance(raw, str):
        try:
            applied = json.loads(raw)
        except ValueError:
            annotations[_LAST_APPLIED] = REDACTED  # cannot look inside: keep nothing
        else:
            if isinstance(applied, dict):
                _redact(applied)
            annotations[_LAST_APPLIED] = json.dumps(applied, separators=(",", ":"))
    return out


def _redact(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("kind") == "Secret":
            for key in ("data", "stringData"):
                if isinstance(node.get(key), dict):
                    node[key] = dict.fromkeys(node[key], REDACTED)
        name = node.get("name")
        if isinstance(name, str) and isinstance(node.get("value"), str) and is_secret_name(name):
            node["value"] = REDACTED
        for value in node.values():
            _redact(value)
    elif isinstance(node, list):
        for item in node:
            _redact(item)


__all__ = ["REDACTED", "SECRET_NAME", "is_secret_name", "redact_object"]
