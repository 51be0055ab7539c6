"""diagnose(): the field report's reasoning, done for every namespace at once.

The report: pods of bookinfo are never created → ``kubectl describe rs`` shows FailedCreate from
webhook ``rev.namespace.sidecar-injector.istio.io`` calling ``istio-system/istiod-1-18-5`` →
``kubectl get svc -n istio-canary`` shows a Service of that name there → the webhook is patched to
istio-canary and the ReplicaSets deleted. The toolkit must reach the same conclusion, and also
notice what the report did not: that Service reaches the 1.19.3 istiod.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from runbook import kinds as k
from runbook import wellknown as wk
from runbook.mesh import CODES, Finding, diagnose, findings_frame, has_errors, inventory
from runbook.mesh.findings import (
    ERROR,
    FINDINGS_COLUMNS,
    INFO,
    WARNING,
    CodeInfo,
    codes_markdown,
    with_codes_table,
)
from runbook.snapshot import Snapshot

from .conftest import snapshot_of
from .worlds import KINDS, REPORT_HASHES, World, report_failure, seed_world

TAG_CONFIG = "istio-revision-tag-prod-canary"
REPORT_RS = sorted(f"{d}-{h}" for d, h in REPORT_HASHES.items())


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def only(findings: list[Finding], code: str) -> Finding:
    found = [f for f in findings if f.code == code]
    assert len(found) == 1, f"{len(found)} × {code}: {[f.message for f in findings]}"
    return found[0]


# ------------------------------------------------------------------------- the field report


def test_seed_incident_chain_names_the_replicasets_webhook_and_missing_service(seed: World) -> None:
    findings = diagnose(seed.snapshot())
    errors = [f for f in findings if f.severity == "error"]
    # one finding for the namespace, not six copies (and no second error for the same cause)
    assert codes(errors) == ["MR101"]
    chain = errors[0]
    assert (chain.subject.kind, chain.subject.name) == ("Namespace", "l7-traffic-alpha")
    for rs in REPORT_RS:
        assert any(e.startswith(f"ReplicaSet {rs} ") for e in chain.evidence), rs
    assert "rev.namespace.sidecar-injector.istio.io" in chain.message
    assert TAG_CONFIG in chain.message
    assert "istio-system/istiod-1-18-5, which does not exist" in chain.message
    # ... and where it does exist, with the revision behind it
    assert "exists in istio-canary (revision 1-19-3)" in chain.message
    assert any(e.startswith("event: Internal error occurred: failed calling webhook") for e in
               chain.evidence)
    assert any("clientConfig service istio-system/istiod-1-18-5:443/inject" in e
               for e in chain.evidence)
    assert chain.namespaces == ["l7-traffic-alpha"]


def test_seed_incident_proposes_the_reports_retarget_with_a_warning(seed: World) -> None:
    chain = only(diagnose(seed.snapshot()), "MR101")
    fix = chain.fix
    assert fix is not None and fix.action == "retarget-webhook"
    p = fix.params
    assert (p["configuration"], p["service_namespace"], p["service_name"]) == (
        TAG_CONFIG, "istio-canary", "istiod-1-18-5")
    assert p["webhooks"] == ["rev.namespace.sidecar-injector.istio.io",
                             "rev.object.sidecar-injector.istio.io"]
    assert p["webhook_indexes"] == [0, 1]
    assert (p["current_service_namespace"], p["revision"], p["claimed_revision"]) == (
        "istio-system", "1-19-3", "1-18-5")
    assert fix.command.startswith(f"kubectl patch mutatingwebhookconfiguration {TAG_CONFIG} "
                                  "--type=json -p ")
    ops = json.loads(fix.command.split(" -p ", 1)[1].strip("'"))
    assert {"op": "replace", "path": "/webhooks/0/clientConfig/service/namespace",
            "value": "istio-canary"} in ops
    assert {"op": "test", "path": "/webhooks/1/clientConfig/service/namespace",
            "value": "istio-system"} in ops
    # the warning the report missed: that Service is served by 1.19.3
    assert "served by revision 1-19-3, while tag prod-canary claims 1-18-5" in chain.message


def test_seed_incident_alternative_sets_the_tag_to_the_claimed_revision(seed: World) -> None:
    alt = only(diagnose(seed.snapshot()), "MR106")
    assert alt.severity == "warning"
    assert (alt.subject.kind, alt.subject.name) == ("MutatingWebhookConfiguration", TAG_CONFIG)
    assert "makes revision 1-19-3 inject, not 1-18-5 as tag prod-canary claims" in alt.message
    fix = alt.fix
    assert fix is not None and fix.action == "set-tag-revision"
    assert (fix.params["tag"], fix.params["revision"]) == ("prod-canary", "1-18-5")
    assert (fix.params["service_namespace"], fix.params["service_name"]) == ("istio-prod", "istiod")
    assert fix.params["canonical_configuration"] == "istio-sidecar-injector-1-18-5-istio-prod"
    assert fix.command == "istioctl tag set prod-canary --revision 1-18-5 -i istio-prod --overwrite"
    # istioctl 1.18 would render istio-prod/istiod-1-18-5, which does not exist in this world
    assert any("istio-prod/istiod-1-18-5 (which does not exist" in e for e in alt.evidence)


def test_seed_incident_recreate_workloads_after_the_fix(seed: World) -> None:
    rec = only(diagnose(seed.snapshot()), "MR107")
    assert rec.severity == "info" and rec.subject.name == "l7-traffic-alpha"
    assert rec.fix is not None and rec.fix.action == "recreate-workloads"
    assert rec.fix.params["namespace"] == "l7-traffic-alpha"
    assert rec.fix.params["deployments"] == sorted(REPORT_HASHES)
    assert rec.fix.params["replicasets"] == REPORT_RS
    assert rec.fix.command.startswith("kubectl rollout restart deployment -n l7-traffic-alpha ")
    assert "after webhook rev.namespace.sidecar-injector.istio.io" in rec.message


def test_seed_incident_before_bookinfo_is_a_configuration_error(upstream: Path) -> None:
    """Before any pod fails, the broken tag is already visible (MR102, with the same fixes)."""
    findings = diagnose(seed_world(upstream, after_bookinfo=False).snapshot())
    err = only(findings, "MR102")
    assert (err.severity, err.subject.name) == ("error", TAG_CONFIG)
    assert err.fix is not None and err.fix.params["service_namespace"] == "istio-canary"
    assert err.namespaces == ["l7-traffic-alpha"]
    assert only(findings, "MR106").fix.action == "set-tag-revision"  # type: ignore[union-attr]
    assert "MR101" not in codes(findings)


def test_after_the_reports_fix_the_tag_reaches_another_revision(upstream: Path) -> None:
    """The report's retarget works — pods run — but they are injected by 1.19.3."""
    findings = diagnose(seed_world(upstream, fixed="retarget").snapshot())
    assert not has_errors(findings)
    # the old ReplicaSets' FailedCreate events outlive them: they must not count
    assert "MR101" not in codes(findings) and "MR107" not in codes(findings)
    warn = only(findings, "MR105")
    assert "tag prod-canary claims revision 1-18-5 but its webhooks reach istiod revision 1-19-3" \
        in warn.message
    assert warn.fix is not None and warn.fix.action == "set-tag-revision"
    assert warn.namespaces == ["l7-traffic-alpha"]


