"""Notebooks 01 and 04: their exercise checks.

* Notebook 01 (deploy bookinfo): :func:`check_bookinfo_exercise` — bookinfo in a namespace of the
  trainee's own, bound *directly* to a revision (``istio.io/rev=1-19-3``) instead of through the
  broken tag, every pod ``2/2`` with a sidecar of that revision.
* Notebook 04 (gateways and pushes): :func:`check_gateway_homework` — the field report's own
  homework ("补充作业", the nginx/echo sample of ``sample-gateway.yml``) made to work in a namespace
  of the trainee's own served by revision 1-18-5: analyzer clean, the apps running with sidecars of
  that revision, routes that reach them, no other Gateway claiming the same host on the same gateway
  pods, and the Gateway and VirtualService pushed by that revision's istiod.
  :func:`verify_gateway_homework` reads the cluster (and istiod logs) and calls it.

Checks are plain functions over a :class:`~runbook.snapshot.Snapshot` (``read_mesh(cluster,
with_config=True)``) returning :class:`~runbook.check_result.ExerciseCheck`; they never raise for an
unfinished exercise, and every failed condition says what to do, with the command.

Upstream behaviour relied on: a Gateway applies to the workloads its ``selector`` matches in any
namespace, and the istiod that programs those pods must take the Gateway in (discoverySelectors,
``istio.io/rev`` filtering — :mod:`runbook.meshconfig`); two Gateways that select the same gateway
workload on the same port with overlapping hosts conflict, "only one of these servers can be used"
(istio.io/latest/docs/reference/config/analysis/ist0145, ConflictingGateways).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import pandas as pd

from runbook import kinds as k
from runbook import wellknown as wk
from runbook.apps import app_path
from runbook.check_result import ExerciseCheck
from runbook.errors import NotFound
from runbook.kube import Cluster
from runbook.manifests import load_manifests
from runbook.mesh.analyze import analyze, hosts_overlap
from runbook.mesh.diagnose import inventory
from runbook.mesh.model import MeshModel, build_model, labels_of, meta
from runbook.mesh.observe import confirm_push, read_mesh
from runbook.mesh.pushes import ControlPlaneScope, PushStatus, control_plane_scopes, namespace_labels
from runbook.mesh.rollout import pods_table
from runbook.routing import route_destinations
from runbook.selectors import EVERYTHING, LabelSelector, SelectorError, selector_from_dict
from runbook.snapshot import RawObject, Snapshot

#: the apps of the report's homework: its DestinationRules select ``app: nginx-sample`` and
#: ``app: echo-sample``
HOMEWORK_APPS: tuple[str, ...] = ("nginx-sample", "echo-sample")



@cache
def bookinfo_deployments() -> tuple[str, ...]:
    """Names of the Deployments in the shipped ``bookinfo.yaml`` (``details-v1`` …), sorted."""
    return tuple(sorted(str(meta(m.obj).get("name")) for m in load_manifests(app_path("bookinfo"))
                        if m.obj.get("kind") == "Deployment"))


# ------------------------------------------------------------------------- shared conditions


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    return str(value)


def _full(ready: str) -> bool:
    """``2/2`` → True; ``1/2``, ``0/0`` → False."""
    have, _, total = ready.partition("/")
    return have == total and have not in ("", "0")


def _few(names: Sequence[str], limit: int = 4) -> str:
    return ", ".join(names[:limit]) + (" …" if len(names) > limit else "")


def _namespace_exists(check: ExerciseCheck, snapshot: Snapshot, namespace: str,
                      revision: str) -> bool:
    exists = namespace_labels(snapshot, namespace) is not None
    return check.add(exists, f"namespace {namespace} exists" if exists else
                     f"namespace {namespace} does not exist — kubectl create namespace {namespace} "
                     f"&& kubectl label namespace {namespace} {wk.REV_LABEL}={revision}")


def _binding(check: ExerciseCheck, snapshot: Snapshot, model: MeshModel, namespace: str,
             revision: str) -> None:
    """The namespace's label names ``revision`` itself, its injector answers with that revision,
    and that revision's istiod watches the namespace."""
    relabel = f"kubectl label namespace {namespace} {wk.REV_LABEL}={revision} --overwrite"
    rows = inventory(snapshot).namespace_injection
    row = rows[rows["namespace"] == namespace].iloc[0].to_dict()
    rev_label, tag = _text(row.get("rev_label")), _text(row.get("tag"))
    injection_label = _text(row.get("injection_label"))
    if injection_label is not None:
        # istio-injection takes precedence over istio.io/rev (Istio's canary upgrade guide)
        check.add(False, f"{namespace} has {wk.INJECTION_LABEL}={injection_label}, which takes "
                  f"precedence over {wk.REV_LABEL} — remove it: kubectl label namespace {namespace} "
                  f"{wk.INJECTION_LABEL}- ; then {relabel}")
    elif rev_label == revision and tag is None:
        check.add(True, f"{namespace} is labelled {wk.REV_LABEL}={revision}: the revision itself, "
                  "not a tag")
    elif rev_label is not None and tag is not None:
        check.add(False, f"{namespace} is labelled {wk.REV_LABEL}={rev_label}, a revision tag "
                  f"(claims {_text(row.get('claimed_revision'))}); bind it to the revision directly "
                  f"— {relabel}")
    else:
        check.add(False, f"{namespace} is labelled {wk.REV_LABEL}={rev_label or '(none)'}, not "
                  f"{revision} — {relabel}")
    effective = _text(row.get("effective_revision"))
    ok = row.get("status") == "ok" and effective == revision
    check.add(ok, f"new pods in {namespace} are injected by istiod {revision} (webhook calls "
              f"{_text(row.get('target'))})" if ok else
              f"new pods in {namespace} would not be injected by {revision}: "
              f"{_text(row.get('detail')) or row.get('status')}"
              + (f" (injected by {effective})" if effective and effective != revision else ""))
    scopes = control_plane_scopes(snapshot, model)
    scope = scopes.get(revision)
    labels = namespace_labels(snapshot, namespace) or {}
    if scope is None:
        check.add(False, f"no istiod of revision {revision} runs in the cluster (revisions: "
                  f"{', '.join(sorted(scopes)) or 'none'})")
    elif scope.watches(labels):
        check.add(True, f"istiod {revision} watches {namespace} ({scope.describe_selectors()}): "
                  "it takes in the namespace's Services and Istio config")
    else:
        check.add(False, f"istiod {revision} does not watch {namespace} "
                  f"({scope.describe_selectors()}): its sidecars would get no config for this "
                  f"namespace — {relabel}")


