"""The exercises of notebooks 01 and 04 against the living sandbox: each check fails before the
exercise is done (naming what is missing), passes after its solution is applied, and catches the
plausible wrong solutions. Also notebook 04's push verdicts table and the watching table."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from runbook import kinds as k
from runbook.apps import app_path
from runbook.check_result import ExerciseCheck
from runbook.exercises.config import (
    bookinfo_deployments,
    check_bookinfo_exercise,
    check_gateway_homework,
    verify_gateway_homework,
)
from runbook.kube import Cluster
from runbook.kube.apply import apply_manifests
from runbook.manifests import Manifest, load_manifests
from runbook.mesh.observe import PUSH_VERDICT_COLUMNS, confirm_pushes, read_mesh
from runbook.mesh.pushes import WATCHING_COLUMNS, watching_table
from runbook.mesh.rollout import wait_for_rollout

ALPHA, BETA = "l7-traffic-alpha", "l7-traffic-beta"
MINE, HOMEWORK = "my-bookinfo", "nginx-homework"


@pytest.fixture
def live(seed_cluster: Cluster) -> Cluster:
    return seed_cluster


def _namespace(cluster: Cluster, name: str, **labels: str) -> None:
    cluster.request("POST", k.NAMESPACES.path(None), body={
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})


def _label(cluster: Cluster, name: str, labels: dict[str, str | None]) -> None:
    cluster.request("PATCH", k.NAMESPACES.path(None, name), body={"metadata": {"labels": labels}},
                    content_type="application/merge-patch+json")


def _restart(cluster: Cluster, namespace: str) -> None:
    """What ``kubectl rollout restart`` does: stamp every pod template."""
    for dep in cluster.list(k.DEPLOYMENTS, namespace):
        cluster.request("PATCH", k.DEPLOYMENTS.path(namespace, dep["metadata"]["name"]),
                        body={"spec": {"template": {"metadata": {"annotations": {
                            "kubectl.kubernetes.io/restartedAt": "2023-10-27T07:00:00Z"}}}}},
                        content_type="application/merge-patch+json")


def _settled(cluster: Cluster, namespace: str) -> None:
    rollout = wait_for_rollout(cluster, namespace, timeout=20, poll=0.05, progress=False)
    assert rollout.ok, rollout.summary()
    # a rollout is complete before the old ReplicaSet's pods are gone: wait for those too
    for _ in range(200):
        pods = cluster.list(k.PODS, namespace)
        if len(pods) == len(cluster.list(k.DEPLOYMENTS, namespace)):
            return
        wait_for_rollout(cluster, namespace, timeout=0.05, poll=0.05, progress=False)
    raise AssertionError(f"old pods of {namespace} did not go away")


def _verdicts(check: ExerciseCheck) -> list[bool]:
    return [line.ok for line in check.lines]


def _failing(check: ExerciseCheck, needle: str) -> str:
    (line,) = [t for t in check.still_wrong if needle in t]
    return line


# ------------------------------------------------------------------------------- notebook 01


def test_bookinfo_exercise_fails_before_and_passes_after_its_solution(live: Cluster) -> None:
    before = check_bookinfo_exercise(read_mesh(live), MINE)
    assert not before.passed
    assert before.still_wrong == [
        f"namespace {MINE} does not exist — kubectl create namespace {MINE} && kubectl label "
        f"namespace {MINE} istio.io/rev=1-19-3"]
    # the solution, as the notebook tells it
    _namespace(live, MINE, **{"istio.io/rev": "1-19-3"})
    apply_manifests(live, app_path("bookinfo"), namespace=MINE)
    _settled(live, MINE)
    after = check_bookinfo_exercise(read_mesh(live), MINE)
    assert after.passed, after.summary()
    assert len(after.lines) == 8
    assert "injected by istiod 1-19-3 (webhook calls istio-canary/istiod-revision:443)" in after.lines[2].text
    assert "all 6 pod(s) ready and Running" in after.summary()


def test_bookinfo_exercise_through_the_tag_says_why(live: Cluster) -> None:
    _namespace(live, MINE, **{"istio.io/rev": "prod-canary"})
    apply_manifests(live, app_path("bookinfo"), namespace=MINE)
    wait_for_rollout(live, MINE, timeout=0.3, poll=0.1, progress=False)
    check = check_bookinfo_exercise(read_mesh(live), MINE)
    assert _verdicts(check) == [True, False, False, True, True, False]
    assert "a revision tag (claims 1-18-5)" in _failing(check, "labelled")
    assert 'service "istiod-1-18-5" not found' in _failing(check, "would not be injected")
    # Deployments exist but have no pods: the way forward is the diagnosis, not another apply
    assert "runbook diagnose -n my-bookinfo" in _failing(check, "no pods")


def test_pods_keep_the_sidecar_they_were_created_with(live: Cluster) -> None:
    _namespace(live, MINE, **{"istio.io/rev": "1-18-5"})
    apply_manifests(live, app_path("bookinfo"), namespace=MINE)
    _settled(live, MINE)
    wrong_revision = check_bookinfo_exercise(read_mesh(live), MINE)
    assert "is labelled istio.io/rev=1-18-5, not 1-19-3" in _failing(wrong_revision, "labelled")
    assert "6 pod(s) without a 1-19-3 sidecar" in _failing(wrong_revision, "without a 1-19-3 sidecar")
    # istiod 1-19-3 watches only istio.io/rev in (1-19-3, prod-canary)
    assert "istiod 1-19-3 does not watch my-bookinfo" in _failing(wrong_revision, "watch")
    _label(live, MINE, {"istio.io/rev": "1-19-3"})
    relabelled = check_bookinfo_exercise(read_mesh(live), MINE)
    assert len(relabelled.still_wrong) == 1
    assert "kubectl rollout restart deployment -n my-bookinfo" in relabelled.still_wrong[0]
    _restart(live, MINE)
    _settled(live, MINE)
    assert check_bookinfo_exercise(read_mesh(live), MINE).passed


def test_istio_injection_label_takes_precedence(live: Cluster) -> None:
    _namespace(live, MINE, **{"istio.io/rev": "1-19-3", "istio-injection": "enabled"})
    check = check_bookinfo_exercise(read_mesh(live), MINE)
    assert "istio-injection=enabled, which takes precedence" in _failing(check, "istio-injection")
    assert "kubectl label namespace my-bookinfo istio-injection-" in _failing(check, "istio-injection")


def test_bookinfo_deployments_come_from_the_shipped_manifest() -> None:
    assert bookinfo_deployments() == ("details-v1", "productpage-v1", "ratings-v1", "reviews-v1",
                                      "reviews-v2", "reviews-v3")


# ------------------------------------------------------------------------------- notebook 04


def _homework(host: str | None = "nginx-homework.test") -> list[Manifest]:
    """The corrected exercise, with a host of the trainee's own (None: as shipped)."""
    manifests = load_manifests(app_path("sample-gateway-fixed"))
    out = []
    for m in manifests:
        obj = copy.deepcopy(m.obj)
        if host and obj["kind"] == "Gateway":
            obj["spec"]["servers"][0]["hosts"] = [host]
        if host and obj["kind"] == "VirtualService":
            obj["spec"]["hosts"] = [host]
        out.append(Manifest(obj, m.source, m.document, m.line))
    return out