def test_after_set_tag_the_mesh_is_clean(upstream: Path) -> None:
    findings = diagnose(seed_world(upstream, fixed="set-tag").snapshot())
    assert [f for f in findings if f.severity != "info"] == []


def test_a_tag_moved_without_its_namespaces_is_mr110(upstream: Path) -> None:
    """Re-pointing the tag moves injection to 1-18-5, whose istiod only watches namespaces
    labelled istio.io/rev=1-18-5 unless its discoverySelectors follow the tag."""
    world = seed_world(upstream, fixed="retarget")
    world.set_tag("istio-revision-tag-prod-canary", "1-18-5", "istio-prod", "istiod", follow=False)
    (warn,) = [f for f in diagnose(world.snapshot()) if f.code == "MR110"]
    assert warn.namespaces == ["l7-traffic-alpha"]
    assert "injected by revision 1-18-5, but istiod 1-18-5 (istio-prod) does not watch" in warn.message
    assert "ConfigMap istio-prod/istio-1-18-5" in warn.message and "(1-19-3)" in warn.message


def test_moving_a_namespace_leaves_old_sidecars_ist0158(upstream: Path) -> None:
    """Retargeted first (pods injected by 1-19-3), then the tag re-pointed at 1-18-5 without a
    restart: the running pods carry the wrong revision."""
    world = seed_world(upstream, fixed="retarget")
    world.set_tag(TAG_CONFIG, "1-18-5", "istio-prod", "istiod")
    f = only(diagnose(world.snapshot()), "IST0158")
    assert f.severity == "warning" and f.subject.name == "l7-traffic-alpha"
    assert "injected by revision 1-19-3, but the namespace now injects revision 1-18-5" in f.message
    assert f.fix is not None and f.fix.action == "recreate-workloads"
    assert f.fix.params["deployments"] == sorted(REPORT_HASHES)
    assert len(f.fix.params["pods"]) == 6