def _pods_condition(check: ExerciseCheck, pods: pd.DataFrame, what: str, namespace: str,
                    revision: str, start: str) -> None:
    """Pods exist, are all ready and Running, and every one carries a sidecar of ``revision``."""
    restart = f"kubectl rollout restart deployment -n {namespace}"
    if not check.add(not pods.empty, f"{what}: {len(pods)} pod(s)" if not pods.empty else
                     f"{what}: no pods — {start}"):
        return
    records = pods.to_dict("records")
    not_ready = [f"{p['pod']} ({p['ready']} {p['status']})" for p in records
                 if not _full(str(p["ready"])) or p["status"] != "Running"]
    check.add(not not_ready, f"{what}: all {len(pods)} pod(s) ready and Running" if not not_ready
              else f"{what}: {len(not_ready)} of {len(pods)} pod(s) not ready: {_few(not_ready)} — "
                   f"wait (kubectl rollout status deployment -n {namespace}), or see why "
                   f"(runbook diagnose -n {namespace})")
    wrong = [f"{p['pod']} ({_text(p['revision']) or 'no sidecar'})" for p in records
             if _text(p["revision"]) != revision]
    check.add(not wrong, f"{what}: every pod has a sidecar of revision {revision}" if not wrong else
              f"{what}: {len(wrong)} pod(s) without a {revision} sidecar: {_few(wrong)} — a pod keeps "
              f"the sidecar it was created with; recreate them after fixing the label ({restart})")


