"""Fix plans: preview, server-side dry run, guarded apply, audit, exact undo.

The safety model (DESIGN.md › Fix safety model), in the order a plan goes through it:

1. **Plan** — every step holds the object as observed (with its ``resourceVersion``) and the object
   wanted; :meth:`FixPlan.preview` shows both and a unified diff, and the equivalent ``kubectl``.
2. **Dry run** — :meth:`FixPlan.dry_run` sends every step with ``dryRun=All``: the server validates
   and admits it but stores nothing.
3. **Apply** — each update is a PUT carrying the observed ``resourceVersion``; if anyone changed
   the object since the plan was made the server answers 409 and we stop, change nothing more,
   and say so (:class:`~runbook.errors.ConcurrentChange`).
4. **Confirm** — a plan that touches a cluster-scoped object (a webhook configuration, a namespace)
   needs the kube context's name typed back (``confirm=<context>``), like ``istioctl tag set``
   refuses to overwrite without ``--overwrite``.
5. **Audit** — each step appends an :class:`~runbook.audit.AuditRecord` (JSONL) and keeps it
   on the result for display.
6. **Undo** — :meth:`FixPlan.undo` puts every applied object back to its exact prior content,
   again guarded by the resourceVersion our apply produced.

A multi-step plan that fails midway raises :class:`~runbook.errors.PartialApply` naming the steps
that completed; nothing is left half-applied without being reported, and ``undo()`` reverts the
completed steps.

A write whose answer is lost (a timeout, a dropped connection) may or may not have been applied.
The object is then read back: if it holds what the step wanted, the step counts as applied; if
not, the step's outcome is *unknown* (the request may still be in flight) and the error says so
instead of "nothing was changed". ``undo()`` reads such steps again and reverts them only if the
change is there. The same read-back makes a guarded write that the client retried after a lost
answer (and that then fails its own stale precondition) count once, as applied — never twice.
"""

from __future__ import annotations

import copy
import difflib
import json
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jsonpatch
import yaml

from runbook.audit import STARTED, AuditLog, AuditRecord
from runbook.errors import (
    AlreadyExists,
    ClusterError,
    ConcurrentChange,
    ConfirmationRequired,
    Conflict,
    FixError,
    NotFound,
    PartialApply,
    StepOutcome,
    Unreachable,
)
from runbook.kinds import ResourceKind
from runbook.kube import Cluster
from runbook.kube.objects import comparable
from runbook.snapshot import RawObject
from runbook.wellknown import DEPLOYMENT_REVISION_ANNOTATION


def object_label(kind: ResourceKind, namespace: str | None, name: str) -> str:
    return f"{kind.kind}/{namespace}/{name}" if namespace else f"{kind.kind}/{name}"


@dataclass
class Step:
    """One object change of a plan.

    Attributes:
        kind, namespace, name: the object.
        before: the object as observed when planning (None: the step creates it).
        after: the object wanted (None: the step deletes it).
        description: what the step does, in words.
        undoable: False for steps whose effect cannot be reverted (deleting a ReplicaSet that its
            Deployment recreates); the plan says so before it is applied.
    """

    kind: ResourceKind
    namespace: str | None
    name: str
    before: RawObject | None
    after: RawObject | None
    description: str
    undoable: bool = True
    #: set by apply: the object as the server returned it
    applied: RawObject | None = None
    #: set by apply: the write got no answer and the read-back did not show it (undo checks again)
    uncertain: bool = False

    @property
    def label(self) -> str:
        return object_label(self.kind, self.namespace, self.name)

    @property
    def verb(self) -> str:
        if self.before is None:
            return "create"
        return "delete" if self.after is None else "update"

    def diff(self) -> str:
        """Unified diff (YAML) between before and after, server-owned fields left out."""
        a = _yaml(comparable(self.before))
        b = _yaml(comparable(self.after))
        return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True),
                                            fromfile=f"{self.label} (now)",
                                            tofile=f"{self.label} (after fix)"))

    def json_patch(self) -> list[dict[str, Any]]:
        """The RFC 6902 operations from before to after (for the kubectl equivalent)."""
        ops: list[dict[str, Any]] = jsonpatch.make_patch(
            comparable(self.before) or {}, comparable(self.after) or {}).patch
        return ops

    def kubectl(self, *, dry_run: bool = False) -> str:
        """The equivalent kubectl command, for learning and for runbooks without this tool.

        Args:
            dry_run: the server-side dry run of it (``--dry-run=server``: validated and admitted,
                not stored), as :meth:`FixPlan.dry_run` sends it.
        """
        ns = f" -n {self.namespace}" if self.namespace else ""
        res = f"{self.kind.key} {self.name}"
        dry = " --dry-run=server" if dry_run else ""
        if self.verb == "delete":
            return f"kubectl delete {res}{ns}{dry}"
        if self.verb == "create":
            return f"kubectl create{dry} -f - <<'EOF'\n{_yaml(comparable(self.after))}EOF"
        ops = json.dumps(self.json_patch(), separators=(",", ":"))
        return f"kubectl patch {res}{ns} --type=json -p {shlex.quote(ops)}{dry}"

    def reverted(self) -> Step:
        """The step that puts the object back (after → before), for the undo's kubectl."""
        current = self.applied if self.applied is not None else self.after
        return Step(self.kind, self.namespace, self.name, current, self.before,
                    f"undo: {self.description}", undoable=self.undoable)