def test_stale_failures_once_the_target_answers(upstream: Path) -> None:
    """Webhook fixed but nothing recreated yet: the ReplicaSets still lack pods (MR107, info)."""
    findings = diagnose(seed_world(upstream, fixed="retarget", restarted=False).snapshot())
    assert "MR101" not in codes(findings)
    stale = [f for f in findings if f.code == "MR107"]
    assert len(stale) == 1 and "answers now" in stale[0].message
    assert stale[0].fix is not None and stale[0].fix.action == "recreate-workloads"


# ----------------------------------------------------------------------- other worlds


def test_healthy_mesh_gives_no_errors(healthy: World) -> None:
    findings = diagnose(healthy.snapshot())
    assert not has_errors(findings)
    # only what istioctl analyze says of it too: the unlabelled default namespace (IST0102)
    assert [(f.code, f.subject.name) for f in findings] == [("IST0102", "default")]


def test_different_names_same_diagnosis(renamed: World) -> None:
    findings = diagnose(renamed.snapshot())
    chain = only(findings, "MR101")
    assert chain.subject.name == "storefront"
    assert "mesh-system/pilot-blue, which does not exist" in chain.message
    assert "exists in mesh-green (revision green)" in chain.message
    assert chain.fix is not None and chain.fix.params["configuration"] == "tag-live-webhooks"
    alt = only(findings, "MR106")
    assert alt.fix is not None and (alt.fix.params["service_namespace"],
                                    alt.fix.params["service_name"]) == ("mesh-blue", "discovery")
    assert alt.fix.command == "istioctl tag set live --revision blue -i mesh-blue --overwrite"
    assert only(findings, "MR107").fix.params["deployments"] == [  # type: ignore[union-attr]
        "productpage-v1", "ratings-v1"]
    assert [f.subject.name for f in findings if f.severity == "error"] == ["storefront"]


def test_no_endpoints_chain(healthy: World) -> None:
    """istiod down: its Service exists but no pod answers."""
    from runbook.formats import admission as fmt

    healthy.remove("Pod", "istio-system")
    healthy.fail_in_new_namespace("late", "ratings-v1", fmt.no_endpoints("istiod-1-19-3"),
                                  pod_hash="q8w2x4z5")
    findings = diagnose(healthy.snapshot())
    chain = only(findings, "MR101")
    assert "finds no istiod to answer" in chain.message
    assert "istiod istiod-1-19-3 (revision 1-19-3) has 0/1 ready pods" in chain.message
    assert chain.fix is None
    # the revision's own injector is broken too (no pods yet fail through it): MR103
    broken = [f for f in findings if f.code == "MR103"]
    assert [f.subject.name for f in broken] == ["istio-sidecar-injector-1-19-3"]
    assert broken[0].severity == "error" and "no endpoints available" in broken[0].message


