"""Scenarios on the real engine: the same manifests, created through the real apiserver.

A scenario's manifests (:func:`runbook.sandbox.scenarios.scenario_manifests`) are created in
load order (CRDs, which must be Established before their objects, then Namespaces, then the rest
in file order, webhook configurations last so that no istiod is asked to admit objects before it
runs). Kinds are found through the apiserver's discovery, so any kind it serves can be loaded.
An object the apiserver refuses stops the load with its file, document and the apiserver's own
message, as ``kubectl create`` reports it.

Nodes are not created: each Node of a scenario gets a node agent that registers it (``empty``
has one, ``sandbox-node``). Webhook configurations that call a Service trust the engine's
webhook CA (``caBundle``), as istiod would patch them.

``scale`` is the seed world plus the Namespaces and Deployments of the emulated ``scale``
scenario (sizes default to 20 namespaces and 100 Deployments on this engine); the real
controllers make the ReplicaSets, pods and events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runbook.errors import ManifestError
from runbook.kinds import (
    CRDS,
    DEPLOYMENTS,
    MUTATING_WEBHOOKS,
    NAMESPACES,
    NODES,
    VALIDATING_WEBHOOKS,
    ResourceKind,
)
from runbook.manifests import Manifest
from runbook.sandbox.realkube.api import ApiClient, KubeApiError, Obj
from runbook.sandbox.realkube.istio import with_ca_bundles
from runbook.sandbox.scenarios import load_order, parse_options, scenario_manifests
from runbook.sandbox.storage.store import copy_object

#: the manager `kubectl apply -f` (client-side) writes as
SCENARIO_MANAGER = "kubectl-client-side-apply"
SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
DEFAULT_NODE = "sandbox-node"
KUBE_SCALE_DEFAULTS = {"namespaces": "20", "replicasets": "100", "events": "0"}
CRD_WAIT = 30.0
SETTLE_WAIT = 90.0
_SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields",
                  "selfLink", "ownerReferences", "deletionTimestamp")


@dataclass(frozen=True)
class NodeSpec:
    """A node an agent registers: its name and labels."""

    name: str
    labels: dict[str, str]


def _webhook_last(manifest: Manifest) -> int:
    kind = manifest.obj.get("kind")
    late = kind in (MUTATING_WEBHOOKS.kind, VALIDATING_WEBHOOKS.kind)
    return load_order(manifest) + (10 if late else 0)


def _scale_manifests(scenario: str) -> list[Manifest]:
    """The emulated ``scale`` world's own Namespaces and Deployments on top of the seed."""
    from runbook.sandbox.clock import Clock
    from runbook.sandbox.registry.cluster import Registry
    from runbook.sandbox.scenarios import load_scenario
    from runbook.sandbox.world import World

    options = {**KUBE_SCALE_DEFAULTS, **parse_options(scenario.partition(":")[2])}
    seed = scenario_manifests("seed-incident") or []
    cluster = Registry(Clock("real"))
    # the scale builder reads the running istiods and the tags' failures from a living world
    world = World(cluster)
    try:
        with world.loading():
            load_scenario(cluster, "scale:" + ",".join(f"{k}={v}" for k, v in options.items()),
                          run_work=False)
            world.drain()
    finally:
        world.stop()
    known = {(m.obj.get("kind"), (m.obj.get("metadata") or {}).get("namespace"),
              (m.obj.get("metadata") or {}).get("name")) for m in seed}
    extra: list[Manifest] = []
    for kind in (NAMESPACES, DEPLOYMENTS):
        for obj in cluster.store.objects(kind.key):
            meta = obj["metadata"]
            if (kind.kind, meta.get("namespace"), meta["name"]) in known or (
                    kind is NAMESPACES and meta["name"] in SYSTEM_NAMESPACES):
                continue
            clean = {"apiVersion": kind.api_version, "kind": kind.kind,
                     "metadata": {k: v for k, v in meta.items() if k not in _SERVER_FIELDS},
                     **({"spec": obj["spec"]} if "spec" in obj else {})}
            extra.append(Manifest(clean, f"scenario {scenario}", len(extra) + 1, 1))
    return [*seed, *extra]


