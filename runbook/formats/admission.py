"""kube-apiserver's admission-webhook failure messages, as ReplicaSet events carry them.

Composed exactly like kubernetes/kubernetes does it (see formats.md §5b)::

    Error creating: Internal error occurred: failed calling webhook "<webhook>": failed to call
    webhook: Post "https://<svc>.<ns>.svc:443/inject?timeout=10s": service "<svc>" not found
"""

from __future__ import annotations


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


def webhook_denied(webhook: str, message: str) -> str:
    """A webhook that answered ``allowed: false``."""
    return f'admission webhook "{webhook}" denied the request: {message}'


def internal_error(message: str) -> str:
    """apimachinery ``NewInternalError`` (how failurePolicy Fail surfaces a call failure)."""
    return f"Internal error occurred: {message}"


def failed_create(error: str) -> str:
    """The ReplicaSet controller's ``FailedCreate`` event message."""
    return f"Error creating: {error}"
