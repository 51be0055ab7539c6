"""Connecting to a cluster and talking to its API with raw JSON.

:func:`connect` follows kubectl's conventions (``--kubeconfig``, ``$KUBECONFIG``, ``--context``)
plus one of ours: with no kubeconfig and the context ``"sandbox"``, it attaches to the local
sandbox (starting one with the ``seed-incident`` scenario if none runs). The same code then runs
against the sandbox and a real cluster — only the kubeconfig differs.

Requests go through the official client's ``ApiClient`` (auth plugins, exec credentials, TLS
verification, proxies) but bodies are raw JSON parsed with orjson: the typed models are 2–3× slower
and heavier on large lists, and tables are built from raw JSON anyway.
"""

from __future__ import annotations

import os
import random
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import urllib3
import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException

from runbook.deadline import socket_deadline, use_deadline_pools
from runbook.errors import (
    ClusterError,
    ConfigError,
    InputError,
    InputLimitExceeded,
    NotAnApiServer,
    NotFound,
    ServerError,
    Unreachable,
)
from runbook.kinds import ResourceKind
from runbook.kube.errors import translate_status, translate_transport
from runbook.paths import file_type
from runbook.safeload import load_yaml
from runbook.snapshot import RawObject

SANDBOX_CONTEXT = "sandbox"
JSON = "application/json"
#: a list of the objects' metadata only (kube-apiserver's PartialObjectMetadataList): no spec,
#: status or data crosses the wire. No JSON fallback is offered, so a server that cannot answer
#: it refuses (406) rather than sending whole objects.
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
#: parses a list page's bytes into ``{metadata, items}``; raises ValueError when it cannot
PageDecoder = Callable[[bytes], dict[str, Any]]
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = {"merge": MERGE_PATCH, "strategic": STRATEGIC_PATCH, "json": JSON_PATCH,
               "apply": APPLY_PATCH}
