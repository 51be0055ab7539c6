"""Fix plans: preview (diff), server-side dry run, guarded apply, audit record, exact undo."""

from runbook.audit import AuditLog, AuditRecord
from runbook.fix.checks import ExerciseCheck, check_tag_exercise
from runbook.fix.choices import TargetChoice, choose, target_choice
from runbook.fix.flow import FixAttempt, alternative_fix, proposed_fix, recreate_suggestion, run_fix
from runbook.fix.plan import FixPlan, PlanResult, Step, StepResult
from runbook.fix.plans import (
    plan_from_suggestion,
    recreate_workloads,
    relabel_namespace,
    remove_namespace_label,
    retarget_webhook,
    set_tag_revision,
)
from runbook.fix.reconcile import reconcile

__all__ = [
    "AuditLog",
    "AuditRecord",
    "ExerciseCheck",
    "FixAttempt",
    "FixPlan",
    "PlanResult",
    "Step",
    "StepResult",
    "TargetChoice",
    "alternative_fix",
    "check_tag_exercise",
    "choose",
    "plan_from_suggestion",
    "proposed_fix",
    "reconcile",
    "recreate_suggestion",
    "recreate_workloads",
    "relabel_namespace",
    "remove_namespace_label",
    "retarget_webhook",
    "run_fix",
    "set_tag_revision",
    "target_choice",
]
