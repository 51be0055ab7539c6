"""Fix plans: preview (diff), server-side dry run, guarded apply, audit record, exact undo."""

from runbook.fix.audit import AuditLog, AuditRecord
from runbook.fix.plan import FixPlan, PlanResult, Step, StepResult
from runbook.fix.plans import (
    recreate_workloads,
    relabel_namespace,
    retarget_webhook,
    set_tag_revision,
)

__all__ = [
    "AuditLog",
    "AuditRecord",
    "FixPlan",
    "PlanResult",
    "Step",
    "StepResult",
    "recreate_workloads",
    "relabel_namespace",
    "retarget_webhook",
    "set_tag_revision",
]
