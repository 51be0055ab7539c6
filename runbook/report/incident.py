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
2. :meth:`~IncidentReport.deploy`, :meth:`~IncidentReport.diagnose` — the app and its gateway
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
"""

from __future__ import annotations

import dataclasses
import getpass
import math
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pandas.io.formats.style import Styler

from runbook.apps import app_path
from runbook.audit import STARTED, AuditLog, AuditRecord
from runbook.errors import ClusterError, InputError, RunbookError
from runbook.exercise import ExerciseCheck
from runbook.fix.checks import check_tag_exercise
from runbook.fix.flow import (
    FixAttempt,
    alternative_fix,
    proposed_fix,
    recreate_reason,
    recreate_suggestion,
    run_fix,
)
from runbook.kube import Cluster
from runbook.kube.apply import apply_manifests
from runbook.markup import chart_text, styled
from runbook.markup import escape_html as _e
from runbook.mesh import findings_frame
from runbook.mesh.diagnose import Inventory, diagnose, inventory
from runbook.mesh.findings import ERROR, Finding
from runbook.mesh.observe import config_pushes, confirm_push, diagnose_cluster
from runbook.mesh.pushes import PushStatus
from runbook.mesh.rollout import Rollout, wait_for_rollout
from runbook.paths import is_headless, runbook_home
from runbook.probe import IngressAddress, ProbeRun, curl_head, ingress_address, probe
from runbook.probe.curl import HeadResponse
from runbook.probe.http import mark_http_failures
from runbook.probe.stats import compare_runs
from runbook.sandbox import SandboxInfo, find_running
from runbook.sandbox.process import reset_running
from runbook.snapshot import Snapshot
from runbook.timestamps import parse_timestamp
from runbook.ui.charts import ERROR_COLOR, compare_runs_chart, latency_timeline
from runbook.ui.render import (
    Record,
    ShownAsRecord,
    commands_html,
    commands_text,
    render_attempt,
    render_note,
    render_rollout,
)
from runbook.ui.tables import highlight_status, left, style_findings, tidy

#: the sandbox's admin API (``runbook sandbox status|reset``), reached with the kubeconfig's user
SANDBOX_STATUS_PATH = "/sandbox/v1/status"
SANDBOX_RESET_PATH = "/sandbox/v1/reset"
#: the gateway Service the report curls (``INGRESS_NAME=istio-ingressgateway``)
GATEWAY_SERVICE = "istio-ingressgateway"
#: columns of :func:`outcomes`
OUTCOME_COLUMNS = ["outcome", "level", "requests", "share", "first_s", "last_s", "p50_ms", "detail"]
#: columns of :func:`events_frame`
EVENT_COLUMNS = ["time", "t_s", "event", "source", "detail"]
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
#: outcome level → row colour (ui.tables.highlight_status)
_OUTCOME_LEVELS = {"served": "info", "failed": "error"}
#: push markers drawn at most (a busy control plane pushes often; the events table lists them all)
MAX_PUSH_MARKERS = 3


# ------------------------------------------------------------------------------------ records


class Records(list[Record]):
    """Several :class:`~runbook.ui.render.Record` shown as one cell output (text and HTML)."""

    def _repr_html_(self) -> str:
        return "".join(r.html for r in self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text("\n".join(r.text for r in self))

    def __str__(self) -> str:
        return "\n".join(r.text for r in self)


def operator_name() -> str:
    """Who runs this (the OS user), for "changed by" lines; ``unknown`` when it cannot be told."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


# ------------------------------------------------------------------------------------ replay


@dataclass
class Replay(ShownAsRecord):
    """What :func:`replay_incident` found and did.

    Attributes:
        live: the incident was live when looked at (a fix is proposed for the namespace).
        reset: the sandbox was reset to its scenario.
        live_after: after the reset, the incident is live again (None when nothing was reset).
        scenario: the sandbox's scenario (None elsewhere).
        note: one line: what happened and why.
        audit: the audit record of the reset (a change to the cluster like any other).
    """

    live: bool
    reset: bool = False
    live_after: bool | None = None
    scenario: str | None = None
    note: str = ""
    audit: list[AuditRecord] = field(default_factory=list)

    def record(self) -> Record:
        """The replay as a record for the report."""
        commands = ["runbook sandbox reset"] if self.reset else []
        ok = None if not self.reset else bool(self.live_after)
        return render_note(self.note, [r.summary() for r in self.audit], ok=ok, commands=commands)


