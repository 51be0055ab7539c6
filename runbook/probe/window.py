"""A probe run during which a fault delay is switched on and off again: the timeline's markers.

``probe_with_fault`` measures one URL for ``duration`` seconds and, on a second thread, adds a
``fault.delay`` to the VirtualService rule that serves it at ``window[0]`` of the run and removes
it at ``window[1]`` — each change a JSON patch through the API, like
``kubectl patch virtualservice … --type=json``. The moments the API accepted each patch are the
run's events (``latency_timeline(run, events=…)`` draws them), so a reader sees how long after the
change the latency moved: immediately on the sandbox, after istiod's debounced push (~0.1–1 s) on a
real cluster.

Safety: the rule must not have a fault already (removing it would destroy someone's config); the
removal is guarded by a JSON-patch ``test`` of the exact fault that was added, and it runs even
when the probe fails. The patches cost the probe's thread a few milliseconds of CPU (the GIL) at
two instants; that is visible only in the busiest runs.
"""

from __future__ import annotations

import json
import shlex
import threading
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runbook import kinds as k
from runbook.audit import STARTED, AuditLog, AuditRecord
from runbook.errors import InputError, RunbookError
from runbook.probe.http import ProbeRun, probe
from runbook.routing import RequestView, first_matching_rule, parse_duration
from runbook.snapshot import RawObject

if TYPE_CHECKING:
    from runbook.kube import Cluster


@dataclass
class FaultWindow:
    """A run with a fault switched on and off.

    Attributes:
        run: the probe run.
        events: ``(when, label)`` of each accepted change (UTC), for ``latency_timeline``.
        commands: the equivalent ``kubectl`` commands.
        rule: ``VirtualService ns/name http[i]`` that got the fault.
        error: why a change failed (the run is kept; "" when none did).
    """

    run: ProbeRun
    events: list[tuple[datetime, str]] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    rule: str = ""
    error: str = ""

    def summary(self) -> str:
        lines = [f"{self.rule}: " + ", ".join(f"{label} at {self.run.at(when):.1f} s"
                                              for when, label in self.events)]
        if self.error:
            lines.append(f"stopped: {self.error}")
        return "\n".join(lines)


def _patch_command(namespace: str, name: str, ops: list[dict[str, Any]]) -> str:
    return (f"kubectl -n {shlex.quote(namespace)} patch virtualservice {shlex.quote(name)} --type=json "
            f"-p {shlex.quote(json.dumps(ops, separators=(',', ':')))}")


