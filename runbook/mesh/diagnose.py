"""The inventory (all tables at once) and the diagnosis (findings with proposed fixes).

``inventory(snapshot)`` builds the model once and returns every table; ``diagnose(snapshot)``
follows the field report's reasoning, but for every namespace at once:

1. ReplicaSets short of pods whose ``FailedCreate`` events / ``ReplicaFailure`` condition carry an
   admission error (``kubectl describe rs``) are grouped by namespace and webhook (MR101);
2. the error's webhook is linked to its configuration (name, target Service and namespace
   selector must all agree) and the target is resolved again, now (``kubectl get
   mutatingwebhookconfiguration -o yaml | grep namespace``);
3. a Service of that name is looked up in every other namespace, with the istiod revision behind
   it (``kubectl get svc -n istio-canary``) — the retarget the report did — and the Service that
   really serves the revision the configuration claims — the alternative (MR106);
4. the workloads to recreate afterwards (MR107), as the report did with ``kubectl delete rs``.

Configuration problems that no failing pod shows yet are reported too (IST0139, MR102–MR105,
IST0123, IST0102, IST0158), and kinds that could not be read (MR108). Codes are documented in
:mod:`runbook.mesh.findings` and docs/findings.md.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from runbook import kinds as k
from runbook import wellknown as wk
from runbook.frames import frame_records
from runbook.mesh.findings import (
    ERROR,
    INFO,
    WARNING,
    Finding,
    FixSuggestion,
    Subject,
    sort_findings,
)
from runbook.mesh.injection import namespace_injection, resolve_injection
from runbook.mesh.injector_chains import (
    deadlock_findings,
    injector_deadlocks,
    labels_text,
    missing_proxy_findings,
    refused_port_detail,
    uninjected_pod_findings,
)
from runbook.mesh.model import (
    SYSTEM_NAMESPACES,
    MeshModel,
    Source,
    Target,
    Webhook,
    as_model,
    paused_gc,
)
from runbook.mesh.pushes import control_plane_scopes
from runbook.mesh.revisions import control_planes, revision_tags
from runbook.mesh.webhooks import injector_overlaps, webhook_targets
from runbook.mesh.workloads import (
    FailingReplicaSet,
    failing_replicasets,
    replicaset_events,
    workloads,
)

#: the tables of an inventory, in display order
TABLES: tuple[str, ...] = (
    "control_planes", "revision_tags", "namespace_injection", "workloads", "replicaset_events",
    "webhook_targets",
)

#: kinds a diagnosis depends on (an unreadable one is a warning, the rest info)
ESSENTIAL_KINDS = frozenset(kind.key for kind in (
    k.NAMESPACES, k.PODS, k.SERVICES, k.ENDPOINTS, k.DEPLOYMENTS, k.REPLICA_SETS, k.EVENTS,
    k.MUTATING_WEBHOOKS))


@dataclass
class Inventory:
    """Every table of a snapshot, plus what could not be read.

    Attributes:
        control_planes, revision_tags, namespace_injection, workloads, replicaset_events,
        webhook_targets: see the functions of the same name (columns documented there).
        unreadable: kind key → why it could not be read (tables built without it are partial).
        model: the index the tables were built from (reused by :func:`diagnose`).
    """

    control_planes: pd.DataFrame
    revision_tags: pd.DataFrame
    namespace_injection: pd.DataFrame
    workloads: pd.DataFrame
    replicaset_events: pd.DataFrame
    webhook_targets: pd.DataFrame
    unreadable: dict[str, str]
    model: MeshModel = field(repr=False, compare=False)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Table name → DataFrame, in :data:`TABLES` order."""
        return {name: getattr(self, name) for name in TABLES}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: each table name → list of row objects, plus ``unreadable``."""
        out: dict[str, Any] = {name: frame_records(df) for name, df in self.tables().items()}
        out["unreadable"] = dict(self.unreadable)
        return out


@paused_gc
def inventory(source: Source) -> Inventory:
    """All tables of a snapshot (or of a model already built from one), built in one pass."""
    model = as_model(source)
    return Inventory(
        control_planes=control_planes(model), revision_tags=revision_tags(model),
        namespace_injection=namespace_injection(model), workloads=workloads(model),
        replicaset_events=replicaset_events(model), webhook_targets=webhook_targets(model),
        unreadable=dict(model.unreadable), model=model)


# ======================================================================================= diagnose


@paused_gc
def diagnose(source: Source | Inventory, *, namespace: str | None = None) -> list[Finding]:
    """Findings for a snapshot, errors first.

    Args:
        source: a snapshot, a model, or an :class:`Inventory` (its model is reused).
        namespace: keep only findings about this namespace (its own objects, the webhooks that
            break its pods) and cluster-wide ones that concern every namespace.

    Returns:
        Findings sorted by severity; a healthy mesh gives no errors.
    """
    model = source.model if isinstance(source, Inventory) else as_model(source)
    findings = _Diagnosis(model).run()
    if namespace is not None:
        findings = [f for f in findings if f.subject.namespace == namespace
                    or namespace in f.namespaces
                    or (f.subject.namespace is None and not f.namespaces)]
    return sort_findings(findings)


@dataclass
class _Retarget:
    """What can be done about a webhook whose Service is missing."""

    primary: FixSuggestion | None = None
    alternative: FixSuggestion | None = None
    chosen: Target | None = None
    serving: Target | None = None
    candidates: list[Target] = field(default_factory=list)
    note: str = ""


class _Diagnosis:
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

    def run(self) -> list[Finding]:
        self.unreadable_kinds()
        self.no_istio()
        self.pod_creation_chains()
        self.broken_targets()
        self.overlaps()
        self.out.extend(deadlock_findings(self.m))
        self.out.extend(uninjected_pod_findings(self.m, self.injection))
        self.out.extend(missing_proxy_findings(self.m))
        self.namespace_labels()
        self.claimed_revisions()
        self.stale_sidecars()
        self.unwatched_namespaces()
        return self.out

    # ------------------------------------------------------------------------ MR108, MR109

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

    # ------------------------------------------------------------------ MR101, MR106, MR107

    def pod_creation_chains(self) -> None:
        groups: dict[tuple[Any, ...], list[FailingReplicaSet]] = defaultdict(list)
        links: dict[tuple[Any, ...], list[Webhook]] = {}
        for rs in failing_replicasets(self.m):
            hooks = self._link(rs)
            key = (rs.namespace, tuple(w.key for w in hooks) or (rs.error.webhook,),
                   rs.error.service_namespace, rs.error.service, rs.error.url, rs.error.error_kind)
            groups[key].append(rs)
            links[key] = hooks
        for key, items in groups.items():
            self._chain(items, links[key])

    def _link(self, rs: FailingReplicaSet) -> list[Webhook]:
        """The webhook(s) an admission error names: same name, same target, selecting the ns.

        When no webhook of that name calls that target any more (the configuration was changed
        since the error — the report's patch), the webhooks of that name that select the
        namespace are returned: their *current* target decides whether the failure is stale.
        """
        err = rs.error
        named = [w for w in self.m.webhooks if w.name == err.webhook]
        cands = named
        if err.service is not None:
            cands = [w for w in named if w.service_name == err.service
                     and w.service_namespace == err.service_namespace
                     and (err.port is None or w.service_port == err.port)]
        elif err.url:
            cands = [w for w in named if w.url and w.url.split("?")[0] == err.url]
        labels = self.m.namespaces.get(rs.namespace)
        if labels is None:
            return cands
        # the errors come from pod creation: only webhooks whose rules cover it qualify
        selecting = [w for w in (cands or named) if w.namespace_selector.matches(labels)
                     and w.matches_pod_create]
        if not cands:
            return selecting
        return selecting if len(cands) > 1 and selecting else cands

    def _chain(self, items: list[FailingReplicaSet], hooks: list[Webhook]) -> None:
        first = items[0]
        ns, err = first.namespace, first.error
        names = sorted(r.name for r in items)
        deployments = sorted({r.deployment for r in items if r.deployment})
        n = len(items)
        rs_word = f"{n} ReplicaSet{'s' if n != 1 else ''}"
        evidence = [
            f"ReplicaSet {r.name}" + (f" (Deployment {r.deployment})" if r.deployment else "")
            + (f": {r.current}/{r.desired} pods" if r.exists else ": (ReplicaSets not readable)")
            + (f", FailedCreate ×{r.count}" if r.count else "")
            + (f", last {r.last_seen}" if r.last_seen else "")
            for r in sorted(items, key=lambda r: r.name)]
        evidence.append(f"event: {first.messages[0]}" if first.messages else f"error: {err.message}")
        w = hooks[0] if len(hooks) == 1 else None
        if w is None and hooks:
            evidence.append("several configurations define this webhook with this target: "
                            + ", ".join(h.configuration for h in hooks))
        subject = Subject("Namespace", None, ns)
        if w is not None:
            evidence.append(f"{w.kind} {w.configuration} webhooks[{w.index}] {w.name}: clientConfig "
                            f"{w.client_config()}, failurePolicy {w.failure_policy}")
            if err.service is not None and (w.service_namespace, w.service_name) != (
                    err.service_namespace, err.service):
                evidence.append(f"the error names {err.service_namespace}/{err.service}: the "
                                "configuration was changed since")
            labels = self.m.namespaces.get(ns)
            if labels is not None:
                evidence.append(f"namespace {ns} labels {labels_text(labels)} match namespaceSelector "
                                f"{w.namespace_selector}")
        target = w.target if w else None
        if target is None and err.service is not None and err.service_namespace is not None:
            # no configuration to link (not readable, or deleted): the event still names the Service
            target = self.m.resolve(err.service_namespace, err.service, err.port or 443)
            if not self.m.has(k.MUTATING_WEBHOOKS):
                evidence.append("webhook configurations could not be read (see MR108): the "
                                "webhook's configuration and a fix cannot be named")
        where = f"webhook {err.webhook}" + (f" of {w.configuration}" if w else "")

        # Only resolution errors can be checked against the snapshot: when such a target
        # resolves now, the failures are stale and only a recreate is needed. A timeout or a TLS
        # error says nothing the objects can disprove.
        if (target is not None and target.ok and target.status != "unknown"
                and err.error_kind in ("service_not_found", "no_endpoints")):
            self.out.append(Finding(
                "MR107", INFO, subject,
                f"{rs_word} in {ns} still lack pods after {where} failed "
                f"({err.error_kind.replace('_', ' ')}), but its target {target.describe()} answers "
                f"now — the ReplicaSet controller retries with back-off (up to 1000 s); recreate "
                f"the workloads to create the pods now",
                evidence=evidence, fix=self._recreate(ns, deployments, names), namespaces=[ns]))
            return

        if w is not None and w.target is not None:
            self.covered.add((w.configuration, w.target.address))
        retarget = None
        if target is not None and target.status == "service_not_found":
            retarget = self._plan_for_missing(w) if w is not None else self._candidates(target)
        if retarget is not None:
            if retarget.candidates:
                evidence.append("Service found in: " + "; ".join(t.describe()
                                                               for t in retarget.candidates))
            evidence.extend(_notes(retarget) + _istioctl_caveat(self.m, retarget.primary))
            message = (f"{rs_word} in {ns} cannot create pods: {where} calls Service "
                       f"{target.namespace}/{target.name}, which does not exist"  # type: ignore[union-attr]
                       + _elsewhere_text(retarget)
                       + (f" — {retarget.primary.summary}" if retarget.primary else
                          " — point the webhook at a running istiod's Service"
                          + (" (its configuration could not be read)" if w is None else "")))
            fix = retarget.primary
        else:
            message, fix = self._chain_other(rs_word, ns, where, err.error_kind, err.cause,
                                             target, evidence)
        self.out.append(Finding("MR101", ERROR, subject, message, evidence, fix, namespaces=[ns]))
        if retarget is not None and retarget.alternative is not None and w is not None:
            self._alternative(w, retarget, [ns])
        if deployments:
            self.out.append(Finding(
                "MR107", INFO, subject,
                f"after {where} is fixed, recreate the {len(deployments)} Deployment"
                f"{'s' if len(deployments) != 1 else ''} in {ns} ({', '.join(deployments)}) so "
                f"that their pods are created and injected now — the ReplicaSet controller only "
                f"retries with back-off (up to 1000 s)",
                evidence=[f"failing ReplicaSets: {', '.join(names)}",
                          f"field report: kubectl delete rs -n {ns} --all"],
                fix=self._recreate(ns, deployments, names), namespaces=[ns]))

    def _chain_other(self, rs_word: str, ns: str, where: str, kind: str, cause: str,
                     target: Target | None, evidence: list[str]
                     ) -> tuple[str, FixSuggestion | None]:
        """Message for failures other than a missing Service (no automatic fix)."""
        head = f"{rs_word} in {ns} cannot create pods: {where}"
        if target is not None:
            evidence.append(f"target now: {target.describe()}")
            if target.selected_revisions:
                evidence.append(f"its selector {target.selector or '<none>'} selects istiod "
                                f"revision {', '.join(target.selected_revisions)}")
        if kind == "service_not_found" and target is None:
            return (f"{head} calls a Service that does not exist ({cause}) — the webhook "
                    "configuration was not found in the snapshot; check which configuration "
                    "defines it", None)
        if kind in ("no_endpoints",) or (target is not None and target.status in (
                "no_endpoints", "no_service_port", "headless", "unsupported_type")):
            why = target.detail if target is not None else cause
            pods = self._istiod_state(target)
            if target is not None and target.address in self.deadlocked:
                return (f"{head} finds no istiod to answer ({why}){pods} — and istiod's own pods "
                        "are created through this webhook, so restarting istiod cannot help: "
                        "see MR111 for the way out", None)
            return (f"{head} finds no istiod to answer ({why}){pods} — bring the istiod pods "
                    f"back (kubectl get pods -n {target.namespace if target else '<ns>'} -l "
                    f"app=istiod) or point the webhook at a revision that runs", None)
        hints = {
            "timeout": "the apiserver cannot reach the webhook pods in time: check NetworkPolicies,"
                       " firewall rules for the webhook port (15017 for istiod) and istiod's load",
            "connection_refused": "nothing listens behind the Service: check the istiod pods and "
                                  "the Service's targetPort",
            "tls": "the webhook's certificate does not match its caBundle: check the caBundle "
                   "istiod patched into the configuration",
            "denied": "the webhook rejected the pod: read its reason and fix the pod template",
            "invalid_response": "the webhook answered something the apiserver cannot use: check "
                                "the webhook's logs",
        }
        hint = hints.get(kind, "read the cause and the webhook's logs")
        if kind == "connection_refused" and target is not None:
            hint = refused_port_detail(self.m, target) or hint
        return f"{head} failed: {cause} — {hint}", None

    def _istiod_state(self, target: Target | None) -> str:
        if target is None:
            return ""
        ds = [d for d in self.m.istiods_by_ns.get(target.namespace, ())
              if d.revision in target.selected_revisions]
        if not ds:
            return ""
        return "; " + ", ".join(f"istiod {d.name} (revision {d.revision}) has {d.ready_pods}/"
                                f"{d.desired} ready pods" for d in ds)

    # ----------------------------------------------------------------- retarget / set-tag

    def _serving(self, revision: str | None, port: int = 443) -> tuple[Target, Webhook | None] | None:
        """The Service that really serves ``revision``: its own injector's target first."""
        if not revision:
            return None
        for w in self.m.injectors():
            if (w.claimed_revision == revision and not w.tag and w.target is not None
                    and w.target.ok and set(w.target.revisions) == {revision}):
                return w.target, w
        for d in self.m.istiods:
            if d.revision != revision:
                continue
            for (ns, name) in sorted(self.m.services):
                if ns != d.namespace:
                    continue
                t = self.m.resolve(ns, name, port)
                if t.ok and set(t.revisions) == {revision}:
                    return t, None
        return None

    def _candidates(self, target: Target) -> _Retarget:
        """Same-name Services elsewhere, when no configuration is known (no fix possible)."""
        plan = _Retarget(candidates=[t for t in self.m.elsewhere(target.name, target.namespace,
                                                                 target.port) if t.exists])
        usable = [t for t in plan.candidates if t.ok]
        if len(usable) == 1:
            plan.chosen = usable[0]
        return plan

    def _plan_for_missing(self, w: Webhook) -> _Retarget:
        """Fixes for ``w``'s missing Service: a same-name Service elsewhere, or the Service that
        serves the revision the configuration claims."""
        assert w.target is not None
        plan = _Retarget()
        plan.candidates = [t for t in self.m.elsewhere(w.target.name, w.target.namespace,
                                                       w.target.port) if t.exists]
        claimed = w.claimed_revision
        usable = [t for t in plan.candidates if t.ok]
        matching = [t for t in usable if claimed and set(t.revisions) == {claimed}]
        if matching:
            plan.chosen = matching[0]
        elif len(usable) == 1:
            plan.chosen = usable[0]
        elif len(usable) > 1:
            plan.note = ("several namespaces hold a Service of that name and none serves the "
                         f"claimed revision {claimed}: choose one")
        elif plan.candidates:
            plan.note = "the Service(s) of that name elsewhere have no ready endpoints"
        serving = self._serving(claimed, w.target.port)
        plan.serving = serving[0] if serving else None
        same_config = [h for h in self.m.webhooks if h.configuration == w.configuration
                       and h.kind == w.kind and h.target is not None
                       and h.target.address == w.target.address]
        if plan.chosen is not None:
            plan.primary = _retarget_fix(same_config, plan.chosen, claimed)
            if plan.serving is not None and set(plan.chosen.revisions) != {claimed}:
                plan.alternative = self._to_claimed(w, same_config, serving)  # type: ignore[arg-type]
        elif plan.serving is not None:
            plan.primary = self._to_claimed(w, same_config, serving)  # type: ignore[arg-type]
        elif w.tag and claimed and claimed not in self.m.revisions():
            self._tag_of_removed_revision(w, claimed, plan)
        return plan

    def _tag_of_removed_revision(self, w: Webhook, claimed: str, plan: _Retarget) -> None:
        """A tag still naming a revision whose istiod is gone: re-point it at the revision that
        runs when only one does (else name them all; choosing is the operator's call)."""
        running = self.m.revisions()
        plan.note = (f"tag {w.tag} claims revision {claimed}, which no istiod runs any more "
                     f"(removed?); running: {', '.join(running) or 'none'} — re-point the tag "
                     f"(istioctl tag set {w.tag} --revision <revision> --overwrite) or remove it "
                     f"(istioctl tag remove {w.tag})")
        serving = self._serving(running[0], w.target.port if w.target else 443) \
            if len(running) == 1 else None
        if serving is not None:
            cfg_hooks = [h for h in self.m.webhooks if h.configuration == w.configuration
                         and h.kind == w.kind]
            plan.primary = _set_tag_fix(self.m, w.tag or "", running[0], w.configuration,
                                        cfg_hooks, *serving)

    def _to_claimed(self, w: Webhook, hooks: list[Webhook],
                    serving: tuple[Target, Webhook | None]) -> FixSuggestion:
        """Point the configuration at the Service that serves its claimed revision."""
        target, canonical = serving
        if w.tag:
            cfg_hooks = [h for h in self.m.webhooks if h.configuration == w.configuration
                         and h.kind == w.kind]
            return _set_tag_fix(self.m, w.tag, w.claimed_revision or "", w.configuration,
                                cfg_hooks, target, canonical)
        return _retarget_fix(hooks, target, w.claimed_revision)

    def _alternative(self, w: Webhook, plan: _Retarget, namespaces: list[str]) -> None:
        assert plan.chosen is not None and plan.alternative is not None and plan.serving
        reached = ", ".join(plan.chosen.revisions)
        self.out.append(Finding(
            "MR106", WARNING, Subject(w.kind, None, w.configuration),
            f"retargeting {w.configuration} to {plan.chosen.namespace}/{plan.chosen.name} makes "
            f"revision {reached} inject, not {w.claimed_revision} as "
            + (f"tag {w.tag}" if w.tag else "the configuration") + " claims — to keep "
            f"{w.claimed_revision}: {plan.alternative.summary}",
            evidence=[f"{plan.chosen.describe()}: selector {plan.chosen.selector or '<none>'}",
                      f"revision {w.claimed_revision} is served by {plan.serving.describe()}",
                      *_istioctl_caveat(self.m, plan.alternative)],
            fix=plan.alternative, namespaces=namespaces))

    def _recreate(self, ns: str, deployments: list[str], replicasets: list[str]
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

    # -------------------------------------------------------- IST0139 / MR102 / MR103 (config)

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
            affected = self._affected_namespaces(hooks)
            subject = Subject(kind, None, cfg)
            names = ", ".join(h.name for h in hooks)
            evidence = [f"{kind} {cfg} webhooks[{h.index}] {h.name}: clientConfig "
                        f"{h.client_config()}, failurePolicy {h.failure_policy}" for h in hooks]
            if affected:
                evidence.append("selects namespaces: " + ", ".join(affected[:10])
                                + (f" and {len(affected) - 10} more" if len(affected) > 10 else ""))
            fail = any(h.failure_policy != "Ignore" for h in hooks)
            if t.status == "service_not_found":
                plan = self._plan_for_missing(w)
                evidence.extend(_notes(plan) + _istioctl_caveat(self.m, plan.primary))
                if plan.candidates:
                    evidence.append("Service found in: "
                                    + "; ".join(c.describe() for c in plan.candidates))
                    self.out.append(Finding(
                        "MR102", ERROR if fail else WARNING, subject,
                        f"{cfg} ({names}) calls Service {t.namespace}/{t.name}, which does not "
                        f"exist" + _elsewhere_text(plan)
                        + (f" — {plan.primary.summary}" if plan.primary else ""),
                        evidence, plan.primary, namespaces=affected))
                    if plan.alternative is not None:
                        self._alternative(w, plan, affected)
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
                f"{cfg} ({names}) calls {t.address}: {t.detail}{self._istiod_state(t)} — "
                + ("matching requests fail (failurePolicy Fail)" if fail else
                   "its calls are skipped (failurePolicy Ignore)")
                + "; bring the pods behind the Service back or fix the Service",
                evidence, None, namespaces=affected))

    def _affected_namespaces(self, hooks: Sequence[Webhook]) -> list[str]:
        """Namespaces whose typical pods the webhooks intercept (injectors: via injection)."""
        keys = {h.key for h in hooks}
        out = [rec.namespace for rec in self.injection if keys & {w.key for w in rec.matching}]
        if out or any(h.is_injector for h in hooks):
            return out
        return [ns for ns, labels in self.m.namespaces.items()
                if any(h.matches_pod_create and h.namespace_selector.matches(labels)
                       for h in hooks)]

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

    # ---------------------------------------------------------- IST0123, MR104, IST0102

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
            serving = self._serving(w.claimed_revision, w.target.port)
            fix = self._to_claimed(w, hooks, serving) if serving else None
            affected = self._affected_namespaces(hooks)
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
                   if affected else []) + _istioctl_caveat(self.m, fix),
                fix=fix, namespaces=affected))

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
            fix = self._recreate(rec.namespace, deployments, [])
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


