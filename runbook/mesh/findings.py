"""Findings: what is wrong, where, why we think so, and what to do about it.

A :class:`Finding` is one diagnosis: a ``code``, a ``severity`` (``error`` | ``warning`` |
``info``), the ``subject`` it is about (kind, namespace, name), a one-line ``message`` that says
what is wrong *and* what to do, the ``evidence`` (short strings quoting what was seen: the event
message, the webhook's clientConfig, the Services found elsewhere …) and, where the toolkit can
propose one, a :class:`FixSuggestion` that the fix layer turns into a plan (preview, dry run,
apply with precondition, undo).

Codes. Istio's analyzer codes are reused where the meaning is the same; ``MR…`` codes are ours.
Sources for the Istio codes: ``pkg/config/analysis/msg/messages.yaml`` (levels and templates) and
``pkg/config/analysis/analyzers/webhook/webhook.go`` / ``injection/injection.go`` /
``injection/injection-image.go`` in istio/istio, and istio.io/latest/docs/reference/config/analysis/.

======== ========= ===========================================================================
code     severity  meaning
======== ========= ===========================================================================
IST0102  info      NamespaceNotInjected: a namespace has neither ``istio-injection`` nor
                   ``istio.io/rev`` (Istio: level Info, "The namespace is not enabled for Istio
                   injection. Run 'kubectl label namespace …'"), with or without workloads, as
                   istioctl reports it; istio-system, Kubernetes' own namespaces, ambient ones
                   (``istio.io/dataplane-mode=ambient``) and — unlike istioctl — namespaces that
                   host Istio's control plane or gateways are skipped.
IST0103  warning   PodMissingProxy, as istioctl reports it (one per pod): a pod of an injected
                   namespace (``istio.io/rev`` without ``istio-injection``, or
                   ``istio-injection=enabled``) without an ``istio-proxy`` container, not opted
                   out, not on the host network. Fix: ``recreate-workloads``.
IST0123  warning   NamespaceMultipleInjectionLabels: more than one of ``istio-injection``,
                   ``istio.io/rev`` and ``istio.io/dataplane-mode`` counts (the last two only
                   when ``istio-injection`` is absent or ``enabled``: ``disabled`` is an
                   opt-out). Message "The namespace has more than one type of injection labels
                   [..]". Fix: ``relabel-namespace`` for ``istio-injection`` + ``istio.io/rev``.
IST0148  info      NamespaceInjectionEnabledByDefault: an unlabelled namespace, when the
                   ``istio-sidecar-injector`` ConfigMap's values set
                   ``sidecarInjectorWebhook.enableNamespacesByDefault`` (instead of IST0102).
IST0139  error     InvalidWebhook, both of Istio's causes: an Istio injector webhook "refers to a
                   control plane service that does not exist: <ns>/<name>." (and no Service of
                   that name exists anywhere else — otherwise MR102 is more precise), or
                   injector webhooks that select the same namespace/pod label permutations
                   ("Webhook overlaps with others: […]. This may cause injection to occur
                   twice."), evaluated like ``webhook.Analyzer`` (selectors only, rules ignored).
IST0158  warning   PodsIstioProxyImageMismatchInNamespace, as istioctl's ImageAnalyzer: per
                   injected namespace, pods whose ``istio-proxy`` image is not the one the
                   revision's injector ConfigMap (``istio-sidecar-injector[-<rev>]``, values
                   ``global.hub``/``proxy.image``/``tag``) defines. Without a readable injector
                   ConfigMap, by revision instead: pods whose ``sidecar.istio.io/status``
                   revision differs from the one that injects the namespace now. Fix:
                   ``recreate-workloads``.
MR101    error     Pods cannot be created: ReplicaSets report ``FailedCreate`` because an admission
                   webhook call fails. One finding per (namespace, webhook, target) linking the
                   ReplicaSets → events → webhook configuration → broken target → proposed fix.
MR102    error     A webhook calls a Service that does not exist in the namespace it names, but a
                   Service of that name exists in another namespace (named, with the revision
                   behind it). Fix: ``retarget-webhook`` (or ``set-tag-revision``).
MR103    error     A webhook's target exists but cannot serve it: no ready endpoints, no such port,
         /warning  a headless Service, or (non-Istio webhooks) the Service is missing. Error when
                   ``failurePolicy`` is Fail, warning when Ignore.
MR104    warning   A namespace is bound to a revision or tag that no injector serves
                   (``istio.io/rev=<x>`` or ``istio-injection=enabled`` with no matching webhook):
                   its pods start without a sidecar.
MR105    warning   A tag's (or a revision's) webhook reaches istiod pods of another revision than
                   its ``istio.io/rev`` label claims. Fix: ``set-tag-revision`` / ``retarget-webhook``.
MR106    warning   The proposed retarget (MR101/MR102) reaches a different revision than the
                   configuration claims; carries the alternative fix that reaches the claimed
                   revision.
MR107    info      Workloads to recreate once the webhook is fixed (or whose failures are stale now
                   that the target resolves). Fix: ``recreate-workloads``.
MR108    warning   A kind could not be read (e.g. 403): names the verb, resource and scope that is
         /info     missing; results that need it are partial. Warning for the kinds a diagnosis
                   depends on, info for the rest.
MR110    warning   A namespace's pods are injected by (or carry sidecars of) a revision whose istiod
                   does not watch the namespace (meshConfig ``discoverySelectors``): those sidecars
                   get no configuration from it. Seen after re-pointing a tag without moving the
                   tag's namespaces into the new revision's selectors.
MR109    info      No Istio control plane found (no ``app=istiod`` Deployment, no injector webhook):
                   the tables are empty.
MR111    error     The injector deadlock: an injector webhook (failurePolicy Fail) calls a Service
                   whose istiod has no ready pod, and that istiod's own pods match the webhook's
                   selectors — no istiod pod can ever start, restarting it cannot help. Fix:
                   ``remove-label`` (the namespace label that makes istiod's namespace match),
                   else the ``kubectl patch`` to failurePolicy Ignore until istiod runs.
MR112    warning   Pods run without a sidecar in a namespace an injector with failurePolicy
                   Ignore serves: the apiserver skipped the failing call and admitted them
                   unmutated (found from the pods and the webhook; no event records it). Fix:
                   ``recreate-workloads`` once the target answers.
MR113    error     A webhook's ``caBundle`` differs from the one the other configurations calling
                   the same Service trust (the revision's own injector first): the apiserver
                   cannot verify istiod's certificate (``x509: certificate signed by unknown
                   authority``). Warning under failurePolicy Ignore (pods start uninjected).
                   The message gives the ``kubectl patch`` that copies the trusted bundle.
======== ========= ===========================================================================

Fix actions (``FixSuggestion.action``) and their ``params``. The keys that
``runbook.fix.plans`` takes are named exactly like its arguments; the others say what the change
leads to, for previews and reports:

``retarget-webhook`` (``plans.retarget_webhook``)
    ``kind`` (``MutatingWebhookConfiguration``/``ValidatingWebhookConfiguration``),
    ``configuration``, ``webhooks`` (names), ``service_namespace``, ``service_name``; plus
    ``webhook_indexes`` (positions in ``.webhooks``), ``service_port``, ``service_path``,
    ``current_service_namespace``, ``current_service_name``, ``revision`` (what the new target
    reaches), ``claimed_revision`` (the configuration's ``istio.io/rev``).
``set-tag-revision`` (``plans.set_tag_revision``)
    ``tag``, ``revision``; plus ``configuration``, ``webhooks``, ``istio_namespace``,
    ``service_namespace``, ``service_name``, ``service_port``, ``service_path`` (the Service that
    serves ``revision``, from that revision's own injector webhook), ``canonical_configuration``,
    ``overwrite`` (True: the tag exists).
``recreate-workloads`` (``plans.recreate_workloads``)
    ``namespace``, ``deployments``, ``method`` (``rollout-restart``); plus ``replicasets``, ``pods``.
``relabel-namespace`` (``plans.relabel_namespace``)
    ``namespace``, ``revision``, ``drop_injection_label``; plus ``label``, ``current_value``.
``remove-label``
    ``namespace``, ``label``, ``current_value``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from runbook.frames import json_value

ERROR = "error"
WARNING = "warning"
INFO = "info"
SEVERITIES: tuple[str, ...] = (ERROR, WARNING, INFO)
_RANK = {s: i for i, s in enumerate(SEVERITIES)}

FIX_ACTIONS: tuple[str, ...] = (
    "retarget-webhook",
    "set-tag-revision",
    "recreate-workloads",
    "relabel-namespace",
    "remove-label",
)


@dataclass(frozen=True)
class CodeInfo:
    """One finding code: default severity, title, and where its meaning comes from."""

    code: str
    severity: str
    title: str
    source: str


#: every code this module's diagnoses emit (the docstring table, as data)
CODES: dict[str, CodeInfo] = {c.code: c for c in (
    CodeInfo("IST0102", INFO, "NamespaceNotInjected",
             "istio messages.yaml IST0102 (Info); analyzers/injection/injection.go"),
    CodeInfo("IST0103", WARNING, "PodMissingProxy",
             "istio messages.yaml IST0103 (Warning); analyzers/injection/injection.go"),
    CodeInfo("IST0123", WARNING, "NamespaceMultipleInjectionLabels",
             "istio messages.yaml IST0123 (Warning); analyzers/injection/injection.go"),
    CodeInfo("IST0148", INFO, "NamespaceInjectionEnabledByDefault",
             "istio messages.yaml IST0148 (Info); analyzers/injection/injection.go"),
    CodeInfo("IST0139", ERROR, "InvalidWebhook",
             "istio messages.yaml IST0139 (Error); analyzers/webhook/webhook.go"),
    CodeInfo("IST0158", WARNING, "PodsIstioProxyImageMismatchInNamespace",
             "istio messages.yaml IST0158 (Warning); analyzers/injection/injection-image.go"),
    CodeInfo("MR101", ERROR, "PodsNotCreatedWebhookFailure", "mesh-runbook"),
    CodeInfo("MR102", ERROR, "WebhookTargetInOtherNamespace", "mesh-runbook"),
    CodeInfo("MR103", ERROR, "WebhookTargetUnavailable", "mesh-runbook"),
    CodeInfo("MR104", WARNING, "NamespaceRevisionNotServed", "mesh-runbook"),
    CodeInfo("MR105", WARNING, "WebhookReachesOtherRevision", "mesh-runbook"),
    CodeInfo("MR106", WARNING, "RetargetChangesRevision", "mesh-runbook"),
    CodeInfo("MR107", INFO, "RecreateWorkloads", "mesh-runbook"),
    CodeInfo("MR108", WARNING, "KindNotReadable", "mesh-runbook"),
    CodeInfo("MR109", INFO, "NoIstioControlPlane", "mesh-runbook"),
    CodeInfo("MR110", WARNING, "InjectingRevisionDoesNotWatchNamespace", "mesh-runbook"),
    CodeInfo("MR111", ERROR, "InjectorDeadlock", "mesh-runbook; runbook.mesh.injector_chains"),
    CodeInfo("MR112", WARNING, "PodsAdmittedWithoutSidecar", "mesh-runbook; runbook.mesh.injector_chains"),
    CodeInfo("MR113", ERROR, "WebhookCaBundleMismatch", "mesh-runbook; runbook.mesh.webhook_trust"),
)}


@dataclass(frozen=True)
class Subject:
    """What a finding is about."""

    kind: str
    namespace: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name}


@dataclass(frozen=True)
class FixSuggestion:
    """A proposed change, complete enough for the fix layer to plan it without guessing.

    Attributes:
        action: one of :data:`FIX_ACTIONS`.
        params: the action's parameters (see the module docstring for each action's keys).
        command: the equivalent ``kubectl``/``istioctl`` command, for learning and for people who
            prefer to type it.
        summary: one line: what the change does and what it leads to.
    """

    action: str
    params: Mapping[str, Any]
    command: str
    summary: str

    def __post_init__(self) -> None:
        if self.action not in FIX_ACTIONS:
            raise ValueError(f"unknown fix action {self.action!r}; expected one of {FIX_ACTIONS}")

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "params": json_value(self.params), "command": self.command,
                "summary": self.summary}


@dataclass
class Finding:
    """One diagnosis (see the module docstring for codes and severities).

    Attributes:
        namespaces: namespaces the finding affects (the subject's own, or those whose pods a
            cluster-scoped webhook breaks) — what ``diagnose -n`` filters on.
    """

    code: str
    severity: str
    subject: Subject
    message: str
    evidence: list[str] = field(default_factory=list)
    fix: FixSuggestion | None = None
    namespaces: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")
        # One line: messages end up in table cells and terminal rows.
        self.message = " ".join(self.message.split())
        self.evidence = [" ".join(str(e).split()) for e in self.evidence]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``code``, ``severity``, ``subject``, ``message``, ``evidence``, ``fix``,
        ``namespaces``."""
        return {
            "code": self.code,
            "severity": self.severity,
            "subject": self.subject.to_dict(),
            "message": self.message,
            "evidence": list(self.evidence),
            "fix": self.fix.to_dict() if self.fix else None,
            "namespaces": list(self.namespaces),
        }


#: columns of :func:`findings_frame`
FINDINGS_COLUMNS: tuple[str, ...] = (
    "severity", "code", "kind", "namespace", "name", "message", "evidence", "fix_action",
    "fix_command", "fix_summary",
)


def findings_frame(findings: Iterable[Finding]) -> pd.DataFrame:
    """One row per finding.

    Columns: ``severity``, ``code``, ``kind``, ``namespace``, ``name`` (the subject), ``message``,
    ``evidence`` (list of strings), ``fix_action``, ``fix_command``, ``fix_summary`` (None when
    there is no fix).
    """
    rows = [
        (f.severity, f.code, f.subject.kind, f.subject.namespace, f.subject.name, f.message,
         list(f.evidence), f.fix.action if f.fix else None, f.fix.command if f.fix else None,
         f.fix.summary if f.fix else None)
        for f in findings
    ]
    return pd.DataFrame(rows, columns=list(FINDINGS_COLUMNS))


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Errors first, then warnings, then infos; stable within a severity."""
    return sorted(findings, key=lambda f: _RANK[f.severity])


def has_errors(findings: Iterable[Finding]) -> bool:
    """True when any finding is an error (the command line then exits 1)."""
    return any(f.severity == ERROR for f in findings)


