"""Fix plans: preview (diff), server-side dry run, guarded apply, audit record, exact undo."""

from runbook.fix.audit import AuditLog, AuditRecord
from runbook.fix.plan import FixPlan, PlanResult, Step, StepResult
from runbook.fix.plans import (
    plan_from_suggestion,
    recreate_workloads,
    relabel_namespace,
    remove_namespace_label,
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
    "plan_from_suggestion",
    "recreate_workloads",
    "relabel_namespace",
    "remove_namespace_label",
    "retarget_webhook",
    "set_tag_revision",
]
