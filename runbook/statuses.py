"""The words the mesh tables and the findings use for a state, defined once.

Each vocabulary is a ``Literal`` type (mypy, with ``strict_equality``, refuses a comparison with a
word that is not in it) and the tuple of its values, in the order the docs list them. The values
are plain strings, so tables, JSON, YAML and CSV carry them unchanged.

Two vocabularies describe a webhook's target, at two levels, on purpose:

* :data:`TargetStatus` (``webhook_targets``/``revision_tags`` ``.target_status``) is how
  kube-apiserver resolves one ``clientConfig.service``, in the apiserver's terms
  (``service_not_found`` is its ``service "<name>" not found``); :data:`AdmissionErrorKind`
  (``replicaset_events.error_kind``) uses the same words for the same causes read back from a
  ``FailedCreate`` message.
* :data:`InjectionStatus` (``namespace_injection.status``) says what a namespace's new pods get,
  in a person's terms; :func:`injection_status` maps the first onto it (``target missing`` is a
  ``service_not_found`` target; ``no endpoints`` any target that exists but cannot serve).

:data:`STATUS_SEVERITY` says how bad each word is; the tables colour their cells with it and the
findings use the same :data:`Severity` words.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = [
    "ADMISSION_ERROR_KINDS", "CANNOT_SERVE", "CONTROL_PLANE_STATUSES", "EVENT_TYPES",
    "INJECTION_STATUSES", "SEVERITIES", "SEVERITY_BY_COLUMN", "STATUS_SEVERITY", "TARGET_STATUSES",
    "AdmissionErrorKind", "ControlPlaneStatus", "EventType", "InjectionStatus", "Severity",
    "TargetStatus", "injection_status",
]

Severity = Literal["error", "warning", "info"]
SEVERITIES: Final[tuple[Severity, ...]] = get_args(Severity)

#: a webhook's ``clientConfig.service`` as kube-apiserver resolves it (``url``: a URL webhook;
#: ``unknown``: the objects needed to tell could not be read)
TargetStatus = Literal["ok", "service_not_found", "no_service_port", "no_endpoints", "headless",
                       "unsupported_type", "url", "unknown"]
TARGET_STATUSES: Final[tuple[TargetStatus, ...]] = get_args(TargetStatus)

#: the Service exists but the apiserver cannot call it: no ready endpoint, no such port,
#: headless (ClusterIP None) or ExternalName
CANNOT_SERVE: Final[frozenset[TargetStatus]] = frozenset(
    {"no_endpoints", "no_service_port", "headless", "unsupported_type"})

#: the cause of an admission webhook failure, read from its message
AdmissionErrorKind = Literal["service_not_found", "no_endpoints", "timeout", "connection_refused",
                             "tls", "denied", "invalid_response", "other"]
ADMISSION_ERROR_KINDS: Final[tuple[AdmissionErrorKind, ...]] = get_args(AdmissionErrorKind)

#: how a new pod without labels in a namespace is injected
InjectionStatus = Literal["ok", "no injection", "target missing", "no endpoints", "ambiguous",
                          "both labels"]
INJECTION_STATUSES: Final[tuple[InjectionStatus, ...]] = get_args(InjectionStatus)

#: an istiod revision's Deployment: enough ready pods, none, or fewer than desired
ControlPlaneStatus = Literal["ok", "no pods", "not ready"]
CONTROL_PLANE_STATUSES: Final[tuple[ControlPlaneStatus, ...]] = get_args(ControlPlaneStatus)

#: an Event's ``type``
EventType = Literal["Normal", "Warning"]
EVENT_TYPES: Final[tuple[EventType, ...]] = get_args(EventType)


def injection_status(target: TargetStatus) -> InjectionStatus | None:
    """What a namespace's pods get when its one injector webhook calls a target in this state.

    None when the target does not decide it (it answers, or it cannot be known from the objects).
    """
    if target == "service_not_found":
        return "target missing"
    if target in CANNOT_SERVE:
        return "no endpoints"
    return None


#: how bad each word is, per column that uses it (tests/test_statuses.py checks that every word of
#: each vocabulary has its severity and that a word two vocabularies share is as bad in both)
SEVERITY_BY_COLUMN: Final[dict[str, dict[str, Severity]]] = {
    "findings.severity": {"error": "error", "warning": "warning", "info": "info"},
    "namespace_injection.status": {
        "ok": "info", "no injection": "info", "target missing": "error", "no endpoints": "error",
        "ambiguous": "warning", "both labels": "warning"},
    "webhook_targets.target_status": {
        "ok": "info", "service_not_found": "error", "no_service_port": "error",
        "no_endpoints": "error", "headless": "error", "unsupported_type": "error", "url": "info",
        "unknown": "warning"},
    "control_planes.status": {"ok": "info", "no pods": "error", "not ready": "warning"},
    # every admission failure stops the pod it was for
    "replicaset_events.error_kind": dict.fromkeys(ADMISSION_ERROR_KINDS, "error"),
    "events.type": {"Warning": "warning", "Normal": "info"},
}

#: how bad each status word of the mesh tables is (the tables' cell colours)
STATUS_SEVERITY: Final[dict[str, Severity]] = {
    word: severity for column in SEVERITY_BY_COLUMN.values() for word, severity in column.items()}
