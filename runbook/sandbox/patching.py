"""PLACEHOLDER — being written by the patch/validation helper. Signatures are the contract."""

from __future__ import annotations

from typing import Any


class PatchError(ValueError):
    """A patch that cannot be applied; ``status`` is the HTTP status the server answers with."""

    def __init__(self, message: str, status: int = 422) -> None:
        self.status = status
        super().__init__(message)


def json_patch(obj: dict[str, Any], operations: Any) -> dict[str, Any]:
    raise NotImplementedError


def merge_patch(obj: dict[str, Any], patch: Any) -> dict[str, Any]:
    raise NotImplementedError


def strategic_merge_patch(obj: dict[str, Any], patch: Any, kind_key: str) -> dict[str, Any]:
    raise NotImplementedError
