"""The ``scale`` scenario: the seed-incident world plus thousands of namespaces of workloads.

Syntax: ``scale`` or ``scale:key=value,…`` (``runbook sandbox --scenario scale:namespaces=200``;
``python -m runbook.sandbox --scenario scale --scale-namespaces 200`` says the same). Options:

=================  =======  =============================================================
``namespaces``     2000     namespaces ``scale-0001`` … added to the seed world
``replicasets``    10000    Deployments, each with one ReplicaSet (spread over namespaces)
``events``         50000    Events kept (see below)
``broken``         20 %     namespaces bound to a revision tag whose webhook fails
=================  =======  =============================================================

What is built is what the controllers would have left behind — written straight into the store
(not through HTTP or admission: 10,000 admissions would take longer than the 10 s budget), with
the controllers' own builders, so the controllers find nothing to correct:

* **broken namespaces** carry ``istio.io/rev: <tag>`` of a revision-tag webhook
  (``istio.io/tag``); their ReplicaSets have no pods, ``ReplicaFailure``/``FailedCreate`` with the
  admission error the tag's webhook really produces now, and a ``FailedCreate`` event whose count
  and first/last timestamps follow the ReplicaSet controller's backoff for the ReplicaSet's age
  (4m37s to 1 h); the controller's next retry is scheduled where the backoff puts it;
* **healthy namespaces** carry the revision of a running istiod (round robin); every ReplicaSet
  has one Running, Ready pod injected by that istiod (``sidecar.istio.io/status`` names it);
* **events**: ``FailedCreate`` per broken ReplicaSet, ``ScalingReplicaSet`` per Deployment,
  ``SuccessfulCreate`` per pod, then the scheduler's and kubelet's events per pod (``Scheduled``,
  ``Pulled``/``Created``/``Started`` per container) — in that order of importance until the
  ``events`` budget is reached; what is left out counts as expired (the cluster's event TTL).

Revisions and tags are found from the loaded world's labels (istiod pods, tag webhooks), never
from the seed's names.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from runbook.errors import ManifestError
from runbook.kinds import DEPLOYMENTS, EVENTS, MUTATING_WEBHOOKS, NAMESPACES, PODS, REPLICA_SETS
from runbook.sandbox.controllers.deployment import (
    calculate_status,
    new_replicaset,
    set_condition,
)
from runbook.sandbox.controllers.events import NORMAL, WARNING, make_event, object_reference
from runbook.sandbox.controllers.kubelet import PodIPs, running_status
from runbook.sandbox.controllers.replicaset import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    pod_from_template,
    replicaset_status,
)
from runbook.sandbox.istio.injection import Injector, inject
from runbook.sandbox.registry.admission import AdmissionRequest
from runbook.sandbox.registry.cluster import SYSTEM, Registry
from runbook.sandbox.registry.defaults import apply_defaults
from runbook.sandbox.registry.status import ApiError
from runbook.sandbox.scenarios import register_with_options
from runbook.sandbox.scenarios.incident import load_seed_incident
from runbook.sandbox.storage.store import Obj, generate_suffix
from runbook.sandbox.world import World
from runbook.timestamps import format_timestamp
from runbook.wellknown import INJECTOR_APP, REV_LABEL, TAG_LABEL

DEFAULTS = {"namespaces": 2000, "replicasets": 10000, "events": 50000}
BROKEN_SHARE = 0.2
IMAGES = ("details-v1", "ratings-v1", "reviews-v1", "reviews-v2", "reviews-v3", "productpage-v1")
#: ages of the broken ReplicaSets: 4m37s (the report's x16) up to an hour
MIN_AGE, MAX_AGE = 277.0, 3600.0


@dataclass(frozen=True)
class ScaleOptions:
    """Sizes of the ``scale`` scenario (see the module docstring)."""

    namespaces: int = DEFAULTS["namespaces"]
    replicasets: int = DEFAULTS["replicasets"]
    events: int = DEFAULTS["events"]
    broken: int | None = None

    @classmethod
    def parse(cls, options: dict[str, str]) -> ScaleOptions:
        """From ``scale:k=v`` options.

        Raises:
            ManifestError: an unknown option or a value that is not a non-negative integer.
        """
        known = {"namespaces", "replicasets", "events", "broken"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ManifestError(f"unknown scale option(s) {', '.join(unknown)}",
                                hint=f"use {', '.join(sorted(known))}, e.g. scale:namespaces=200")
        values: dict[str, int] = {}
        for key, text in options.items():
            try:
                values[key] = int(text)
            except ValueError:
                raise ManifestError(f"scale option {key}={text!r} is not a number") from None
            if values[key] < 0:
                raise ManifestError(f"scale option {key} must not be negative")
        return cls(**values)

    @property
    def broken_namespaces(self) -> int:
        if self.broken is not None:
            return min(self.broken, self.namespaces)
        return round(self.namespaces * BROKEN_SHARE)


def failures_after(age: float) -> tuple[int, float]:
    """How often the ReplicaSet controller failed within ``age`` seconds of the first failure, and
    when (seconds after the first) the last failure was: retries after 5 ms · 2^(n-1), ≤ 1000 s."""
    count, t = 1, 0.0
    while True:
        delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (count - 1))
        if t + delay > age:
            return count, t
        t += delay
        count += 1


@functools.lru_cache(maxsize=8192)
def _second(when: int) -> str:
    return format_timestamp(datetime.fromtimestamp(when, tz=UTC))


def _ts(when: float) -> str:
    """RFC 3339 seconds (cached per second: the scenario stamps ~100,000 objects)."""
    return _second(math.floor(when))


class _Builder:
    """Writes the scale objects into the store (controllers paused) and tells the controllers."""

    def __init__(self, cluster: Registry, options: ScaleOptions) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.options = options
        self.world = World.of(cluster)
        self.now = cluster.clock.time()
        self.ips = self.world.controllers.kubelet.ips if self.world else PodIPs()
        self.events: list[tuple[int, Obj]] = []  # (priority, event)
        self.pods: list[tuple[Obj, float]] = []  # healthy pods and when they started
        self.retries: list[tuple[tuple[str, str], int, float]] = []
        self.deadlines: list[tuple[str, str]] = []

    # ------------------------------------------------------------------ what the world offers

    def revisions(self) -> list[tuple[str, Injector]]:
        """Running istiods by revision (one injector each), from their pods."""
        if self.world is None:
            return []
        istiods = self.world.istio.istiods
        found: dict[str, Injector] = {}
        for instance in istiods.instances.values():
            found.setdefault(instance.pod.revision, istiods.injector(instance.pod))
        return sorted(found.items())

    def broken_tag(self) -> str | None:
        """A revision tag whose injection webhook fails right now (its service is unreachable)."""
        for mwc in self.store.objects(MUTATING_WEBHOOKS.key):
            labels = mwc["metadata"].get("labels") or {}
            if TAG_LABEL in labels and labels.get("app") == INJECTOR_APP and \
                    self.admission_error(str(labels[TAG_LABEL])) is not None:
                return str(labels[TAG_LABEL])
        return None

    def admission_error(self, rev_value: str) -> str | None:
        """The error a pod in a namespace labelled ``istio.io/rev=<rev_value>`` gets now: asked of
        the webhook dispatcher itself, with a probe pod (nothing is stored)."""
        if self.world is None:
            return None
        pod: Obj = {"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "probe", "namespace": "scale-probe", "labels": {}},
                    "spec": {"containers": [{"name": "c", "image": "probe"}]}}
        request = AdmissionRequest("CREATE", PODS, "scale-probe", "probe", pod, None, SYSTEM.user)
        try:
            self.world.webhooks.probe(request, {REV_LABEL: rev_value})
        except ApiError as exc:
            return exc.message
        return None

    # ------------------------------------------------------------------ building

    def build(self) -> None:
        opts = self.options
        revisions = self.revisions()
        tag = self.broken_tag()
        error = self.admission_error(tag) if tag else None
        n_broken = opts.broken_namespaces if error else 0
        namespaces = []
        for i in range(opts.namespaces):
            name = f"scale-{i + 1:04d}"
            labels: dict[str, str] = {}
            broken = i < n_broken
            injector = None
            if broken and tag:
                labels[REV_LABEL] = tag
            elif revisions:
                rev, injector = revisions[i % len(revisions)]
                labels[REV_LABEL] = rev
            self._create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": name, "labels": labels}})
            namespaces.append((name, broken, injector))
        if not namespaces:
            return
        for k in range(opts.replicasets):
            ns, broken, injector = namespaces[k % len(namespaces)]
            app = f"{IMAGES[k % len(IMAGES)]}-{k // len(namespaces) + 1}"
            if broken:
                self._broken_workload(ns, app, k, error or "")
            else:
                self._healthy_workload(ns, app, k, injector)
        self._write_events()

    def _create(self, kind: Any, obj: Obj, *, defaulted: bool = False) -> Obj:
        """Store ``obj``, defaulted here unless the caller did that last (defaulting twice
        changes nothing; it is a sixth of the build)."""
        meta = obj["metadata"]
        if kind.namespaced:
            meta.setdefault("namespace", "default")
        if not defaulted:
            apply_defaults(kind.key, obj, self.cluster.allocator)
        return self.store.create(kind.key, obj)

    def _deployment(self, ns: str, app: str, k: int) -> Obj:
        image = f"docker.io/istio/examples-bookinfo-{IMAGES[k % len(IMAGES)]}:1.18.0"
        labels = {"app": app, "version": "v1"}
        obj: Obj = {"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": app, "namespace": ns, "labels": dict(labels)},
                    "spec": {"replicas": 1, "selector": {"matchLabels": dict(labels)},
                             "template": {"metadata": {"labels": dict(labels)},
                                          "spec": {"containers": [{
                                              "name": app.rsplit("-", 1)[0], "image": image,
                                              "ports": [{"containerPort": 9080}]}]}}}}
        apply_defaults(DEPLOYMENTS.key, obj, self.cluster.allocator)
        return obj

    def _finish_deployment(self, d: Obj, rs: Obj, at: float, broken: bool) -> Obj:
        """Deployment status from its ReplicaSet, with the conditions of its history."""
        d["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = "1"
        status = calculate_status(d, [rs], rs)
        created = _ts(at)
        name = rs["metadata"]["name"]
        if broken:
            set_condition(status, "Progressing", "True", "NewReplicaSetCreated",
                          f'Created new replica set "{name}"', created)
            set_condition(status, "Available", "False", "MinimumReplicasUnavailable",
                          "Deployment does not have minimum availability.", created)
            failure = next(c for c in rs["status"]["conditions"] if c["type"] == "ReplicaFailure")
            set_condition(status, "ReplicaFailure", "True", failure["reason"], failure["message"],
                          created)
            if self.now - at > int(d["spec"].get("progressDeadlineSeconds", 600)):
                deadline = _ts(at + int(d["spec"]["progressDeadlineSeconds"]) + 1)
                set_condition(status, "Progressing", "False", "ProgressDeadlineExceeded",
                              f'ReplicaSet "{name}" has timed out progressing.', deadline)
        else:
            set_condition(status, "Available", "True", "MinimumReplicasAvailable",
                          "Deployment has minimum availability.", created)
            set_condition(status, "Progressing", "True", "NewReplicaSetAvailable",
                          f'ReplicaSet "{name}" has successfully progressed.', created)
        return status

    def _broken_workload(self, ns: str, app: str, k: int, error: str) -> None:
        age = MIN_AGE + (MAX_AGE - MIN_AGE) * ((k * 7919) % 1000) / 1000
        first = self.now - age
        d = self._deployment(ns, app, k)
        rs = new_replicaset(d, 1, 1)
        rs["status"] = replicaset_status(rs, [], first, error, -1)
        d["status"] = self._finish_deployment(d, rs, first, broken=True)
        stored_d = self._create(DEPLOYMENTS, d, defaulted=True)
        rs["metadata"]["ownerReferences"][0]["uid"] = stored_d["metadata"]["uid"]
        stored_rs = self._create(REPLICA_SETS, rs)
        count, last = failures_after(age)
        self._event(0, REPLICA_SETS, stored_rs, WARNING, "FailedCreate",
                    f"Error creating: {error}", "replicaset-controller", first, first + last, count)
        self._event(1, DEPLOYMENTS, stored_d, NORMAL, "ScalingReplicaSet",
                    f"Scaled up replica set {rs['metadata']['name']} from 0 to 1", "deployment-controller",
                    first, first, 1)
        next_retry = first + last + min(BACKOFF_CAP, BACKOFF_BASE * 2 ** count)
        self.retries.append(((ns, rs["metadata"]["name"]), count, next_retry))
        self.deadlines.append((ns, app))

    def _healthy_workload(self, ns: str, app: str, k: int, injector: Injector | None) -> None:
        at = self.now - 3600 - (k % 1000) * 60
        d = self._deployment(ns, app, k)
        rs = new_replicaset(d, 1, 1)
        pod = pod_from_template(rs)
        apply_defaults(PODS.key, pod, self.cluster.allocator)
        while True:  # generateName as the store resolves it (needed now: container ids use it)
            name = pod["metadata"]["generateName"] + generate_suffix()
            if self.store.get(PODS.key, ns, name) is None:
                pod["metadata"]["name"] = name
                break
        if injector is not None:
            pod = inject(pod, injector)
            apply_defaults(PODS.key, pod, self.cluster.allocator)  # decoded again after the patch
        pod["spec"]["nodeName"] = "sandbox-node"
        pod["status"] = {"startTime": _ts(at), "qosClass": "BestEffort"}
        pod["status"] = running_status(pod, self.ips.take(), _ts(at))
        pod["status"].update({"hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}]})
        rs["status"] = replicaset_status(rs, [pod], self.now, None, 0)
        d["status"] = self._finish_deployment(d, rs, at, broken=False)
        stored_d = self._create(DEPLOYMENTS, d, defaulted=True)
        rs["metadata"]["ownerReferences"][0]["uid"] = stored_d["metadata"]["uid"]
        stored_rs = self._create(REPLICA_SETS, rs)
        pod["metadata"]["ownerReferences"][0]["uid"] = stored_rs["metadata"]["uid"]
        stored_pod = self._create(PODS, pod, defaulted=True)
        self._event(1, DEPLOYMENTS, stored_d, NORMAL, "ScalingReplicaSet",
                    f"Scaled up replica set {rs['metadata']['name']} from 0 to 1", "deployment-controller",
                    at, at, 1)
        self._event(2, REPLICA_SETS, stored_rs, NORMAL, "SuccessfulCreate",
                    f"Created pod: {stored_pod['metadata']['name']}", "replicaset-controller",
                    at, at, 1)
        self.pods.append((stored_pod, at))

    def _pod_events(self, pod: Obj, at: float) -> list[Obj]:
        """What the scheduler and the kubelet recorded for a pod that started at ``at``."""
        out: list[Obj] = []
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        stamp = _ts(at)

        def add(reason: str, message: str, component: str, host: str = "",
                field_path: str = "") -> None:
            ref = object_reference(PODS, pod, field_path)
            out.append(make_event(ref, NORMAL, reason, message, component, host, stamp, stamp, 1,
                                  name=f"{name}.{int(at * 1e9) + len(out):x}"))

        add("Scheduled", f"Successfully assigned {ns}/{name} to sandbox-node", "default-scheduler")
        for group, path in (("initContainers", "spec.initContainers"),
                            ("containers", "spec.containers")):
            for c in pod["spec"].get(group) or ():
                where = f"{path}{{{c['name']}}}"
                add("Pulled", f'Container image "{c["image"]}" already present on machine',
                    "kubelet", "sandbox-node", where)
                add("Created", f"Created container: {c['name']}", "kubelet", "sandbox-node", where)
                add("Started", f"Started container {c['name']}", "kubelet", "sandbox-node", where)
        return out

    def _event(self, priority: int, kind: Any, obj: Obj, type_: str, reason: str, message: str,
               component: str, first: float, last: float, count: int, *, host: str = "",
               field_path: str = "") -> None:
        ref = object_reference(kind, obj, field_path)
        name = f"{ref['name']}.{int(first * 1e9) + len(self.events):x}"
        self.events.append((priority, make_event(ref, type_, reason, message, component, host,
                                                 _ts(first), _ts(last), count, name=name)))

    def _write_events(self) -> None:
        """Events by importance until the budget: FailedCreate, ScalingReplicaSet,
        SuccessfulCreate, then whole pods' scheduler/kubelet events (newest pods first)."""
        budget = self.options.events
        kept = [event for _, event in sorted(self.events, key=lambda pe: pe[0])][:budget]
        for pod, at in sorted(self.pods, key=lambda pa: -pa[1]):
            if len(kept) >= budget:
                break
            events = self._pod_events(pod, at)
            if len(kept) + len(events) <= budget:
                kept.extend(events)
        recorder = self.world.controllers.recorder if self.world else None
        for event in kept:
            stored = self._create(EVENTS, event)
            if recorder is not None:
                recorder.remember(stored)


