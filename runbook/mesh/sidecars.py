"""Sidecar resource checks as istioctl's ``sidecar.SelectorAnalyzer`` and
``sidecar.DefaultSelectorAnalyzer`` make them (istio/istio
``pkg/config/analysis/analyzers/sidecar/{selector,defaultselector}.go``; templates from
``messages.yaml``):

* IST0101 ``Referenced selector not found: "app=x"``: a ``workloadSelector`` that selects no pod
  of the Sidecar's namespace;
* IST0110 ConflictingSidecarWorkloadSelectors (Error): several Sidecars select the same pod —
  reported on each of them, once per pod, as istioctl does;
* IST0111 MultipleSidecarsWithoutWorkloadSelectors (Error): several Sidecars of one namespace
  have no ``workloadSelector``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

#: (level, code, message) per Sidecar ``(namespace, name)``
SidecarMessages = dict[tuple[str, str], list[tuple[str, str, str]]]


def _go_list(names: Sequence[str]) -> str:
    """Go's ``%v`` of a string slice (the names; ``%q`` values are JSON-quoted alike)."""
    return "[" + " ".join(names) + "]"


def sidecar_messages(sidecars: Sequence[Mapping[str, Any]],
                     pod_labels: Mapping[str, Sequence[tuple[str, Mapping[str, str]]]]
                     ) -> SidecarMessages:
    """Messages for every Sidecar, given per namespace the ``(pod name, labels)`` of its pods."""
    out: SidecarMessages = defaultdict(list)
    selectorless: dict[str, list[str]] = defaultdict(list)
    by_pod: dict[tuple[str, str], list[str]] = defaultdict(list)
    for sc in sidecars:
        meta = sc.get("metadata") or {}
        ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        selector = (sc.get("spec") or {}).get("workloadSelector")
        if selector is None:
            selectorless[ns].append(name)
            continue
        wanted = {str(a): str(b) for a, b in (selector.get("labels") or {}).items()}
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
        if len(names) > 1:
            for name in names:
                out[(ns, name)].append((
                    "Error", "IST0110",
                    f"The Sidecars {_go_list(sorted(names))} in namespace {json.dumps(ns)} select "
                    f"the same workload pod {json.dumps(pod)}, which can lead to undefined "
                    "behavior."))
    for ns, names in selectorless.items():
        if len(names) > 1:
            for name in names:
                out[(ns, name)].append((
                    "Error", "IST0111",
                    f"The Sidecars {_go_list(sorted(names))} in namespace {json.dumps(ns)} have no "
                    "workload selector, which can lead to undefined behavior."))
    return out
