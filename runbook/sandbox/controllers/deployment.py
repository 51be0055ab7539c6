"""The Deployment controller (k8s.io/kubernetes ``pkg/controller/deployment``), emulated.

For each Deployment it finds the ReplicaSets it controls, picks the **new** one (template equal to
the Deployment's, ignoring ``pod-template-hash``) or creates it, and rolls:

* **RollingUpdate** — the new ReplicaSet grows up to ``replicas + maxSurge`` pods in total, old
  ones shrink while at least ``replicas − maxUnavailable`` pods stay available; unhealthy old
  replicas go first (``reconcileNewReplicaSet`` / ``reconcileOldReplicaSets`` /
  ``cleanupUnhealthyReplicas``). A rollout whose new pods cannot be created leaves the old
  ReplicaSet as it is, like the real one.
* **Recreate** — old ReplicaSets go to 0 and their pods away first, then the new one scales up.

The new ReplicaSet is ``<deployment>-<pod-template-hash>``: a 32-bit hash of the template whose
decimal digits are written with ``rand.SafeEncodeString`` (hence names like
``details-v1-ccbdcf56``); the sandbox's hash function differs from Kubernetes' (see
:func:`pod_template_hash`), so the shape is real and the value its own. It carries the
``pod-template-hash`` label (template and selector too), the Deployment's annotations and
``deployment.kubernetes.io/revision|desired-replicas|max-replicas``. Events: ``ScalingReplicaSet``
``Scaled up replica set <rs> from 0 to <n>`` on creation, ``Scaled up|down replica set <rs> from <m>
to <n>`` afterwards (the wording of kube-controller-manager 1.37, as measured on the real engine).

Status as ``calculateStatus`` and ``syncRolloutStatus`` set it: ``observedGeneration``,
``replicas``, ``updatedReplicas``, ``readyReplicas``, ``availableReplicas``,
``unavailableReplicas``; conditions ``Available`` (``MinimumReplicasAvailable`` /
``MinimumReplicasUnavailable``), ``Progressing`` (``NewReplicaSetCreated``, ``FoundNewReplicaSet``,
``ReplicaSetUpdated``, ``NewReplicaSetAvailable``, ``ProgressDeadlineExceeded`` after
``progressDeadlineSeconds`` without progress) and ``ReplicaFailure`` copied from a failing
ReplicaSet. ``kubectl rollout restart`` (a template annotation) and ``kubectl rollout status`` work
on top of this. Old ReplicaSets beyond ``revisionHistoryLimit`` are deleted once a rollout is
complete. Not emulated: adoption of orphaned ReplicaSets, proportional scaling of several active
ReplicaSets, rollbacks through ``rollbackTo``.
"""

from __future__ import annotations

import zlib
from typing import Any

import orjson

from runbook.kinds import DEPLOYMENTS, PODS, REPLICA_SETS
from runbook.sandbox.clock import Timer
from runbook.sandbox.controllers.base import (
    ControllerContext,
    condition,
    controller_context,
    controller_of,
    controller_ref,
    owned,
    parse_time,
    resolve_fraction,
)
from runbook.sandbox.controllers.events import NORMAL, WARNING
from runbook.sandbox.registry.status import ApiError
from runbook.sandbox.storage.store import Change, Obj, copy_object
from runbook.wellknown import DEPLOYMENT_REVISION_ANNOTATION, POD_TEMPLATE_HASH

COMPONENT = "deployment-controller"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
#: deployment annotations not copied to its ReplicaSets (``annotationsToSkip``)
_SKIP_ANNOTATIONS = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration", DEPLOYMENT_REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION, DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION,
})
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
#: SafeEncodeString on decimal digits: alphabet[ord(digit) % 27]
_SAFE_DIGITS = str.maketrans({d: _SAFE_ALPHABET[ord(d) % len(_SAFE_ALPHABET)]
                              for d in "0123456789"})


# ---------------------------------------------------------------------------- pure helpers


def pod_template_hash(template: Obj, collision_count: int | None = None) -> str:
    """``controller.ComputeHash``: a 32-bit hash of the template (and the collision count), its
    decimal digits written with ``rand.SafeEncodeString`` — so only ``4 5 6 7 8 9 b c d f``
    appear, as in real names. Kubernetes hashes Go's ``spew`` dump with FNV-32a; the sandbox
    hashes canonical JSON with CRC-32 (C speed: the scale scenario hashes 10,000 templates)."""
    data = orjson.dumps(template, option=orjson.OPT_SORT_KEYS)
    if collision_count is not None:
        data += str(collision_count).encode()
    return str(zlib.crc32(data)).translate(_SAFE_DIGITS)


