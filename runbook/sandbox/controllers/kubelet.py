"""The scheduler and the kubelet, emulated: pods get a node, an IP, and become Running and Ready.

* **Scheduling** — a new pod without ``spec.nodeName`` is bound to a Ready node (the node with the
  fewest pods; ``sandbox-node`` in every built-in scenario) and the ``default-scheduler`` records
  ``Scheduled`` ``Successfully assigned <ns>/<pod> to <node>``. The pod then shows what the
  kubelet reports while it pulls and creates containers: phase ``Pending``, ``hostIP`` (the node's
  InternalIP, 127.0.0.1), containers waiting in ``ContainerCreating`` (``PodInitializing`` behind
  init containers), conditions ``PodScheduled`` True, ``Initialized``/``Ready``/``ContainersReady``
  False.
* **Unschedulable** — with no schedulable Ready node (all cordoned or NotReady), the pod stays
  Pending with ``PodScheduled=False`` (reason ``Unschedulable``) and a ``FailedScheduling``
  warning from ``default-scheduler`` (``0/1 nodes are available: 1 node(s) were unschedulable.
  preemption: …``); a change to a node (``kubectl uncordon``) schedules it.
* **Stop** — a deleted pod on a node is ``Terminating`` (``deletionTimestamp`` = now + its grace
  period); its containers exit at once, and after ``pod_stop_seconds`` (1 s on a real clock, 0
  on a manual one) the kubelet deletes it with grace period 0.
* **Start** — after the context's ``pod_start_seconds`` (1 s on a real clock, 0 on a manual
  one: the next ``settle``/``advance``), the kubelet gives the pod an IP from the pod network,
  runs init containers to completion, starts the containers and reports them ready:
  ``phase: Running``, ``podIP``/``podIPs``, ``startTime``, ``containerStatuses`` (``ready``,
  ``started``, ``restartCount``, ``image``, ``imageID``, ``containerID``, ``state.running.startedAt``),
  ``initContainerStatuses`` (terminated, ``Completed``) and every condition True. Events per
  container: ``Pulled`` (``Container image "<image>" already present on machine``), ``Created``
  (``Created container: <name>``), ``Started`` (``Started container <name>``), with the
  container's ``fieldPath``.

Containers never crash and readiness probes always pass: workloads are as healthy as their
admission allowed them to be. Pod IPs come from 10.244.0.0/16 (the node's ``podCIDR`` /24 would
hold only 254 pods, fewer than the benchmarks create).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import ipaddress
import threading
from collections.abc import Callable

from runbook.kinds import NODES, PODS
from runbook.sandbox.controllers.base import ControllerContext, controller_context
from runbook.sandbox.controllers.events import NORMAL, WARNING
from runbook.sandbox.registry.status import ApiError
from runbook.sandbox.storage.store import Change, Obj, PreconditionFailed, StoreKeyError, copy_object

POD_NETWORK = ipaddress.ip_network("10.244.0.0/16")
SCHEDULER = "default-scheduler"
KUBELET = "kubelet"


class PodIPs:
    """Hands out pod IPs (skipping .0 and .255 of each /24); released when pods go."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taken: set[str] = set()
        self._next = 2

    def take(self) -> str:
        with self._lock:
            size = POD_NETWORK.num_addresses
            for _ in range(size):
                index = self._next
                self._next = 2 + (self._next - 1) % (size - 3)
                if index % 256 in (0, 1, 255):
                    continue
                candidate = str(POD_NETWORK[index])
                if candidate not in self._taken:
                    self._taken.add(candidate)
                    return candidate
        raise RuntimeError("the pod network is full")

    def reserve(self, ip: str) -> None:
        with self._lock:
            self._taken.add(ip)

    def release(self, ip: str) -> None:
        with self._lock:
            self._taken.discard(ip)

    def clear(self) -> None:
        with self._lock:
            self._taken.clear()
            self._next = 2


def container_id(namespace: str, pod: str, container: str) -> str:
    """A stable ``containerd://<64 hex>`` id for a container of a pod."""
    return "containerd://" + hashlib.sha256(f"{namespace}/{pod}/{container}".encode()).hexdigest()


