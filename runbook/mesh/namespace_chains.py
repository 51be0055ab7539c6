"""Namespace chains: conflicting or dangling injection labels (IST0123, MR104), namespaces not
enabled for injection (IST0102), pods whose sidecar another revision injected (IST0158), and
revisions whose istiod does not watch the namespace of their sidecars (MR110).
"""

from __future__ import annotations

from runbook import wellknown as wk
from runbook.mesh.diagnosis_state import DiagnosisState
from runbook.mesh.findings import INFO, WARNING, Finding, FixSuggestion, Subject
from runbook.mesh.injector_chains import labels_text
from runbook.mesh.model import SYSTEM_NAMESPACES
from runbook.mesh.pushes import control_plane_scopes


class NamespaceChains(DiagnosisState):
    """Chains read from a namespace's labels and its pods."""

    def namespace_labels(self) -> None:
        control = ({d.namespace for d in self.m.istiods} | {g.namespace for g in self.m.gateways})
        offer = sorted({w.claimed_revision for w in self.m.injectors()
                        if w.claimed_revision and not w.tag}
                       | {w.tag for w in self.m.injectors() if w.tag})
        has_istio = bool(self.m.istiods or self.m.injectors())
        for rec in self.injection:
            ns = rec.namespace
            subject = Subject("Namespace", None, ns)
            if rec.injection_label is not None and rec.rev_label is not None:
                injects = rec.webhook.key if rec.webhook else "no webhook"
                self.out.append(Finding(
                    "IST0123", WARNING, subject,
                    f"The namespace has more than one type of injection labels "
                    f"[{wk.INJECTION_LABEL}={rec.injection_label} {wk.REV_LABEL}={rec.rev_label}] "
                    f"— {wk.INJECTION_LABEL} takes precedence ({injects} injects); remove it to "
                    f"use {wk.REV_LABEL}={rec.rev_label}",
                    evidence=[f"namespace labels {labels_text(rec.labels)}", rec.detail],
                    fix=FixSuggestion(
                        "relabel-namespace",
                        {"namespace": ns, "revision": rec.rev_label, "drop_injection_label": True,
                         "label": wk.INJECTION_LABEL, "current_value": rec.injection_label},
                        f"kubectl label namespace {ns} {wk.INJECTION_LABEL}-",
                        f"remove {wk.INJECTION_LABEL} from {ns}: new pods get "
                        f"{wk.REV_LABEL}={rec.rev_label}'s injector (restart workloads to move "
                        f"existing pods)"),
                    namespaces=[ns]))
            if rec.status != "no injection":
                continue
            if rec.rev_label is not None or rec.injection_label == "enabled":
                label = (f"{wk.REV_LABEL}={rec.rev_label}" if rec.rev_label is not None
                         else f"{wk.INJECTION_LABEL}=enabled")
                self.out.append(Finding(
                    "MR104", WARNING, subject,
                    f"namespace {ns} is labelled {label} but no injector serves it: its pods "
                    f"start without a sidecar — label it with a revision or tag that exists"
                    + (f" ({', '.join(offer)})" if offer else " (none is installed)"),
                    evidence=[f"namespace labels {labels_text(rec.labels)}",
                              f"revisions and tags with an injector: {', '.join(offer) or 'none'}",
                              f"kubectl label namespace {ns} {wk.REV_LABEL}=<revision-or-tag> "
                              "--overwrite"],
                    namespaces=[ns]))
            elif (has_istio and rec.injection_label is None and ns not in SYSTEM_NAMESPACES
                  and ns not in control and self._has_workloads(ns)):
                self.out.append(Finding(
                    "IST0102", INFO, subject,
                    f"The namespace is not enabled for Istio injection. Run 'kubectl label "
                    f"namespace {ns} {wk.REV_LABEL}=<revision-or-tag>' to enable it, or 'kubectl "
                    f"label namespace {ns} {wk.INJECTION_LABEL}=disabled' to explicitly mark it "
                    f"as not needing injection.",
                    evidence=[f"namespace labels {labels_text(rec.labels)}",
                              f"revisions and tags: {', '.join(offer) or 'none'}"],
                    namespaces=[ns]))

    def _has_workloads(self, ns: str) -> bool:
        return bool(self.m.deployments_by_ns.get(ns) or self.m.pods_by_ns.get(ns))

    # --------------------------------------------------------------------------- IST0158

    def stale_sidecars(self) -> None:
        rs_owner: dict[tuple[str, str], str | None] = {}
        for ns, items in self.m.replicasets_by_ns.items():
            for rs in items:
                owner = next((o.get("name") for o in (rs.get("metadata") or {}).get(
                    "ownerReferences") or [] if o.get("kind") == "Deployment"), None)
                rs_owner[(ns, (rs.get("metadata") or {}).get("name", ""))] = owner
        for rec in self.injection:
            if rec.status not in ("ok", "both labels") or rec.webhook is None:
                continue
            effective = rec.effective_revision
            if not effective or "," in effective:
                continue
            stale = [p for p in self.m.pods_by_ns.get(rec.namespace, ())
                     if p.sidecar_revision and p.sidecar_revision != effective]
            if not stale:
                continue
            deployments = sorted({d for p in stale if p.owner_kind == "ReplicaSet"
                                  and (d := rs_owner.get((p.namespace, p.owner_name or "")))})
            revs = sorted({p.sidecar_revision for p in stale if p.sidecar_revision})
            pods = sorted(p.name for p in stale)
            fix = self.recreate_fix(rec.namespace, deployments, [])
            if fix is not None:
                fix = FixSuggestion(fix.action, {**fix.params, "pods": pods}, fix.command,
                                    fix.summary)
            self.out.append(Finding(
                "IST0158", WARNING, Subject("Namespace", None, rec.namespace),
                f"{len(stale)} pod{'s' if len(stale) != 1 else ''} in {rec.namespace} run a "
                f"sidecar injected by revision {', '.join(revs)}, but the namespace now injects "
                f"revision {effective} (via {rec.webhook.configuration}) — redeploy them "
                f"(kubectl rollout restart) to move them",
                evidence=[f"pods: {', '.join(pods[:10])}"
                          + (f" and {len(pods) - 10} more" if len(pods) > 10 else ""),
                          f"namespace injection: {rec.webhook.key} → "
                          f"{rec.webhook.target.describe() if rec.webhook.target else rec.webhook.url}"],
                fix=fix, namespaces=[rec.namespace]))


    # ----------------------------------------------------------------------------- MR110

    def unwatched_namespaces(self) -> None:
        """Sidecars of a revision whose istiod ignores their namespace get no configuration."""
        scopes = control_plane_scopes(self.m.snapshot, self.m)
        if not scopes:
            return
        for rec in self.injection:
            pods = self.m.pods_by_ns.get(rec.namespace, ())
            revisions = {p.sidecar_revision for p in pods if p.sidecar_revision}
            if rec.status in ("ok", "both labels") and rec.effective_revision \
                    and "," not in rec.effective_revision:
                revisions.add(rec.effective_revision)
            for rev in sorted(r for r in revisions if r in scopes):
                scope = scopes[rev]
                if scope.watches(rec.labels):
                    continue
                watchers = sorted(r for r, sc in scopes.items() if sc.watches(rec.labels))
                cm = f"ConfigMap {scope.namespace}/{scope.configmap}" if scope.configmap else \
                    f"the meshConfig of revision {rev}"
                self.out.append(Finding(
                    "MR110", WARNING, Subject("Namespace", None, rec.namespace),
                    f"pods in {rec.namespace} are injected by revision {rev}, but istiod {rev} "
                    f"({scope.namespace}) does not watch {rec.namespace}: their sidecars get no "
                    f"configuration from it — add the namespace to the discoverySelectors in "
                    f"{cm} (key mesh), or bind the namespace to a revision that watches it"
                    + (f" ({', '.join(watchers)})" if watchers else ""),
                    evidence=[f"istiod {rev}: {scope.describe_selectors()}",
                              f"namespace labels: {labels_text(rec.labels)}",
                              f"revisions that watch {rec.namespace}: "
                              f"{', '.join(watchers) or 'none'}"],
                    namespaces=[rec.namespace]))