def incident_live(findings: Iterable[Finding], namespace: str) -> bool:
    """Whether something still blocks pod creation in ``namespace``: a fix is proposed for it."""
    return proposed_fix(findings, namespace) is not None


def replay_incident(cluster: Cluster, namespace: str, *, enabled: bool = True,
                    audit: AuditLog | None = None) -> Replay:
    """Put the sandbox's scenario back when the incident is no longer live (sandbox only).

    Args:
        cluster: the connection.
        namespace: the namespace of the incident (``l7-traffic-alpha``).
        enabled: the notebook's ``replay_incident`` parameter.
        audit: where the reset's audit record goes (default: ``MESH_RUNBOOK_AUDIT`` or the home's).

    Returns:
        What was found and done. A cluster that is not the sandbox is never reset (the check is
        twofold: the connection says sandbox *and* the server answers the sandbox's admin API).

    Raises:
        ClusterError: the cluster cannot be read, or the sandbox refused the reset.
    """
    _, findings = diagnose_cluster(cluster)
    live = incident_live(findings, namespace)
    if not cluster.is_sandbox:
        return Replay(live, note=f"context {cluster.context!r} is not the sandbox: nothing is reset; "
                                 "the report describes the cluster as it is, and its audit trail "
                                 "what was changed before")
    if live:
        return Replay(live, note=f"the incident is live in {namespace} (a fix is proposed): "
                                 "nothing to replay")
    if not enabled:
        return Replay(live, note="replay_incident = False: the report describes the sandbox as it is "
                                 f"(nothing blocks pod creation in {namespace})")
    real_engine = _real_engine_serving(cluster.server)
    if real_engine is not None:
        scenario = real_engine.scenario  # the real engine has no admin API: its process resets it
    else:
        try:
            status = cluster.request("GET", SANDBOX_STATUS_PATH, verb="get", resource="sandbox status")
        except ClusterError:
            return Replay(live, note="the server does not answer the sandbox's admin API: not reset")
        scenario = str((status or {}).get("scenario") or "?")
    log = audit or AuditLog()
    record = AuditRecord(
        action="reset", plan="replay the incident", step=f"reload scenario {scenario}: every object "
        "is replaced by the scenario's", context=cluster.context, server=cluster.server,
        user=cluster.user, object=f"sandbox/{scenario}", result=STARTED,
        detail=f"the incident was no longer live in {namespace}")
    log.begin(record)  # written ahead, like every change
    try:
        if real_engine is not None:
            reset_running(real_engine)
            applied = True
        else:
            answer = cluster.request("POST", SANDBOX_RESET_PATH, body={}, verb="reset",
                                     resource="sandbox")
            applied = bool((answer or {}).get("reset"))
    except (ClusterError, InputError) as exc:
        log.append(record.completed("failed", exc.one_line()))
        raise
    log.append(record.completed("applied" if applied else "unknown"))
    _, after = diagnose_cluster(cluster)
    live_after = incident_live(after, namespace)
    note = (f"sandbox reset to scenario {scenario}: the incident is live again in {namespace}"
            if live_after else f"sandbox reset to scenario {scenario}, but nothing blocks pod "
                               f"creation in {namespace}: this scenario has no incident to replay")
    return Replay(live, True, live_after, scenario, note, [record])


def _real_engine_serving(server: str) -> SandboxInfo | None:
    """The running sandbox when it is the real engine serving ``server`` (else None)."""
    info = find_running()
    return info if info is not None and info.engine == "kube" and info.url == server else None


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


# ------------------------------------------------------------------------------------ probing