def plan(scenario: str) -> tuple[list[Manifest], list[NodeSpec]]:
    """What loading ``scenario`` creates, and the nodes its agents register; nothing is sent.

    Raises:
        ManifestError: an unknown scenario or unreadable manifests.
    """
    base = scenario.partition(":")[0]
    manifests = _scale_manifests(scenario) if base == "scale" else scenario_manifests(scenario)
    if manifests is None:
        raise ManifestError(f"scenario {scenario!r} is not available on the real engine",
                            hint="use empty, healthy, seed-incident, scale or a path of YAML")
    nodes = [NodeSpec(str(m.obj["metadata"]["name"]),
                      dict(m.obj["metadata"].get("labels") or {}))
             for m in manifests if m.obj.get("kind") == NODES.kind]
    rest = [m for m in manifests if m.obj.get("kind") != NODES.kind]
    return sorted(rest, key=_webhook_last), nodes or [
        NodeSpec(DEFAULT_NODE, {"node-role.kubernetes.io/control-plane": ""})]


class Discovery:
    """(apiVersion, kind) → the resource the apiserver serves it as (cached per group version)."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self._cache: dict[str, list[Obj]] = {}

    async def kind(self, api_version: str, kind: str) -> ResourceKind | None:
        resources = self._cache.get(api_version)
        if resources is None:
            path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            try:
                resources = list((await self.api.request("GET", path)).get("resources") or ())
            except KubeApiError as exc:
                if exc.status != 404:
                    raise
                return None
            self._cache[api_version] = resources
        group, _, version = api_version.rpartition("/")
        for res in resources:
            if res.get("kind") == kind and "/" not in str(res.get("name")):
                return ResourceKind(group, version, kind, str(res["name"]),
                                    bool(res.get("namespaced")))
        return None

    def forget(self, api_version: str) -> None:
        self._cache.pop(api_version, None)


def _creatable(obj: Obj, webhook_ca: bytes) -> Obj:
    out = with_ca_bundles(copy_object(obj), webhook_ca)
    meta = out.setdefault("metadata", {})
    for key in _SERVER_FIELDS:
        meta.pop(key, None)
    return out


async def _wait_established(api: ApiClient, name: str) -> None:
    deadline = asyncio.get_running_loop().time() + CRD_WAIT
    while asyncio.get_running_loop().time() < deadline:
        crd = await api.get(CRDS, None, name)
        conditions = ((crd or {}).get("status") or {}).get("conditions") or ()
        if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
            return
        await asyncio.sleep(0.1)
    raise ManifestError(f"CustomResourceDefinition {name} was not Established within "
                        f"{CRD_WAIT:.0f} s", hint="see the apiserver's log")


async def load(api: ApiClient, manifests: list[Manifest], webhook_ca: bytes,
               progress: Callable[[str], None] = lambda line: None) -> int:
    """Create every manifest (see the module docstring); returns how many were created.

    Raises:
        ManifestError: a kind the apiserver does not serve, or an object it refuses.
    """
    discovery = Discovery(api)
    created = 0
    for m in manifests:
        obj = _creatable(m.obj, webhook_ca)
        api_version, kind_name = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        kind = await discovery.kind(api_version, kind_name)
        if kind is None:
            # a CRD created just before may take a moment to be served
            for _ in range(50):
                await asyncio.sleep(0.1)
                discovery.forget(api_version)
                kind = await discovery.kind(api_version, kind_name)
                if kind is not None:
                    break
        if kind is None:
            raise ManifestError(f'{m.where}: {m.label}: no matches for kind "{kind_name}" in '
                                f'version "{api_version}"',
                                hint="is its CustomResourceDefinition part of the scenario?")
        namespace = None
        if kind.namespaced:
            namespace = str((obj.get("metadata") or {}).get("namespace") or "default")
            obj["metadata"]["namespace"] = namespace
        try:
            # the field report's cluster was set up with `kubectl apply -f`: its manager owns
            # the scenario's fields (as the emulated loader records them)
            await api.request("POST", kind.path(namespace), obj,
                              params={"fieldManager": SCENARIO_MANAGER})
        except KubeApiError as exc:
            if exc.status == 409 and kind.key == NAMESPACES.key:
                continue  # kube-system and friends exist in every cluster
            raise ManifestError(f"{m.where}: {m.label}: the apiserver refused it "
                                f"({exc.reason}): {exc.message}",
                                hint="fix the manifest; nothing of the scenario was kept") from None
        created += 1
        if kind.key == CRDS.key:
            await _wait_established(api, str(obj["metadata"]["name"]))
    progress(f"created {created} objects")
    return created


async def settle(api: ApiClient, namespaces: set[str], timeout: float = SETTLE_WAIT) -> list[str]:
    """Wait until every Deployment in ``namespaces`` is available or reports a failure
    (``ReplicaFailure``); returns the ones still neither when ``timeout`` passed."""
    deadline = asyncio.get_running_loop().time() + timeout
    waiting: list[str] = []
    while True:
        listed = await api.list(DEPLOYMENTS)
        waiting = []
        for d in listed.get("items") or ():
            meta = d["metadata"]
            if meta.get("namespace") not in namespaces:
                continue
            status = d.get("status") or {}
            conditions = {c.get("type"): c for c in status.get("conditions") or ()}
            done = (status.get("observedGeneration", 0) >= meta.get("generation", 1) and
                    status.get("availableReplicas", 0) >= (d.get("spec") or {}).get("replicas", 1))
            failed = (conditions.get("ReplicaFailure") or {}).get("status") == "True"
            if not (done or failed):
                waiting.append(f"{meta.get('namespace')}/{meta['name']}")
        if not waiting or asyncio.get_running_loop().time() > deadline:
            return waiting
        await asyncio.sleep(0.25)


async def clear(api: ApiClient, timeout: float = 120.0) -> None:
    """Remove what scenarios and users created: every namespace but the system ones (waiting
    until the namespace controller has emptied them), webhook configurations and CRDs, and the
    Deployments, Services and ConfigMaps of ``default`` other than the cluster's own."""
    for kind in (MUTATING_WEBHOOKS, VALIDATING_WEBHOOKS, CRDS):
        for item in (await api.list(kind)).get("items") or ():
            await api.delete(kind, None, item["metadata"]["name"])
    from runbook.kinds import CONFIG_MAPS, SERVICES

    keep = {("services", "kubernetes"), ("configmaps", "kube-root-ca.crt")}
    for kind in (DEPLOYMENTS, SERVICES, CONFIG_MAPS):
        for item in (await api.list(kind, "default")).get("items") or ():
            if (kind.plural, item["metadata"]["name"]) not in keep:
                await api.delete(kind, "default", item["metadata"]["name"])
    names = [ns["metadata"]["name"] for ns in (await api.list(NAMESPACES)).get("items") or ()
             if ns["metadata"]["name"] not in SYSTEM_NAMESPACES]
    for name in names:
        await api.delete(NAMESPACES, None, name)
    deadline = asyncio.get_running_loop().time() + timeout
    while names and asyncio.get_running_loop().time() < deadline:
        present = {ns["metadata"]["name"] for ns in (await api.list(NAMESPACES)).get("items") or ()}
        names = [n for n in names if n in present]
        if names:
            await asyncio.sleep(0.25)
    if names:
        raise ManifestError(f"namespaces still terminating after {timeout:.0f} s: "
                            f"{', '.join(sorted(names))}", hint="see the controller manager's log")


def reader_role(repo_root: Path) -> list[Obj]:
    """rbac/reader.yaml's ClusterRole: what the ``sandbox-readonly`` user is bound to."""
    import yaml

    path = repo_root / "rbac" / "reader.yaml"
    docs: list[Any] = list(yaml.safe_load_all(path.read_text())) if path.is_file() else []
    return [d for d in docs if isinstance(d, dict) and d.get("kind") == "ClusterRole"]


__all__ = ["DEFAULT_NODE", "Discovery", "NodeSpec", "clear", "load", "plan", "reader_role",
           "settle"]
