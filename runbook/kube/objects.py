"""Small facts about raw API objects that several layers need."""

from __future__ import annotations

import copy
from typing import Any

#: fields the server owns: not shown in diffs, not compared, not restored
SERVER_FIELDS = ("resourceVersion", "uid", "generation", "creationTimestamp", "managedFields",
                 "selfLink")


def comparable(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """A deep copy without server-owned metadata and without ``status``.

    Two objects are "the same configuration" when their comparable forms are equal.
    """
    if obj is None:
        return None
    out = copy.deepcopy(obj)
    meta = out.get("metadata") or {}
    for key in SERVER_FIELDS:
        meta.pop(key, None)
    out.pop("status", None)
    return out