@dataclass
class StepResult:
    step: str
    object: str
    status: str  # applied | dry-run | failed | unknown | not-run | undone | refused
    detail: str = ""


@dataclass
class PlanResult:
    """What happened when a plan was dry-run, applied or undone."""

    action: str
    plan: str
    context: str
    steps: list[StepResult] = field(default_factory=list)
    audit: list[AuditRecord] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.status in ("applied", "dry-run", "undone") for s in self.steps)

    def summary(self) -> str:
        lines = [f"{self.action} of {self.plan!r} in context {self.context!r}: "
                 + ("ok" if self.ok else "NOT completed")]
        lines += [f"  - {s.object}: {s.status}" + (f" ({s.detail})" if s.detail else "")
                  for s in self.steps]
        return "\n".join(lines)


@dataclass
class FixPlan:
    """An ordered list of steps against one cluster context.

    Build plans with the constructors in :mod:`runbook.fix.actions`; a plan is data until
    :meth:`apply` is called.
    """

    title: str
    context: str
    server: str
    user: str | None
    steps: list[Step]
    rationale: str = ""
    extra_commands: list[str] = field(default_factory=list)
    applied: bool = False
    undone: bool = False
    history: list[PlanResult] = field(default_factory=list)

    # ------------------------------------------------------------------ looking

    @property
    def cluster_scoped(self) -> bool:
        """True when a step touches a cluster-scoped object (confirmation needed)."""
        return any(not s.kind.namespaced for s in self.steps)

    @property
    def undoable(self) -> bool:
        return all(s.undoable for s in self.steps)

    def diff(self) -> str:
        return "\n".join(s.diff() for s in self.steps if s.diff())

    def kubectl(self, *, dry_run: bool = False) -> list[str]:
        """Equivalent commands, step by step (plus any the plan adds, e.g. istioctl).

        With ``dry_run`` the per-step commands carry ``--dry-run=server`` and the plan's extra
        commands are left out (``istioctl tag set`` and ``kubectl rollout restart`` have no
        server-side dry run).
        """
        if dry_run:
            return [s.kubectl(dry_run=True) for s in self.steps]
        return [*self.extra_commands, *(s.kubectl() for s in self.steps)]

    def undo_kubectl(self) -> list[str]:
        """The commands that revert the plan by hand (last step first; undoable steps only)."""
        return [s.reverted().kubectl() for s in reversed(self.steps) if s.undoable]

    def preview(self) -> str:
        """Plain-text preview: context, steps, diff, kubectl equivalents, what undo can do."""
        head = [f"Plan: {self.title}",
                f"Context: {self.context} ({self.server})"
                + ("  — touches cluster-scoped objects: confirmation required" if
                   self.cluster_scoped else "")]
        if self.rationale:
            head.append(f"Why: {self.rationale}")
        head += [f"  {i}. {s.verb} {s.label}: {s.description}"
                 + ("" if s.undoable else " (cannot be undone)")
                 for i, s in enumerate(self.steps, 1)]
        body = self.diff() or "(no change: the cluster already matches)"
        cmds = "\n".join(self.kubectl())
        return "\n".join(head) + "\n\n" + body + "\n\nEquivalent commands:\n" + cmds + "\n"

    # ------------------------------------------------------------------ doing

    def check_confirmation(self, cluster: Cluster, confirm: str | None) -> None:
        """Refuse unless the plan targets ``cluster`` and cluster-scoped changes are confirmed."""
        if cluster.context != self.context or cluster.server != self.server:
            raise FixError(
                f"this plan was made for context {self.context!r} ({self.server}), not "
                f"{cluster.context!r} ({cluster.server})", hint="make the plan again on this cluster")
        if self.cluster_scoped and confirm != self.context:
            raise ConfirmationRequired(
                f"{self.title!r} changes cluster-scoped objects in context {self.context!r}",
                hint=f"confirm by passing confirm={self.context!r}")

    def dry_run(self, cluster: Cluster, *, audit: AuditLog | None = None) -> PlanResult:
        """Send every step with ``dryRun=All``: validated and admitted by the server, not stored."""
        self.check_confirmation(cluster, self.context)  # dry runs need no confirmation
        result = PlanResult("dry-run", self.title, self.context)
        for step in self.steps:
            try:
                _send(cluster, step, step.before, step.after, dry_run=True)
            except ClusterError as exc:
                result.steps.append(StepResult(step.description, step.label, "failed",
                                               exc.one_line()))
                self._record(result, audit, "dry-run", step, "failed", exc.one_line())
                continue
            result.steps.append(StepResult(step.description, step.label, "dry-run"))
            self._record(result, audit, "dry-run", step, "dry-run")
        self.history.append(result)
        return result

    def apply(self, cluster: Cluster, *, confirm: str | None = None,
              audit: AuditLog | None = None) -> PlanResult:
        """Apply every step in order, each guarded by its observed resourceVersion.

        Raises:
            ConfirmationRequired: cluster-scoped changes without ``confirm=<context>``.
            ConcurrentChange: the first step's object changed since planning (nothing changed).
            PartialApply: a later step failed; the message names the completed steps.
            FixError: the plan was already applied.
        """
        if self.applied and not self.undone:
            raise FixError(f"{self.title!r} was already applied", hint="undo it first or re-plan")
        self.check_confirmation(cluster, confirm)
        result = PlanResult("apply", self.title, self.context)
        outcomes: list[StepOutcome] = []
        for step in self.steps:
            step.uncertain = False
        for i, step in enumerate(self.steps):
            entry = self._begin(audit, "apply", step)
            try:
                step.applied = _send(cluster, step, step.before, step.after, dry_run=False)
            except ClusterError as exc:
                unknown = isinstance(exc, Unreachable) and exc.maybe_applied
                detail = _explain(exc, step)
                status = "unknown" if unknown else "failed"
                step.uncertain = unknown
                result.steps.append(StepResult(step.description, step.label, status, detail))
                self._record(result, audit, "apply", step,
                             "refused" if isinstance(exc, Conflict) else status, detail, entry=entry)
                outcomes.append(StepOutcome(step.label, status, detail))
                for rest in self.steps[i + 1:]:
                    result.steps.append(StepResult(rest.description, rest.label, "not-run"))
                    outcomes.append(StepOutcome(rest.label, "not-run"))
                self.history.append(result)
                if i == 0 and not unknown:
                    if isinstance(exc, Conflict):
                        raise ConcurrentChange(detail, hint="nothing was changed; preview again "
                                               "to see the current state") from None
                    raise FixError(detail, hint="nothing was changed") from None
                self.applied = True  # partly: undo() reverts the completed steps
                self.undone = False
                if i == 0:
                    raise FixError(detail, hint=f"check {step.label} (kubectl get); undo() reverts "
                                                "the step if it was applied") from None
                raise PartialApply(
                    f"{self.title!r} stopped at step {i + 1} of {len(self.steps)}: {detail}",
                    steps=outcomes, hint="run undo() to revert the completed steps"
                                         + (" (it checks the unknown one first)" if unknown
                                            else "")) from None
            result.steps.append(StepResult(step.description, step.label, "applied"))
            outcomes.append(StepOutcome(step.label, "applied"))
            self._record(result, audit, "apply", step, "applied", entry=entry)
        self.applied, self.undone = True, False
        self.history.append(result)
        return result

    def undo(self, cluster: Cluster, *, confirm: str | None = None,
             audit: AuditLog | None = None) -> PlanResult:
        """Put every applied step's object back to its exact prior content (last step first).

        Each revert is guarded by the resourceVersion our apply produced: if someone changed the
        object after us, undo refuses for that object rather than overwrite their change.
        """
        if not self.applied or self.undone:
            raise FixError(f"{self.title!r} has nothing to undo", hint="apply it first")
        self.check_confirmation(cluster, confirm)
        result = PlanResult("undo", self.title, self.context)
        failures = 0
        for step in reversed(self.steps):
            if step.uncertain and step.after is not None:
                # its write got no answer: revert it only if the change is there now
                try:
                    landed = _read_back(cluster, step, step.after)
                except ClusterError as exc:
                    failures += 1
                    detail = f"cannot check whether its change is there: {exc.one_line()}"
                    result.steps.append(StepResult(step.description, step.label, "failed", detail))
                    self._record(result, audit, "undo", step, "failed", detail)
                    continue
                if landed is None:
                    result.steps.append(StepResult(step.description, step.label, "undone",
                                                   "its change was never applied: nothing to revert"))
                    step.uncertain = False
                    continue
                step.applied, step.uncertain = landed, False
            if step.applied is None and step.verb != "delete":
                continue
            if not step.undoable:
                result.steps.append(StepResult(step.description, step.label, "refused",
                                               "this step cannot be undone"))
                continue
            current = step.applied
            entry = self._begin(audit, "undo", step, before=current, after=step.before)
            try:
                restored = _send(cluster, step, current, step.before, dry_run=False, undo=True)
            except ClusterError as exc:
                failures += 1
                detail = _explain(exc, step)
                result.steps.append(StepResult(step.description, step.label, "failed", detail))
                self._record(result, audit, "undo", step, "failed", detail, entry=entry)
                continue
            step.applied = None
            result.steps.append(StepResult(step.description, step.label, "undone"))
            self._record(result, audit, "undo", step, "applied", before=current, after=restored,
                         entry=entry)
        self.history.append(result)
        if failures == 0:
            self.undone = True
        return result

    def _begin(self, audit: AuditLog | None, action: str, step: Step, *,
               before: RawObject | None = None, after: RawObject | None = None
               ) -> AuditRecord:
        # written ahead: a kill between this line and the outcome leaves "started, outcome unknown"
        return (audit or AuditLog()).begin(self._audit_record(
            action, step, STARTED, before=before, after=after if after is not None else step.after))

    def _record(self, result: PlanResult, audit: AuditLog | None, action: str, step: Step,
                outcome: str, detail: str = "", *, before: RawObject | None = None,
                after: RawObject | None = None, entry: AuditRecord | None = None) -> None:
        rec = self._audit_record(
            action, step, outcome, detail, before=before,
            after=after if after is not None else
            (step.applied if outcome == "applied" else step.after))
        if entry is not None:
            rec.id = entry.id  # the outcome of the change its started record announced
        result.audit.append(rec)
        (audit or AuditLog()).append(rec)

    def _audit_record(self, action: str, step: Step, outcome: str, detail: str = "", *,
                      before: RawObject | None, after: RawObject | None) -> AuditRecord:
        return AuditRecord(
            action=action, plan=self.title, step=step.description, context=self.context,
            server=self.server, user=self.user, object=step.label, result=outcome,
            before=comparable(before if before is not None else step.before),
            after=comparable(after), detail=detail)