#: seconds a whole request may take from Python (the command line's --request-timeout is 3 s)
DEFAULT_REQUEST_TIMEOUT = 30.0
#: the most one answer may hold (a list comes in pages of 500; a server sending more is hostile)
MAX_RESPONSE_BYTES = 256 * 2**20


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a request again (the client libraries' rules: client-go, kopf).

    Reads are retried on connection errors, 429 and 5xx; writes only when they carry a
    ``resourceVersion`` precondition (then a retry can never apply twice) or failed before the
    request was sent. Waits grow exponentially with full jitter and honour ``Retry-After``.
    """

    attempts: int = 4
    base_seconds: float = 0.2
    cap_seconds: float = 5.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.cap_seconds)
        return random.uniform(0, min(self.cap_seconds, self.base_seconds * 2 ** attempt))


NO_RETRY = RetryPolicy(attempts=1)


@dataclass
class ApiRequest:
    """One API request, for the request log a notebook or benchmark shows."""

    method: str
    path: str
    status: int
    duration_ms: float
    attempts: int


@dataclass
class Cluster:
    """A connection to one cluster context.

    Attributes:
        context: kube context name.
        server: API server URL.
        user: kubeconfig user name (for audit records; the server may know the user by another
            name).
        namespace: the context's default namespace.
        kubeconfig: path of the kubeconfig used (None in-cluster).
        is_sandbox: whether this is the embedded sandbox.
        timeout: (connect, read) seconds for each socket operation of a request.
        request_timeout: seconds for a whole request (connect, headers and body; None: no limit),
            like kubectl's ``--request-timeout``.
        command_timeout: seconds for everything this connection sends, retries and their waits
            included, counted from its creation (None: no limit) — a command's overall deadline.
        max_response_bytes: the most one answer may hold; more is refused as not from a
            Kubernetes API server.
        retry: the retry policy.
        requests: the request log of this connection (method, path, status, duration).
    """

    api: Any  # kubernetes.client.ApiClient
    context: str
    server: str
    user: str | None = None
    namespace: str = "default"
    kubeconfig: str | None = None
    is_sandbox: bool = False
    timeout: tuple[float, float] = (5.0, 30.0)
    request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT
    command_timeout: float | None = None
    max_response_bytes: int = MAX_RESPONSE_BYTES
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    requests: list[ApiRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._deadline_at = (time.monotonic() + self.command_timeout if self.command_timeout
                             else None)

    # ------------------------------------------------------------------ raw requests

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = JSON,
        accept: str = JSON,
        verb: str = "",
        resource: str = "",
        namespace: str | None = None,
        name: str | None = None,
        retryable: bool | None = None,
        timeout: tuple[float, float] | None = None,
        raw: bool = False,
    ) -> Any:
        """Send one request and return the parsed JSON answer (or bytes with ``raw=True``).

        Args:
            retryable: override the retry rule (default: GET/HEAD retried, writes not).
            verb, resource, namespace, name: what this is, for error messages.

        Raises:
            ClusterError: the matching subclass for the server's answer or the transport failure.
        """
        params = [(k, _query_value(v)) for k, v in (query or {}).items() if v is not None]
        headers = {"Accept": accept}
        data: Any = None
        if body is not None:
            headers["Content-Type"] = content_type
            # the client serialises JSON (and JSON-as-YAML apply patches) itself: pass objects
            data = orjson.loads(body) if isinstance(body, (bytes, str)) else body
        may_retry = (method in ("GET", "HEAD")) if retryable is None else retryable
        verb = verb or method.lower()
        started = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            headers_in: Any = None
            payload: Any  # bytes from the server; an ApiException's body may be str
            limit, flag = self._time_limit()
            if limit is not None and limit <= 0:
                self._log(method, path, 0, started, attempt - 1)
                raise translate_transport(TimeoutError(), server=self.server,
                                          context=self.context, verb=verb, resource=resource,
                                          deadline=self.command_timeout, deadline_flag=flag)
            per_op = _capped(timeout or self.timeout, limit)
            with socket_deadline(limit) as watch:
                try:
                    m, url, hdrs, _, _ = self.api.param_serialize(
                        method, path, query_params=params, header_params=dict(headers),
                        auth_settings=["BearerToken"])
                    resp = self.api.call_api(m, url, header_params=hdrs, body=data,
                                             _request_timeout=per_op)
                    payload = _read(resp, self.max_response_bytes)
                    status, headers_in = resp.status, resp.headers
                    if watch.expired:
                        # the cut may look like a short, complete answer: it is none
                        raise TimeoutError("the request's deadline passed")
                except (urllib3.exceptions.HTTPError, OSError, k8s_client.ApiException) as exc:
                    if isinstance(exc, k8s_client.ApiException) and exc.status:
                        payload, status = (exc.body or b""), exc.status
                    else:
                        # a failure before the request was sent is safe to retry even for writes;
                        # a request that used up its deadline is not tried again
                        if (attempt < self.retry.attempts and not watch.expired
                                and (may_retry or _not_sent(exc))):
                            self._wait(self.retry.delay(attempt - 1))
                            continue
                        self._log(method, path, 0, started, attempt)
                        raise translate_transport(
                            exc, server=self.server, context=self.context, verb=verb,
                            resource=resource,
                            maybe_applied=method not in ("GET", "HEAD") and not _not_sent(exc),
                            deadline=(self.command_timeout if flag == "--deadline" else limit)
                            if watch.expired else None, deadline_flag=flag,
                        ) from None
            if len(payload) > self.max_response_bytes:
                self._log(method, path, status, started, attempt)
                raise NotAnApiServer(
                    f"{self.server} (context {self.context!r}) answered {method} {path} with more "
                    f"than {self.max_response_bytes:,} bytes",
                    hint="no Kubernetes API server sends that for one request (lists come in "
                         "pages): check the kubeconfig's server address")
            if 200 <= status < 300:
                self._log(method, path, status, started, attempt)
                if raw:
                    return payload
                return self._decode(payload, method, path)
            retry_after = _retry_after(headers_in)
            error = translate_status(status, payload, verb=verb, resource=resource,
                                     namespace=namespace, name=name, context=self.context,
                                     retry_after=retry_after)
            if isinstance(error, ServerError) and may_retry and attempt < self.retry.attempts:
                self._wait(self.retry.delay(attempt - 1, retry_after))
                continue
            # one record per request, with its final status and how many attempts it took
            self._log(method, path, status, started, attempt)
            raise error

    def _time_limit(self) -> tuple[float | None, str]:
        """Seconds the next attempt may take, and the option that sets that limit."""
        if self._deadline_at is None:
            return self.request_timeout, "--request-timeout"
        remaining = self._deadline_at - time.monotonic()
        if self.request_timeout and self.request_timeout <= remaining:
            return self.request_timeout, "--request-timeout"
        return remaining, "--deadline"

    def _wait(self, seconds: float) -> None:
        """A retry's back-off, never past the command's deadline (the next attempt then says so)."""
        if self._deadline_at is not None:
            seconds = min(seconds, max(0.0, self._deadline_at - time.monotonic()))
        time.sleep(seconds)

    def _decode(self, payload: bytes, method: str, path: str) -> Any:
        try:
            return orjson.loads(payload) if payload else {}
        except orjson.JSONDecodeError:
            raise NotAnApiServer(
                f"{self.server} (context {self.context!r}) answered {method} {path} with "
                f"something that is not JSON: {_preview(payload)}",
                hint="this does not look like a Kubernetes API server: check the kubeconfig's "
                     "server address (and any proxy in between)") from None

    def _log(self, method: str, path: str, status: int, started: float, attempts: int) -> None:
        self.requests.append(ApiRequest(method, path, status,
                                           (time.perf_counter() - started) * 1000, attempts))

    # ------------------------------------------------------------------ typed helpers

    def get(self, kind: ResourceKind, name: str, namespace: str | None = None) -> RawObject:
        """GET one object."""
        result: RawObject = self.request(
            "GET", kind.path(namespace, name), verb="get", resource=kind.key,
            namespace=namespace, name=name)
        return result

    def list_pages(
        self,
        kind: ResourceKind,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = 500,
        decode: PageDecoder | None = None,
        accept: str = JSON,
        on_restart: Callable[[], None] | None = None,
    ) -> Iterator[RawObject]:
        """Yield list pages (``{metadata, items}``) of a cluster-wide or namespaced list.

        Follows ``continue`` tokens. On ``410 Gone`` for an expired token the list restarts from
        the beginning once (the answer is then consistent), as client-go's pager does: the pages
        yielded before are superseded, and ``on_restart`` is called before the first one comes
        again. ``decode`` parses each page's bytes instead of the whole-JSON parser (e.g. keeping
        only some fields); ``accept`` asks for another representation (e.g.
        :data:`METADATA_LIST`).
        """
        cont: str | None = None
        restarted = False
        while True:
            try:
                path = kind.path(namespace)
                answer = self.request(
                    "GET", path,
                    query={"limit": page_size, "continue": cont,
                           "labelSelector": label_selector, "fieldSelector": field_selector},
                    accept=accept, verb="list", resource=kind.key, namespace=namespace,
                    raw=decode is not None)
            except ClusterError as exc:
                if exc.status == 410 and cont and not restarted:
                    cont, restarted = None, True
                    if on_restart is not None:
                        on_restart()
                    continue
                raise
            page: RawObject = answer if decode is None else self._decode_page(answer, decode, path)
            # the page's bytes (4 MB for 500 injected pods) go before the next page is read
            del answer
            yield page
            cont = (page.get("metadata") or {}).get("continue")
            if not cont:
                return

    def _decode_page(self, payload: bytes, decode: PageDecoder, path: str) -> dict[str, Any]:
        try:
            return decode(payload)
        except ValueError:
            # the whole-JSON parser then says what is wrong (not JSON: not an API server)
            page: dict[str, Any] = self._decode(payload, "GET", path)
            return page

    def list(
        self,
        kind: ResourceKind,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = 500,
        trim: Callable[[RawObject], RawObject] | None = None,
        decode: PageDecoder | None = None,
        accept: str = JSON,
    ) -> list[RawObject]:
        """Every object of a list (all pages). ``trim`` may drop fields per object to save memory;
        ``decode`` parses each page's bytes, ``accept`` asks for another representation (see
        :meth:`list_pages`).

        Items of a list carry no ``apiVersion``/``kind`` on the wire; they are filled in here so
        that every object is self-describing.
        """
        out: list[RawObject] = []
        # one string of each for the whole list (kind.api_version formats a new one per call)
        api_version, kind_name = kind.api_version, kind.kind
        for page in self.list_pages(kind, namespace, label_selector=label_selector,
                                    field_selector=field_selector, page_size=page_size,
                                    decode=decode, accept=accept, on_restart=out.clear):
            items = page.get("items") or []
            for obj in items:
                obj.setdefault("apiVersion", api_version)
                obj.setdefault("kind", kind_name)
            out.extend(map(trim, items) if trim else items)
        return out

    def create(self, kind: ResourceKind, obj: Mapping[str, Any], namespace: str | None = None,
               *, dry_run: bool = False, field_manager: str = "mesh-runbook") -> RawObject:
        ns = namespace or (obj.get("metadata") or {}).get("namespace")
        result: RawObject = self.request(
            "POST", kind.path(ns if kind.namespaced else None), body=dict(obj),
            query={"dryRun": "All" if dry_run else None, "fieldManager": field_manager,
                   "fieldValidation": "Strict"},
            verb="create", resource=kind.key, namespace=ns,
            name=(obj.get("metadata") or {}).get("name"))
        return result

    def replace(self, kind: ResourceKind, obj: Mapping[str, Any], *, dry_run: bool = False,
                field_manager: str = "mesh-runbook") -> RawObject:
        """PUT the whole object; its ``metadata.resourceVersion`` is the precondition."""
        meta = obj.get("metadata") or {}
        ns, name = meta.get("namespace"), meta["name"]
        result: RawObject = self.request(
            "PUT", kind.path(ns, name), body=dict(obj),
            query={"dryRun": "All" if dry_run else None, "fieldManager": field_manager,
                   "fieldValidation": "Strict"},
            verb="update", resource=kind.key, namespace=ns, name=name,
            retryable=bool(meta.get("resourceVersion")))
        return result

    def patch(
        self,
        kind: ResourceKind,
        name: str,
        body: Any,
        namespace: str | None = None,
        *,
        patch_type: str = "merge",
        dry_run: bool = False,
        field_manager: str = "mesh-runbook",
        force: bool | None = None,
        subresource: str | None = None,
    ) -> RawObject:
        """PATCH with ``patch_type`` merge | strategic | json | apply (server-side apply).

        Like kubectl, writes ask for ``fieldValidation=Strict``: a misspelt field is an error,
        not a silently dropped value.

        A patch is retried only when it carries a resourceVersion precondition (merge/strategic
        bodies with ``metadata.resourceVersion``, or a json-patch ``test`` of it).
        """
        if patch_type not in PATCH_TYPES:
            raise InputError(f"unknown patch type {patch_type!r}; use one of {', '.join(PATCH_TYPES)}")
        guarded = _has_rv_precondition(body)
        result: RawObject = self.request(
            "PATCH", kind.path(namespace, name, subresource=subresource), body=body,
            content_type=PATCH_TYPES[patch_type],
            query={"dryRun": "All" if dry_run else None, "fieldManager": field_manager,
                   "fieldValidation": "Strict", "force": force},
            verb="patch", resource=kind.key, namespace=namespace, name=name, retryable=guarded)
        return result

    def delete(self, kind: ResourceKind, name: str, namespace: str | None = None, *,
               propagation: str = "Background", resource_version: str | None = None,
               uid: str | None = None, dry_run: bool = False) -> RawObject:
        """DELETE one object, optionally only if it still has ``resource_version`` / ``uid``.

        A ``uid`` precondition deletes "this object, not a namesake created since" without failing
        on status updates, which controllers make all the time (ReplicaSets); a
        ``resource_version`` precondition also refuses when anything changed.
        """
        body: RawObject = {"kind": "DeleteOptions", "apiVersion": "v1",
                                "propagationPolicy": propagation}
        pre = {key: value for key, value in (("resourceVersion", resource_version), ("uid", uid))
               if value}
        if pre:
            body["preconditions"] = pre
        if dry_run:
            body["dryRun"] = ["All"]
        result: RawObject = self.request(
            "DELETE", kind.path(namespace, name), body=body, verb="delete", resource=kind.key,
            namespace=namespace, name=name, retryable=bool(pre))
        return result

    def logs(self, namespace: str, pod: str, *, container: str | None = None,
             tail_lines: int | None = None, since_seconds: int | None = None,
             since_time: str | None = None, timestamps: bool = False,
             limit_bytes: int | None = None) -> str:
        """A pod's log text (bounded: pass tail_lines, since_* or limit_bytes)."""
        from runbook.kinds import PODS

        payload: bytes = self.request(
            "GET", PODS.path(namespace, pod, subresource="log"),
            query={"container": container, "tailLines": tail_lines, "sinceSeconds": since_seconds,
                   "sinceTime": since_time, "timestamps": timestamps or None,
                   "limitBytes": limit_bytes},
            # what kubectl sends: kube-apiserver answers "Accept: text/plain" alone with 406
            accept="application/json, */*", verb="get", resource="pods/log", namespace=namespace,
            name=pod,
            raw=True)
        return payload.decode("utf-8", errors="replace")

    def version(self) -> dict[str, Any]:
        """``/version`` of the API server (also a cheap reachability check)."""
        result: dict[str, Any] = self.request("GET", "/version", verb="get", resource="version")
        return result

    def describe(self) -> str:
        """One line naming the context and server, for headers and confirmations."""
        kind = "sandbox" if self.is_sandbox else "cluster"
        return f"{kind} context {self.context!r} at {self.server}"

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read(resp: Any, limit: int) -> bytes:
    """The answer's body, at most ``limit + 1`` bytes of it (urllib3 under the client's
    RESTResponse, whose own ``read`` takes everything)."""
    raw = getattr(resp, "response", None)
    if raw is None:
        body: bytes = resp.read()
        return body
    length = raw.headers.get("Content-Length")
    if (length is not None and length.isdigit() and int(length) <= limit
            and not raw.headers.get("Content-Encoding")):
        # the stated length is the body's and within the cap: read whole. A bounded read passes
        # through urllib3's decoded-bytes queue, two copies of a list page at once (4 MB each for
        # 500 injected pods, one per kind read in parallel)
        whole: bytes = raw.read(decode_content=True)
        return whole
    data: bytes = raw.read(limit + 1, decode_content=True)
    return data


