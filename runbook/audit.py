"""The audit trail: one append-only JSONL record per change made (or dry-run) by a fix.

A record says when, in which context (and server), by which kubeconfig user, to which object,
what it was before and after, and how it ended. Records are also rendered into the notebook's
output by the UI, so an exported report shows what was done even without widget state.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runbook.paths import runbook_home
from runbook.redaction import redact_object

_LOCK = threading.Lock()


def default_audit_path() -> Path:
    return Path(os.environ.get("MESH_RUNBOOK_AUDIT") or runbook_home() / "audit.jsonl")


@dataclass
class AuditRecord:
    """One change.

    Attributes:
        time: ISO-8601 UTC.
        action: ``apply`` | ``undo`` | ``dry-run``.
        plan: the plan's title.
        step: which step of the plan.
        context, server, user: where and as whom.
        object: ``kind/namespace/name`` (``kind/name`` when cluster-scoped).
        result: ``applied`` | ``failed`` | ``unknown`` (no answer; may have been applied) |
            ``dry-run`` | ``refused``.
        before, after: the object before and after (None when it did not / no longer exists),
            secret values redacted (:func:`runbook.redaction.redact_object`).
        detail: error or note.
    """

    action: str
    plan: str
    step: str
    context: str
    server: str
    user: str | None
    object: str
    result: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    detail: str = ""
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"))

    def __post_init__(self) -> None:
        # the trail is append-only, shown in notebooks and reports: it never holds a secret value
        # (a Secret's data, a literal DB_PASSWORD in a container's env); undo uses the plan's own
        # copies, not these
        self.before = redact_object(self.before)
        self.after = redact_object(self.after)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line for text outputs and reports."""
        tail = f" — {self.detail}" if self.detail else ""
        return (f"{self.time} {self.action} {self.result}: {self.object} "
                f"[{self.step}] context={self.context} user={self.user or '?'}{tail}")


class AuditLog:
    """Append-only JSONL file of :class:`AuditRecord` (one line each, flushed and fsynced)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_audit_path()

    def append(self, record: AuditRecord) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record.to_dict(), sort_keys=True, default=str)
        with _LOCK, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def read(self) -> list[AuditRecord]:
        if not self.path.exists():
            return []
        out = []
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    out.append(AuditRecord(**json.loads(line)))
        return out