# ----------------------------------------------------------------------- notebook 01 exercise


def check_bookinfo_exercise(snapshot: Snapshot, namespace: str, *, revision: str = "1-19-3",
                            deployments: Sequence[str] | None = None) -> ExerciseCheck:
    """Notebook 01's exercise: bookinfo runs in ``namespace``, bound directly to ``revision``.

    Conditions, in the order a trainee meets them:

    1. the namespace exists;
    2. it is labelled ``istio.io/rev=<revision>`` — the revision itself, not a tag, and without
       ``istio-injection`` (which would take precedence);
    3. its injector webhook answers with that revision (the target Service exists and reaches
       istiod pods of that revision);
    4. that revision's istiod watches the namespace (meshConfig ``discoverySelectors``), so the
       sidecars get its Services and config;
    5. every bookinfo Deployment is there;
    6. the namespace has pods, all ready (``2/2``) and Running;
    7. every pod has a sidecar of ``revision`` (pods created before the label keep theirs).

    Args:
        snapshot: a read of the cluster (``read_mesh(cluster)``).
        namespace: the trainee's namespace.
        revision: the revision it must be bound to.
        deployments: the Deployments that must exist (default: those of the shipped bookinfo).
    """
    check = ExerciseCheck(f"Exercise: bookinfo in {namespace}, bound directly to revision {revision}")
    if not _namespace_exists(check, snapshot, namespace, revision):
        return check
    _binding(check, snapshot, build_model(snapshot), namespace, revision)
    wanted = list(deployments) if deployments is not None else list(bookinfo_deployments())
    present = {meta(d).get("name") for d in snapshot.items(k.DEPLOYMENTS)
               if meta(d).get("namespace") == namespace}
    missing = [d for d in wanted if d not in present]
    apply = (f"kubectl apply -f bookinfo.yaml -n {namespace} (or apply_manifests(cluster, "
             f"app_path('bookinfo'), namespace={namespace!r}))")
    check.add(not missing, f"all {len(wanted)} bookinfo Deployments are there" if not missing else
              f"{len(missing)} bookinfo Deployment(s) missing: {_few(missing)} — {apply}")
    pods = pods_table(snapshot.items(k.PODS), snapshot.items(k.REPLICA_SETS))
    why = apply if missing == wanted else (
        f"the ReplicaSets cannot create them: see why with runbook diagnose -n {namespace} (notebook "
        f"02); once the label is right, kubectl rollout restart deployment -n {namespace}")
    _pods_condition(check, pods[pods["namespace"] == namespace], f"pods of {namespace}", namespace,
                    revision, why)
    return check


# ----------------------------------------------------------------------- notebook 04 homework


@dataclass(frozen=True)
class _GatewayWorkload:
    """A gateway Deployment: what Gateway selectors are matched against."""

    namespace: str
    name: str
    revision: str | None
    labels: dict[str, str]

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


def _gateway_workloads(snapshot: Snapshot, model: MeshModel) -> list[_GatewayWorkload]:
    """Gateway Deployments (the diagnosis' rule for "is a gateway"), with the revision behind
    their ``istio.io/rev`` label (a tag resolved to the revision it claims)."""
    tags = {w.tag: w.claimed_revision for w in model.webhooks if w.tag and w.claimed_revision}
    known = {(g.namespace, g.name): g for g in model.gateways}
    out = []
    for dep in snapshot.items(k.DEPLOYMENTS):
        gw = known.get((meta(dep).get("namespace", ""), meta(dep).get("name", "")))
        if gw is None:
            continue
        template = (dep.get("spec") or {}).get("template") or {}
        out.append(_GatewayWorkload(gw.namespace, gw.name, tags.get(gw.revision or "", gw.revision),
                                    dict(labels_of(template))))
    return out


def _gateway_selector(gateway: Mapping[str, Any]) -> LabelSelector | None:
    raw = (gateway.get("spec") or {}).get("selector")
    if not raw:
        return EVERYTHING
    try:
        return selector_from_dict({"matchLabels": raw})
    except SelectorError:
        return None  # the analyzer reports it (IST0106)


