"""The analyzer on what a cluster serves: ServiceEntries are read over HTTP with the official client
(a cluster whose ServiceEntry CRD is installed), and they serve destination hosts as in istioctl."""

from __future__ import annotations

from typing import Any

from runbook import kinds as k
from runbook.kube import connect
from runbook.manifests import parse_manifests
from runbook.mesh.analyze import analyze
from runbook.mesh.observe import read_mesh
from tests.config.test_gateway_credentials import GATEWAY as GATEWAY_TLS

NS = "l7-traffic-beta"

def _crd(group: str, kind: str, plural: str, versions: tuple[str, ...], storage: str,
         short_name: str) -> dict[str, Any]:
    """A minimal CRD written for these tests (the upstream ones have full schemas)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group, "scope": "Namespaced",
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural,
                      "singular": kind.lower(), "shortNames": [short_name]},
            "versions": [{"name": v, "served": True, "storage": v == storage,
                          "schema": {"openAPIV3Schema": {
                              "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}
                         for v in versions],
        },
    }


SERVICE_ENTRY_CRD = _crd("networking.istio.io", "ServiceEntry", "serviceentries",
                         ("v1alpha3", "v1beta1"), "v1beta1", "se")

VS = f"""
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {{name: to-api, namespace: {NS}}}
spec:
  hosts: [api.internal]
  http:
  - route:
    - destination: {{host: api.example.com}}
"""


def test_service_entries_are_read_from_the_cluster(seed_sandbox, world_settle) -> None:  # type: ignore[no-untyped-def]
    world_settle(seed_sandbox)
    cluster = connect(seed_sandbox.kubeconfig_path, "sandbox")
    try:
        before = analyze(parse_manifests(VS, "vs.yaml"), read_mesh(cluster, with_config=True))
        assert [m for m in before.messages["message"] if m.startswith("Referenced host")] == [
            'Referenced host not found: "api.example.com"']
        cluster.create(k.CRDS, SERVICE_ENTRY_CRD)
        world_settle(seed_sandbox)
        cluster.create(k.SERVICE_ENTRIES, {
            "apiVersion": "networking.istio.io/v1beta1", "kind": "ServiceEntry",
            "metadata": {"name": "api", "namespace": "istio-system"},
            "spec": {"hosts": ["*.example.com"], "resolution": "DNS"}}, "istio-system")
        snapshot = read_mesh(cluster, with_config=True)
        assert [se["metadata"]["name"] for se in snapshot.items(k.SERVICE_ENTRIES)] == ["api"]
        after = analyze(parse_manifests(VS, "vs.yaml"), snapshot)
        assert "IST0101" not in after.codes(), after.messages.to_string()
    finally:
        cluster.close()


def test_authorization_policies_are_read_from_the_cluster(seed_sandbox, world_settle) -> None:  # type: ignore[no-untyped-def]
    world_settle(seed_sandbox)
    cluster = connect(seed_sandbox.kubeconfig_path, "sandbox")
    try:
        crd = {**SERVICE_ENTRY_CRD, "metadata": {"name": "authorizationpolicies.security.istio.io"},
               "spec": {**SERVICE_ENTRY_CRD["spec"], "group": "security.istio.io",
                        "names": {"kind": "AuthorizationPolicy",
                                  "listKind": "AuthorizationPolicyList",
                                  "plural": "authorizationpolicies",
                                  "singular": "authorizationpolicy"}}}
        cluster.create(k.CRDS, crd)
        world_settle(seed_sandbox)
        cluster.create(k.AUTHORIZATION_POLICIES, {
            "apiVersion": "security.istio.io/v1beta1", "kind": "AuthorizationPolicy",
            "metadata": {"name": "nobody", "namespace": NS},
            "spec": {"selector": {"matchLabels": {"app": "ghost"}}}}, NS)
        result = analyze(snapshot=read_mesh(cluster, with_config=True), namespace=NS)
        rows = result.messages[result.messages["code"] == "IST0127"]
        assert list(rows["name"]) == ["nobody"]
        assert list(rows["message"]) == [
            "No matching workloads for this resource with the following labels: app=ghost"]
    finally:
        cluster.close()




def test_gateway_credentials_are_looked_up_by_secret_name_only(seed_sandbox, world_settle) -> None:  # type: ignore[no-untyped-def]
    world_settle(seed_sandbox)
    cluster = connect(seed_sandbox.kubeconfig_path, "sandbox")
    gateway = parse_manifests(GATEWAY_TLS, "gw.yaml")
    try:
        # the config read lists Secrets as metadata: a missing one is reported by name
        before = analyze(gateway, read_mesh(cluster, with_config=True), namespace=NS)
        assert 'Referenced credentialName not found: "shop-cert"' in list(before.messages["message"])
        cluster.create(k.SECRETS, {
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": "shop-cert", "namespace": "istio-prod"},
            "stringData": {"tls.crt": "not-a-cert", "tls.key": "very-secret-value"}}, "istio-prod")
        snapshot = read_mesh(cluster, with_config=True)
        (secret,) = [s for s in snapshot.items(k.SECRETS) if s["metadata"]["name"] == "shop-cert"]
        assert "very-secret-value" not in repr(snapshot.objects[k.SECRETS.key])
        assert set(secret) == {"apiVersion", "kind", "metadata"}
        after = analyze(gateway, snapshot, namespace=NS)
        assert not [m for m in after.messages["message"] if "credentialName" in m]
        # its values were never read, so its certificate is not judged (IST0161): said, not guessed
        assert "IST0161" not in after.codes()
        assert any("IST0161" in why for why in after.skipped)
    finally:
        cluster.close()


K8S_GATEWAY_CRD = _crd("gateway.networking.k8s.io", "Gateway", "gateways", ("v1", "v1beta1"), "v1",
                       "gtw")

VS_TO_K8S_GATEWAY = f"""
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {{name: via-edge, namespace: {NS}}}
spec:
  hosts: [cart.shop.example.com]
  gateways: [edge]
  http:
  - route:
    - destination: {{host: productpage}}
"""


def test_gateway_api_gateways_are_read_when_their_crd_exists(seed_sandbox, world_settle) -> None:  # type: ignore[no-untyped-def]
    world_settle(seed_sandbox)
    cluster = connect(seed_sandbox.kubeconfig_path, "sandbox")
    vs = parse_manifests(VS_TO_K8S_GATEWAY, "vs.yaml")
    try:
        # no CRD: the kind is not served, and the name is checked against Istio's Gateways
        snapshot = read_mesh(cluster, with_config=True)
        assert "not served" in snapshot.unreadable[k.K8S_GATEWAYS.key]
        assert 'Referenced gateway not found: "edge"' in list(
            analyze(vs, snapshot).messages["message"])
        cluster.create(k.CRDS, K8S_GATEWAY_CRD)
        world_settle(seed_sandbox)
        cluster.create(k.K8S_GATEWAYS, {
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "edge", "namespace": NS},
            "spec": {"gatewayClassName": "istio", "listeners": [
                {"name": "http", "port": 80, "protocol": "HTTP",
                 "hostname": "*.shop.example.com"}]}}, NS)
        snapshot = read_mesh(cluster, with_config=True)
        # same plural as Istio's Gateway, kept apart by group
        assert [g["metadata"]["name"] for g in snapshot.items(k.K8S_GATEWAYS)] == ["edge"]
        assert "edge" not in [g["metadata"]["name"] for g in snapshot.items(k.GATEWAYS)]
        after = analyze(vs, snapshot)
        assert not [m for m in after.messages["message"] if '"edge"' in m or "edge." in m], \
            after.messages.to_string()
    finally:
        cluster.close()
