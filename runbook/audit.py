"""The audit trail: an append-only JSONL file of every change made (or dry-run) by a fix.

A record says when, in which context (and server), by which kubeconfig user, to which object,
what it was before and after, and how it ended. Records are also rendered into the notebook's
output by the UI, so an exported report shows what was done even without widget state.

The trail is written ahead: before each write to the cluster a ``started`` record is appended
and fsynced (:meth:`AuditLog.begin`), and the outcome is appended after it under the same ``id``.
A process killed between the two leaves a ``started`` record with no outcome — "outcome unknown"
— which :func:`unfinished` finds and the next run shows (and ``runbook.fix.reconcile`` settles
against the live object). Files are created 0600 (they hold objects of the cluster), and records
are only ever appended: a headless run (``runbook run``) writes each record to the user's trail
first and to its own copy (``$MESH_RUNBOOK_AUDIT_COPY``) second, so no record depends on a step
after the kill.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runbook.paths import runbook_home
from runbook.redaction import redact_object, redact_text
from runbook.snapshot import RawObject

_LOCK = threading.Lock()
AUDIT_ENV = "MESH_RUNBOOK_AUDIT"
#: a second file every default :class:`AuditLog` also appends to (a headless run's own copy)
AUDIT_COPY_ENV = "MESH_RUNBOOK_AUDIT_COPY"
#: the headless run a record was made in (``runbook run`` sets it for its kernel)
RUN_ENV = "MESH_RUNBOOK_RUN_ID"
STARTED = "started"
#: file mode of audit files: they hold objects of the cluster and who changed them
FILE_MODE = 0o600


def default_audit_path() -> Path:
    return Path(os.environ.get(AUDIT_ENV) or runbook_home() / "audit.jsonl")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _new_id() -> str:
    return uuid.uuid4().hex[:16]


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
        result: ``started`` (written before the request; alone, the outcome is unknown) |
            ``applied`` | ``failed`` | ``unknown`` (no answer; may have been applied) |
            ``dry-run`` | ``refused``.
        before, after: the object before and after (None when it did not / no longer exists),
            secret values redacted (:func:`runbook.redaction.redact_object`).
        detail: error or note.
        id: the change: its ``started`` record and its outcome share it.
        run: the headless run it was made in (``$MESH_RUNBOOK_RUN_ID``), "" outside one.
    """

    action: str
    plan: str
    step: str
    context: str
    server: str
    user: str | None
    object: str
    result: str
    before: RawObject | None = None
    after: RawObject | None = None
    detail: str = ""
    time: str = field(default_factory=_now)
    id: str = field(default_factory=_new_id)
    run: str = field(default_factory=lambda: os.environ.get(RUN_ENV, ""))

    def __post_init__(self) -> None:
        # the trail is append-only, shown in notebooks and reports: it never holds a secret value
        # (a Secret's data, a literal DB_PASSWORD in a container's env); undo uses the plan's own
        # copies, not these
        self.before = redact_object(self.before)
        self.after = redact_object(self.after)
        self.detail = redact_text(self.detail)  # error lines can quote what the server saw

    def completed(self, result: str, detail: str | None = None) -> AuditRecord:
        """The outcome of this started change: the same record and ``id``, at the time of now."""
        return replace(self, result=result, detail=self.detail if detail is None else detail,
                       time=_now())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line for text outputs and reports."""
        tail = f" — {self.detail}" if self.detail else ""
        result = "started, outcome unknown" if self.result == STARTED else self.result
        return (f"{self.time} {self.action} {result}: {self.object} "
                f"[{self.step}] context={self.context} user={self.user or '?'}{tail}")


class AuditLog:
    """Append-only JSONL file of :class:`AuditRecord` (one line each, flushed and fsynced, 0600).

    Args:
        path: the file; by default ``$MESH_RUNBOOK_AUDIT`` or ``<home>/audit.jsonl``, plus a copy
            to ``$MESH_RUNBOOK_AUDIT_COPY`` when set.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_audit_path()
        copy = os.environ.get(AUDIT_COPY_ENV) if path is None else None
        self.copies = [Path(copy)] if copy and Path(copy) != self.path else []

    def append(self, record: AuditRecord) -> None:
        """Append ``record`` to the file (then to its copies), each line fsynced."""
        line = json.dumps(record.to_dict(), sort_keys=True, default=str) + "\n"
        with _LOCK:
            for path in (self.path, *self.copies):
                _append_line(path, line)

    def begin(self, record: AuditRecord) -> AuditRecord:
        """Append the ``started`` form of ``record`` before its write is sent; returns it.

        Its outcome is appended later as an ordinary record with the same ``id``
        (``dataclasses.replace(started, result=…)``).
        """
        started = replace(record, result=STARTED,
                          detail="recorded before the request was sent; without a later record "
                                 "of the same id its outcome is unknown")
        self.append(started)
        return started

    def entries(self) -> list[AuditRecord]:
        """Every line of the file, ``started`` records included."""
        if not self.path.exists():
            return []
        out = []
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    out.append(AuditRecord(**json.loads(line)))
        return out

    def read(self) -> list[AuditRecord]:
        """One record per change: its outcome, or its ``started`` record when it has none."""
        return settled(self.entries())

    def unfinished(self) -> list[AuditRecord]:
        """The changes whose outcome was never recorded (the process was killed mid-write)."""
        return unfinished(self.entries())


def settled(records: Iterable[AuditRecord]) -> list[AuditRecord]:
    """``records`` with each ``started`` one replaced by its outcome when there is one."""
    records = list(records)
    finished = {r.id for r in records if r.result != STARTED}
    return [r for r in records if r.result != STARTED or r.id not in finished]


def unfinished(records: Iterable[AuditRecord]) -> list[AuditRecord]:
    """The ``started`` records without an outcome (oldest first)."""
    return [r for r in settled(records) if r.result == STARTED]


def _append_line(path: Path, line: str) -> None:
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # a file made by an earlier version may be world-readable
        data = memoryview(line.encode("utf-8"))
        while data:
            data = data[os.write(fd, data):]
        os.fsync(fd)
    finally:
        os.close(fd)
