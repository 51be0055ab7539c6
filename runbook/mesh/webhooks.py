"""Every admission webhook and where its calls land.

The field report found the broken target by ``kubectl get mutatingwebhookconfiguration -o yaml |
grep namespace`` and then guessed which namespace really held the Service. Here every webhook of
every Mutating/ValidatingWebhookConfiguration is one row: its selectors in readable form, its
clientConfig, whether the Service exists and has the port, how many ready endpoints answer, which
istiod revision those pods belong to, and where else a Service of that name exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from runbook import wellknown as wk
from runbook.gcpause import paused_gc
from runbook.mesh.model import MeshModel, Source, Webhook, as_model, found_in

if TYPE_CHECKING:
    import pandas as pd  # imported where a table is built (runbook.mesh's docstring says why)

#: columns of :func:`webhook_targets`
WEBHOOK_TARGET_COLUMNS: tuple[str, ...] = (
    "kind", "configuration", "webhook", "injector", "tag", "claimed_revision", "failure_policy",
    "rules", "namespace_selector", "object_selector", "service_namespace", "service_name",
    "service_port", "service_path", "url", "service_exists", "target_status", "detail",
    "ready_endpoints", "endpoint_pods", "reached_revisions", "found_in",
)


@paused_gc
def webhook_targets(source: Source) -> pd.DataFrame:
    """One row per webhook of every Mutating- and ValidatingWebhookConfiguration.

    Columns:
        kind: ``MutatingWebhookConfiguration`` | ``ValidatingWebhookConfiguration``.
        configuration, webhook: names.
        injector: recognised as an Istio sidecar injector (labels / webhook name suffix).
        tag, claimed_revision: the configuration's ``istio.io/tag`` and ``istio.io/rev`` labels.
        failure_policy: ``Fail`` (the API default) or ``Ignore``.
        rules: readable rules (``CREATE pods``).
        namespace_selector, object_selector: readable selectors (``istio.io/rev=prod-canary,
            !istio-injection``; ``<all>`` for none; ``<invalid: …>`` when unparseable).
        service_namespace, service_name, service_port, service_path, url: the clientConfig.
        service_exists: whether the Service exists (None for URL webhooks).
        target_status: see :data:`runbook.statuses.TARGET_STATUSES`.
        detail: the apiserver's wording for a broken target (``service "x" not found``).
        ready_endpoints, endpoint_pods: ready addresses and their pods (``namespace/name``).
        reached_revisions: istiod revisions behind the target.
        found_in: other namespaces with a Service of that name, and what each reaches.
    """
    import pandas as pd
    model = as_model(source)
    rows = []
    for w in model.webhooks:
        t = w.target
        rows.append((
            w.kind, w.configuration, w.name, w.is_injector, w.tag, w.claimed_revision,
            w.failure_policy, w.rules, _selector_text(w, namespace=True),
            _selector_text(w, namespace=False), w.service_namespace, w.service_name,
            w.service_port, w.service_path, w.url, t.exists if t else None,
            t.status if t else "url", t.detail if t else "", t.ready_endpoints if t else None,
            list(t.endpoint_pods) if t else [], list(t.revisions) if t else [],
            found_in(model, t),
        ))
    return pd.DataFrame(rows, columns=list(WEBHOOK_TARGET_COLUMNS))


def _selector_text(w: Webhook, *, namespace: bool) -> str:
    if w.selector_error:
        return f"<invalid: {w.selector_error}>"
    return str(w.namespace_selector if namespace else w.object_selector)


# ------------------------------------------------------------------------------------ overlap


@dataclass(frozen=True)
class Overlap:
    """Injector webhooks that select the same namespace and pod labels (IST0139)."""

    webhook: Webhook
    others: tuple[str, ...]
    namespace_labels: dict[str, str]
    pod_labels: dict[str, str]


def _revisions_named(w: Webhook) -> set[str]:
    """Revisions a webhook mentions: its label and ``istio.io/rev`` values in its selectors
    (``extractRevisions`` in istio's webhook analyzer)."""
    found = {w.claimed_revision} if w.claimed_revision else set()
    for raw in (w.raw_namespace_selector, w.raw_object_selector):
        if not isinstance(raw, dict):
            continue
        if wk.REV_LABEL in (raw.get("matchLabels") or {}):
            found.add(str(raw["matchLabels"][wk.REV_LABEL]))
        for expr in raw.get("matchExpressions") or []:
            if isinstance(expr, dict) and expr.get("key") == wk.REV_LABEL:
                found.update(str(v) for v in expr.get("values") or [])
    return found


def injector_overlaps(model: MeshModel) -> list[Overlap]:
    """Injector webhooks that would both inject some pod, found as istio's webhook analyzer does.

    istio/istio ``pkg/config/analysis/analyzers/webhook/webhook.go``: namespace labels ``{}``,
    ``istio-injection=enabled|disabled``, each also with ``istio.io/rev=<r>`` for every revision
    any injector names, crossed with pod labels ``{}``, ``sidecar.istio.io/inject=true|false``
    (each also with ``istio.io/rev=<r>``); every permutation must match at most one webhook. As
    there, rules are not considered. Returns one record per webhook that overlaps, with the first
    permutation that shows it.
    """
    hooks = model.injectors()
    revisions = sorted(set().union(*(_revisions_named(w) for w in hooks))) if hooks else []
    ns_sets: list[dict[str, str]] = [{}, {wk.INJECTION_LABEL: "enabled"},
                                     {wk.INJECTION_LABEL: "disabled"}]
    pod_sets: list[dict[str, str]] = [{}, {wk.INJECT_POD_LABEL: "true"},
                                      {wk.INJECT_POD_LABEL: "false"}]
    ns_sets += [{**base, wk.REV_LABEL: r} for r in revisions for base in ns_sets[:3]]
    pod_sets += [{**base, wk.REV_LABEL: r} for r in revisions for base in pod_sets[:3]]
    found: dict[str, Overlap] = {}
    others: dict[str, set[str]] = {}
    for nl in ns_sets:
        ns_hooks = [w for w in hooks if w.namespace_selector.matches(nl)]
        if len(ns_hooks) < 2:
            continue
        for pl in pod_sets:
            matching = [w for w in ns_hooks if w.object_selector.matches(pl)]
            if len(matching) < 2:
                continue
            keys = {w.key for w in matching}
            for w in matching:
                others.setdefault(w.key, set()).update(keys - {w.key})
                if w.key not in found:
                    found[w.key] = Overlap(w, (), dict(nl), dict(pl))
    return [Overlap(o.webhook, tuple(sorted(others[key])), o.namespace_labels, o.pod_labels)
            for key, o in found.items()]