def test_gateway_homework_fails_before_and_passes_after_its_solution(live: Cluster) -> None:
    # notebook 04 itself applies the corrected exercise in l7-traffic-beta first
    apply_manifests(live, app_path("sample-gateway-fixed"), namespace=BETA)
    before = verify_gateway_homework(live, HOMEWORK, timeout=5)
    assert not before.passed and len(before.lines) == 1
    assert "kubectl label namespace nginx-homework istio.io/rev=1-18-5" in before.still_wrong[0]
    _namespace(live, HOMEWORK, **{"istio.io/rev": "1-18-5"})
    apply_manifests(live, _homework(), namespace=HOMEWORK)
    _settled(live, HOMEWORK)
    after = verify_gateway_homework(live, HOMEWORK, timeout=10)
    assert after.passed, after.summary()
    text = after.summary()
    assert "Gateway nginx-homework/nginx-sample-gateway is served by istio-prod/istio-ingressgateway" in text
    assert "app=echo-sample is reached by route(s) nginx-sample → Service echo-sample" in text
    assert "VirtualService nginx-homework/nginx-sample was pushed by istiod 1-18-5" in text


def test_the_reports_file_as_written_is_pushed_but_does_not_work(live: Cluster) -> None:
    _namespace(live, HOMEWORK, **{"istio.io/rev": "1-18-5"})
    apply_manifests(live, app_path("sample-gateway.yml"), namespace=HOMEWORK)
    check = verify_gateway_homework(live, HOMEWORK, timeout=10)
    assert not check.passed
    # what the report saw holds: istiod 1-18-5 pushed both objects …
    assert "Gateway nginx-homework/nginx-sample-gateway was pushed by istiod 1-18-5" in check.summary()
    assert "VirtualService nginx-homework/nginx-sample was pushed by istiod 1-18-5" in check.summary()
    # … and nothing of it works
    assert "istioctl analyze -n nginx-homework: 6 problem(s)" in _failing(check, "istioctl analyze")
    assert "app=nginx-sample: no pods" in _failing(check, "app=nginx-sample: no pods")
    assert "nginx-sample-v1, which is no Service" in _failing(check, "reaches the app=nginx-sample")


