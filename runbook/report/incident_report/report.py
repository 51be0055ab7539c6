"""The incident report itself: :class:`IncidentReport`, its steps and its closing summary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pandas as pd
from matplotlib.figure import Figure
from pandas.io.formats.style import Styler

from runbook.apps import app_path
from runbook.errors import RunbookError
from runbook.fix import (
    AuditLog,
    AuditRecord,
    FixAttempt,
    alternative_fix,
    proposed_fix,
    recreate_suggestion,
    run_fix,
)
from runbook.fix.flow import recreate_reason
from runbook.kube import Cluster
from runbook.kube.apply import apply_manifests
from runbook.markup import styled
from runbook.mesh.diagnose import Inventory
from runbook.mesh.findings import ERROR, Finding
from runbook.mesh.observe import config_pushes, confirm_push, diagnose_cluster
from runbook.mesh.pushes import PushStatus
from runbook.mesh.rollout import Rollout, wait_for_rollout
from runbook.paths import is_headless
from runbook.probe import ProbeRun
from runbook.report.incident_report.recording import Measurement, Recording, gateway_address, measure
from runbook.report.incident_report.replay import Replay, operator_name, replay_incident
from runbook.report.incident_report.timeline import (
    TimelineEvent,
    audit_events,
    events_frame,
    outcomes_chart,
    push_events,
    recovery,
    timeline_chart,
)
from runbook.report.incident_report.views import Records, findings_view, group_records, sections_record
from runbook.ui.render import Record, render_attempt, render_note, render_rollout
from runbook.ui.tables import highlight_status, left

# ------------------------------------------------------------------------------------ the report


@dataclass
class IncidentReport:
    """The incident, step by step, with everything each step produced (see the module).

    Args:
        cluster: the connection.
        namespace: the incident's namespace (``l7-traffic-alpha``).
        gateway_namespace: the ingress gateway that serves it (``istio-canary``).
        host, path: what users request (``bookinfo-gateway.test``, ``/productpage``).
        apply_fixes: change the cluster (the fix, the recreate). On the sandbox the app and its
            gateway config are deployed either way (as notebooks 01–04 do); elsewhere only with it.
    """

    cluster: Cluster
    namespace: str
    gateway_namespace: str
    host: str
    path: str
    apply_fixes: bool = False
    operator: str = field(default_factory=operator_name)
    replayed: Replay | None = None
    deployed: pd.DataFrame | None = None
    inventory: Inventory | None = None
    findings: list[Finding] = field(default_factory=list)
    initial_findings: list[Finding] | None = None
    before: Measurement | None = None
    after: Measurement | None = None
    recording: Recording | None = None
    timeline: ProbeRun | None = None
    attempt: FixAttempt | None = None
    recreated: FixAttempt | None = None
    rollout: Rollout | None = None
    rollout_done_at: datetime | None = None
    pushes: list[PushStatus] = field(default_factory=list)
    final_findings: list[Finding] | None = None
    _pushes_seen: list[TimelineEvent] | None = field(default=None, repr=False)

    # ---------------------------------------------------------------- what is changed where

    @property
    def changes_allowed(self) -> bool:
        """Whether the app may be deployed for real (the sandbox, or ``apply_fixes``)."""
        return self.cluster.is_sandbox or self.apply_fixes

    def describe(self) -> str:
        """The context, server and users this report reads and (maybe) changes."""
        c = self.cluster
        mode = ("fixes are applied (apply_fixes = True)" if self.apply_fixes else
                "nothing is fixed: previews and server-side dry runs only (apply_fixes = False)")
        deploy = ("the app and its gateway config are deployed if missing (the sandbox)"
                  if c.is_sandbox else "" if self.apply_fixes else
                  "the app and its gateway config are only validated (server-side dry run)")
        return "\n".join(x for x in (
            f"context {c.context!r} at {c.server} ({'the local sandbox' if c.is_sandbox else 'a cluster'})",
            f"kubeconfig user {c.user or '?'}; run by {self.operator}", mode, deploy) if x)

    # ---------------------------------------------------------------- steps

    def replay(self, enabled: bool = True) -> Replay:
        """Step 1: :func:`replay_incident` (sandbox only)."""
        self.replayed = replay_incident(self.cluster, self.namespace, enabled=enabled)
        return self.replayed

    def deploy(self) -> Styler:
        """Step 2: bookinfo and its Gateway/VirtualService in the namespace (idempotent: rows say
        ``unchanged`` when they are there); a server-side dry run where changes are not allowed."""
        self.deployed = apply_manifests(
            self.cluster, [app_path("bookinfo"), app_path("bookinfo-gateway")],
            namespace=self.namespace, dry_run=not self.changes_allowed)
        rows = []
        for (kind, action), group in self.deployed.groupby(["kind", "action"], sort=False):
            errors = sorted({str(e) for e in group["error"] if e})
            rows.append({"kind": kind, "objects": ", ".join(map(str, group["name"])),
                         "action": action, "error": "; ".join(errors)})
        view = pd.DataFrame(rows, columns=["kind", "objects", "action", "error"])
        return left(highlight_status(view, "action", {"failed": "error", "not-applied": "warning"})
                    .hide(axis="index"))

    def findings_before(self) -> Styler:
        """Step 3: inventory and findings (kept as the report's "what was wrong")."""
        self.inventory, self.findings = diagnose_cluster(self.cluster, namespace=self.namespace)
        if self.initial_findings is None:
            self.initial_findings = list(self.findings)
        return findings_view(self.findings)

    def findings_view(self) -> Styler:
        """The current findings (:func:`findings_view`)."""
        return findings_view(self.findings)

    def measure(self, label: str, *, seconds: float = 2.0, qps: float = 25.0,
                concurrency: int = 4) -> Measurement:
        """Steps 4 and 9: a probe through the gateway (``before`` / ``after``)."""
        m = measure(self.cluster, gateway_namespace=self.gateway_namespace, host=self.host,
                    path=self.path, label=label, seconds=seconds, qps=qps, concurrency=concurrency)
        if label == "before":
            self.before = m
        elif label == "after":
            self.after = m
        return m

    def start_recording(self, *, qps: float = 25.0, concurrency: int = 4, lead_s: float = 1.0,
                        max_seconds: float = 300.0) -> Record:
        """Step 5: the background probe across the fix (see :class:`Recording`)."""
        url = self.before.url if self.before is not None and self.before.url else ""
        if not url:
            try:
                url = gateway_address(self.cluster, self.gateway_namespace).base_url() + self.path
            except RunbookError as exc:
                return render_note(f"no timeline recording: {exc.one_line()}", ok=False)
        self.recording = Recording(url, self.host, qps=qps, concurrency=concurrency,
                                   max_seconds=max_seconds).start(lead_s)
        return render_note(f"recording: {qps:g} requests/s to {url} (Host: {self.host}) in the "
                           f"background, at most {max_seconds:g} s — until the changes are verified",
                           commands=[f"runbook probe {url} --host {self.host} --qps {qps:g} "
                                     f"-c {concurrency} --duration {max_seconds:g}"])

    def fix(self) -> Records:
        """Step 6: the proposed fix — previewed, dry-run, applied only with ``apply_fixes``."""
        finding = proposed_fix(self.findings, self.namespace)
        if finding is None:
            self.attempt = FixAttempt(None, note=f"nothing to fix: no error finding proposes a fix in "
                                                  f"{self.namespace} — nothing blocks pod creation")
            return Records([render_note(self.attempt.summary(), ok=True)])
        self.attempt = run_fix(self.cluster, finding, apply=self.apply_fixes,
                               confirm=self.cluster.context)
        return Records(render_attempt(self.attempt, AuditLog().path))

    def recreate(self, method: str = "rollout-restart") -> Records:
        """Step 7a: recreate the workloads — only when the fix was applied now or the diagnosis
        asks for it (pods missing, stale sidecars), applied only with ``apply_fixes``."""
        applied = self.attempt is not None and self.attempt.status == "applied"
        reason = recreate_reason(self.findings, self.namespace, fix_applied=applied)
        if reason is None:
            self.recreated = FixAttempt(None, note=f"no reason to recreate the workloads in "
                                                   f"{self.namespace}: no fix was applied and no pod "
                                                   "is missing or carries a stale sidecar")
            return Records([render_note(self.recreated.summary(), ok=True)])
        fixed_first = self.attempt is None or self.attempt.suggestion is None or applied
        self.recreated = run_fix(self.cluster, recreate_suggestion(self.namespace, method),
                                 apply=self.apply_fixes and fixed_first, confirm=self.cluster.context,
                                 choice=method)
        return Records([render_note(f"Recreate the workloads in {self.namespace}", [reason]),
                        *render_attempt(self.recreated, AuditLog().path)])

    def wait(self, timeout: float = 120.0) -> Record:
        """Step 7b: wait for the rollout (only when something was changed; else look once) and
        show the pods: READY ``2/2`` and the revision that injected each."""
        changed = any(a is not None and a.status == "applied" for a in (self.attempt, self.recreated))
        limit = timeout if changed else 0.0
        self.rollout = wait_for_rollout(self.cluster, self.namespace, timeout=limit, poll=0.2,
                                        progress=not is_headless() and limit > 0)
        if changed and self.rollout.ok:
            self.rollout_done_at = datetime.now(UTC)
        expected = None
        if self.attempt is not None and self.attempt.suggestion is not None:
            rev = self.attempt.suggestion.params.get("revision")
            expected = str(rev) if rev else None
        return render_rollout(self.rollout, limit, expected if changed else None)

    def confirm_pushes(self, timeout: float = 15.0) -> Styler:
        """Step 8: which istiod pushed the Gateway and VirtualService (notebook 04's verdicts)."""
        self.pushes = []
        rows = []
        for kind, name in self._gateway_config():
            obj = f"{kind}/{self.namespace}/{name}"
            try:
                status = confirm_push(self.cluster, kind, name, self.namespace, timeout=timeout)
            except RunbookError as exc:  # not deployed (a dry run) or not readable: the row says so
                rows.append({"object": obj, "confirmed": False, "expected": "—",
                             "verdict": exc.one_line()})
                continue
            self.pushes.append(status)
            rows.append({"object": obj, "confirmed": status.confirmed,
                         "expected": ", ".join(status.expected) or "—", "verdict": status.summary})
        frame = pd.DataFrame(rows, columns=["object", "confirmed", "expected", "verdict"])
        return left(highlight_status(frame, "confirmed", {"False": "error"}).hide(axis="index"))

    def _gateway_config(self) -> list[tuple[str, str]]:
        if self.deployed is None:
            return [("Gateway", "bookinfo-gateway"), ("VirtualService", "bookinfo")]
        rows = self.deployed[self.deployed["kind"].isin(["Gateway", "VirtualService"])]
        return [(str(r.kind), str(r.name)) for r in rows.itertuples()]

    def stop_recording(self, tail_s: float = 1.0) -> Record:
        """Step 9: stop the background probe (after ``tail_s`` more seconds of the final state)."""
        if self.recording is None:
            return render_note("no timeline was recorded", ok=None)
        self.timeline = self.recording.stop(tail_s)
        if self.timeline is None:
            return render_note(f"the recording failed: {self.recording.error}", ok=False)
        m = Measurement(self.timeline.label, self.recording.url, self.host, run=self.timeline)
        return render_note(m.headline(), [m.probe_line()], ok=None)  # informative: failures expected

    def findings_after(self) -> Styler:
        """Step 10: the diagnosis again — what is left after the fix (e.g. MR105)."""
        self.inventory, self.final_findings = diagnose_cluster(self.cluster, namespace=self.namespace)
        self.findings = list(self.final_findings)
        return findings_view(self.final_findings)

    # ---------------------------------------------------------------- the story

    def change_records(self) -> list[AuditRecord]:
        """Every audit record of this report's changes (reset, fix, recreate), in order."""
        out: list[AuditRecord] = list(self.replayed.audit) if self.replayed else []
        for attempt in (self.attempt, self.recreated):
            if attempt is None:
                continue
            for result in (attempt.dry_run, attempt.applied):
                if result is not None:
                    out.extend(result.audit)
        return sorted(out, key=lambda r: r.time)

    def fixed_at(self) -> datetime | None:
        """When the fix took effect (its first applied audit record), if it was applied."""
        if self.attempt is None or self.attempt.applied is None:
            return None
        events = audit_events(self.attempt.applied.audit, "fix applied")
        return events[0].time if events else None

    def events(self) -> list[TimelineEvent]:
        """Fix, recreate, rollout and push events, and the measurements, in time order."""
        out: list[TimelineEvent] = []
        if self.replayed is not None:
            out += audit_events(self.replayed.audit, "sandbox reset")
        if self.attempt is not None and self.attempt.applied is not None:
            out += audit_events(self.attempt.applied.audit, "fix applied")
        if self.recreated is not None and self.recreated.applied is not None:
            out += audit_events(self.recreated.applied.audit, "workloads recreated")
        if self.rollout_done_at is not None and self.rollout is not None:
            out.append(TimelineEvent(self.rollout_done_at, "rollout complete", "rollout",
                                     self.rollout.summary().splitlines()[0]))
        revisions = sorted({r for p in self.pushes for r in p.expected})
        for p in self.pushes:
            for rev, when in p.logged.items():
                out.append(TimelineEvent(when, f"{p.kind} pushed ({rev})", "istiod", p.summary,
                                         marker=False))
        out += self.recorded_pushes(revisions)
        for m in (self.before, self.after):
            if m is not None and m.run is not None:
                out.append(TimelineEvent(m.run.started_at, f"probe {m.label}", "report",
                                         m.headline(), marker=False))
        return sorted(out, key=lambda e: e.time)

    def recorded_pushes(self, revisions: Sequence[str]) -> list[TimelineEvent]:
        """istiod's pushes for the namespace during the recording (read once, then kept)."""
        if self.timeline is None or not revisions:
            return []
        if self._pushes_seen is None:
            start = self.timeline.started_at
            try:
                pushes = config_pushes(self.cluster, since=start - timedelta(seconds=1))
            except RunbookError:
                pushes = pd.DataFrame()
            self._pushes_seen = push_events(pushes, self.namespace, revisions, since=start)
        return self._pushes_seen

    def events_view(self) -> Styler:
        """The events table, on the recording's clock (``t_s``)."""
        frame = events_frame(self.events(), self.timeline)
        return left(styled(frame).hide(axis="index").format({"t_s": "{:+.2f}"}, na_rep="—",
                                                           escape="html"))

    def timeline_chart(self) -> Figure | Record:
        """The recording with its event markers (a note when nothing was recorded)."""
        if self.timeline is None:
            return render_note("no timeline: nothing was recorded", ok=None)
        return timeline_chart(self.timeline, self.events())

    def outcomes_chart(self) -> Figure | Record:
        """Outcomes of the recording per time bin, with the same markers."""
        if self.timeline is None:
            return render_note("no timeline: nothing was recorded", ok=None)
        return outcomes_chart(self.timeline, self.events())

    def measured_runs(self) -> list[ProbeRun]:
        """The before and after runs that were made, in that order."""
        return [m.run for m in (self.before, self.after) if m is not None and m.run is not None]

    def summary(self) -> Record:
        """The closing summary: what was wrong, what was changed (when, where, by whom), what was
        verified, and what is still to do."""
        c = self.cluster
        wrong = [f"{f.code} {f.severity}: {f.message}" for f in (self.initial_findings or [])
                 if f.severity == ERROR] or ["no error finding: nothing blocked pod creation in "
                                             f"{self.namespace} when the report started"]
        if self.before is not None:
            wrong.append("users saw — " + self.before.headline())
        changes = [r for r in self.change_records() if r.result != "dry-run"]
        changed = [f"{row.time} UTC {row.action} {row.result}: {row.object} — {row.step}"
                   for row in group_records(changes).itertuples()]
        if not changed:
            dry = any(a is not None and a.status == "dry-run" for a in (self.attempt, self.recreated))
            changed = ["nothing was changed" + (
                " (apply_fixes = False: the fix was previewed and dry-run only; run again with "
                "apply_fixes = True, or use notebook 03)" if dry else ": nothing needed fixing")]
        who = (f"where: context {c.context!r} at {c.server}; kubeconfig user {c.user or '?'}; run by "
               f"{self.operator}")
        verified: list[str] = []
        if self.rollout is not None:
            verified.append(self.rollout.summary().splitlines()[0])
        verified += [p.summary for p in self.pushes]
        if self.after is not None:
            verified.append(self.after.headline())
        if self.timeline is not None:
            rec = recovery(self.timeline, self.fixed_at())
            if rec["first_served_after_s"] is not None:
                tail = (f", last failure {rec['last_failure_after_s']:.2f} s after it"
                        if rec["last_failure_after_s"] is not None else "")
                verified.append(f"recovery: first request served {rec['first_served_after_s']:.2f} s "
                                f"after the fix was applied{tail} ({rec['failed_before']} failed "
                                f"before the fix, {rec['failed_after']} after it, in the recording)")
        final = self.final_findings if self.final_findings is not None else self.findings
        todo: list[str] = []
        commands: list[str] = []
        for f in final:
            if f.severity in (ERROR, "warning"):
                todo.append(f"{f.code} {f.severity}: {f.message}")
                if f.fix is not None:
                    commands.append(f.fix.command)
        alt = alternative_fix(final, self.namespace)
        if alt is not None and alt.fix is not None:
            rev = alt.fix.params.get("revision")
            todo.append(f"after the alternative fix ({alt.fix.command}), recreate the workloads: "
                        f"pods keep the sidecar they were created with, so only new pods get "
                        f"revision {rev or 'the claimed revision'}'s")
            commands.append(f"kubectl rollout restart deployment -n {self.namespace}")
        if self.after is not None and self.after.run is not None:
            served, total = self.after.served()
            if served < total:
                todo.append(f"{total - served} of {total} requests still fail after the changes")
        todo = todo or ["nothing: no error or warning finding is left for " + self.namespace]
        served_all = self.after is None or self.after.run is None or (
            self.after.served()[0] == self.after.served()[1])
        ok = served_all and not any(f.severity == ERROR for f in final)
        title = (f"Incident in {self.namespace}: " + ("resolved" if ok else "not resolved")
                 + ("" if ok or self.apply_fixes else " (nothing was applied)"))
        return sections_record(title, ok, [("What was wrong", wrong),
                                           ("What was changed", [*changed, who]),
                                           ("What was verified", verified or ["nothing was verified"]),
                                           ("Still to do", todo)],
                               list(dict.fromkeys(commands)))
