"""Which injector — and so which istiod revision — a new pod in each namespace gets.

Evaluated like kube-apiserver decides whether to call a mutating webhook: the webhook's rules must
cover pod CREATE (``rules_match``), its ``namespaceSelector`` must match the namespace's labels and
its ``objectSelector`` the pod's labels (full set-based semantics via :mod:`runbook.selectors`; a
missing selector matches everything). The pod is a *typical* pod without labels; webhooks that
only a pod label would trigger (``rev.object.*`` with ``istio.io/rev=<rev>`` on the pod) are listed
separately. The effective revision is the revision of the istiod pods behind the webhook's target
Service — not the revision the configuration claims, which can differ (a warning).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runbook import wellknown as wk
from runbook.gcpause import paused_gc
from runbook.mesh.model import MeshModel, Source, Webhook, as_model
from runbook.selectors import label_values
from runbook.statuses import InjectionStatus, injection_status

if TYPE_CHECKING:
    import pandas as pd  # imported where a table is built (runbook.mesh's docstring says why)

#: columns of :func:`namespace_injection`
INJECTION_COLUMNS: tuple[str, ...] = (
    "namespace", "injection_label", "rev_label", "status", "webhooks", "tag", "claimed_revision",
    "target", "effective_revision", "detail", "pod_label_webhooks",
)


@dataclass
class NamespaceInjection:
    """How one namespace's new pods are injected (one row of :func:`namespace_injection`)."""

    namespace: str
    labels: dict[str, str]
    status: InjectionStatus
    matching: list[Webhook] = field(default_factory=list)
    pod_label: list[Webhook] = field(default_factory=list)
    detail: str = ""
    # effective_revision, once known (a 1-tuple: None is a valid value)
    _effective: tuple[str | None] | None = field(default=None, init=False, repr=False,
                                                compare=False)

    @property
    def injection_label(self) -> str | None:
        return self.labels.get(wk.INJECTION_LABEL)

    @property
    def rev_label(self) -> str | None:
        return self.labels.get(wk.REV_LABEL)

    @property
    def webhook(self) -> Webhook | None:
        """The webhook that injects (None when none or several)."""
        return self.matching[0] if len(self.matching) == 1 else None

    @property
    def effective_revision(self) -> str | None:
        """The revisions behind the matching webhooks' targets (computed once: ``matching`` is
        fixed when the record is built, and the diagnosis asks per namespace and chain)."""
        if self._effective is None:
            self._effective = (effective_revision(self.matching),)
        return self._effective[0]

    @property
    def claimed_revision(self) -> str | None:
        revs = sorted({w.claimed_revision for w in self.matching if w.claimed_revision})
        return ",".join(revs) or None


def effective_revision(matching: list[Webhook]) -> str | None:
    """The revisions behind the webhooks' targets, comma-separated (None when nothing answers)."""
    revs = sorted({r for w in matching for r in w.reached_revisions()})
    return ",".join(revs) or None


def resolve_injection(model: MeshModel) -> list[NamespaceInjection]:
    """The injection of every namespace (see the module docstring)."""
    # whether a webhook takes pods without labels does not depend on the namespace: decided once
    # per webhook, not once per namespace (2,000 on the scale cluster)
    hooks = [(w, w.object_selector.matches({})) for w in model.injectors() if w.matches_pod_create]
    # and which webhooks select a namespace depends only on the labels their selectors read:
    # decided once per distinct value of those labels (a handful), not once per namespace
    keys = sorted({key for w, _ in hooks for key in w.namespace_selector.keys})
    decided: dict[tuple[Any, ...], tuple[list[Webhook], list[Webhook], str | None]] = {}
    out = []
    for ns, labels in model.namespaces.items():
        read = label_values(labels, keys)
        found = decided.get(read)
        if found is None:
            on_ns = [(w, unlabelled) for w, unlabelled in hooks
                     if w.namespace_selector.matches(labels)]
            matching = [w for w, unlabelled in on_ns if unlabelled]
            found = decided[read] = (
                matching,
                [w for w, unlabelled in on_ns if not unlabelled and not w.object_selector.nothing],
                effective_revision(matching))
        rec = NamespaceInjection(ns, labels, "ok", list(found[0]), list(found[1]))
        rec._effective = (found[2],)
        _classify(rec, model)
        out.append(rec)
    return out


