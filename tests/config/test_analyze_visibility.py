"""Destination hosts as istioctl resolves them: ServiceEntries from files and the cluster,
``exportTo`` on Services, ServiceEntries and VirtualServices, empty destinations, subsets of
unknown hosts, and IST0109 counted once per VirtualService (wildcards included).

Every input here is written for this test from the rules in istio/istio
``pkg/config/analysis/analyzers/util/service_lookup.go`` and
``analyzers/virtualservice/{destinationhosts,destinationrules,conflictingmeshgatewayhosts}.go``.
"""

from __future__ import annotations

from typing import Any

from runbook.manifests import Manifest, parse_manifests
from runbook.mesh.analyze import analyze
from runbook.mesh.visibility import HostTable, export_scopes

from .world import seed_world, snapshot_of

NS = "l7-traffic-beta"


def _yaml(text: str) -> list[Manifest]:
    return parse_manifests(text, "test.yaml")


def _messages(result: Any, code: str) -> list[str]:
    frame = result.messages
    return list(frame[frame["code"] == code]["message"])


def _names(result: Any, code: str) -> set[str]:
    frame = result.messages
    return set(frame[frame["code"] == code]["name"])


def _namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def _entry(name: str, namespace: str, hosts: list[str], export_to: list[str] | None = None,
           ports: list[int] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"hosts": hosts, "resolution": "DNS", "location": "MESH_EXTERNAL"}
    if export_to is not None:
        spec["exportTo"] = export_to
    if ports:
        spec["ports"] = [{"number": p, "name": f"http-{p}", "protocol": "HTTP"} for p in ports]
    return {"apiVersion": "networking.istio.io/v1beta1", "kind": "ServiceEntry",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def _world(*extra: dict[str, Any]) -> Any:
    return snapshot_of(seed_world(bookinfo_in=[NS], extra=[_namespace("other"), *extra]))


def _mesh_vs(name: str, dest: str, *, namespace: str = NS, hosts: str = "[shop.internal]",
             export_to: str = "", extra: str = "") -> str:
    return f"""
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  hosts: {hosts}
  {f"exportTo: {export_to}" if export_to else ""}
  http:
  - route:
    - destination: {{host: {dest}{extra}}}
"""


# ---------------------------------------------------------------------------- ServiceEntries


def test_a_service_entry_read_from_the_cluster_serves_its_hosts() -> None:
    vs = _mesh_vs("to-api", "api.example.com")
    assert _messages(analyze(_yaml(vs), _world(), namespace=NS), "IST0101") == [
        'Referenced host not found: "api.example.com"']
    in_cluster = analyze(_yaml(vs), _world(_entry("api", NS, ["api.example.com"])), namespace=NS)
    assert "IST0101" not in in_cluster.codes()
    wildcard = analyze(_yaml(vs), _world(_entry("all", "other", ["*.example.com"])), namespace=NS)
    assert "IST0101" not in wildcard.codes()


def test_a_wildcard_entry_exported_to_its_own_namespace_hides_nothing_elsewhere() -> None:
    # istioctl: a `hosts: ["*"]` ServiceEntry with exportTo "." serves only its own namespace
    world = _world(_entry("everything", "other", ["*"], export_to=["."]))
    result = analyze(_yaml(_mesh_vs("typo", "productpgae")), world, namespace=NS)
    assert _messages(result, "IST0101") == ['Referenced host not found: "productpgae"']
    same_ns = analyze(_yaml(_mesh_vs("typo", "productpgae", namespace="other")), world)
    assert "IST0101" not in same_ns.codes()


def test_export_to_on_service_entries_and_services() -> None:
    named = _world(_entry("api", "other", ["api.example.com"], export_to=[NS]))
    assert "IST0101" not in analyze(_yaml(_mesh_vs("a", "api.example.com")), named, namespace=NS).codes()
    elsewhere = _world(_entry("api", "other", ["api.example.com"], export_to=["."]))
    result = analyze(_yaml(_mesh_vs("a", "api.example.com")), elsewhere, namespace=NS)
    (row,) = result.findings
    assert row.code == "IST0101"
    assert any("ServiceEntry other/api defines it but is not exported to" in e for e in row.evidence)
    # a Service annotated networking.istio.io/exportTo: "." is invisible from other namespaces
    hidden = seed_world(bookinfo_in=[NS], extra=[_namespace("other")])
    for obj in hidden:
        if obj["kind"] == "Service" and obj["metadata"]["name"] == "reviews":
            obj["metadata"].setdefault("annotations", {})["networking.istio.io/exportTo"] = "."
    far = _mesh_vs("far", f"reviews.{NS}.svc.cluster.local", namespace="other",
                   extra=", port: {number: 9080}")
    assert _messages(analyze(_yaml(far), snapshot_of(hidden)), "IST0101") == [
        f'Referenced host not found: "reviews.{NS}.svc.cluster.local"']
    near = _mesh_vs("near", "reviews", extra=", port: {number: 9080}")
    assert "IST0101" not in analyze(_yaml(near), snapshot_of(hidden), namespace=NS).codes()


def test_a_virtual_service_exported_elsewhere_looks_hosts_up_from_there() -> None:
    world = _world(_entry("api", "other", ["api.example.com"], export_to=["."]))
    vs = _mesh_vs("a", "api.example.com", export_to="[other]")
    assert "IST0101" not in analyze(_yaml(vs), world, namespace=NS).codes()


def test_service_entry_ports_are_checked_like_service_ports() -> None:
    world = _world(_entry("api", NS, ["api.example.com"], ports=[80, 443]))
    no_port = analyze(_yaml(_mesh_vs("a", "api.example.com")), world, namespace=NS)
    assert _messages(no_port, "IST0112") == [
        'This VirtualService routes to a service "api.example.com" that exposes multiple ports '
        "[80 443]. Specifying a port in the destination is required to disambiguate."]
    wrong = analyze(_yaml(_mesh_vs("a", "api.example.com", extra=", port: {number: 8443}")), world,
                    namespace=NS)
    assert _messages(wrong, "IST0101") == ['Referenced host:port not found: "api.example.com:8443"']
    right = analyze(_yaml(_mesh_vs("a", "api.example.com", extra=", port: {number: 443}")), world,
                    namespace=NS)
    assert right.clean, right.messages.to_string()


def test_host_table_rules() -> None:
    assert export_scopes(None, "a") == export_scopes(["*", "."], "a") == frozenset({"*"})
    assert export_scopes([".", "b"], "a") == frozenset({"a", "b"})
    table = HostTable([], [_entry("w", "x", ["*.example.com"]), _entry("e", "x", ["one.example.org"])])
    assert table.lookup("*.api.example.com", "y") is not None     # a wildcard covers a wildcard
    assert table.lookup("*.example.org", "y") is None              # a plain host never does
    assert table.lookup("", "y") is None


# ------------------------------------------------------------------ empty destination, subsets


def test_an_empty_destination_is_a_missing_host() -> None:
    vs = _mesh_vs("empty", "productpage").replace("destination: {host: productpage}", "destination: {}")
    assert _messages(analyze(_yaml(vs), _world(), namespace=NS), "IST0101") == [
        'Referenced host not found: ""']


def test_a_subset_is_checked_even_when_its_host_is_unknown() -> None:
    vs = _mesh_vs("a", "nowhere", extra=", subset: v1")
    assert sorted(_messages(analyze(_yaml(vs), _world(), namespace=NS), "IST0101")) == [
        'Referenced host not found: "nowhere"',
        'Referenced host+subset in destinationrule not found: "nowhere+v1"']


# -------------------------------------------------------------------------------- IST0109


def test_conflicts_are_reported_once_per_virtual_service_with_wildcards() -> None:
    text = "---".join([
        _mesh_vs("a", "productpage", hosts="[productpage]", extra=", port: {number: 9080}"),
        _mesh_vs("b", "productpage", hosts="[productpage]", extra=", port: {number: 9080}"),
        _mesh_vs("c", "productpage", hosts=f'["*.{NS}.svc.cluster.local"]', export_to="['.']",
                 extra=", port: {number: 9080}"),
    ])
    result = analyze(_yaml(text), _world(), namespace=NS)
    frame = result.messages[result.messages["code"] == "IST0109"]
    assert sorted(frame["name"]) == ["a", "b", "c"]            # one each, not one per pair
    names = f"{NS}/a,{NS}/b,{NS}/c"
    assert frame[frame["name"] == "a"]["message"].item() == (
        f"The VirtualServices {names} associated with mesh gateway define the same host "
        f"*/productpage.{NS}.svc.cluster.local which can lead to undefined behavior. This can be "
        "fixed by merging the conflicting VirtualServices into a single resource.")


def test_no_conflict_across_export_scopes_or_distinct_hosts() -> None:
    text = "---".join([
        _mesh_vs("a", "productpage", hosts='["*.shop.internal"]', export_to="['.']",
                 extra=", port: {number: 9080}"),
        _mesh_vs("b", f"productpage.{NS}.svc.cluster.local", namespace="other",
                 hosts='["*.internal"]', export_to="['.']", extra=", port: {number: 9080}"),
        _mesh_vs("c", "productpage", hosts="[reviews.shop.internal2]", extra=", port: {number: 9080}"),
    ])
    assert "IST0109" not in analyze(_yaml(text), _world(), namespace=NS).codes()
    # b exported everywhere: its wildcard covers a's, which shop sees too
    shared = text.replace("exportTo: ['.']\n  http:\n  - route:\n    - destination: {host: productpage."
                          , "http:\n  - route:\n    - destination: {host: productpage.")
    assert _names(analyze(_yaml(shared), _world(), namespace=NS), "IST0109") == {"a", "b"}


def test_wildcard_hosts_exported_everywhere_are_compared_as_written() -> None:
    """istioctl: sidecars route `*.shop.internal` and `*.internal` as two virtual hosts, the most
    specific first — not a conflict unless one of them is exported to some namespaces only."""
    text = "---".join([
        _mesh_vs("a", "productpage", hosts='["*.shop.internal"]', extra=", port: {number: 9080}"),
        _mesh_vs("b", "productpage", hosts='["*.internal"]', extra=", port: {number: 9080}"),
    ])
    assert "IST0109" not in analyze(_yaml(text), _world(), namespace=NS).codes()
    scoped = text.replace("hosts: [\"*.shop.internal\"]", "hosts: [\"*.shop.internal\"]\n  exportTo: ['.']")
    assert _names(analyze(_yaml(scoped), _world(), namespace=NS), "IST0109") == {"a", "b"}
