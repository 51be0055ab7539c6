"""The differential cases: the same request and kubectl sequences for every engine.

A :class:`Case` is a named sequence of steps run on one engine started with its scenario:
:class:`Api` (an HTTP request as any client sends it, answered status + masked body) and
:class:`Kubectl` (a command line run through ``bash -c`` with the engine's kubeconfig: exit
status + masked stdout and stderr). ``{ns}`` in a step is the case's own namespace, created
first, so cases on one engine do not see each other.

Areas:

* ``api: <verb>`` — every verb on every kind the emulated engine serves (create, get, list,
  update, merge/strategic/JSON patch, server-side apply, delete, deletecollection, watch,
  pagination);
* ``errors`` — each error path (400, 403, 404, 409, 410, 415, 422) with its Status body;
* ``controllers`` and ``kubectl: issue #13`` — the flows the issue found differing;
* ``kubectl: <source>`` — every runnable command the notebooks, README, docs, exercises and the
  field report teach, in document order on a fresh ``seed-incident`` world (``sources.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.differential.sources import READ_VERBS, taught_commands


@dataclass(frozen=True)
class Api:
    """One HTTP request; ``body`` is sent as JSON (a str as it is)."""

    method: str
    path: str
    body: Any = None
    content_type: str = "application/json"
    context: str = "sandbox"
    accept: str = "application/json"


@dataclass(frozen=True)
class Kubectl:
    """One kubectl command line (``bash -c``: pipes allowed); ``timeout`` in seconds."""

    line: str
    stdin: str | None = None
    timeout: float = 20.0
    #: wait for the controllers to act on the write before the next step (a reader's pause)
    settle: bool = False


Step = Api | Kubectl


@dataclass(frozen=True)
class Case:
    """A named sequence of steps on one engine."""

    id: str
    area: str
    steps: tuple[Step, ...]
    scenario: str = "empty"
    source: str = ""
    #: run on a fresh engine (state-changing flows whose results depend on the whole world)
    fresh: bool = False


# ---------------------------------------------------------------------------- api: verb × kind


def _obj(api_version: str, kind: str, name: str, **rest: Any) -> dict[str, Any]:
    # labelled with the case's namespace: lists and watches of cluster-scoped kinds (namespaces,
    # webhook configurations) then see this case's objects only, not other cases' in any state
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "labels": {
        "diff": "{ns}"}}, **rest}


def _webhooks(kind: str, name: str) -> dict[str, Any]:
    """A webhook configuration that never matches anything (its URL is never called)."""
    return _obj("admissionregistration.k8s.io/v1", kind, name, webhooks=[{
        "name": "a.diff.test", "clientConfig": {"url": "https://127.0.0.1:1/x"},
        "admissionReviewVersions": ["v1"], "sideEffects": "None", "failurePolicy": "Ignore",
        "objectSelector": {"matchLabels": {"never": "matches"}},
        "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                   "resources": ["configmaps"]}]}])


_POD_SPEC = {"containers": [{"name": "web", "image": "nginx:1.25",
                             "ports": [{"containerPort": 80}]}]}
_TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": _POD_SPEC}
#: (kind path under the namespace or root, sample object, a change for update/patch)
_SAMPLES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "configmaps": ("api/v1/namespaces/{ns}/configmaps",
                   _obj("v1", "ConfigMap", "c1", data={"a": "1"}), {"data": {"a": "2"}}),
    "secrets": ("api/v1/namespaces/{ns}/secrets",
                _obj("v1", "Secret", "s1", stringData={"password": "x"}),
                {"stringData": {"password": "y"}}),
    "serviceaccounts": ("api/v1/namespaces/{ns}/serviceaccounts",
                        _obj("v1", "ServiceAccount", "sa1"),
                        {"metadata": {"annotations": {"team": "mesh"}}}),
    "services": ("api/v1/namespaces/{ns}/services",
                 _obj("v1", "Service", "svc1", spec={"selector": {"app": "web"}, "ports": [
                     {"name": "http", "port": 80, "targetPort": 80}]}),
                 {"metadata": {"annotations": {"team": "mesh"}}}),
    "endpoints": ("api/v1/namespaces/{ns}/endpoints",
                  _obj("v1", "Endpoints", "ep1", subsets=[{"addresses": [{"ip": "10.1.2.3"}],
                                                          "ports": [{"port": 80}]}]),
                  {"metadata": {"annotations": {"team": "mesh"}}}),
    # bound to a node nobody runs, so no scheduler races the reads (its status is masked)
    "pods": ("api/v1/namespaces/{ns}/pods",
             _obj("v1", "Pod", "p1", spec={**_POD_SPEC, "nodeName": "diff-node"}),
             {"metadata": {"annotations": {"team": "mesh"}}}),
    "events": ("api/v1/namespaces/{ns}/events",
               _obj("v1", "Event", "e1", involvedObject={"kind": "Pod", "name": "p1",
                                                         "namespace": "{ns}"},
                    reason="Tested", message="a test event", type="Normal",
                    source={"component": "diff"}),
               {"message": "changed"}),
    "resourcequotas": ("api/v1/namespaces/{ns}/resourcequotas",
                       _obj("v1", "ResourceQuota", "q1", spec={"hard": {"pods": "10"}}),
                       {"spec": {"hard": {"pods": "20"}}}),
    "limitranges": ("api/v1/namespaces/{ns}/limitranges",
                    _obj("v1", "LimitRange", "l1", spec={"limits": [{"type": "Container",
                                                                     "default": {"cpu": "1"}}]}),
                    {"metadata": {"annotations": {"team": "mesh"}}}),
    "deployments.apps": ("apis/apps/v1/namespaces/{ns}/deployments",
                         # paused: no ReplicaSet, no revision written while it is read
                         _obj("apps/v1", "Deployment", "d1", spec={
                             "replicas": 1, "paused": True,
                             "selector": {"matchLabels": {"app": "web"}},
                             "template": _TEMPLATE}),
                         {"spec": {"replicas": 2}}),
    "replicasets.apps": ("apis/apps/v1/namespaces/{ns}/replicasets",
                         _obj("apps/v1", "ReplicaSet", "r1", spec={
                             "replicas": 0, "selector": {"matchLabels": {"app": "rs"}},
                             "template": {**_TEMPLATE, "metadata": {"labels": {"app": "rs"}}}}),
                         {"spec": {"replicas": 0, "minReadySeconds": 1}}),
    "endpointslices.discovery.k8s.io": (
        "apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices",
        _obj("discovery.k8s.io/v1", "EndpointSlice", "es1", addressType="IPv4",
             endpoints=[{"addresses": ["10.1.2.3"]}], ports=[{"name": "http", "port": 80}]),
        {"metadata": {"annotations": {"team": "mesh"}}}),
    "events.events.k8s.io": (
        "apis/events.k8s.io/v1/namespaces/{ns}/events",
        _obj("events.k8s.io/v1", "Event", "ev1", eventTime="2026-01-01T00:00:00.000000Z",
             reportingController="diff", reportingInstance="diff-1", action="Test",
             reason="Tested", note="a test event", type="Normal",
             regarding={"kind": "Pod", "name": "p1", "namespace": "{ns}"}),
        {"note": "changed"}),
    "mutatingwebhookconfigurations.admissionregistration.k8s.io": (
        "apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
        _webhooks("MutatingWebhookConfiguration", "{ns}-mwc"),
        {"metadata": {"annotations": {"team": "mesh"}}}),
    "validatingwebhookconfigurations.admissionregistration.k8s.io": (
        "apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
        _webhooks("ValidatingWebhookConfiguration", "{ns}-vwc"),
        {"metadata": {"annotations": {"team": "mesh"}}}),
    "namespaces": ("api/v1/namespaces", _obj("v1", "Namespace", "{ns}-extra"),
                   {"metadata": {"annotations": {"team": "mesh"}}}),
}


def _verb_cases() -> list[Case]:
    cases = []
    for key, (collection, sample, change) in _SAMPLES.items():
        name = sample["metadata"]["name"]
        item = f"/{collection}/{name}"
        patched = {**change}
        replaced = {**sample, **{k: v for k, v in change.items() if k != "metadata"}}
        if "metadata" in change:
            replaced = {**replaced, "metadata": {**sample["metadata"], **change["metadata"]}}
        create = Api("POST", f"/{collection}", sample)
        steps: dict[str, tuple[Step, ...]] = {
            "create": (create, Api("POST", f"/{collection}?dryRun=All", {
                **sample, "metadata": {**sample["metadata"], "name": f"{name}-dry"}})),
            "get": (create, Api("GET", item)),
            "list": (create, Api("GET", f"/{collection}?labelSelector=diff%3D{{ns}}")),
            "update": (create, Api("PUT", item, replaced)),
            "patch": (create, Api("PATCH", item, patched, "application/merge-patch+json"),
                      Api("PATCH", item, [{"op": "add", "path": "/metadata/labels/extra",
                                           "value": "1"}], "application/json-patch+json"),
                      Api("PATCH", item, patched, "application/strategic-merge-patch+json")),
            "apply": (Api("PATCH", f"{item}?fieldManager=diff", sample,
                          "application/apply-patch+yaml"),
                      Api("PATCH", f"{item}?fieldManager=other", replaced,
                          "application/apply-patch+yaml"),
                      Api("PATCH", f"{item}?fieldManager=other&force=true", replaced,
                          "application/apply-patch+yaml")),
            # a namespace goes once the namespace controller emptied it: read back, it is
            # Terminating or gone depending on the machine, so only the DELETE is compared
            "delete": (create, Api("DELETE", item)) + (
                () if key == "namespaces" else (Api("GET", item),)),
            "watch": (create, Api("GET", f"/{collection}?watch=1&timeoutSeconds=1&"
                                         "labelSelector=diff%3D{ns}")),
        }
        if key != "namespaces":
            steps["deletecollection"] = (create, Api("DELETE", f"/{collection}?labelSelector="
                                                               "diff%3D{ns}"),
                                         Api("GET", f"/{collection}?labelSelector=diff%3D{{ns}}"))
            steps["pagination"] = (
                create, Api("POST", f"/{collection}", {
                    **sample, "metadata": {**sample["metadata"], "name": f"{name}-b"}}),
                Api("GET", f"/{collection}?limit=1&labelSelector=diff%3D{{ns}}"))
        for verb, sequence in steps.items():
            cases.append(Case(f"api/{verb}/{key}", f"api: {verb}", sequence))
    cases.append(_metadata_list_case())
    return cases


def _metadata_list_case() -> Case:
    """Secrets listed and read as metadata only, as the analyzer's credentialName lookup lists
    them: no value crosses the wire."""
    secrets = "/api/v1/namespaces/{ns}/secrets"
    secret = _obj("v1", "Secret", "meta-only", type="Opaque", data={"password": "aHVudGVyMg=="})
    return Case("api/list-metadata/secrets", "api: list", (
        Api("POST", secrets, secret),
        Api("GET", f"{secrets}?labelSelector=diff%3D{{ns}}",
            accept="application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
        Api("GET", f"{secrets}/meta-only",
            accept="application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"),
    ))


# ---------------------------------------------------------------------------- errors

_CM = _SAMPLES["configmaps"][1]


def _error_cases() -> list[Case]:
    cm = "/api/v1/namespaces/{ns}/configmaps"
    return [
        Case("errors/400-label-selector", "errors", (Api("GET", f"{cm}?labelSelector=a%20in%20("),)),
        Case("errors/400-dry-run-value", "errors", (Api("POST", f"{cm}?dryRun=Some", _CM),)),
        Case("errors/400-resource-version-on-create", "errors", (Api("POST", cm, {
            **_CM, "metadata": {"name": "rv", "resourceVersion": "5"}}),)),
        Case("errors/400-not-json", "errors", (Api("POST", cm, "{not json"),)),
        Case("errors/403-read-only-user", "errors",
             (Api("POST", cm, _CM, context="sandbox-readonly"),)),
        Case("errors/404-object", "errors", (Api("GET", f"{cm}/missing"),)),
        Case("errors/404-namespace", "errors",
             (Api("POST", "/api/v1/namespaces/no-such-ns/configmaps", _CM),)),
        Case("errors/404-resource", "errors", (Api("GET", "/api/v1/namespaces/{ns}/widgets"),)),
        Case("errors/409-already-exists", "errors", (Api("POST", cm, _CM), Api("POST", cm, _CM))),
        Case("errors/409-stale-resource-version", "errors", (Api("POST", cm, _CM), Api(
            "PUT", f"{cm}/c1", {**_CM, "metadata": {"name": "c1", "resourceVersion": "1"}}))),
        Case("errors/409-ssa-conflict", "errors", (
            Api("PATCH", f"{cm}/c1?fieldManager=one", _CM, "application/apply-patch+yaml"),
            Api("PATCH", f"{cm}/c1?fieldManager=two", {**_CM, "data": {"a": "9"}},
                "application/apply-patch+yaml"))),
        Case("errors/410-watch-too-old", "errors", (
            Api("GET", f"{cm}?watch=1&resourceVersion=1&timeoutSeconds=1"),)),
        Case("errors/415-patch-media-type", "errors", (
            Api("POST", cm, _CM), Api("PATCH", f"{cm}/c1", {"data": {}}, "text/plain"))),
        Case("errors/422-invalid-name", "errors", (Api("POST", cm, {
            **_CM, "metadata": {"name": "Bad_Name"}}),)),
        Case("errors/422-json-patch-test", "errors", (Api("POST", cm, _CM), Api(
            "PATCH", f"{cm}/c1", [{"op": "test", "path": "/data/a", "value": "nope"}],
            "application/json-patch+json"))),
        Case("errors/422-json-patch-remove", "errors", (Api("POST", cm, _CM), Api(
            "PATCH", f"{cm}/c1", [{"op": "remove", "path": "/data/missing"}],
            "application/json-patch+json"))),
        Case("errors/422-invalid-deployment", "errors", (Api(
            "POST", "/apis/apps/v1/namespaces/{ns}/deployments",
            _obj("apps/v1", "Deployment", "bad", spec={
                "selector": {"matchLabels": {"app": "x"}}, "template": _TEMPLATE})),)),
    ]


# ---------------------------------------------------------------------------- issue #13 flows

_WAIT_DEPLOY = "kubectl wait --for=condition=Available deploy/web -n {ns} --timeout=30s"
_WAIT_POD = "kubectl wait --for=condition=Ready pod/web -n {ns} --timeout=30s"


def _issue_cases() -> list[Case]:
    k = "kubectl: issue #13"
    return [
        Case("issue/scale", k, (
            Kubectl("kubectl create deployment web --image=nginx:1.25 -n {ns}"),
            Kubectl(_WAIT_DEPLOY),
            Kubectl("kubectl scale deploy/web -n {ns} --replicas=2"),
            Kubectl("kubectl rollout status deploy/web -n {ns} --timeout=30s"),
            Kubectl("kubectl get deploy web -n {ns}"),
            Api("PATCH", "/apis/apps/v1/namespaces/{ns}/deployments/web/scale",
                {"spec": {"replicas": 1}}, "application/merge-patch+json"))),
        Case("issue/pod-defaults", k, (
            Kubectl("kubectl run web --image=nginx:1.25 -n {ns}"),
            Kubectl(_WAIT_POD),
            Kubectl("kubectl get pod web -n {ns} -o jsonpath='{.spec.tolerations}'"),
            Kubectl("kubectl describe pod web -n {ns}"))),
        Case("issue/empty-map", k, (
            Kubectl("kubectl create configmap cfg -n {ns} --from-literal=a=1"),
            Kubectl("kubectl annotate configmap cfg -n {ns} team=mesh"),
            Kubectl("kubectl annotate configmap cfg -n {ns} team-"),
            Kubectl("kubectl get configmap cfg -n {ns} -o yaml"))),
        Case("issue/ssa-conflict-with-scenario", k, (
            Kubectl("kubectl apply --server-side -f -", stdin=(
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: l7-traffic-alpha\n"
                "  labels:\n    istio.io/rev: prod-stable\n")),), scenario="seed-incident",
             fresh=True),
        Case("issue/logs", k, (
            Kubectl("kubectl run web --image=nginx:1.25 -n {ns}"),
            Kubectl(_WAIT_POD),
            Kubectl("kubectl logs web -n {ns} --previous"),
            Kubectl("kubectl logs web -n {ns} | head -0"))),
        Case("issue/cordon", k, (
            Kubectl("kubectl cordon $(kubectl get nodes -o name | head -1)"),
            Kubectl("kubectl run web --image=nginx:1.25 -n {ns}"),
            Kubectl("kubectl wait --for=condition=PodScheduled=false pod/web -n {ns} "
                    "--timeout=30s"),
            Kubectl("kubectl get events -n {ns} --field-selector reason=FailedScheduling "
                    "-o custom-columns=REASON:.reason,MESSAGE:.message"),
            Kubectl("kubectl get pod web -n {ns} -o jsonpath='{.status.conditions}'"),
            Kubectl("kubectl uncordon $(kubectl get nodes -o name | head -1)"),
            Kubectl(_WAIT_POD)), fresh=True),
        Case("issue/describe-svc-endpoints", k, (
            Kubectl("kubectl describe svc istiod-1-18-5 -n istio-canary"),),
             scenario="seed-incident"),
        Case("issue/describe-ns", k, (Kubectl("kubectl describe ns {ns}"),)),
        Case("issue/create-deployment", k, (
            Kubectl("kubectl create deployment web --image=nginx:1.25 --port=80 -n {ns}"),
            # read once it is available: the state in between depends on the machine's load
            Kubectl(_WAIT_DEPLOY),
            Kubectl("kubectl get deploy web -n {ns} -o yaml"))),
        Case("issue/terminating", k, (
            Kubectl("kubectl run web --image=nginx:1.25 -n {ns}"),
            Kubectl(_WAIT_POD),
            Kubectl("kubectl delete pod web -n {ns} --wait=false"),
            Kubectl("kubectl get pod web -n {ns} -o jsonpath='{.metadata.deletionGracePeriodSeconds}'"),
            # its exit status: whether it still saw the pod go (and printed so) depends on the
            # machine's load (the emulated kubelet deletes it 1 s after the grace period starts)
            Kubectl("kubectl wait --for=delete pod/web -n {ns} --timeout=60s >/dev/null"))),
        Case("issue/json-patch-errors", k, (
            Kubectl("kubectl create configmap cfg -n {ns} --from-literal=a=1"),
            Kubectl("kubectl patch configmap cfg -n {ns} --type=json "
                    "-p '[{\"op\":\"test\",\"path\":\"/data/a\",\"value\":\"2\"}]'"),
            Kubectl("kubectl patch configmap cfg -n {ns} --type=json "
                    "-p '[{\"op\":\"remove\",\"path\":\"/data/b\"}]'"))),
        Case("controllers/rollout", "controllers", (
            Kubectl("kubectl create deployment web --image=nginx:1.25 --replicas=2 -n {ns}"),
            Kubectl(_WAIT_DEPLOY),
            Kubectl("kubectl set image deploy/web nginx=nginx:1.26 -n {ns}"),
            Kubectl("kubectl rollout status deploy/web -n {ns} --timeout=60s"),
            Kubectl("kubectl get rs -n {ns} -o custom-columns=DESIRED:.spec.replicas,"
                    "REVISION:.metadata.annotations.deployment\\.kubernetes\\.io/revision"),
            Kubectl("kubectl get deploy web -n {ns} -o jsonpath='{.status.conditions[*].reason}'"),
            Kubectl("kubectl get events -n {ns} --field-selector reason=ScalingReplicaSet "
                    "-o custom-columns=REASON:.reason,SOURCE:.source.component"))),
    ]


# ---------------------------------------------------------------------------- taught commands


def _taught_cases() -> list[Case]:
    """One case per source: its runnable commands in document order, on a fresh seed world
    (read-only sources share one world: their commands change nothing)."""
    by_source: dict[str, list[Kubectl]] = {}
    writes: set[str] = set()
    for command in taught_commands():
        if command.kind != "runnable":
            continue
        writing = command.verb not in READ_VERBS
        by_source.setdefault(command.source, []).append(
            Kubectl(command.shell, timeout=10.0, settle=writing))
        if writing:
            writes.add(command.source)
    return [Case(f"taught/{source}", f"kubectl: {_area_of(source)}", tuple(steps),
                 scenario="seed-incident", source=source, fresh=source in writes)
            for source, steps in by_source.items()]


def _area_of(source: str) -> str:
    if source.startswith("notebooks/"):
        return "notebooks"
    if source == "runbook/check_result.py":
        return "exercises"
    return source if source in ("README.md", "field report") else "docs"


def all_cases() -> list[Case]:
    """Every case, ids unique."""
    cases = [*_verb_cases(), *_error_cases(), *_issue_cases(), *_taught_cases()]
    ids = [c.id for c in cases]
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates, duplicates
    return cases


def namespace_for(index: int) -> str:
    """The namespace of the case at ``index`` (one per case, on a shared engine)."""
    return f"diff-{index:03d}"


def fill(value: Any, ns: str) -> Any:
    """``{ns}`` replaced in every string of a step's body."""
    if isinstance(value, str):
        return value.replace("{ns}", ns)
    if isinstance(value, dict):
        return {fill(k, ns): fill(v, ns) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, ns) for v in value]
    return value


__all__ = ["Api", "Case", "Kubectl", "Step", "all_cases", "fill", "namespace_for"]