def test_timeout_is_not_mistaken_for_a_stale_failure(healthy: World) -> None:
    """A timeout says nothing the objects can disprove: the chain stays an error, with a hint."""
    healthy.fail_in_new_namespace("slow", "details-v1", "context deadline exceeded",
                                  pod_hash="t7m4k2b9")
    chain = only(diagnose(healthy.snapshot()), "MR101")
    assert "context deadline exceeded" in chain.message and "15017" in chain.message


def test_both_injection_labels_ist0123_and_unserved_label_mr104(healthy: World) -> None:
    healthy.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "mixed", "labels": {wk.INJECTION_LABEL: "enabled", wk.REV_LABEL: "1-19-3"}}})
    healthy.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "typo", "labels": {wk.REV_LABEL: "1-19-4"}}})
    findings = diagnose(healthy.snapshot())
    both = only(findings, "IST0123")
    assert both.subject.name == "mixed" and both.severity == "warning"
    assert both.fix is not None and both.fix.action == "relabel-namespace"
    assert both.fix.params == {"namespace": "mixed", "revision": "1-19-3",
                               "drop_injection_label": True, "label": wk.INJECTION_LABEL,
                               "current_value": "enabled"}
    assert both.fix.command == "kubectl label namespace mixed istio-injection-"
    unserved = {f.subject.name: f for f in findings if f.code == "MR104"}
    # no default injector here: istio-injection=enabled wins and nothing serves it
    assert set(unserved) == {"mixed", "typo"}
    assert "istio.io/rev=1-19-4 but no injector serves it" in unserved["typo"].message
    assert "(1-19-3, stable)" in unserved["typo"].message
    assert not has_errors(findings)


def test_unlabelled_namespace_with_workloads_ist0102(healthy: World) -> None:
    healthy.add(*[o for o in healthy.of_kind("Deployment", "shop")
                  if o["metadata"]["name"] == "details-v1"], namespace="default")
    healthy.run_deployment("default", "details-v1")
    f = only(diagnose(healthy.snapshot()), "IST0102")
    assert (f.severity, f.subject.name) == ("info", "default")
    assert f.message.startswith("The namespace is not enabled for Istio injection.")


def test_no_istio_at_all(upstream: Path) -> None:
    from .worlds import bookinfo

    world = World([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}])
    world.add(*bookinfo(upstream), namespace="apps")
    world.run_all_deployments("apps")
    snap = world.snapshot()
    findings = diagnose(snap)
    assert codes(findings) == ["MR109"]
    inv = inventory(snap)
    assert inv.control_planes.empty and inv.revision_tags.empty and inv.webhook_targets.empty
    assert (inv.namespace_injection["status"] == "no injection").all()


def test_forbidden_webhooks_partial_results(seed: World) -> None:
    """A 403 on webhook configurations: say which permission is missing, diagnose the rest."""
    full = seed.snapshot()
    kinds = [kk for kk in KINDS if kk not in (k.MUTATING_WEBHOOKS, k.VALIDATING_WEBHOOKS)]
    snap = Snapshot.from_objects([o for key, items in full.objects.items() for o in items], kinds)
    snap.unreadable[k.MUTATING_WEBHOOKS.key] = (
        'forbidden: mutatingwebhookconfigurations.admissionregistration.k8s.io is forbidden: User '
        '"dev" cannot list resource "mutatingwebhookconfigurations" in API group '
        '"admissionregistration.k8s.io" at the cluster scope')
    findings = diagnose(snap)
    perm = only(findings, "MR108")
    assert perm.severity == "warning"
    assert ("missing permission to list mutatingwebhookconfigurations.admissionregistration.k8s.io "
            "at the cluster scope") in perm.message
    assert ("kubectl auth can-i list mutatingwebhookconfigurations.admissionregistration.k8s.io "
            "--all-namespaces") in perm.evidence
    # the chain is still found from the events and the Services alone, without a fix
    chain = only(findings, "MR101")
    assert "exists in istio-canary (revision 1-19-3)" in chain.message
    assert chain.fix is None and "could not be read" in chain.message


