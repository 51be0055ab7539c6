"""Checks for the exercises of notebooks 00 (mesh inventory) and 02 (pods that are not created).

Each check is a plain function over a :class:`~runbook.snapshot.Snapshot` (read one with
``runbook.mesh.observe.read_mesh(cluster)``) that returns an :class:`~runbook.check_result.ExerciseCheck`:
every condition as a ✓/✗ line that says what holds, and — when it does not — what is still wrong
and the ``kubectl`` command that shows the truth. Nothing here raises for an unfinished exercise,
and nothing is hard-coded to the sandbox: the answers are computed from the snapshot, so the same
checks run against any cluster.

* :func:`check_service_hunt` (notebook 00): find, with kubectl alone, where a Service of a given
  name really lives, which pods answer behind it, and which istiod revision those pods are — the
  field report's ``k get svc -n istio-canary`` step, done to the end (a name is not a revision).
* :func:`check_broken_namespace` (notebook 02): break a namespace of your own (label it for a
  revision nobody serves, or for a tag whose webhook is broken), deploy something, diagnose it
  with the package, and say which finding explains it and whether its pods got created.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from runbook import kinds as k
from runbook import wellknown as wk
from runbook.check_result import ExerciseCheck
from runbook.mesh.diagnose import diagnose
from runbook.mesh.findings import ERROR, WARNING, Finding
from runbook.mesh.model import MeshModel, build_model, meta
from runbook.snapshot import Snapshot

#: codes that say why a namespace's pods are not created or not injected (the "cause" findings;
#: MR106/MR107 are about the fix, IST0158 about pods that only need a restart)
CAUSE_CODES: tuple[str, ...] = ("MR101", "MR103", "MR102", "IST0139", "MR104")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _names(value: Any) -> list[str]:
    """A pod answer: one name, a comma/space separated string, or a list of names."""
    if value is None:
        return []
    if isinstance(value, str):
        return [p for p in value.replace(",", " ").split() if p]
    if isinstance(value, Iterable):
        return [str(p).strip() for p in value if str(p).strip()]
    return [str(value)]


def _endpoint_pods(model: MeshModel, namespace: str, name: str) -> list[str] | None:
    """Pods behind a Service's ready addresses (Endpoints ``targetRef``), all ports.

    Falls back to the ready pods its selector matches when Endpoints could not be read; None
    when neither tells.
    """
    if model.has(k.ENDPOINTS):
        ep = model.endpoints.get((namespace, name)) or {}
        return sorted({str((a.get("targetRef") or {}).get("name"))
                       for s in ep.get("subsets") or [] for a in s.get("addresses") or []
                       if (a.get("targetRef") or {}).get("kind") == "Pod"})
    selector = ((model.services.get((namespace, name)) or {}).get("spec") or {}).get("selector")
    if model.has(k.PODS) and selector:
        return sorted(p.name for p in model.pods_by_ns.get(namespace, ())
                      if p.ready and all(p.labels.get(a) == b for a, b in selector.items()))
    return None


def _pod_revision(model: MeshModel, namespace: str, pod: str) -> str | None:
    """The istiod revision of a pod: its istiod Deployment's, else its ``istio.io/rev`` label."""
    found = model.pods.get((namespace, pod))
    if found is None:
        return None
    return model.pod_revision(found) or found.labels.get(wk.REV_LABEL)