# ---------------------------------------------------------------------------------- fixes


def _retarget_fix(hooks: Sequence[Webhook], to: Target, claimed: str | None) -> FixSuggestion:
    """``retarget-webhook``: the chosen webhooks' clientConfig.service → ``to``."""
    w = hooks[0]
    resource = w.kind.lower()
    ops: list[dict[str, Any]] = []
    for h in hooks:
        base = f"/webhooks/{h.index}/clientConfig/service"
        # JSON-patch "test" ops: the patch applies only to the object we diagnosed
        ops.append({"op": "test", "path": f"/webhooks/{h.index}/name", "value": h.name})
        ops.append({"op": "test", "path": f"{base}/namespace", "value": h.service_namespace})
        ops.append({"op": "replace", "path": f"{base}/namespace", "value": to.namespace})
        if h.service_name != to.name:
            ops.append({"op": "replace", "path": f"{base}/name", "value": to.name})
    revs = ", ".join(to.revisions) or "unknown"
    return FixSuggestion(
        "retarget-webhook",
        {"kind": w.kind, "configuration": w.configuration, "webhooks": [h.name for h in hooks],
         "webhook_indexes": [h.index for h in hooks],
         "current_service_namespace": w.service_namespace, "current_service_name": w.service_name,
         "service_namespace": to.namespace, "service_name": to.name, "service_port": to.port,
         "service_path": w.service_path, "revision": revs, "claimed_revision": claimed},
        f"kubectl patch {resource} {w.configuration} --type=json -p "
        f"'{json.dumps(ops, separators=(',', ':'))}'",
        f"point {w.configuration}'s webhook{'s' if len(hooks) != 1 else ''} "
        f"({', '.join(h.name for h in hooks)}) at {to.namespace}/{to.name} "
        f"(served by revision {revs}"
        + (f", while {f'tag {w.tag}' if w.tag else 'the configuration'} claims {claimed})"
           if claimed and {claimed} != set(to.revisions) else ")"))