def _without_hash(template: Obj) -> Obj:
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels.pop(POD_TEMPLATE_HASH, None)
    meta = dict(template.get("metadata") or {})
    if labels:
        meta["labels"] = labels
    else:
        meta.pop("labels", None)
    out = dict(template)
    out["metadata"] = meta
    return out


def equal_ignore_hash(a: Obj, b: Obj) -> bool:
    """``EqualIgnoreHash``: templates equal once ``pod-template-hash`` labels are dropped."""
    return _without_hash(a) == _without_hash(b)


def revision_of(rs: Obj) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(DEPLOYMENT_REVISION_ANNOTATION, 0))
    except (TypeError, ValueError):
        return 0


def max_surge(d: Obj) -> int:
    spec = d.get("spec") or {}
    strategy = spec.get("strategy") or {}
    if strategy.get("type") != "RollingUpdate":
        return 0
    rolling = strategy.get("rollingUpdate") or {}
    replicas = int(spec.get("replicas", 1))
    return resolve_fraction(rolling.get("maxSurge", "25%"), replicas, round_up=True)


def max_unavailable(d: Obj) -> int:
    spec = d.get("spec") or {}
    strategy = spec.get("strategy") or {}
    replicas = int(spec.get("replicas", 1))
    if strategy.get("type") != "RollingUpdate" or replicas == 0:
        return 0
    rolling = strategy.get("rollingUpdate") or {}
    surge = resolve_fraction(rolling.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = resolve_fraction(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1  # ResolveFenceposts: both zero is not allowed to stall
    return min(unavailable, replicas)


def _spec_replicas(rs: Obj | None) -> int:
    return int(((rs or {}).get("spec") or {}).get("replicas", 0)) if rs else 0


def _status_int(rs: Obj | None, field: str) -> int:
    return int(((rs or {}).get("status") or {}).get(field) or 0) if rs else 0


def new_replicaset(d: Obj, replicas: int, revision: int) -> Obj:
    """The ReplicaSet ``getNewReplicaSet`` creates for the Deployment's current template."""
    spec = d["spec"]
    template = copy_object(spec.get("template") or {})
    collision = (d.get("status") or {}).get("collisionCount")
    hash_ = pod_template_hash(spec.get("template") or {}, collision)
    tmeta = template.setdefault("metadata", {})
    tmeta["labels"] = {**(tmeta.get("labels") or {}), POD_TEMPLATE_HASH: hash_}
    selector = copy_object(spec.get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), POD_TEMPLATE_HASH: hash_}
    annotations = {k: v for k, v in (d["metadata"].get("annotations") or {}).items()
                   if k not in _SKIP_ANNOTATIONS}
    desired = int(spec.get("replicas", 1))
    annotations[DEPLOYMENT_REVISION_ANNOTATION] = str(revision)
    annotations[DESIRED_REPLICAS_ANNOTATION] = str(desired)
    annotations[MAX_REPLICAS_ANNOTATION] = str(desired + max_surge(d))
    rs_spec: Obj = {"replicas": replicas, "selector": selector, "template": template}
    if spec.get("minReadySeconds"):
        rs_spec["minReadySeconds"] = spec["minReadySeconds"]
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": f"{d['metadata']['name']}-{hash_}",
                     "namespace": d["metadata"]["namespace"],
                     "labels": dict(tmeta["labels"]), "annotations": annotations,
                     "ownerReferences": [controller_ref(DEPLOYMENTS, d)]},
        "spec": rs_spec,
    }


def set_condition(status: Obj, type_: str, cond_status: str, reason: str, message: str,
                  now: str) -> None:
    """``SetDeploymentCondition``: same status and reason → unchanged; same status → keep the
    transition time."""
    conditions = list(status.get("conditions") or [])
    current = next((c for c in conditions if c.get("type") == type_), None)
    if current is not None and current.get("status") == cond_status and \
            current.get("reason") == reason:
        return
    new = {"type": type_, "status": cond_status, "lastUpdateTime": now,
           "lastTransitionTime": now, "reason": reason, "message": message}
    if current is not None and current.get("status") == cond_status:
        new["lastTransitionTime"] = current.get("lastTransitionTime", now)
    status["conditions"] = [c for c in conditions if c.get("type") != type_] + [new]