def as_failures(run: ProbeRun) -> ProbeRun:
    """The run with every HTTP answer >= 400 counted as a failed request (see the module).

    Such rows get ``error_kind`` ``http_<status>`` and ``error`` ``HTTP <status>``; the status stays.
    The run's own samples are not changed.
    """
    # the probe counts them so itself (runbook.probe.http.mark_http_failures); a run recorded with
    # a wider accept_status, or an older one, is counted here the way availability SLOs count
    return dataclasses.replace(run, samples=mark_http_failures(run.samples))


def outcome_of(status: int, error_kind: str) -> str:
    """``HTTP 200`` for an answer, the error kind (``refused``, ``timeout`` …) for a failure."""
    return f"HTTP {status}" if not error_kind or error_kind.startswith("http_") else error_kind


def outcomes(samples: pd.DataFrame) -> pd.DataFrame:
    """One row per outcome of a probe run: what users got, how often and when.

    Returns:
        Columns (:data:`OUTCOME_COLUMNS`): ``outcome`` (``HTTP 200``, ``HTTP 503``, ``refused`` …),
        ``level`` (``served`` for 1xx–3xx answers, ``failed`` otherwise), ``requests``, ``share``
        (of all requests, 0–1), ``first_s``/``last_s`` (intended send time from the run start),
        ``p50_ms`` (median latency of those requests), ``detail`` (bytes and ``server`` header of
        answers, the first error message of failures). Served rows first, then by count.
    """
    if samples.empty:
        return pd.DataFrame(columns=OUTCOME_COLUMNS)
    keys = [outcome_of(int(s), str(e)) for s, e in zip(samples["status"], samples["error_kind"], strict=True)]
    rows = []
    total = len(samples)
    for key, group in samples.groupby(pd.Series(keys, index=samples.index), sort=False):
        first = group.iloc[0]
        answered = str(key).startswith("HTTP ")
        served = answered and int(first["status"]) < 400
        if answered:
            sizes = sorted({int(b) for b in group["bytes"]})
            size = f"{sizes[0]} bytes" if len(sizes) == 1 else f"{sizes[0]}–{sizes[-1]} bytes"
            detail = f"{size}, server: {first['server'] or '—'}"
        else:
            detail = str(first["error"])
        rows.append({"outcome": str(key), "level": "served" if served else "failed",
                     "requests": len(group), "share": len(group) / total,
                     "first_s": float(group["intended_start"].min()),
                     "last_s": float(group["intended_start"].max()),
                     "p50_ms": float(group["latency_ms"].median()), "detail": detail})
    frame = pd.DataFrame(rows, columns=OUTCOME_COLUMNS)
    frame["_served"] = frame["level"] == "served"
    frame = frame.sort_values(["_served", "requests"], ascending=[False, False], kind="stable")
    return frame.drop(columns="_served").reset_index(drop=True)


def outcomes_view(samples: pd.DataFrame) -> Styler:
    """:func:`outcomes` with failed rows red."""
    return left(highlight_status(outcomes(samples), "level", _OUTCOME_LEVELS).hide(axis="index").format(
        {"share": "{:.0%}", "first_s": "{:.2f}", "last_s": "{:.2f}", "p50_ms": "{:.1f}"}))