#: how often a step is re-sent when only the object's status moved on (controllers write status
#: of Deployments and ReplicaSets many times a second during a rollout)
_STATUS_ONLY_RETRIES = 5

#: annotations that controllers write on the objects they manage: never part of a configuration
#: (the Deployment controller numbers rollouts with the first one; kube-controller-manager's
#: deployment/util ``SetNewReplicaSetAnnotations``). A fix keeps their current values.
CONTROLLER_ANNOTATIONS: tuple[str, ...] = (
    DEPLOYMENT_REVISION_ANNOTATION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
)


def configuration_of(obj: RawObject | None) -> RawObject | None:
    """:func:`comparable` without the controllers' annotations: what a person configured."""
    out = comparable(obj)
    annotations = ((out or {}).get("metadata") or {}).get("annotations")
    if annotations:
        for key in CONTROLLER_ANNOTATIONS:
            annotations.pop(key, None)
        if not annotations:
            del out["metadata"]["annotations"]  # type: ignore[index]
    return out


def _send(cluster: Cluster, step: Step, current: RawObject | None,
          wanted: RawObject | None, *, dry_run: bool, undo: bool = False
          ) -> RawObject | None:
    """Make the server hold ``wanted`` where it held ``current``, guarded by current's rv.

    A 409 whose cause is only a newer ``status`` (or other server-owned fields, or the
    controllers' annotations: a controller's write bumps the resourceVersion too) is not somebody
    else's change of the configuration: the object is read again and, if its configuration is
    still exactly ``current``'s, the step is re-sent against the new resourceVersion. Any other
    difference is a concurrent change and the Conflict stands.
    """
    for attempt in range(_STATUS_ONLY_RETRIES):
        try:
            return _send_once(cluster, step, current, wanted, dry_run=dry_run)
        except NotFound:
            if wanted is None and current is not None and not dry_run:
                return None  # deleting what is gone: the step's aim holds (a lost answer's retry)
            raise
        except Unreachable as exc:
            if dry_run or not exc.maybe_applied:
                raise
            # the answer was lost: read the object back; only what we wanted proves the write
            if wanted is None:
                if _gone(cluster, step, current):
                    return None
                raise
            try:
                landed = _read_back(cluster, step, wanted)
            except ClusterError:
                raise exc from None  # cannot look either: the outcome stays unknown
            if landed is None:
                raise
            return landed
        except Conflict as exc:
            if current is None or isinstance(exc, AlreadyExists) or attempt == _STATUS_ONLY_RETRIES - 1:
                raise
            if wanted is None:
                if _gone(cluster, step, current):
                    return None  # the uid precondition failed: ours was deleted, a namesake is new
                raise
            fresh = cluster.get(step.kind, step.name, step.namespace)
            if configuration_of(fresh) != configuration_of(current):
                if not dry_run and configuration_of(fresh) == configuration_of(wanted):
                    # a retried guarded write whose first attempt was applied (its answer lost):
                    # the stale precondition refuses the repeat, and the object holds our change
                    return fresh
                raise
            current = fresh
    raise AssertionError("unreachable")  # the loop returns or raises