def probe_with_fault(cluster: Cluster, url: str, *, host: str, namespace: str, virtual_service: str,
                     rule: int | None = None, delay: str = "50ms", percent: float = 50.0,
                     window: tuple[float, float] = (1 / 3, 2 / 3), duration: float = 9.0,
                     qps: float | None = 100.0, concurrency: int = 4, label: str | None = None,
                     audit: AuditLog | None = None) -> FaultWindow:
    """Probe ``url`` while a fault delay is on for the middle part of the run (see the module).

    Args:
        cluster: where the VirtualService lives (changed twice, restored at the end).
        url: what to probe; host: its ``Host`` header.
        namespace, virtual_service: the VirtualService that routes it.
        rule: index of its ``http`` rule (default: the rule a ``GET`` of the URL's path meets).
        delay: ``fault.delay.fixedDelay`` (``50ms``); percent: its ``percentage.value``.
        window: when to switch it on and off, as fractions of ``duration``.
        duration, qps, concurrency: the probe run (see :func:`runbook.probe.probe`).
        label: the run's label (default: ``"<delay> on <percent> % from … to … s"``).
        audit: where both VirtualService changes are recorded (default: the audit log).

    Raises:
        InputError: no such VirtualService or rule, a rule that already has a fault, a bad delay
            or window (nothing is changed or sent then).
    """
    try:
        parse_duration(delay)
    except ValueError as exc:
        raise InputError(f"delay: {exc}") from None
    if not (0 <= window[0] < window[1] <= 1):
        raise InputError(f"window must be two fractions 0 <= on < off <= 1, not {window!r}")
    vs = cluster.get(k.VIRTUAL_SERVICES, virtual_service, namespace)
    rules = (vs.get("spec") or {}).get("http") or []
    if rule is None:
        path = urllib.parse.urlsplit(url).path or "/"
        rule = first_matching_rule(rules, RequestView("GET", path, host))
        if rule is None:
            raise InputError(f"no rule of VirtualService {namespace}/{virtual_service} takes GET {path}")
    if not 0 <= rule < len(rules):
        raise InputError(f"VirtualService {namespace}/{virtual_service} has no rule http[{rule}] "
                         f"(it has {len(rules)})")
    where = f"VirtualService {namespace}/{virtual_service} http[{rule}]"
    if rules[rule].get("fault"):
        raise InputError(f"{where} already has a fault: this run would remove it",
                         hint="remove it first, or pass another rule=")
    fault = {"delay": {"fixedDelay": delay, "percentage": {"value": percent}}}
    on = [{"op": "add", "path": f"/spec/http/{rule}/fault", "value": fault}]
    off: list[dict[str, Any]] = [{"op": "test", "path": f"/spec/http/{rule}/fault", "value": fault},
                                 {"op": "remove", "path": f"/spec/http/{rule}/fault"}]
    result_events: list[tuple[datetime, str]] = []
    errors: list[str] = []
    applied = threading.Event()
    stop = threading.Event()

    log = audit if audit is not None else AuditLog()
    label_of = f"VirtualService/{namespace}/{virtual_service}"

    def change(ops: list[dict[str, Any]], text: str) -> bool:
        before = entry = None
        try:
            before = cluster.get(k.VIRTUAL_SERVICES, virtual_service, namespace)
            # a change to the cluster like any fix's: in the audit trail, written ahead
            entry = log.begin(_record(cluster, label_of, text, STARTED, before, None))
            after = cluster.patch(k.VIRTUAL_SERVICES, virtual_service, ops, namespace=namespace,
                                  patch_type="json")
        except RunbookError as exc:
            errors.append(f"{text}: {exc}")
            log.append(_record(cluster, label_of, text, "failed", before, None, exc.one_line(),
                               entry=entry))
            return False
        result_events.append((datetime.now(UTC), text))
        log.append(_record(cluster, label_of, text, "applied", before, after, entry=entry))
        return True

    def switch() -> None:
        if stop.wait(window[0] * duration):
            return
        if change(on, f"fault on: {delay} on {percent:g} %"):
            applied.set()
            if not stop.wait((window[1] - window[0]) * duration):
                applied.clear()
                change(off, "fault off")

    worker = threading.Thread(target=switch, name="runbook-fault-window", daemon=True)
    start_s, end_s = window[0] * duration, window[1] * duration
    text = label or f"{delay} on {percent:g} % from {start_s:.1f} to {end_s:.1f} s"
    worker.start()
    try:
        run = probe(url, host=host, duration=duration, qps=qps, concurrency=concurrency, label=text)
    finally:
        stop.set()
        worker.join()
        if applied.is_set():  # the probe ended first (or failed): never leave the fault behind
            change(off, "fault off")
    return FaultWindow(run, result_events, [_patch_command(namespace, virtual_service, on),
                                            _patch_command(namespace, virtual_service, off)],
                       where, "; ".join(errors))


__all__ = ["FaultWindow", "probe_with_fault"]


def _record(cluster: Cluster, obj: str, step: str, result: str, before: RawObject | None,
            after: RawObject | None, detail: str = "", *, entry: AuditRecord | None = None
            ) -> AuditRecord:
    from runbook.kube.objects import comparable  # only with a cluster: `runbook probe` stays light

    record = AuditRecord(action="apply", plan="fault window (probe_with_fault)", step=step,
                         context=cluster.context, server=cluster.server, user=cluster.user,
                         object=obj, result=result, before=comparable(before),
                         after=comparable(after), detail=detail)
    if entry is not None:
        record.id = entry.id  # the outcome of the change its started record announced
    return record
