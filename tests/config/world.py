"""A small builder of cluster snapshots for the config-analysis tests.

It reads the seed-incident scenario (the field report's cluster) and adds what the controllers of a
real cluster would have created from it: a ReplicaSet and ready pods per Deployment, and, for
workloads in an injected namespace, the ``sidecar.istio.io/status`` annotation of the revision that
injected them. Apps from ``runbook.apps`` can be "deployed" into a namespace the same way.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from runbook.apps import app_path
from runbook.kinds import ALL_KNOWN_KINDS
from runbook.manifests import load_manifests
from runbook.snapshot import Snapshot

SEED = Path(__file__).resolve().parents[2] / "runbook" / "sandbox" / "scenarios" / "seed-incident"
CRDS = Path(__file__).resolve().parents[2] / "runbook" / "sandbox" / "scenarios" / "istio-crds.yaml"


@lru_cache(maxsize=1)
def _seed_manifests() -> tuple[dict[str, Any], ...]:
    return tuple(m.obj for m in load_manifests([CRDS, SEED]))


def seed_objects() -> list[dict[str, Any]]:
    """The seed-incident manifests as plain objects, with the Istio CRDs the sandbox serves.

    Fresh copies every call: tests may change them.
    """
    return copy.deepcopy(list(_seed_manifests()))


def app_objects(name: str, namespace: str) -> list[dict[str, Any]]:
    """A shipped app's objects, placed in ``namespace`` (like ``kubectl apply -n``)."""
    out = []
    for m in load_manifests(app_path(name)):
        obj = copy.deepcopy(m.obj)
        obj.setdefault("metadata", {}).setdefault("namespace", namespace)
        out.append(obj)
    return out


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:9]


def controller_objects(deployments: Iterable[dict[str, Any]],
                       injected_by: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """ReplicaSets and ready pods for Deployments, as the controllers would create them.

    Args:
        deployments: Deployment objects (with namespaces).
        injected_by: namespace → istiod revision that injects its pods (adds the sidecar status
            annotation and an ``istio-proxy`` container, as the injector does).
    """
    injected_by = injected_by or {}
    out: list[dict[str, Any]] = []
    for dep in deployments:
        if dep.get("kind") != "Deployment":
            continue
        meta = dep["metadata"]
        ns, name = meta["namespace"], meta["name"]
        template = copy.deepcopy(dep["spec"]["template"])
        pod_hash = _hash(json.dumps(template, sort_keys=True))
        rs_name = f"{name}-{pod_hash}"
        labels = dict(template["metadata"].get("labels") or {}, **{"pod-template-hash": pod_hash})
        out.append({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": rs_name, "namespace": ns, "labels": labels,
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                              "name": name, "controller": True}]},
            "spec": {"replicas": dep["spec"].get("replicas", 1), "template": template},
        })
        for i in range(int(dep["spec"].get("replicas", 1))):
            spec = copy.deepcopy(template.get("spec") or {})
            annotations = dict(template["metadata"].get("annotations") or {})
            revision = injected_by.get(ns)
            if revision and labels.get("sidecar.istio.io/inject") != "false":
                annotations["sidecar.istio.io/status"] = json.dumps(
                    {"initContainers": ["istio-init"], "containers": ["istio-proxy"],
                     "volumes": [], "imagePullSecrets": None, "revision": revision},
                    separators=(",", ":"))
                spec.setdefault("containers", []).append(
                    {"name": "istio-proxy", "image": "docker.io/istio/proxyv2",
                     "args": ["proxy", "sidecar"]})
            out.append({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"{rs_name}-{_hash(rs_name + str(i))[:5]}", "namespace": ns,
                             "labels": dict(labels), "annotations": annotations,
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                                  "name": rs_name, "controller": True}]},
                "spec": spec,
                "status": {"phase": "Running",
                           "conditions": [{"type": "Ready", "status": "True"}]},
            })
    return out


def snapshot_of(objects: Iterable[dict[str, Any]]) -> Snapshot:
    """A snapshot of every kind this project knows (kinds without objects are read-and-empty)."""
    return Snapshot.from_objects(list(objects), ALL_KNOWN_KINDS)


def seed_world(*, bookinfo_in: Iterable[str] = (), extra: Iterable[dict[str, Any]] = ()
               ) -> list[dict[str, Any]]:
    """The seed cluster with running control planes and gateways, optionally with bookinfo.

    Args:
        bookinfo_in: namespaces where bookinfo runs (after the webhook fix: pods exist, injected
            by the revision that injects the namespace — 1-19-3 for l7-traffic-alpha, as the seed
            README explains, 1-18-5 for l7-traffic-beta).
        extra: more objects (e.g. applied config).
    """
    objects = seed_objects()
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    apps: list[dict[str, Any]] = []
    for ns in bookinfo_in:
        apps.extend(app_objects("bookinfo", ns))
    deployments += [o for o in apps if o["kind"] == "Deployment"]
    injected = {"l7-traffic-alpha": "1-19-3", "l7-traffic-beta": "1-18-5"}
    return objects + apps + controller_objects(deployments, injected) + list(extra)


def seed_snapshot(**kwargs: Any) -> Snapshot:
    """:func:`seed_world` as a snapshot."""
    return snapshot_of(seed_world(**kwargs))
