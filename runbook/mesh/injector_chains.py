"""Failure chains of sidecar injection that no failing pod of the application explains.

* **The injector deadlock** (MR111): an injector webhook with ``failurePolicy: Fail`` calls a
  Service whose istiod has no ready pod, and that istiod's own pods are created through the same
  webhook (its namespace and pod template match the webhook's selectors). Every istiod pod create
  is rejected because no istiod answers, so "bring the istiod pods back" cannot work: the way out
  is to take istiod's namespace out of the webhook's selector (remove the namespace's injection
  label) or to let the call be skipped (``failurePolicy: Ignore``) until istiod runs.
* **Pods started without a sidecar under ``failurePolicy: Ignore``** (MR112): the namespace is
  bound to an injector, the pods match its selectors, yet they carry no
  ``sidecar.istio.io/status``: the apiserver skipped the failing call and admitted them
  unmutated. Found from the pods and the webhook (no event records a skipped call); the way out
  is to repair the target, then recreate the workloads.

Both are pure functions over a :class:`~runbook.mesh.model.MeshModel`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from runbook import wellknown as wk
from runbook.mesh.findings import ERROR, WARNING, Finding, FixSuggestion, Subject
from runbook.mesh.injection import NamespaceInjection
from runbook.mesh.model import (
    SYSTEM_NAMESPACES,
    Istiod,
    MeshModel,
    Pod,
    Target,
    Webhook,
    labels_of,
    meta,
)
from runbook.routing import PROXY_CONTAINER, container_port
from runbook.statuses import TargetStatus

#: target statuses under which no istiod answers although its Service exists
_NOBODY_ANSWERS: frozenset[TargetStatus] = frozenset({"no_endpoints"})


@dataclass(frozen=True)
class Deadlock:
    """An injector webhook whose only istiod cannot start because of that webhook.

    Attributes:
        remove_label: the namespace label whose removal lets istiod's pods pass every webhook
            (None when no single removal does).
        disable_works: labelling the namespace ``istio-injection=disabled`` lets them pass (every
            Istio injector webhook requires that label absent or ``enabled``).
    """

    webhook: Webhook
    istiods: tuple[Istiod, ...]
    remove_label: str | None
    disable_works: bool


def _blocking(model: MeshModel, namespace_labels: dict[str, str], pod_labels: dict[str, str]
              ) -> list[Webhook]:
    """Injector webhooks that would reject an istiod pod create: they intercept it, fail closed,
    and nobody answers behind their target."""
    return [w for w in model.injectors()
            if w.target is not None and w.target.exists and w.target.status in _NOBODY_ANSWERS
            and w.failure_policy != "Ignore" and w.matches_pod_create
            and _intercepts(w, namespace_labels, pod_labels)]


def injector_deadlocks(model: MeshModel) -> list[Deadlock]:
    """Every injector webhook (``failurePolicy: Fail``) that its own istiod's pods must pass."""
    out = []
    seen: set[tuple[str, str]] = set()  # one per configuration and target, like MR103
    for w in model.injectors():
        t = w.target
        if (t is None or not t.exists or t.status not in _NOBODY_ANSWERS
                or w.failure_policy == "Ignore" or not w.matches_pod_create
                or (w.configuration, t.address) in seen):
            continue
        caught = tuple(d for d in model.istiods_by_ns.get(t.namespace, ())
                       if d.revision in t.selected_revisions and d.ready_pods == 0
                       and _intercepts(w, model.namespaces.get(d.namespace), d.template_labels))
        if not caught:
            continue
        labels = model.namespaces.get(caught[0].namespace) or {}
        # a label removal only helps when no other webhook (e.g. the per-pod rev.object… one,
        # which takes istiod's own istio.io/rev pod label) catches the pods instead
        removal = next((key for key in (wk.INJECTION_LABEL, wk.REV_LABEL) if key in labels
                        and _all_pass(model, {a: b for a, b in labels.items() if a != key},
                                      caught)), None)
        disable = _all_pass(model, {**labels, wk.INJECTION_LABEL: "disabled"}, caught)
        seen.add((w.configuration, t.address))
        out.append(Deadlock(w, caught, removal, disable))
    return out


