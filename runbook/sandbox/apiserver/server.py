"""The sandbox's HTTP front: kube-apiserver's REST API over :class:`~.cluster.Registry` (aiohttp).

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

The admin API's handlers are in :mod:`.admin`; request parsing and the shapes of answers in
:mod:`.exchange`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from runbook.kinds import ENDPOINTS, NAMESPACES, PODS
from runbook.sandbox.apiserver import printing
from runbook.sandbox.apiserver.faults import FaultTable, RequestLog, RequestRecord
from runbook.sandbox.registry import discovery, status
from runbook.sandbox.registry.cluster import MAX_BODY, SELF_SUBJECT_ACCESS_REVIEWS, Registry, RequestContext
from runbook.sandbox.registry.status import ApiError
from runbook.sandbox.storage.logs import serve_log
from runbook.sandbox.storage.store import list_item

if TYPE_CHECKING:
    from runbook.sandbox.sandbox import Sandbox
from runbook.sandbox.apiserver.admin import AdminApi
from runbook.sandbox.apiserver.exchange import (
    DEPRECATED,
    DROP_RESPONSE,
    JSON_NEWLINE,
    TRUE_VALUES,
    TRUNCATE_AFTER,
    VERB,
    DroppedAnswer,
    Obj,
    Route,
    Users,
    bytes_response,
    decode_json_body,
    delete_options,
    drop_answer,
    fault_error,
    int_param,
    json_response,
    log,
    partial_metadata,
    read_body,
    request_context,
    status_response,
    warn_deprecated,
)
from runbook.timestamps import parse_timestamp

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


#: kinds whose DELETE answers with the deleted object rather than a Status (their registries set
#: ReturnDeletedObject, as the OpenAPI return types say: V1Pod, V1Service, V1ServiceAccount,
#: V1ResourceQuota); custom resources too
_DELETE_RETURNS_OBJECT = frozenset({"pods", "services", "serviceaccounts", "resourcequotas"})


#: what kube-apiserver's deprecation filter warns for a served but deprecated kind
_DEPRECATIONS = {ENDPOINTS.key: "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 "
                                "EndpointSlice"}


_TABLE_TYPE = "application/json;as=Table;v=v1;g=meta.k8s.io"


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


class ApiServer(AdminApi):
    """The aiohttp application around a :class:`Registry`.

    Args:
        cluster: what it serves.
        users: who may call it.
        requests: the request log to append to.
        faults: the fault table to consult.
        sandbox: the owning :class:`~.sandbox.Sandbox` (for the admin API's advance/settle/reset).
    """

    def __init__(self, cluster: Registry, users: Users, requests: RequestLog, faults: FaultTable,
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
        self.app.on_response_prepare.append(warn_deprecated)

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
                drop_answer(request)
            return response
        except ApiError as exc:
            code = exc.code
            verb = request.get(VERB, "")
            if request.get(DROP_RESPONSE):
                code = 0
                drop_answer(request)
            return status_response(exc)
        except DroppedAnswer:
            code = 0
            raise
        except (web.HTTPException, asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as exc:
            code = 500
            log.exception("internal error serving %s %s", request.method, request.path)
            return status_response(status.internal_error(f"{type(exc).__name__}: {exc}"))
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
            return json_response(KUBE_VERSION), ""
        if not parts:
            return json_response({"paths": discovery.root_paths(self.cluster.kinds)}), ""
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
        ctx = request_context(request, user)
        return await self._resource(request, route, ctx), route.verb

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
        if verb == "list" and request.query.get("watch", "").lower() in TRUE_VALUES:
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
        review = decode_json_body(await read_body(request), request)
        if not isinstance(review, dict) or not isinstance(review.get("spec"), dict):
            raise status.bad_request("the body must be a SelfSubjectAccessReview with a spec")
        attrs = review["spec"].get("resourceAttributes") or review["spec"].get(
            "nonResourceAttributes") or {}
        verb = str(attrs.get("verb", ""))
        allowed = self.allowed(user, verb)
        review["status"] = {"allowed": allowed,
                            "reason": "the sandbox user may do this" if allowed else ""}
        review.setdefault("metadata", {})["creationTimestamp"] = None
        return json_response(review, code=201)

    async def _faults(self, request: web.Request, route: Route) -> None:
        fired = self.faults.pick(route.verb, route.kind.plural, route.kind.key, route.namespace,
                                 route.name, request.path)
        for fault in fired:
            if fault.latency:
                await asyncio.sleep(fault.latency)  # the injected latency itself
            if fault.action == "drop":
                if request.transport is not None:
                    request.transport.abort()
                raise DroppedAnswer()
            if fault.action == "drop-response" and route.verb != "watch":
                request[DROP_RESPONSE] = True
            if fault.action == "truncate-watch":
                request[TRUNCATE_AFTER] = fault.after_events
            if fault.action == "error":
                raise fault_error(fault, route)

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
                                     limit=int_param(request, "limit"),
                                     continue_token=request.query.get("continue"))
            return self._list_response(request, route, page)
        if route.verb == "get":
            assert route.name is not None
            if route.subresource == "scale":
                return json_response(cluster.get_scale(kind, route.namespace, route.name))
            obj = cluster.get(kind, route.namespace, route.name)
            return self._object_response(request, route, obj)
        if route.verb == "deletecollection":
            selection = cluster.selection(kind, request.query.get("labelSelector"),
                                          request.query.get("fieldSelector"))
            options = await delete_options(request, ctx)
            deleted = cluster.delete_collection(kind, route.namespace, selection, ctx,
                                                propagation=options.get("propagationPolicy"))
            items = [cluster.present(kind, o, route.version) for o in deleted]
            if cluster.crd_for(kind) is None:
                items = [list_item(o) for o in items]
            return json_response({"kind": kind.list_kind, "apiVersion": kind.api_version_for(route.version),
                          "metadata": {"resourceVersion": str(cluster.store.resource_version)},
                          "items": items}, ctx.warnings)
        assert route.verb in ("create",) or route.name is not None
        name = route.name or ""
        if route.verb == "delete":
            options = await delete_options(request, ctx)
            obj, gone = cluster.delete(kind, route.namespace, name, ctx,
                                       propagation=options.get("propagationPolicy"),
                                       preconditions=options.get("preconditions"),
                                       grace_period=options.get("gracePeriodSeconds"))
            if gone and kind.key not in _DELETE_RETURNS_OBJECT and cluster.crd_for(kind) is None:
                details: Obj = {"name": name, "kind": kind.plural,
                                "uid": obj["metadata"].get("uid", "")}
                if kind.group:
                    details["group"] = kind.group
                return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Success", "details": details}, ctx.warnings)
            return json_response(cluster.present(kind, obj, route.version), ctx.warnings)
        body = await read_body(request)
        if route.verb == "patch":
            obj, created = cluster.patch(kind, route.namespace, name,
                                         request.headers.get("Content-Type", ""), body, ctx,
                                         subresource=route.subresource)
            return json_response(self._written(route, obj), ctx.warnings, 201 if created else 200)
        decoded = decode_json_body(body, request)
        if route.verb == "create":
            if route.subresource:
                raise status.method_not_supported(kind, "create")
            obj = cluster.create(kind, route.namespace, decoded, ctx)
            return json_response(cluster.present(kind, obj, route.version), ctx.warnings, 201)
        obj = cluster.update(kind, route.namespace, name, decoded, ctx,
                             subresource=route.subresource)
        return json_response(self._written(route, obj), ctx.warnings)

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
            return json_response(table, content_type=_TABLE_TYPE)
        if "as=PartialObjectMetadataList" in accept:
            return json_response({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                          "metadata": meta,
                          "items": [partial_metadata(e.obj) for e in page.entries]})
        stored = kind.api_version_for(cluster.storage_version(kind))
        wanted = kind.api_version_for(route.version)
        builtin = cluster.crd_for(kind) is None
        if stored == wanted and cluster.stored_kind(kind) is kind:
            raws = [e.list_item if builtin else e.raw for e in page.entries]
        else:
            presented = (cluster.present(kind, e.obj, route.version) for e in page.entries)
            raws = [orjson.dumps(list_item(o) if builtin else o) for o in presented]
        head = orjson.dumps({"kind": kind.list_kind, "apiVersion": wanted, "metadata": meta})
        body = b"".join((head[:-1], b',"items":[', b",".join(raws), b"]}\n"))
        return bytes_response(body)

    def _object_response(self, request: web.Request, route: Route, obj: Obj) -> web.StreamResponse:
        accept = request.headers.get("Accept", "")
        obj = self.cluster.present(route.kind, obj, route.version)
        if "as=Table" in accept:
            table = self._table(request, route, [obj])
            table["metadata"] = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
            return json_response(table, content_type=_TABLE_TYPE)
        if "as=PartialObjectMetadata" in accept:
            return json_response(partial_metadata(obj))
        return bytes_response(orjson.dumps(obj, option=JSON_NEWLINE))

    def _table(self, request: web.Request, route: Route, objs: list[Obj]) -> Obj:
        include = request.query.get("includeObject", "Metadata")
        if include not in ("Metadata", "Object", "None"):
            raise status.bad_request(f'includeObject: Unsupported value: "{include}": supported '
                                     'values: "None", "Metadata", "Object"')
        return printing.to_table(route.kind, objs, self.cluster.clock.now(),
                                 crd=self.cluster.crd_for(route.kind), wide=True,
                                 version=route.version, include_object=include)

    async def _watch(self, request: web.Request, route: Route) -> web.StreamResponse:
        cluster, kind = self.cluster, route.kind
        selection = cluster.selection(kind, request.query.get("labelSelector"),
                                      request.query.get("fieldSelector"))
        timeout = int_param(request, "timeoutSeconds")
        bookmarks = request.query.get("allowWatchBookmarks", "").lower() in TRUE_VALUES
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
        _check_log_status(pod, container, request.query.get("previous", "").lower() in TRUE_VALUES)
        since: float | None = None
        if "sinceTime" in request.query:
            try:
                since = parse_timestamp(request.query["sinceTime"]).timestamp()
            except ValueError:
                raise status.bad_request(f'invalid sinceTime "{request.query["sinceTime"]}"') from None
        elif "sinceSeconds" in request.query:
            seconds = int_param(request, "sinceSeconds") or 0
            if seconds < 1:
                raise status.bad_request("sinceSeconds: Invalid value: must be greater than 0")
            since = self.cluster.clock.time() - seconds
        timestamps = request.query.get("timestamps", "").lower() in TRUE_VALUES
        options: dict[str, Any] = {"tail_lines": int_param(request, "tailLines"), "since": since,
                                   "timestamps": timestamps,
                                   "limit_bytes": int_param(request, "limitBytes")}
        follow = request.query.get("follow", "").lower() in TRUE_VALUES
        pod_name = route.name
        return await serve_log(request, self.cluster.logs, (ns, pod_name, container), options,
                               follow=follow, stopping=self.stopping,
                               gone=lambda: self.cluster.store.get(PODS.key, ns, pod_name) is None)

    def _discovery(self, request: web.Request, parts: list[str]) -> web.StreamResponse:
        kinds = list(self.cluster.kinds)
        accept = request.headers.get("Accept", "")
        aggregated = "as=APIGroupDiscoveryList" in accept and "v=v2;" in accept + ";"
        if parts == ["api"]:
            if aggregated:
                return json_response(discovery.aggregated(kinds, core=True),
                                     content_type=discovery.AGGREGATED_V2)
            return json_response(discovery.api_versions())
        if parts == ["apis"]:
            if aggregated:
                return json_response(discovery.aggregated(kinds, core=False),
                             content_type=discovery.AGGREGATED_V2)
            return json_response(discovery.api_group_list(kinds))
        if parts[0] == "apis" and len(parts) == 2:
            doc = discovery.api_group(kinds, parts[1])
        elif parts[0] == "api":
            doc = discovery.resource_list(kinds, "", parts[1]) if parts[1] == "v1" else None
        else:
            doc = discovery.resource_list(kinds, parts[1], parts[2])
        if doc is None:
            raise status.resource_not_found()
        return json_response(doc)

    def _openapi(self, parts: list[str]) -> web.StreamResponse:
        kinds = list(self.cluster.kinds)
        if parts == ["v3"]:
            return json_response(discovery.openapi_v3_index(kinds))
        doc = None
        if parts[:2] == ["v3", "api"] and len(parts) == 3:
            doc = discovery.openapi_v3_document(kinds, "", parts[2])
        elif parts[:2] == ["v3", "apis"] and len(parts) == 4:
            doc = discovery.openapi_v3_document(kinds, parts[2], parts[3])
        if doc is None:
            raise status.resource_not_found()
        return json_response(doc)