@dataclass
class Measurement(ShownAsRecord):
    """A probe through the ingress gateway, or why there is none.

    Attributes:
        label: ``before``, ``after`` …
        url: the URL probed (``http://INGRESS_HOST:INGRESS_PORT/productpage``); "" when unresolved.
        host: the ``Host`` header.
        address: the resolved gateway address (None when it could not be resolved).
        run: the probe run (None when nothing was measured).
        head: one request as ``curl -s -I`` shows it, taken before the run.
        error: why nothing was measured (one line), "" otherwise.
    """

    label: str
    url: str
    host: str
    address: IngressAddress | None = None
    run: ProbeRun | None = None
    head: HeadResponse | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        """A run was made."""
        return self.run is not None

    def served(self) -> tuple[int, int]:
        """(requests answered with status < 400, all requests)."""
        if self.run is None:
            return 0, 0
        s = self.run.samples
        return int(((s["error_kind"] == "") & (s["status"] < 400)).sum()), len(s)

    def headline(self) -> str:
        """One line: how many requests were served, and the latency of those that were."""
        if self.run is None:
            return f"{self.label}: not measured — {self.error}"
        served, total = self.served()
        summary = as_failures(self.run).summary()
        lat = (f"; served in p50 {summary['p50_ms']:.1f} ms, p99 {summary['p99_ms']:.1f} ms"
               if served else "")
        codes = ", ".join(f"{o.outcome} × {o.requests}" for o in outcomes(self.run.samples).itertuples())
        # latencies of a schedule the probe could not keep describe its own queue: a reviewer is
        # told, with the probe's own sentence, before reading them
        untrusted = f" — {summary['verdict']}" if summary["schedule_kept"] is False else ""
        return (f"{self.label}: {served} of {total} requests served ({codes}) at "
                f"{summary['achieved_qps']:.0f}/s over {summary['elapsed_s']:.1f} s{lat}{untrusted}")

    def record(self) -> Record:
        """The measurement as a record: the headline, the curl equivalent and its answer."""
        lines: list[str] = []
        commands: list[str] = []
        if self.address is not None:
            commands += self.address.kubectl_commands()
            if self.address.note:
                lines.append(self.address.note)
        if self.head is not None:
            commands.append(self.head.command())
            lines.append("curl -s -I answered: " + " | ".join(self.head.text().splitlines()))
        if self.run is not None:
            lines.append(self.probe_line())
        served, total = self.served()
        ok = None if self.run is None else served == total
        return render_note(self.headline(), lines, ok=ok, commands=commands)

    def probe_line(self) -> str:
        """How the run was made, with the equivalent ``runbook probe`` command."""
        if self.run is None:
            return ""
        r = self.run
        return (f"the probe: {r.qps or 0:g} requests/s over {r.concurrency} keep-alive connections, "
                f"Host: {self.host} (runbook probe {self.url} --host {self.host} --qps {r.qps or 0:g} "
                f"-c {r.concurrency} --duration {r.duration or 0:g})")

    def outcomes_view(self) -> Styler | Record:
        """:func:`outcomes_view` of the run (failed rows red), or why there is no run."""
        if self.run is None:
            return render_note(f"{self.label}: not measured — {self.error}", ok=False)
        return outcomes_view(self.run.samples)


def gateway_address(cluster: Cluster, gateway_namespace: str, *, name: str = GATEWAY_SERVICE
                    ) -> IngressAddress:
    """INGRESS_HOST/INGRESS_PORT of the gateway Service (Istio's recipe; see ``runbook.probe``)."""
    return ingress_address(cluster, name, gateway_namespace)


