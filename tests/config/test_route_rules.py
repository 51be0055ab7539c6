"""IST0130/IST0131: rules and matches a VirtualService can never use (inputs written for this test
from Istio's ``analyzeUnreachableHTTPRules`` rule and the messages.yaml templates)."""

from __future__ import annotations

from runbook.manifests import parse_manifests
from runbook.mesh.analyze import analyze
from runbook.mesh.route_rules import unreachable_rules


def test_rules_after_a_catch_all_are_unreachable() -> None:
    spec = {"http": [
        {"route": [{"destination": {"host": "a"}}]},
        {"name": "late", "match": [{"uri": {"prefix": "/x"}}], "route": [{"destination": {"host": "b"}}]},
        {"route": [{"destination": {"host": "c"}}]},
    ]}
    assert unreachable_rules(spec) == [
        ("Warning", "IST0130", 'VirtualService rule "late" not used (route without matches defined before).'),
        ("Warning", "IST0130", "VirtualService rule #2 not used (only the last rule can have no matches)."),
    ]


def test_duplicate_matches_names_aside() -> None:
    spec = {"http": [
        {"match": [{"name": "first", "uri": {"exact": "/a"}}, {"uri": {"exact": "/b"}}]},
        {"match": [{"name": "again", "uri": {"exact": "/a"}}, {"uri": {"exact": "/c"}}]},
        {"name": "copy", "match": [{"uri": {"exact": "/b"}}]},
    ], "tcp": [{"match": [{"port": 80}]}, {"match": [{"port": 80}]}]}
    assert unreachable_rules(spec) == [
        ("Info", "IST0131", 'VirtualService rule #1 match "again" is not used (duplicate/overlapping '
                            "match in rule #0)."),
        ("Info", "IST0131", 'VirtualService rule "copy" match #0 is not used (duplicate/overlapping '
                            "match in rule #0)."),
        ("Warning", "IST0130", 'VirtualService rule "copy" not used (all matches used by prior rules).'),
        ("Info", "IST0131", "VirtualService rule #1 match #0 is not used (duplicate/overlapping match "
                            "in rule #0)."),
        ("Warning", "IST0130", "VirtualService rule #1 not used (all matches used by prior rules)."),
    ]


def test_distinct_matches_and_a_final_catch_all_are_fine() -> None:
    spec = {"http": [
        {"match": [{"uri": {"exact": "/a"}}]},
        {"match": [{"uri": {"exact": "/a"}, "headers": {"x": {"exact": "1"}}}]},
        {"route": [{"destination": {"host": "c"}}]},
    ], "tls": [{"match": [{"sniHosts": ["a.test"]}]}, {"match": [{"sniHosts": ["b.test"]}]}]}
    assert unreachable_rules(spec) == []


def test_the_analyzer_reports_them_on_the_virtual_service() -> None:
    text = """
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: shadowed, namespace: default}
spec:
  hosts: [a.test]
  http:
  - route: [{destination: {host: a.test}}]
  - match: [{uri: {prefix: /api}}]
    route: [{destination: {host: a.test}}]
"""
    result = analyze(parse_manifests(text, "vs.yaml"))
    rows = result.messages[result.messages["code"] == "IST0130"]
    assert list(rows["name"]) == ["shadowed"] and list(rows["source"]) == ["vs.yaml:2"]
