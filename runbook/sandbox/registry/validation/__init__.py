"""Field validation of built-in kinds, shaped like kube-apiserver's 422 ``Invalid`` answers.

Every problem is a :class:`runbook.errors.Cause` whose ``field`` is the path
(``spec.template.spec.containers[0].image``), ``reason`` the cause type (``FieldValueRequired``,
``FieldValueInvalid``, ``FieldValueNotSupported``, ``FieldValueDuplicate``,
``FieldValueForbidden``, ``FieldValueTooLong`` …) and ``message`` the error body exactly as
``field.Error.ErrorBody()`` writes it (``Invalid value: "Foo_Bar": a lowercase RFC 1123 …``).
:func:`invalid_message` composes the Status message (``Deployment.apps "x" is invalid: […]``).

What is checked follows ``pkg/apis/core/validation``, ``pkg/apis/apps/validation``,
``pkg/apis/admissionregistration/validation``, ``apiextensions-apiserver/pkg/apis/apiextensions/
validation`` and ``apimachinery/pkg/util/validation`` (the message texts come from there): object
names per kind (namespaces DNS-1123 label; services DNS-1035 label, as the real
``ValidateServiceName``; most others DNS-1123 subdomain), labels and annotations, pods and pod
templates (containers, names, images, ports, env names, restartPolicy), deployments and replica
sets (selector, template labels, replicas), services (type, ports, targetPort, nodePort range),
webhook configurations, CRDs, events, configmap/secret keys, and immutable fields on update.
Label keys/values reuse :mod:`runbook.selectors` (its own wording), selectors are parsed with
:func:`runbook.selectors.selector_from_dict`. Not covered: resource quantities, probes, security
contexts, volume sources (only names), and the many smaller rules of the real validators.

One module per kind family (:mod:`.pods`, :mod:`.workloads`, :mod:`.services`, :mod:`.webhooks`,
:mod:`.crds`, :mod:`.small_kinds`) over :mod:`.meta` (ObjectMeta and shared helpers) and
:mod:`.messages` (name rules and cause wording).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runbook.errors import Cause
from runbook.kinds import ResourceKind
from runbook.sandbox.registry.validation.crds import validate_crd
from runbook.sandbox.registry.validation.messages import (
    cause_text,
    dns1035_label_errors,
    dns1123_label_errors,
    dns1123_subdomain_errors,
    duplicate,
    forbidden,
    go_repr,
    immutable,
    invalid,
    invalid_message,
    not_supported,
    required,
    too_long,
)
from runbook.sandbox.registry.validation.meta import Errs, validate_meta
from runbook.sandbox.registry.validation.pods import validate_pod_spec
from runbook.sandbox.registry.validation.services import NODE_PORT_RANGE, validate_service
from runbook.sandbox.registry.validation.small_kinds import validate_config_keys, validate_event
from runbook.sandbox.registry.validation.webhooks import validate_webhooks
from runbook.sandbox.registry.validation.workloads import validate_workload


def validate_object(kind: ResourceKind, obj: dict[str, Any], old: dict[str, Any] | None = None
                    ) -> list[Cause]:
    """Validate ``obj`` (a create, or an update of ``old``) the way kube-apiserver does.

    Args:
        kind: the object's kind (``runbook.kinds``).
        obj: the object as it would be stored.
        old: the stored object on update; enables the immutable-field checks.

    Returns:
        The causes of a 422 answer; empty when the object is valid. Custom resources get only
        the metadata checks here (their schema is :func:`runbook.schema.validate_against_schema`).
    """
    errs: Errs = []
    if not isinstance(obj, Mapping):
        return [invalid("", obj, "must be an object")]
    meta = obj.get("metadata")
    validate_meta(kind, meta, errs)
    if old is not None and isinstance(meta, Mapping):
        old_meta = old.get("metadata") or {}
        for key in ("name", "namespace"):
            if old_meta.get(key) and meta.get(key) != old_meta.get(key):
                errs.append(immutable(f"metadata.{key}", meta.get(key)))
    key = kind.key
    if key == "pods":
        validate_pod_spec(obj.get("spec"), "spec", errs)
    elif key in ("deployments.apps", "replicasets.apps"):
        validate_workload(obj, errs, old)
    elif key == "services":
        validate_service(obj, errs, old)
    elif key == "mutatingwebhookconfigurations.admissionregistration.k8s.io":
        validate_webhooks(obj, errs, mutating=True)
    elif key == "validatingwebhookconfigurations.admissionregistration.k8s.io":
        validate_webhooks(obj, errs, mutating=False)
    elif key == "customresourcedefinitions.apiextensions.k8s.io":
        validate_crd(obj, errs)
    elif key == "configmaps":
        validate_config_keys(obj, errs, ("data", "binaryData"))
    elif key == "secrets":
        validate_config_keys(obj, errs, ("data", "stringData"))
    elif key == "events":
        validate_event(obj, errs, events_v1=False)
    elif key == "events.events.k8s.io":
        validate_event(obj, errs, events_v1=True)
    return errs


__all__ = [
    "NODE_PORT_RANGE",
    "cause_text",
    "dns1035_label_errors",
    "dns1123_label_errors",
    "dns1123_subdomain_errors",
    "duplicate",
    "forbidden",
    "go_repr",
    "immutable",
    "invalid",
    "invalid_message",
    "not_supported",
    "required",
    "too_long",
    "validate_object",
]
