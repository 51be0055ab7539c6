"""Namespace chains: conflicting or dangling injection labels (IST0123, MR104), namespaces not
enabled for injection (IST0102) or enabled by default (IST0148), pods whose sidecar another
revision injected (IST0158), and revisions whose istiod does not watch the namespace of their
sidecars (MR110).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from runbook import kinds as k
from runbook import wellknown as wk
from runbook.mesh.diagnosis_state import DiagnosisState
from runbook.mesh.findings import INFO, WARNING, Finding, FixSuggestion, Subject
from runbook.mesh.injection import NamespaceInjection
from runbook.mesh.injector_chains import labels_text
from runbook.mesh.model import SYSTEM_NAMESPACES, MeshModel, meta
from runbook.mesh.pushes import control_plane_scopes
from runbook.routing import PROXY_CONTAINER
from runbook.selectors import label_values

#: the namespace Istio's injection analyzer never reports on
ISTIO_SYSTEM = "istio-system"
#: the ``istio.io/dataplane-mode`` value of an ambient namespace
AMBIENT = "ambient"


def injection_label_kinds(labels: dict[str, str]) -> list[str]:
    """The injection labels that count, as Istio's injection analyzer lists them: ``istio-injection``
    if present, then ``istio.io/rev`` and ``istio.io/dataplane-mode`` unless ``istio-injection``
    says anything but ``enabled`` (``disabled`` plus a revision label is a deliberate opt-out)."""
    injection = labels.get(wk.INJECTION_LABEL)
    kinds = [f"{wk.INJECTION_LABEL}={injection}"] if injection is not None else []
    if injection is None or injection == "enabled":
        kinds += [f"{key}={labels[key]}" for key in (wk.REV_LABEL, wk.DATAPLANE_MODE_LABEL)
                  if key in labels]
    return kinds


#: the default revision's injector ConfigMap (Istio's ``util.GetInjectorConfigMapName("")``)
INJECTOR_CONFIGMAP = "istio-sidecar-injector"
#: a pod annotation that overrides the injector's proxy image (Istio then never compares it)
PROXY_IMAGE_ANNOTATION = "sidecar.istio.io/proxyImage"


def injector_configmap_name(revision: str) -> str:
    """Istio's ``util.GetInjectorConfigMapName``: the injector ConfigMap of a revision."""
    return INJECTOR_CONFIGMAP if revision in ("", wk.DEFAULT_REVISION) \
        else f"{INJECTOR_CONFIGMAP}-{revision}"


