"""Failure chains no application pod explains: the injector deadlock (MR111) and pods admitted
without a sidecar under ``failurePolicy: Ignore`` (MR112) — positive and negative worlds."""

from __future__ import annotations

from pathlib import Path

from runbook import wellknown as wk
from runbook.formats import admission as fmt
from runbook.mesh import diagnose

from .test_diagnose import codes, only
from .worlds import World, healthy_world

ISTIOD = "istiod-1-19-3"
NO_ENDPOINTS = fmt.internal_error(fmt.webhook_call_failed(
    "rev.namespace.sidecar-injector.istio.io",
    fmt.webhook_service_url(ISTIOD, "istio-system", 443, "/inject"), fmt.no_endpoints(ISTIOD)))


def _lock(world: World, *, opt_out: bool = False) -> World:
    """istio-system bound to the revision its own istiod serves; istiod's pods are gone and its
    ReplicaSet's creates fail through the webhook that calls it."""
    ns = world.find("Namespace", "istio-system")
    ns["metadata"].setdefault("labels", {})[wk.REV_LABEL] = "1-19-3"
    dep = world.find("Deployment", ISTIOD, "istio-system")
    template_labels = dep["spec"]["template"]["metadata"]["labels"]
    if opt_out:
        template_labels[wk.INJECT_POD_LABEL] = "false"
    else:
        template_labels.pop(wk.INJECT_POD_LABEL, None)
    world.remove("Pod", "istio-system")
    world.remove("ReplicaSet", "istio-system")
    world.run_deployment("istio-system", ISTIOD, pod_hash="d7x2k9m4q", failure=NO_ENDPOINTS)
    return world


def test_the_injector_deadlock_is_named_with_its_way_out(healthy: World) -> None:
    findings = diagnose(_lock(healthy).snapshot())
    lock = only(findings, "MR111")
    assert lock.severity == "error"
    assert lock.subject.name == "istio-sidecar-injector-1-19-3"
    assert "no istiod pod can ever start and restarting istiod cannot help" in lock.message
    # Istio's per-pod webhook (rev.object…) would take istiod's istio.io/rev pod label once the
    # namespace label is gone: only istio-injection=disabled gets the pods through
    assert lock.fix is None
    assert f"kubectl label namespace istio-system {wk.INJECTION_LABEL}=disabled --overwrite" \
        in lock.message
    assert any("match objectSelector" in e for e in lock.evidence)
    # istiod's own failing ReplicaSet: the chain no longer says "bring the istiod pods back"
    chain = next(f for f in findings if f.code == "MR101" and f.subject.name == "istio-system")
    assert "see MR111" in chain.message and "bring the istiod pods back" not in chain.message


def test_a_namespace_only_injector_deadlock_is_ended_by_removing_the_label(healthy: World) -> None:
    world = _lock(healthy)
    cfg = world.find("MutatingWebhookConfiguration", "istio-sidecar-injector-1-19-3")
    cfg["webhooks"] = cfg["webhooks"][:1]          # rev.namespace… only
    lock = only(diagnose(world.snapshot()), "MR111")
    assert lock.fix is not None and lock.fix.action == "remove-label"
    assert lock.fix.params == {"namespace": "istio-system", "label": wk.REV_LABEL,
                               "current_value": "1-19-3"}
    assert lock.fix.command == f"kubectl label namespace istio-system {wk.REV_LABEL}-"


def test_istiod_that_opts_out_of_injection_is_no_deadlock(healthy: World) -> None:
    findings = diagnose(_lock(healthy, opt_out=True).snapshot())
    assert "MR111" not in codes(findings)


def test_istiod_namespace_outside_the_selectors_is_no_deadlock(healthy: World) -> None:
    world = _lock(healthy)
    labels = world.find("Namespace", "istio-system")["metadata"]["labels"]
    del labels[wk.REV_LABEL]
    # unlabelled, the per-pod webhook (rev.object…) still takes istiod's istio.io/rev pod label
    assert "MR111" in codes(diagnose(world.snapshot()))
    labels[wk.INJECTION_LABEL] = "disabled"      # every Istio webhook requires it absent
    assert "MR111" not in codes(diagnose(world.snapshot()))


def test_a_deadlock_without_a_label_to_remove_proposes_failure_policy_ignore(healthy: World) -> None:
    world = _lock(healthy)
    cfg = world.find("MutatingWebhookConfiguration", "istio-sidecar-injector-1-19-3")
    for hook in cfg["webhooks"]:
        hook["namespaceSelector"] = {}      # every namespace, whatever its labels
        hook["objectSelector"] = {}
    lock = only(diagnose(world.snapshot()), "MR111")
    assert lock.fix is None
    assert "set failurePolicy Ignore" in lock.message and "kubectl patch" in lock.message


