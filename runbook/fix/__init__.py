"""Fix plans: preview (diff), server-side dry run, guarded apply, audit record, exact undo.

One way to plan a fix: :func:`plan_fix` (a finding or a suggestion → a :class:`FixPlan`);
:func:`run_fix` plans, dry-runs and (when asked) applies it in one call; the fix panel
(:class:`runbook.ui.panels.FixPanel`) does the same behind its buttons.
"""

from runbook.audit import AuditLog, AuditRecord
from runbook.fix.actions import plan_fix
from runbook.fix.choices import RECREATE_METHODS, TargetChoice, choose, target_choice
from runbook.fix.flow import FixAttempt, alternative_fix, proposed_fix, recreate_suggestion, run_fix
from runbook.fix.plan import FixPlan, PlanResult, Step, StepResult
from runbook.fix.reconcile import reconcile

__all__ = [
    "RECREATE_METHODS",
    "AuditLog",
    "AuditRecord",
    "FixAttempt",
    "FixPlan",
    "PlanResult",
    "Step",
    "StepResult",
    "TargetChoice",
    "alternative_fix",
    "choose",
    "plan_fix",
    "proposed_fix",
    "reconcile",
    "recreate_suggestion",
    "run_fix",
    "target_choice",
]
