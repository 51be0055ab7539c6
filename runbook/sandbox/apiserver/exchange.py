"""What goes into and out of one request: the parsed route, the users, query parameters and bodies,
JSON and ``Status`` answers, and answers a fault drops."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, NoReturn

import orjson
import yaml
from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import BytesPayload

from runbook.errors import InputLimitExceeded
from runbook.kinds import ResourceKind
from runbook.safeload import check_depth, load_json, load_yaml
from runbook.sandbox.apiserver import protobuf
from runbook.sandbox.apiserver.faults import Fault
from runbook.sandbox.registry import status
from runbook.sandbox.registry.cluster import MAX_BODY, RequestContext
from runbook.sandbox.registry.status import ApiError

Obj = dict[str, Any]


log = logging.getLogger("runbook.sandbox")


TRUE_VALUES = ("true", "1")


#: events a truncate-watch fault lets through before it cuts the stream
TRUNCATE_AFTER = web.RequestKey("truncate_after", int)


#: a drop-response fault fired: the request is processed, then the connection closes unanswered
DROP_RESPONSE = web.RequestKey("drop_response", bool)


#: the Kubernetes verb of the request, once routed (for the request log)
VERB = web.RequestKey("verb", str)


#: the deprecation warning of the API version a request used (sent as a ``Warning`` header)
DEPRECATED = web.RequestKey("deprecated", str)


@dataclass
class Route:
    """A resource request, parsed from the path."""

    kind: ResourceKind
    version: str
    namespace: str | None
    name: str | None
    subresource: str
    verb: str


@dataclass
class Users:
    """Bearer tokens → user names; ``readonly`` users get 403 on every write."""

    tokens: dict[str, str]
    readonly: frozenset[str]


class DroppedAnswer(Exception):
    """A fault dropped the connection: there is no response to send."""


def _not_a_dropped_answer(record: logging.LogRecord) -> bool:
    # aiohttp logs every exception a handler raises as "Error handling request" with a traceback;
    # a drop that a fault asked for is no error of the server's
    return not (record.exc_info and isinstance(record.exc_info[1], DroppedAnswer))


logging.getLogger("aiohttp.server").addFilter(_not_a_dropped_answer)


def drop_answer(request: web.Request) -> NoReturn:
    """Close the connection instead of answering (the request was processed); raises DroppedAnswer.

    The request log shows status 0 for it, as for ``drop``: no answer left the server.
    """
    if request.transport is not None:
        request.transport.abort()
    raise DroppedAnswer()


#: kube-apiserver's JSON serializer encodes with Go's json.Encoder, which ends every body with "\n"
JSON_NEWLINE = orjson.OPT_APPEND_NEWLINE


async def warn_deprecated(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer to a deprecated kind carries its warning, errors and watches included, as
    the deprecation filter adds it before any handler runs."""
    warning = request.get(DEPRECATED)
    if warning:
        response.headers.add("Warning", f'299 - "{warning}"')


#: Large answers are handed to the TLS connection in slices of this size. Given whole, OpenSSL
#: encrypts an answer into a memory buffer as large as it (4 MB for a page of 500 injected pods),
#: 2.5x slower than in slices (measured: 4.0 vs 1.5 ms for 4 MB; a fresh buffer's pages are
#: faulted in), and the client receives nothing until all of it is encrypted.
SLICE = 256 * 1024


class _SlicedBytes(BytesPayload):
    """A bytes body written in :data:`SLICE` slices (its length still sent as Content-Length)."""

    async def write(self, writer: AbstractStreamWriter) -> None:
        view = memoryview(self._value)
        for start in range(0, len(view), SLICE):
            await writer.write(view[start:start + SLICE])


def bytes_response(body: bytes, code: int = 200,
                   content_type: str = "application/json") -> web.Response:
    """An answer of ``body``, sliced when it is large (:data:`SLICE`)."""
    response = web.Response(body=_SlicedBytes(body) if len(body) > SLICE else body, status=code)
    response.headers["Content-Type"] = content_type
    return response


def json_response(obj: Any, warnings: list[str] | None = None, code: int = 200,
          content_type: str = "application/json") -> web.Response:
    response = bytes_response(orjson.dumps(obj, option=JSON_NEWLINE), code, content_type)
    for warning in warnings or ():
        response.headers.add("Warning", f'299 - "{warning}"')
    return response


def status_response(exc: ApiError) -> web.Response:
    if exc.plain_text:
        # Go's http.Error: text/plain, the message and a newline
        response = web.Response(text=exc.message + "\n", status=exc.code,
                                content_type="text/plain", charset="utf-8")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.update(exc.headers)
        return response
    response = json_response(exc.status(), code=exc.code)
    response.headers.update(exc.headers)
    return response


