"""``kind: Status`` error answers, shaped like k8s.io/apimachinery/pkg/api/errors builds them.

Every failure inside the sandbox is an :class:`ApiError`; the HTTP layer turns it into the JSON
body and status code. The constructors below mirror ``NewNotFound``, ``NewAlreadyExists``,
``NewConflict``, ``NewInvalid``, ``NewForbidden``, ``NewBadRequest``, ``NewInternalError``,
``NewMethodNotSupported``, ``NewUnauthorized`` and ``NewResourceExpired`` (apimachinery
``pkg/api/errors/errors.go``): same reason, same code, same message wording, same ``details``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runbook.errors import Cause
from runbook.kinds import ResourceKind


class ApiError(Exception):
    """A request the sandbox refuses; ``status()`` is the ``kind: Status`` body to send.

    Attributes:
        code: HTTP status code.
        reason: the Status ``reason`` (``NotFound``, ``Invalid`` …).
        message: the Status ``message``.
        details: the Status ``details`` (name, group, kind, causes, retryAfterSeconds).
        headers: extra HTTP headers (``Retry-After``).
        plain_text: answer with the message as ``text/plain`` instead of a Status (what the
            apiserver's filters send, e.g. the max-in-flight 429).
    """

    def __init__(self, code: int, reason: str, message: str,
                 details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None, *, plain_text: bool = False) -> None:
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}
        self.plain_text = plain_text
        super().__init__(message)

    def status(self) -> dict[str, Any]:
        """The ``kind: Status`` body."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:  # metav1.Status: `reason,omitempty`
            body["reason"] = self.reason
        if self.details is not None:  # an empty details object is written as `{}`
            body["details"] = self.details
        body["code"] = self.code
        return body


def _qualified(kind: ResourceKind) -> str:
    """``pods`` / ``deployments.apps``: how messages name a resource (GroupResource.String)."""
    return kind.key


def _details(kind: ResourceKind, name: str | None, kind_field: str | None = None,
             causes: Sequence[Cause] = ()) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if name:
        d["name"] = name
    if kind.group:
        d["group"] = kind.group
    d["kind"] = kind_field if kind_field is not None else kind.plural
    if causes:
        d["causes"] = [{"reason": c.reason, "message": c.message, "field": c.field} for c in causes]
    return d


def not_found(kind: ResourceKind, name: str) -> ApiError:
    """404 NotFound: ``pods "x" not found``."""
    return ApiError(404, "NotFound", f'{_qualified(kind)} "{name}" not found', _details(kind, name))


def already_exists(kind: ResourceKind, name: str) -> ApiError:
    """409 AlreadyExists: ``pods "x" already exists``."""
    return ApiError(409, "AlreadyExists", f'{_qualified(kind)} "{name}" already exists',
                    _details(kind, name))


def conflict(kind: ResourceKind, name: str, why: str) -> ApiError:
    """409 Conflict: ``Operation cannot be fulfilled on pods "x": <why>``."""
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {_qualified(kind)} "{name}": {why}',
                    _details(kind, name))


STALE = "the object has been modified; please apply your changes to the latest version and try again"