def _all_pass(model: MeshModel, namespace_labels: dict[str, str], istiods: Iterable[Istiod]
              ) -> bool:
    return not any(_blocking(model, namespace_labels, d.template_labels) for d in istiods)


def _intercepts(w: Webhook, namespace_labels: dict[str, str] | None, pod_labels: dict[str, str]
                ) -> bool:
    return (namespace_labels is not None and w.namespace_selector.matches(namespace_labels)
            and w.object_selector.matches(pod_labels))


def deadlock_findings(model: MeshModel) -> list[Finding]:
    """MR111 for each :func:`injector_deadlocks` entry, with the label removal that ends it."""
    findings = []
    for lock in injector_deadlocks(model):
        w, t = lock.webhook, lock.webhook.target
        assert t is not None
        ns = lock.istiods[0].namespace
        names = ", ".join(f"{d.name} (revision {d.revision}, 0/{d.desired} ready)"
                          for d in lock.istiods)
        evidence = [
            f"{w.kind} {w.configuration} webhooks[{w.index}] {w.name}: clientConfig "
            f"{w.client_config()}, failurePolicy {w.failure_policy}",
            f"target {t.describe()}",
            f"namespace {ns} labels {labels_text(model.namespaces.get(ns) or {})} match "
            f"namespaceSelector {w.namespace_selector}",
            *(f"istiod {d.name} pod template labels {labels_text(d.template_labels)} match "
              f"objectSelector {w.object_selector}" for d in lock.istiods),
        ]
        fix = None
        if lock.remove_label is not None:
            label = lock.remove_label
            current = (model.namespaces.get(ns) or {}).get(label)
            fix = FixSuggestion(
                "remove-label", {"namespace": ns, "label": label, "current_value": current},
                f"kubectl label namespace {ns} {label}-",
                f"remove {label} from {ns}: no injector intercepts istiod's pods any more, so the "
                "ReplicaSet controller can create them (label it again once istiod runs, if its "
                "pods should be injected at all)")
            way_out = f"remove the label {label} from namespace {ns} ({fix.command})"
        elif lock.disable_works:
            way_out = (f"take {ns} out of every injector (kubectl label namespace {ns} "
                       f"{wk.INJECTION_LABEL}=disabled --overwrite"
                       + (f"; kubectl label namespace {ns} {wk.REV_LABEL}-"
                          if wk.REV_LABEL in (model.namespaces.get(ns) or {}) else "")
                       + "); removing istio.io/rev alone is not enough: the per-pod webhook "
                       "takes istiod's own istio.io/rev pod label")
        else:
            way_out = (f"set failurePolicy Ignore on {w.configuration} webhooks[{w.index}] until "
                       f"istiod runs (kubectl patch mutatingwebhookconfiguration {w.configuration} "
                       f"--type=json -p '[{{\"op\":\"replace\",\"path\":\"/webhooks/{w.index}/"
                       "failurePolicy\",\"value\":\"Ignore\"}]')")
        evidence.append("Istio's own istiod template carries sidecar.istio.io/inject: \"false\", "
                        "which keeps its pods out of every injector")
        findings.append(Finding(
            "MR111", ERROR, Subject(w.kind, None, w.configuration),
            f"deadlock: {w.configuration} ({w.name}, failurePolicy {w.failure_policy}) calls "
            f"{t.address}, served only by istiod {names} — whose own pods are created through "
            f"this webhook, so no istiod pod can ever start and restarting istiod cannot help: "
            f"{way_out}",
            evidence, fix, namespaces=sorted({ns, *_injected_namespaces(model, w)})))
    return findings


def _injected_namespaces(model: MeshModel, w: Webhook) -> Iterable[str]:
    return (ns for ns, labels in model.namespaces.items() if w.namespace_selector.matches(labels))


