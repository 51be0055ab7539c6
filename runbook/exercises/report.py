"""Notebook 06's exercise check: the alternative fix applied, and the report with nothing left to do."""

from __future__ import annotations

from runbook.check_result import ExerciseCheck
from runbook.exercises.tag import check_tag_exercise
from runbook.mesh.diagnose import diagnose, inventory
from runbook.mesh.findings import ERROR
from runbook.snapshot import Snapshot


def check_report_exercise(snapshot: Snapshot, namespace: str, *, revision: str = "1-18-5"
                          ) -> ExerciseCheck:
    """Notebook 06's exercise: the alternative fix is applied and nothing is left to report.

    Every condition of notebook 03's tag exercise (the tag claims ``revision``, its webhooks reach
    that revision's istiod, every pod ready with its sidecar), then what the regenerated report's
    summary must say: no MR105 (tag claim ≠ reached revision) and no error finding for
    ``namespace``.
    """
    tag_check = check_tag_exercise(snapshot, namespace, revision=revision)
    check = ExerciseCheck(f"Exercise: the alternative fix in {namespace} — tag serves revision "
                          f"{revision}, and the report has nothing left to do", list(tag_check.lines))
    findings = diagnose(inventory(snapshot), namespace=namespace)
    drift = [f for f in findings if f.code == "MR105"]
    check.add(not drift, "no MR105 warning: the tag reaches the revision it claims" if not drift else
              f"MR105 still reported: {drift[0].message} — {drift[0].fix.command if drift[0].fix else ''}")
    errors = [f for f in findings if f.severity == ERROR]
    check.add(not errors, f"no error finding for {namespace}" if not errors else
              f"{len(errors)} error finding(s): {errors[0].code} {errors[0].message}")
    return check


__all__ = ["check_report_exercise"]
