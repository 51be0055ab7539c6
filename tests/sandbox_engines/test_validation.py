"""Field validation of built-in kinds: paths, reasons and messages as the apiserver words them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from runbook import kinds
from runbook.sandbox.registry.validation import invalid_message, validate_object

from .conftest import load_docs

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    r"for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")


def _by_field(causes: list[Any]) -> dict[str, tuple[str, str]]:
    return {c.field: (c.reason, c.message) for c in causes}


def _docs(path: Path) -> list[dict[str, Any]]:
    return load_docs(path)


def test_upstream_objects_are_valid(upstream: Path) -> None:
    registry = kinds.default_registry()
    checked = 0
    for name in ("bookinfo.yaml", "rendered/revision-tag-prod-canary.yaml",
                 "rendered/sidecar-injector-1-18-5.yaml", "webhooks/rev-16-injector.yaml",
                 "webhooks/default-injector.yaml", "crds-networking.yaml",
                 "crds-networking-head.yaml", "injection/hello-injected-1.18.5.yaml"):
        for doc in _docs(upstream / name):
            kind = registry.by_kind(doc["apiVersion"], doc["kind"])
            assert kind is not None
            if kind.namespaced:
                doc["metadata"].setdefault("namespace", "l7-traffic-alpha")
            assert validate_object(kind, doc) == [], (name, doc["metadata"]["name"])
            checked += 1
    assert checked >= 20


def test_bad_name_gives_the_real_subdomain_message() -> None:
    causes = validate_object(kinds.CONFIG_MAPS, {"metadata": {"name": "Foo_Bar", "namespace": "x"}})
    assert _by_field(causes) == {
        "metadata.name": ("FieldValueInvalid", f'Invalid value: "Foo_Bar": {SUBDOMAIN_MSG}')}


def test_name_rules_per_kind() -> None:
    ns = validate_object(kinds.NAMESPACES, {"metadata": {"name": "a.b"}})
    assert ns[0].field == "metadata.name" and "RFC 1123 label" in ns[0].message
    svc = validate_object(kinds.SERVICES, {"metadata": {"name": "9svc", "namespace": "x"},
                                           "spec": {"ports": [{"port": 80}]}})
    assert svc[0].field == "metadata.name" and "DNS-1035 label" in svc[0].message
    missing = validate_object(kinds.PODS, {"metadata": {"namespace": "x"},
                                           "spec": {"containers": [{"name": "a", "image": "i"}]}})
    assert _by_field(missing)["metadata.name"] == (
        "FieldValueRequired", "Required value: name or generateName is required")
    generated = validate_object(kinds.PODS, {"metadata": {"generateName": "web-", "namespace": "x"},
                                             "spec": {"containers": [{"name": "a", "image": "i"}]}})
    assert generated == []
    cluster = validate_object(kinds.NODES, {"metadata": {"name": "n", "namespace": "x"}})
    assert _by_field(cluster)["metadata.namespace"] == ("FieldValueForbidden",
                                                        "Forbidden: not allowed on this type")


def test_labels_use_the_selector_rules() -> None:
    causes = validate_object(kinds.CONFIG_MAPS, {"metadata": {
        "name": "c", "namespace": "x", "labels": {"bad key!": "ok", "k": "bad value!"}}})
    assert [c.field for c in causes] == ["metadata.labels", "metadata.labels"]
    assert causes[0].message.startswith('Invalid value: "bad key!": ')
    assert causes[1].message.startswith('Invalid value: "bad value!": ')


def test_pod_requirements() -> None:
    pod = {"metadata": {"name": "p", "namespace": "x"}, "spec": {"containers": [
        {"name": "a", "ports": [{"containerPort": 0, "protocol": "HTTP"}]},
        {"name": "a", "image": "i", "volumeMounts": [{"name": "nope", "mountPath": "/x"}]}]}}
    fields = _by_field(validate_object(kinds.PODS, pod))
    assert fields["spec.containers[0].image"] == ("FieldValueRequired", "Required value")
    assert fields["spec.containers[0].ports[0].containerPort"] == (
        "FieldValueInvalid", "Invalid value: 0: must be between 1 and 65535, inclusive")
    assert fields["spec.containers[0].ports[0].protocol"] == (
        "FieldValueNotSupported",
        'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"')
    assert fields["spec.containers[1].name"] == ("FieldValueDuplicate", 'Duplicate value: "a"')
    assert fields["spec.containers[1].volumeMounts[0].name"] == ("FieldValueNotFound",
                                                                 'Not found: "nope"')
    empty = _by_field(validate_object(kinds.PODS, {"metadata": {"name": "p", "namespace": "x"},
                                                   "spec": {}}))
    assert empty["spec.containers"] == ("FieldValueRequired", "Required value")


def _deployment() -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "details-v1", "namespace": "l7"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "details"}},
                     "template": {"metadata": {"labels": {"app": "details"}},
                                  "spec": {"containers": [{"name": "details", "image": "d:1"}]}}}}


def test_deployment_selector_and_template() -> None:
    dep = _deployment()
    assert validate_object(kinds.DEPLOYMENTS, dep) == []
    dep["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    dep["spec"]["replicas"] = -1
    dep["spec"]["template"]["spec"]["containers"][0].pop("image")
    causes = validate_object(kinds.DEPLOYMENTS, dep)
    fields = _by_field(causes)
    assert fields["spec.template.metadata.labels"] == (
        "FieldValueInvalid",
        'Invalid value: {"app":"other"}: `selector` does not match template '
        "`labels`")
    assert fields["spec.replicas"] == ("FieldValueInvalid",
                                       "Invalid value: -1: must be greater than or equal to 0")
    assert fields["spec.template.spec.containers[0].image"] == ("FieldValueRequired",
                                                               "Required value")
    assert invalid_message(kinds.DEPLOYMENTS, "details-v1", causes).startswith(
        'Deployment.apps "details-v1" is invalid: [spec.replicas: Invalid value: -1: ')
    no_selector = _deployment()
    del no_selector["spec"]["selector"]
    assert _by_field(validate_object(kinds.DEPLOYMENTS, no_selector))["spec.selector"] == (
        "FieldValueRequired", "Required value")


def test_an_update_that_drops_the_selector_and_template_is_told_all_of_it() -> None:
    # as kube-apiserver 1.37 answered (tests/differential: api/update/deployments.apps step 1)
    old = _deployment()
    new = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": old["metadata"],
           "spec": {"replicas": 1}}
    causes = validate_object(kinds.DEPLOYMENTS, new, old)
    assert [(c.field, c.message) for c in causes] == [
        ("spec.selector", "Required value"),
        ("spec.template.metadata.labels",
         "Invalid value: null: `selector` does not match template `labels`"),
        ("spec.template.spec.containers", "Required value"),
        ("spec.selector", "Invalid value: null: field is immutable")]


def test_selector_is_immutable_and_bad_operators_are_422() -> None:
    old = _deployment()
    new = copy.deepcopy(old)
    new["spec"]["selector"] = {"matchLabels": {"app": "details", "v": "2"}}
    new["spec"]["template"]["metadata"]["labels"] = {"app": "details", "v": "2"}
    causes = validate_object(kinds.DEPLOYMENTS, new, old)
    assert causes[-1].field == "spec.selector"
    assert causes[-1].message.endswith(": field is immutable")
    # field.Error prints a bad value as its json.Marshal (apimachinery ErrorBody)
    assert causes[-1].message == ('Invalid value: {"matchLabels":{"app":"details","v":"2"}}: '
                                  "field is immutable")
    bad = _deployment()
    bad["spec"]["selector"] = {"matchExpressions": [{"key": "app", "operator": "Equals",
                                                     "values": ["x"]}]}
    causes = validate_object(kinds.REPLICA_SETS, bad)
    assert (causes[0].field, causes[0].reason) == ("spec.selector.matchExpressions[0].operator",
                                                   "FieldValueNotSupported")
    assert causes[0].message == ('Unsupported value: "Equals": supported values: "In", "NotIn", '
                                 '"Exists", "DoesNotExist"')


def test_service_rules() -> None:
    svc = {"metadata": {"name": "gw", "namespace": "x"}, "spec": {
        "type": "Balancer", "ports": [
            {"name": "http", "port": 70000, "targetPort": 0, "nodePort": 80},
            {"port": 443, "protocol": "TCP"}]}}
    fields = _by_field(validate_object(kinds.SERVICES, svc))
    assert fields["spec.type"] == ("FieldValueNotSupported", 'Unsupported value: "Balancer": '
                                   'supported values: "ClusterIP", "ExternalName", '
                                   '"LoadBalancer", "NodePort"')
    assert fields["spec.ports[0].port"][1] == ("Invalid value: 70000: must be between 1 and "
                                               "65535, inclusive")
    assert fields["spec.ports[0].targetPort"][0] == "FieldValueInvalid"
    assert fields["spec.ports[0].nodePort"][1] == (
        "Invalid value: 80: provided port is not in the valid range. The range of valid ports is "
        "30000-32767")
    assert fields["spec.ports[1].name"] == ("FieldValueRequired", "Required value")
    assert _by_field(validate_object(kinds.SERVICES, {"metadata": {"name": "s", "namespace": "x"},
                                                      "spec": {}}))["spec.ports"][0] == \
        "FieldValueRequired"
    old = {"metadata": {"name": "s", "namespace": "x"},
           "spec": {"clusterIP": "10.0.0.1", "ports": [{"port": 80}]}}
    new = copy.deepcopy(old)
    new["spec"]["clusterIP"] = "10.0.0.2"
    assert _by_field(validate_object(kinds.SERVICES, new, old))["spec.clusterIP"] == (
        "FieldValueInvalid", 'Invalid value: "10.0.0.2": field is immutable')


def test_webhook_configuration_rules(upstream: Path) -> None:
    mwc = _docs(upstream / "rendered/revision-tag-prod-canary.yaml")[0]
    hook = mwc["webhooks"][0]
    hook["name"] = "injector"
    hook["clientConfig"]["url"] = "https://example.com/inject"
    hook["clientConfig"]["service"]["port"] = 0
    hook.pop("sideEffects")
    hook["failurePolicy"] = "Sometimes"
    hook["namespaceSelector"] = {"matchExpressions": [{"key": "istio.io/rev", "operator": "In"}]}
    fields = _by_field(validate_object(kinds.MUTATING_WEBHOOKS, mwc))
    assert fields["webhooks[0].name"] == (
        "FieldValueInvalid",
        'Invalid value: "injector": should be a domain with at least three segments separated by '
        "dots")
    assert fields["webhooks[0].clientConfig"] == (
        "FieldValueRequired", "Required value: exactly one of url or service is required")
    assert fields["webhooks[0].sideEffects"] == ("FieldValueRequired",
                                                 "Required value: must specify one of None, "
                                                 "NoneOnDryRun")
    assert fields["webhooks[0].failurePolicy"][0] == "FieldValueNotSupported"
    assert fields["webhooks[0].namespaceSelector.matchExpressions[0].values"] == (
        "FieldValueRequired",
        "Required value: must be specified when `operator` is 'In' or 'NotIn'")
    second = mwc["webhooks"][1]
    second["clientConfig"]["service"]["port"] = 0
    second["clientConfig"]["service"]["path"] = "inject"
    fields = _by_field(validate_object(kinds.MUTATING_WEBHOOKS, mwc))
    assert fields["webhooks[1].clientConfig.service.port"] == (
        "FieldValueInvalid",
        "Invalid value: 0: port is not valid: must be between 1 and 65535, inclusive")
    assert fields["webhooks[1].clientConfig.service.path"] == (
        "FieldValueInvalid", "Invalid value: \"inject\": must start with a '/'")


def test_crd_rules(upstream: Path) -> None:
    crd = _docs(upstream / "crds-networking.yaml")[0]
    for version in crd["spec"]["versions"]:
        version["storage"] = True
    crd["spec"]["versions"][0].pop("schema")
    crd["metadata"]["name"] = "wrong.networking.istio.io"
    fields = _by_field(validate_object(kinds.CRDS, crd))
    assert fields["spec.versions"][1].endswith("must have exactly one version marked as storage "
                                               "version")
    assert fields["spec.versions[0].schema.openAPIV3Schema"] == (
        "FieldValueRequired", "Required value: schemas are required")
    assert fields["metadata.name"][1].endswith('must be spec.names.plural+"."+spec.group')


def test_config_keys_and_events() -> None:
    causes = validate_object(kinds.CONFIG_MAPS, {"metadata": {"name": "c", "namespace": "x"},
                                                 "data": {"good.key": "1", "bad key": "2"}})
    assert [c.field for c in causes] == ["data[bad key]"]
    assert causes[0].message.startswith('Invalid value: "bad key": a valid config key must '
                                        "consist of alphanumeric characters")
    event = {"metadata": {"name": "e", "namespace": "a"}, "type": "Bad",
             "involvedObject": {"kind": "ReplicaSet", "name": "rs", "namespace": "b"}}
    fields = _by_field(validate_object(kinds.EVENTS, event))
    assert fields["involvedObject.namespace"] == (
        "FieldValueInvalid", 'Invalid value: "b": does not match event.namespace')
    assert fields["type"][0] == "FieldValueNotSupported"


@pytest.mark.parametrize("kind", [kinds.NAMESPACES, kinds.SECRETS, kinds.ENDPOINTS,
                                  kinds.SERVICE_ACCOUNTS, kinds.EVENTS_V1])
def test_names_are_immutable_on_update(kind: kinds.ResourceKind) -> None:
    meta = {"name": "a", "namespace": "x"} if kind.namespaced else {"name": "a"}
    old = {"metadata": meta}
    new = {"metadata": {**meta, "name": "b"}}
    causes = validate_object(kind, new, old)
    assert ("metadata.name", "FieldValueInvalid", 'Invalid value: "b": field is immutable') in {
        (c.field, c.reason, c.message) for c in causes}
