"""The fix flow without clicks: pick the proposed fix, plan it, dry-run it, apply it (if asked).

This is what the fix panel's buttons do, as one call for notebooks run headlessly
(``apply_fixes``) and for scripts::

    inventory, findings = diagnose_cluster(cluster, namespace="l7-traffic-alpha")
    finding = proposed_fix(findings, "l7-traffic-alpha")
    attempt = run_fix(cluster, finding, apply=apply_fixes, confirm=cluster.context)

:func:`run_fix` never raises a :class:`~runbook.errors.RunbookError`: a refusal (confirmation
missing, concurrent change, 403, partial apply) ends the attempt and is kept on it as ``error``,
so a notebook shows one line instead of a traceback. It stops before applying when the dry run
fails, and does nothing when the plan would change nothing (the cluster is already fixed).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from runbook.audit import AuditLog
from runbook.errors import RunbookError
from runbook.fix.actions import plan_fix
from runbook.fix.choices import choose
from runbook.fix.plan import FixPlan, PlanResult
from runbook.kube import Cluster
from runbook.mesh.findings import ERROR, Finding, FixSuggestion

#: statuses of :class:`FixAttempt`, in the order a fix goes through them
ATTEMPT_STATUSES = ("nothing-to-do", "failed", "no-change", "dry-run-failed", "dry-run", "applied")


def fixable(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that carry a fix, in the diagnosis' order (errors first)."""
    return [f for f in findings if f.fix is not None]


def _affects(finding: Finding, namespace: str | None) -> bool:
    return namespace is None or namespace in finding.namespaces or finding.subject.namespace == namespace


def proposed_fix(findings: Iterable[Finding], namespace: str | None = None) -> Finding | None:
    """The fix that lets pods be created (in ``namespace``): the first *error* finding with a fix
    that is not a recreate (recreating comes after the fix), or None when nothing blocks them."""
    for f in fixable(findings):
        assert f.fix is not None
        if f.severity == ERROR and f.fix.action != "recreate-workloads" and _affects(f, namespace):
            return f
    return None


def alternative_fix(findings: Iterable[Finding], namespace: str | None = None,
                    *, besides: Finding | None = None) -> Finding | None:
    """A re-point of the revision tag that serves ``namespace`` (MR106 before the retarget, MR105
    after it): the fix that keeps the revision the tag claims. None when there is none."""
    for f in fixable(findings):
        assert f.fix is not None
        if f is not besides and f.fix.action == "set-tag-revision" and _affects(f, namespace):
            return f
    return None


def recreate_suggestion(namespace: str, method: str = "rollout-restart") -> FixSuggestion:
    """Recreate every Deployment of ``namespace`` (what ``kubectl rollout restart deployment -n``
    does, or the field report's ``kubectl delete rs --all``).

    The whole namespace rather than the Deployments a diagnosis listed (MR107): a fix of injection
    concerns every pod of the namespace, and a diagnosis made seconds after an apply may not have
    seen every ReplicaSet fail yet.
    """
    command = (f"kubectl rollout restart deployment -n {namespace}" if method == "rollout-restart"
               else f"kubectl delete rs -n {namespace} --all")
    return FixSuggestion("recreate-workloads", {"namespace": namespace, "method": method},
                         command, f"{method} of every Deployment in {namespace}: pods are created "
                                  "through admission again")