def _classify(rec: NamespaceInjection, model: MeshModel) -> None:
    both = rec.injection_label is not None and rec.rev_label is not None
    if not rec.matching:
        rec.status = "no injection"
        if rec.rev_label is not None:
            rec.detail = (f"{wk.REV_LABEL}={rec.rev_label}: no injector webhook selects it "
                          f"(no revision or tag {rec.rev_label!r} serves this namespace)")
        elif rec.injection_label == "enabled":
            rec.detail = (f"{wk.INJECTION_LABEL}=enabled: no injector webhook selects it "
                          "(no default revision installed)")
        elif rec.injection_label is not None:
            rec.detail = f"{wk.INJECTION_LABEL}={rec.injection_label}"
        else:
            rec.detail = "no injection label"
        return
    if len(rec.matching) > 1:
        rec.status = "ambiguous"
        rec.detail = "several injector webhooks match: " + ", ".join(w.key for w in rec.matching)
        return
    w = rec.matching[0]
    t = w.target
    if t is None:
        rec.detail = f"calls URL {w.url} (not resolvable from the cluster's objects)"
    elif (failed := injection_status(t.status)) is not None:
        rec.status = failed
        rec.detail = f"{w.key} calls {t.namespace}/{t.name}: {t.detail}"
        return
    elif t.status == "unknown":
        rec.detail = f"{w.key} calls {t.namespace}/{t.name}: {t.detail}"
    else:
        reached = set(t.revisions)
        if w.claimed_revision and reached and reached != {w.claimed_revision}:
            rec.detail = (f"{w.configuration} claims revision {w.claimed_revision} but its "
                          f"target reaches {', '.join(sorted(reached))}")
    if both:
        rec.status = "both labels"
        rec.detail = (f"both {wk.INJECTION_LABEL}={rec.injection_label} and "
                      f"{wk.REV_LABEL}={rec.rev_label}; {w.key} injects"
                      + (f"; {rec.detail}" if rec.detail else ""))


@paused_gc
def namespace_injection(source: Source) -> pd.DataFrame:
    """One row per namespace: how a new pod without labels would be injected.

    Columns:
        namespace: the namespace.
        injection_label, rev_label: its ``istio-injection`` and ``istio.io/rev`` labels (None
            when absent).
        status: ``ok`` | ``no injection`` | ``target missing`` (the webhook's Service does not
            exist) | ``no endpoints`` (it exists but cannot serve: no ready endpoints, no such
            port, headless) | ``ambiguous`` (several injector webhooks match) | ``both labels``
            (IST0123; the matching webhook is still named).
        webhooks: ``configuration/webhook`` of every injector webhook that matches.
        tag: the matching configuration's ``istio.io/tag`` (None for a revision's own injector).
        claimed_revision: the ``istio.io/rev`` label of the matching configuration(s).
        target: ``namespace/name:port`` (or URL) the webhook calls.
        effective_revision: the istiod revision behind that target (None when nothing answers).
        detail: one line explaining the status (and a claimed/effective revision mismatch).
        pod_label_webhooks: webhooks that select this namespace but need a pod label to match
            (with the object selector that a pod would have to satisfy).
    """
    import pandas as pd
    model = as_model(source)
    rows = []
    for rec in resolve_injection(model):
        w = rec.webhook
        rows.append((
            rec.namespace, rec.injection_label, rec.rev_label, rec.status,
            [x.key for x in rec.matching],
            ",".join(sorted({x.tag for x in rec.matching if x.tag})) or None,
            rec.claimed_revision,
            (w.target.address if w.target else w.url) if w else None,
            rec.effective_revision, rec.detail,
            [f"{x.key} ({x.object_selector})" for x in rec.pod_label],
        ))
    return pd.DataFrame(rows, columns=list(INJECTION_COLUMNS))
