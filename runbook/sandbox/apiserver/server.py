"""The sandbox's HTTP front: kube-apiserver's REST API over :class:`~.cluster.Cluster` (aiohttp).

One catch-all handler routes by path, as the real server's mux does:

* ``/version``, ``/healthz``, ``/livez``, ``/readyz`` — readable without credentials (as the
  ``system:public-info-viewer`` role allows); everything else needs the bearer token (401);
* discovery (``/api``, ``/apis``, group and group-version documents, aggregated discovery) and
  ``/openapi/v3`` (see ``runbook.sandbox.registry.discovery``); ``/openapi/v2`` is 404 (LIMITS);
* ``/api/v1/…`` and ``/apis/{group}/{version}/…`` resource paths: get, list, watch, create,
  update, patch, delete, deletecollection, and the ``status``, ``scale`` and ``log``
  subresources;
* ``/sandbox/v1/…`` — the admin API: ``status``, ``advance``, ``settle``, ``reset``,
  ``faults``, ``requests``.

Every request goes through the fault table (``runbook.sandbox.apiserver.faults``) once its verb and
resource are known, and into the request log when answered. Errors are ``kind: Status`` bodies
(``runbook.sandbox.registry.status``). Lists are built by joining each object's cached JSON, which is what
makes a 500-item page cheap; ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` gets a
``meta.k8s.io/v1`` Table from ``runbook.sandbox.apiserver.printing`` (``includeObject`` honoured).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import urllib.parse
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

import orjson
import yaml
from aiohttp import web

from runbook.errors import InputLimitExceeded
from runbook.kinds import ENDPOINTS, NAMESPACES, PODS, ResourceKind
from runbook.safeload import check_depth, load_json, load_yaml
from runbook.sandbox.apiserver import printing, protobuf
from runbook.sandbox.apiserver.faults import Fault, FaultTable, RequestLog, RequestRecord, number_in_range
from runbook.sandbox.registry import discovery, status
from runbook.sandbox.registry.cluster import MAX_BODY, SELF_SUBJECT_ACCESS_REVIEWS, Cluster, RequestContext
from runbook.sandbox.registry.status import ApiError
from runbook.sandbox.storage.logs import serve_log

if TYPE_CHECKING:
    from runbook.sandbox.sandbox import Sandbox

Obj = dict[str, Any]
log = logging.getLogger("runbook.sandbox")

KUBE_VERSION = {
    "major": "1", "minor": "32", "gitVersion": "v1.32.0", "gitCommit": "sandbox",
    "gitTreeState": "clean", "buildDate": "2024-12-11T00:00:00Z", "goVersion": "go1.23.3",
    "compiler": "gc", "platform": "linux/amd64",
}
_PUBLIC = ("/version", "/healthz", "/livez", "/readyz")
_WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
_VERBS = {
    ("GET", False): "list", ("GET", True): "get", ("POST", False): "create",
    ("PUT", True): "update", ("PATCH", True): "patch", ("DELETE", True): "delete",
    ("DELETE", False): "deletecollection",
}
_TRUE = ("true", "1")
#: kinds whose DELETE answers with the deleted object rather than a Status (their registries set
#: ReturnDeletedObject, as the OpenAPI return types say: V1Pod, V1Service, V1ServiceAccount,
#: V1ResourceQuota); custom resources too
_DELETE_RETURNS_OBJECT = frozenset({"pods", "services", "serviceaccounts", "resourcequotas"})
#: events a truncate-watch fault lets through before it cuts the stream
TRUNCATE_AFTER = web.RequestKey("truncate_after", int)
#: a drop-response fault fired: the request is processed, then the connection closes unanswered
DROP_RESPONSE = web.RequestKey("drop_response", bool)
#: the Kubernetes verb of the request, once routed (for the request log)
VERB = web.RequestKey("verb", str)
#: the deprecation warning of the API version a request used (sent as a ``Warning`` header)
DEPRECATED = web.RequestKey("deprecated", str)
#: what kube-apiserver's deprecation filter warns for a served but deprecated kind
_DEPRECATIONS = {ENDPOINTS.key: "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 "
                                "EndpointSlice"}


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


class ApiServer:
    """The aiohttp application around a :class:`Cluster`.

    Args:
        cluster: what it serves.
        users: who may call it.
        requests: the request log to append to.
        faults: the fault table to consult.
        sandbox: the owning :class:`~.sandbox.Sandbox` (for the admin API's advance/settle/reset).
    """

    def __init__(self, cluster: Cluster, users: Users, requests: RequestLog, faults: FaultTable,
                 sandbox: Sandbox | None = None) -> None:
        self.cluster = cluster
        self.users = users
        self.requests = requests
        self.faults = faults
        self.sandbox = sandbox
        #: seconds between BOOKMARK events of watches that asked for them
        self.bookmark_interval = 60.0
        self.stopping = asyncio.Event()
        self.app = web.Application(client_max_size=MAX_BODY)
        self.app.router.add_route("*", "/{tail:.*}", self.handle)
        self.app.on_response_prepare.append(_warn_deprecated)

    # ------------------------------------------------------------------ entry

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Every request: authenticate, route, fault, answer, log."""
        started = time.perf_counter()
        user, verb, code = "", "", 0
        try:
            user = self._authenticate(request)
            response, verb = await self._dispatch(request, user)
            code = response.status
            if request.get(DROP_RESPONSE):
                code = 0
                _drop_answer(request)
            return response
        except ApiError as exc:
            code = exc.code
            verb = request.get(VERB, "")
            if request.get(DROP_RESPONSE):
                code = 0
                _drop_answer(request)
            return _status_response(exc)
        except _Dropped:
            code = 0
            raise
        except (web.HTTPException, asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as exc:
            code = 500
            log.exception("internal error serving %s %s", request.method, request.path)
            return _status_response(status.internal_error(f"{type(exc).__name__}: {exc}"))
        finally:
            self.requests.add(RequestRecord(
                request.method, request.path, request.query_string, code,
                round((time.perf_counter() - started) * 1000, 3), user, verb,
                self.cluster.clock.timestamp()))

    def _authenticate(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            user = self.users.tokens.get(header[7:].strip())
            if user is not None:
                return user
            raise status.unauthorized()
        if request.path in _PUBLIC:
            return "system:anonymous"
        raise status.unauthorized()

    async def _dispatch(self, request: web.Request, user: str) -> tuple[web.StreamResponse, str]:
        path = request.path.rstrip("/") or "/"
        parts = [urllib.parse.unquote(p) for p in path.split("/")[1:]] if path != "/" else []
        if path in ("/healthz", "/livez", "/readyz"):
            return web.Response(text="ok"), ""
        if path == "/version":
            return _json(KUBE_VERSION), ""
        if not parts:
            return _json({"paths": discovery.root_paths(self.cluster.kinds)}), ""
        if parts[:1] == ["sandbox"]:
            return await self._admin(request, user, parts[1:]), ""
        if parts[:1] == ["openapi"]:
            return self._openapi(parts[1:]), ""
        if (parts[:1] == ["api"] and len(parts) <= 2) or (parts[:1] == ["apis"] and len(parts) <= 3):
            return self._discovery(request, parts), ""
        route = self._route(request, parts)
        request[VERB] = route.verb
        if route.kind.key in _DEPRECATIONS:
            request[DEPRECATED] = _DEPRECATIONS[route.kind.key]
        if route.kind.key == SELF_SUBJECT_ACCESS_REVIEWS.key:
            return await self._access_review(request, route, user), route.verb
        self._authorize(route, user)
        await self._faults(request, route)
        ctx = _context(request, user)
        return await self._resource(request, route, ctx), route.verb

    # ------------------------------------------------------------------ routing

    def _route(self, request: web.Request, parts: list[str]) -> Route:
        if parts[0] == "api" and parts[1:2] == ["v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif parts[0] == "apis" and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise status.resource_not_found()
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
            if group == "" and rest and rest[0] in NAMESPACES.subresources:
                rest = ["namespaces", namespace, *rest]
                namespace = None
        plural, name, sub = rest[0], (rest[1] if len(rest) > 1 else None), (
            rest[2] if len(rest) > 2 else "")
        if len(rest) > 3:
            raise status.resource_not_found()
        kind = self.cluster.resolve(group, version, plural)
        if sub and sub not in kind.subresources:
            raise status.resource_not_found()
        if kind.namespaced and name is not None and namespace is None:
            raise status.resource_not_found()
        if not kind.namespaced and namespace is not None:
            raise status.resource_not_found()
        verb = _VERBS.get((request.method, name is not None))
        if verb is None:
            raise status.method_not_supported(None, request.method)
        if verb == "list" and request.query.get("watch", "").lower() in _TRUE:
            verb = "watch"
        if verb not in kind.verbs and not sub:
            raise status.method_not_supported(kind, verb)
        return Route(kind, version, namespace, name, sub, verb)

    def allowed(self, user: str, verb: str) -> bool:
        """The sandbox's whole authorization policy: the read-only user may not write."""
        return not (user in self.users.readonly and verb in _WRITE_VERBS)

    def _authorize(self, route: Route, user: str) -> None:
        if not self.allowed(user, route.verb):
            raise status.rbac_forbidden(route.kind, route.name, user, route.verb, route.namespace,
                                        route.subresource)

    async def _access_review(self, request: web.Request, route: Route, user: str
                             ) -> web.StreamResponse:
        """``kubectl auth can-i``: a SelfSubjectAccessReview answered from :meth:`allowed`."""
        if route.verb != "create" or route.name is not None:
            raise status.method_not_supported(route.kind, route.verb)
        review = _decode_json(await _read_body(request), request)
        if not isinstance(review, dict) or not isinstance(review.get("spec"), dict):
            raise status.bad_request("the body must be a SelfSubjectAccessReview with a spec")
        attrs = review["spec"].get("resourceAttributes") or review["spec"].get(
            "nonResourceAttributes") or {}
        verb = str(attrs.get("verb", ""))
        allowed = self.allowed(user, verb)
        review["status"] = {"allowed": allowed,
                            "reason": "the sandbox user may do this" if allowed else ""}
        review.setdefault("metadata", {})["creationTimestamp"] = None
        return _json(review, code=201)

    async def _faults(self, request: web.Request, route: Route) -> None:
        fired = self.faults.pick(route.verb, route.kind.plural, route.kind.key, route.namespace,
                                 route.name, request.path)
        for fault in fired:
            if fault.latency:
                await asyncio.sleep(fault.latency)  # the injected latency itself
            if fault.action == "drop":
                if request.transport is not None:
                    request.transport.abort()
                raise _Dropped()
            if fault.action == "drop-response" and route.verb != "watch":
                request[DROP_RESPONSE] = True
            if fault.action == "truncate-watch":
                request[TRUNCATE_AFTER] = fault.after_events
            if fault.action == "error":
                raise _fault_error(fault, route)

    # ------------------------------------------------------------------ resources

    async def _resource(self, request: web.Request, route: Route, ctx: RequestContext
                        ) -> web.StreamResponse:
        cluster, kind = self.cluster, route.kind
        if route.verb == "watch":
            return await self._watch(request, route)
        if route.subresource == "log":
            return await self._pod_log(request, route)
        if route.verb == "list":
            selection = cluster.selection(kind, request.query.get("labelSelector"),
                                          request.query.get("fieldSelector"))
            page = cluster.list_page(kind, route.namespace, selection,
                                     limit=_int_param(request, "limit"),
                                     continue_token=request.query.get("continue"))
            return self._list_response(request, route, page)
        if route.verb == "get":
            assert route.name is not None
            if route.subresource == "scale":
                return _json(cluster.get_scale(kind, route.namespace, route.name))
            obj = cluster.get(kind, route.namespace, route.name)
            return self._object_response(request, route, obj)
        if route.verb == "deletecollection":
            selection = cluster.selection(kind, request.query.get("labelSelector"),
                                          request.query.get("fieldSelector"))
            options = await _delete_options(request, ctx)
            deleted = cluster.delete_collection(kind, route.namespace, selection, ctx,
                                                propagation=options.get("propagationPolicy"))
            items = [cluster.present(kind, o, route.version) for o in deleted]
            return _json({"kind": kind.list_kind, "apiVersion": kind.api_version_for(route.version),
                          "metadata": {"resourceVersion": str(cluster.store.resource_version)},
                          "items": items}, ctx.warnings)
        assert route.verb in ("create",) or route.name is not None
        name = route.name or ""
        if route.verb == "delete":
            options = await _delete_options(request, ctx)
            obj, gone = cluster.delete(kind, route.namespace, name, ctx,
                                       propagation=options.get("propagationPolicy"),
                                       preconditions=options.get("preconditions"),
                                       grace_period=options.get("gracePeriodSeconds"))
            if gone and kind.key not in _DELETE_RETURNS_OBJECT and cluster.crd_for(kind) is None:
                details: Obj = {"name": name, "kind": kind.plural,
                                "uid": obj["metadata"].get("uid", "")}
                if kind.group:
                    details["group"] = kind.group
                return _json({"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Success", "details": details}, ctx.warnings)
            return _json(cluster.present(kind, obj, route.version), ctx.warnings)
        body = await _read_body(request)
        if route.verb == "patch":
            obj, created = cluster.patch(kind, route.namespace, name,
                                         request.headers.get("Content-Type", ""), body, ctx,
                                         subresource=route.subresource)
            return _json(self._written(route, obj), ctx.warnings, 201 if created else 200)
        decoded = _decode_json(body, request)
        if route.verb == "create":
            if route.subresource:
                raise status.method_not_supported(kind, "create")
            obj = cluster.create(kind, route.namespace, decoded, ctx)
            return _json(cluster.present(kind, obj, route.version), ctx.warnings, 201)
        obj = cluster.update(kind, route.namespace, name, decoded, ctx,
                             subresource=route.subresource)
        return _json(self._written(route, obj), ctx.warnings)

    def _written(self, route: Route, obj: Obj) -> Obj:
        """The answer to a write: the object in the version asked for; a ``scale`` write answers
        with the autoscaling/v1 Scale as it is (kubectl decodes it by that apiVersion)."""
        if route.subresource == "scale":
            return obj
        return self.cluster.present(route.kind, obj, route.version)

    def _list_response(self, request: web.Request, route: Route, page: Any) -> web.StreamResponse:
        cluster, kind = self.cluster, route.kind
        meta: Obj = {"resourceVersion": page.resource_version}
        if page.continue_token:
            meta["continue"] = page.continue_token
        if page.remaining is not None:
            meta["remainingItemCount"] = page.remaining
        accept = request.headers.get("Accept", "")
        if "as=Table" in accept:
            objs = [cluster.present(kind, e.obj, route.version) for e in page.entries]
            table = self._table(request, route, objs)
            table["metadata"] = meta
            return _json(table, content_type=_TABLE_TYPE)
        if "as=PartialObjectMetadataList" in accept:
            return _json({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                          "metadata": meta,
                          "items": [_partial(e.obj) for e in page.entries]})
        stored = kind.api_version_for(cluster.storage_version(kind))
        wanted = kind.api_version_for(route.version)
        if stored == wanted and cluster.stored_kind(kind) is kind:
            raws = [e.raw for e in page.entries]
        else:
            raws = [orjson.dumps(cluster.present(kind, e.obj, route.version)) for e in page.entries]
        head = orjson.dumps({"kind": kind.list_kind, "apiVersion": wanted, "metadata": meta})
        body = b"".join((head[:-1], b',"items":[', b",".join(raws), b"]}\n"))
        return web.Response(body=body, content_type="application/json")

    def _object_response(self, request: web.Request, route: Route, obj: Obj) -> web.StreamResponse:
        accept = request.headers.get("Accept", "")
        obj = self.cluster.present(route.kind, obj, route.version)
        if "as=Table" in accept:
            table = self._table(request, route, [obj])
            table["metadata"] = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
            return _json(table, content_type=_TABLE_TYPE)
        if "as=PartialObjectMetadata" in accept:
            return _json(_partial(obj))
        return web.Response(body=orjson.dumps(obj, option=_NEWLINE), content_type="application/json")

    def _table(self, request: web.Request, route: Route, objs: list[Obj]) -> Obj:
        include = request.query.get("includeObject", "Metadata")
        if include not in ("Metadata", "Object", "None"):
            raise status.bad_request(f'includeObject: Unsupported value: "{include}": supported '
                                     'values: "None", "Metadata", "Object"')
        return printing.to_table(route.kind, objs, self.cluster.clock.now(),
                                 crd=self.cluster.crd_for(route.kind), wide=True,
                                 version=route.version, include_object=include)

    # ------------------------------------------------------------------ watch

    async def _watch(self, request: web.Request, route: Route) -> web.StreamResponse:
        cluster, kind = self.cluster, route.kind
        selection = cluster.selection(kind, request.query.get("labelSelector"),
                                      request.query.get("fieldSelector"))
        timeout = _int_param(request, "timeoutSeconds")
        bookmarks = request.query.get("allowWatchBookmarks", "").lower() in _TRUE
        as_table = "as=Table" in request.headers.get("Accept", "")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Obj]] = asyncio.Queue()

        def send(type_: str, obj: Obj) -> None:
            # a write racing the server's shutdown must not fail because this watch's loop closed
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(queue.put_nowait, (type_, obj))


        response = web.StreamResponse(status=200)
        response.content_type = "application/json"
        response.enable_chunked_encoding()
        try:
            stop = cluster.watch(kind, route.namespace, selection,
                                 request.query.get("resourceVersion"), send)
        except ApiError as exc:
            if exc.code != 410:
                raise
            # the watch cache answers a too-old resourceVersion inside the stream
            await response.prepare(request)
            await response.write(orjson.dumps({"type": "ERROR", "object": exc.status()}) + b"\n")
            await response.write_eof()
            return response
        await response.prepare(request)
        deadline = loop.time() + timeout if timeout else None
        next_bookmark = loop.time() + self.bookmark_interval
        truncate_after = request.get(TRUNCATE_AFTER)
        sent = 0
        try:
            while not self.stopping.is_set():
                now = loop.time()
                wait = min(1.0, next_bookmark - now if bookmarks else 1.0)
                if deadline is not None:
                    if now >= deadline:
                        break
                    wait = min(wait, deadline - now)
                try:
                    type_, obj = await asyncio.wait_for(queue.get(), max(wait, 0.0))
                except TimeoutError:
                    if request.transport is None or request.transport.is_closing():
                        break
                    if bookmarks and loop.time() >= next_bookmark:
                        await response.write(self._bookmark(route))
                        next_bookmark = loop.time() + self.bookmark_interval
                    continue
                obj = cluster.present(kind, obj, route.version)
                if as_table:
                    obj = self._table(request, route, [obj])
                await response.write(orjson.dumps({"type": type_, "object": obj}) + b"\n")
                sent += 1
                if truncate_after is not None and sent >= truncate_after:
                    if request.transport is not None:
                        request.transport.abort()  # cut mid-stream: no terminating chunk
                    return response
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            stop()
        return response

    def _bookmark(self, route: Route) -> bytes:
        kind = route.kind
        obj = {"kind": kind.kind, "apiVersion": kind.api_version_for(route.version),
               "metadata": {"resourceVersion": str(self.cluster.store.resource_version)}}
        return orjson.dumps({"type": "BOOKMARK", "object": obj}) + b"\n"

    # ------------------------------------------------------------------ pod logs

    async def _pod_log(self, request: web.Request, route: Route) -> web.StreamResponse:
        assert route.name is not None and route.kind.key == PODS.key
        ns = route.namespace or ""
        pod = self.cluster.get(PODS, ns, route.name)
        names = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or ()]
        container = request.query.get("container")
        if not container:
            if len(names) != 1:
                raise status.bad_request(f"a container name must be specified for pod {route.name}, "
                                         f"choose one of: [{' '.join(names)}]")
            container = names[0]
        elif container not in names:
            init = [c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or ()]
            if container not in init:
                raise status.bad_request(f"container {container} is not valid for pod {route.name}")
        _check_log_status(pod, container, request.query.get("previous", "").lower() in _TRUE)
        since: float | None = None
        if "sinceTime" in request.query:
            try:
                since = datetime.fromisoformat(request.query["sinceTime"].replace("Z", "+00:00")
                                               ).timestamp()
            except ValueError:
                raise status.bad_request(f'invalid sinceTime "{request.query["sinceTime"]}"') from None
        elif "sinceSeconds" in request.query:
            seconds = _int_param(request, "sinceSeconds") or 0
            if seconds < 1:
                raise status.bad_request("sinceSeconds: Invalid value: must be greater than 0")
            since = self.cluster.clock.time() - seconds
        timestamps = request.query.get("timestamps", "").lower() in _TRUE
        options: dict[str, Any] = {"tail_lines": _int_param(request, "tailLines"), "since": since,
                                   "timestamps": timestamps,
                                   "limit_bytes": _int_param(request, "limitBytes")}
        follow = request.query.get("follow", "").lower() in _TRUE
        pod_name = route.name
        return await serve_log(request, self.cluster.logs, (ns, pod_name, container), options,
                               follow=follow, stopping=self.stopping,
                               gone=lambda: self.cluster.store.get(PODS.key, ns, pod_name) is None)

    # ------------------------------------------------------------------ discovery, openapi

    def _discovery(self, request: web.Request, parts: list[str]) -> web.StreamResponse:
        kinds = list(self.cluster.kinds)
        accept = request.headers.get("Accept", "")
        aggregated = "as=APIGroupDiscoveryList" in accept and "v=v2;" in accept + ";"
        if parts == ["api"]:
            if aggregated:
                return _json(discovery.aggregated(kinds, core=True), content_type=discovery.AGGREGATED_V2)
            return _json(discovery.api_versions())
        if parts == ["apis"]:
            if aggregated:
                return _json(discovery.aggregated(kinds, core=False),
                             content_type=discovery.AGGREGATED_V2)
            return _json(discovery.api_group_list(kinds))
        if parts[0] == "apis" and len(parts) == 2:
            doc = discovery.api_group(kinds, parts[1])
        elif parts[0] == "api":
            doc = discovery.resource_list(kinds, "", parts[1]) if parts[1] == "v1" else None
        else:
            doc = discovery.resource_list(kinds, parts[1], parts[2])
        if doc is None:
            raise status.resource_not_found()
        return _json(doc)

    def _openapi(self, parts: list[str]) -> web.StreamResponse:
        kinds = list(self.cluster.kinds)
        if parts == ["v3"]:
            return _json(discovery.openapi_v3_index(kinds))
        doc = None
        if parts[:2] == ["v3", "api"] and len(parts) == 3:
            doc = discovery.openapi_v3_document(kinds, "", parts[2])
        elif parts[:2] == ["v3", "apis"] and len(parts) == 4:
            doc = discovery.openapi_v3_document(kinds, parts[2], parts[3])
        if doc is None:
            raise status.resource_not_found()
        return _json(doc)

    # ------------------------------------------------------------------ admin API

    async def _admin(self, request: web.Request, user: str, parts: list[str]) -> web.StreamResponse:
        if parts[:1] != ["v1"] or len(parts) < 2:
            raise status.resource_not_found()
        what, method = parts[1], request.method
        if method != "GET" and user in self.users.readonly:
            raise ApiError(403, "Forbidden", f'User "{user}" cannot use the sandbox admin API')
        sandbox = self.sandbox
        body: Obj = {}
        if method in ("POST", "PUT"):
            raw = await _read_body(request)
            decoded = _decode_json(raw, request) if raw.strip() else {}
            if not isinstance(decoded, dict):
                raise status.bad_request("the body must be a JSON object")
            body = decoded
        if what == "status" and method == "GET":
            return _json(sandbox.status() if sandbox else {})
        if what == "requests":
            if method == "DELETE":
                self.requests.clear()
                return _json({"cleared": True})
            records = self.requests.records()
            limit = _int_param(request, "limit")
            if limit is not None and limit < 0:
                raise status.bad_request(f"limit must be 0 (all) or more, not {limit}")
            if limit:
                records = records[-limit:]
            return _json({"items": [asdict(r) for r in records]})
        if what == "faults":
            if method == "GET":
                return _json({"items": [f.to_dict() for f in self.faults]})
            if method == "POST":
                try:
                    fault = Fault.from_dict(body)
                except (TypeError, ValueError) as exc:
                    raise status.bad_request(f"invalid fault: {exc}") from None
                return _json(self.faults.add(fault).to_dict(), code=201)
            if method == "DELETE":
                if len(parts) == 3:
                    if not parts[2].isdigit() or not self.faults.remove(int(parts[2])):
                        raise ApiError(404, "NotFound", f'fault "{parts[2]}" not found')
                else:
                    self.faults.clear()
                return _json({"cleared": True})
        if sandbox is not None and method == "POST":
            # advance/settle/reset run timers and controller work, which may call this server:
            # they run in a worker thread so that the event loop stays free to answer
            loop = asyncio.get_running_loop()
            if what == "advance":
                seconds = _admin_number(body, "seconds", 0, MAX_ADVANCE_SECONDS)
                if self.cluster.clock.time() + seconds > _LAST_TIME:
                    raise status.bad_request("advancing that far would take the clock past the "
                                             "year 9000; reset the sandbox to start over")
                await loop.run_in_executor(None, sandbox.advance, seconds)
                return _json({"time": self.cluster.clock.timestamp()})
            if what == "settle":
                timeout = _admin_number(body, "timeout", 5.0, MAX_SETTLE_SECONDS, low=0.0)
                try:
                    await loop.run_in_executor(None, sandbox.settle, timeout)
                except TimeoutError as exc:
                    raise ApiError(504, "Timeout", str(exc)) from None
                return _json({"settled": True})
            if what == "reset":
                _admin_fields(body, ())
                await loop.run_in_executor(None, sandbox.reset)
                return _json({"reset": True, "scenario": sandbox.scenario})
        raise status.method_not_supported(None, method)


#: longest single ``advance`` (a year): timers fire one by one on the way
MAX_ADVANCE_SECONDS = 366 * 86400.0
#: longest ``settle`` wait: the request is held that long
MAX_SETTLE_SECONDS = 300.0
#: the clock stays well inside what datetime can show (year 9000), whatever is advanced
_LAST_TIME = datetime(9000, 1, 1, tzinfo=UTC).timestamp()


def _admin_fields(body: Obj, known: tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise status.bad_request(f"unknown field(s) {', '.join(unknown)[:200]}; "
                                 f"known: {', '.join(known) or 'none'}")


def _admin_number(body: Obj, name: str, default: float, high: float, *, low: float = 0.0
                  ) -> float:
    """The admin body's only field ``name``: a finite number in [low, high] (400 otherwise)."""
    _admin_fields(body, (name,))
    try:
        return number_in_range(name, body.get(name, default), low, high)
    except ValueError as exc:
        raise status.bad_request(str(exc)) from None


class _Dropped(Exception):
    """A fault dropped the connection: there is no response to send."""


def _not_a_dropped_answer(record: logging.LogRecord) -> bool:
    # aiohttp logs every exception a handler raises as "Error handling request" with a traceback;
    # a drop that a fault asked for is no error of the server's
    return not (record.exc_info and isinstance(record.exc_info[1], _Dropped))


logging.getLogger("aiohttp.server").addFilter(_not_a_dropped_answer)


def _drop_answer(request: web.Request) -> NoReturn:
    """Close the connection instead of answering (the request was processed); raises _Dropped.

    The request log shows status 0 for it, as for ``drop``: no answer left the server.
    """
    if request.transport is not None:
        request.transport.abort()
    raise _Dropped()


_TABLE_TYPE = "application/json;as=Table;v=v1;g=meta.k8s.io"
#: kube-apiserver's JSON serializer encodes with Go's json.Encoder, which ends every body with "\n"
_NEWLINE = orjson.OPT_APPEND_NEWLINE


def _check_log_status(pod: Obj, container: str, previous: bool) -> None:
    """The kubelet's ``validateContainerLogStatus``: which container states have logs to read.

    The kubelet answers 400 with the error text, which kube-apiserver passes on as a BadRequest
    Status (``GenericHttpResponseChecker``). Emulated containers never restart, so there is never
    a previous instance. A pod bound to no node is served from the log seam as it is: a bare
    sandbox has no scheduler (the real registry answers ``pod … does not have a host assigned``).
    """
    pod_status = pod.get("status") or {}
    name = pod["metadata"]["name"]
    if previous and not (pod.get("spec") or {}).get("nodeName"):
        raise status.bad_request(
            f'previous terminated container "{container}" in pod "{name}" not found')
    if not (pod.get("spec") or {}).get("nodeName"):
        return
    statuses = [*(pod_status.get("initContainerStatuses") or ()),
                *(pod_status.get("containerStatuses") or ())]
    found = next((c for c in statuses if c.get("name") == container), None)
    if found is None:
        raise status.bad_request(f'container "{container}" in pod "{name}" is not available')
    if previous:
        if not (found.get("lastState") or {}).get("terminated"):
            raise status.bad_request(
                f'previous terminated container "{container}" in pod "{name}" not found')
        return
    waiting = (found.get("state") or {}).get("waiting")
    if waiting is not None and not (found.get("lastState") or {}).get("terminated"):
        raise status.bad_request(f'container "{container}" in pod "{name}" is waiting to start: '
                                 f'{waiting.get("reason", "")}')


async def _warn_deprecated(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer to a deprecated kind carries its warning, errors and watches included, as
    the deprecation filter adds it before any handler runs."""
    warning = request.get(DEPRECATED)
    if warning:
        response.headers.add("Warning", f'299 - "{warning}"')


def _json(obj: Any, warnings: list[str] | None = None, code: int = 200,
          content_type: str = "application/json") -> web.Response:
    response = web.Response(body=orjson.dumps(obj, option=_NEWLINE), status=code)
    response.headers["Content-Type"] = content_type
    for warning in warnings or ():
        response.headers.add("Warning", f'299 - "{warning}"')
    return response


def _status_response(exc: ApiError) -> web.Response:
    if exc.plain_text:
        # Go's http.Error: text/plain, the message and a newline
        response = web.Response(text=exc.message + "\n", status=exc.code,
                                content_type="text/plain", charset="utf-8")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.update(exc.headers)
        return response
    response = _json(exc.status(), code=exc.code)
    response.headers.update(exc.headers)
    return response


def _fault_error(fault: Fault, route: Route) -> ApiError:
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


def _partial(obj: Obj) -> Obj:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata", {})}


def _int_param(request: web.Request, name: str) -> int | None:
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


def _context(request: web.Request, user: str) -> RequestContext:
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
                          force=query.get("force", "").lower() in _TRUE)


async def _read_body(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise status.too_large(MAX_BODY) from None


def _decode_json(body: bytes, request: web.Request) -> Any:
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


async def _delete_options(request: web.Request, ctx: RequestContext) -> Obj:
    raw = await _read_body(request)
    options: Obj = {}
    if raw.strip():
        decoded = _decode_json(raw, request)
        if not isinstance(decoded, dict):
            raise status.bad_request("DeleteOptions must be an object")
        options = decoded
    if "propagationPolicy" in request.query:
        options["propagationPolicy"] = request.query["propagationPolicy"]
    if "gracePeriodSeconds" in request.query:
        options["gracePeriodSeconds"] = _int_param(request, "gracePeriodSeconds")
    grace = options.get("gracePeriodSeconds")
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
        raise status.bad_request("gracePeriodSeconds must be an integer")
    if options.get("orphanDependents") is True and not options.get("propagationPolicy"):
        options["propagationPolicy"] = "Orphan"
    if "All" in (options.get("dryRun") or []):
        ctx.dry_run = True
    return options

