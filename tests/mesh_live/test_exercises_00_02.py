"""Notebooks 00 and 02: their exercises done for real against the living seed world, and the
``kubectl describe rs`` Events section the notebooks print, compared with the real kubectl.

Each exercise check fails before the exercise is done (saying what is missing), fails on the
tempting wrong answers (the Service's *name* is not its revision; a label nobody serves does not
block pods), and passes once the solution is applied — found with the very kubectl commands the
notebook suggests, where kubectl is installed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runbook import kinds as k
from runbook.apps import app_path
from runbook.exercises.diagnosis import check_broken_namespace, check_service_hunt, namespace_causes
from runbook.formats.kubectl import describe_events, event_age, human_duration
from runbook.kube import Cluster, connect
from runbook.kube.apply import apply_manifests
from runbook.mesh.observe import diagnose_cluster, read_mesh
from runbook.sandbox import Sandbox
from tests.conftest import advance_world
from tests.sandbox_world.helpers import kubectl_for
from tests.waiting import wait_until

ALPHA, GAMMA = "l7-traffic-alpha", "l7-traffic-gamma"
SERVICE = "istiod-1-18-5"


@pytest.fixture
def live():  # type: ignore[no-untyped-def]
    """The seed world on a real clock with fast pod starts (the exercises wait for pods)."""
    with Sandbox(scenario="seed-incident", pod_start_seconds=0.05) as sb:
        c = connect(sb.kubeconfig_path, "sandbox")
        yield sb, c
        c.close()


def _wait(cluster: Cluster, namespace: str, pods: int, timeout: float = 10.0) -> None:
    """Until ``namespace`` has ``pods`` Running pods (the controllers run on a real clock)."""
    wait_until(lambda: len([p for p in cluster.list(k.PODS, namespace)
                            if (p.get("status") or {}).get("phase") == "Running"]) >= pods,
               f"{pods} running pods in {namespace}", timeout)


def _failing(cluster: Cluster, namespace: str, replicasets: int, timeout: float = 10.0) -> None:
    """Until ``replicasets`` ReplicaSets of ``namespace`` report FailedCreate."""
    wait_until(lambda: len({e["involvedObject"]["name"] for e in cluster.list(
        k.EVENTS, namespace, field_selector="reason=FailedCreate")}) >= replicasets,
        f"{replicasets} ReplicaSets of {namespace} failing", timeout)


# ------------------------------------------------------------------- notebook 00: Service hunt


def _solution_by_api(cluster: Cluster) -> dict[str, object]:
    """The hunt done with plain API reads (what the kubectl commands of the notebook show)."""
    (svc,) = [s for s in cluster.list(k.SERVICES) if s["metadata"]["name"] == SERVICE]
    ns = svc["metadata"]["namespace"]
    ep = cluster.get(k.ENDPOINTS, SERVICE, ns)
    pods = [a["targetRef"]["name"] for s in ep["subsets"] for a in s["addresses"]]
    revision = cluster.get(k.PODS, pods[0], ns)["metadata"]["labels"]["istio.io/rev"]
    return {"namespace": ns, "pods": pods, "revision": revision}


def test_service_hunt_fails_until_answered_and_on_the_names_suggestion(live) -> None:  # type: ignore[no-untyped-def]
    _, cluster = live
    snap = read_mesh(cluster)
    empty = check_service_hunt(snap, {}, service=SERVICE)
    assert not empty.passed and empty.attempted
    assert "metadata.name=istiod-1-18-5" in empty.still_wrong[0]
    assert "istio-canary" not in empty.summary()  # the answer is not given before the attempt
    where_the_tag_looks = check_service_hunt(snap, {"namespace": "istio-system"}, service=SERVICE)
    assert not where_the_tag_looks.passed
    assert "where a webhook looks for it" in where_the_tag_looks.still_wrong[0]
    right = _solution_by_api(cluster)
    assert right["namespace"] == "istio-canary" and right["revision"] == "1-19-3"
    named = check_service_hunt(snap, {**right, "revision": "1-18-5"}, service=SERVICE)
    assert not named.passed
    assert named.still_wrong == [named.lines[-1].text] and "the name is only a name" in named.lines[-1].text
    wrong_pod = check_service_hunt(snap, {**right, "pods": "istiod-1-18-5-abc"}, service=SERVICE)
    assert not wrong_pod.passed and "istiod-1-18-5-abc not behind it" in wrong_pod.still_wrong[0]
    solved = check_service_hunt(snap, right, service=SERVICE)
    assert solved.passed, solved.summary()
    assert "a name is not a revision" in solved.summary()
    # one pod given as text, as a trainee would paste it
    assert check_service_hunt(snap, {**right, "pods": f" {right['pods'][0]} "},  # type: ignore[index]
                              service=SERVICE).passed


def test_service_hunt_of_a_name_nobody_uses_says_so(live) -> None:  # type: ignore[no-untyped-def]
    _, cluster = live
    check = check_service_hunt(read_mesh(cluster), {"namespace": "x"}, service="istiod-9-9-9")
    assert not check.passed and "no namespace of this cluster" in check.still_wrong[0]


@pytest.mark.kubectl
def test_service_hunt_solved_with_the_notebooks_kubectl_commands(live, kubectl: str,  # type: ignore[no-untyped-def]
                                                                 tmp_path: Path) -> None:
    sb, cluster = live
    kc = kubectl_for(kubectl, sb, tmp_path)
    ns = kc("get", "svc", "-A", f"--field-selector=metadata.name={SERVICE}", "-o",
            "jsonpath={.items[*].metadata.namespace}").stdout.split()
    pods = kc("get", "endpoints", SERVICE, "-n", ns[0], "-o",
              "jsonpath={.subsets[*].addresses[*].targetRef.name}").stdout.split()
    table = kc("get", "pods", "-n", ns[0], "-L", "istio.io/rev").stdout.splitlines()
    revision = next(line.split()[-1] for line in table[1:] if line.split()[0] == pods[0])
    check = check_service_hunt(read_mesh(cluster), {"namespace": ns[0], "pods": pods,
                                                    "revision": revision}, service=SERVICE)
    assert check.passed, check.summary()


# --------------------------------------------------------------- notebook 02: broken namespace


def test_broken_namespace_two_ways(live) -> None:  # type: ignore[no-untyped-def]
    _, cluster = live
    before = check_broken_namespace(read_mesh(cluster), GAMMA, {"code": "MR104",
                                                               "pods_created": True})
    assert not before.passed and "kubectl create namespace l7-traffic-gamma" in before.still_wrong[0]

    # way 1: a revision nobody runs — pods start, without a sidecar
    cluster.create(k.NAMESPACES, {"metadata": {"name": GAMMA, "labels": {"istio.io/rev": "1-17-0"}}})
    no_app = check_broken_namespace(read_mesh(cluster), GAMMA, {})
    assert not no_app.passed and "has no Deployment" in no_app.still_wrong[0]
    apply_manifests(cluster, app_path("bookinfo"), namespace=GAMMA)
    _wait(cluster, GAMMA, 6)
    snap = read_mesh(cluster)
    unanswered = check_broken_namespace(snap, GAMMA, {})
    assert not unanswered.passed and len(unanswered.still_wrong) == 2
    assert "MR104" not in unanswered.summary()  # finding the code is the exercise
    guessed = check_broken_namespace(snap, GAMMA, {"code": "MR101", "pods_created": False})
    assert not guessed.passed
    assert [ln for ln in guessed.still_wrong if "the diagnosis says MR104" in ln]
    assert [ln for ln in guessed.still_wrong if "pods created is True, not False" in ln]
    solved = check_broken_namespace(snap, GAMMA, {"code": "mr104", "pods_created": "yes"})
    assert solved.passed, solved.summary()
    assert "6 pod(s), 0 with a sidecar" in solved.summary()

    # way 2: the broken tag — new pods are refused
    cluster.patch(k.NAMESPACES, GAMMA, {"metadata": {"labels": {"istio.io/rev": "prod-canary"}}})
    for pod in cluster.list(k.PODS, GAMMA):
        cluster.delete(k.PODS, pod["metadata"]["name"], GAMMA)
    _failing(cluster, GAMMA, 6)
    # the deleted pods terminate on the kubelet's clock
    wait_until(lambda: not cluster.list(k.PODS, GAMMA), f"the deleted pods of {GAMMA} gone", 10)
    snap = read_mesh(cluster)
    assert [f.code for f in namespace_causes(diagnose_cluster(cluster, namespace=GAMMA)[1],
                                             GAMMA)][:1] == ["MR101"]
    stale = check_broken_namespace(snap, GAMMA, {"code": "MR104", "pods_created": True})
    assert not stale.passed and len(stale.still_wrong) == 2
    solved = check_broken_namespace(snap, GAMMA, {"code": "MR101", "pods_created": False})
    assert solved.passed, solved.summary()
    assert "failurePolicy is Fail" in solved.summary()


def test_a_namespace_that_works_is_not_the_exercise(live) -> None:  # type: ignore[no-untyped-def]
    _, cluster = live
    cluster.create(k.NAMESPACES, {"metadata": {"name": GAMMA, "labels": {"istio.io/rev": "1-19-3"}}})
    apply_manifests(cluster, app_path("bookinfo"), namespace=GAMMA)
    _wait(cluster, GAMMA, 6)
    check = check_broken_namespace(read_mesh(cluster), GAMMA, {"code": "MR104",
                                                              "pods_created": True})
    assert not check.passed
    assert "is not broken" in check.still_wrong[0] and "1-19-3" in check.still_wrong[0]


# ------------------------------------------------------------- kubectl describe rs, reproduced


def test_event_age_follows_kubectl() -> None:
    now = datetime(2023, 10, 27, 6, 0, 55, tzinfo=UTC)
    first = (now - timedelta(seconds=277)).strftime("%Y-%m-%dT%H:%M:%SZ")
    last = (now - timedelta(seconds=113)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert event_age({"count": 16, "firstTimestamp": first, "lastTimestamp": last}, now) == (
        "113s (x16 over 4m37s)")
    assert event_age({"count": 1, "firstTimestamp": first, "lastTimestamp": first}, now) == "4m37s"
    micro = (now - timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert event_age({"eventTime": micro, "series": {"count": 3, "lastObservedTime": micro}},
                     now) == "30s (x3 over 30s)"
    assert event_age({}, now) == "<unknown>"
    assert [human_duration(s) for s in (119, 120, 599, 3 * 3600 + 60, 50 * 3600)] == [
        "119s", "2m", "9m59s", "3h1m", "2d2h"]
    assert describe_events([], kind="ReplicaSet", namespace="x", name="y") == "Events:  <none>"
    assert describe_events([], kind="ReplicaSet", namespace="x") == "No events found."


@pytest.mark.kubectl
def test_describe_events_prints_what_kubectl_describe_rs_prints(kubectl: str,
                                                                tmp_path: Path) -> None:
    # kubectl counts ages from its own clock: the sandbox clock starts 4m37s before now
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=277)
    with Sandbox(scenario="seed-incident", clock="manual", clock_start=start) as sb:
        kc = kubectl_for(kubectl, sb, tmp_path)
        kc("apply", "-f", str(app_path("bookinfo")), "-n", ALPHA)
        advance_world(sb, 200)  # 16 failures with the controller's back-off
        with connect(sb.kubeconfig_path, "sandbox") as cluster:
            events = read_mesh(cluster).items(k.EVENTS)
            rs = sorted({e["involvedObject"]["name"] for e in events
                         if e["involvedObject"]["namespace"] == ALPHA})[0]
            for _ in range(3):  # ages are whole seconds: retry if a second boundary was crossed
                before = datetime.now(UTC)
                described = kc("describe", "rs", rs, "-n", ALPHA).stdout
                after = datetime.now(UTC)
                section = described[described.index("Events:"):].rstrip()
                ours = {describe_events(events, kind="ReplicaSet", namespace=ALPHA, name=rs,
                                        now=t) for t in (before, after)}
                if section in ours:
                    break
            assert section in ours, f"kubectl:\n{section}\nours:\n{ours}"
            assert "(x16 over 4m" in section
            every = describe_events(events, kind="ReplicaSet", namespace=ALPHA, now=after)
            assert every.count("Name:") == 6 and every.count("FailedCreate") == 6