def invalid(kind: ResourceKind, name: str, causes: Sequence[Cause]) -> ApiError:
    """422 Invalid: ``Pod "x" is invalid: [a: …, b: …]`` (brackets only for several causes)."""
    texts = [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    group_kind = f"{kind.kind}.{kind.group}" if kind.group else kind.kind  # GroupKind.String()
    return ApiError(422, "Invalid", f'{group_kind} "{name}" is invalid: {joined}',
                    _details(kind, name, kind_field=kind.kind, causes=causes))


def unconditional_update(kind: ResourceKind, name: str) -> ApiError:
    """422 for an update without a resourceVersion where the registry demands one; the message
    names the resource, not the kind (the generic registry's ``NewInvalid(qualifiedResource…)``)."""
    cause = Cause("metadata.resourceVersion", "FieldValueInvalid",
                  "Invalid value: 0: must be specified for an update")
    return ApiError(422, "Invalid", f'{_qualified(kind)} "{name}" is invalid: '
                    f"{cause.field}: {cause.message}", _details(kind, name, causes=[cause]))


def forbidden(kind: ResourceKind, name: str | None, why: str,
              causes: Sequence[Cause] = ()) -> ApiError:
    """403 Forbidden: ``pods "x" is forbidden: <why>``."""
    what = f'{_qualified(kind)} "{name}"' if name else _qualified(kind)
    return ApiError(403, "Forbidden", f"{what} is forbidden: {why}",
                    _details(kind, name, causes=causes))


def rbac_forbidden(kind: ResourceKind, name: str | None, user: str, verb: str,
                   namespace: str | None, subresource: str = "") -> ApiError:
    """The authorizer's 403, e.g. ``… User "x" cannot patch resource "pods" in API group "" in the
    namespace "n"`` (``at the cluster scope`` for cluster-wide requests)."""
    resource = f"{kind.plural}/{subresource}" if subresource else kind.plural
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    why = f'User "{user}" cannot {verb} resource "{resource}" in API group "{kind.group}" {scope}'
    return forbidden(kind, name, why)


def namespace_terminating(kind: ResourceKind, name: str, namespace: str) -> ApiError:
    """403 for a create in a namespace that is being deleted (cause NamespaceTerminating)."""
    cause = Cause("metadata.namespace", "NamespaceTerminating",
                  f"namespace {namespace} is being terminated")
    return forbidden(kind, name, f"unable to create new content in namespace {namespace} because "
                     "it is being terminated", causes=[cause])


def bad_request(message: str) -> ApiError:
    """400 BadRequest with ``message``."""
    return ApiError(400, "BadRequest", message)


def internal_error(message: str) -> ApiError:
    """500 InternalError: ``Internal error occurred: <message>`` (how webhook failures surface)."""
    return ApiError(500, "InternalError", f"Internal error occurred: {message}",
                    {"causes": [{"message": message}]})


def method_not_supported(kind: ResourceKind | None, action: str) -> ApiError:
    """405 MethodNotAllowed (``NewMethodNotSupported``)."""
    if kind is None:
        return ApiError(405, "MethodNotAllowed",
                        "the server does not allow this method on the requested resource")
    return ApiError(405, "MethodNotAllowed", f"{action} is not supported on resources of kind "
                    f'"{_qualified(kind)}"', _details(kind, None))


def unauthorized() -> ApiError:
    """401 Unauthorized (no or an unknown bearer token)."""
    return ApiError(401, "Unauthorized", "Unauthorized")


def resource_not_found() -> ApiError:
    """404 for a URL that names no resource the server serves."""
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def expired(message: str) -> ApiError:
    """410 Expired (``NewResourceExpired``)."""
    return ApiError(410, "Expired", message)


def too_old(requested: int, oldest: int) -> ApiError:
    """410 of a watch whose resourceVersion the history no longer holds (the watch cache's)."""
    return expired(f"too old resource version: {requested} ({oldest})")


CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can start "
    "a new list without the continue parameter, or use the continue token in this response to "
    "retrieve the remainder of the results. Continuing with the provided token results in an "
    "inconsistent list - objects that were created, modified, or deleted between the time the "
    "first chunk was returned and now may show up in the list."
)


def unsupported_media_type(accepted: Sequence[str]) -> ApiError:
    """415 UnsupportedMediaType listing what is accepted."""
    return ApiError(415, "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types "
                    f"include: {', '.join(accepted)}")


def route_unsupported_media_type() -> ApiError:
    """The router's 415 for a Content-Type the route does not consume (go-restful answers it
    before any handler runs; measured on kube-apiserver 1.37)."""
    return ApiError(415, "UnsupportedMediaType", "415: Unsupported Media Type", {})


def too_large(limit: int) -> ApiError:
    """413 RequestEntityTooLarge (the body limit is 3 MiB, as kube-apiserver's)."""
    return ApiError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")
