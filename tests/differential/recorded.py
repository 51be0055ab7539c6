"""What a real control plane answers at a few steps, recorded from its source code (not measured
here): the behaviours issue #13 found differing. While the real engine cannot run, these are the
checks against real behaviour the harness has; each names where upstream the answer comes from.

An expectation maps a dotted path into the step's observation (``body.apiVersion``, ``stderr``)
to the value it must have; a key ending in ``~`` wants a substring, ``!~`` its absence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

_UNSCHEDULABLE = ("0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes "
                  "are available: 1 Preemption is not helpful for scheduling.")

#: where a created object's first managedFields entry records the fields its writer owns
_FIELDS = "body.metadata.managedFields.0.fieldsV1"


def _fields(text: str) -> Any:
    return json.loads(text)


@dataclass(frozen=True)
class Recorded:
    """The real answer at one step of one case."""

    case: str
    step: int
    expect: dict[str, Any]
    source: str


RECORDED: tuple[Recorded, ...] = (
    Recorded("issue/scale", 5, {"status": 200, "body.apiVersion": "autoscaling/v1",
                                "body.kind": "Scale"},
             "pkg/registry/apps/deployment/storage: ScaleREST answers an autoscaling/v1 Scale"),
    Recorded("issue/scale", 2, {"exit": 0, "stdout": "deployment.apps/web scaled\n", "stderr": ""},
             "kubectl/pkg/cmd/scale: prints `<resource>/<name> scaled` once the answer decodes"),
    Recorded("errors/404-object", 0, {"status": 404, "newline": True},
             "apimachinery runtime/serializer/json: Encode writes with json.Encoder (ends in \\n)"),
    Recorded("issue/pod-defaults", 2, {"stdout": (
        '[{"effect":"NoExecute","key":"node.kubernetes.io/not-ready","operator":"Exists",'
        '"tolerationSeconds":300},{"effect":"NoExecute","key":"node.kubernetes.io/unreachable",'
        '"operator":"Exists","tolerationSeconds":300}]')},
             "plugin/pkg/admission/defaulttolerationseconds (enabled by default, 300 s)"),
    Recorded("issue/pod-defaults", 3, {"stdout~": "Tolerations:  node.kubernetes.io/not-ready:"
                                                  "NoExecute op=Exists for <age>"},
             "kubectl describe pod prints the defaulted tolerations"),
    Recorded("issue/empty-map", 3, {"stdout!~": "annotations"},
             "k8s.io/apimachinery ObjectMeta: `annotations,omitempty` drops an empty map"),
    Recorded("issue/logs", 2, {"exit": 1, "stderr": (
        'Error from server (BadRequest): previous terminated container "web" in pod "web" not '
        "found\n")},
             "kubelet kuberuntime validateContainerLogStatus; apiserver GenericHttpResponseChecker "
             "→ NewBadRequest"),
    Recorded("issue/cordon", 3, {"stdout~": f"FailedScheduling  {_UNSCHEDULABLE}"},
             "kube-scheduler FitError.Error() with the NodeUnschedulable plugin's reason and "
             "defaultpreemption's message"),
    Recorded("issue/cordon", 4, {"stdout~": '"reason":"Unschedulable","status":"False",'
                                            '"type":"PodScheduled"'},
             "kube-scheduler handleSchedulingFailure: PodScheduled=False, reason Unschedulable"),
    Recorded("issue/describe-svc-endpoints", 0, {"stdout~": "Endpoints:  <ip>:15017",
                                                 "stdout!~": "Endpoints:  <none>"},
             "kubectl 1.32 describe service reads discovery.k8s.io/v1 EndpointSlices"),
    Recorded("issue/describe-ns", 0, {"stdout~": "No resource quota.\n\nNo LimitRange resource.\n"},
             "kubectl describe namespace: ResourceQuotas and LimitRanges listed (none: these lines)"),
    Recorded("issue/create-deployment", 0, {"exit": 0, "stdout": "deployment.apps/web created\n"},
             "kubectl create deployment sends protobuf; kube-apiserver decodes it"),
    Recorded("issue/terminating", 3, {"stdout": "30"},
             "pod strategy CheckGracefulDelete: terminationGracePeriodSeconds (30 by default)"),
    Recorded("issue/ssa-conflict-with-scenario", 0, {
        "exit": 1, "stderr~": 'Apply failed with 1 conflict: conflict with "kubectl-client-side-'
                              'apply" using v1: .metadata.labels.istio.io/rev'},
             "structured-merge-diff: a field another manager set conflicts"),
    Recorded("errors/422-json-patch-test", 1, {
        "status": 422, "body.message": "the server rejected our request due to an error in our "
                                       "request", "body.details": {}},
             "measured on the real engine (kube-apiserver 1.37.2): the generic 422, empty details"),
    Recorded('api/create/services', 0, {_FIELDS: _fields(
        '{"f:metadata":{"f:labels":{".":{},"f:diff":{}}},'
        '"f:spec":{"f:internalTrafficPolicy":{},"f:ports":{".":{},"k:{\\"port\\":80,'
        '\\"protocol\\":\\"TCP\\"}":{".":{},"f:name":{},"f:port":{},"f:protocol":{},'
        '"f:targetPort":{}}},"f:selector":{},"f:sessionAffinity":{},"f:type":{}}}')},
             "measured on the real engine (kube-apiserver 1.37): a Service's allocated clusterIP(s) "
             "and IP families are nobody's (the REST allocator fills them in after the field "
             'manager)'),
    Recorded('api/create/namespaces', 0, {_FIELDS: _fields(
        '{"f:metadata":{"f:labels":{".":{},"f:diff":{},"f:kubernetes.io/metadata.name":{}}}}')},
             'measured on the real engine (kube-apiserver 1.37): the `kubernetes` finalizer is '
             "nobody's (the strategy's PrepareForCreate); the name label is the writer's "
             '(defaulting)'),
    Recorded('api/create/deployments.apps', 0, {_FIELDS: _fields(
        '{"f:metadata":{"f:labels":{".":{},"f:diff":{}}},"f:spec":{"f:paused":{},'
        '"f:progressDeadlineSeconds":{},"f:replicas":{},"f:revisionHistoryLimit":{},'
        '"f:selector":{},"f:strategy":{"f:rollingUpdate":{".":{},"f:maxSurge":{},'
        '"f:maxUnavailable":{}},"f:type":{}},"f:template":{"f:metadata":{"f:labels":{".":{},'
        '"f:app":{}}},"f:spec":{"f:containers":{"k:{\\"name\\":\\"web\\"}":{".":{},"f:image":{},'
        '"f:imagePullPolicy":{},"f:name":{},"f:ports":{".":{},"k:{\\"containerPort\\":80,'
        '\\"protocol\\":\\"TCP\\"}":{".":{},"f:containerPort":{},"f:protocol":{}}},'
        '"f:resources":{},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},'
        '"f:dnsPolicy":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},'
        '"f:terminationGracePeriodSeconds":{}}}}}')},
             'measured on the real engine (kube-apiserver 1.37): a pointer struct the write adds '
             '(rollingUpdate) gets `.`; containers, null in the Go zero value, does not'),
    Recorded('api/create/pods', 0, {_FIELDS: _fields(
        '{"f:metadata":{"f:labels":{".":{},"f:diff":{}}},'
        '"f:spec":{"f:containers":{"k:{\\"name\\":\\"web\\"}":{".":{},"f:image":{},'
        '"f:imagePullPolicy":{},"f:name":{},"f:ports":{".":{},"k:{\\"containerPort\\":80,'
        '\\"protocol\\":\\"TCP\\"}":{".":{},"f:containerPort":{},"f:protocol":{}}},'
        '"f:resources":{},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},'
        '"f:dnsPolicy":{},"f:enableServiceLinks":{},"f:nodeName":{},"f:restartPolicy":{},'
        '"f:schedulerName":{},"f:securityContext":{},"f:terminationGracePeriodSeconds":{}}}')},
             'measured on the real engine (kube-apiserver 1.37): what admission adds (tolerations, '
             "serviceAccount, priority, preemptionPolicy) is nobody's"),
    Recorded('api/create/mutatingwebhookconfigurations.admissionregistration.k8s.io', 0, {_FIELDS: _fields(
        '{"f:metadata":{"f:labels":{".":{},"f:diff":{}}},"f:webhooks":{".":{},'
        '"k:{\\"name\\":\\"a.diff.test\\"}":{".":{},"f:admissionReviewVersions":{},'
        '"f:clientConfig":{".":{},"f:url":{}},"f:failurePolicy":{},"f:matchPolicy":{},'
        '"f:name":{},"f:namespaceSelector":{},"f:objectSelector":{},'
        '"f:reinvocationPolicy":{},"f:rules":{},"f:sideEffects":{},"f:timeoutSeconds":{}}}}')},
             'measured on the real engine (kube-apiserver 1.37): a struct inside an added list '
             'element (clientConfig) gets `.`'),
    Recorded('api/create/events', 0, {_FIELDS: _fields(
        '{"f:involvedObject":{},"f:message":{},"f:metadata":{"f:labels":{".":{},'
        '"f:diff":{}}},"f:reason":{},"f:source":{"f:component":{}},"f:type":{}}')},
             "measured on the real engine (kube-apiserver 1.37): what a core Event's zero value "
             "holds (null times, empty reporting strings) is nobody's"),
    Recorded("api/apply/secrets", 1, {
        "status": 409, "body.message": 'Apply failed with 1 conflict: conflict with "diff": '
                                       ".stringData.password"},
             "measured on the real engine (kube-apiserver 1.37): a field another manager applied "
             "conflicts even when the live object does not hold it (stringData is write-only)"),
)


def _lookup(observation: Any, path: str) -> Any:
    value = observation
    for part in path.split("."):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return None
    return value


def check(recorded: Recorded, observation: dict[str, Any]) -> list[str]:
    """What in ``observation`` disagrees with the recorded answer (empty: it agrees)."""
    wrong = []
    for key, want in recorded.expect.items():
        if key.endswith("!~"):
            got = _lookup(observation, key[:-2])
            if isinstance(got, str) and want in got:
                wrong.append(f"{key[:-2]} contains {want!r}")
        elif key.endswith("~"):
            got = _lookup(observation, key[:-1])
            if not isinstance(got, str) or want not in got:
                wrong.append(f"{key[:-1]} lacks {want!r}")
        elif _lookup(observation, key) != want:
            wrong.append(f"{key} is {_lookup(observation, key)!r}, not {want!r}")
    return wrong


__all__ = ["RECORDED", "Recorded", "check"]