def wait_accepting(host: str, port: int, timeout: float, *, interval: float = 0.05) -> bool:
    """Wait until something accepts TCP connections on ``host:port`` (at most ``timeout`` s).

    Right after a Gateway is applied its listener opens only when the gateway got the config (on a
    real cluster after istiod's debounced push, ~0.1–1 s): measuring before then would report
    refusals that are the measurement's own timing.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=min(1.0, max(timeout, 0.1))):
                return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
        time.sleep(interval)  # no event to wait on: another process opens the port


def measure(cluster: Cluster, *, gateway_namespace: str, host: str, path: str, label: str,
            seconds: float = 2.0, qps: float = 25.0, concurrency: int = 4,
            settle_s: float = 3.0) -> Measurement:
    """Probe ``path`` through the gateway of ``gateway_namespace`` with ``Host: host``.

    Never raises for an unreachable or unresolvable gateway: the measurement says why
    (``error``), so a report still shows everything else.

    Args:
        seconds, qps, concurrency: the fixed-rate probe (``runbook probe --duration --qps -c``).
        settle_s: wait up to this long for the gateway port to accept connections first.
    """
    try:
        address = gateway_address(cluster, gateway_namespace)
    except RunbookError as exc:
        return Measurement(label, "", host, error=exc.one_line())
    url = address.base_url() + path
    wait_accepting(address.host, address.port, settle_s)
    head = curl_head(url, host=host)
    try:
        run = probe(url, host=host, duration=seconds, qps=qps, concurrency=concurrency, label=label,
                    progress_bar=not is_headless())
    except RunbookError as exc:
        return Measurement(label, url, host, address, head=head, error=exc.one_line())
    return Measurement(label, url, host, address, run, head)


class Recording:
    """One fixed-rate probe running in a background thread until :meth:`stop` (the timeline).

    Args:
        url, host: what to probe.
        qps, concurrency: the probe's schedule.
        max_seconds: the run ends by itself after this long (a notebook that stops midway must
            not leave traffic running).
        label: the run's label.
    """

    def __init__(self, url: str, host: str, *, qps: float = 25.0, concurrency: int = 4,
                 max_seconds: float = 300.0, label: str = "across the fix") -> None:
        self.url, self.host, self.qps, self.concurrency = url, host, qps, concurrency
        self.max_seconds, self.label = max_seconds, label
        self.started_at: datetime | None = None
        self.run: ProbeRun | None = None
        self.error: str = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """The probe thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, lead_s: float = 1.0) -> Recording:
        """Start the probe, then wait ``lead_s`` so the timeline shows the state before any change."""
        if self._thread is not None:
            raise RunbookError("this recording was started already")

        def work() -> None:
            try:
                self.run = probe(self.url, host=self.host, duration=self.max_seconds, qps=self.qps,
                                 concurrency=self.concurrency, label=self.label, stop=self._stop)
            except RunbookError as exc:
                self.error = exc.one_line()

        self.started_at = datetime.now(UTC)
        self._thread = threading.Thread(target=work, name="runbook-incident-recording", daemon=True)
        self._thread.start()
        self._stop.wait(lead_s)
        return self

    def stop(self, tail_s: float = 1.0) -> ProbeRun | None:
        """Let the probe run ``tail_s`` more seconds (the state after the last change), stop it,
        and return its run (None when it failed to start: see ``error``)."""
        if self._thread is None:
            return None
        if self._thread.is_alive():
            self._stop.wait(tail_s)
        self._stop.set()
        self._thread.join()
        return self.run


# ------------------------------------------------------------------------------------ events


@dataclass(frozen=True)
class TimelineEvent:
    """Something that happened during the incident, at a wall-clock time.

    Attributes:
        time: when (UTC).
        label: short text for the chart's marker (``fix applied``).
        source: where the time comes from: ``audit`` (the record of a change), ``rollout``
            (the moment the wait saw every Deployment complete), ``istiod`` (a push line's time),
            ``report``.
        detail: one line for the events table.
        marker: drawn on the timeline (False: listed in the table only).
    """

    time: datetime
    label: str
    source: str
    detail: str = ""
    marker: bool = True


def audit_events(records: Sequence[AuditRecord], label: str) -> list[TimelineEvent]:
    """The moment a change took effect: the first record of ``records`` that was applied.

    A plan of several steps (six Deployments restarted) is one event at its first applied step,
    with the number of steps in the detail.
    """
    applied = [r for r in records if r.result == "applied" and r.action in ("apply", "reset")]
    if not applied:
        return []
    first = applied[0]
    more = f" (+{len(applied) - 1} more objects)" if len(applied) > 1 else ""
    return [TimelineEvent(parse_timestamp(first.time), label, "audit",
                          f"{first.object}{more}: {first.step} — context {first.context}, "
                          f"user {first.user or '?'}")]