def test_the_same_host_twice_on_one_gateway_is_a_conflict(live: Cluster) -> None:
    apply_manifests(live, app_path("sample-gateway-fixed"), namespace=BETA)
    _namespace(live, HOMEWORK, **{"istio.io/rev": "1-18-5"})
    apply_manifests(live, _homework(host=None), namespace=HOMEWORK)
    _settled(live, HOMEWORK)
    check = verify_gateway_homework(live, HOMEWORK, timeout=10)
    (conflict,) = check.still_wrong
    assert conflict.startswith("Gateway nginx-homework/nginx-sample-gateway conflicts (IST0145): "
                               "nginx-sample-gateway.test:80 also claimed by Gateway "
                               "l7-traffic-beta/nginx-sample-gateway")
    # "*" claims every host
    apply_manifests(live, _homework(host="*"), namespace=HOMEWORK)
    check = verify_gateway_homework(live, HOMEWORK, timeout=10)
    assert "*:80 also claimed by Gateway l7-traffic-beta/nginx-sample-gateway" in _failing(
        check, "IST0145")


def test_a_gateway_whose_istiod_ignores_it_serves_nothing(live: Cluster) -> None:
    # a namespace of revision 1-19-3: its Gateway selects 1-18-5's gateway pods, whose istiod
    # does not watch the namespace — nobody programs them, and 1-18-5 never pushes the config
    _namespace(live, HOMEWORK, **{"istio.io/rev": "1-19-3"})
    apply_manifests(live, _homework(), namespace=HOMEWORK)
    _settled(live, HOMEWORK)
    check = verify_gateway_homework(live, HOMEWORK, timeout=2)
    assert "MR202" in _failing(check, "istioctl analyze")
    assert "reaches no gateway pods of revision 1-18-5" in _failing(check, "reaches no gateway")
    pushed = _failing(check, "Gateway nginx-homework/nginx-sample-gateway not confirmed")
    assert "pushed by 1-19-3" in pushed or "carried unnamed by 1-19-3" in pushed


def test_homework_check_needs_the_config_and_the_push_verdicts(live: Cluster) -> None:
    _namespace(live, HOMEWORK, **{"istio.io/rev": "1-18-5"})
    apply_manifests(live, _homework(), namespace=HOMEWORK)
    _settled(live, HOMEWORK)
    without_config = check_gateway_homework(read_mesh(live), HOMEWORK)
    assert without_config.still_wrong == [
        "the Istio config was not read — pass read_mesh(cluster, with_config=True)"]
    no_pushes = check_gateway_homework(read_mesh(live, with_config=True), HOMEWORK)
    assert [t.split(":")[0] for t in no_pushes.still_wrong] == [
        "Gateway nginx-homework/nginx-sample-gateway not confirmed as pushed by 1-18-5",
        "VirtualService nginx-homework/nginx-sample not confirmed as pushed by 1-18-5"]


def test_push_verdicts_of_what_was_applied(live: Cluster) -> None:
    applied = apply_manifests(live, app_path("bookinfo-gateway"), namespace=ALPHA)
    fixed = apply_manifests(live, app_path("sample-gateway-fixed"), namespace=BETA)
    verdicts = confirm_pushes(live, applied, timeout=10)
    assert list(verdicts.columns) == list(PUSH_VERDICT_COLUMNS)
    assert list(verdicts["name"]) == ["bookinfo-gateway", "bookinfo"]
    assert verdicts["confirmed"].all()
    assert [row.expected for row in verdicts.itertuples()] == [["1-19-3"], ["1-19-3"]]
    assert [row.not_watching for row in verdicts.itertuples()] == [["1-18-5"], ["1-18-5"]]
    beta = confirm_pushes(live, fixed, timeout=10)
    # Services and Deployments are no Istio config: left out
    assert sorted(beta["kind"]) == ["DestinationRule", "DestinationRule", "Gateway", "VirtualService"]
    assert beta["confirmed"].all() and {tuple(e) for e in beta["expected"]} == {("1-18-5",)}
    assert all(set(row.pushed_by) | set(row.carried_by) == {"1-18-5"} for row in beta.itertuples())
    missing = confirm_pushes(live, [("Gateway", ALPHA, "not-applied")], timeout=1)
    assert not missing["confirmed"].iloc[0]
    assert missing["verdict"].iloc[0] == ("Gateway l7-traffic-alpha/not-applied: not in the cluster "
                                          "(not applied — a dry run?)")


def test_watching_table_says_which_revision_takes_in_which_namespace(live: Cluster) -> None:
    table = watching_table(read_mesh(live), [ALPHA, BETA, "istio-system"])
    assert list(table.columns) == list(WATCHING_COLUMNS)
    rows: dict[str, Any] = {r.revision: r for r in table.itertuples()}
    assert rows["1-19-3"].watches == [ALPHA] and rows["1-19-3"].istiod_namespace == "istio-canary"
    assert rows["1-18-5"].watches == [BETA] and rows["1-18-5"].configmap == "istio-1-18-5"
    assert rows["1-18-5"].ignores == [ALPHA, "istio-system"]
    assert "istio.io/rev in (1-19-3,prod-canary)" in rows["1-19-3"].discovery_selectors