def test_replicasets_unreadable_events_still_tell(seed: World) -> None:
    full = seed.snapshot()
    snap = Snapshot.from_objects([o for key, items in full.objects.items()
                                  if key != k.REPLICA_SETS.key for o in items],
                                 [kk for kk in KINDS if kk != k.REPLICA_SETS])
    snap.unreadable[k.REPLICA_SETS.key] = "forbidden"
    chain = only(diagnose(snap), "MR101")
    assert all(any(e.startswith(f"ReplicaSet {rs}") for e in chain.evidence) for rs in REPORT_RS)
    assert chain.fix is not None and chain.fix.action == "retarget-webhook"


def test_namespace_filter(seed: World) -> None:
    snap = seed.snapshot()
    assert codes(diagnose(snap, namespace="l7-traffic-beta")) == []
    assert sorted(codes(diagnose(snap, namespace="l7-traffic-alpha"))) == ["MR101", "MR106",
                                                                          "MR107"]


# --------------------------------------------------------------------- upstream fixtures


def _ns(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def test_upstream_overlap_fixture(fixture_objects: Any) -> None:
    """istio's analyzer test data webhook.yaml: overlap + a missing 'fake' Service — IST0139 like
    ``istioctl analyze`` (two on the missing-overlap configuration, one on the other)."""
    findings = diagnose(snapshot_of(*fixture_objects("webhooks/analyzer-webhook-overlap.yaml")))
    ist = [f for f in findings if f.code == "IST0139"]
    assert sorted(f.subject.name for f in ist) == [
        "istio-sidecar-injector-missing-overlap", "istio-sidecar-injector-missing-overlap",
        "istio-sidecar-injector-overlap"]
    missing = next(f for f in ist if "does not exist" in f.message)
    assert missing.message.startswith("Injector refers to a control plane service that does not "
                                      "exist: istio-system/fake.")
    overlap = next(f for f in ist if f.subject.name == "istio-sidecar-injector-overlap")
    assert overlap.message.startswith("Webhook overlaps with others: [istio-sidecar-injector-"
                                      "missing-overlap/sidecar-injector.istio.io]. This may cause "
                                      "injection to occur twice.")
    assert all(f.severity == "error" for f in ist)


def test_upstream_default_tag_and_deactivated_default_injector(fixture_objects: Any) -> None:
    """``istioctl tag set default`` deactivates the default injector (never-match selectors): no
    overlap then; with an active default injector, the two overlap."""
    tag = fixture_objects("webhooks/revision-tag-default-test-dev2.yaml")
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "istiod-test-dev2", "namespace": "istio-system"},
           "spec": {"ports": [{"name": "https-webhook", "port": 443}], "selector": {"app": "istiod"}}}
    calm = diagnose(snapshot_of(*tag, *fixture_objects("webhooks/never-match-injector.yaml"), svc,
                                _ns("istio-system")))
    assert not any("overlaps" in f.message for f in calm)
    clash = diagnose(snapshot_of(*tag, *fixture_objects("webhooks/default-injector.yaml"), svc))
    overlaps = [f for f in clash if f.code == "IST0139" and "overlaps" in f.message]
    assert sorted(f.subject.name for f in overlaps) == ["istio-revision-tag-default",
                                                        "istio-sidecar-injector"]


def test_upstream_rev16_injector_missing_service(fixture_objects: Any) -> None:
    findings = diagnose(snapshot_of(*fixture_objects("webhooks/rev-16-injector.yaml"),
                                    _ns("istio-system"), _ns("app", **{wk.REV_LABEL: "1-16"})))
    f = only(findings, "IST0139")
    assert "istio-system/istiod-1-16" in f.message and f.fix is None
    assert f.namespaces == ["app"]