def remove_condition(status: Obj, type_: str) -> None:
    conditions = [c for c in status.get("conditions") or () if c.get("type") != type_]
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)


def calculate_status(d: Obj, all_rs: list[Obj], new_rs: Obj | None) -> Obj:
    """``calculateStatus``: counts from the ReplicaSets, Available from ``maxUnavailable``."""
    available = sum(_status_int(rs, "availableReplicas") for rs in all_rs)
    total = sum(_spec_replicas(rs) for rs in all_rs)
    status: Obj = {"observedGeneration": d["metadata"].get("generation", 1)}
    counts = {
        "replicas": sum(_status_int(rs, "replicas") for rs in all_rs),
        "updatedReplicas": _status_int(new_rs, "replicas"),
        "readyReplicas": sum(_status_int(rs, "readyReplicas") for rs in all_rs),
        "availableReplicas": available,
        "unavailableReplicas": max(0, total - available),
    }
    status.update({k: v for k, v in counts.items() if v})
    # GetTerminatingReplicaCountForReplicaSets: unknown (left out) until every ReplicaSet says
    terminating = [(rs.get("status") or {}).get("terminatingReplicas") for rs in all_rs]
    if None not in terminating:
        status["terminatingReplicas"] = sum(terminating)
    old = d.get("status") or {}
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if old.get("conditions"):
        status["conditions"] = [dict(c) for c in old["conditions"]]
    return status


