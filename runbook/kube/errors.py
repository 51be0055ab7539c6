"""The one place where Kubernetes API failures become :mod:`runbook.errors` exceptions.

Everything that talks HTTP goes through :func:`translate_status` (an answer with an error status)
or :func:`translate_transport` (no usable answer). Messages are one line, short, and say what to do;
they never contain credentials (bodies are Status objects from the server, which carry none, and we
cut them to a bounded length anyway).
"""

from __future__ import annotations

from typing import Any

import orjson

from runbook.errors import (
    AlreadyExists,
    BadRequest,
    Cause,
    ClusterError,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    ServerError,
    Unauthorized,
    Unreachable,
)

#: longest server message we repeat (a misbehaving proxy may answer with a whole HTML page)
_MAX_MESSAGE = 400


def _scope(namespace: str | None) -> str:
    return f"in namespace {namespace!r}" if namespace else "at cluster scope"


def parse_status(body: bytes | str | None) -> dict[str, Any]:
    """The ``kind: Status`` object of an error answer, or ``{}`` when the body is not one."""
    if not body:
        return {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def translate_status(
    status: int,
    body: bytes | str | None,
    *,
    verb: str,
    resource: str,
    namespace: str | None = None,
    name: str | None = None,
    context: str | None = None,
    retry_after: float | None = None,
) -> ClusterError:
    """Turn an HTTP error answer into the matching :class:`~runbook.errors.ClusterError`.

    Args:
        status: HTTP status code.
        body: the raw answer body (normally a ``kind: Status`` object).
        verb: what we tried (``get``, ``list``, ``patch`` …).
        resource: the resource (``mutatingwebhookconfigurations``, ``replicasets.apps``).
        namespace, name: what it was about.
        context: the kube context, named in messages so nobody wonders which cluster said no.
    """
    st = parse_status(body)
    server_msg = str(st.get("message") or "").strip()
    if not server_msg and body:
        text = body.decode(errors="replace") if isinstance(body, bytes) else body
        server_msg = " ".join(text.split())
    server_msg = server_msg[:_MAX_MESSAGE]
    reason = str(st.get("reason") or "")
    in_ctx = f" in context {context!r}" if context else ""
    what = f"{resource}/{name}" if name else resource
    common: dict[str, Any] = dict(status=status, reason=reason, verb=verb, resource=resource,
                                  namespace=namespace, name=name, retry_after=retry_after)

    if status == 401:
        return Unauthorized(
            f"unauthorized{in_ctx}: the credentials were refused ({server_msg or 'no details'})",
            hint="log in again or refresh the kubeconfig's token", **common)
    if status == 403:
        return Forbidden(
            f"forbidden: cannot {verb} {resource} {_scope(namespace)}{in_ctx}"
            + (f" ({server_msg})" if server_msg else ""),
            hint=f"ask for RBAC permission to {verb} {resource} {_scope(namespace)} "
                 "(see rbac/ in the repository for least-privilege roles)",
            **common)
    if status == 404:
        return NotFound(server_msg or f"{what} not found {_scope(namespace)}{in_ctx}",
                        hint=_not_found_hint(server_msg, resource), **common)
    if status == 409:
        if reason == "AlreadyExists":
            return AlreadyExists(server_msg or f"{what} already exists", **common)
        return Conflict(
            server_msg or f"{what} was changed by someone else",
            hint="somebody changed it since it was read; read it again and re-plan", **common)
    if status == 422:
        causes = [
            Cause(str(c.get("field", "")), str(c.get("reason", "")), str(c.get("message", "")))
            for c in (st.get("details") or {}).get("causes") or []
        ]
        return Invalid(server_msg or f"{what} is invalid", causes=causes,
                       hint="fix the object; nothing was changed", **common)
    if status in (400, 413, 415):
        hint = ("correct or remove that field (kubectl explain shows the schema); nothing was "
                "changed" if "unknown field" in server_msg or "strict decoding" in server_msg
                else "the server could not use the request; fix it — nothing was changed")
        return BadRequest(server_msg or f"bad request for {what}", hint=hint, **common)
    if status == 429 or status >= 500:
        return ServerError(
            f"the API server{in_ctx} answered {status}"
            + (f": {server_msg}" if server_msg else "") + f" (while trying to {verb} {what})",
            hint="the server is overloaded or failing; try again shortly", **common)
    return ClusterError(f"{verb} {what}: HTTP {status}" + (f": {server_msg}" if server_msg else ""),
                        **common)


def _not_found_hint(message: str, resource: str) -> str:
    if message.startswith("namespaces "):
        return "create the namespace first or check its name (kubectl get ns)"
    if "the server could not find the requested resource" in message:
        return f"this cluster does not serve {resource} (is the CRD installed?)"
    return "check the name and namespace"


def translate_transport(exc: BaseException, *, server: str, context: str | None,
                        verb: str = "", resource: str = "", maybe_applied: bool = False,
                        deadline: float | None = None,
                        deadline_flag: str = "--request-timeout") -> Unreachable:
    """No usable answer: refused, DNS, TLS, timeout or a dropped connection.

    Args:
        maybe_applied: the failed request was a write that was sent: the server may have applied
            it before the answer was lost, and the message says so (client-go never retries such a
            write either; kubectl reports it and leaves the check to the user).
        deadline: the seconds the exchange was given, when its deadline is what cut it.
        deadline_flag: the option that sets that deadline (named in the hint):
            ``--request-timeout`` (one request) or ``--deadline`` (the whole command).
    """
    text = " ".join(str(exc).split())[:_MAX_MESSAGE]
    low = text.lower()
    if deadline is not None:
        kind = (f"the command's deadline ({deadline:g} s) passed" if deadline_flag == "--deadline"
                else f"no complete answer within {deadline:g} s")
        hint = ("the API server (or a proxy in between) is too slow or stalled; try again, or "
                f"allow more with {deadline_flag} (0: no limit)")
    elif "certificate" in low or "ssl" in low or "tls" in low:
        kind, hint = "TLS verification failed", "check the kubeconfig's certificate-authority; " \
            "verification is never turned off"
    elif "timed out" in low or "timeout" in low:
        kind, hint = "timed out", "the API server is slow or unreachable; try again"
    elif "refused" in low:
        kind, hint = "connection refused", "is the cluster (or `runbook sandbox`) running?"
    elif "name or service not known" in low or "nodename nor servname" in low \
            or "failed to resolve" in low or "getaddrinfo" in low:
        kind, hint = "cannot resolve the server name", "check the kubeconfig's server address"
    elif "remotedisconnected" in low or "connection aborted" in low or "reset by peer" in low \
            or "ended prematurely" in low or "incompleteread" in low:
        kind, hint = "the connection was closed without an answer", \
            "the API server (or a proxy in between) dropped it; try again"
    else:
        kind, hint = "connection failed", "check that the API server is reachable"
    in_ctx = f" (context {context!r})" if context else ""
    # urllib3's texts repeat the pool and URL; the kind of failure is what a reader needs
    tail = f": {text}" if kind == "connection failed" else ""
    what = f" while trying to {verb} {resource}" if verb and resource else ""
    if maybe_applied:
        hint = (f"the server may have applied the {verb or 'write'} before the answer was lost: "
                f"check the object (kubectl get) before trying again")
    error = Unreachable(f"cannot reach the API server {server}{in_ctx}{what}: {kind}{tail}",
                        hint=hint, verb=verb, resource=resource)
    error.maybe_applied = maybe_applied
    return error