def _served_by(gateway: Mapping[str, Any], workloads: Iterable[_GatewayWorkload],
               snapshot: Snapshot, scopes: Mapping[str, ControlPlaneScope]
               ) -> list[tuple[_GatewayWorkload, bool]]:
    """The gateway workloads a Gateway selects, each with whether the istiod of its revision
    takes the Gateway in (watches its namespace, accepts its ``istio.io/rev`` label)."""
    selector = _gateway_selector(gateway)
    if selector is None:
        return []
    ns_labels = namespace_labels(snapshot, meta(gateway).get("namespace", "")) or {}
    out = []
    for w in workloads:
        if not selector.matches(w.labels):
            continue
        scope = scopes.get(w.revision or wk.DEFAULT_REVISION)
        out.append((w, scope is not None and scope.watches(ns_labels)
                    and scope.processes(labels_of(gateway))))
    return out


def _server_hosts(gateway: Mapping[str, Any]) -> list[tuple[int, str]]:
    """(port number, host) of every server; ``ns/host`` forms reduced to the host."""
    out: list[tuple[int, str]] = []
    for server in (gateway.get("spec") or {}).get("servers") or []:
        number = ((server or {}).get("port") or {}).get("number")
        if isinstance(number, int):
            out.extend((number, str(h).rpartition("/")[2]) for h in (server or {}).get("hosts") or [])
    return out


def _ref(obj: Mapping[str, Any]) -> str:
    return f"{meta(obj).get('namespace')}/{meta(obj).get('name')}"


def _conflicts(gateway: Mapping[str, Any], others: Iterable[RawObject],
               served: Mapping[str, list[tuple[_GatewayWorkload, bool]]]) -> list[str]:
    """IST0145: other Gateways programmed on the same gateway workload, same port, overlapping
    hosts."""
    mine = {w.ref for w, programmed in served[_ref(gateway)] if programmed}
    found = []
    for other in others:
        if _ref(other) == _ref(gateway):
            continue
        shared = sorted(mine & {w.ref for w, programmed in served[_ref(other)] if programmed})
        if not shared:
            continue
        for port, host in _server_hosts(gateway):
            clash = [h for p, h in _server_hosts(other) if p == port and hosts_overlap(h, host)]
            if clash:
                found.append(f"{host}:{port} also claimed by Gateway {_ref(other)} "
                             f"({', '.join(sorted(set(clash)))}) on {', '.join(shared)}")
    return found


def _bound_to(vs: Mapping[str, Any], namespace: str, gateways: set[str]) -> bool:
    """Whether a VirtualService lists one of ``gateways`` (of ``namespace``): ``name`` is relative
    to the VirtualService's namespace, ``ns/name`` names another."""
    for ref in (vs.get("spec") or {}).get("gateways") or []:
        ns, _, name = str(ref).rpartition("/")
        if (ns or str(meta(vs).get("namespace"))) == namespace and name in gateways:
            return True
    return False


def _service_of(host: str, vs_namespace: str) -> tuple[str, str] | None:
    """(namespace, name) of the Service a destination host names: a short name is relative to
    the VirtualService's namespace, ``name.ns.svc.cluster.local`` names ``ns/name``; anything else
    (``name.ns`` included) is taken literally by istiod and names no Service."""
    parts = host.lower().split(".")
    if len(parts) == 1:
        return vs_namespace, parts[0]
    if len(parts) == 5 and parts[2:] == ["svc", "cluster", "local"]:
        return parts[1], parts[0]
    return None


