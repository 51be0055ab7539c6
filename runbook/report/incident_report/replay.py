"""Step 1 of the incident report: put the sandbox's scenario back when the incident is not live."""

from __future__ import annotations

import getpass
from collections.abc import Iterable
from dataclasses import dataclass, field

from runbook.audit import STARTED, AuditLog, AuditRecord
from runbook.errors import ClusterError, InputError
from runbook.fix.flow import proposed_fix
from runbook.kube import Cluster
from runbook.mesh.findings import Finding
from runbook.mesh.observe import diagnose_cluster
from runbook.sandbox import SandboxInfo, find_running
from runbook.sandbox.process import reset_running
from runbook.ui.render import Record, ShownAsRecord, render_note

#: the sandbox's admin API (``runbook sandbox status|reset``), reached with the kubeconfig's user
SANDBOX_STATUS_PATH = "/sandbox/v1/status"
SANDBOX_RESET_PATH = "/sandbox/v1/reset"


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