def _read_back(cluster: Cluster, step: Step, wanted: RawObject) -> RawObject | None:
    """The object if it now holds ``wanted``'s configuration, else None (also when it is gone).

    Raises:
        ClusterError: it cannot be read (then nobody can say whether the change is there).
    """
    try:
        fresh = cluster.get(step.kind, step.name, step.namespace)
    except NotFound:
        return None
    return fresh if configuration_of(fresh) == configuration_of(wanted) else None


def _gone(cluster: Cluster, step: Step, current: RawObject | None) -> bool:
    """Whether the object ``current`` was is deleted (absent, or replaced by a namesake)."""
    try:
        fresh = cluster.get(step.kind, step.name, step.namespace)
    except NotFound:
        return True
    except ClusterError:
        return False
    uid = ((current or {}).get("metadata") or {}).get("uid")
    return bool(uid) and (fresh.get("metadata") or {}).get("uid") != uid


def _send_once(cluster: Cluster, step: Step, current: RawObject | None,
               wanted: RawObject | None, *, dry_run: bool) -> RawObject | None:
    if wanted is None:
        if current is None:
            return None
        # uid, not resourceVersion: the objects we delete (ReplicaSets) get status updates from
        # their controller all the time; what must not happen is deleting a namesake
        uid = (current.get("metadata") or {}).get("uid")
        cluster.delete(step.kind, step.name, step.namespace, uid=uid, dry_run=dry_run)
        return None
    body = comparable(wanted) or {}
    if current is None:
        return cluster.create(step.kind, body, step.namespace, dry_run=dry_run)
    meta = body.setdefault("metadata", {})
    meta["resourceVersion"] = current["metadata"]["resourceVersion"]
    # the controllers' annotations stay as the server has them (an undo must not rewind them)
    now = (current["metadata"].get("annotations") or {})
    kept = {key: now[key] for key in CONTROLLER_ANNOTATIONS if key in now}
    annotations = {key: v for key, v in (meta.get("annotations") or {}).items()
                   if key not in CONTROLLER_ANNOTATIONS} | kept
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    if "status" in current:
        body["status"] = current["status"]
    return cluster.replace(step.kind, body, dry_run=dry_run)