def check_gateway_homework(snapshot: Snapshot, namespace: str, pushes: Sequence[PushStatus] = (),
                           *, revision: str = "1-18-5", apps: Sequence[str] = HOMEWORK_APPS
                           ) -> ExerciseCheck:
    """Notebook 04's exercise — the field report's homework made to work in ``namespace``.

    Conditions:

    1. the namespace exists; it is labelled for ``revision`` (not a tag), whose injector answers
       and whose istiod watches it (as :func:`check_bookinfo_exercise`);
    2. it holds a Gateway and a VirtualService bound to it;
    3. ``istioctl analyze``'s verdict on the namespace's Istio config (:func:`analyze`) has no
       error and no warning;
    4. each Gateway is served by gateway pods of ``revision`` whose istiod takes it in;
    5. no other Gateway programmed on the same gateway pods claims an overlapping host on the same
       port (IST0145, "only one of these servers can be used");
    6. for each app (``nginx-sample``, ``echo-sample``): its pods (label ``app=<app>``) run, ready,
       with sidecars of ``revision``, and a route of a VirtualService bound to the Gateway reaches
       them through a Service that selects them;
    7. the Gateway(s) and VirtualService(s) were pushed by ``revision``'s istiod — named in a push
       line or carried by the first full push after the change (``pushes``: what
       :func:`~runbook.mesh.observe.confirm_push` returned for them).

    Args:
        snapshot: ``read_mesh(cluster, with_config=True)``.
        namespace: the trainee's namespace.
        pushes: push verdicts of the namespace's Gateways and VirtualServices.
        revision: the revision that must serve the exercise (istio-prod's 1-18-5 in the report).
        apps: the app labels of the workloads the routes must reach.
    """
    check = ExerciseCheck(f"Exercise: the report's nginx/echo homework works in {namespace} "
                          f"(revision {revision})")
    if not _namespace_exists(check, snapshot, namespace, revision):
        return check
    model = build_model(snapshot)
    _binding(check, snapshot, model, namespace, revision)
    if not snapshot.readable(k.GATEWAYS) or not snapshot.readable(k.VIRTUAL_SERVICES):
        check.add(False, "the Istio config was not read — pass read_mesh(cluster, with_config=True)")
        return check
    gateways = snapshot.items(k.GATEWAYS)
    mine = [g for g in gateways if meta(g).get("namespace") == namespace]
    gw_names = {str(meta(g).get("name")) for g in mine}
    services = [vs for vs in snapshot.items(k.VIRTUAL_SERVICES)
                if meta(vs).get("namespace") == namespace and _bound_to(vs, namespace, gw_names)]
    apply = f"kubectl apply -f <your fixed sample-gateway.yml> -n {namespace}"
    if not check.add(bool(mine) and bool(services),
                     f"{namespace} has Gateway(s) {', '.join(sorted(gw_names))} and VirtualService(s) "
                     f"{', '.join(sorted(str(meta(v).get('name')) for v in services))} bound to them"
                     if mine and services else
                     f"{namespace} has {len(mine)} Gateway(s) and {len(services)} VirtualService(s) "
                     f"bound to them — {apply}"):
        return check
    result = analyze(None, snapshot, namespace=namespace)
    bad = result.messages[result.messages["level"].isin(["Error", "Warning"])]
    problems = [f"{r.level} {r.code} {r.kind} {r.name}: {r.message}" for r in bad.itertuples()]
    check.add(not problems, f"istioctl analyze -n {namespace}: no errors or warnings" if not problems
              else f"istioctl analyze -n {namespace}: {len(problems)} problem(s) — "
                   + " | ".join(problems[:3]) + (" …" if len(problems) > 3 else ""))
    workloads = _gateway_workloads(snapshot, model)
    scopes = control_plane_scopes(snapshot, model)
    served = {_ref(g): _served_by(g, workloads, snapshot, scopes) for g in gateways}
    for gw in mine:
        ours = [w.ref for w, programmed in served[_ref(gw)] if programmed and w.revision == revision]
        check.add(bool(ours), f"Gateway {_ref(gw)} is served by {', '.join(ours)} (revision "
                  f"{revision})" if ours else
                  f"Gateway {_ref(gw)} reaches no gateway pods of revision {revision} whose istiod "
                  "takes it in — select that revision's ingress gateway (e.g. istio: ingressgateway "
                  f"and {wk.REV_LABEL}: {revision}) and leave istio.io/rev off the config")
        clashes = _conflicts(gw, gateways, served)
        check.add(not clashes, f"no other Gateway claims the hosts of {_ref(gw)} on those gateway "
                  "pods" if not clashes else
                  f"Gateway {_ref(gw)} conflicts (IST0145): {'; '.join(clashes[:3])} — only one of "
                  "them is used: choose a host of your own (not \"*\")")
    _homework_apps(check, snapshot, namespace, services, revision, apps)
    by_key = {(p.kind, p.namespace, p.name): p for p in pushes}
    for obj, kind in [(g, "Gateway") for g in mine] + [(v, "VirtualService") for v in services]:
        name = str(meta(obj).get("name"))
        status = by_key.get((kind, namespace, name))
        done = status is not None and (revision in status.logged or revision in status.included)
        check.add(done, f"{kind} {namespace}/{name} was pushed by istiod {revision}" if done else
                  f"{kind} {namespace}/{name} not confirmed as pushed by {revision}: "
                  + (status.summary if status is not None else "no push verdict — run "
                     f"confirm_push(cluster, {kind!r}, {name!r}, {namespace!r})"))
    return check


