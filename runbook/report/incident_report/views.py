"""The incident report's tables and records: control planes, tags, bindings, findings, runs
compared, the audit trail, and the closing summary's sections."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pandas.io.formats.style import Styler

from runbook.audit import AuditLog, AuditRecord
from runbook.kube import Cluster
from runbook.markup import escape_html as _e
from runbook.mesh import findings_frame
from runbook.mesh.diagnose import Inventory
from runbook.mesh.findings import Finding
from runbook.paths import runbook_home
from runbook.probe import ProbeRun
from runbook.probe.stats import compare_runs
from runbook.report.incident_report.recording import OUTCOME_LEVELS, as_failures, outcomes
from runbook.timestamps import parse_timestamp
from runbook.ui.charts import compare_runs_chart
from runbook.ui.render import Record, commands_html, commands_text, render_note
from runbook.ui.tables import highlight_status, left, style_findings, tidy

#: columns of :func:`comparison_table`
COMPARISON_COLUMNS = ["requests", "served", "failed", "failure_rate", "outcomes", "achieved_qps",
                      "p50_ms", "p90_ms", "p99_ms", "max_ms", "send_lag_p99_ms"]
CONTROL_PLANE_COLUMNS = ["namespace", "revision", "version", "deployment", "status", "services",
                         "service_ready_endpoints", "tags", "tags_reaching"]
TAG_COLUMNS = ["tag", "revision", "configuration", "webhook", "service_namespace", "service_name",
               "target_status", "ready_endpoints", "reached_revisions", "found_in"]
BINDING_COLUMNS = ["namespace", "rev_label", "tag", "claimed_revision", "status", "target",
                   "effective_revision", "detail"]
AUDIT_COLUMNS = ["time", "action", "result", "object", "step", "context", "user"]


# ------------------------------------------------------------------------------------ records


class Records(list[Record]):
    """Several :class:`~runbook.ui.render.Record` shown as one cell output (text and HTML)."""

    def _repr_html_(self) -> str:
        return "".join(r.html for r in self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text("\n".join(r.text for r in self))

    def __str__(self) -> str:
        return "\n".join(r.text for r in self)


# ------------------------------------------------------------------------------------ tables

#: long commands (a JSON patch) make a findings table unreadable; the fix's preview prints them
MAX_COMMAND_IN_TABLE = 120


def control_planes_view(inv: Inventory) -> Styler:
    """Control planes (revisions, their istiod, Services and the tags reaching them), failing rows red."""
    return left(highlight_status(tidy(inv.control_planes[CONTROL_PLANE_COLUMNS]), "status").hide(
        axis="index").format(na_rep="—"))


def tags_view(inv: Inventory) -> Styler:
    """Revision tags: what each claims and where its webhooks really call, failing rows red."""
    return left(highlight_status(tidy(inv.revision_tags[TAG_COLUMNS]), "target_status").hide(
        axis="index").format(na_rep="—"))


def binding_view(inv: Inventory, namespaces: Sequence[str]) -> Styler:
    """The namespaces' binding (label → tag → claimed and effective revision), failing rows red.

    A tag whose claim differs from the revision its target reaches is amber even when injection
    works: that is the MR105 warning, and the rows say so in ``detail``.
    """
    table = inv.namespace_injection
    view = tidy(table[table["namespace"].isin(list(namespaces))][BINDING_COLUMNS])
    drift = (view["status"] == "ok") & view["claimed_revision"].notna() & view[
        "effective_revision"].notna() & (view["claimed_revision"] != view["effective_revision"])
    view.loc[drift, "status"] = "ok (claim differs)"
    return left(highlight_status(view, "status", {"ok (claim differs)": "warning"}).hide(
        axis="index").format(na_rep="—"))


def findings_view(findings: Sequence[Finding]) -> Styler:
    """The findings with their proposed fix, errors red and warnings amber.

    Columns ``severity``, ``code``, ``subject`` (kind and name), ``message``, ``fix_command`` —
    the patch of a command longer than :data:`MAX_COMMAND_IN_TABLE` is left to the fix's preview.
    """
    frame = findings_frame(findings)
    view = pd.DataFrame({
        "severity": frame["severity"], "code": frame["code"],
        "subject": frame["kind"] + " " + frame["name"].fillna(""),
        "message": frame["message"],
        "fix_command": [(f"{c.split(' -p ')[0]} -p … (the whole patch is printed with the fix's preview)"
                         if len(c) > MAX_COMMAND_IN_TABLE and " -p " in c else c)
                        if isinstance(c, str) else "—" for c in frame["fix_command"]]})
    return left(style_findings(view).set_properties(subset=["message"], **{"min-width": "28em"}))


def group_records(records: Sequence[AuditRecord]) -> pd.DataFrame:
    """Audit records as a table, consecutive records of one step of one plan joined in one row.

    Columns (:data:`AUDIT_COLUMNS`): ``time`` (the first record's, UTC), ``action``, ``result``,
    ``object`` (``Deployment/ns/details-v1 (+5 more: productpage-v1, …)``), ``step``, ``context``,
    ``user``.
    """
    rows: list[dict[str, Any]] = []
    names: list[str] = []
    key: tuple[str, ...] | None = None
    for r in records:
        this = (r.action, r.result, r.plan, r.step, r.context, r.user or "?")
        if this == key:
            names.append(r.object.rsplit("/", 1)[-1])
            rows[-1]["object"] = f"{rows[-1]['_first']} (+{len(names)} more: {', '.join(names)})"
            continue
        key, names = this, []
        rows.append({"time": parse_timestamp(r.time).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
                     "action": r.action, "result": r.result, "object": r.object, "_first": r.object,
                     "step": r.step, "context": r.context, "user": r.user or "?"})
    return pd.DataFrame(rows, columns=[*AUDIT_COLUMNS, "_first"]).drop(columns="_first")


def comparison_table(runs: Sequence[ProbeRun]) -> pd.DataFrame:
    """Runs side by side (before first), HTTP >= 400 counted as failed (:data:`COMPARISON_COLUMNS`).

    ``requests``, ``served``, ``failed``, ``failure_rate``, ``outcomes`` (``HTTP 503 × 50`` …),
    ``achieved_qps``, latency percentiles of the *served* requests (NaN when none was) and the
    probe's ``send_lag_p99_ms`` (a large value means the client, not the gateway, was late).
    """
    if not runs:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    table = compare_runs([as_failures(r) for r in runs])
    rows = []
    for run in runs:
        summary = as_failures(run).summary()
        rows.append({"outcomes": ", ".join(f"{o.outcome} × {o.requests}"
                                           for o in outcomes(run.samples).itertuples()),
                     "served": summary["ok"], "send_lag_p99_ms": summary["send_lag_p99_ms"]})
    extra = pd.DataFrame(rows, index=table.index)
    out = table.join(extra).rename(columns={"count": "requests", "errors": "failed",
                                            "error_rate": "failure_rate"})
    return out[COMPARISON_COLUMNS]


def comparison_view(runs: Sequence[ProbeRun]) -> Styler:
    """:func:`comparison_table` with runs that had failures red."""
    table = comparison_table(runs)
    table = table.assign(level=np.where(table["failed"] > 0, "failed", "served"))
    styled = highlight_status(table, "level", OUTCOME_LEVELS)
    return left(styled.hide(subset=["level"], axis="columns").format(
        {"failure_rate": "{:.0%}", "achieved_qps": "{:.1f}", "p50_ms": "{:.1f}", "p90_ms": "{:.1f}",
         "p99_ms": "{:.1f}", "max_ms": "{:.1f}", "send_lag_p99_ms": "{:.2f}"}, na_rep="—"))


def comparison_chart(runs: Sequence[ProbeRun]) -> Figure | Record:
    """Latency CDFs of the served requests and the side-by-side figures (``compare_runs_chart``),
    HTTP >= 400 counted as failed: a run where nothing was served draws no curve. A note when
    there is no run to compare."""
    if not runs:
        return render_note("nothing to compare: no probe run was made", ok=None)
    fig = compare_runs_chart([as_failures(r) for r in runs])
    fig.axes[0].set_title("latency of the served requests (HTTP < 400); the table counts the rest "
                          "as errors")
    return fig


# ------------------------------------------------------------------------------------ audit trail


def audit_trail(cluster: Cluster, *, exclude: Iterable[AuditRecord] = (), limit: int = 20
                ) -> list[AuditRecord]:
    """Changes recorded earlier for this cluster (context and server) in the user's audit log.

    In a headless run the kernel's ``MESH_RUNBOOK_AUDIT`` is the run's own file; the user's log
    (``$MESH_RUNBOOK_HOME/audit.jsonl``, which every run appends to) holds what earlier runs and
    clicks changed. Dry runs are left out; the newest ``limit`` records are returned, oldest first.
    """
    seen = {(r.time, r.object, r.action) for r in exclude}
    records = AuditLog(runbook_home() / "audit.jsonl").read()
    mine = [r for r in records if r.context == cluster.context and r.server == cluster.server
            and r.action != "dry-run" and (r.time, r.object, r.action) not in seen]
    return mine[-limit:]


def audit_view(records: Sequence[AuditRecord]) -> Styler:
    """:func:`group_records` with refused/failed/unknown results red (a note row when empty)."""
    levels = {"failed": "error", "refused": "error", "unknown": "error", "applied": "info",
              "dry-run": "info"}
    frame = group_records(records)
    if frame.empty:
        frame = pd.DataFrame([{"time": "—", "action": "—", "result": "—",
                               "object": "no change was recorded", "step": "", "context": "",
                               "user": ""}], columns=AUDIT_COLUMNS)
    return left(highlight_status(frame, "result", levels).hide(axis="index"))


_BOX = ("border:1px solid #d0d7de;border-radius:6px;padding:6px 10px;margin:4px 0;color:#1f2328;"
        "background:#ffffff;font-family:sans-serif;font-size:13px")


def sections_record(title: str, ok: bool | None, sections: Sequence[tuple[str, Sequence[str]]],
                    commands: Sequence[str] = ()) -> Record:
    """A record of several headed lists (the closing summary), text and HTML, like ui.render's."""
    mark, colour = {True: ("✓", "#1a7f37"), False: ("✗", "#cf222e"), None: ("•", "#57606a")}[ok]
    text = [f"{mark} {title}"]
    parts = [f'<div style="font-weight:600;color:{colour}">{_e(mark)} {_e(title)}</div>']
    for head, lines in sections:
        text.append(f"{head}:\n" + "\n".join(f"  - {line}" for line in lines))
        items = "".join(f"<li>{_e(line)}</li>" for line in lines)
        parts.append(f'<div style="margin-top:6px"><b>{_e(head)}</b>'
                     f'<ul style="margin:2px 0 2px 18px;padding:0">{items}</ul></div>')
    if commands:
        text.append(commands_text(commands, "Commands for what is still to do"))
        parts.append(commands_html(commands, "Commands for what is still to do"))
    html_text = f'<div class="mesh-runbook-record" style="{_BOX}">{"".join(parts)}</div>'
    return Record(title, "\n".join(text), html_text, ok)
