"""Workload selector checks of Sidecars and Telemetries, as istioctl's ``SelectorAnalyzer`` and
``DefaultSelectorAnalyzer`` make them (istio/istio ``pkg/config/analysis/analyzers/sidecar/`` and
``analyzers/telemetry/``; templates from ``messages.yaml``). The two kinds share the rules:

* IST0101 ``Referenced selector not found: "app=x"``: a selector (Sidecar ``workloadSelector.
  labels``, Telemetry ``selector.matchLabels``) that selects no pod of its namespace;
* IST0110 / IST0159 ConflictingSidecarWorkloadSelectors / ConflictingTelemetryWorkloadSelectors
  (Error): several of them select the same pod — reported on each, once per pod, as istioctl does;
* IST0111 / IST0160 MultipleSidecarsWithoutWorkloadSelectors / MultipleTelemetriesWithout-
  WorkloadSelectors (Error): several of one namespace have no selector (a Telemetry with a
  ``targetRef``/``targetRefs`` has one);
* IST0167 IneffectivePolicy (Warning), Sidecars only: it selects a pod of the ambient data plane
  (annotation ``ambient.istio.io/redirection: enabled``), or has no selector in a namespace
  labelled ``istio.io/dataplane-mode=ambient`` — there is no sidecar to configure.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: (level, code, message) per resource ``(namespace, name)``
SidecarMessages = dict[tuple[str, str], list[tuple[str, str, str]]]


def _go_list(names: Sequence[str]) -> str:
    """Go's ``%v`` of a string slice (the names; ``%q`` values are JSON-quoted alike)."""
    return "[" + " ".join(names) + "]"


@dataclass(frozen=True)
class SelectorRules:
    """What differs between the kinds: their plural in messages, codes and where the selector is."""

    plural: str
    conflict_code: str
    selectorless_code: str
    #: the selector's labels, or None when the resource has no selector at all
    labels_of: Callable[[Mapping[str, Any]], Mapping[str, Any] | None]
    #: ambient pods and namespaces make it ineffective (IST0167): Istio checks it for Sidecars
    ambient_aware: bool = False


def _sidecar_labels(spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    selector = spec.get("workloadSelector")
    return None if selector is None else (selector.get("labels") or {})


def _telemetry_labels(spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    selector = spec.get("selector")
    if selector is None:
        # a policy attached by targetRef(s) is not a namespace-wide default either
        return {} if spec.get("targetRef") or spec.get("targetRefs") else None
    return selector.get("matchLabels") or {}


SIDECAR_RULES = SelectorRules("Sidecars", "IST0110", "IST0111", _sidecar_labels, ambient_aware=True)
TELEMETRY_RULES = SelectorRules("Telemetries", "IST0159", "IST0160", _telemetry_labels)


def sidecar_messages(sidecars: Sequence[Mapping[str, Any]],
                     pod_labels: Mapping[str, Sequence[tuple[str, Mapping[str, str]]]]
                     ) -> SidecarMessages:
    """Messages for every Sidecar, given per namespace the ``(pod name, labels)`` of its pods."""
    return selector_messages(sidecars, pod_labels, SIDECAR_RULES)


def selector_messages(resources: Sequence[Mapping[str, Any]],
                      pod_labels: Mapping[str, Sequence[tuple[str, Mapping[str, str]]]],
                      rules: SelectorRules, *,
                      ambient_pods: Collection[tuple[str, str]] = (),
                      ambient_namespaces: Collection[str] = ()) -> SidecarMessages:
    """Messages for every resource of one kind (see the module docstring). Sidecars that select
    pods of the ambient data plane, or sit selector-less in an ambient namespace, have no effect
    (IST0167) rather than conflicting: there is no sidecar to configure."""
    out: SidecarMessages = defaultdict(list)
    ineffective: set[tuple[str, str]] = set()

    def no_impact(ns: str, name: str, why: str) -> None:
        if (ns, name) not in ineffective:
            ineffective.add((ns, name))
            out[(ns, name)].append(("Warning", "IST0167", f"The policy has no impact: {why}."))

    selectorless: dict[str, list[str]] = defaultdict(list)
    by_pod: dict[tuple[str, str], list[str]] = defaultdict(list)
    for resource in resources:
        meta = resource.get("metadata") or {}
        ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        selector = rules.labels_of(resource.get("spec") or {})
        if selector is None:
            selectorless[ns].append(name)
            continue
        wanted = {str(a): str(b) for a, b in selector.items()}
        if not wanted:
            continue
        found = [pod for pod, labels in pod_labels.get(ns, ())
                 if all(labels.get(a) == b for a, b in wanted.items())]
        for pod in found:
            by_pod[(ns, pod)].append(name)
        if not found:
            text = ",".join(f"{a}={b}" for a, b in sorted(wanted.items()))
            out[(ns, name)].append(("Error", "IST0101", f'Referenced selector not found: "{text}"'))
    for (ns, pod), names in sorted(by_pod.items()):
        if rules.ambient_aware and (ns, pod) in ambient_pods:
            for name in names:
                no_impact(ns, name, "selected workload is in ambient mode, the policy has no impact")
            continue
        if len(names) > 1:
            for name in names:
                out[(ns, name)].append((
                    "Error", rules.conflict_code,
                    f"The {rules.plural} {_go_list(sorted(names))} in namespace {json.dumps(ns)} "
                    f"select the same workload pod {json.dumps(pod)}, which can lead to undefined "
                    "behavior."))
    for ns, names in selectorless.items():
        if rules.ambient_aware and ns in ambient_namespaces:
            for name in names:
                no_impact(ns, name, "namespace is in ambient mode, the policy has no impact")
            continue
        if len(names) > 1:
            for name in names:
                out[(ns, name)].append((
                    "Error", rules.selectorless_code,
                    f"The {rules.plural} {_go_list(sorted(names))} in namespace {json.dumps(ns)} "
                    "have no workload selector, which can lead to undefined behavior."))
    return out