def check_service_hunt(snapshot: Snapshot, answer: Mapping[str, Any], *,
                       service: str = "istiod-1-18-5") -> ExerciseCheck:
    """Notebook 00's exercise: where does a Service called ``service`` live, who answers behind it?

    The trainee finds out with kubectl only and writes ``answer = {"namespace": …, "pods": …,
    "revision": …}``. Conditions, in the order the hunt goes:

    1. ``namespace`` names a namespace that holds a Service called ``service``
       (``kubectl get svc -A --field-selector metadata.name=<service>``);
    2. ``pods`` are exactly the pods behind its ready endpoints (one name, several separated by
       commas or spaces, or a list; ``kubectl get endpoints <service> -n <ns> -o yaml`` →
       ``targetRef``);
    3. ``revision`` is the istiod revision of those pods (their ``istio.io/rev`` label) — which
       need not be the revision the Service's name suggests.

    Args:
        snapshot: a read of the cluster (``read_mesh(cluster)``).
        answer: the trainee's answer (missing keys count as unanswered).
        service: the Service to hunt for (the name the broken tag's webhook calls).
    """
    check = ExerciseCheck(f"Exercise: where Service {service} lives and who answers behind it")
    model = build_model(snapshot)
    homes = sorted(model.services_by_name.get(service, ()))
    where = f"kubectl get svc -A --field-selector metadata.name={service}"
    # the namespace is the first thing the trainee must find: name it only once it was answered
    if not check.add(bool(homes), f"a Service called {service} exists in this cluster" if homes
                     else f"a Service called {service} exists in no namespace of this cluster — "
                     "choose another `service_name` (one a webhook calls: see webhook_targets)"):
        return check
    ns = _text(answer.get("namespace"))
    if ns is None:
        check.add(False, f"answer['namespace'] is empty — find the namespace with: {where}")
        return check
    called = sorted({f"{w.service_namespace}" for w in model.webhooks
                     if w.service_name == service and w.service_namespace not in homes})
    if ns not in homes:
        why = (f"{ns} is where a webhook looks for it, and it is not there" if ns in called
               else f"{ns} has no Service called {service}")
        check.add(False, f"namespace {ns}: {why} — {where}")
        return check
    check.add(True, f"namespace {ns} holds Service {service}"
              + (f" (the webhooks look for it in {', '.join(called)})" if called else ""))

    behind = _endpoint_pods(model, ns, service)
    ep_cmd = (f"kubectl get endpoints {service} -n {ns} -o jsonpath="
              "'{.subsets[*].addresses[*].targetRef.name}'")
    if behind is None:
        check.add(False, f"neither Endpoints nor pods of {ns} could be read: the pods behind "
                  f"{ns}/{service} cannot be checked")
        return check
    given = sorted(set(_names(answer.get("pods"))))
    if not behind:
        check.add(not given, f"no ready pod answers behind {ns}/{service}"
                  + ("" if not given else f" — {', '.join(given)} is not behind it ({ep_cmd})"))
    elif not given:
        check.add(False, f"answer['pods'] is empty — list the pods behind {ns}/{service}: {ep_cmd}")
    else:
        missing, extra = sorted(set(behind) - set(given)), sorted(set(given) - set(behind))
        check.add(not missing and not extra,
                  f"pods behind {ns}/{service}: {', '.join(behind)}" if not missing and not extra
                  else "pods: " + "; ".join(
                      ([f"{', '.join(extra)} not behind it"] if extra else [])
                      + ([f"{', '.join(missing)} missing"] if missing else []))
                  + f" — {ep_cmd}")

    revisions = sorted({r for p in behind if (r := _pod_revision(model, ns, p))})
    rev = _text(answer.get("revision"))
    pods_cmd = f"kubectl get pods -n {ns} -L {wk.REV_LABEL}"
    if not revisions:
        check.add(rev is None, f"the pods behind {ns}/{service} carry no istiod revision"
                  + ("" if rev is None else f" — not {rev} ({pods_cmd})"))
        return check
    want = ",".join(revisions)
    if rev is None:
        check.add(False, f"answer['revision'] is empty — read the {wk.REV_LABEL} label of those "
                         f"pods: {pods_cmd}")
    elif rev == want:
        named = service.removeprefix("istiod-")
        surprise = (f" — not {named}, whatever the name says: a name is not a revision"
                    if named != service and named != want else "")
        check.add(True, f"the pods behind it are istiod revision {want}{surprise}")
    else:
        hint = (" — the name suggests it, but the name is only a name" if rev in service else "")
        check.add(False, f"revision {rev} is not what answers behind {ns}/{service}{hint}: read "
                         f"the pods' label ({pods_cmd})")
    return check


# ------------------------------------------------------------------------------- notebook 02


def namespace_causes(findings: Iterable[Finding], namespace: str) -> list[Finding]:
    """The error/warning findings that say why ``namespace``'s pods are not created or injected.

    Those of :data:`CAUSE_CODES` about the namespace itself or naming it among the namespaces
    they affect (a broken webhook configuration, for instance), most severe first.
    """
    out = [f for f in findings if f.code in CAUSE_CODES and f.severity in (ERROR, WARNING)
           and (f.subject.namespace == namespace or f.subject.name == namespace
                or namespace in f.namespaces)]
    return sorted(out, key=lambda f: (f.severity != ERROR, CAUSE_CODES.index(f.code)))


def _answer_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = _text(value)
    if text is None:
        return None
    if text.lower() in ("yes", "true", "y", "1"):
        return True
    if text.lower() in ("no", "false", "n", "0"):
        return False
    return None


