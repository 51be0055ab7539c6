"""What every patch engine shares: the error the server turns into a Status, the limits, a fast JSON copy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runbook.errors import Cause

JSONDict = dict[str, Any]

#: the media types a custom resource accepts for PATCH (apiextensions-apiserver crdHandler)
CUSTOM_RESOURCE_PATCH_TYPES: tuple[str, ...] = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
)

#: kube-apiserver's limit on JSON patch operations (``maxJSONPatchOperations``)
MAX_JSON_PATCH_OPERATIONS = 10000

_REASONS = {400: "BadRequest", 409: "Conflict", 413: "RequestEntityTooLarge",
            415: "UnsupportedMediaType", 422: "Invalid", 500: ""}

#: ``NewGenericServerResponse(422, …)`` says this and puts the real error in a cause
_GENERIC_422 = "the server rejected our request due to an error in our request"


class PatchError(ValueError):
    """A patch that cannot be applied; ``status`` is the HTTP status the server answers with.

    Attributes:
        status: HTTP status code (400, 409, 413, 415, 422 or 500).
        reason: the Status ``reason`` (``BadRequest``, ``Invalid``, ``Conflict``,
            ``UnsupportedMediaType`` …; ``""`` for the apiserver's reason-less 500s).
        causes: the Status ``details.causes`` (field ``""`` when the server gives none).
    """

    def __init__(self, message: str, status: int = 422, *, reason: str | None = None,
                 causes: Sequence[Cause] = (), detail: str = "") -> None:
        self.status = status
        self.reason = _REASONS.get(status, "") if reason is None else reason
        self.causes = list(causes)
        #: the patch library's own message where the answer does not carry it (kubectl --local
        #: prints it; the server's generic 422 does not)
        self.detail = detail
        super().__init__(message)

    @property
    def message(self) -> str:
        return str(self)


def _unprocessable(detail: str) -> PatchError:
    """``errors.NewGenericServerResponse(422, …)`` as the JSON patch handler builds it: the
    library's ``detail`` reaches no client (measured on kube-apiserver 1.37: empty details)."""
    return PatchError(_GENERIC_422, 422, reason="Invalid", detail=detail)


def copy_json(value: Any) -> Any:
    # JSON trees only hold dicts, lists and scalars: this is several times faster than deepcopy.
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value


def prune_nulls(value: Any) -> Any:
    """``value`` with the null members of every object in it removed, in place: what both merge
    patches do to the values they add (a null there deletes nothing, so it is dropped)."""
    if isinstance(value, dict):
        for key in [k for k, v in value.items() if v is None]:
            del value[key]
        for v in value.values():
            prune_nulls(v)
    elif isinstance(value, list):
        for v in value:
            prune_nulls(v)
    return value
