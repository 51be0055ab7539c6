"""kube-apiserver's admission-webhook failure messages, as ReplicaSet events carry them.

Composed exactly like kubernetes/kubernetes does it (see formats.md §5b)::

    Error creating: Internal error occurred: failed calling webhook "<webhook>": failed to call
    webhook: Post "https://<svc>.<ns>.svc:443/inject?timeout=10s": service "<svc>" not found

The composers (used by the sandbox) and :func:`parse_admission_error` (used by the client) live
together so that both sides agree on one format. :func:`rules_match` is the apiserver's
"does this webhook care about this request" rule test, needed by both sides too.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from runbook.statuses import AdmissionErrorKind


def webhook_service_url(name: str, namespace: str, port: int | None = 443, path: str | None = None
                        ) -> str:
    """``https://<name>.<namespace>.svc:<port><path>`` as the apiserver's HookClient builds it."""
    return f"https://{name}.{namespace}.svc:{port or 443}{path or ''}"


def service_not_found(name: str) -> str:
    """The service lister's NotFound message."""
    return f'service "{name}" not found'


def no_endpoints(name: str) -> str:
    """The endpoint resolver's message for a service without ready endpoints."""
    return f'no endpoints available for service "{name}"'


def no_service_port(port: int, name: str) -> str:
    return f'no service port {port} found for service "{name}"'


def webhook_call_failed(webhook: str, url: str, cause: str, timeout_seconds: int | None = 10) -> str:
    """``failed calling webhook "<w>": failed to call webhook: Post "<url>?timeout=Ns": <cause>``."""
    timeout = timeout_seconds if timeout_seconds else 10
    return (
        f'failed calling webhook "{webhook}": failed to call webhook: '
        f'Post "{url}?timeout={timeout}s": {cause}'
    )


def webhook_call_error(webhook: str, error: str) -> str:
    """``failed calling webhook "<w>": failed to call webhook: <error>``: the server answered, but
    with an error (e.g. a 404 for a path it does not serve), so no ``Post "<url>"`` wrapping."""
    return f'failed calling webhook "{webhook}": failed to call webhook: {error}'


def webhook_denied(webhook: str, message: str) -> str:
    """A webhook that answered ``allowed: false``."""
    return f'admission webhook "{webhook}" denied the request: {message}'


def internal_error(message: str) -> str:
    """apimachinery ``NewInternalError`` (how failurePolicy Fail surfaces a call failure)."""
    return f"Internal error occurred: {message}"


def failed_create(error: str) -> str:
    """The ReplicaSet controller's ``FailedCreate`` event message."""
    return f"Error creating: {error}"


# ------------------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class AdmissionError:
    """What an admission failure message says, in parts.

    Attributes:
        webhook: the webhook's name (``rev.namespace.sidecar-injector.istio.io``).
        error_kind: one of :data:`runbook.statuses.ADMISSION_ERROR_KINDS` (empty in a
            placeholder that holds no parsed error).
        cause: the text after the URL (``service "istiod-1-18-5" not found``), or the denial
            reason, or ``no further details available``.
        url: the URL the apiserver posted to, without the ``?timeout=`` query (None when the
            message names none).
        service, service_namespace, port, path: the Service the URL addresses, when its host has
            the HookClient form ``<name>.<namespace>.svc`` (None for a plain URL webhook).
        timeout_seconds: the ``?timeout=Ns`` the apiserver appended.
        legacy: the message uses an older spelling (``failed calling admission webhook`` or an
            unquoted URL, i.e. an apiserver built with Go < 1.14).
        pod, statefulset: set for the StatefulSet controller's form
            (``create Pod <pod> in StatefulSet <sts> failed error: …``).
        message: the message as given (whitespace normalised).
    """

    webhook: str
    error_kind: AdmissionErrorKind | Literal[""]
    cause: str
    url: str | None = None
    service: str | None = None
    service_namespace: str | None = None
    port: int | None = None
    path: str | None = None
    timeout_seconds: int | None = None
    legacy: bool = False
    pod: str | None = None
    statefulset: str | None = None
    message: str = ""


# ErrCallingWebhook.Error() (current), and the older errors.go spelling with "admission".
_CALLING = re.compile(
    r'failed calling (?P<admission>admission )?webhook "(?P<webhook>[^"]+)"'
    r"(?:; (?P<nodetails>no further details available)|: (?P<rest>.*))")
# webhookerrors.ToStatusErr: allowed=false answers.
_DENIED = re.compile(
    r'admission webhook "(?P<webhook>[^"]+)" denied the request'
    r"(?:(?P<noexpl> without explanation)|: (?P<reason>.*))?")
# Go net/http url.Error: `Post "<url>": <err>` since Go 1.14, `Post <url>: <err>` before.
_POST_QUOTED = re.compile(r'^(?:Post|POST) "(?P<url>[^"]+)": (?P<cause>.*)$')
_POST_BARE = re.compile(r"^(?:Post|POST) (?P<url>https?://\S+): (?P<cause>.*)$")
_STATEFULSET = re.compile(r"create Pod (?P<pod>\S+) in StatefulSet (?P<sts>\S+) failed error: ")

_KIND_PATTERNS: tuple[tuple[AdmissionErrorKind, re.Pattern[str]], ...] = (
    ("service_not_found", re.compile(r'\bservices? "[^"]*" not found', re.I)),
    ("no_endpoints", re.compile(r'no endpoints available for service|\bendpoints "[^"]*" not found',
                                re.I)),
    ("invalid_response", re.compile(r"received invalid webhook response", re.I)),
    ("tls", re.compile(r"x509:|\btls:|certificate", re.I)),
    ("connection_refused", re.compile(r"connection refused", re.I)),
    ("timeout", re.compile(r"deadline exceeded|timeout|timed out|request canceled", re.I)),
)