# ------------------------------------------------------------------------------------ MR112


def _ignoring(world: World) -> World:
    for hook in world.find("MutatingWebhookConfiguration", "istio-revision-tag-stable")["webhooks"]:
        hook["failurePolicy"] = "Ignore"
    return world


def _uninjected(world: World, namespace: str = "shop", **labels: str) -> World:
    world.remove("Pod", namespace)
    world.remove("ReplicaSet", namespace)
    for dep in world.of_kind("Deployment", namespace):
        dep["spec"]["template"]["metadata"].setdefault("labels", {}).update(labels)
    world.run_all_deployments(namespace, sidecar_revision=None)
    return world


def test_pods_admitted_without_sidecar_under_failure_policy_ignore(healthy: World) -> None:
    world = _uninjected(_ignoring(healthy))
    world.remove("Pod", "istio-system")          # the injector's target answers nobody
    finding = only(diagnose(world.snapshot()), "MR112")
    assert finding.severity == "warning" and finding.subject.name == "shop"
    assert "failurePolicy is Ignore" in finding.message
    assert "repair the target first" in finding.message
    assert finding.fix is not None and finding.fix.action == "recreate-workloads"
    assert finding.fix.params["deployments"] == sorted(
        d["metadata"]["name"] for d in world.of_kind("Deployment", "shop"))


def test_uninjected_pods_once_the_target_answers_again(healthy: World) -> None:
    finding = only(diagnose(_uninjected(_ignoring(healthy)).snapshot()), "MR112")
    assert "answers now" in finding.message and "recreate the workloads" in finding.message


def test_no_mr112_for_injected_pods_fail_policy_or_opted_out_pods(upstream: Path) -> None:
    injected = _ignoring(healthy_world(upstream))
    assert "MR112" not in codes(diagnose(injected.snapshot()))   # pods have sidecars
    fail_policy = _uninjected(healthy_world(upstream))
    assert "MR112" not in codes(diagnose(fail_policy.snapshot()))
    opted_out = _uninjected(_ignoring(healthy_world(upstream)), **{wk.INJECT_POD_LABEL: "false"})
    assert "MR112" not in codes(diagnose(opted_out.snapshot()))


# ------------------------------------------------------------------------------------ IST0103


def _missing(world: World) -> list[str]:
    return sorted(f.subject.name for f in diagnose(world.snapshot()) if f.code == "IST0103")


def test_ist0103_one_per_pod_without_proxy(upstream: Path) -> None:
    world = _uninjected(healthy_world(upstream))
    findings = [f for f in diagnose(world.snapshot()) if f.code == "IST0103"]
    pods = sorted(p["metadata"]["name"] for p in world.of_kind("Pod", "shop"))
    assert sorted(f.subject.name for f in findings) == pods
    first = findings[0]
    assert first.severity == "warning" and first.subject.kind == "Pod"
    assert first.message == (f"The pod shop/{first.subject.name} is missing the Istio proxy. This "
                             "can often be resolved by restarting or redeploying the workload.")
    assert first.fix is not None and first.fix.action == "recreate-workloads"


def test_ist0103_negatives(upstream: Path) -> None:
    assert _missing(healthy_world(upstream)) == []                        # injected pods
    opted_out = _uninjected(healthy_world(upstream), **{wk.INJECT_POD_LABEL: "false"})
    assert _missing(opted_out) == []
    host_network = _uninjected(healthy_world(upstream))
    for pod in host_network.of_kind("Pod", "shop"):
        pod["spec"]["hostNetwork"] = True
    assert _missing(host_network) == []
    native = _uninjected(healthy_world(upstream))
    for pod in native.of_kind("Pod", "shop"):
        pod["spec"]["initContainers"] = [{"name": "istio-proxy", "image": "proxyv2",
                                          "restartPolicy": "Always"}]
    assert _missing(native) == []
    disabled = _uninjected(healthy_world(upstream))
    disabled.find("Namespace", "shop")["metadata"]["labels"][wk.INJECTION_LABEL] = "disabled"
    assert _missing(disabled) == []         # both labels: IST0123's case, not an injected one


def test_connection_refused_without_a_port_mismatch_keeps_the_general_hint(healthy: World) -> None:
    healthy.fail_in_new_namespace("late", "ratings-v1",
                                  "dial tcp 100.96.0.3:15017: connect: connection refused",
                                  pod_hash="r4n8w2k6")
    chain = only(diagnose(healthy.snapshot()), "MR101")
    assert "nothing listens behind the Service" in chain.message
    assert "sends port 443 to targetPort" not in chain.message
