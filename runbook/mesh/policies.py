"""AuthorizationPolicy checks as istioctl's ``auth.AuthorizationPoliciesAnalyzer`` makes them
(istio/istio ``pkg/config/analysis/analyzers/authz/authorizationpolicies.go``; templates from
``messages.yaml``):

* IST0127 NoMatchingWorkloadsFound (Warning), "No matching workloads for this resource with the
  following labels: %s": a policy with ``selector.matchLabels`` that no in-mesh pod of its
  namespace matches (of any namespace, for a policy in the mesh's root namespace); a policy
  without selector in a namespace without in-mesh pods (labels shown empty). A root-namespace
  policy without selector is mesh-wide and never reported.
* IST0101 ReferencedResourceNotFound, ``Referenced namespace not found: "x"``: a
  ``rules[].from[].source.namespaces``/``notNamespaces`` entry that matches no namespace (``*``,
  ``prefix*`` and ``*suffix`` patterns as Istio matches them).

In-mesh pods are those with an ``istio-proxy`` container (or init container) or the injector's
``sidecar.istio.io/status`` annotation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from runbook import wellknown as wk
from runbook.routing import PROXY_CONTAINER

#: (level, code, message)
PolicyMessage = tuple[str, str, str]
SECURITY_GROUP = "security.istio.io"
AUTHORIZATION_POLICY = "AuthorizationPolicy"


def in_mesh(pod: Mapping[str, Any]) -> bool:
    """The pod runs an Istio proxy (sidecar, native sidecar, or injected per its annotation)."""
    meta = pod.get("metadata") or {}
    if wk.SIDECAR_STATUS_ANNOTATION in (meta.get("annotations") or {}):
        return True
    spec = pod.get("spec") or {}
    return any(c.get("name") == PROXY_CONTAINER
               for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])])


def namespace_matches(namespace: str, pattern: str) -> bool:
    """Istio's ``namespaceMatch``: ``*``, ``*suffix``, ``prefix*`` or the name (any case)."""
    if pattern == "*":
        return True
    if pattern.startswith("*"):
        return namespace.endswith(pattern[1:])
    if pattern.endswith("*"):
        return namespace.startswith(pattern[:-1])
    return namespace.lower() == pattern.lower()


def _selector_text(labels: Mapping[str, Any]) -> str:
    # klabels.SelectorFromSet(...).String(): key=value pairs sorted by key, comma-joined
    return ",".join(f"{a}={b}" for a, b in sorted((str(a), str(b)) for a, b in labels.items()))


def authorization_policy_messages(policy: Mapping[str, Any], namespaces: Iterable[str],
                                  mesh_pod_labels: Mapping[str, list[dict[str, str]]],
                                  root_namespaces: Iterable[str]) -> list[PolicyMessage]:
    """IST0127/IST0101 for one AuthorizationPolicy.

    Args:
        namespaces: every namespace of the cluster.
        mesh_pod_labels: per namespace, the labels of its in-mesh pods.
        root_namespaces: the meshConfig ``rootNamespace`` of each control plane.
    """
    out: list[PolicyMessage] = []
    ns = str((policy.get("metadata") or {}).get("namespace") or "")
    spec = policy.get("spec") or {}
    selector = spec.get("selector")
    wanted = {str(a): str(b) for a, b in ((selector or {}).get("matchLabels") or {}).items()}

    def matched(pods: Iterable[dict[str, str]]) -> bool:
        return any(all(labels.get(a) == b for a, b in wanted.items()) for labels in pods)

    template = "No matching workloads for this resource with the following labels: "
    if ns in set(root_namespaces):
        if selector is not None and not matched(
                labels for pods in mesh_pod_labels.values() for labels in pods):
            out.append(("Warning", "IST0127", template + _selector_text(wanted)))
    elif selector is None:
        if not mesh_pod_labels.get(ns):
            out.append(("Warning", "IST0127", template))
    elif not matched(mesh_pod_labels.get(ns, [])):
        out.append(("Warning", "IST0127", template + _selector_text(wanted)))
    known = list(namespaces)
    for rule in spec.get("rules") or []:
        for source in [(f or {}).get("source") or {} for f in (rule or {}).get("from") or []]:
            for pattern in [*(source.get("namespaces") or []), *(source.get("notNamespaces") or [])]:
                if not any(namespace_matches(n, str(pattern)) for n in known):
                    out.append(("Error", "IST0101", f'Referenced namespace not found: "{pattern}"'))
    return out