class DeploymentController:
    """Rolls Deployments out through ReplicaSets (see the module docstring)."""

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.api = controller_context(COMPONENT)
        self._deadlines: dict[tuple[str, str], tuple[float, Timer]] = {}

    def reset(self) -> None:
        for _, timer in self._deadlines.values():
            timer.cancel()
        self._deadlines.clear()

    # ------------------------------------------------------------------ events in

    def on_change(self, change: Change) -> None:
        if change.kind == DEPLOYMENTS.key:
            if change.type != "DELETED":
                meta = change.obj["metadata"]
                old = change.old
                if old is not None and old.get("spec") == change.obj.get("spec") and \
                        old["metadata"].get("annotations") == meta.get("annotations"):
                    return  # our own status write
                self.enqueue((meta.get("namespace", ""), meta["name"]))
        elif change.kind == REPLICA_SETS.key:
            ref = controller_of(change.obj)
            if ref is not None and ref.get("kind") == DEPLOYMENTS.kind:
                self.enqueue((change.obj["metadata"].get("namespace", ""), str(ref.get("name"))))
        elif change.kind == PODS.key and change.type == "DELETED":
            # a Recreate rollout waits for the old pods to be gone (the controller's deletePod)
            ns = change.obj["metadata"].get("namespace", "")
            rs_ref = controller_of(change.obj)
            rs = self.ctx.store.get(REPLICA_SETS.key, ns, str(rs_ref.get("name"))) if rs_ref else None
            ref = controller_of(rs) if rs is not None else None
            if ref is not None and ref.get("kind") == DEPLOYMENTS.kind:
                self.enqueue((ns, str(ref.get("name"))))

    def enqueue(self, key: tuple[str, str]) -> None:
        self.ctx.enqueue(("deployment", *key), lambda: self.sync(key))

    # ------------------------------------------------------------------ sync

    def sync(self, key: tuple[str, str]) -> None:
        store = self.ctx.store
        d = store.get(DEPLOYMENTS.key, *key)
        if d is None or d["metadata"].get("deletionTimestamp"):
            return
        rs_list = [rs for rs in owned(store, REPLICA_SETS, d)
                   if not rs["metadata"].get("deletionTimestamp")]
        strategy = ((d.get("spec") or {}).get("strategy") or {}).get("type", "RollingUpdate")
        if d["spec"].get("paused"):
            new_rs, old_rs = self._new_and_old(d, rs_list, create=False)
            self._sync_status(key, new_rs, old_rs, paused=True)
            return
        if strategy == "Recreate":
            self._recreate(key, d, rs_list)
        else:
            self._rolling(key, d, rs_list)

    def _rolling(self, key: tuple[str, str], d: Obj, rs_list: list[Obj]) -> None:
        new_rs, old_rs = self._new_and_old(d, rs_list, create=True)
        if new_rs is None:
            return
        if self._reconcile_new(d, new_rs, old_rs):
            self._sync_status(key, *self._reload(key))
            return
        if self._reconcile_old(d, new_rs, old_rs):
            self._sync_status(key, *self._reload(key))
            return
        new_rs, old_rs = self._reload(key)
        self._sync_status(key, new_rs, old_rs, cleanup=True)

    def _recreate(self, key: tuple[str, str], d: Obj, rs_list: list[Obj]) -> None:
        new_rs, old_rs = self._new_and_old(d, rs_list, create=False)
        scaled = False
        for rs in old_rs:
            if _spec_replicas(rs) > 0:
                self._scale(d, rs, 0)
                scaled = True
        if scaled:
            self._sync_status(key, *self._reload(key))
            return
        if any(owned(self.ctx.store, PODS, rs) for rs in old_rs):
            self._sync_status(key, new_rs, old_rs)
            return
        if new_rs is None:
            new_rs, old_rs = self._new_and_old(d, rs_list, create=True)
            if new_rs is None:
                return
        if _spec_replicas(new_rs) != int(d["spec"].get("replicas", 1)):
            self._scale(d, new_rs, int(d["spec"].get("replicas", 1)))
        new_rs, old_rs = self._reload(key)
        self._sync_status(key, new_rs, old_rs, cleanup=True)

    def _reload(self, key: tuple[str, str]) -> tuple[Obj | None, list[Obj]]:
        store = self.ctx.store
        d = store.get(DEPLOYMENTS.key, *key)
        if d is None:
            return None, []
        rs_list = [rs for rs in owned(store, REPLICA_SETS, d)
                   if not rs["metadata"].get("deletionTimestamp")]
        return self._new_and_old(d, rs_list, create=False)

    def _new_and_old(self, d: Obj, rs_list: list[Obj], create: bool
                     ) -> tuple[Obj | None, list[Obj]]:
        """``getAllReplicaSetsAndSyncRevision``: the new ReplicaSet (created on demand, revision
        synced) and the old ones, oldest first."""
        template = d["spec"].get("template") or {}
        matching = [rs for rs in rs_list
                    if equal_ignore_hash((rs.get("spec") or {}).get("template") or {}, template)]
        matching.sort(key=lambda rs: (rs["metadata"].get("creationTimestamp", ""),
                                      rs["metadata"]["name"]))
        new_rs = matching[0] if matching else None
        old_rs = sorted((rs for rs in rs_list if rs is not new_rs),
                        key=lambda rs: (rs["metadata"].get("creationTimestamp", ""),
                                        rs["metadata"]["name"]))
        max_old = max((revision_of(rs) for rs in old_rs), default=0)
        if new_rs is not None:
            if revision_of(new_rs) < max_old + 1 or revision_of(new_rs) == 0:
                updated = copy_object(new_rs)
                updated["metadata"].setdefault("annotations", {})[
                    DEPLOYMENT_REVISION_ANNOTATION] = str(max_old + 1)
                new_rs = self._update(REPLICA_SETS, updated) or new_rs
            self._set_revision(d, revision_of(new_rs), new_rs, created=False)
            return new_rs, old_rs
        if not create:
            return None, old_rs
        replicas = self._new_rs_replicas(d, old_rs, None)
        body = new_replicaset(d, replicas, max_old + 1)
        try:
            created = self.ctx.cluster.create(REPLICA_SETS, d["metadata"]["namespace"], body,
                                              self.api)
        except ApiError as exc:
            if exc.code == 409:  # a hash collision: count it, the next sync picks a new name
                self._bump_collision(d)
                return None, old_rs
            message = f'Failed to create new replica set "{body["metadata"]["name"]}": {exc.message}'
            self.ctx.recorder.event(DEPLOYMENTS, d, WARNING, "ReplicaSetCreateError", message,
                                    component=COMPONENT)
            return None, old_rs
        if replicas > 0:
            self.ctx.recorder.event(
                DEPLOYMENTS, d, NORMAL, "ScalingReplicaSet",
                f"Scaled up replica set {created['metadata']['name']} from 0 to {replicas}",
                component=COMPONENT)
        self._set_revision(d, max_old + 1, created, created=True)
        return created, old_rs

    def _set_revision(self, d: Obj, revision: int, new_rs: Obj, created: bool) -> None:
        """Copy the new ReplicaSet's revision onto the Deployment; note the new ReplicaSet in
        the Progressing condition."""
        store = self.ctx.store
        current = store.get(DEPLOYMENTS.key, d["metadata"]["namespace"], d["metadata"]["name"])
        if current is None:
            return
        annotations = current["metadata"].get("annotations") or {}
        if annotations.get(DEPLOYMENT_REVISION_ANNOTATION) != str(revision):
            updated = copy_object(current)
            updated["metadata"].setdefault("annotations", {})[
                DEPLOYMENT_REVISION_ANNOTATION] = str(revision)
            current = self._update(DEPLOYMENTS, updated) or current
        if not _has_deadline(current):
            return
        status = copy_object(current.get("status") or {})
        now = self.ctx.clock.timestamp()
        name = new_rs["metadata"]["name"]
        if created:
            set_condition(status, "Progressing", "True", "NewReplicaSetCreated",
                          f'Created new replica set "{name}"', now)
        elif condition(current, "Progressing") is None:
            set_condition(status, "Progressing", "True", "FoundNewReplicaSet",
                          f'Found new replica set "{name}"', now)
        self.ctx.write_status(DEPLOYMENTS, current, status)

    def _bump_collision(self, d: Obj) -> None:
        status = copy_object(d.get("status") or {})
        status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
        self.ctx.write_status(DEPLOYMENTS, d, status)
        self.enqueue((d["metadata"]["namespace"], d["metadata"]["name"]))

    def _new_rs_replicas(self, d: Obj, old_rs: list[Obj], new_rs: Obj | None) -> int:
        """``NewRSNewReplicas``."""
        replicas = int(d["spec"].get("replicas", 1))
        strategy = (d["spec"].get("strategy") or {}).get("type", "RollingUpdate")
        if strategy != "RollingUpdate":
            return replicas
        current = sum(_spec_replicas(rs) for rs in old_rs) + _spec_replicas(new_rs)
        max_total = replicas + max_surge(d)
        if current >= max_total:
            return _spec_replicas(new_rs)
        scale_up = min(max_total - current, replicas - _spec_replicas(new_rs))
        return _spec_replicas(new_rs) + max(0, scale_up)

    def _reconcile_new(self, d: Obj, new_rs: Obj, old_rs: list[Obj]) -> bool:
        replicas = int(d["spec"].get("replicas", 1))
        have = _spec_replicas(new_rs)
        if have == replicas:
            return False
        if have > replicas:
            return self._scale(d, new_rs, replicas)
        wanted = self._new_rs_replicas(d, old_rs, new_rs)
        return wanted != have and self._scale(d, new_rs, wanted)

    def _reconcile_old(self, d: Obj, new_rs: Obj, old_rs: list[Obj]) -> bool:
        """``reconcileOldReplicaSets``: scale old ReplicaSets down without going below
        ``replicas − maxUnavailable`` available pods; unhealthy replicas first."""
        if sum(_spec_replicas(rs) for rs in old_rs) == 0:
            return False
        replicas = int(d["spec"].get("replicas", 1))
        all_pods = sum(_spec_replicas(rs) for rs in old_rs) + _spec_replicas(new_rs)
        min_available = replicas - max_unavailable(d)
        new_unavailable = _spec_replicas(new_rs) - _status_int(new_rs, "availableReplicas")
        max_scaled_down = all_pods - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        scaled = 0
        for rs in old_rs:  # cleanupUnhealthyReplicas
            if scaled >= max_scaled_down:
                break
            unhealthy = _spec_replicas(rs) - _status_int(rs, "availableReplicas")
            if _spec_replicas(rs) == 0 or unhealthy <= 0:
                continue
            count = min(max_scaled_down - scaled, unhealthy)
            self._scale(d, rs, _spec_replicas(rs) - count)
            scaled += count
        store = self.ctx.store
        fresh = [store.get(REPLICA_SETS.key, rs["metadata"]["namespace"], rs["metadata"]["name"])
                 for rs in old_rs]
        olds = [rs for rs in fresh if rs is not None]
        available = sum(_status_int(rs, "availableReplicas") for rs in olds) + \
            _status_int(new_rs, "availableReplicas")
        if available > min_available:  # scaleDownOldReplicaSetsForRollingUpdate
            budget, done = available - min_available, 0
            for rs in olds:
                if done >= budget:
                    break
                if _spec_replicas(rs) == 0:
                    continue
                count = min(_spec_replicas(rs), budget - done)
                self._scale(d, rs, _spec_replicas(rs) - count)
                done += count
            scaled += done
        return scaled > 0

    def _scale(self, d: Obj, rs: Obj, replicas: int) -> bool:
        """``scaleReplicaSetAndRecordEvent``: new size and replica annotations, and the event."""
        current = self.ctx.store.get(REPLICA_SETS.key, rs["metadata"]["namespace"],
                                     rs["metadata"]["name"])
        if current is None:
            return False
        old = _spec_replicas(current)
        updated = copy_object(current)
        updated["spec"]["replicas"] = replicas
        desired = int(d["spec"].get("replicas", 1))
        annotations = updated["metadata"].setdefault("annotations", {})
        annotations[DESIRED_REPLICAS_ANNOTATION] = str(desired)
        annotations[MAX_REPLICAS_ANNOTATION] = str(desired + max_surge(d))
        if self._update(REPLICA_SETS, updated) is None:
            return False
        if old != replicas:
            direction = "up" if replicas > old else "down"
            self.ctx.recorder.event(
                DEPLOYMENTS, d, NORMAL, "ScalingReplicaSet",
                f"Scaled {direction} replica set {current['metadata']['name']} from {old} "
                f"to {replicas}", component=COMPONENT)
        return old != replicas

    def _update(self, kind: Any, obj: Obj) -> Obj | None:
        meta = obj["metadata"]
        try:
            return self.ctx.cluster.update(kind, meta["namespace"], meta["name"], obj, self.api)
        except ApiError:
            return None  # changed or gone meanwhile: the change that did it queues a new sync

    # ------------------------------------------------------------------ status

    def _sync_status(self, key: tuple[str, str], new_rs: Obj | None, old_rs: list[Obj], *,
                     paused: bool = False, cleanup: bool = False) -> None:
        """``syncRolloutStatus``: counts, Available, Progressing (with the deadline) and
        ReplicaFailure; schedules the deadline check."""
        ctx = self.ctx
        d = ctx.store.get(DEPLOYMENTS.key, *key)
        if d is None:
            return
        all_rs = [*old_rs, *([new_rs] if new_rs is not None else [])]
        status = calculate_status(d, all_rs, new_rs)
        now_ts = ctx.clock.timestamp()
        replicas = int(d["spec"].get("replicas", 1))
        if status.get("availableReplicas", 0) >= replicas - max_unavailable(d):
            set_condition(status, "Available", "True", "MinimumReplicasAvailable",
                          "Deployment has minimum availability.", now_ts)
        else:
            set_condition(status, "Available", "False", "MinimumReplicasUnavailable",
                          "Deployment does not have minimum availability.", now_ts)
        old_status = d.get("status") or {}
        current = condition(d, "Progressing")
        complete = _complete(d, status)
        if paused:
            if current is None or current.get("reason") not in ("DeploymentPaused",
                                                                 "ProgressDeadlineExceeded"):
                set_condition(status, "Progressing", "Unknown", "DeploymentPaused",
                              "Deployment is paused", now_ts)
        elif _has_deadline(d):
            name = new_rs["metadata"]["name"] if new_rs is not None else None
            is_complete = (status.get("replicas", 0) == status.get("updatedReplicas", 0)
                           and current is not None
                           and current.get("reason") == "NewReplicaSetAvailable")
            if not is_complete:
                if complete:
                    msg = (f'ReplicaSet "{name}" has successfully progressed.' if name
                           else f'Deployment "{key[1]}" has successfully progressed.')
                    set_condition(status, "Progressing", "True", "NewReplicaSetAvailable", msg,
                                  now_ts)
                elif _progressing(status, old_status):
                    msg = (f'ReplicaSet "{name}" is progressing.' if name
                           else f'Deployment "{key[1]}" is progressing.')
                    transition = now_ts
                    if current is not None and current.get("status") == "True":
                        transition = current.get("lastTransitionTime", now_ts)
                    remove_condition(status, "Progressing")
                    status.setdefault("conditions", []).append({
                        "type": "Progressing", "status": "True", "lastUpdateTime": now_ts,
                        "lastTransitionTime": transition, "reason": "ReplicaSetUpdated",
                        "message": msg})
                elif self._timed_out(d, current):
                    msg = (f'ReplicaSet "{name}" has timed out progressing.' if name
                           else f'Deployment "{key[1]}" has timed out progressing.')
                    set_condition(status, "Progressing", "False", "ProgressDeadlineExceeded",
                                  msg, now_ts)
        else:
            remove_condition(status, "Progressing")
        failure = next((c for rs in all_rs if (c := condition(rs, "ReplicaFailure"))), None)
        if failure is not None:
            set_condition(status, "ReplicaFailure", failure.get("status", "True"),
                          failure.get("reason", ""), failure.get("message", ""), now_ts)
        else:
            remove_condition(status, "ReplicaFailure")
        stored = ctx.write_status(DEPLOYMENTS, d, status) or d
        if cleanup and complete:
            self._cleanup(stored, old_rs)
        self._schedule_deadline(key, stored)

    def _timed_out(self, d: Obj, current: Obj | None) -> bool:
        if current is None:
            return False
        if current.get("reason") == "ProgressDeadlineExceeded":
            return True
        if current.get("reason") == "NewReplicaSetAvailable":
            return False
        since = parse_time(current.get("lastUpdateTime"))
        deadline = int(d["spec"].get("progressDeadlineSeconds", 600))
        return since is not None and since + deadline < self.ctx.clock.time()

    def _schedule_deadline(self, key: tuple[str, str], d: Obj) -> None:
        """``requeueStuckDeployment``: check again just after the progress deadline passes."""
        if not _has_deadline(d) or _complete(d, d.get("status") or {}):
            return
        current = condition(d, "Progressing")
        if current is None or current.get("reason") in ("ProgressDeadlineExceeded",
                                                        "NewReplicaSetAvailable",
                                                        "DeploymentPaused"):
            return
        since = parse_time(current.get("lastUpdateTime"))
        if since is None:
            return
        due = since + int(d["spec"].get("progressDeadlineSeconds", 600)) + 1
        current_timer = self._deadlines.get(key)
        if current_timer is not None:
            if current_timer[0] == due and not current_timer[1].cancelled:
                return  # one check per deadline is enough
            current_timer[1].cancel()

        def check() -> None:
            self._deadlines.pop(key, None)
            self.sync(key)

        self._deadlines[key] = (due, self.ctx.at(due, check))

    def _cleanup(self, d: Obj, old_rs: list[Obj]) -> None:
        """``cleanupDeployment``: keep ``revisionHistoryLimit`` old, empty ReplicaSets."""
        limit = int(d["spec"].get("revisionHistoryLimit", 10))
        empty = [rs for rs in old_rs if _spec_replicas(rs) == 0 and _status_int(rs, "replicas") == 0
                 and not rs["metadata"].get("deletionTimestamp")]
        surplus = len(empty) - limit
        if surplus <= 0:
            return
        for rs in sorted(empty, key=revision_of)[:surplus]:
            try:
                self.ctx.cluster.delete(REPLICA_SETS, rs["metadata"]["namespace"],
                                        rs["metadata"]["name"], self.api)
            except ApiError:
                continue


