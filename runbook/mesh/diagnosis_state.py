"""What every failure chain of the diagnosis shares: the model, each namespace's injection, the
findings so far, and the helpers several chains use (the namespaces a webhook affects, the istiod
pods behind a target, the recreate fix).

:class:`DiagnosisState` is the base of the chain classes (``runbook.mesh.admission_chains``,
``webhook_chains``, ``namespace_chains``, ``coverage``); :func:`runbook.mesh.diagnose.diagnose`
combines them and runs the chains in order.
"""

from __future__ import annotations

from collections.abc import Sequence

from runbook.mesh.findings import Finding, FixSuggestion
from runbook.mesh.injection import resolve_injection
from runbook.mesh.injector_chains import injector_deadlocks
from runbook.mesh.model import MeshModel, Target, Webhook


class DiagnosisState:
    """The shared state of one diagnosis run (one model)."""

    def __init__(self, model: MeshModel) -> None:
        self.m = model
        self.out: list[Finding] = []
        self.injection = resolve_injection(model)
        self.by_ns = {rec.namespace: rec for rec in self.injection}
        # (configuration, target address) already explained by a failing-pods chain
        self.covered: set[tuple[str, str]] = set()
        # targets whose only istiod cannot start because of the webhook that calls it (MR111)
        self.deadlocked = {lock.webhook.target.address for lock in injector_deadlocks(model)
                           if lock.webhook.target is not None}

    def istiod_state(self, target: Target | None) -> str:
        if target is None:
            return ""
        ds = [d for d in self.m.istiods_by_ns.get(target.namespace, ())
              if d.revision in target.selected_revisions]
        if not ds:
            return ""
        return "; " + ", ".join(f"istiod {d.name} (revision {d.revision}) has {d.ready_pods}/"
                                f"{d.desired} ready pods" for d in ds)

    def recreate_fix(self, ns: str, deployments: list[str], replicasets: list[str]
                     ) -> FixSuggestion | None:
        if not deployments:
            return None
        return FixSuggestion(
            "recreate-workloads",
            {"namespace": ns, "deployments": deployments, "replicasets": replicasets, "pods": [],
             "method": "rollout-restart"},
            f"kubectl rollout restart deployment -n {ns} {' '.join(deployments)}",
            f"rollout restart {len(deployments)} Deployment{'s' if len(deployments) != 1 else ''} "
            f"in {ns}: new ReplicaSets create pods through admission again")

    def affected_namespaces(self, hooks: Sequence[Webhook]) -> list[str]:
        """Namespaces whose typical pods the webhooks intercept (injectors: via injection)."""
        keys = {h.key for h in hooks}
        out = [rec.namespace for rec in self.injection if keys & {w.key for w in rec.matching}]
        if out or any(h.is_injector for h in hooks):
            return out
        return [ns for ns, labels in self.m.namespaces.items()
                if any(h.matches_pod_create and h.namespace_selector.matches(labels)
                       for h in hooks)]
