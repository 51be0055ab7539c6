"""Control planes and revision tags: which istiod revisions run, and which tags point where.

What ``istioctl tag list`` (TAG / REVISION / NAMESPACES) and ``istioctl x injector list`` show,
joined with what the tags' webhooks really reach — a tag's ``istio.io/rev`` label is only a claim;
the Service its webhooks call decides which istiod injects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runbook import wellknown as wk
from runbook.gcpause import paused_gc
from runbook.mesh.model import Source, as_model, found_in
from runbook.statuses import ControlPlaneStatus

if TYPE_CHECKING:
    import pandas as pd  # imported where a table is built (runbook.mesh's docstring says why)

#: columns of :func:`control_planes`
CONTROL_PLANE_COLUMNS: tuple[str, ...] = (
    "namespace", "revision", "version", "deployment", "image", "desired", "ready_pods", "status",
    "services", "service_ready_endpoints", "injectors", "tags", "tags_reaching", "gateways",
)

#: columns of :func:`revision_tags`
REVISION_TAG_COLUMNS: tuple[str, ...] = (
    "tag", "revision", "configuration", "webhook", "service_namespace", "service_name",
    "service_port", "service_path", "url", "service_exists", "target_status", "ready_endpoints",
    "reached_revisions", "found_in", "namespaces",
)


@paused_gc
def control_planes(source: Source) -> pd.DataFrame:
    """One row per istiod Deployment (``app=istiod``).

    Columns:
        namespace, deployment, image: where it runs.
        revision: its ``istio.io/rev`` label (``default`` without one).
        version: the image tag of its ``discovery`` container (``1.18.5``).
        desired, ready_pods: replicas wanted and pods ready.
        status: ``ok`` | ``not ready`` (fewer ready pods than desired) | ``no pods``.
        services, service_ready_endpoints: the Services in its namespace whose selector matches
            its pod template, and each one's ready endpoint addresses (None when unknown).
        injectors: MutatingWebhookConfigurations of this revision (``istio.io/rev``, no tag).
        tags: revision tags that claim this revision (their ``istio.io/rev``).
        tags_reaching: tags whose webhooks actually reach this revision's pods.
        gateways: ``namespace/name`` of gateway Deployments labelled with this revision.
    """
    import pandas as pd
    model = as_model(source)
    rows = []
    for d in model.istiods:
        services = [
            name for (ns, name), svc in model.services.items()
            if ns == d.namespace and (sel := (svc.get("spec") or {}).get("selector"))
            and all(d.template_labels.get(a) == b for a, b in sel.items())]
        services.sort()
        ready = d.ready_pods
        status: ControlPlaneStatus = ("ok" if ready >= max(d.desired, 1) else
                                      "no pods" if not d.pods else "not ready")
        rows.append((
            d.namespace, d.revision, d.version, d.name, d.image, d.desired, ready, status,
            services, [model.service_ready_addresses(d.namespace, s) for s in services],
            sorted({w.configuration for w in model.injectors()
                    if w.claimed_revision == d.revision and not w.tag}),
            sorted({w.tag for w in model.injectors() if w.tag and w.claimed_revision == d.revision}),
            sorted({w.tag for w in model.injectors() if w.tag and d.revision in w.reached_revisions()}),
            sorted(f"{g.namespace}/{g.name}" for g in model.gateways if g.revision == d.revision),
        ))
    return pd.DataFrame(rows, columns=list(CONTROL_PLANE_COLUMNS))


@paused_gc
def revision_tags(source: Source) -> pd.DataFrame:
    """One row per webhook of every revision-tag configuration (``istio.io/tag``).

    Columns:
        tag, revision: the tag and the revision it claims (the configuration's ``istio.io/rev``).
        configuration, webhook: where it is defined.
        service_namespace, service_name, service_port, service_path, url: its clientConfig.
        service_exists: the Service exists (None for a URL webhook).
        target_status: ``ok`` | ``service_not_found`` | ``no_service_port`` | ``no_endpoints`` |
            ``headless`` | ``unsupported_type`` | ``url`` | ``unknown``.
        ready_endpoints: ready addresses behind the target.
        reached_revisions: istiod revisions of the pods behind the target.
        found_in: other namespaces holding a Service of the same name (with what they reach).
        namespaces: namespaces labelled ``istio.io/rev=<tag>`` (``istioctl tag list``'s NAMESPACES).
    """
    import pandas as pd
    model = as_model(source)
    by_value: dict[str, list[str]] = {}
    for ns, labels in model.namespaces.items():
        if wk.REV_LABEL in labels:
            by_value.setdefault(labels[wk.REV_LABEL], []).append(ns)
    rows = []
    for w in model.webhooks:
        if not w.tag:
            continue
        t = w.target
        rows.append((
            w.tag, w.claimed_revision, w.configuration, w.name, w.service_namespace,
            w.service_name, w.service_port, w.service_path, w.url,
            t.exists if t else None, t.status if t else "url", t.ready_endpoints if t else None,
            list(t.revisions) if t else [], found_in(model, t),
            sorted(by_value.get(w.tag, [])),
        ))
    return pd.DataFrame(rows, columns=list(REVISION_TAG_COLUMNS))