def _has_deadline(d: Obj) -> bool:
    return (d.get("spec") or {}).get("progressDeadlineSeconds") is not None


def _complete(d: Obj, status: Obj) -> bool:
    """``DeploymentComplete``."""
    replicas = int(d["spec"].get("replicas", 1))
    return (status.get("updatedReplicas", 0) == replicas and status.get("replicas", 0) == replicas
            and status.get("availableReplicas", 0) == replicas
            and status.get("observedGeneration", 0) >= d["metadata"].get("generation", 1))


def _progressing(new: Obj, old: Obj) -> bool:
    """``DeploymentProgressing``: more updated/ready/available pods, or fewer old ones."""
    old_old = int(old.get("replicas") or 0) - int(old.get("updatedReplicas") or 0)
    new_old = int(new.get("replicas") or 0) - int(new.get("updatedReplicas") or 0)
    return (int(new.get("updatedReplicas") or 0) > int(old.get("updatedReplicas") or 0)
            or int(new.get("readyReplicas") or 0) > int(old.get("readyReplicas") or 0)
            or new_old < old_old
            or int(new.get("availableReplicas") or 0) > int(old.get("availableReplicas") or 0))


__all__ = [
    "DeploymentController",
    "calculate_status",
    "equal_ignore_hash",
    "new_replicaset",
    "pod_template_hash",
    "revision_of",
]