def _homework_apps(check: ExerciseCheck, snapshot: Snapshot, namespace: str,
                   services: Sequence[RawObject], revision: str, apps: Sequence[str]) -> None:
    """Each app's pods run with sidecars of ``revision``, and a bound route reaches them."""
    raw_pods = [p for p in snapshot.items(k.PODS) if meta(p).get("namespace") == namespace]
    svc_objects = {(meta(s).get("namespace"), meta(s).get("name")): s
                   for s in snapshot.items(k.SERVICES)}
    for app in apps:
        pods = [p for p in raw_pods if labels_of(p).get("app") == app]
        _pods_condition(check, pods_table(pods, snapshot.items(k.REPLICA_SETS)), f"app={app}",
                        namespace, revision, f"deploy it (a Deployment whose pods carry app: {app}, "
                                             f"e.g. from sample-gateway-fixed.yaml) in {namespace}")
        reached = []
        for vs in services:
            for _, dest in route_destinations(vs.get("spec") or {}):
                key = _service_of(str(dest.get("host") or ""), namespace)
                svc = svc_objects.get(key) if key else None
                selector = ((svc or {}).get("spec") or {}).get("selector") or {}
                if svc is not None and selector and any(
                        all(labels_of(p).get(a) == b for a, b in selector.items()) for p in pods):
                    reached.append(f"{meta(vs).get('name')} → Service {meta(svc).get('name')}")
        check.add(bool(reached), f"app={app} is reached by route(s) {', '.join(sorted(set(reached)))}"
                  if reached else
                  f"no route of the bound VirtualService(s) reaches the app={app} pods — route to a "
                  f"Service that selects them (the report routed to {app}-v1, which is no Service)")


def verify_gateway_homework(cluster: Cluster, namespace: str, *, revision: str = "1-18-5",
                            timeout: float = 10.0) -> ExerciseCheck:
    """:func:`check_gateway_homework` against a live cluster (notebook 04's check cell).

    Reads the cluster with its Istio config, and confirms the push of each Gateway and
    VirtualService in ``namespace`` with :func:`~runbook.mesh.observe.confirm_push`.

    Args:
        namespace: the trainee's namespace (nothing is waited for when it holds no config).
        revision: the revision that must serve the exercise.
        timeout: seconds to wait per object, only while a revision that should push it has not.
    """
    snapshot = read_mesh(cluster, with_config=True)
    pushes = []
    for kind in (k.GATEWAYS, k.VIRTUAL_SERVICES):
        for obj in snapshot.items(kind):
            if meta(obj).get("namespace") != namespace:
                continue
            try:
                pushes.append(confirm_push(cluster, kind, str(meta(obj).get("name")), namespace,
                                           timeout=timeout))
            except NotFound:
                continue  # deleted since the read: the check no longer sees it either
    return check_gateway_homework(snapshot, namespace, pushes, revision=revision)




__all__ = [
    "HOMEWORK_APPS",
    "bookinfo_deployments",
    "check_bookinfo_exercise",
    "check_gateway_homework",
    "verify_gateway_homework",
]