def fault_error(fault: Fault, route: Route) -> ApiError:
    """The answer of an ``error`` fault: what kube-apiserver sends for that status.

    Without a message of its own, a fault answers in the real server's words and shape
    (apimachinery ``pkg/api/errors``): 409 is the registry's optimistic-concurrency Conflict
    (``Operation cannot be fulfilled on <resource> "<name>": the object has been modified …``,
    details name/group/kind), 500 ``Internal error occurred: …``, 503 ServiceUnavailable, 504
    ``Timeout: …``. A 429 without a message is the max-in-flight / priority-and-fairness
    filter's answer, which is plain text, not a Status: ``http.Error(w, "Too many requests,
    please try again later.", 429)`` with ``Retry-After`` (apiserver ``filters/maxinflight.go``).
    """
    reasons = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
               409: "Conflict", 410: "Expired", 422: "Invalid", 429: "TooManyRequests",
               500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = str(fault.retry_after)
    if not fault.message:
        if fault.status == 409 and route.name:
            error = status.conflict(route.kind, route.name, status.STALE)
            error.headers.update(headers)
            return error
        if fault.status == 429:
            headers.setdefault("Retry-After", "1")  # the filter always sends one
            return ApiError(429, "TooManyRequests", "Too many requests, please try again later.",
                            headers=headers, plain_text=True)
        if fault.status == 500:
            return ApiError(500, "InternalError", "Internal error occurred: injected fault",
                            {"causes": [{"message": "injected fault"}]}, headers)
    default = {503: "the server is currently unable to handle the request",
               504: "Timeout: request did not complete within requested timeout - context "
                    "deadline exceeded"}.get(fault.status, "injected fault")
    details: Obj | None = None
    if fault.retry_after is not None:
        details = {"retryAfterSeconds": fault.retry_after}
    return ApiError(fault.status, reasons.get(fault.status, "InternalError"),
                    fault.message or default, details, headers)


def partial_metadata(obj: Obj) -> Obj:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata", {})}


def int_param(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise status.bad_request(f'invalid value for {name}: "{value}"') from None


#: the options kind whose validation checks a request's query, by method
_OPTIONS_KIND = {"POST": "CreateOptions", "PUT": "UpdateOptions", "PATCH": "PatchOptions",
                 "DELETE": "DeleteOptions"}


def request_context(request: web.Request, user: str) -> RequestContext:
    query = request.query
    dry_run = query.getall("dryRun", [])
    if any(value != "All" for value in dry_run):
        # the options object's validation (ValidateCreateOptions …): 422 on the whole list
        options = _OPTIONS_KIND.get(request.method, "CreateOptions")
        shown = "[" + ",".join(json.dumps(v) for v in dry_run) + "]"
        detail = f'Unsupported value: {shown}: supported values: "All"'
        raise ApiError(422, "Invalid", f'{options}.meta.k8s.io "" is invalid: dryRun: {detail}',
                       {"group": "meta.k8s.io", "kind": options, "causes": [
                           {"reason": "FieldValueNotSupported", "message": detail,
                            "field": "dryRun"}]})
    validation = query.get("fieldValidation", "Warn") or "Warn"
    if validation not in ("Strict", "Warn", "Ignore"):
        raise status.bad_request(f'fieldValidation: Unsupported value: "{validation}": supported '
                                 'values: "Ignore", "Strict", "Warn"')
    manager = query.get("fieldManager") or None
    if manager is None and request.method in ("POST", "PUT", "PATCH"):
        # the real server derives a manager from the user agent's first word
        agent = request.headers.get("User-Agent", "unknown").split("/")[0].split(" ")[0]
        manager = agent or "unknown"
    return RequestContext(user=user, dry_run=bool(dry_run), field_manager=manager,
                          field_validation=validation,
                          force=query.get("force", "").lower() in TRUE_VALUES)


async def read_body(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise status.too_large(MAX_BODY) from None


def decode_json_body(body: bytes, request: web.Request) -> Any:
    """The request body as an object, bounded (``runbook.safeload``): parsed only once the request
    is authenticated and authorised, as kube-apiserver decodes after its filters."""
    content_type = request.headers.get("Content-Type", "application/json").split(";")[0].strip()
    try:
        if content_type == protobuf.MEDIA_TYPE:
            try:
                decoded = protobuf.decode_object(body)
            except protobuf.ProtobufError as exc:
                raise ApiError(415, "UnsupportedMediaType",
                               f"{exc}; send application/json") from None
            check_depth(decoded, "the request body")
            return decoded
        if content_type in ("application/yaml", "application/x-yaml"):
            try:
                return load_yaml(body, "the request body")
            except (yaml.YAMLError, UnicodeDecodeError) as exc:
                raise status.bad_request(f"error converting YAML to JSON: {exc}") from None
        if content_type not in ("application/json", "", "*/*"):
            raise status.unsupported_media_type(["application/json", "application/yaml",
                                                 protobuf.MEDIA_TYPE])
        if not body.strip():
            raise status.bad_request("the body of the request was empty")
        try:
            return load_json(body, "the request body")
        except orjson.JSONDecodeError as exc:
            raise status.bad_request(
                f"couldn't get version/kind; json parse error: {exc}") from None
    except InputLimitExceeded as exc:
        raise status.bad_request(exc.message) from None


async def delete_options(request: web.Request, ctx: RequestContext) -> Obj:
    raw = await read_body(request)
    options: Obj = {}
    if raw.strip():
        decoded = decode_json_body(raw, request)
        if not isinstance(decoded, dict):
            raise status.bad_request("DeleteOptions must be an object")
        options = decoded
    if "propagationPolicy" in request.query:
        options["propagationPolicy"] = request.query["propagationPolicy"]
    if "gracePeriodSeconds" in request.query:
        options["gracePeriodSeconds"] = int_param(request, "gracePeriodSeconds")
    grace = options.get("gracePeriodSeconds")
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
        raise status.bad_request("gracePeriodSeconds must be an integer")
    if options.get("orphanDependents") is True and not options.get("propagationPolicy"):
        options["propagationPolicy"] = "Orphan"
    if "All" in (options.get("dryRun") or []):
        ctx.dry_run = True
    return options
