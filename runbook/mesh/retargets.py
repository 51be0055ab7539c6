"""Ways out for a webhook whose Service is missing or serves another revision: a same-name Service
in another namespace (the field report's retarget), the Service that really serves the revision
the configuration claims (MR106), or re-pointing a tag (``istioctl tag set``).

:class:`Retargets` plans them over the diagnosis' model; ``retarget_fix`` and ``set_tag_fix``
build the fixes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from runbook import wellknown as wk
from runbook.mesh.diagnosis_state import DiagnosisState
from runbook.mesh.findings import WARNING, Finding, FixSuggestion, Subject
from runbook.mesh.model import MeshModel, Target, Webhook


@dataclass
class RetargetPlan:
    """What can be done about a webhook whose Service is missing."""

    primary: FixSuggestion | None = None
    alternative: FixSuggestion | None = None
    chosen: Target | None = None
    serving: Target | None = None
    candidates: list[Target] = field(default_factory=list)
    note: str = ""


class Retargets(DiagnosisState):
    """Retarget and set-tag planning, shared by the failing-pods and the configuration chains."""

    def __init__(self, model: MeshModel) -> None:
        super().__init__(model)
        # webhook (kind, configuration, index) → its plan: the failing-pods chain asks once per
        # namespace the webhook breaks (400 on the scale cluster), and the plan is the same
        self._plans: dict[tuple[str, str, int], RetargetPlan] = {}
        # and the message and evidence of its MR106, likewise
        self._alternatives: dict[tuple[str, str, int], tuple[str, list[str]]] = {}

    def serving_target(self, revision: str | None, port: int = 443) -> tuple[Target, Webhook | None] | None:
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

    def same_name_candidates(self, target: Target) -> RetargetPlan:
        """Same-name Services elsewhere, when no configuration is known (no fix possible)."""
        plan = RetargetPlan(candidates=[t for t in self.m.elsewhere(target.name, target.namespace,
                                                                 target.port) if t.exists])
        usable = [t for t in plan.candidates if t.ok]
        if len(usable) == 1:
            plan.chosen = usable[0]
        return plan

    def plan_for_missing(self, w: Webhook) -> RetargetPlan:
        """Fixes for ``w``'s missing Service: a same-name Service elsewhere, or the Service that
        serves the revision the configuration claims (planned once per webhook)."""
        key = (w.kind, w.configuration, w.index)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._plan_for_missing(w)
        return plan

    def _plan_for_missing(self, w: Webhook) -> RetargetPlan:
        assert w.target is not None
        plan = RetargetPlan()
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
        serving = self.serving_target(claimed, w.target.port)
        plan.serving = serving[0] if serving else None
        same_config = [h for h in self.m.webhooks if h.configuration == w.configuration
                       and h.kind == w.kind and h.target is not None
                       and h.target.address == w.target.address]
        if plan.chosen is not None:
            plan.primary = retarget_fix(same_config, plan.chosen, claimed)
            if plan.serving is not None and set(plan.chosen.revisions) != {claimed}:
                plan.alternative = self.to_claimed_fix(w, same_config, serving)  # type: ignore[arg-type]
        elif plan.serving is not None:
            plan.primary = self.to_claimed_fix(w, same_config, serving)  # type: ignore[arg-type]
        elif w.tag and claimed and claimed not in self.m.revisions():
            self._tag_of_removed_revision(w, claimed, plan)
        return plan

    def _tag_of_removed_revision(self, w: Webhook, claimed: str, plan: RetargetPlan) -> None:
        """A tag still naming a revision whose istiod is gone: re-point it at the revision that
        runs when only one does (else name them all; choosing is the operator's call)."""
        running = self.m.revisions()
        plan.note = (f"tag {w.tag} claims revision {claimed}, which no istiod runs any more "
                     f"(removed?); running: {', '.join(running) or 'none'} — re-point the tag "
                     f"(istioctl tag set {w.tag} --revision <revision> --overwrite) or remove it "
                     f"(istioctl tag remove {w.tag})")
        serving = self.serving_target(running[0], w.target.port if w.target else 443) \
            if len(running) == 1 else None
        if serving is not None:
            cfg_hooks = [h for h in self.m.webhooks if h.configuration == w.configuration
                         and h.kind == w.kind]
            plan.primary = set_tag_fix(self.m, w.tag or "", running[0], w.configuration,
                                        cfg_hooks, *serving)

    def to_claimed_fix(self, w: Webhook, hooks: list[Webhook],
                       serving: tuple[Target, Webhook | None]) -> FixSuggestion:
        """Point the configuration at the Service that serves its claimed revision."""
        target, canonical = serving
        if w.tag:
            cfg_hooks = [h for h in self.m.webhooks if h.configuration == w.configuration
                         and h.kind == w.kind]
            return set_tag_fix(self.m, w.tag, w.claimed_revision or "", w.configuration,
                                cfg_hooks, target, canonical)
        return retarget_fix(hooks, target, w.claimed_revision)

    def add_alternative(self, w: Webhook, plan: RetargetPlan, namespaces: list[str]) -> None:
        key = (w.kind, w.configuration, w.index)
        text = self._alternatives.get(key)
        if text is None:
            # the same for every namespace the webhook breaks: written once per webhook
            text = self._alternatives[key] = self._alternative_text(w, plan)
        self.out.append(Finding("MR106", WARNING, Subject(w.kind, None, w.configuration), text[0],
                                evidence=list(text[1]), fix=plan.alternative,
                                namespaces=namespaces))

    def _alternative_text(self, w: Webhook, plan: RetargetPlan) -> tuple[str, list[str]]:
        assert plan.chosen is not None and plan.alternative is not None and plan.serving
        reached = ", ".join(plan.chosen.revisions)
        return (
            f"retargeting {w.configuration} to {plan.chosen.namespace}/{plan.chosen.name} makes "
            f"revision {reached} inject, not {w.claimed_revision} as "
            + (f"tag {w.tag}" if w.tag else "the configuration") + " claims — to keep "
            f"{w.claimed_revision}: {plan.alternative.summary}",
            [f"{plan.chosen.describe()}: selector {plan.chosen.selector or '<none>'}",
             f"revision {w.claimed_revision} is served by {plan.serving.describe()}",
             *istioctl_caveat(self.m, plan.alternative)])


# ---------------------------------------------------------------------------------- fixes


def retarget_fix(hooks: Sequence[Webhook], to: Target, claimed: str | None) -> FixSuggestion:
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


def set_tag_fix(model: MeshModel, tag: str, revision: str, configuration: str,
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


def elsewhere_text(plan: RetargetPlan) -> str:
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


def plan_notes(plan: RetargetPlan) -> list[str]:
    return [plan.note] if plan.note else []


def istioctl_caveat(model: MeshModel, fix: FixSuggestion | None) -> list[str]:
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
