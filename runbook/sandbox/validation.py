"""PLACEHOLDER — being written by the patch/validation helper. Signatures are the contract."""

from __future__ import annotations

from typing import Any

from runbook.errors import Cause
from runbook.kinds import ResourceKind


def validate_object(kind: ResourceKind, obj: dict[str, Any], old: dict[str, Any] | None = None
                    ) -> list[Cause]:
    return []
