"""What the snapshot lets the diagnosis see: kinds that could not be read, with the permission to
ask for (MR108), and a cluster without any Istio control plane (MR109).
"""

from __future__ import annotations

import re

from runbook import kinds as k
from runbook.mesh.diagnosis_state import DiagnosisState
from runbook.mesh.findings import INFO, WARNING, Finding, Subject

#: kinds a diagnosis depends on (an unreadable one is a warning, the rest info)
ESSENTIAL_KINDS = frozenset(kind.key for kind in (
    k.NAMESPACES, k.PODS, k.SERVICES, k.ENDPOINTS, k.DEPLOYMENTS, k.REPLICA_SETS, k.EVENTS,
    k.MUTATING_WEBHOOKS))


class Coverage(DiagnosisState):
    """Findings about the snapshot's reach rather than the mesh."""

    def unreadable_kinds(self) -> None:
        for key, reason in sorted(self.m.unreadable.items()):
            verb, resource, scope = _forbidden_parts(reason, key)
            sev = WARNING if key in ESSENTIAL_KINDS else INFO
            what = {
                k.MUTATING_WEBHOOKS.key: "webhook targets, tags and injection cannot be checked",
                k.EVENTS.key: "ReplicaSet events are missing; conditions are used instead",
                k.ENDPOINTS.key: "ready endpoints are derived from pods instead",
                k.PODS.key: "pod readiness and injected revisions are unknown",
            }.get(key, "tables that need it are partial")
            forbidden = "forbidden" in reason.lower() or "cannot " in reason
            if forbidden:
                message = (f"could not read {key}: missing permission to {verb} {resource} "
                           f"{scope} — {what}; ask for '{verb}' on {resource}")
                evidence = [reason, f"kubectl auth can-i {verb} {resource} {scope_flag(scope)}"]
            else:
                message = f"could not read {key} ({reason}) — {what}"
                evidence = [reason]
            self.out.append(Finding("MR108", sev, Subject("Resource", None, key), message,
                                    evidence=evidence))

    def no_istio(self) -> None:
        if self.m.istiods or self.m.injectors():
            return
        if not (self.m.has(k.DEPLOYMENTS) and self.m.has(k.MUTATING_WEBHOOKS)):
            return
        self.out.append(Finding(
            "MR109", INFO, Subject("Cluster", None, self.m.snapshot.context or "cluster"),
            "no Istio control plane found (no Deployment labelled app=istiod, no sidecar-injector "
            "webhook): the mesh tables are empty — install a revision first "
            "(istioctl install --set revision=<rev>)",
            evidence=[f"{len(self.m.deployments_by_ns)} namespaces with Deployments, "
                      f"{len(self.m.webhooks)} admission webhooks, none of them Istio's"]))




_FORBIDDEN = re.compile(
    r'cannot (?P<verb>\w+) resource "(?P<resource>[^"]+)" in API group "(?P<group>[^"]*)"'
    r'(?: (?P<scope>at the cluster scope|in the namespace "[^"]+"))?')


def _forbidden_parts(reason: str, key: str) -> tuple[str, str, str]:
    """verb, resource and scope from a 403 message (kube-apiserver's RBAC wording)."""
    m = _FORBIDDEN.search(reason)
    if m:
        resource = m.group("resource") + (f".{m.group('group')}" if m.group("group") else "")
        return m.group("verb"), resource, m.group("scope") or "at the cluster scope"
    return "list", key, "at the cluster scope"


def scope_flag(scope: str) -> str:
    """``kubectl auth can-i`` flag for a scope phrase."""
    m = re.search(r'in the namespace "([^"]+)"', scope)
    return f"-n {m.group(1)}" if m else "--all-namespaces"