def _explain(exc: ClusterError, step: Step) -> str:
    if isinstance(exc, Unreachable) and exc.maybe_applied:
        return (f"{step.label}: the {step.verb} got no answer ({exc.message}) and the object does "
                "not show the change now; it may still be applied — outcome unknown")
    if isinstance(exc, Conflict):
        return (f"{step.label} was changed by someone else since the plan was made "
                f"(resourceVersion moved on); nothing was written to it")
    if isinstance(exc, NotFound):
        return f"{step.label} no longer exists ({exc.message})"
    return exc.one_line()


def _yaml(obj: RawObject | None) -> str:
    if obj is None:
        return ""
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)


def build_update(cluster: Cluster, kind: ResourceKind, name: str, namespace: str | None,
                 change: Callable[[RawObject], None], description: str,
                 *, undoable: bool = True) -> Step:
    """Read the object now and make a step that applies ``change`` (a function editing a copy)."""
    before = cluster.get(kind, name, namespace)
    after = copy.deepcopy(before)
    change(after)
    return Step(kind, namespace, name, before, after, description, undoable=undoable)


def new_plan(cluster: Cluster, title: str, steps: Sequence[Step], *, rationale: str = "",
             extra_commands: Sequence[str] = ()) -> FixPlan:
    """A plan bound to ``cluster``'s context and server."""
    return FixPlan(title=title, context=cluster.context, server=cluster.server, user=cluster.user,
                   steps=list(steps), rationale=rationale, extra_commands=list(extra_commands))