def push_events(pushes: pd.DataFrame, namespace: str, revisions: Iterable[str], *,
                 since: datetime | None = None, limit: int = MAX_PUSH_MARKERS) -> list[TimelineEvent]:
    """istiod pushes that concern ``namespace`` by the revisions that watch it, as events.

    Args:
        pushes: :func:`runbook.mesh.observe.config_pushes` (one row per config of a push).
        revisions: the revisions expected to push the namespace's config.
        since: ignore pushes before this time.
        limit: pushes drawn as markers; later ones are listed (``marker=False``).
    """
    if pushes.empty:
        return []
    wanted = set(revisions)
    rows = pushes[(pushes["config_namespace"] == namespace) & pushes["revision"].isin(wanted)]
    if since is not None:
        rows = rows[rows["time"] >= pd.Timestamp(since)]
    out: list[TimelineEvent] = []
    for (rev, push_id), group in rows.groupby(["revision", "push_id"], sort=False):
        first = group.iloc[0]
        named = ", ".join(f"{r.kind!s}/{r.config_name!s}" for r in group.itertuples() if r.config_name)
        more = int(first["more_configs"] or 0)
        kind = "full" if first["full"] is True or first["forced"] is True else "incremental"
        detail = (f"istiod {rev} ({first['istiod_pod']}) push [{push_id}], {kind}: "
                  f"{named or first['reasons'] or 'configs'}" + (f" and {more} more configs" if more else ""))
        when = pd.Timestamp(first["time"]).to_pydatetime()
        out.append(TimelineEvent(when, f"istiod {rev} push [{push_id}]", "istiod", detail))
    out.sort(key=lambda e: e.time)
    return [dataclasses.replace(e, marker=i < limit) for i, e in enumerate(out)]


def events_frame(events: Sequence[TimelineEvent], run: ProbeRun | None = None) -> pd.DataFrame:
    """The events as a table (:data:`EVENT_COLUMNS`), in time order; ``t_s`` is seconds from the
    recording's start (NaN without a run): negative for what happened before it."""
    rows = []
    for e in sorted(events, key=lambda e: e.time):
        rows.append({"time": e.time.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3],
                     "t_s": round(run.at(e.time), 3) if run is not None else math.nan,
                     "event": e.label, "source": e.source, "detail": e.detail})
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)


def recovery(run: ProbeRun, changed_at: datetime | None) -> dict[str, Any]:
    """When the recording's failures stopped, counted from the change that fixed them.

    Returns:
        ``failed_before`` / ``served_before`` (requests due before ``changed_at``), ``failed_after``
        / ``served_after``, ``first_served_after_s`` (seconds from the change to the first request
        served after it, None when none was), ``last_failure_after_s`` (to the last failure after
        it, None when none failed). Times are intended send times (the probe's schedule).
    """
    s = as_failures(run).samples
    served = s["error_kind"] == ""
    t_change = run.at(changed_at) if changed_at is not None else -math.inf
    before, after = s["intended_start"] < t_change, s["intended_start"] >= t_change
    first_ok = s.loc[after & served, "intended_start"]
    last_bad = s.loc[after & ~served, "intended_start"]
    return {
        "failed_before": int((before & ~served).sum()), "served_before": int((before & served).sum()),
        "failed_after": int((after & ~served).sum()), "served_after": int((after & served).sum()),
        "first_served_after_s": float(first_ok.min() - t_change) if len(first_ok) and changed_at else None,
        "last_failure_after_s": float(last_bad.max() - t_change) if len(last_bad) and changed_at else None,
    }


# ------------------------------------------------------------------------------------ charts


def markers(run: ProbeRun, events: Sequence[TimelineEvent], *, min_gap: float = 0.03
            ) -> list[tuple[datetime, str]]:
    """The events drawn on a chart of ``run``: those marked and inside the recording, in time
    order; an event closer than ``min_gap`` of the run's length to the previous marker joins its
    label (``rollout complete · istiod 1-19-3 push [2]``) so that labels never overlap."""
    span = max(run.elapsed_s, 1e-9)
    out: list[tuple[datetime, str]] = []
    for e in sorted(events, key=lambda e: e.time):
        if not e.marker or not -0.05 <= run.at(e.time) <= run.elapsed_s + 0.05:
            continue
        if out and (run.at(e.time) - run.at(out[-1][0])) < min_gap * span:
            out[-1] = (out[-1][0], f"{out[-1][1]} · {e.label}")
        else:
            out.append((e.time, e.label))
    return out


def _label_boxes(fig: Figure) -> None:
    # marker labels are drawn over the data: a light box keeps them readable
    for ax in fig.axes:
        for text in ax.texts:
            text.set_bbox({"facecolor": "white", "alpha": 0.75, "edgecolor": "none", "pad": 1.0})


