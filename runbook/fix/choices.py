"""What a person may pick instead of the diagnosis' proposal, for each fix action.

A diagnosis proposes one target (``FixSuggestion.params``); during an incident the person at the
keyboard may know better, so the fix panel offers the alternatives that exist in the cluster,
built here from the inventory (never fetched):

=====================  ===================  ==================================================
action                 choice (param)       options
=====================  ===================  ==================================================
retarget-webhook       ``service_namespace``  every namespace holding a Service of the webhook's
                                              Service name, with the istiod revision behind it
set-tag-revision       ``revision``           every revision that runs an istiod and has its own
                                              injector (what ``istioctl tag set`` accepts)
recreate-workloads     ``method``             ``rollout-restart`` or ``delete-replicasets``
relabel-namespace      ``revision``           every revision and revision tag
remove-label           —                      nothing to choose
=====================  ===================  ==================================================

:func:`choose` returns the suggestion with the chosen value, for
:func:`runbook.fix.plan_fix`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pandas as pd

from runbook.mesh.diagnose import Inventory
from runbook.mesh.findings import FixSuggestion

#: what each recreate method does, for the panel and the notebook (the field report used the second)
RECREATE_METHODS: dict[str, str] = {
    "rollout-restart": (
        "kubectl rollout restart: the Deployment gets a new pod-template annotation and rolls out "
        "a new ReplicaSet under its strategy (maxSurge/maxUnavailable): old pods keep serving until "
        "new ones are ready, and the change is in the rollout history (kubectl rollout undo). "
        "Preferred."),
    "delete-replicasets": (
        "kubectl delete rs --all, as the field report did: every ReplicaSet goes at once, the "
        "Deployment controller creates them again and with them all pods together — a full "
        "outage for running workloads, and it cannot be undone. Only harmless when no pod runs."),
}


@dataclass(frozen=True)
class Option:
    """One choice: the parameter value and how it is shown."""

    value: str
    label: str


@dataclass(frozen=True)
class TargetChoice:
    """The choice a fix offers.

    Attributes:
        param: the ``FixSuggestion.params`` key the choice sets.
        title: a short caption (``Service namespace``).
        options: the values that exist, each with a label saying where it leads.
        selected: the diagnosis' proposal (always among the options).
        help: why these options, what the proposal is, what the difference is.
    """

    param: str
    title: str
    options: tuple[Option, ...]
    selected: str
    help: str

    def label_of(self, value: str) -> str:
        """The label of ``value`` (the value itself when it is not an option)."""
        return next((o.label for o in self.options if o.value == value), value)


def target_choice(suggestion: FixSuggestion, inventory: Inventory | None = None
                  ) -> TargetChoice | None:
    """The choice ``suggestion`` offers, its options taken from ``inventory`` (None: no choice).

    Without an inventory only the proposal (and, for recreating, both methods) is offered.
    """
    p = suggestion.params
    if suggestion.action == "retarget-webhook":
        return _retarget_choice(suggestion, inventory)
    if suggestion.action == "set-tag-revision":
        return _tag_choice(suggestion, inventory)
    if suggestion.action == "recreate-workloads":
        method = str(p.get("method") or "rollout-restart")
        return TargetChoice(
            "method", "Recreate by",
            tuple(Option(m, m + (" (preferred)" if m == "rollout-restart" else " (field report)"))
                  for m in RECREATE_METHODS),
            method, " ".join(f"{m}: {text}" for m, text in RECREATE_METHODS.items()))
    if suggestion.action == "relabel-namespace":
        return _relabel_choice(suggestion, inventory)
    return None


def choose(suggestion: FixSuggestion, value: str | None) -> FixSuggestion:
    """``suggestion`` with its choice set to ``value`` (unchanged for None or the proposal)."""
    choice = target_choice(suggestion)
    if value is None or choice is None or str(suggestion.params.get(choice.param)) == value:
        return suggestion
    params = dict(suggestion.params)
    params[choice.param] = value
    # what the proposal said the change leads to no longer holds for another target
    for stale in ("revision",) if choice.param == "service_namespace" else ():
        params.pop(stale, None)
    return dataclasses.replace(
        suggestion, params=params,
        summary=f"{suggestion.summary} — changed by hand: {choice.param}={value}")


# ------------------------------------------------------------------------------------- actions


def _retarget_choice(s: FixSuggestion, inv: Inventory | None) -> TargetChoice:
    p = s.params
    proposed = str(p.get("service_namespace"))
    name = str(p.get("service_name") or p.get("current_service_name") or "")
    port = int(p.get("service_port") or 443)
    current = p.get("current_service_namespace")
    options: list[Option] = []
    if inv is not None and name:
        model = inv.model
        for ns in sorted(model.services_by_name.get(name, ())):
            target = model.resolve(ns, name, port)
            if ns == current and not target.ok:
                continue  # the broken target itself is no option
            options.append(Option(ns, f"{ns} — {target.describe()}"))
    if proposed not in {o.value for o in options}:
        reached = f" (reaches revision {p['revision']})" if p.get("revision") else ""
        options.insert(0, Option(proposed, f"{proposed} — {proposed}/{name}:{port}{reached}"))
    claimed = p.get("claimed_revision")
    help_text = (
        f"Namespaces that hold a Service named {name!r}, and the istiod revision behind each. "
        f"The diagnosis proposes {proposed!r}"
        + (f" (its pods are revision {p['revision']})" if p.get("revision") else "")
        + (f"; the configuration claims revision {claimed} — a Service that reaches another "
           f"revision makes that revision inject the pods" if claimed else "") + ".")
    return TargetChoice("service_namespace", "Service namespace", tuple(options), proposed,
                        help_text)


def _tag_choice(s: FixSuggestion, inv: Inventory | None) -> TargetChoice:
    p = s.params
    proposed = str(p.get("revision"))
    options: list[Option] = []
    if inv is not None:
        served = {w.claimed_revision: w for w in inv.model.injectors()
                  if not w.tag and w.claimed_revision}
        for row in _rows(inv.control_planes):
            rev = str(row["revision"])
            hook = served.get(rev)
            if hook is None or rev in {o.value for o in options}:
                continue  # istioctl refuses a revision without its own injector
            target = hook.target.describe() if hook.target else hook.client_config()
            options.append(Option(rev, f"{rev} — istiod {row['deployment']} in {row['namespace']} "
                                       f"({row['version'] or '?'}); injector calls {target}"))
    if proposed not in {o.value for o in options}:
        options.insert(0, Option(proposed, f"{proposed} (proposed by the diagnosis)"))
    tag = p.get("tag")
    return TargetChoice(
        "revision", "Revision", tuple(options), proposed,
        f"istioctl tag set {tag} --revision <rev> --overwrite: the tag's webhooks get the client "
        f"configuration of that revision's own injector, so pods in namespaces labelled "
        f"istio.io/rev={tag} are injected by it. The diagnosis proposes {proposed!r}.")


def _relabel_choice(s: FixSuggestion, inv: Inventory | None) -> TargetChoice:
    p = s.params
    proposed = str(p.get("revision"))
    values: list[str] = []
    if inv is not None:
        values += sorted({str(r["revision"]) for r in _rows(inv.control_planes)})
        values += sorted({str(r["tag"]) for r in _rows(inv.revision_tags)})
    if proposed not in values:
        values.insert(0, proposed)
    return TargetChoice(
        "revision", "Revision or tag", tuple(Option(v, v) for v in values), proposed,
        f"The value of istio.io/rev on namespace {p.get('namespace')}: a revision, or a tag that "
        "points at one (a tag can be moved later without relabelling namespaces).")


def _rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [] if df.empty else [{str(key): v for key, v in r.items()} for r in df.to_dict("records")]


__all__ = ["RECREATE_METHODS", "Option", "TargetChoice", "choose", "target_choice"]
