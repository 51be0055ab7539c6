"""Namespace labels as Istio's injection analyzer reads them: IST0123 counts ``istio-injection``,
``istio.io/rev`` and the ambient ``istio.io/dataplane-mode`` (``istio-injection=disabled`` exempts
the others), IST0102 in every unlabelled namespace but istio-system and those istioctl never reads
(Kubernetes' own), with or without workloads, istiod's and gateways' included, IST0148 instead
when the injector's values enable namespaces by default, and nothing further for an ambient
namespace."""

from __future__ import annotations

import json

import pytest

from runbook import wellknown as wk
from runbook.mesh import diagnose
from runbook.mesh.namespace_chains import injection_label_kinds

from .test_diagnose import codes, only
from .worlds import World, _istiod


def _namespace(world: World, name: str, **labels: str) -> None:
    world.add({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": name, "labels": dict(labels)}})


def _about(world: World, namespace: str) -> list[str]:
    return [f.code for f in diagnose(world.snapshot()) if f.subject.name == namespace]


@pytest.mark.parametrize(("labels", "expected"), [
    ({wk.INJECTION_LABEL: "enabled", wk.REV_LABEL: "1-19-3"},
     ["istio-injection=enabled", "istio.io/rev=1-19-3"]),
    ({wk.REV_LABEL: "1-19-3", wk.DATAPLANE_MODE_LABEL: "ambient"},
     ["istio.io/rev=1-19-3", "istio.io/dataplane-mode=ambient"]),
    ({wk.INJECTION_LABEL: "disabled", wk.REV_LABEL: "1-19-3"}, ["istio-injection=disabled"]),
    ({wk.INJECTION_LABEL: "disabled", wk.DATAPLANE_MODE_LABEL: "ambient"},
     ["istio-injection=disabled"]),
    ({wk.REV_LABEL: "1-19-3"}, ["istio.io/rev=1-19-3"]),
])
def test_the_labels_that_count(labels: dict[str, str], expected: list[str]) -> None:
    assert injection_label_kinds(labels) == expected


def test_sidecar_and_ambient_labels_together_are_ist0123(healthy: World) -> None:
    _namespace(healthy, "both", **{wk.REV_LABEL: "1-19-3", wk.DATAPLANE_MODE_LABEL: "ambient"})
    finding = only([f for f in diagnose(healthy.snapshot()) if f.subject.name == "both"],
                   "IST0123")
    assert finding.message.startswith("The namespace has more than one type of injection labels "
                                      "[istio.io/rev=1-19-3 istio.io/dataplane-mode=ambient]")
    assert "kubectl label namespace both istio.io/dataplane-mode-" in finding.message
    assert finding.fix is None  # which data plane is meant is the operator's call


def test_injection_disabled_with_a_revision_label_is_a_deliberate_opt_out(healthy: World) -> None:
    _namespace(healthy, "optout", **{wk.INJECTION_LABEL: "disabled", wk.REV_LABEL: "1-19-3"})
    assert _about(healthy, "optout") == []


def test_an_ambient_namespace_is_not_asked_to_enable_injection(healthy: World) -> None:
    _namespace(healthy, "mesh-ambient", **{wk.DATAPLANE_MODE_LABEL: "ambient"})
    assert _about(healthy, "mesh-ambient") == []


def test_ist0102_in_a_namespace_without_workloads_but_not_in_istio_system(healthy: World) -> None:
    _namespace(healthy, "empty")
    _namespace(healthy, "kube-system")
    findings = diagnose(healthy.snapshot())
    assert [f.subject.name for f in findings if f.code == "IST0102"] == ["default", "empty"]


@pytest.mark.parametrize("ignored", ["kube-public", "kube-node-lease", "local-path-storage"])
def test_no_ist0102_in_the_namespaces_istioctl_never_reads(healthy: World, ignored: str) -> None:
    _namespace(healthy, ignored)
    assert "IST0102" not in _about(healthy, ignored)


def test_ist0102_in_an_unlabelled_namespace_that_runs_istiod_as_istioctl_says(healthy: World) -> None:
    _namespace(healthy, "istio-canary")
    healthy.add(_istiod("istio-canary", "istiod-canary", "canary", "docker.io/istio/pilot:1.19.3"))
    findings = diagnose(healthy.snapshot())
    assert "IST0102" in [f.code for f in findings if f.subject.name == "istio-canary"]


def test_ist0148_when_the_injector_enables_namespaces_by_default(healthy: World) -> None:
    values = {"sidecarInjectorWebhook": {"enableNamespacesByDefault": True}}
    healthy.add({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "istio-sidecar-injector", "namespace": "istio-system",
        "labels": {wk.REV_LABEL: "default"}}, "data": {"values": json.dumps(values)}})
    findings = diagnose(healthy.snapshot())
    by_default = only(findings, "IST0148")
    assert by_default.subject.name == "default" and by_default.severity == "info"
    assert by_default.message == ("is enabled for Istio injection, as Istio is installed with "
                                  "enableNamespacesByDefault as true.")
    assert "IST0102" not in codes(findings)


def test_no_ist0148_when_the_values_say_false(healthy: World) -> None:
    values = {"sidecarInjectorWebhook": {"enableNamespacesByDefault": False}}
    healthy.add({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "istio-sidecar-injector", "namespace": "istio-system",
        "labels": {wk.REV_LABEL: "default"}}, "data": {"values": json.dumps(values)}})
    assert "IST0148" not in codes(diagnose(healthy.snapshot()))