def timeline_chart(run: ProbeRun, events: Sequence[TimelineEvent]) -> Figure:
    """Every request of the recording over time, failures (HTTP >= 400 too) as red crosses, and a
    vertical marker per event that falls inside the recording (:func:`markers`)."""
    fig = latency_timeline(as_failures(run), events=markers(run, events))
    fig.axes[0].set_title(chart_text(f"{run.label}: {run.method} {_path(run.url)} (Host: {run.host}) "
                                     f"at {run.qps:g}/s — HTTP >= 400 counted as failed", limit=200))
    _label_boxes(fig)
    return fig


#: outcome class → colour of :func:`outcomes_chart` (served green, client errors amber, the rest red)
_CLASS_COLOURS = {"2xx/3xx": "#5aa469", "4xx": "#e0b040", "5xx": "#e4743c", "no answer": ERROR_COLOR}


def outcomes_chart(run: ProbeRun, events: Sequence[TimelineEvent], *, bin_s: float | None = None
                   ) -> Figure:
    """Requests per time bin, stacked by outcome class (served, 4xx, 5xx, no answer), with the
    same event markers as :func:`timeline_chart`: when users stopped getting errors, at a glance.

    Args:
        bin_s: the bin width; default about 1/30 of the run and at least five requests' worth of
            the probe's rate, so that a bin's mix means something.
    """
    s = run.samples
    fig = Figure(figsize=(10, 3.2), layout="constrained")
    ax = fig.add_subplot()
    span = float(s["intended_start"].max()) if len(s) else 0.0
    width = bin_s or _nice(max(span / 30, 5 / run.qps if run.qps else 0.1, 0.1))
    ax.set_title(chart_text(f"{run.label}: outcome of each request, per {width:g} s of intended "
                            "send time", limit=200))
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel(f"requests per {width:g} s")
    if s.empty:
        ax.text(0.5, 0.5, "no requests", ha="center", va="center", transform=ax.transAxes)
        return fig
    classes = np.where(s["error_kind"] != "", "no answer",
                       np.where(s["status"] >= 500, "5xx", np.where(s["status"] >= 400, "4xx", "2xx/3xx")))
    bins = np.floor(s["intended_start"].to_numpy() / width).astype(int)
    counts = pd.crosstab(bins, classes)
    bottom = np.zeros(len(counts))
    x = counts.index.to_numpy() * width
    for name, colour in _CLASS_COLOURS.items():
        if name not in counts.columns:
            continue
        values = counts[name].to_numpy()
        ax.bar(x, values, width=width, bottom=bottom, align="edge", color=colour, label=name,
               edgecolor="white", linewidth=0.5)
        bottom += values
    for when, label in markers(run, events):
        t = run.at(when)
        ax.axvline(t, color="#2c3e50", linewidth=1.2, linestyle="-.")
        ax.text(t, 1.0, f" {chart_text(label)}", transform=ax.get_xaxis_transform(), rotation=90,
                va="top", ha="right", fontsize=8, color="#2c3e50")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    _label_boxes(fig)
    return fig


def _nice(value: float) -> float:
    """The smallest of 0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10 … that is >= ``value``."""
    scale = 10 ** math.floor(math.log10(value))
    return next(m * scale for m in (1, 2, 2.5, 5, 10) if m * scale >= value - 1e-12)


def _path(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return rest[rest.find("/"):] if "/" in rest else "/"


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
    styled = highlight_status(table, "level", _OUTCOME_LEVELS)
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


# ------------------------------------------------------------------------------------ exercise


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

    def diagnose(self) -> Styler:
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

    def diagnose_after(self) -> Styler:
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


__all__ = [
    "AUDIT_COLUMNS",
    "COMPARISON_COLUMNS",
    "EVENT_COLUMNS",
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
    "check_report_exercise",
    "comparison_chart",
    "comparison_table",
    "comparison_view",
    "control_planes_view",
    "events_frame",
    "findings_view",
    "gateway_address",
    "group_records",
    "incident_live",
    "left",
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
    "tags_view",
    "tidy",
    "timeline_chart",
    "wait_accepting",
]