def injector_values(model: MeshModel) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(namespace, name, parsed ``values``) of every ``istio-sidecar-injector*`` ConfigMap whose
    values are a JSON object (the others say nothing Istio's analyzers would read)."""
    for cm in model.snapshot.items(k.CONFIG_MAPS):
        m = meta(cm)
        name = str(m.get("name") or "")
        if not name.startswith(INJECTOR_CONFIGMAP):
            continue
        try:
            values = json.loads((cm.get("data") or {}).get("values") or "{}")
        except ValueError:
            continue
        if isinstance(values, dict):
            yield str(m.get("namespace") or ""), name, values


def injection_enabled_by_default(model: MeshModel) -> str | None:
    """``namespace/name`` of the ``istio-sidecar-injector`` ConfigMap when its values enable
    injection of unlabelled namespaces (``sidecarInjectorWebhook.enableNamespacesByDefault``)."""
    for ns, name, values in injector_values(model):
        hook = values.get("sidecarInjectorWebhook")
        if name == INJECTOR_CONFIGMAP and isinstance(hook, dict) \
                and hook.get("enableNamespacesByDefault") is True:
            return f"{ns}/{name}"
    return None


def injector_proxy_images(model: MeshModel) -> dict[str, str]:
    """Injector ConfigMap name → the proxy image its values define (Istio's
    ``GetIstioProxyImage``: ``global.proxy.image`` when it holds a ``/``, else
    ``<global.hub>/<global.proxy.image>:<global.tag>``)."""
    out: dict[str, str] = {}
    for _, name, values in injector_values(model):
        glob = values.get("global")
        if isinstance(glob, dict):
            image = str((glob.get("proxy") or {}).get("image") or "")
            out[name] = image if "/" in image else f"{glob.get('hub')}/{image}:{glob.get('tag')}"
    return out


class NamespaceChains(DiagnosisState):
    """Chains read from a namespace's labels and its pods."""

    def namespace_labels(self) -> None:
        offer = sorted({w.claimed_revision for w in self.m.injectors()
                        if w.claimed_revision and not w.tag}
                       | {w.tag for w in self.m.injectors() if w.tag})
        has_istio = bool(self.m.istiods or self.m.injectors())
        by_default = injection_enabled_by_default(self.m)
        for rec in self.injection:
            ns = rec.namespace
            subject = Subject("Namespace", None, ns)
            kinds = injection_label_kinds(rec.labels)
            if len(kinds) > 1:
                self.out.append(self._multiple_labels(rec, kinds))
            if rec.labels.get(wk.DATAPLANE_MODE_LABEL) == AMBIENT:
                continue  # ambient: no sidecar expected, whatever the webhooks say
            # istioctl's injection analyzer: every namespace but istio-system and those istioctl
            # never reads (inject.IgnoredNamespaces), whatever runs there (istiod, gateways) and
            # whichever webhook matches it
            unlabelled = (has_istio and rec.injection_label is None and rec.rev_label is None
                          and ns not in SYSTEM_NAMESPACES and ns != ISTIO_SYSTEM)
            if unlabelled and by_default is not None:
                self.out.append(Finding(
                    "IST0148", INFO, subject,
                    "is enabled for Istio injection, as Istio is installed with "
                    "enableNamespacesByDefault as true.",
                    evidence=[f"namespace labels {labels_text(rec.labels)}",
                              f"ConfigMap {by_default}: values.sidecarInjectorWebhook."
                              "enableNamespacesByDefault true"],
                    namespaces=[ns]))
                continue
            if unlabelled:
                self.out.append(Finding(
                    "IST0102", INFO, subject,
                    f"The namespace is not enabled for Istio injection. Run 'kubectl label "
                    f"namespace {ns} {wk.REV_LABEL}=<revision-or-tag>' to enable it, or 'kubectl "
                    f"label namespace {ns} {wk.INJECTION_LABEL}=disabled' to explicitly mark it "
                    f"as not needing injection.",
                    evidence=[f"namespace labels {labels_text(rec.labels)}",
                              f"revisions and tags: {', '.join(offer) or 'none'}"],
                    namespaces=[ns]))
                continue
            if rec.status != "no injection":
                continue
            if rec.injection_label == "disabled":
                continue  # a deliberate opt-out, whatever else is labelled
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

    def _multiple_labels(self, rec: NamespaceInjection, kinds: list[str]) -> Finding:
        """IST0123, with the relabel fix when ``istio-injection`` hides ``istio.io/rev``."""
        ns = rec.namespace
        injects = rec.webhook.key if rec.webhook else "no webhook"
        fix = None
        if rec.injection_label is not None and rec.rev_label is not None:
            advice = (f"{wk.INJECTION_LABEL} takes precedence ({injects} injects); remove it to "
                      f"use {wk.REV_LABEL}={rec.rev_label}")
            fix = FixSuggestion(
                "relabel-namespace",
                {"namespace": ns, "revision": rec.rev_label, "drop_injection_label": True,
                 "label": wk.INJECTION_LABEL, "current_value": rec.injection_label},
                f"kubectl label namespace {ns} {wk.INJECTION_LABEL}-",
                f"remove {wk.INJECTION_LABEL} from {ns}: new pods get "
                f"{wk.REV_LABEL}={rec.rev_label}'s injector (restart workloads to move "
                f"existing pods)")
        else:
            # sidecar injection and the ambient data plane both claim the namespace
            advice = (f"choose one: sidecars (kubectl label namespace {ns} "
                      f"{wk.DATAPLANE_MODE_LABEL}-) or ambient (kubectl label namespace {ns} "
                      + " ".join(f"{k.split('=')[0]}-" for k in kinds
                                 if not k.startswith(wk.DATAPLANE_MODE_LABEL)) + ")")
        return Finding(
            "IST0123", WARNING, Subject("Namespace", None, ns),
            f"The namespace has more than one type of injection labels [{' '.join(kinds)}] "
            f"— {advice}",
            evidence=[f"namespace labels {labels_text(rec.labels)}", rec.detail],
            fix=fix, namespaces=[ns])

    # --------------------------------------------------------------------------- IST0158

    def stale_sidecars(self) -> None:
        images = injector_proxy_images(self.m)
        if images:
            self._image_mismatches(images)
            return
        # no injector ConfigMap readable: the revision that injected each pod stands in for its image
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
                                  and (d := self._deployment_of(p.namespace, p.owner_name or ""))})
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


    def _deployment_of(self, namespace: str, replicaset: str) -> str | None:
        """The first Deployment among a ReplicaSet's owners (None when it has none or is not in
        the snapshot): looked up for the few pods a finding names, not for every ReplicaSet."""
        rs = self.m.replicasets.get((namespace, replicaset))
        if rs is None:
            return None
        return next((o.get("name") for o in (rs.get("metadata") or {}).get("ownerReferences") or []
                     if o.get("kind") == "Deployment"), None)

    def _image_mismatches(self, images: dict[str, str]) -> None:
        """IST0158 as istioctl's ImageAnalyzer reports it: per injected namespace, the pods whose
        ``istio-proxy`` image is not the one its revision's injector ConfigMap defines."""
        for ns, labels in sorted(self.m.namespaces.items()):
            if not (labels.get(wk.INJECTION_LABEL) == "enabled" or wk.REV_LABEL in labels):
                continue
            cm = injector_configmap_name(labels.get(wk.REV_LABEL, ""))
            expected = images.get(cm)
            if expected is None:
                continue
            mismatched: dict[str, str] = {}
            for p in self.m.pods_by_ns.get(ns, ()):
                raw = p.raw
                m = meta(raw)
                if (m.get("annotations") or {}).get(PROXY_IMAGE_ANNOTATION):
                    continue
                spec = raw.get("spec") or {}
                for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
                    image = str(c.get("image") or "")
                    # a variant (``-distroless``, ``-debug``) of the expected image is the same
                    if c.get("name") == PROXY_CONTAINER and image != expected \
                            and not image.startswith(f"{expected}-"):
                        mismatched[str(m.get("name"))] = image
            if not mismatched:
                continue
            names = sorted(mismatched)
            pods = [pod for name in names if (pod := self.m.pod(ns, name)) is not None]
            deployments = sorted({d for pod in pods if pod.owner_kind == "ReplicaSet"
                                  and (d := self._deployment_of(ns, pod.owner_name or ""))})
            fix = self.recreate_fix(ns, deployments, [])
            if fix is not None:
                fix = FixSuggestion(fix.action, {**fix.params, "pods": names}, fix.command,
                                    fix.summary)
            self.out.append(Finding(
                "IST0158", WARNING, Subject("Namespace", None, ns),
                "The Istio proxy images of the pods running in the namespace do not match the "
                f"image defined in the injection configuration (pod names: [{' '.join(names)}]). "
                "This often happens after upgrading the Istio control-plane and can be fixed by "
                "redeploying the pods.",
                evidence=[f"ConfigMap {cm} (values.global): {expected}",
                          *(f"pod {name}: {image}" for name, image in sorted(mismatched.items())[:10])],
                fix=fix, namespaces=[ns]))

    # ----------------------------------------------------------------------------- MR110

    def unwatched_namespaces(self) -> None:
        """Sidecars of a revision whose istiod ignores their namespace get no configuration."""
        scopes = control_plane_scopes(self.m.snapshot, self.m)
        if not scopes:
            return
        # which revisions watch a namespace is decided once per distinct value of the labels the
        # discovery selectors read, not once per namespace and revision
        keys = sorted({key for scope in scopes.values() for s in scope.selectors for key in s.keys})
        decided: dict[tuple[object, ...], list[str]] = {}
        for rec in self.injection:
            read = label_values(rec.labels, keys)
            watching = decided.get(read)
            if watching is None:
                watching = decided[read] = sorted(r for r, sc in scopes.items()
                                                  if sc.watches(rec.labels))
            if len(watching) == len(scopes):
                continue  # every revision watches it: nothing to report, whatever runs there
            pods = self.m.pods_by_ns.get(rec.namespace, ())
            revisions = {p.sidecar_revision for p in pods if p.sidecar_revision}
            if rec.status in ("ok", "both labels") and rec.effective_revision \
                    and "," not in rec.effective_revision:
                revisions.add(rec.effective_revision)
            for rev in sorted(r for r in revisions if r in scopes):
                scope = scopes[rev]
                if rev in watching:
                    continue
                cm = f"ConfigMap {scope.namespace}/{scope.configmap}" if scope.configmap else \
                    f"the meshConfig of revision {rev}"
                self.out.append(Finding(
                    "MR110", WARNING, Subject("Namespace", None, rec.namespace),
                    f"pods in {rec.namespace} are injected by revision {rev}, but istiod {rev} "
                    f"({scope.namespace}) does not watch {rec.namespace}: their sidecars get no "
                    f"configuration from it — add the namespace to the discoverySelectors in "
                    f"{cm} (key mesh), or bind the namespace to a revision that watches it"
                    + (f" ({', '.join(watching)})" if watching else ""),
                    evidence=[f"istiod {rev}: {scope.describe_selectors()}",
                              f"namespace labels: {labels_text(rec.labels)}",
                              f"revisions that watch {rec.namespace}: "
                              f"{', '.join(watching) or 'none'}"],
                    namespaces=[rec.namespace]))