def check_broken_namespace(snapshot: Snapshot, namespace: str, answer: Mapping[str, Any]
                           ) -> ExerciseCheck:
    """Notebook 02's exercise: break a namespace yourself, then diagnose it with the package.

    The trainee creates ``namespace``, binds it to a revision nobody serves (``istio.io/rev=
    1-17-0``) or to a tag whose webhook is broken (``istio.io/rev=prod-canary`` on the seed
    world), deploys something, runs the diagnosis and writes ``answer = {"code": …,
    "pods_created": …}``. Conditions:

    1. the namespace exists;
    2. it is bound to Istio injection (``istio.io/rev`` or ``istio-injection=enabled``);
    3. it has a Deployment;
    4. the binding is broken: the diagnosis gives a finding of :data:`CAUSE_CODES` for it;
    5. ``code`` is one of those findings' codes;
    6. ``pods_created`` says whether its pods were created at all — a label nobody serves lets
       pods start *without* a sidecar (MR104), a broken webhook with ``failurePolicy: Fail``
       refuses to create them (MR101).

    Args:
        snapshot: a read of the cluster (``read_mesh(cluster)``).
        namespace: the namespace of the exercise (``l7-traffic-gamma``).
        answer: the trainee's answer (missing keys count as unanswered).
    """
    check = ExerciseCheck(f"Exercise: {namespace} broken on purpose, and diagnosed")
    model = build_model(snapshot)
    labels = model.namespaces.get(namespace)
    if not check.add(labels is not None, f"namespace {namespace} exists" if labels is not None
                     else f"namespace {namespace} does not exist — kubectl create namespace "
                          f"{namespace}"):
        return check
    assert labels is not None
    rev, inj = labels.get(wk.REV_LABEL), labels.get(wk.INJECTION_LABEL)
    bound = rev is not None or inj == "enabled"
    binding = (f"{wk.REV_LABEL}={rev}" if rev is not None else f"{wk.INJECTION_LABEL}={inj}")
    if not check.add(bound, f"{namespace} is bound to injection ({binding})" if bound else
                     f"{namespace} is not bound to any revision — kubectl label namespace "
                     f"{namespace} {wk.REV_LABEL}=1-17-0 (a revision nobody runs), or "
                     f"{wk.REV_LABEL}=<a tag whose webhook is broken>"):
        return check
    deployments = [meta(d).get("name", "") for d in model.deployments_by_ns.get(namespace, ())]
    if not check.add(bool(deployments), f"{namespace} has Deployments ({', '.join(sorted(deployments))})"
                     if deployments else f"{namespace} has no Deployment — deploy something: "
                     f"kubectl apply -n {namespace} -f <manifest> (or apply_manifests(cluster, "
                     f"app_path('bookinfo'), namespace={namespace!r}))"):
        return check
    causes = namespace_causes(diagnose(model), namespace)
    codes = list(dict.fromkeys(f.code for f in causes))
    pods = model.pods_by_ns.get(namespace, [])
    sidecars = sum(1 for p in pods if p.sidecar_revision)
    if not causes:
        injected = sorted({p.sidecar_revision for p in pods if p.sidecar_revision})
        check.add(False, f"{namespace} is not broken: the diagnosis finds nothing wrong with "
                  f"{binding}" + (f" (its pods run sidecars of {', '.join(injected)})"
                                  if injected else "")
                  + f" — bind it to a revision nobody serves (kubectl label namespace {namespace} "
                    f"{wk.REV_LABEL}=1-17-0 --overwrite) and recreate its pods")
        return check
    code = _text(answer.get("code"))
    # the finding itself is shown only once the trainee answered: finding it is the exercise
    check.add(True, "the diagnosis explains it: " + "; ".join(
        f"{f.code} {f.severity}: {f.message}" for f in causes[:2]) if code is not None else
        f"the diagnosis finds why {namespace} is broken ({len(causes)} finding(s) about it)")
    diag = f"diagnose_cluster(cluster, namespace={namespace!r}) (or: runbook diagnose -n {namespace})"
    if code is None:
        check.add(False, f"answer['code'] is empty — run {diag} and read the code of the "
                         "finding about the namespace")
    else:
        check.add(code.upper() in codes, f"code {code.upper()}" + (
            " names the cause" if code.upper() in codes else
            f" is not the cause here — the diagnosis says {', '.join(codes)} ({diag})"))
    created = bool(pods)
    said = _answer_bool(answer.get("pods_created"))
    if created:
        state = f"{len(pods)} pod(s), {sidecars} with a sidecar"
        why = ("no webhook injects them: they run without a sidecar, outside the mesh"
               if not sidecars else "some were injected before the namespace broke")
    elif codes[0] == "MR101":
        state = f"no pod (kubectl describe rs -n {namespace})"
        why = "the webhook's failurePolicy is Fail: the apiserver refuses every pod it cannot inject"
    else:
        state = f"no pod yet (kubectl get deploy,rs,pods -n {namespace})"
        why = "give the controllers a moment and read the cluster again"
    if said is None:
        check.add(False, f"answer['pods_created'] is empty (True/False) — kubectl get pods -n "
                         f"{namespace}")
    else:
        check.add(said == created, f"pods created: {created} — {state}; {why}" if said == created
                  else f"pods created is {created}, not {said}: {state}")
    return check


__all__ = [
    "CAUSE_CODES",
    "check_broken_namespace",
    "check_service_hunt",
    "namespace_causes",
]