def uninjected_pod_findings(model: MeshModel, injection: Iterable[NamespaceInjection]
                            ) -> list[Finding]:
    """MR112: running pods without a sidecar in namespaces an Ignore-policy injector serves."""
    findings = []
    for rec in injection:
        ignoring = [w for w in rec.matching if w.failure_policy == "Ignore" and w.matches_pod_create]
        if not ignoring:
            continue
        w = ignoring[0]
        bare = [p for p in model.pods_by_ns.get(rec.namespace, [])
                if p.sidecar_revision is None and p.phase in ("Running", "Pending")
                and p.labels.get(wk.INJECT_POD_LABEL) != "false"
                and w.object_selector.matches(p.labels)
                and model.pod_revision(p) is None]
        if not bare:
            continue
        deployments = _deployments_of(model, rec.namespace, bare)
        t = w.target
        now = (f"its target {t.describe()} still fails" if t is not None and not t.ok
               else f"its target {t.describe()} answers now" if t is not None
               else f"it calls {w.client_config()}")
        fix = None
        if deployments:
            fix = FixSuggestion(
                "recreate-workloads",
                {"namespace": rec.namespace, "deployments": deployments, "replicasets": [],
                 "pods": [p.name for p in bare], "method": "rollout-restart"},
                f"kubectl rollout restart deployment -n {rec.namespace} {' '.join(deployments)}",
                f"rollout restart {len(deployments)} Deployment{'s' if len(deployments) != 1 else ''}"
                f" in {rec.namespace}: new pods pass the injector again")
        broken = t is not None and not t.ok
        findings.append(Finding(
            "MR112", WARNING, Subject("Namespace", None, rec.namespace),
            f"{len(bare)} pod{'s' if len(bare) != 1 else ''} in {rec.namespace} run without a "
            f"sidecar although {w.configuration} ({w.name}) injects the namespace: its "
            f"failurePolicy is Ignore, so the apiserver admitted them unmutated when the call "
            f"failed; {now} — "
            + ("repair the target first (see MR103), then recreate the workloads" if broken
               else "recreate the workloads to inject them"),
            evidence=["pods without sidecar.istio.io/status: "
                      + ", ".join(p.name for p in bare[:10])
                      + (f" and {len(bare) - 10} more" if len(bare) > 10 else ""),
                      f"{w.kind} {w.configuration} webhooks[{w.index}] {w.name}: clientConfig "
                      f"{w.client_config()}, failurePolicy Ignore",
                      f"namespace labels {labels_text(rec.labels)}"],
            fix=fix, namespaces=[rec.namespace]))
    return findings


def _injected_by_istio_rule(labels: dict[str, str]) -> bool:
    """Istio's ``injection.Analyzer``: a namespace counts as injected when it has ``istio.io/rev``
    (and no ``istio-injection``, IST0123's case) or ``istio-injection=enabled``."""
    injection = labels.get(wk.INJECTION_LABEL, "")
    if wk.REV_LABEL in labels:
        return injection == ""
    return injection == "enabled"