def parse_admission_error(message: str) -> AdmissionError | None:
    """Parse an admission webhook failure out of an event or condition message.

    Understands every shape in formats.md §5b and the real messages collected in
    tests/mesh/test_admission_errors.py: the current form (``failed calling webhook "w": failed to
    call webhook: Post "<url>": <cause>``), the older one (``failed calling admission webhook``,
    unquoted ``Post https://…``, no ``?timeout``), ``; no further details available``, denials
    (``admission webhook "w" denied the request: …``), ``received invalid webhook response``, and
    whatever wraps it (``Error creating:``, ``Internal error occurred:``, the StatefulSet
    controller's ``create Pod <p> in StatefulSet <s> failed error:``, ``Reissued from …``,
    kubectl's ``Error from server (InternalError): …``). Escaped quotes (``\\"``) from logs are
    accepted.

    Returns:
        The parts, or None when the message names no webhook (e.g. ``Timeout: request did not
        complete within requested timeout`` — the apiserver gave up without saying which webhook).
    """
    return _parse_cached(" ".join(message.split()))


@lru_cache(maxsize=4096)
def _parse_cached(text: str) -> AdmissionError | None:
    # Many events share one message: the cache makes 50,000 events cost a few hundred parses.
    if '\\"' in text:
        text = text.replace('\\"', '"')
    sts = _STATEFULSET.search(text)
    pod, statefulset = (sts.group("pod"), sts.group("sts")) if sts else (None, None)
    denied = _DENIED.search(text)
    calling = _CALLING.search(text)
    if denied and (not calling or denied.start() < calling.start()):
        reason = denied.group("reason") or ("without explanation" if denied.group("noexpl") else "")
        return AdmissionError(webhook=denied.group("webhook"), error_kind="denied",
                              cause=reason.strip(), pod=pod, statefulset=statefulset,
                              message=text)
    if not calling:
        return None
    legacy = bool(calling.group("admission"))
    if calling.group("nodetails"):
        return AdmissionError(webhook=calling.group("webhook"), error_kind="other",
                              cause="no further details available", legacy=legacy, pod=pod,
                              statefulset=statefulset, message=text)
    rest = calling.group("rest").strip()
    if rest.startswith("failed to call webhook: "):
        rest = rest[len("failed to call webhook: "):]
    url = None
    post = _POST_QUOTED.match(rest)
    if post is None:
        post = _POST_BARE.match(rest)
        legacy = legacy or post is not None
    cause = rest
    if post is not None:
        url, cause = post.group("url"), post.group("cause")
    parts = _url_parts(url) if url else {}
    return AdmissionError(webhook=calling.group("webhook"), error_kind=_error_kind(cause),
                          cause=cause.strip(), legacy=legacy, pod=pod, statefulset=statefulset,
                          message=text, **parts)


def _error_kind(cause: str) -> AdmissionErrorKind:
    for kind, pattern in _KIND_PATTERNS:
        if pattern.search(cause):
            return kind
    return "other"


def _url_parts(url: str) -> dict[str, Any]:
    """Split ``https://<name>.<ns>.svc:<port><path>?timeout=Ns`` as HookClient builds it."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query)
    timeout = None
    if "timeout" in query:
        m = re.fullmatch(r"(\d+)s", query["timeout"][0])
        timeout = int(m.group(1)) if m else None
    kept_query = "&".join(f"{k}={v}" for k, vs in query.items() if k != "timeout" for v in vs)
    clean = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, kept_query, ""))
    out: dict[str, Any] = {"url": clean, "timeout_seconds": timeout, "path": parts.path or ""}
    host = parts.hostname or ""
    labels = host.split(".")
    if len(labels) == 3 and labels[2] == "svc":
        out["service"], out["service_namespace"] = labels[0], labels[1]
        try:
            out["port"] = parts.port or 443
        except ValueError:
            out["port"] = None
    return out


# --------------------------------------------------------------------------------- rule matching


def rules_match(rules: Iterable[Mapping[str, Any]] | None, *, operation: str, group: str,
                version: str, resource: str, subresource: str = "", namespaced: bool = True
                ) -> bool:
    """Whether a webhook's ``rules`` cover a request, as the apiserver decides it.

    Semantics of k8s.io/apiserver ``admission/plugin/webhook/predicates/rules`` (RuleMatcher):
    every field of one rule must match; ``*`` matches any operation/group/version; a resource
    ``res/sub`` matches when each half is equal or ``*`` (``pods`` = pods only, ``*`` = every
    resource without subresource, ``*/*`` everything, ``pods/*`` pods and all its subresources,
    ``*/status`` any status subresource); ``scope`` ``*`` (the API default) matches both,
    ``Namespaced``/``Cluster`` only their kind. No rules: no match.
    """
    for rule in rules or ():
        ops = rule.get("operations") or []
        if "*" not in ops and operation not in ops:
            continue
        groups = rule.get("apiGroups") or []
        if "*" not in groups and group not in groups:
            continue
        versions = rule.get("apiVersions") or []
        if "*" not in versions and version not in versions:
            continue
        scope = rule.get("scope") or "*"
        if scope != "*" and scope != ("Namespaced" if namespaced else "Cluster"):
            continue
        if any(_resource_matches(r, resource, subresource)
               for r in rule.get("resources") or []):
            return True
    return False


def _resource_matches(pattern: str, resource: str, subresource: str) -> bool:
    # Matcher.resource(): split "res/sub"; each half matches exactly or by "*" (so "pods/*"
    # covers pods itself too, whose subresource is "")
    res, _, sub = pattern.partition("/")
    return res in ("*", resource) and sub in ("*", subresource)