# ------------------------------------------------------- IST0158 by image (istioctl's rule)


def _injector_values(world: World, revision: str, tag: str, image: str = "proxyv2") -> None:
    values = {"global": {"hub": "docker.io/istio", "tag": tag, "proxy": {"image": image}}}
    world.add({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": f"istio-sidecar-injector-{revision}", "namespace": "istio-system",
        "labels": {wk.REV_LABEL: revision}}, "data": {"values": json.dumps(values)}})


def test_ist0158_compares_the_proxy_image_with_the_injectors_values(healthy: World) -> None:
    _injector_values(healthy, "1-19-3", "1.19.3")        # the world's sidecars run 1.18.5
    findings = diagnose(healthy.snapshot())
    stale = only(findings, "IST0158")
    # reviews is labelled with the revision; shop with the tag "stable", whose ConfigMap
    # (istio-sidecar-injector-stable) does not exist: istioctl skips it too
    assert stale.subject.name == "reviews"
    assert stale.message.startswith("The Istio proxy images of the pods running in the namespace "
                                    "do not match the image defined in the injection "
                                    "configuration (pod names: [reviews-v1-")
    assert "ConfigMap istio-sidecar-injector-1-19-3 (values.global): " \
        "docker.io/istio/proxyv2:1.19.3" in stale.evidence
    assert stale.fix is not None and stale.fix.action == "recreate-workloads"


@pytest.mark.parametrize("image", ["proxyv2", "docker.io/istio/proxyv2:1.18.5"])
def test_no_ist0158_when_the_image_matches(healthy: World, image: str) -> None:
    _injector_values(healthy, "1-19-3", "1.18.5", image=image)
    assert "IST0158" not in codes(diagnose(healthy.snapshot()))


def test_a_variant_of_the_image_and_a_pod_override_are_no_mismatch(healthy: World) -> None:
    _injector_values(healthy, "1-19-3", "1.19.3")
    for pod in healthy.of_kind("Pod", "reviews"):
        for c in pod["spec"]["containers"]:
            if c["name"] == "istio-proxy":
                c["image"] = "docker.io/istio/proxyv2:1.19.3-distroless"
    pods = healthy.of_kind("Pod", "reviews")
    pods[0]["spec"]["containers"][-1]["image"] = "registry.example/proxy:custom"
    pods[0]["metadata"]["annotations"]["sidecar.istio.io/proxyImage"] = "registry.example/proxy:custom"
    assert "IST0158" not in codes(diagnose(healthy.snapshot()))