def test_rendered_tag_without_its_revision(fixture_objects: Any, seed: World) -> None:
    """The hand-rendered `istioctl tag set prod-canary --revision 1-18-5` read-back is the seed's."""
    rendered = fixture_objects("rendered/revision-tag-prod-canary.yaml")[0]
    ours = seed.find("MutatingWebhookConfiguration", TAG_CONFIG)
    assert rendered["webhooks"] == ours["webhooks"]


# --------------------------------------------------------------------------- data contract


def test_findings_are_json_and_a_frame(seed: World) -> None:
    findings = diagnose(seed.snapshot())
    data = json.loads(json.dumps([f.to_dict() for f in findings], allow_nan=False))
    assert data[0]["code"] == "MR101" and data[0]["severity"] == "error"
    assert data[0]["subject"] == {"kind": "Namespace", "namespace": None,
                                  "name": "l7-traffic-alpha"}
    assert data[0]["fix"]["action"] == "retarget-webhook"
    df = findings_frame(findings)
    assert list(df.columns) == list(FINDINGS_COLUMNS)
    assert list(df["severity"]) == [f.severity for f in findings]
    for f in findings:
        assert f.code in CODES
        assert "\n" not in f.message and f.message


def test_diagnose_reuses_an_inventory(seed: World) -> None:
    inv = inventory(seed.snapshot())
    assert [f.to_dict() for f in diagnose(inv)] == [f.to_dict() for f in diagnose(inv.model)]


def test_report_failure_message_is_the_reports() -> None:
    # the exact line `kubectl describe rs details-v1-ccbdcf56` printed in the report
    assert report_failure() == (
        'Internal error occurred: failed calling webhook "rev.namespace.sidecar-injector.istio.io":'
        ' failed to call webhook: Post "https://istiod-1-18-5.istio-system.svc:443/inject?timeout='
        '10s": service "istiod-1-18-5" not found')


def test_every_code_is_described_once_and_the_page_shows_that_description() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "findings.md").read_text()
    assert doc == with_codes_table(doc), "docs/findings.md is stale: run python docs/make_findings.py"
    for code, info in CODES.items():
        assert info.meaning and info.fix, code
        assert f"| {code} | {info.severities()} | " in doc, code


def test_the_codes_table_is_rendered_from_the_registry() -> None:
    info = CodeInfo("IST0139", ERROR, "InvalidWebhook", "istio", meaning="a `Service` is missing.",
                    fix="`retarget-webhook`", also=WARNING)
    ours = CodeInfo("MR999", INFO, "Example", "mesh-runbook", meaning="ours.")
    assert codes_markdown({"IST0139": info, "MR999": ours}).splitlines()[2:] == [
        "| IST0139 | error / warning | *InvalidWebhook*: a `Service` is missing. | `retarget-webhook` |",
        "| MR999 | info | ours. | — |",
    ]
    with pytest.raises(ValueError, match="no"):
        with_codes_table("# a page without the markers\n")