@dataclass
class FixAttempt:
    """One pass through the flow, and where it stopped.

    Attributes:
        suggestion: what was attempted (None: there was nothing to fix).
        finding: the finding it came from, when there is one.
        plan: the plan (None when planning failed or there was nothing to do).
        dry_run: the server-side dry run's result.
        applied: the apply's result (None when not asked, or stopped before).
        error: the refusal or failure that ended the attempt (one line: ``str(error)``).
        note: why nothing was done, when nothing was.
    """

    suggestion: FixSuggestion | None
    finding: Finding | None = None
    plan: FixPlan | None = None
    dry_run: PlanResult | None = None
    applied: PlanResult | None = None
    error: RunbookError | None = None
    note: str = ""

    @property
    def status(self) -> str:
        """One of :data:`ATTEMPT_STATUSES`."""
        if self.suggestion is None:
            return "nothing-to-do"
        if self.applied is not None and self.applied.ok and self.error is None:
            return "applied"
        if self.error is not None and (self.dry_run is None or self.dry_run.ok):
            return "failed"
        if self.plan is not None and not self.plan.diff():
            return "no-change"
        if self.dry_run is not None and not self.dry_run.ok:
            return "dry-run-failed"
        return "dry-run"

    @property
    def ok(self) -> bool:
        """Nothing went wrong (which includes: nothing needed doing)."""
        return self.status in ("nothing-to-do", "no-change", "dry-run", "applied")

    def summary(self) -> str:
        """One line: what happened."""
        what = self.plan.title if self.plan else (self.suggestion.summary if self.suggestion else "")
        status = self.status
        if status == "nothing-to-do":
            return self.note or "nothing to fix"
        if status == "no-change":
            return f"{what}: already done — the cluster already matches, nothing was sent"
        if status == "failed":
            return f"{what}: stopped — {self.error}"
        if status == "dry-run-failed":
            failed = [s for s in self.dry_run.steps if s.status == "failed"] if self.dry_run else []
            detail = f" ({failed[0].detail})" if failed else ""
            return f"{what}: the server's dry run refused it{detail}; nothing was applied"
        if status == "dry-run":
            return f"{what}: previewed and dry-run; not applied" + (
                f" ({self.note})" if self.note else "")
        return f"{what}: applied in context {self.applied.context!r}"  # type: ignore[union-attr]


def run_fix(cluster: Cluster, fix: Finding | FixSuggestion | None, *, apply: bool = False,
            confirm: str | None = None, audit: AuditLog | None = None,
            choice: str | None = None) -> FixAttempt:
    """Plan ``fix`` from a fresh read, dry-run it, and apply it when ``apply`` is True.

    Args:
        fix: a finding (its ``fix``) or a suggestion; None records that nothing needed fixing.
        apply: False previews and dry-runs only (the default for headless runs).
        confirm: the kube context's name, needed to apply changes to cluster-scoped objects.
        audit: where the audit records go (default: ``MESH_RUNBOOK_AUDIT`` or the home's file).
        choice: another target than the proposal (see :mod:`runbook.fix.choices`).

    Returns:
        The attempt; never raises a RunbookError (it is kept as ``attempt.error``).
    """
    finding = fix if isinstance(fix, Finding) else None
    suggestion = fix.fix if isinstance(fix, Finding) else fix
    attempt = FixAttempt(suggestion, finding)
    if suggestion is None:
        attempt.note = "nothing to fix: no finding proposes a fix"
        return attempt
    try:
        attempt.plan = plan_fix(cluster, choose(suggestion, choice))
    except RunbookError as exc:
        attempt.error = exc
        return attempt
    if not attempt.plan.diff():
        return attempt  # already done: a PUT of the same object would be noise in the audit
    attempt.dry_run = attempt.plan.dry_run(cluster, audit=audit)
    if not attempt.dry_run.ok:
        return attempt
    if not apply:
        attempt.note = "preview only: applying was not asked for"
        return attempt
    try:
        attempt.applied = attempt.plan.apply(cluster, confirm=confirm, audit=audit)
    except RunbookError as exc:
        attempt.error = exc
    return attempt


def recreate_reason(findings: Iterable[Finding], namespace: str, *, fix_applied: bool = False
                    ) -> str | None:
    """Why the workloads of ``namespace`` should be recreated now, or None when nothing says so.

    Pods are injected only when they are created, so: a fix that changes injection was just
    applied, or the diagnosis asks for it (MR107: ReplicaSets still short of pods; IST0158: pods
    carry the sidecar of another revision than the namespace injects now). Recreating without a
    reason is churn (a rollout of every Deployment) that a second run of a notebook must not cause.
    """
    if fix_applied:
        return "a fix was applied: pods get the corrected injection only when they are created"
    for f in fixable(findings):
        assert f.fix is not None
        if f.fix.action == "recreate-workloads" and f.fix.params.get("namespace") == namespace:
            return f"{f.code}: {f.message}"
    return None


__all__ = [
    "ATTEMPT_STATUSES",
    "FixAttempt",
    "alternative_fix",
    "fixable",
    "proposed_fix",
    "recreate_reason",
    "recreate_suggestion",
    "run_fix",
]