def _capped(timeout: tuple[float, float], limit: float | None) -> tuple[float, float]:
    """Socket timeouts no longer than the whole request's deadline."""
    if not limit:
        return timeout
    return (min(timeout[0], limit), min(timeout[1], limit))


def _preview(payload: bytes) -> str:
    text = " ".join(payload[:120].decode("utf-8", errors="replace").split())
    return repr(text + ("…" if len(payload) > 120 else ""))


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _not_sent(exc: BaseException) -> bool:
    """True for failures that happen before the request reaches the server.

    urllib3 wraps them in MaxRetryError, so the cause is read from the text: a refused or timed-out
    TCP connect (``NewConnectionError``, ``ConnectTimeoutError``) or a failed TLS handshake
    (certificate verification) never carried the request.
    """
    text = str(exc).lower()
    return ("refused" in text or "newconnectionerror" in text or "connecttimeouterror" in text
            or "certificate_verify_failed" in text
            or "newconnectionerror" in type(exc).__name__.lower())


def _has_rv_precondition(body: Any) -> bool:
    if isinstance(body, Mapping):
        return bool((body.get("metadata") or {}).get("resourceVersion"))
    if isinstance(body, list):
        return any(isinstance(op, Mapping) and op.get("op") == "test"
                   and op.get("path") == "/metadata/resourceVersion" for op in body)
    return False


