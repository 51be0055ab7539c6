"""Notebook 03's exercise check: is the trainee's re-point of the tag really done, and if not, what is left?

A check is a plain function over a :class:`~runbook.snapshot.Snapshot` (read one with
``runbook.mesh.observe.read_mesh(cluster)``), so it is tested with data and runs the same against
the sandbox and a real cluster. It never raises for an unfinished exercise: it returns a
:class:`ExerciseCheck` whose lines say what holds and what is still wrong, with the command that
would fix it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from runbook import kinds as k
from runbook.check_result import ExerciseCheck
from runbook.mesh.diagnose import inventory
from runbook.mesh.pushes import control_plane_scopes, namespace_labels
from runbook.mesh.rollout import pods_table
from runbook.snapshot import Snapshot


def _rows(df: pd.DataFrame, **match: object) -> list[dict[str, Any]]:
    if df.empty:
        return []
    sel = df
    for col, value in match.items():
        sel = sel[sel[col] == value]
    return [{str(key): v for key, v in r.items()} for r in sel.to_dict("records")]


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    return str(value)


def check_tag_exercise(snapshot: Snapshot, namespace: str, *, revision: str | None = None
                       ) -> ExerciseCheck:
    """Notebook 03's exercise: the namespace's revision tag serves the revision it claims, and
    every pod of the namespace runs, 2/2, with a sidecar of that revision.

    Conditions, in the order a trainee meets them:

    1. ``namespace`` is bound to a revision tag (``istio.io/rev=<tag>``);
    2. the tag claims ``revision`` (default: whatever it claims — any consistent tag passes);
    3. every webhook of the tag calls a Service whose ready endpoints are istiod pods of exactly
       that revision (the state ``istioctl tag set <tag> --revision <rev> --overwrite`` leaves),
       and that revision's istiod watches the namespace (its ``discoverySelectors``, MR110);
    4. the namespace has pods, all ready (``2/2``) and not terminating;
    5. every one of them was injected by that revision (``sidecar.istio.io/status``) — pods
       created before the tag moved keep their old sidecar until they are recreated.

    Args:
        snapshot: a read of the cluster (``read_mesh(cluster)``).
        namespace: the namespace of the exercise (``l7-traffic-alpha``).
        revision: the revision the tag must serve (the exercise says ``1-18-5``).
    """
    check = ExerciseCheck(f"Exercise: tag of {namespace} serves "
                          + (f"revision {revision}" if revision else "the revision it claims"))
    inv = inventory(snapshot)
    ns_rows = _rows(inv.namespace_injection, namespace=namespace)
    if not check.add(bool(ns_rows), f"namespace {namespace} exists"):
        return check
    row = ns_rows[0]
    tag = _text(row.get("tag"))
    if not check.add(tag is not None, f"{namespace} is bound to a revision tag"
                     + (f" (istio.io/rev={tag})" if tag else
                        f" — it has istio.io/rev={_text(row.get('rev_label'))}; the exercise is "
                        "about a tag: kubectl label namespace "
                        f"{namespace} istio.io/rev=<tag> --overwrite")):
        return check
    claimed = _text(row.get("claimed_revision"))
    want = revision or claimed
    check.add(claimed == want, f"tag {tag} claims revision {claimed}"
              + ("" if claimed == want else f", not {want} — istioctl tag set {tag} --revision "
                                             f"{want} --overwrite sets the claim too"))
    istio_ns = [str(r["namespace"]) for r in _rows(inv.control_planes, revision=want)]
    fix_tag = (f"istioctl tag set {tag} --revision {want} -i {istio_ns[0] if istio_ns else '<ns>'}"
               " --overwrite (or set_tag_revision(cluster, "
               f"{tag!r}, {want!r}).apply(cluster, confirm=…))")
    hooks = _rows(inv.revision_tags, tag=tag)
    for hook in hooks:
        reached = [str(r) for r in (hook.get("reached_revisions") or [])]
        target = f"{hook.get('service_namespace')}/{hook.get('service_name')}"
        good = hook.get("target_status") == "ok" and reached == [want]
        check.add(good, f"webhook {hook.get('webhook')} calls {target}, which "
                  + (f"reaches revision {', '.join(reached)}" if reached else
                     f"answers nothing ({hook.get('target_status')})")
                  + ("" if good else f" — not {want}: {fix_tag}"))
    if not hooks:
        check.add(False, f"tag {tag} has no webhook configuration — {fix_tag}")
    scope = control_plane_scopes(snapshot).get(str(want))
    if scope is not None:
        labels = dict(row.get("labels") or {}) if isinstance(row.get("labels"), dict) else \
            (namespace_labels(snapshot, namespace) or {})
        check.add(scope.watches(labels),
                  f"istiod {want} watches {namespace}" if scope.watches(labels) else
                  f"istiod {want} does not watch {namespace} ({scope.describe_selectors()}): its "
                  f"sidecars would get no configuration (MR110) — set_tag_revision also moves "
                  f"the tag in the discoverySelectors of ConfigMap {scope.namespace}/"
                  f"{scope.configmap}; by hand: kubectl edit configmap {scope.configmap} -n "
                  f"{scope.namespace}")

    pods = pods_table(snapshot.items(k.PODS), snapshot.items(k.REPLICA_SETS))
    pods = pods[pods["namespace"] == namespace]
    restart = f"kubectl rollout restart deployment -n {namespace}"
    if not check.add(not pods.empty, f"{namespace} has pods" if not pods.empty else
                     f"{namespace} has no pods — deploy bookinfo, or recreate the workloads "
                     f"({restart})"):
        return check
    not_ready = [str(p["pod"]) for p in _rows(pods) if not _full(str(p["ready"]))
                 or p["status"] == "Terminating"]
    check.add(not not_ready, f"all {len(pods)} pods ready" if not not_ready else
              f"{len(not_ready)} of {len(pods)} pods not ready or terminating "
              f"({', '.join(not_ready[:4])}{' …' if len(not_ready) > 4 else ''}) — wait for the "
              f"rollout (kubectl rollout status deployment/<name> -n {namespace})")
    revisions = pods["revision"].map(_text)
    wrong = [f"{p} ({r or 'no sidecar'})" for p, r in zip(pods["pod"], revisions, strict=True)
             if r != want]
    check.add(not wrong, f"every pod has a sidecar of revision {want}" if not wrong else
              f"{len(wrong)} pods have another sidecar: {', '.join(wrong[:4])}"
              f"{' …' if len(wrong) > 4 else ''} — pods keep the sidecar they were created "
              f"with: recreate them ({restart})")
    return check


def _full(ready: str) -> bool:
    """``2/2`` → True; ``1/2`` or ``0/0`` → False."""
    have, _, total = ready.partition("/")
    return have == total and have not in ("", "0")


__all__ = ["check_tag_exercise"]