def missing_proxy_findings(model: MeshModel) -> list[Finding]:
    """IST0103 as istioctl reports it, one per pod: a pod of an injected namespace (not
    ``istio-system`` nor a system namespace) without an ``istio-proxy`` container, unless it opts
    out (``sidecar.istio.io/inject: false`` label or annotation) or uses the host network
    (istio/istio ``analyzers/injection/injection.go``). An ``istio-proxy`` init container (native
    sidecar) or a ``sidecar.istio.io/status`` annotation counts as a proxy too."""
    findings = []
    # decided once per namespace, not once per pod
    injected = {ns for ns, labels in model.namespaces.items()
                if ns != "istio-system" and ns not in SYSTEM_NAMESPACES
                and _injected_by_istio_rule(labels)}
    for pod in model.pod_list:
        # the injector's status annotation is proof of injection (checked first, on the model's
        # pod: it is what almost every pod of an injected namespace has, so most pods stop here)
        if pod.sidecar_revision is not None:
            continue
        raw = pod.raw
        m = raw.get("metadata") or {}
        annotations = m.get("annotations") or {}
        if wk.SIDECAR_STATUS_ANNOTATION in annotations:
            continue
        ns, name = str(m.get("namespace") or ""), str(m.get("name") or "")
        if ns not in injected:
            continue
        labels = model.namespaces[ns]
        opt = (m.get("labels") or {}).get(wk.INJECT_POD_LABEL,
                                          annotations.get(wk.INJECT_POD_LABEL, ""))
        spec = raw.get("spec") or {}
        if str(opt).lower() == "false" or spec.get("hostNetwork"):
            continue
        # native sidecars (Istio ≥ 1.19 with ENABLE_NATIVE_SIDECARS) run istio-proxy as an init
        # container
        if any(c.get("name") == PROXY_CONTAINER
               for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]):
            continue
        deployments = _deployments_of(model, ns, [pod])
        fix = None
        if deployments:
            fix = FixSuggestion(
                "recreate-workloads",
                {"namespace": ns, "deployments": deployments, "replicasets": [], "pods": [name],
                 "method": "rollout-restart"},
                f"kubectl rollout restart deployment -n {ns} {' '.join(deployments)}",
                f"rollout restart Deployment {deployments[0]} in {ns}: its new pods pass the "
                "injector")
        findings.append(Finding(
            "IST0103", WARNING, Subject("Pod", ns, name),
            f"The pod {ns}/{name} is missing the Istio proxy. This can often be resolved by "
            "restarting or redeploying the workload.",
            evidence=[f"namespace {ns} labels {labels_text(labels)}",
                      "containers: " + ", ".join(str(c.get("name"))
                                                 for c in spec.get("containers") or [])],
            fix=fix, namespaces=[ns]))
    return findings


def refused_port_detail(model: MeshModel, target: Target) -> str | None:
    """Why a connection to a webhook's Service is refused, when the objects show it: the
    Service sends the port to a ``targetPort`` on which no container of the istiod pods behind
    it listens (the apiserver dials the pod IP on that port)."""
    svc = model.services.get((target.namespace, target.name))
    if svc is None:
        return None
    port = next((p for p in (svc.get("spec") or {}).get("ports") or []
                 if p.get("port") == target.port), None)
    if port is None:
        return None
    for dep in model.deployments_by_ns.get(target.namespace, []):
        if labels_of(dep).get("app") != wk.ISTIOD_APP:
            continue
        template = (dep.get("spec") or {}).get("template") or {}
        revision = labels_of(dep).get(wk.REV_LABEL) or wk.DEFAULT_REVISION  # as MeshModel reads it
        if target.selected_revisions and revision not in target.selected_revisions:
            continue
        wanted = port.get("targetPort", port.get("port"))
        number = container_port(wanted, template)
        listening = sorted({int(cp["containerPort"])
                            for c in (template.get("spec") or {}).get("containers") or []
                            for cp in c.get("ports") or [] if isinstance(cp.get("containerPort"), int)})
        if listening and number not in listening:
            return (f"Service {target.namespace}/{target.name} sends port {target.port} to "
                    f"targetPort {wanted}, but istiod {meta(dep).get('name')} listens on "
                    f"{', '.join(map(str, listening))} (the webhook port is 15017): set the "
                    "Service's targetPort to istiod's webhook port")
    return None


def _deployments_of(model: MeshModel, namespace: str, pods: Iterable[Pod]) -> list[str]:
    rs_owner: dict[str, str] = {}
    for rs in model.replicasets_by_ns.get(namespace, []):
        for ref in meta(rs).get("ownerReferences") or []:
            if ref.get("kind") == "Deployment" and ref.get("controller"):
                rs_owner[str(meta(rs).get("name"))] = str(ref.get("name"))
    found: dict[str, None] = defaultdict(lambda: None)
    for p in pods:
        if p.owner_kind == "ReplicaSet" and p.owner_name in rs_owner:
            found[rs_owner[p.owner_name]] = None
    return sorted(found)


def labels_text(labels: dict[str, str]) -> str:
    """``{a=1, b=2}``: labels as evidence quotes them."""
    return "{" + ", ".join(f"{a}={b}" for a, b in sorted(labels.items())) + "}"