# ---------------------------------------------------------------------- connecting


def default_kubeconfig() -> str:
    """``$KUBECONFIG`` (first entry) or ``~/.kube/config``, as kubectl picks it."""
    env = os.environ.get("KUBECONFIG")
    if env:
        return env.split(os.pathsep)[0]
    return str(Path("~/.kube/config").expanduser())


def connect(kubeconfig: str | os.PathLike[str] | None = None, context: str | None = SANDBOX_CONTEXT,
            *, timeout: tuple[float, float] = (5.0, 30.0),
            request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT,
            command_timeout: float | None = None,
            retry: RetryPolicy | None = None, check: bool = True,
            allow_plain_http: bool = False) -> Cluster:
    """Connect to a cluster the way the notebooks' ``kubeconfig``/``context`` parameters mean it.

    Args:
        kubeconfig: a kubeconfig path; None means ``$KUBECONFIG`` or ``~/.kube/config`` — except
            with ``context="sandbox"``, where None means the local sandbox.
        context: ``"sandbox"`` (the local sandbox when no kubeconfig is given, started with the
            ``seed-incident`` scenario if none runs), None (the kubeconfig's current context) or a
            context name in the kubeconfig.
        timeout: (connect, read) seconds for each socket operation.
        request_timeout: seconds for each whole request (connect, headers, body); None or 0: no
            limit.
        command_timeout: seconds for everything the connection sends from now on, retries
            included; None or 0: no limit.
        retry: the retry policy (default: reads retried with backoff).
        check: call ``/version`` once so that an unreachable cluster, or a server that is not a
            Kubernetes API server, fails here, clearly.
        allow_plain_http: accept a ``server: http://…`` (credentials then travel in clear).

    Raises:
        ConfigError: missing or broken kubeconfig, unknown context (the message lists them), a
            plain-HTTP server without ``allow_plain_http``.
        Unreachable / Unauthorized / NotAnApiServer: when ``check`` finds the server unusable.
    """
    is_sandbox = False
    if kubeconfig is None and context == SANDBOX_CONTEXT:
        from runbook.sandbox import ensure_running

        info = ensure_running(scenario="seed-incident")
        kubeconfig, is_sandbox = str(info.kubeconfig_path), True
    path = str(kubeconfig) if kubeconfig is not None else default_kubeconfig()
    contexts, current = _contexts(path)
    if context is None:
        if not current:
            raise ConfigError(f"{path}: has no current-context",
                              hint=f"pass a context: one of {', '.join(sorted(contexts))}")
        context = current
    if context not in contexts:
        known = ", ".join(sorted(contexts)) or "none"
        raise ConfigError(f"context {context!r} not found in {path} (contexts: {known})",
                          hint="pass --context with one of those, or another --kubeconfig")
    ctx = contexts[context]
    configuration = k8s_client.Configuration()
    try:
        k8s_config.load_kube_config(config_file=path, context=context,
                                    client_configuration=configuration, persist_config=False)
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: context {context!r} cannot be used: {_clean(exc)}",
                          hint="check the kubeconfig (kubectl config view)") from None
    # TLS verification stays on: nothing in this project ever turns it off, and a kubeconfig
    # that asks for it (insecure-skip-tls-verify: true, which the official client would honour)
    # is verified anyway — a self-signed server then fails with "TLS verification failed".
    configuration.verify_ssl = True
    # Our RetryPolicy is the only retry layer: urllib3's own (which silently retries 429/503
    # with Retry-After and connection errors) would multiply attempts and hide them from the log.
    configuration.retries = urllib3.Retry(total=0, redirect=0, raise_on_status=False,
                                          respect_retry_after_header=False)
    if urllib.parse.urlparse(configuration.host).scheme != "https" and not allow_plain_http:
        raise ConfigError(
            f"context {context!r} in {path}: server {configuration.host} is not https: the "
            "credentials and everything read would travel in clear",
            hint="use the cluster's https address, or pass --insecure-plain-http "
                 "(allow_plain_http=True) if you accept that")
    # The environment's proxy for this server, resolved once as the client's pool manager takes
    # it: assigned, not left "from the environment", so the kubeconfig loader's token refresh,
    # which assigns the host again before every request, does not read every environment
    # variable again each time (a tenth of a millisecond per request, a thousand requests a minute)
    configuration.proxy = configuration.proxy
    api = k8s_client.ApiClient(configuration)
    api.user_agent = "mesh-runbook"
    use_deadline_pools(api.rest_client.pool_manager)
    cluster = Cluster(
        api=api, context=context, server=configuration.host, user=ctx.get("user"),
        namespace=ctx.get("namespace") or "default", kubeconfig=path,
        is_sandbox=is_sandbox or (context == SANDBOX_CONTEXT and _is_loopback(configuration.host)),
        timeout=timeout, request_timeout=request_timeout or None,
        command_timeout=command_timeout or None, retry=retry or RetryPolicy())
    if check:
        try:
            _check_api_server(cluster)
        except ClusterError as exc:
            # a 403 on /version is a hardened cluster, a 5xx a passing fault: later calls say more
            if isinstance(exc, (Unreachable, NotAnApiServer)) or exc.status in (401, 404):
                cluster.close()
                raise
    return cluster