def test_rendered_injector_and_tag_pair_do_not_overlap(fixture_objects: Any) -> None:
    """What ``istioctl install --set revision=1-18-5`` and ``istioctl tag set prod-canary`` render
    (into istio-system, where the tag's Service does exist): no overlap, no missing target."""
    injector = fixture_objects("rendered/sidecar-injector-1-18-5.yaml")
    tag = fixture_objects("rendered/revision-tag-prod-canary.yaml")
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "istiod-1-18-5", "namespace": "istio-system"},
           "spec": {"selector": {"app": "istiod", wk.REV_LABEL: "1-18-5"},
                    "ports": [{"name": "https-webhook", "port": 443, "targetPort": 15017}]}}
    istiod = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "istiod-1-18-5", "namespace": "istio-system",
                           "labels": {"app": "istiod", wk.REV_LABEL: "1-18-5"}},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "istiod",
                                                                   wk.REV_LABEL: "1-18-5"}},
                       "template": {"metadata": {"labels": {"app": "istiod",
                                                            wk.REV_LABEL: "1-18-5"}},
                                    "spec": {"containers": [{"name": "discovery",
                                                             "image": "docker.io/istio/pilot:1.18.5"}]}}}}
    world = World([*injector, *tag, svc, istiod, _ns("istio-system"),
                   _ns("apps", **{wk.REV_LABEL: "prod-canary"})])
    world.run_deployment("istio-system", "istiod-1-18-5")
    snap = world.snapshot()
    assert diagnose(snap) == []
    inv = inventory(snap)
    apps = inv.namespace_injection.set_index("namespace").loc["apps"]
    assert (apps["status"], apps["tag"], apps["effective_revision"]) == ("ok", "prod-canary",
                                                                        "1-18-5")
    cp = inv.control_planes.iloc[0]
    assert cp["tags"] == ["prod-canary"] and cp["tags_reaching"] == ["prod-canary"]
    assert cp["injectors"] == ["istio-sidecar-injector-1-18-5"]


def test_injected_pod_fixture_names_its_revision(fixture_objects: Any) -> None:
    """Upstream golden output of injection: ``sidecar.istio.io/status`` says revision default."""
    from runbook.mesh.model import sidecar_revision

    dep = fixture_objects("injection/hello-injected-1.18.5.yaml")[0]
    ann = dep["spec"]["template"]["metadata"]["annotations"][wk.SIDECAR_STATUS_ANNOTATION]
    assert sidecar_revision(ann) == "default"
    assert sidecar_revision('{"containers":["istio-proxy"],"revision":"1-19-3"}') == "1-19-3"
    assert sidecar_revision("not json") is None


def test_sparse_objects_do_not_break_the_diagnosis() -> None:
    """Objects with almost nothing set (as odd controllers or old releases leave them)."""
    sparse = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "x",
                                                         "annotations": {
                                                             wk.SIDECAR_STATUS_ANNOTATION: "{}"}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "x"}},
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "s", "namespace": "x"},
         "subsets": None},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
            "name": "istiod", "namespace": "x", "labels": {"app": "istiod"}}},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "r", "namespace": "x"},
         "spec": {"replicas": None}, "status": {"conditions": [{"type": "ReplicaFailure",
                                                                "status": "True"}]}},
        {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "x"},
         "involvedObject": {"kind": "ReplicaSet", "name": "r"}, "reason": "FailedCreate"},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
         "metadata": {"name": "m"}, "webhooks": [
             {"name": "a.sidecar-injector.istio.io", "clientConfig": {"url": "https://h/inject"}},
             {"name": "b.sidecar-injector.istio.io", "clientConfig": {"service": {
                 "name": "s", "namespace": "x"}},
              "namespaceSelector": {"matchExpressions": [{"key": "k", "operator": "Bogus"}]}}]},
    ]
    snap = snapshot_of(*sparse)
    inv = inventory(snap)
    assert inv.control_planes.iloc[0]["revision"] == "default"
    assert pd.isna(inv.control_planes.iloc[0]["version"])  # no image, no version
    wt = inv.webhook_targets.set_index("webhook")
    assert wt.loc["b.sidecar-injector.istio.io", "namespace_selector"].startswith("<invalid:")
    assert wt.loc["a.sidecar-injector.istio.io", "target_status"] == "url"
    diagnose(inv)  # no exception
    json.dumps(inv.to_dict(), allow_nan=False)


def test_unserved_kind_is_not_called_a_permission_problem(healthy: World) -> None:
    snap = healthy.snapshot()
    snap.unreadable["gateways.networking.istio.io"] = (
        "gateways.networking.istio.io is not served by this cluster (the server could not find "
        "the requested resource)")
    f = only(diagnose(snap), "MR108")
    assert f.severity == "info" and "permission" not in f.message
    assert f.message.startswith("could not read gateways.networking.istio.io (")
