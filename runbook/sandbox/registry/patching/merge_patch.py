"""JSON merge patch (RFC 7386), as ``evanphx/json-patch``'s ``MergePatch`` applies it for kube-apiserver."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from runbook.errors import Cause
from runbook.sandbox.registry.patching.common import JSONDict, PatchError, copy_json, prune_nulls


def merge_patch(obj: JSONDict, patch: Any) -> JSONDict:
    """Apply an RFC 7386 JSON merge patch (``application/merge-patch+json``).

    ``null`` deletes a member, objects merge recursively, everything else (lists included)
    replaces. Nulls inside values that are added or that replace a non-object are pruned, as
    evanphx/json-patch's ``MergePatch`` does.

    Raises:
        PatchError: 400 ``Invalid JSON Patch`` when the patch is not an object; 422 when it is a
            list (the server then fails to decode the result).
    """
    if isinstance(patch, list):
        raise PatchError(" \"\" is invalid: patch: Invalid value: "
                         f"{json.dumps(prune_nulls(patch), separators=(',', ':'))!r}: couldn't "
                         "get version/kind; json parse error: json: cannot unmarshal array into "
                         "Go value of type struct { APIVersion string \"json:\\\"apiVersion,"
                         "omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }", 422,
                         causes=[Cause(field="patch", reason="FieldValueInvalid",
                                       message="couldn't get version/kind")])
    if not isinstance(patch, dict):
        raise PatchError("Invalid JSON Patch", 400)
    result = copy_json(obj)
    _merge_docs(result, patch)
    return result


def _merge_docs(doc: JSONDict, patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            doc.pop(key, None)
            continue
        current = doc.get(key)
        if current is None:
            doc[key] = prune_nulls(copy_json(value))
        elif isinstance(current, dict) and isinstance(value, dict):
            _merge_docs(current, value)
        elif isinstance(current, dict):
            doc[key] = copy_json(value)
        else:
            doc[key] = prune_nulls(copy_json(value))