@register_with_options("scale")
def load_scale(cluster: Registry, options: dict[str, str]) -> None:
    """The seed-incident world plus the scale objects (see the module docstring)."""
    opts = ScaleOptions.parse(options)
    with _long_lived_objects():
        load_seed_incident(cluster)
        world = World.of(cluster)
        if world is None:
            _Builder(cluster, opts).build()
            return
        world.drain()  # the seed world is up: istiods run, the tag's webhook fails for real
        with world.controllers.ctx.pause():
            builder = _Builder(cluster, opts)
            builder.build()
        controllers = world.controllers
        for key, failures, when in builder.retries:
            controllers.replicasets.schedule_retry(key, failures, when=max(when, builder.now))
        for key in builder.deadlines:
            controllers.deployments.enqueue(key)


@contextlib.contextmanager
def _long_lived_objects() -> Iterator[None]:
    """Build about 1.3 million long-lived, acyclic containers out of the cyclic collector's way.

    Left on, it scans them every few hundred allocations while they are made, and again in the
    collections after; that was a third of the load. So it is off during the build, and what was
    built is then moved where no collection looks (:func:`gc.freeze`): the objects still die by
    reference counting when the store lets go of them. The price: a reference cycle among frozen
    objects is never collected. The build makes none; garbage from before it is collected first,
    but an object alive then that ends in a cycle later stays (a few per scale load, at most).
    """
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


__all__ = ["DEFAULTS", "ScaleOptions", "failures_after", "load_scale"]
