"""What each notebook of the course relies on, checked in its first cells.

The notebooks run on their own or after the others, and their exercises change the sandbox: after
notebook 03's exercise istiod 1-19-3 no longer watches ``l7-traffic-alpha``, after notebook 03
itself the incident of notebook 02 is gone. A notebook that starts on a state it was not written
for fails late and obscurely (``Connection refused``, NaN tables, empty charts). So each one
starts with :func:`check_preconditions`: one line per condition it relies on, and for each one
that does not hold, what to do — ``runbook sandbox reset``, or which notebook to run first.

Pure functions over a :class:`~runbook.snapshot.Snapshot` (``read_mesh(cluster)``), like the
exercise checks; the result is an :class:`~runbook.check_result.Preconditions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runbook import kinds as k
from runbook.check_result import Preconditions
from runbook.mesh.injection import namespace_injection
from runbook.mesh.model import build_model, meta
from runbook.mesh.pushes import control_plane_scopes, namespace_labels
from runbook.snapshot import Snapshot

#: what puts the sandbox back to the field report's state (every notebook's starting point)
RESET = "runbook sandbox reset"


def _injection_row(snapshot: Snapshot, namespace: str) -> dict[str, Any] | None:
    table = namespace_injection(snapshot)
    rows = table[table["namespace"] == namespace].to_dict("records")
    return {str(key): v for key, v in rows[0].items()} if rows else None


def check_preconditions(snapshot: Snapshot, notebook: str, *,
                        revisions: Sequence[str] = (),
                        incident_in: str | None = None,
                        running_in: str | None = None,
                        gateway_for: tuple[str, str] | None = None,
                        gateway_parameter: str = "the gateway namespace") -> Preconditions:
    """The conditions notebook ``notebook`` relies on, each with what to do when it does not hold.

    Args:
        snapshot: a read of the cluster (``read_mesh(cluster)``).
        notebook: its number (``"05"``), for the title.
        revisions: istiod revisions that must run with a ready pod.
        incident_in: a namespace where the field report's incident must be live (injection
            broken: the tag's webhook calls a Service that does not exist) — notebooks 02 and 03
            teach on it.
        running_in: a namespace whose Deployments must all have a ready pod (bookinfo running).
        gateway_for: ``(gateway namespace, app namespace)``: the revision of the ingress gateway
            in the first must watch the second (its ``discoverySelectors``), or that gateway has
            no route for the app.
        gateway_parameter: the notebook's parameter that names the gateway namespace (said when
            another revision's gateway would serve the app).
    """
    pre = Preconditions(f"Before notebook {notebook}")
    model = build_model(snapshot)
    running = {i.revision: i for i in model.istiods if i.ready_pods}
    for rev in revisions:
        istiod = running.get(rev)
        pre.add(istiod is not None,
                f"istiod {rev} runs in {istiod.namespace}" if istiod is not None else
                f"no ready istiod of revision {rev} — on the sandbox: {RESET}")
    if incident_in is not None:
        row = _injection_row(snapshot, incident_in)
        status = str(row["status"]) if row else None
        live = status == "target missing"
        if row is None:
            text = f"namespace {incident_in} does not exist — on the sandbox: {RESET}"
        elif live:
            text = (f"the incident is live in {incident_in}: its webhook calls {row['target']}, "
                    "which does not exist")
        else:
            text = (f"the incident is no longer live in {incident_in} (injection {status}, by "
                    f"revision {row['effective_revision']}): an earlier notebook or exercise fixed "
                    f"it — {RESET} brings it back")
        pre.add(live, text)
    if running_in is not None:
        deps = [d for d in snapshot.items(k.DEPLOYMENTS) if meta(d).get("namespace") == running_in]
        idle = sorted(str(meta(d).get("name")) for d in deps
                      if not int((d.get("status") or {}).get("readyReplicas") or 0))
        if not deps:
            pre.add(False, f"bookinfo is not deployed in {running_in} — run notebooks 01 and 03 "
                           "first, or this notebook with apply_fixes = True")
        else:
            pre.add(not idle, f"all {len(deps)} Deployments in {running_in} have a ready pod"
                    if not idle else
                    f"{len(idle)} of {len(deps)} Deployments in {running_in} have no ready pod "
                    f"({', '.join(idle[:3])}{' …' if len(idle) > 3 else ''}) — run notebook 03 "
                    "(fix the webhook, recreate), or this notebook with apply_fixes = True")
    if gateway_for is not None:
        _gateway_watches(pre, snapshot, model.gateways, *gateway_for, gateway_parameter)
    return pre


def _gateway_watches(pre: Preconditions, snapshot: Snapshot, gateways: Sequence[Any],
                     gateway_namespace: str, app_namespace: str, parameter: str) -> None:
    revision = next((g.revision for g in gateways if g.namespace == gateway_namespace), None)
    if revision is None:
        pre.add(False, f"no ingress gateway in {gateway_namespace} — on the sandbox: {RESET}")
        return
    scopes = control_plane_scopes(snapshot)
    scope = scopes.get(revision)
    labels = namespace_labels(snapshot, app_namespace) or {}
    watches = scope is not None and scope.watches(labels)
    others = sorted({str(g.namespace) for g in gateways if g.revision and g.revision != revision
                     and g.revision in scopes and scopes[g.revision].watches(labels)})
    instead = f"set {parameter} = {others[0]!r}, or " if others else ""
    pre.add(watches,
            f"istiod {revision} (the gateway of {gateway_namespace}) watches {app_namespace}"
            if watches else
            f"istiod {revision} (the gateway of {gateway_namespace}) does not watch "
            f"{app_namespace} ({scope.describe_selectors() if scope else 'no meshConfig'}): that "
            f"gateway has no route for the app and refuses connections (notebook 03's exercise "
            f"moves the tag's namespaces to revision 1-18-5) — {instead}{RESET}")


__all__ = ["RESET", "check_preconditions"]
