"""mesh-runbook: notebook runbooks for Kubernetes clusters running several Istio revisions.

The front door: what a notebook or a script needs, from one place::

    import runbook as rb

    cluster = rb.connect(context="sandbox")
    inventory, findings = rb.diagnose_cluster(cluster, namespace="l7-traffic-alpha")
    finding = rb.proposed_fix(findings, "l7-traffic-alpha")
    plan = rb.plan_fix(cluster, finding)          # preview, dry run, guarded apply, undo
    print(plan.preview())
    attempt = rb.run_fix(cluster, finding, apply=False)   # plan + dry run (+ apply) in one call

One way to get each thing: :func:`diagnose_cluster` for a diagnosis (inventory and findings),
:func:`plan_fix` for a fix plan, :class:`FixPanel` for the same with buttons, and
:class:`IncidentReport` for the whole incident as one report. The exercises' check cells import
from :mod:`runbook.exercises`; the probe itself is ``runbook.probe.probe`` (its name is its
package's). Everything else is internal and may change.

The exceptions are imported with the package; every other name is imported on first use
(:mod:`runbook.lazy`), so ``import runbook`` stays as fast as importing the exceptions, and a
name costs only its own module's imports (pandas, the official client, matplotlib …).
"""

from __future__ import annotations

import typing as _typing

from runbook.errors import (
    ClusterError,
    ConcurrentChange,
    ConfigError,
    Conflict,
    FixError,
    Forbidden,
    InputError,
    Invalid,
    NotFound,
    RunbookError,
    Unreachable,
)
from runbook.lazy import lazy_exports as _lazy_exports

# the names a type checker sees; at run time they come from _EXPORTS
if _typing.TYPE_CHECKING:
    from runbook.apps import app_path
    from runbook.audit import AuditLog, AuditRecord
    from runbook.fix import (
        RECREATE_METHODS,
        FixAttempt,
        FixPlan,
        alternative_fix,
        plan_fix,
        proposed_fix,
        recreate_suggestion,
        run_fix,
    )
    from runbook.fix.flow import recreate_reason
    from runbook.formats.kubectl import describe_events
    from runbook.kube.apply import apply_manifests
    from runbook.kube.cluster import Cluster, connect
    from runbook.manifests import load_manifests
    from runbook.markup import styled
    from runbook.mesh.course import check_preconditions
    from runbook.mesh.findings import Finding, findings_frame, has_errors
    from runbook.mesh.observe import (
        analyze_cluster,
        config_pushes,
        confirm_push,
        confirm_pushes,
        diagnose_cluster,
        inventory_cluster,
        read_mesh,
    )
    from runbook.mesh.pushes import watching_table
    from runbook.mesh.rollout import wait_for_rollout
    from runbook.paths import is_headless
    from runbook.probe.address import ingress_address
    from runbook.probe.curl import curl_head
    from runbook.probe.stats import upstream_split_summary
    from runbook.probe.window import probe_with_fault
    from runbook.report.incident_report import IncidentReport
    from runbook.report.runner import run_notebook
    from runbook.ui.charts import (
        compare_runs_chart,
        latency_cdf,
        latency_histogram,
        latency_timeline,
        phase_breakdown_chart,
        upstream_split_chart,
    )
    from runbook.ui.panels import FixPanel
    from runbook.ui.render import render_check, render_finding, render_preconditions, render_rollout
    from runbook.ui.tables import highlight_status, readable, style_findings

__version__ = "0.1.0"

#: exported name → the module (under ``runbook``) that defines it
_EXPORTS = {
    # connect
    "Cluster": "kube.cluster", "connect": "kube.cluster",
    # read, inventory, diagnose, analyze, pushes
    "read_mesh": "mesh.observe", "inventory_cluster": "mesh.observe",
    "diagnose_cluster": "mesh.observe", "analyze_cluster": "mesh.observe",
    "config_pushes": "mesh.observe", "confirm_push": "mesh.observe", "confirm_pushes": "mesh.observe",
    "Finding": "mesh.findings", "findings_frame": "mesh.findings", "has_errors": "mesh.findings",
    "watching_table": "mesh.pushes", "check_preconditions": "mesh.course",
    # apply and rollout
    "app_path": "apps", "load_manifests": "manifests", "apply_manifests": "kube.apply",
    "wait_for_rollout": "mesh.rollout",
    # fix plans and the panel
    "plan_fix": "fix", "FixPlan": "fix", "RECREATE_METHODS": "fix", "FixAttempt": "fix",
    "run_fix": "fix", "proposed_fix": "fix", "alternative_fix": "fix", "recreate_suggestion": "fix",
    "recreate_reason": "fix.flow",
    "AuditLog": "audit", "AuditRecord": "audit", "FixPanel": "ui.panels",
    # probe and charts
    "ingress_address": "probe.address", "curl_head": "probe.curl", "probe_with_fault": "probe.window",
    "upstream_split_summary": "probe.stats",
    "latency_histogram": "ui.charts", "latency_cdf": "ui.charts", "latency_timeline": "ui.charts",
    "phase_breakdown_chart": "ui.charts", "upstream_split_chart": "ui.charts",
    "compare_runs_chart": "ui.charts",
    # the incident report, headless runs
    "IncidentReport": "report.incident_report", "run_notebook": "report.runner",
    # showing results in a notebook
    "render_check": "ui.render", "render_finding": "ui.render", "render_preconditions": "ui.render",
    "render_rollout": "ui.render", "style_findings": "ui.tables", "highlight_status": "ui.tables",
    "readable": "ui.tables", "styled": "markup", "describe_events": "formats.kubectl",
    "is_headless": "paths",
}
__getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS)

__all__ = [
    "RECREATE_METHODS",
    "AuditLog",
    "AuditRecord",
    "Cluster",
    "ClusterError",
    "ConcurrentChange",
    "ConfigError",
    "Conflict",
    "Finding",
    "FixAttempt",
    "FixError",
    "FixPanel",
    "FixPlan",
    "Forbidden",
    "IncidentReport",
    "InputError",
    "Invalid",
    "NotFound",
    "RunbookError",
    "Unreachable",
    "__version__",
    "alternative_fix",
    "analyze_cluster",
    "app_path",
    "apply_manifests",
    "check_preconditions",
    "compare_runs_chart",
    "config_pushes",
    "confirm_push",
    "confirm_pushes",
    "connect",
    "curl_head",
    "describe_events",
    "diagnose_cluster",
    "findings_frame",
    "has_errors",
    "highlight_status",
    "ingress_address",
    "inventory_cluster",
    "is_headless",
    "latency_cdf",
    "latency_histogram",
    "latency_timeline",
    "load_manifests",
    "phase_breakdown_chart",
    "plan_fix",
    "probe_with_fault",
    "proposed_fix",
    "read_mesh",
    "readable",
    "recreate_reason",
    "recreate_suggestion",
    "render_check",
    "render_finding",
    "render_preconditions",
    "render_rollout",
    "run_fix",
    "run_notebook",
    "style_findings",
    "styled",
    "upstream_split_chart",
    "upstream_split_summary",
    "wait_for_rollout",
    "watching_table",
]