def _set_tag_fix(model: MeshModel, tag: str, revision: str, configuration: str,
                 hooks: Sequence[Webhook], serving: Target, canonical: Webhook | None
                 ) -> FixSuggestion:
    """``set-tag-revision``: what ``istioctl tag set <tag> --revision <rev> --overwrite`` does."""
    path = canonical.service_path if canonical else hooks[0].service_path
    return FixSuggestion(
        "set-tag-revision",
        {"tag": tag, "revision": revision, "configuration": configuration,
         "webhooks": [h.name for h in hooks], "webhook_indexes": [h.index for h in hooks],
         "istio_namespace": serving.namespace, "service_namespace": serving.namespace,
         "service_name": serving.name, "service_port": serving.port, "service_path": path,
         "canonical_configuration": canonical.configuration if canonical else None,
         "overwrite": True},
        f"istioctl tag set {tag} --revision {revision} -i {serving.namespace} --overwrite",
        f"re-point tag {tag} at revision {revision}: its webhooks call "
        f"{serving.namespace}/{serving.name} (revision {revision}, "
        f"{serving.ready_endpoints} ready endpoint{'s' if serving.ready_endpoints != 1 else ''})")


def _elsewhere_text(plan: _Retarget) -> str:
    if plan.chosen is not None:
        others = [c for c in plan.candidates if c is not plan.chosen]
        text = (f"; a Service of that name exists in {plan.chosen.namespace} (revision "
                f"{', '.join(plan.chosen.revisions) or 'unknown'})")
        if others:
            text += " and in " + ", ".join(c.namespace for c in others)
        return text
    if plan.candidates:
        return "; Services of that name exist in " + ", ".join(
            f"{c.namespace} ({c.summary()})" for c in plan.candidates)
    return "; no Service of that name exists in any namespace"


def _notes(plan: _Retarget) -> list[str]:
    return [plan.note] if plan.note else []


def _istioctl_caveat(model: MeshModel, fix: FixSuggestion | None) -> list[str]:
    """istioctl 1.18 names a tag's Service ``istiod-<revision>`` in the ``-i`` namespace
    (revision-tags.yaml); newer releases copy the name from the revision's injector
    (``istioctl/pkg/tag/generate.go``). Say so when the two differ."""
    if fix is None or fix.action != "set-tag-revision":
        return []
    p = fix.params
    rev = p["revision"]
    rendered = "istiod" if rev == wk.DEFAULT_REVISION else f"istiod-{rev}"
    if p["service_name"] == rendered:
        return []
    exists = (p["service_namespace"], rendered) in model.services
    return [f"istioctl 1.18 renders the tag's Service as {p['service_namespace']}/{rendered}"
            + ("" if exists else " (which does not exist: it would refuse with IST0139)")
            + f"; the plan copies {p['service_namespace']}/{p['service_name']} from "
            f"{p['canonical_configuration'] or 'the revision'}, as newer istioctl releases do"]


# ---------------------------------------------------------------------------------- helpers


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
