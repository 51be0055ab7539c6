"""PLACEHOLDER — being written by the patch/validation helper. Signatures are the contract."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from runbook.kinds import ResourceKind


def to_table(kind: ResourceKind, objects: list[dict[str, Any]], now: datetime,
             crd: dict[str, Any] | None = None, wide: bool = False) -> dict[str, Any]:
    raise NotImplementedError