def _check_api_server(cluster: Cluster) -> None:
    """``/version`` must answer like kube-apiserver's: a JSON object with ``gitVersion``."""
    try:
        answer = cluster.version()
    except NotFound as exc:
        raise NotAnApiServer(
            f"{cluster.server} (context {cluster.context!r}) has no /version: it is not a "
            "Kubernetes API server", hint="check the kubeconfig's server address (a path "
                                          "prefix or proxy in between?)", status=exc.status
        ) from None
    if not isinstance(answer, dict) or not isinstance(answer.get("gitVersion"), str):
        raise NotAnApiServer(
            f"{cluster.server} (context {cluster.context!r}) answered /version with "
            f"{_preview(orjson.dumps(answer))}, not a Kubernetes version",
            hint="check the kubeconfig's server address (a path prefix or proxy in between?)")


def _contexts(path: str) -> tuple[dict[str, dict[str, Any]], str | None]:
    file = Path(path).expanduser()
    if file.exists() and not file.is_file():
        # a FIFO would block the read (or never end): say what it is
        raise ConfigError(f"kubeconfig {path} is {file_type(file)}, not a file",
                          hint="pass a kubeconfig file with --kubeconfig or KUBECONFIG")
    if not file.is_file():
        raise ConfigError(f"kubeconfig {path} does not exist",
                          hint="pass --kubeconfig, set KUBECONFIG, or use the sandbox "
                               "(context 'sandbox' without a kubeconfig)")
    try:
        data = load_yaml(file.read_bytes(), f"kubeconfig {path}") or {}
    except InputLimitExceeded as exc:
        raise ConfigError(exc.message, hint="check the file (kubectl config view)") from None
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"kubeconfig {path} cannot be read: {_clean(exc)}",
                          hint="check the file (kubectl config view)") from None
    if not isinstance(data, dict):
        raise ConfigError(f"kubeconfig {path} is not a kubeconfig (expected a mapping)",
                          hint="check the file (kubectl config view), or pass another --kubeconfig")
    contexts = {}
    for entry in data.get("contexts") or []:
        if isinstance(entry, dict) and entry.get("name"):
            contexts[str(entry["name"])] = dict(entry.get("context") or {})
    return contexts, data.get("current-context") or None


def _clean(exc: BaseException) -> str:
    # exception texts from config loaders can quote file content; keep the first line only
    return " ".join(str(exc).split("\n")[0].split())[:200]


def _is_loopback(url: str) -> bool:
    host = urllib.parse.urlparse(url).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1")


__all__ = [
    "DEFAULT_REQUEST_TIMEOUT",
    "ApiRequest",
    "Cluster",
    "RetryPolicy",
    "connect",
    "default_kubeconfig",
]
