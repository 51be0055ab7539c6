"""Webhook configurations that are broken before any pod shows it: a target Service that does not
exist (IST0139, MR102) or has nobody behind it (MR103), injectors that overlap (IST0139), and a
configuration or tag whose target serves another revision than it claims (MR105).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from runbook import wellknown as wk
from runbook.mesh.findings import ERROR, WARNING, Finding, Subject
from runbook.mesh.injector_chains import labels_text
from runbook.mesh.model import Webhook
from runbook.mesh.retargets import Retargets, elsewhere_text, istioctl_caveat, plan_notes
from runbook.mesh.webhooks import injector_overlaps


class WebhookChains(Retargets):
    """Configuration chains of the webhooks themselves."""

    def broken_targets(self) -> None:
        groups: dict[tuple[str, str, str], list[Webhook]] = defaultdict(list)
        for w in self.m.webhooks:
            t = w.target
            if t is None or t.ok or t.status == "unknown":
                continue
            if (w.configuration, t.address) in self.covered:
                continue
            groups[(w.kind, w.configuration, t.address)].append(w)
        for (kind, cfg, _address), hooks in groups.items():
            w = hooks[0]
            t = w.target
            assert t is not None
            affected = self.affected_namespaces(hooks)
            subject = Subject(kind, None, cfg)
            names = ", ".join(h.name for h in hooks)
            evidence = [f"{kind} {cfg} webhooks[{h.index}] {h.name}: clientConfig "
                        f"{h.client_config()}, failurePolicy {h.failure_policy}" for h in hooks]
            if affected:
                evidence.append("selects namespaces: " + ", ".join(affected[:10])
                                + (f" and {len(affected) - 10} more" if len(affected) > 10 else ""))
            fail = any(h.failure_policy != "Ignore" for h in hooks)
            if t.status == "service_not_found":
                plan = self.plan_for_missing(w)
                evidence.extend(plan_notes(plan) + istioctl_caveat(self.m, plan.primary))
                if plan.candidates:
                    evidence.append("Service found in: "
                                    + "; ".join(c.describe() for c in plan.candidates))
                    self.out.append(Finding(
                        "MR102", ERROR if fail else WARNING, subject,
                        f"{cfg} ({names}) calls Service {t.namespace}/{t.name}, which does not "
                        f"exist" + elsewhere_text(plan)
                        + (f" — {plan.primary.summary}" if plan.primary else ""),
                        evidence, plan.primary, namespaces=affected))
                    if plan.alternative is not None:
                        self.add_alternative(w, plan, affected)
                elif w.is_injector:
                    self.out.append(Finding(
                        "IST0139", ERROR, subject,
                        f"Injector refers to a control plane service that does not exist: "
                        f"{t.namespace}/{t.name}. ({cfg}: {names})"
                        + (f" — {plan.primary.summary}" if plan.primary else
                           " — point it at a running istiod's Service or remove the "
                           "configuration if its revision is gone"),
                        evidence, plan.primary, namespaces=affected))
                else:
                    self.out.append(Finding(
                        "MR103", ERROR if fail else WARNING, subject,
                        f"{cfg} ({names}) calls Service {t.namespace}/{t.name}: {t.detail} — "
                        + ("pods and objects its rules cover cannot be created; " if fail else
                           "its calls are skipped (failurePolicy Ignore); ")
                        + "restore the Service or delete the configuration",
                        evidence, None, namespaces=affected))
                continue
            evidence.append(f"target: {t.describe()}")
            self.out.append(Finding(
                "MR103", ERROR if fail else WARNING, subject,
                f"{cfg} ({names}) calls {t.address}: {t.detail}{self.istiod_state(t)} — "
                + ("matching requests fail (failurePolicy Fail)" if fail else
                   "its calls are skipped (failurePolicy Ignore)")
                + "; bring the pods behind the Service back or fix the Service",
                evidence, None, namespaces=affected))

    # --------------------------------------------------------------------------- IST0139 overlap

    def overlaps(self) -> None:
        by_cfg: dict[str, list[Any]] = defaultdict(list)
        for o in injector_overlaps(self.m):
            by_cfg[o.webhook.configuration].append(o)
        for cfg, items in by_cfg.items():
            others = sorted({x for o in items for x in o.others})
            affected = [rec.namespace for rec in self.injection if rec.status == "ambiguous"
                        and any(w.configuration == cfg for w in rec.matching)]
            self.out.append(Finding(
                "IST0139", ERROR, Subject(items[0].webhook.kind, None, cfg),
                f"Webhook overlaps with others: [{', '.join(others)}]. This may cause injection "
                f"to occur twice. — remove the configuration of the revision you no longer use "
                f"(istioctl tag remove / istioctl uninstall --revision)",
                evidence=[f"{o.webhook.key} and {', '.join(o.others)} both match namespace labels "
                          f"{labels_text(o.namespace_labels)} and pod labels {labels_text(o.pod_labels)}"
                          for o in items] + ([f"namespaces injected twice: {', '.join(affected)}"]
                                             if affected else []),
                namespaces=affected))

    # ---------------------------------------------------------------------------- MR105

    def claimed_revisions(self) -> None:
        by_cfg: dict[tuple[str, str], list[Webhook]] = defaultdict(list)
        for w in self.m.injectors():
            t = w.target
            if (w.claimed_revision and t is not None and t.ok and t.revisions
                    and set(t.revisions) != {w.claimed_revision}
                    and w.claimed_revision != wk.DEFAULT_REVISION):
                by_cfg[(w.kind, w.configuration)].append(w)
        for (kind, cfg), hooks in by_cfg.items():
            w = hooks[0]
            assert w.target is not None
            reached = ", ".join(w.target.revisions)
            serving = self.serving_target(w.claimed_revision, w.target.port)
            fix = self.to_claimed_fix(w, hooks, serving) if serving else None
            affected = self.affected_namespaces(hooks)
            who = f"tag {w.tag}" if w.tag else cfg
            self.out.append(Finding(
                "MR105", WARNING, Subject(kind, None, cfg),
                f"{who} claims revision {w.claimed_revision} but its webhooks reach istiod "
                f"revision {reached} via {w.target.namespace}/{w.target.name}"
                + (f" — {fix.summary}" if fix else
                   f" — no Service serves revision {w.claimed_revision}; relabel the "
                   f"configuration {wk.REV_LABEL}={reached} if {reached} is intended"),
                evidence=[f"{h.key}: clientConfig {h.client_config()}" for h in hooks]
                + [f"target: {w.target.describe()}, selector {w.target.selector or '<none>'}"]
                + ([f"namespaces injected by {reached} instead: {', '.join(affected)}"]
                   if affected else []) + istioctl_caveat(self.m, fix),
                fix=fix, namespaces=affected))
