"""The field report's cluster as built-in scenarios: ``seed-incident`` and ``healthy``.

``seed-incident`` is ``empty`` plus the project's Istio CRDs (``scenarios/istio-crds.yaml``) plus
the manifests in ``scenarios/seed-incident/`` (their README explains every choice). With the
controllers running, loading it brings both istiods up (their pods Running, logging), the
gateways Ready, and leaves the revision tag's webhook pointing at a Service that does not exist.

``healthy`` is the same world after the fix an operator would expect: every revision-tag webhook
(a MutatingWebhookConfiguration labelled ``istio.io/tag``) calls the Service that the injector of
the tag's revision calls (the configuration labelled ``app=sidecar-injector`` with the same
``istio.io/rev`` and no tag) — for the seed world ``istio-prod/istiod``, which runs 1.18.5 — and
the istiod of that revision watches the tag's namespaces: each meshConfig whose
``discoverySelectors`` list revisions (``istio.io/rev In […]``) names the tag exactly when its
revision is the tag's. The transformations (:func:`retarget_tag_webhooks`,
:func:`follow_tags_in_discovery_selectors`) work on the loaded manifests, by labels only.
"""

from __future__ import annotations

import copy
import functools

from runbook.kinds import MUTATING_WEBHOOKS
from runbook.manifests import Manifest, load_manifests
from runbook.meshconfig import follow_tag
from runbook.sandbox.registry.cluster import Registry
from runbook.sandbox.scenarios import (
    SCENARIO_DIR,
    create_from_manifests,
    load_empty,
    register,
    register_manifests,
)
from runbook.sandbox.storage.store import copy_object
from runbook.wellknown import INJECTOR_APP, REV_LABEL, TAG_LABEL

ISTIO_CRDS = SCENARIO_DIR / "istio-crds.yaml"
SEED_DIR = SCENARIO_DIR / "seed-incident"


@register_manifests("seed-incident")
def seed_manifests() -> list[Manifest]:
    """The Istio CRDs and the seed-incident manifests, in load order (fresh copies: loading
    takes the objects over)."""
    return [Manifest(copy_object(m.obj), m.source, m.document, m.line) for m in _parsed()]


@functools.lru_cache(maxsize=1)
def _parsed() -> tuple[Manifest, ...]:
    # parsing the CRDs' YAML costs most of a seed load; the files are package data
    return (*load_manifests(ISTIO_CRDS), *load_manifests(SEED_DIR))


def retarget_tag_webhooks(manifests: list[Manifest]) -> list[Manifest]:
    """Point every revision-tag webhook at the Service its revision's injector calls.

    A tag configuration (``istio.io/tag`` label, ``istio.io/rev: R``) gets, webhook by webhook,
    the ``clientConfig.service`` of the injector configuration of revision ``R`` (label
    ``app=sidecar-injector``, ``istio.io/rev: R``, no tag). Tags whose revision has no injector
    are left as they are. Returns new manifests; the given ones are not changed.
    """
    def is_mwc(m: Manifest) -> bool:
        return m.obj.get("kind") == MUTATING_WEBHOOKS.kind

    injectors: dict[str, dict[str, object]] = {}
    for m in manifests:
        labels = (m.obj.get("metadata") or {}).get("labels") or {}
        if is_mwc(m) and labels.get("app") == INJECTOR_APP and TAG_LABEL not in labels:
            hooks = m.obj.get("webhooks") or []
            service = ((hooks[0].get("clientConfig") or {}).get("service")) if hooks else None
            if service and labels.get(REV_LABEL):
                injectors[str(labels[REV_LABEL])] = dict(service)
    out = []
    for m in manifests:
        labels = (m.obj.get("metadata") or {}).get("labels") or {}
        target = injectors.get(str(labels.get(REV_LABEL, "")))
        if is_mwc(m) and TAG_LABEL in labels and target is not None:
            obj = copy.deepcopy(m.obj)
            for hook in obj.get("webhooks") or ():
                hook.setdefault("clientConfig", {})["service"] = dict(target)
            m = Manifest(obj, m.source, m.document, m.line)
        out.append(m)
    return out


def follow_tags_in_discovery_selectors(manifests: list[Manifest]) -> list[Manifest]:
    """Make each revision's istiod watch the namespaces of the tags that point at it
    (:func:`runbook.meshconfig.follow_tag` on every meshConfig ConfigMap labelled
    ``istio.io/rev``). Returns new manifests."""
    tag_rev: dict[str, str] = {}
    for m in manifests:
        labels = (m.obj.get("metadata") or {}).get("labels") or {}
        if m.obj.get("kind") == MUTATING_WEBHOOKS.kind and labels.get(TAG_LABEL):
            tag_rev[str(labels[TAG_LABEL])] = str(labels.get(REV_LABEL, ""))
    out = []
    for m in manifests:
        rev = ((m.obj.get("metadata") or {}).get("labels") or {}).get(REV_LABEL)
        mesh = (m.obj.get("data") or {}).get("mesh") if m.obj.get("kind") == "ConfigMap" else None
        if rev and mesh:
            new = mesh
            for tag, points_at in sorted(tag_rev.items()):
                new = follow_tag(new, str(rev), tag, points_at) or new
            if new != mesh:
                obj = copy.deepcopy(m.obj)
                obj["data"]["mesh"] = new
                m = Manifest(obj, m.source, m.document, m.line)
        out.append(m)
    return out


@register("seed-incident")
def load_seed_incident(cluster: Registry) -> None:
    """The field report's cluster at the moment of the incident (see the module docstring)."""
    load_empty(cluster)
    create_from_manifests(cluster, seed_manifests())


@register_manifests("healthy")
def healthy_manifests() -> list[Manifest]:
    """The seed manifests with every revision tag calling its revision's injector."""
    return follow_tags_in_discovery_selectors(retarget_tag_webhooks(seed_manifests()))


@register("healthy")
def load_healthy(cluster: Registry) -> None:
    """The field report's cluster with every revision tag calling its revision's injector."""
    load_empty(cluster)
    create_from_manifests(cluster, healthy_manifests())


__all__ = ["ISTIO_CRDS", "SEED_DIR", "follow_tags_in_discovery_selectors", "healthy_manifests",
           "load_healthy",
           "load_seed_incident", "retarget_tag_webhooks", "seed_manifests"]
