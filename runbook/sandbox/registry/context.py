"""Who asks and how: the parts of a request that are not the object, and the controllers' identity."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RequestContext:
    """Who asks and how (the parts of a request that are not the object).

    Attributes:
        user: the authenticated user name.
        dry_run: ``dryRun=All``.
        field_manager: ``fieldManager`` (defaults by verb as the real server derives them).
        field_validation: ``Strict`` | ``Warn`` | ``Ignore`` (unknown fields of custom resources).
        force: ``force=true`` for server-side apply.
        warnings: filled by the verb: sent back as ``Warning: 299 - "…"`` headers.
    """

    user: str = "system:admin"
    dry_run: bool = False
    field_manager: str | None = None
    field_validation: str = "Warn"
    force: bool = False
    warnings: list[str] = field(default_factory=list)


SYSTEM = RequestContext(user="system:serviceaccount:kube-system:sandbox-controllers")


def system_writer(field_manager: str) -> RequestContext:
    """The controllers' identity, recording ``field_manager`` in managedFields as the component
    of a real cluster that writes the same object does (so server-side apply conflicts with it)."""
    return RequestContext(user=SYSTEM.user, field_manager=field_manager)
