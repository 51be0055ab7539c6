"""Settling changes whose outcome is unknown: a ``started`` audit record without its outcome.

The audit trail is written ahead (:mod:`runbook.audit`): a run killed between announcing a write
and recording its outcome leaves "started, outcome unknown". The object's live state tells what
happened: it holds the change (applied), still holds what was there before (not applied), or
holds neither (somebody changed it since — a person must look). :func:`reconcile` appends that
finding as the change's outcome, so the trail is complete again and an undo by hand knows what
to revert.
"""

from __future__ import annotations

from runbook.audit import STARTED, AuditLog, AuditRecord
from runbook.errors import NotFound
from runbook.fix.plan import configuration_of
from runbook.kinds import default_registry
from runbook.kube import Cluster
from runbook.redaction import redact_object


def reconcile(cluster: Cluster, record: AuditRecord, audit: AuditLog | None = None) -> AuditRecord:
    """Compare a ``started`` record with its live object and append the outcome it shows.

    Returns:
        The appended outcome: ``applied`` (the live object is the record's ``after``), ``failed``
        (it is still the ``before``: the write never landed) or ``unknown`` (neither, or an
        object this cannot read back, such as a sandbox reset), with the reason in ``detail``.

    Raises:
        ValueError: ``record`` is not a ``started`` one.
        ClusterError: the object cannot be read.
    """
    if record.result != STARTED:
        raise ValueError(f"only a started record can be reconciled, not a {record.result!r} one")
    if record.context != cluster.context or record.server != cluster.server:
        raise ValueError(f"the record is of context {record.context!r} ({record.server}), "
                         f"not {cluster.context!r} ({cluster.server})")
    kind_name, *rest = record.object.split("/")
    kind = default_registry().by_name(kind_name)
    if kind is None or len(rest) != (2 if kind.namespaced else 1):
        outcome, detail = "unknown", f"{record.object} cannot be read back: check it by hand"
    else:
        namespace, name = (rest[0], rest[1]) if kind.namespaced else (None, rest[0])
        try:
            live = cluster.get(kind, name, namespace)
        except NotFound:
            live = None
        # the record holds redacted objects: compare like with like
        seen = redact_object(configuration_of(live))
        if seen == redact_object(configuration_of(record.after)):
            outcome, detail = "applied", "reconciled: the live object holds the change"
        elif seen == redact_object(configuration_of(record.before)):
            outcome, detail = "failed", "reconciled: the live object is as before, the write never landed"
        else:
            outcome, detail = "unknown", ("reconciled: the live object is neither as before nor as "
                                          "changed — changed since by someone else? check it by hand")
    settled = record.completed(outcome, detail)
    (audit or AuditLog()).append(settled)
    return settled


__all__ = ["reconcile"]
