"""The whole incident as one report (notebook 06): before, the fix, after, and one timeline.

The field report tells its story in steps, each checked by eye: pods missing → ``kubectl describe
rs`` → the webhook → a hand edit → ``kubectl delete rs`` → pods Running → a push line in istiod's
log → ``curl`` answers 200. A reviewer of an incident wants the same story *with evidence and
times*: what users saw, what was changed (when, where, by whom), how fast it recovered, and what
is still wrong. :class:`IncidentReport` runs those steps against one cluster and keeps what each
produced, so the notebook's cells stay one call each:

1. :meth:`IncidentReport.replay` — on the sandbox only, when the incident is no longer live (a
   previous notebook fixed it), ``runbook sandbox reset`` puts the scenario back so the report can
   show before *and* after. Never on any other context: there the report describes the cluster
   as it is, and the audit trail says what was done earlier.
2. :meth:`~IncidentReport.deploy`, :meth:`~IncidentReport.findings_before` — the app and its gateway
   config (idempotent), the inventory and the findings with their proposed fix.
3. :meth:`~IncidentReport.measure` — requests through the ingress gateway with the report's
   ``Host`` header, as a fixed-rate probe (``runbook.probe``), before and after.
4. :meth:`~IncidentReport.start_recording` … :meth:`~IncidentReport.stop_recording` — one
   continuous fixed-rate probe in a background thread *across* the fix, recreate, rollout and
   push confirmation, so the timeline shows the failures turn into 200s and when.
5. :meth:`~IncidentReport.fix`, :meth:`~IncidentReport.recreate`, :meth:`~IncidentReport.wait`,
   :meth:`~IncidentReport.confirm_pushes` — the fix flow of notebook 03 (preview, server-side dry
   run, apply only with ``apply_fixes``, audit records) and notebook 04's push verdicts.
6. :meth:`~IncidentReport.events` — fix, rollout and istiod push events on the recording's clock;
   :func:`timeline_chart` draws them as vertical markers over every request.
7. :meth:`~IncidentReport.summary` — what was wrong, what was changed, what was verified, what is
   still to do (e.g. MR105: the tag claims 1-18-5 while its pods run 1-19-3, with the alternative
   fix).

**HTTP errors count as failures here**, as the probe counts them everywhere: the question is
whether users were served, so every answer with status >= 400 is a failed row (``error_kind``
``http_503``) — the way availability SLOs count them — before statistics and charts
(:func:`as_failures` makes sure of it for any run, whatever it accepted): latency
percentiles are then those of the requests that were served, and a run of fast 503s no longer
looks like a fast service.

The background probe shares the kernel with the fix's API calls; both mostly wait on sockets, so
the probe's send lag (``send_lag_p99_ms`` in the summary) stays small, and it is reported so a
reader can tell a slow gateway from a busy client.

The modules, in the order of the story: :mod:`.replay` (step 1), :mod:`.recording` (measurements
and the background probe), :mod:`.timeline` (events and the charts over the recording),
:mod:`.views` (tables, the audit trail, the summary's sections), :mod:`.report`
(:class:`IncidentReport`, which runs the steps).
"""

from __future__ import annotations

from runbook.report.incident_report.recording import (
    GATEWAY_SERVICE,
    OUTCOME_COLUMNS,
    Measurement,
    Recording,
    as_failures,
    gateway_address,
    measure,
    outcome_of,
    outcomes,
    outcomes_view,
    wait_accepting,
)
from runbook.report.incident_report.replay import Replay, incident_live, operator_name, replay_incident
from runbook.report.incident_report.report import IncidentReport
from runbook.report.incident_report.timeline import (
    EVENT_COLUMNS,
    TimelineEvent,
    audit_events,
    events_frame,
    markers,
    outcomes_chart,
    push_events,
    recovery,
    timeline_chart,
)
from runbook.report.incident_report.views import (
    AUDIT_COLUMNS,
    COMPARISON_COLUMNS,
    Records,
    audit_trail,
    audit_view,
    binding_view,
    comparison_chart,
    comparison_table,
    comparison_view,
    control_planes_view,
    findings_view,
    group_records,
    sections_record,
    tags_view,
)

__all__ = [
    "AUDIT_COLUMNS",
    "COMPARISON_COLUMNS",
    "EVENT_COLUMNS",
    "GATEWAY_SERVICE",
    "OUTCOME_COLUMNS",
    "IncidentReport",
    "Measurement",
    "Recording",
    "Records",
    "Replay",
    "TimelineEvent",
    "as_failures",
    "audit_events",
    "audit_trail",
    "audit_view",
    "binding_view",
    "comparison_chart",
    "comparison_table",
    "comparison_view",
    "control_planes_view",
    "events_frame",
    "findings_view",
    "gateway_address",
    "group_records",
    "incident_live",
    "markers",
    "measure",
    "operator_name",
    "outcome_of",
    "outcomes",
    "outcomes_chart",
    "outcomes_view",
    "push_events",
    "recovery",
    "replay_incident",
    "sections_record",
    "tags_view",
    "timeline_chart",
    "wait_accepting",
]
