"""The fixes this toolkit knows, one constructor per fix action, each a :class:`~runbook.fix.plan.FixPlan`
built from a fresh read. :func:`plan_fix` is the one way in: it picks the constructor for a finding's
(or a suggestion's) action.

* :func:`retarget_webhook` — point webhooks of a (Mutating|Validating)WebhookConfiguration at
  another Service: the field report's fix.
* :func:`set_tag_revision` — what ``istioctl tag set <tag> --revision <rev> --overwrite`` does.
* :func:`recreate_workloads` — ``kubectl rollout restart`` of a namespace's Deployments
  (preferred) or deleting their ReplicaSets as the field report did.
* :func:`relabel_namespace` — move a namespace to another revision or tag.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from runbook import kinds as k
from runbook import wellknown as wk
from runbook.errors import InputError, NotFound
from runbook.fix.plan import FixPlan, Step, build_update, new_plan
from runbook.kinds import ResourceKind
from runbook.kube import Cluster
from runbook.mesh.findings import Finding, FixSuggestion
from runbook.meshconfig import follow_tag
from runbook.selectors import SelectorError, parse_label_selector
from runbook.snapshot import RawObject
from runbook.timestamps import format_timestamp


def _refuse_unknown_or_none(chosen: Sequence[str], names: Sequence[str], *,
                            unknown: Callable[[str], tuple[str, str]], none: tuple[str, str]) -> None:
    """Refuse a choice of names that are not there, or of nothing at all, as one-line InputErrors.

    Args:
        unknown: the message and hint, given the missing names joined by ", ".
        none: the message and hint when nothing is chosen.
    """
    missing = sorted(set(chosen) - set(names))
    if missing:
        message, hint = unknown(", ".join(missing))
        raise InputError(message, hint=hint)
    if not chosen:
        raise InputError(none[0], hint=none[1])


def retarget_webhook(
    cluster: Cluster,
    configuration: str,
    service_namespace: str,
    service_name: str | None = None,
    *,
    webhooks: Sequence[str] | None = None,
    kind: ResourceKind = k.MUTATING_WEBHOOKS,
) -> FixPlan:
    """Point the chosen webhooks (default: all) of ``configuration`` at another Service.

    Args:
        configuration: the webhook configuration's name.
        service_namespace: the namespace the Service really lives in.
        service_name: a new Service name (default: keep each webhook's current name).
        webhooks: webhook names to change (default: every webhook that calls a Service).

    A target Service that does not exist (the API server accepts such a webhook silently) makes
    the plan's rationale and preview start with a warning: pointing a webhook at nothing makes
    every matching pod creation fail — the field report's incident itself.

    Raises:
        InputError: unknown webhook names, or webhooks that call a URL rather than a Service.
    """
    if kind not in (k.MUTATING_WEBHOOKS, k.VALIDATING_WEBHOOKS):
        raise InputError(f"{kind.kind} is not a webhook configuration kind",
                         hint="use MUTATING_WEBHOOKS or VALIDATING_WEBHOOKS")
    current = cluster.get(kind, configuration)
    names = [w.get("name") for w in current.get("webhooks") or []]
    chosen = list(webhooks) if webhooks else [
        w["name"] for w in current.get("webhooks") or [] if (w.get("clientConfig") or {}).get("service")]
    _refuse_unknown_or_none(
        chosen, [str(n) for n in names],
        unknown=lambda missing: (f"{configuration} has no webhook named {missing} "
                                 f"(it has: {', '.join(str(n) for n in names)})",
                                 "pass webhooks= with names from that list, or leave it out for all"),
        none=(f"{configuration}: no webhook calls a Service, nothing to retarget",
              "webhooks that call a URL are changed in the configuration itself"))
    targets = {service_name} if service_name else {
        ((w.get("clientConfig") or {}).get("service") or {}).get("name")
        for w in current.get("webhooks") or [] if w.get("name") in chosen}
    warnings = [w for w in (_missing_service(cluster, service_namespace, t)
                            for t in sorted(t for t in targets if t)) if w]

    def change(obj: RawObject) -> None:
        for hook in obj.get("webhooks") or []:
            if hook.get("name") not in chosen:
                continue
            svc = (hook.get("clientConfig") or {}).get("service")
            if svc is None:
                raise InputError(f"webhook {hook.get('name')} of {configuration} calls a URL, "
                                 "not a Service; retargeting needs a Service")
            svc["namespace"] = service_namespace
            if service_name:
                svc["name"] = service_name

    target = f"{service_namespace}/{service_name or '<same name>'}"
    step = build_update(cluster, kind, configuration, None, change,
                        f"point {', '.join(chosen)} at service {target}")
    rationale = ("the webhook calls a Service that does not exist (or has no endpoints); pods "
                 "that match it cannot be created")
    return new_plan(cluster, f"Retarget {configuration} to {target}", [step],
                    rationale="; ".join([*warnings, rationale]))


def _missing_service(cluster: Cluster, namespace: str, name: str) -> str:
    """A warning when a webhook target does not exist (the API server accepts it silently)."""
    try:
        cluster.get(k.SERVICES, name, namespace)
    except NotFound:
        there = sorted(s["metadata"]["name"] for s in cluster.list(k.SERVICES, namespace))
        where = (f"Services in {namespace}: {', '.join(there[:12])}" if there
                 else f"namespace {namespace!r} has no Services")
        return (f"WARNING: service {namespace}/{name} does not exist ({where}) — pointing the "
                "webhook at it makes every matching pod creation fail; retarget to an existing "
                "Service")
    return ""


def set_tag_revision(cluster: Cluster, tag: str, revision: str) -> FixPlan:
    """Re-point revision tag ``tag`` at ``revision``, as ``istioctl tag set --overwrite`` does.

    The tag's webhooks get the clientConfig (service, path, caBundle) of the revision's own
    injector webhook, and the configuration's ``istio.io/rev`` label becomes ``revision``.

    Raises:
        InputError: no tag webhook configuration, or no injector for ``revision`` (istioctl:
            ``cannot modify tag: cannot find MutatingWebhookConfiguration with revision "…"``).
    """
    configs = cluster.list(k.MUTATING_WEBHOOKS,
                           label_selector=f"{wk.REV_LABEL},{wk.TAG_LABEL}={tag}")
    if not configs:
        raise InputError(f"revision tag {tag!r} not found (no MutatingWebhookConfiguration "
                         f"labelled {wk.TAG_LABEL}={tag})", hint="istioctl tag list shows the tags")
    injectors = cluster.list(k.MUTATING_WEBHOOKS,
                             label_selector=f"{wk.REV_LABEL}={revision},!{wk.TAG_LABEL}")
    injectors = [c for c in injectors if any(
        (w.get("clientConfig") or {}) for w in c.get("webhooks") or [])]
    if not injectors:
        raise InputError(f"cannot modify tag: cannot find MutatingWebhookConfiguration with "
                         f"revision {revision!r}", hint="check the revision name (runbook inventory)")
    source = (injectors[0].get("webhooks") or [{}])[0].get("clientConfig") or {}

    def change(obj: RawObject) -> None:
        obj["metadata"].setdefault("labels", {})[wk.REV_LABEL] = revision
        for hook in obj.get("webhooks") or []:
            cc = hook.setdefault("clientConfig", {})
            if "service" in source:
                cc.pop("url", None)
                cc["service"] = dict(source["service"])
            elif "url" in source:
                cc.pop("service", None)
                cc["url"] = source["url"]
            if source.get("caBundle"):
                cc["caBundle"] = source["caBundle"]

    steps = [build_update(cluster, k.MUTATING_WEBHOOKS, c["metadata"]["name"], None, change,
                          f"tag {tag} → revision {revision} (webhooks call "
                          f"{_describe_client(source)})") for c in configs]
    steps += _follow_tag_steps(cluster, tag, revision)
    svc = source.get("service") or {}
    return new_plan(
        cluster, f"Point tag {tag} at revision {revision}", steps,
        rationale=f"the tag's webhooks will call the injector of revision {revision}",
        extra_commands=[f"istioctl tag set {tag} --revision {revision} "
                        f"-i {svc.get('namespace', 'istio-system')} --overwrite"])


def _follow_tag_steps(cluster: Cluster, tag: str, revision: str) -> list[Step]:
    """meshConfig edits so that ``revision``'s istiod watches the tag's namespaces (and the others
    stop): without them the tag's pods get sidecars nobody programs (MR110)."""
    steps = []
    for cm in cluster.list(k.CONFIG_MAPS, label_selector=wk.REV_LABEL):
        own = cm["metadata"]["labels"][wk.REV_LABEL]
        mesh = (cm.get("data") or {}).get("mesh")
        if not mesh or cm["metadata"]["name"] not in (f"istio-{own}", "istio"):
            continue
        if follow_tag(mesh, own, tag, revision) is None:
            continue

        def change(obj: RawObject, own: str = own) -> None:
            obj["data"]["mesh"] = follow_tag(obj["data"]["mesh"], own, tag, revision) or \
                obj["data"]["mesh"]

        verb = "watch" if own == revision else "stop watching"
        steps.append(build_update(
            cluster, k.CONFIG_MAPS, cm["metadata"]["name"], cm["metadata"]["namespace"], change,
            f"istiod {own} will {verb} namespaces bound to tag {tag} (discoverySelectors)"))
    return steps


def _describe_client(cc: dict[str, Any]) -> str:
    svc = cc.get("service")
    if svc:
        return f"{svc.get('namespace')}/{svc.get('name')}"
    return str(cc.get("url", "?"))


def recreate_workloads(cluster: Cluster, namespace: str, *, method: str = "rollout-restart",
                       deployments: Sequence[str] | None = None) -> FixPlan:
    """Make a namespace's pods be created again (through admission, so they get sidecars).

    Args:
        method: ``rollout-restart`` (preferred: a new ReplicaSet rolls out under the Deployment's
            strategy, old pods keep serving until new ones are ready, and ``kubectl rollout undo``
            history is kept) or ``delete-replicasets`` (what the field report did: the Deployment
            controller recreates them at once; every pod goes away together, and it cannot be
            undone).
        deployments: only these (default: every Deployment in the namespace).
    """
    if method not in ("rollout-restart", "delete-replicasets"):
        raise InputError(f"unknown method {method!r}",
                         hint="use rollout-restart (preferred) or delete-replicasets")
    cluster.get(k.NAMESPACES, namespace)  # a clear NotFound for a missing namespace
    found = cluster.list(k.DEPLOYMENTS, namespace)
    names = [d["metadata"]["name"] for d in found]
    wanted = list(deployments) if deployments else names
    _refuse_unknown_or_none(
        wanted, names,
        unknown=lambda missing: (f"no Deployment {missing} in namespace {namespace} "
                                 f"(there are: {', '.join(names) or 'none'})",
                                 "pass deployments= from that list, or leave it out for all"),
        none=(f"namespace {namespace} has no Deployments to recreate",
              "check the namespace (kubectl get deploy -n …)"))
    steps: list[Step] = []
    if method == "rollout-restart":
        stamp = format_timestamp(datetime.now(UTC))

        def restart(obj: RawObject) -> None:
            tmpl = obj["spec"]["template"].setdefault("metadata", {})
            tmpl.setdefault("annotations", {})[wk.RESTARTED_AT_ANNOTATION] = stamp

        for name in wanted:
            steps.append(build_update(cluster, k.DEPLOYMENTS, name, namespace, restart,
                                      "rollout restart (new ReplicaSet, pods admitted again)"))
        return new_plan(cluster, f"Rollout restart of {len(steps)} deployment(s) in {namespace}",
                        steps, rationale="pods are only injected when created; existing or "
                                         "failed ReplicaSets must create them again",
                        extra_commands=[f"kubectl rollout restart deployment -n {namespace} "
                                        + " ".join(wanted)])
    by_uid = {d["metadata"]["uid"]: d["metadata"]["name"] for d in found
              if d["metadata"]["name"] in wanted}
    for rs in cluster.list(k.REPLICA_SETS, namespace):
        owners = rs["metadata"].get("ownerReferences") or []
        if any(o.get("uid") in by_uid for o in owners):
            steps.append(Step(k.REPLICA_SETS, namespace, rs["metadata"]["name"], rs, None,
                              "delete (its Deployment creates it again)", undoable=False))
    if not steps:
        raise InputError(f"the Deployments in {namespace} have no ReplicaSets to delete",
                         hint="use method='rollout-restart'")
    return new_plan(cluster, f"Delete {len(steps)} ReplicaSet(s) in {namespace}", steps,
                    rationale="the field report's way: the Deployment controller recreates "
                              "each ReplicaSet, whose pods then pass admission again",
                    extra_commands=[f"kubectl delete rs -n {namespace} --all"])


def relabel_namespace(cluster: Cluster, namespace: str, revision: str, *,
                      drop_injection_label: bool = True) -> FixPlan:
    """Bind ``namespace`` to a revision or tag through ``istio.io/rev``.

    ``istio-injection`` takes precedence over ``istio.io/rev`` in Istio's webhooks (IST0123 when
    both are set), so it is removed unless ``drop_injection_label`` is False — in which case the
    plan's rationale warns that both labels will be present.
    """
    try:
        valid = bool(revision) and not parse_label_selector(f"{wk.REV_LABEL}={revision}").empty
    except SelectorError:
        valid = False  # not a label value: spaces, '!', more than 63 characters …
    if not valid:
        raise InputError(f"invalid revision or tag {revision!r}",
                         hint="a revision (1-19-3) or tag (prod-canary): letters, digits, '-', "
                              "'_' and '.', at most 63 characters (runbook inventory lists them)")
    try:
        cluster.get(k.NAMESPACES, namespace)
    except NotFound:
        raise InputError(f"namespace {namespace!r} does not exist",
                         hint="check the name (kubectl get ns)") from None
    warning = ""

    def change(obj: RawObject) -> None:
        nonlocal warning
        labels = obj["metadata"].setdefault("labels", {})
        labels[wk.REV_LABEL] = revision
        if wk.INJECTION_LABEL in labels:
            if drop_injection_label:
                del labels[wk.INJECTION_LABEL]
            else:
                warning = (f"both {wk.INJECTION_LABEL} and {wk.REV_LABEL} will be set; "
                           f"{wk.INJECTION_LABEL} wins (IST0123)")

    step = build_update(cluster, k.NAMESPACES, namespace, None, change,
                        f"set {wk.REV_LABEL}={revision}")
    plan = new_plan(cluster, f"Bind namespace {namespace} to {revision}", [step],
                    rationale=warning or "pods created from now on are injected by that "
                                         "revision; restart workloads to move existing pods",
                    extra_commands=[f"kubectl label namespace {namespace} "
                                    f"{wk.REV_LABEL}={revision} --overwrite"])
    if warning:
        plan.extra_commands.append(f"# warning: {warning}")
    return plan


def remove_namespace_label(cluster: Cluster, namespace: str, label: str) -> FixPlan:
    """Remove one label from a namespace (e.g. the legacy ``istio-injection`` next to
    ``istio.io/rev``, IST0123)."""
    try:
        current = cluster.get(k.NAMESPACES, namespace)
    except NotFound:
        raise InputError(f"namespace {namespace!r} does not exist",
                         hint="check the name (kubectl get ns)") from None
    if label not in (current["metadata"].get("labels") or {}):
        raise InputError(f"namespace {namespace} has no label {label!r}",
                         hint="nothing to remove (kubectl get ns --show-labels)")

    def change(obj: RawObject) -> None:
        del obj["metadata"]["labels"][label]

    step = build_update(cluster, k.NAMESPACES, namespace, None, change, f"remove label {label}")
    return new_plan(cluster, f"Remove {label} from namespace {namespace}", [step],
                    extra_commands=[f"kubectl label namespace {namespace} {label}-"])


def plan_fix(cluster: Cluster, fix: Finding | FixSuggestion) -> FixPlan:
    """The plan (fresh read) for a finding's fix, or for a :class:`~runbook.mesh.findings.FixSuggestion`.

    Raises:
        InputError: a finding without a fix, an action this layer does not know, or parameters
            that do not fit it.
    """
    if isinstance(fix, Finding):
        if fix.fix is None:
            raise InputError(f"finding {fix.code} proposes no fix",
                             hint="pass a finding whose fix is set (findings_frame: fix_command)")
        fix = fix.fix
    suggestion = fix
    p = dict(suggestion.params)
    action = suggestion.action
    if action == "retarget-webhook":
        kind = (k.VALIDATING_WEBHOOKS if p.get("kind") == "ValidatingWebhookConfiguration"
                else k.MUTATING_WEBHOOKS)
        return retarget_webhook(cluster, p["configuration"], p["service_namespace"],
                                p.get("service_name"), webhooks=p.get("webhooks"), kind=kind)
    if action == "set-tag-revision":
        return set_tag_revision(cluster, p["tag"], p["revision"])
    if action == "recreate-workloads":
        return recreate_workloads(cluster, p["namespace"],
                                  method=p.get("method") or "rollout-restart",
                                  deployments=p.get("deployments"))
    if action == "relabel-namespace":
        return relabel_namespace(cluster, p["namespace"], p["revision"],
                                 drop_injection_label=p.get("drop_injection_label", True))
    if action == "remove-label":
        return remove_namespace_label(cluster, p["namespace"], p["label"])
    raise InputError(f"no fix plan for action {action!r}",
                     hint="known: retarget-webhook, set-tag-revision, recreate-workloads, "
                          "relabel-namespace, remove-label")