@functools.lru_cache(maxsize=1024)  # a few images, thousands of containers
def image_id(image: str) -> str:
    """``<repository>@sha256:<digest>`` as the runtime reports it (digest derived from the name)."""
    repo = image.rsplit("@", 1)[0]
    last = repo.rsplit("/", 1)[-1]
    if ":" in last:
        repo = repo[: len(repo) - len(last)] + last.split(":", 1)[0]
    if "/" not in repo:
        repo = f"docker.io/library/{repo}"
    elif repo.count("/") == 1 and "." not in repo.split("/", 1)[0]:
        repo = f"docker.io/{repo}"
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def unschedulable_message(nodes: list[Obj]) -> str:
    """The scheduler's ``FitError`` text for a pod no node accepts (the filters this emulation
    knows: cordoned nodes, and NotReady nodes through their ``not-ready`` taint)."""
    if not nodes:
        return "no nodes available to schedule pods"
    reasons: dict[str, int] = {}
    for node in nodes:
        if (node.get("spec") or {}).get("unschedulable"):
            reason = "node(s) were unschedulable"
        else:
            reason = "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"
        reasons[reason] = reasons.get(reason, 0) + 1
    total = len(nodes)
    why = ", ".join(sorted(f"{count} {reason}" for reason, count in reasons.items()))
    return (f"0/{total} nodes are available: {why}. preemption: 0/{total} nodes are available: "
            f"{total} Preemption is not helpful for scheduling.")


def _condition(type_: str, status: str, when: str, reason: str = "") -> Obj:
    cond: Obj = {"type": type_, "status": status, "lastProbeTime": None,
                 "lastTransitionTime": when}
    if reason:
        cond["reason"] = reason
    return cond


def pending_status(pod: Obj, host_ip: str, now: str) -> Obj:
    """What the pod shows once bound, while its containers are being created."""
    spec = pod.get("spec") or {}
    inits = spec.get("initContainers") or []
    status: Obj = dict(pod.get("status") or {})
    waiting_reason = "PodInitializing" if inits else "ContainerCreating"
    conditions = [_condition("PodReadyToStartContainers", "False", now),
                  _condition("Initialized", "False" if inits else "True", now,
                             "ContainersNotInitialized" if inits else ""),
                  _condition("Ready", "False", now, "ContainersNotReady"),
                  _condition("ContainersReady", "False", now, "ContainersNotReady"),
                  _condition("PodScheduled", "True", now)]
    names = [c.get("name", "") for c in spec.get("containers") or ()]
    not_ready = f"containers with unready status: [{' '.join(names)}]"
    for cond in conditions:
        if cond["type"] in ("Ready", "ContainersReady"):
            cond["message"] = not_ready
        if cond["type"] == "Initialized" and inits:
            cond["message"] = ("containers with incomplete status: "
                               f"[{' '.join(c.get('name', '') for c in inits)}]")
    status.update({
        "phase": "Pending", "conditions": conditions, "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}], "startTime": now,
        "containerStatuses": [
            {"name": c.get("name", ""), "state": {"waiting": {"reason": waiting_reason}},
             "lastState": {}, "ready": False, "restartCount": 0, "image": c.get("image", ""),
             "imageID": "", "started": False} for c in spec.get("containers") or ()],
    })
    if inits:
        status["initContainerStatuses"] = [
            {"name": c.get("name", ""), "state": {"waiting": {"reason": "PodInitializing"}},
             "lastState": {}, "ready": False, "restartCount": 0, "image": c.get("image", ""),
             "imageID": "", "started": False} for c in inits]
    return status


def running_status(pod: Obj, pod_ip: str, now: str) -> Obj:
    """What the kubelet reports once every container runs and is ready."""
    meta, spec = pod["metadata"], pod.get("spec") or {}
    ns, name = meta.get("namespace", ""), meta["name"]
    status: Obj = dict(pod.get("status") or {})
    started_at = status.get("startTime") or now
    status.update({
        "phase": "Running", "podIP": pod_ip, "podIPs": [{"ip": pod_ip}],
        "conditions": [_condition("PodReadyToStartContainers", "True", now),
                       _condition("Initialized", "True", now if spec.get("initContainers")
                                  else started_at),
                       _condition("Ready", "True", now),
                       _condition("ContainersReady", "True", now),
                       _condition("PodScheduled", "True", started_at)],
        "containerStatuses": [
            {"name": c.get("name", ""), "state": {"running": {"startedAt": now}},
             "lastState": {}, "ready": True, "restartCount": 0, "image": c.get("image", ""),
             "imageID": image_id(str(c.get("image", ""))),
             "containerID": container_id(ns, name, c.get("name", "")), "started": True}
            for c in spec.get("containers") or ()],
    })
    if spec.get("initContainers"):
        status["initContainerStatuses"] = [
            {"name": c.get("name", ""),
             "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now,
                                      "finishedAt": now,
                                      "containerID": container_id(ns, name, c.get("name", ""))}},
             "lastState": {}, "ready": True, "restartCount": 0, "image": c.get("image", ""),
             "imageID": image_id(str(c.get("image", ""))),
             "containerID": container_id(ns, name, c.get("name", "")), "started": False}
            for c in spec["initContainers"]]
    status["qosClass"] = qos_class(spec)
    return status


