"""The failing-pods chain (MR101, MR106, MR107): ReplicaSets short of pods whose ``FailedCreate``
events carry an admission error, grouped by namespace and webhook, linked to the webhook's
configuration, its target resolved again now, and the way out (retarget, or recreate when the
target answers again).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from runbook import kinds as k
from runbook.formats.admission import AdmissionError
from runbook.mesh.findings import ERROR, INFO, Finding, FixSuggestion, Subject
from runbook.mesh.injector_chains import labels_text, refused_port_detail
from runbook.mesh.model import Target, Webhook
from runbook.mesh.retargets import Retargets, elsewhere_text, istioctl_caveat, plan_notes
from runbook.mesh.webhook_trust import bundle_of, copy_command, describe_bundle
from runbook.mesh.workloads import FailingReplicaSet, failing_replicasets
from runbook.statuses import CANNOT_SERVE


class AdmissionChains(Retargets):
    """Pods that cannot be created because an admission webhook fails."""

    def pod_creation_chains(self) -> None:
        groups: dict[tuple[Any, ...], list[FailingReplicaSet]] = defaultdict(list)
        links: dict[tuple[Any, ...], list[Webhook]] = {}
        # the webhooks an error names depend on the error and the namespace only: a namespace's
        # ReplicaSets come one after another and share the error object when they fail alike
        # (one parse per distinct message), so each run of them is linked once
        last: tuple[str, AdmissionError, list[Webhook]] | None = None
        for rs in failing_replicasets(self.m):
            if last is not None and last[0] == rs.namespace and last[1] is rs.error:
                hooks = last[2]
            else:
                hooks = self._link(rs)
                last = (rs.namespace, rs.error, hooks)
            key = (rs.namespace, tuple(w.key for w in hooks) or (rs.error.webhook,),
                   rs.error.service_namespace, rs.error.service, rs.error.url, rs.error.error_kind)
            groups[key].append(rs)
            links[key] = hooks
        for key, items in groups.items():
            self._chain(items, links[key])

    def _link(self, rs: FailingReplicaSet) -> list[Webhook]:
        """The webhook(s) an admission error names: same name, same target, selecting the ns.

        When no webhook of that name calls that target any more (the configuration was changed
        since the error — the report's patch), the webhooks of that name that select the
        namespace are returned: their *current* target decides whether the failure is stale.
        """
        err = rs.error
        named = [w for w in self.m.webhooks if w.name == err.webhook]
        cands = named
        if err.service is not None:
            cands = [w for w in named if w.service_name == err.service
                     and w.service_namespace == err.service_namespace
                     and (err.port is None or w.service_port == err.port)]
        elif err.url:
            cands = [w for w in named if w.url and w.url.split("?")[0] == err.url]
        labels = self.m.namespaces.get(rs.namespace)
        if labels is None:
            return cands
        # the errors come from pod creation: only webhooks whose rules cover it qualify
        selecting = [w for w in (cands or named) if w.namespace_selector.matches(labels)
                     and w.matches_pod_create]
        if not cands:
            return selecting
        return selecting if len(cands) > 1 and selecting else cands

    def _chain(self, items: list[FailingReplicaSet], hooks: list[Webhook]) -> None:
        first = items[0]
        ns, err = first.namespace, first.error
        names = sorted(r.name for r in items)
        deployments = sorted({r.deployment for r in items if r.deployment})
        n = len(items)
        rs_word = f"{n} ReplicaSet{'s' if n != 1 else ''}"
        evidence = [
            f"ReplicaSet {r.name}" + (f" (Deployment {r.deployment})" if r.deployment else "")
            + (f": {r.current}/{r.desired} pods" if r.exists else ": (ReplicaSets not readable)")
            + (f", FailedCreate ×{r.count}" if r.count else "")
            + (f", last {r.last_seen}" if r.last_seen else "")
            for r in sorted(items, key=lambda r: r.name)]
        evidence.append(f"event: {first.messages[0]}" if first.messages else f"error: {err.message}")
        w = hooks[0] if len(hooks) == 1 else None
        if w is None and hooks:
            evidence.append("several configurations define this webhook with this target: "
                            + ", ".join(h.configuration for h in hooks))
        subject = Subject("Namespace", None, ns)
        if w is not None:
            evidence.append(f"{w.kind} {w.configuration} webhooks[{w.index}] {w.name}: clientConfig "
                            f"{w.client_config()}, failurePolicy {w.failure_policy}")
            if err.service is not None and (w.service_namespace, w.service_name) != (
                    err.service_namespace, err.service):
                evidence.append(f"the error names {err.service_namespace}/{err.service}: the "
                                "configuration was changed since")
            labels = self.m.namespaces.get(ns)
            if labels is not None:
                evidence.append(f"namespace {ns} labels {labels_text(labels)} match namespaceSelector "
                                f"{w.namespace_selector}")
        target = w.target if w else None
        if target is None and err.service is not None and err.service_namespace is not None:
            # no configuration to link (not readable, or deleted): the event still names the Service
            target = self.m.resolve(err.service_namespace, err.service, err.port or 443)
            if not self.m.has(k.MUTATING_WEBHOOKS):
                evidence.append("webhook configurations could not be read (see MR108): the "
                                "webhook's configuration and a fix cannot be named")
        where = f"webhook {err.webhook}" + (f" of {w.configuration}" if w else "")

        # Only resolution errors can be checked against the snapshot: when such a target
        # resolves now, the failures are stale and only a recreate is needed. A timeout or a TLS
        # error says nothing the objects can disprove.
        if (target is not None and target.ok and target.status != "unknown"
                and err.error_kind in ("service_not_found", "no_endpoints")):
            self.out.append(Finding(
                "MR107", INFO, subject,
                f"{rs_word} in {ns} still lack pods after {where} failed "
                f"({err.error_kind.replace('_', ' ')}), but its target {target.describe()} answers "
                f"now — the ReplicaSet controller retries with back-off (up to 1000 s); recreate "
                f"the workloads to create the pods now",
                evidence=evidence, fix=self.recreate_fix(ns, deployments, names), namespaces=[ns]))
            return

        if w is not None and w.target is not None:
            self.covered.add((w.configuration, w.target.address))
        retarget = None
        # a denial is an answer: the webhook was reached, whatever its Service looks like now
        if target is not None and target.status == "service_not_found" and \
                err.error_kind != "denied":
            retarget = self.plan_for_missing(w) if w is not None else self.same_name_candidates(target)
        if retarget is not None:
            if retarget.candidates:
                evidence.append("Service found in: " + "; ".join(t.describe()
                                                               for t in retarget.candidates))
            evidence.extend(plan_notes(retarget) + istioctl_caveat(self.m, retarget.primary))
            message = (f"{rs_word} in {ns} cannot create pods: {where} calls Service "
                       f"{target.namespace}/{target.name}, which does not exist"  # type: ignore[union-attr]
                       + elsewhere_text(retarget)
                       + (f" — {retarget.primary.summary}" if retarget.primary else
                          " — point the webhook at a running istiod's Service"
                          + (" (its configuration could not be read)" if w is None else "")))
            fix = retarget.primary
        else:
            message, fix = self._chain_other(rs_word, ns, where, err, w, target, evidence)
        self.out.append(Finding("MR101", ERROR, subject, message, evidence, fix, namespaces=[ns]))
        if retarget is not None and retarget.alternative is not None and w is not None:
            self.add_alternative(w, retarget, [ns])
        if deployments:
            self.out.append(Finding(
                "MR107", INFO, subject,
                f"after {where} is fixed, recreate the {len(deployments)} Deployment"
                f"{'s' if len(deployments) != 1 else ''} in {ns} ({', '.join(deployments)}) so "
                f"that their pods are created and injected now — the ReplicaSet controller only "
                f"retries with back-off (up to 1000 s)",
                evidence=[f"failing ReplicaSets: {', '.join(names)}",
                          f"field report: kubectl delete rs -n {ns} --all"],
                fix=self.recreate_fix(ns, deployments, names), namespaces=[ns]))

    def _chain_other(self, rs_word: str, ns: str, where: str, err: AdmissionError,
                     w: Webhook | None, target: Target | None, evidence: list[str]
                     ) -> tuple[str, FixSuggestion | None]:
        """Message for failures other than a missing Service (no automatic fix)."""
        kind, cause = err.error_kind, err.cause
        head = f"{rs_word} in {ns} cannot create pods: {where}"
        if target is not None:
            evidence.append(f"target now: {target.describe()}")
            if target.selected_revisions:
                evidence.append(f"its selector {target.selector or '<none>'} selects istiod "
                                f"revision {', '.join(target.selected_revisions)}")
        if kind == "denied":
            return f"{head} denied the pods: {cause} — {self._denied_hint(w, ns, evidence)}", None
        if kind == "service_not_found" and target is None:
            return (f"{head} calls a Service that does not exist ({cause}) — the webhook "
                    "configuration was not found in the snapshot; check which configuration "
                    "defines it", None)
        if kind == "no_endpoints" or (target is not None and target.status in CANNOT_SERVE):
            why = target.detail if target is not None else cause
            pods = self.istiod_state(target)
            if target is not None and target.address in self.deadlocked:
                return (f"{head} finds no istiod to answer ({why}){pods} — and istiod's own pods "
                        "are created through this webhook, so restarting istiod cannot help: "
                        "see MR111 for the way out", None)
            return (f"{head} finds no istiod to answer ({why}){pods} — bring the istiod pods "
                    f"back (kubectl get pods -n {target.namespace if target else '<ns>'} -l "
                    f"app=istiod) or point the webhook at a revision that runs", None)
        hints = {
            "connection_refused": "nothing listens behind the Service: check the istiod pods and "
                                  "the Service's targetPort",
            "invalid_response": "the webhook answered something the apiserver cannot use: check "
                                "the webhook's logs",
        }
        hint = hints.get(kind, "read the cause and the webhook's logs")
        if kind == "connection_refused" and target is not None:
            hint = refused_port_detail(self.m, target) or hint
        elif kind == "tls":
            hint = self._tls_hint(w, evidence)
        elif kind == "timeout":
            hint = self._timeout_hint(err, target)
        return f"{head} failed: {cause} — {hint}", None

    def _tls_hint(self, w: Webhook | None, evidence: list[str]) -> str:
        """The caBundle the apiserver verified istiod's certificate with, and the one to use."""
        if w is None:
            return ("the webhook's caBundle did not sign the certificate its server presents: "
                    "compare the configuration's caBundle with the CA istiod uses")
        mismatch = self.untrusted.get(w.key)
        evidence.append(f"{w.key} caBundle: {describe_bundle(bundle_of(self.m, w))}")
        if mismatch is not None:
            same_config = [m for m in self.untrusted.values()
                           if (m.webhook.kind, m.webhook.configuration) == (w.kind, w.configuration)]
            evidence.append(f"{mismatch.reference_from.key} caBundle (same Service): "
                            f"{describe_bundle(mismatch.reference)}")
            return (f"{w.configuration} trusts {describe_bundle(mismatch.bundle)}, but "
                    f"{mismatch.reference_from.configuration} trusts "
                    f"{describe_bundle(mismatch.reference)} for the same Service (see MR113) — "
                    f"copy the trusted caBundle: {copy_command(same_config)}")
        ns = w.service_namespace or "<istiod-namespace>"
        return (f"{w.configuration}'s caBundle ({describe_bundle(bundle_of(self.m, w))}) did not "
                f"sign the certificate istiod serves: compare it with istiod's CA (kubectl get "
                f"configmap istio-ca-root-cert -n {ns} -o jsonpath='{{.data.root-cert\\.pem}}'); "
                "istiod rewrites the caBundle of its own revision's configuration when it starts, "
                "a tag's is rewritten by istioctl tag set <tag> --revision <rev> --overwrite")

    def _timeout_hint(self, err: AdmissionError, target: Target | None) -> str:
        """Why a webhook call may outlast its timeoutSeconds, and what not to do about it."""
        seconds = err.timeout_seconds or 10
        where = f" in {target.namespace}" if target is not None else ""
        return (f"the webhook did not answer within its timeoutSeconds ({seconds}s)"
                f"{self.istiod_state(target)}: the apiserver cannot reach the webhook pods in "
                f"time — check NetworkPolicies{where} and firewall rules for the webhook port "
                "(15017 for istiod) from the control plane's nodes, then istiod's CPU and "
                "memory (kubectl top pods -l app=istiod); raising timeoutSeconds (at most 30) "
                "only hides a blocked path")

    def _denied_hint(self, w: Webhook | None, ns: str, evidence: list[str]) -> str:
        """A denial is the webhook's verdict: the way out is in its reason, or out of its scope."""
        if w is None:
            return ("the webhook rejected the pod: its reason says what to change in the pod "
                    "template (the configuration that defines it was not found)")
        whose = ("Istio's sidecar injector" if w.is_injector else
                 "a policy webhook, not Istio's injector")
        evidence.append(f"{w.kind} {w.configuration} rules: {w.rules}")
        return (f"{w.configuration} ({whose}) rejected the pod: change the pod template as its "
                f"reason says, or — if its policy should not apply to {ns} — take the namespace "
                f"out of its namespaceSelector {w.namespace_selector} (kubectl get "
                f"{w.kind.lower()} {w.configuration} -o yaml); the ReplicaSet retries by itself "
                "once the pod passes")