def qos_class(spec: Obj) -> str:
    """``qos.GetPodQOS``: Guaranteed, Burstable or BestEffort from requests and limits."""
    containers = [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]
    any_set, guaranteed = False, True
    for c in containers:
        resources = c.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        if requests or limits:
            any_set = True
        for res in ("cpu", "memory"):
            if res not in limits or requests.get(res, limits.get(res)) != limits.get(res):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


class Kubelet:
    """Schedules and starts pods (see the module docstring)."""

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.api = controller_context(KUBELET)
        self.ips = PodIPs()
        #: callbacks ``fn(pod)`` run after a pod started (its events recorded)
        self.on_started: list[Callable[[Obj], None]] = []

    def reset(self) -> None:
        self.ips.clear()

    def on_change(self, change: Change) -> None:
        if change.kind == NODES.key and change.type != "DELETED":
            # a node that became schedulable (uncordon, Ready) moves unschedulable pods back
            # to the scheduling queue, as the scheduler's node-update event does
            self.ctx.enqueue(("retry-unschedulable",), self.retry_unschedulable)
            return
        if change.kind != PODS.key:
            return
        meta = change.obj["metadata"]
        ip = (change.obj.get("status") or {}).get("podIP")
        if change.type == "DELETED":
            if ip:
                self.ips.release(str(ip))
            return
        if ip:
            self.ips.reserve(str(ip))
        if change.type == "MODIFIED" and meta.get("deletionTimestamp") and \
                not (change.old or {}).get("metadata", {}).get("deletionTimestamp") and \
                (change.obj.get("spec") or {}).get("nodeName"):
            key = (meta.get("namespace", ""), meta["name"], meta.get("uid", ""))
            self.ctx.enqueue(("stop", *key), lambda: self.ctx.after(
                self.ctx.pod_stop_seconds, lambda: self.stop(key)))
            return
        if change.type != "ADDED":
            return
        key = (meta.get("namespace", ""), meta["name"], meta.get("uid", ""))
        if not (change.obj.get("spec") or {}).get("nodeName"):
            self.ctx.enqueue(("schedule", *key), lambda: self.schedule(key))
        elif (change.obj.get("status") or {}).get("phase", "Pending") == "Pending":
            # bound already (a scenario's pod): the kubelet starts it
            self.ctx.enqueue(("start", *key),
                             lambda: self.ctx.after(self.ctx.pod_start_seconds,
                                                    lambda: self.start(key)))

    def schedule(self, key: tuple[str, str, str]) -> None:
        """Bind the pod to a node and report it Pending; start it after the start delay."""
        ctx = self.ctx
        pod = ctx.store.get(PODS.key, key[0], key[1])
        if pod is None or pod["metadata"].get("uid") != key[2] or pod["spec"].get("nodeName"):
            return
        node = self._pick_node()
        if node is None:
            self._unschedulable(pod)
            return
        node_name = node["metadata"]["name"]
        host_ip = next((a.get("address") for a in (node.get("status") or {}).get("addresses") or ()
                        if a.get("type") == "InternalIP"), "127.0.0.1")
        bound = copy_object(pod)
        bound["spec"]["nodeName"] = node_name
        bound["status"] = pending_status(bound, str(host_ip), ctx.clock.timestamp())
        try:
            stored = ctx.store.update(PODS.key, bound, expect_rv=pod["metadata"]["resourceVersion"])
        except (PreconditionFailed, StoreKeyError):
            return
        ctx.recorder.event(PODS, stored, NORMAL, "Scheduled",
                           f"Successfully assigned {key[0]}/{key[1]} to {node_name}",
                           component=SCHEDULER)
        ctx.after(ctx.pod_start_seconds, lambda: self.start(key))

    def start(self, key: tuple[str, str, str]) -> None:
        """Run the pod: IP, init containers done, containers running and ready, events."""
        ctx = self.ctx
        pod = ctx.store.get(PODS.key, key[0], key[1])
        if pod is None or pod["metadata"].get("uid") != key[2] or \
                pod["metadata"].get("deletionTimestamp"):
            return
        if (pod.get("status") or {}).get("phase", "Pending") != "Pending":
            return
        ip = self.ips.take()
        running = copy_object(pod)
        running["status"] = running_status(running, ip, ctx.clock.timestamp())
        try:
            stored = ctx.store.update(PODS.key, running,
                                      expect_rv=pod["metadata"]["resourceVersion"])
        except (PreconditionFailed, StoreKeyError):
            self.ips.release(ip)
            return
        node = stored["spec"].get("nodeName", "")
        for group, path in (("initContainers", "spec.initContainers"),
                            ("containers", "spec.containers")):
            for c in stored["spec"].get(group) or ():
                cname = c.get("name", "")
                where = f"{path}{{{cname}}}"
                for reason, message in (
                        ("Pulled", f'Container image "{c.get("image", "")}" already present on '
                                   "machine"),
                        ("Created", f"Created container: {cname}"),
                        ("Started", f"Started container {cname}")):
                    ctx.recorder.event(PODS, stored, NORMAL, reason, message, component=KUBELET,
                                       host=node, field_path=where)
        for callback in list(self.on_started):
            callback(stored)

    def stop(self, key: tuple[str, str, str]) -> None:
        """A Terminating pod's containers stopped (emulated containers exit on SIGTERM at once):
        the kubelet deletes the pod for good, with grace period 0."""
        ctx = self.ctx
        pod = ctx.store.get(PODS.key, key[0], key[1])
        if pod is None or pod["metadata"].get("uid") != key[2]:
            return
        with contextlib.suppress(ApiError):
            ctx.cluster.delete(PODS, key[0], key[1], self.api, grace_period=0,
                               preconditions={"uid": key[2]})

    def retry_unschedulable(self) -> None:
        """Try again every pod the scheduler could not place."""
        for pod in list(self.ctx.store.objects(PODS.key)):
            meta = pod["metadata"]
            if not (pod.get("spec") or {}).get("nodeName") and not meta.get("deletionTimestamp"):
                self.schedule((meta.get("namespace", ""), meta["name"], meta.get("uid", "")))

    def _unschedulable(self, pod: Obj) -> None:
        """What the scheduler reports when no node fits: the ``PodScheduled=False`` condition
        (reason ``Unschedulable``) and a ``FailedScheduling`` event, both with its diagnosis."""
        ctx = self.ctx
        message = unschedulable_message(list(ctx.store.objects(NODES.key)))
        current = (pod.get("status") or {}).get("conditions") or []
        scheduled = next((c for c in current if c.get("type") == "PodScheduled"), None)
        stored = pod
        if scheduled is None or scheduled.get("message") != message:
            updated = copy_object(pod)
            condition = _condition("PodScheduled", "False", ctx.clock.timestamp(), "Unschedulable")
            condition["message"] = message
            generation = pod["metadata"].get("generation")
            if generation:
                # the scheduler says which pod generation it judged (pod generation, 1.33+)
                condition["observedGeneration"] = generation
            updated.setdefault("status", {})["conditions"] = [
                *(c for c in current if c.get("type") != "PodScheduled"), condition]
            try:
                stored = ctx.store.update(PODS.key, updated,
                                          expect_rv=pod["metadata"]["resourceVersion"])
            except (PreconditionFailed, StoreKeyError):
                return
        ctx.recorder.event(PODS, stored, WARNING, "FailedScheduling", message,
                           component=SCHEDULER)

    def _pick_node(self) -> Obj | None:
        store = self.ctx.store
        ready = [n for n in store.objects(NODES.key)
                 if any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in (n.get("status") or {}).get("conditions") or ())
                 and not (n.get("spec") or {}).get("unschedulable")]
        if not ready:
            return None
        if len(ready) == 1:
            return ready[0]
        load = {n["metadata"]["name"]: 0 for n in ready}
        for pod in store.objects(PODS.key):
            node = (pod.get("spec") or {}).get("nodeName")
            if node in load:
                load[node] += 1
        return min(ready, key=lambda n: (load[n["metadata"]["name"]], n["metadata"]["name"]))


__all__ = ["Kubelet", "PodIPs", "container_id", "image_id", "pending_status", "qos_class",
           "running_status"]
