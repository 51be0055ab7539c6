"""Findings: what is wrong, where, why we think so, and what to do about it.

A :class:`Finding` is one diagnosis: a ``code``, a ``severity`` (``error`` | ``warning`` |
``info``), the ``subject`` it is about (kind, namespace, name), a one-line ``message`` that says
what is wrong *and* what to do, the ``evidence`` (short strings quoting what was seen: the event
message, the webhook's clientConfig, the Services found elsewhere …) and, where the toolkit can
propose one, a :class:`FixSuggestion` that the fix layer turns into a plan (preview, dry run,
apply with precondition, undo).

Codes. Istio's analyzer codes are reused where the meaning is the same; ``MR…`` codes are ours.
Each is described once, in :data:`CODES` (severity, title, source, meaning, fix); the table of
docs/findings.md is generated from it (``python docs/make_findings.py``; a test keeps it current).

Fix actions (``FixSuggestion.action``) and their ``params``. The keys that
``runbook.fix.actions`` takes are named exactly like its arguments; the others say what the change
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
from typing import TYPE_CHECKING, Any, Final, TypedDict

from runbook.frames import json_value
from runbook.statuses import SEVERITIES, Severity

if TYPE_CHECKING:
    import pandas as pd  # imported where a table is built (runbook.mesh's docstring says why)

ERROR: Final = "error"
WARNING: Final = "warning"
INFO: Final = "info"
_RANK: dict[str, int] = {s: i for i, s in enumerate(SEVERITIES)}

FIX_ACTIONS: tuple[str, ...] = (
    "retarget-webhook",
    "set-tag-revision",
    "recreate-workloads",
    "relabel-namespace",
    "remove-label",
)


@dataclass(frozen=True)
class CodeInfo:
    """One finding code, described once.

    Attributes:
        code: ``IST0139`` (Istio's analyzer code, same meaning) or ``MR101`` (ours).
        severity: the severity it has by default.
        title: Istio's name for an Istio code (``InvalidWebhook``), ours for an ``MR…`` code.
        source: where the meaning comes from (Istio's messages.yaml and analyzer file).
        meaning: what it says, for docs/findings.md (Markdown).
        fix: the fix action it carries and when, ``—`` for none (Markdown).
        also: the other severity some of its findings have (MR103 is a warning when the webhook's
            failurePolicy is Ignore).
    """

    code: str
    severity: Severity
    title: str
    source: str
    meaning: str = ""
    fix: str = ""
    also: Severity | None = None

    def severities(self) -> str:
        """``error`` or ``error / warning``."""
        return self.severity + (f" / {self.also}" if self.also else "")


#: every code the diagnosis emits
CODES: dict[str, CodeInfo] = {c.code: c for c in (
    CodeInfo("IST0102", INFO, "NamespaceNotInjected",
             "istio messages.yaml IST0102 (Info); analyzers/injection/injection.go",
             meaning=('a namespace has neither `istio-injection` nor `istio.io/rev` — with or without '
                      "workloads, as istioctl reports it. Skipped: istio-system and Kubernetes' own "
                      'namespaces (kube-system, kube-public, kube-node-lease, local-path-storage, which '
                      'istioctl never reads) and ambient namespaces (`istio.io/dataplane-mode=ambient`); '
                      'namespaces that host istiod or gateways are reported, as istioctl does.'),
             fix="— (the message gives both `kubectl label` commands, as Istio's does)"),
    CodeInfo("IST0103", WARNING, "PodMissingProxy",
             "istio messages.yaml IST0103 (Warning); analyzers/injection/injection.go",
             meaning=('one per pod as istioctl: "The pod ns/name is missing the Istio proxy. This can often '
                      'be resolved by restarting or redeploying the workload." — a pod of a namespace '
                      'labelled `istio.io/rev` (without `istio-injection`) or `istio-injection=enabled`, '
                      'without an `istio-proxy` container, not opted out (`sidecar.istio.io/inject: '
                      '"false"` label or annotation), not on the host network. MR112 says why when an '
                      'Ignore-policy injector skipped them.'),
             fix="`recreate-workloads` of the pod's Deployment"),
    CodeInfo("IST0123", WARNING, "NamespaceMultipleInjectionLabels",
             "istio messages.yaml IST0123 (Warning); analyzers/injection/injection.go",
             meaning=("Istio's rule: `istio-injection`, plus `istio.io/rev` and the ambient "
                      '`istio.io/dataplane-mode` when `istio-injection` is absent or `enabled` — more than '
                      'one is a conflict ("The namespace has more than one type of injection labels '
                      '[istio.io/rev=1-19-3 istio.io/dataplane-mode=ambient]"). `istio-injection=disabled` '
                      'with `istio.io/rev` is a deliberate opt-out: no IST0123, no MR104.'),
             fix=('`relabel-namespace` (drops `istio-injection`) when it hides `istio.io/rev`; for '
                  'sidecar + ambient the message names both `kubectl label … -` commands')),
    CodeInfo("IST0148", INFO, "NamespaceInjectionEnabledByDefault",
             "istio messages.yaml IST0148 (Info); analyzers/injection/injection.go",
             meaning=('"is enabled for Istio injection, as Istio is installed with '
                      'enableNamespacesByDefault as true." — an unlabelled namespace when the '
                      "`istio-sidecar-injector` ConfigMap's `values` set "
                      '`sidecarInjectorWebhook.enableNamespacesByDefault` (IST0102 is then not reported).'),
             fix='—'),
    CodeInfo("IST0139", ERROR, "InvalidWebhook",
             "istio messages.yaml IST0139 (Error); analyzers/webhook/webhook.go",
             meaning=("Istio's two causes: an injector webhook's Service does not exist anywhere "
                      '(wording: "Injector refers to a control plane service that does not exist: '
                      'ns/name."), or injector webhooks overlap ("Webhook overlaps with others: […]. '
                      "This may cause injection to occur twice.\"), found by Istio's own permutation "
                      "method (namespace/pod label sets, rules not considered)."),
             fix=("`set-tag-revision` or `retarget-webhook` to the Service of the claimed revision, "
                  "when one runs")),
    CodeInfo("IST0158", WARNING, "PodsIstioProxyImageMismatchInNamespace",
             "istio messages.yaml IST0158 (Warning); analyzers/injection/injection-image.go",
             meaning=("istioctl's rule and text: per namespace labelled `istio-injection=enabled` or "
                      '`istio.io/rev`, the pods whose `istio-proxy` image (containers or init containers) '
                      "is neither the image the revision's injector ConfigMap defines "
                      '(`istio-sidecar-injector[-<rev>]`, `values.global`: `hub/proxy.image:tag`, or '
                      '`proxy.image` when it holds a `/`) nor a variant of it (`…-distroless`); pods with '
                      '`sidecar.istio.io/proxyImage` are skipped. "The Istio proxy images of the pods '
                      'running in the namespace do not match the image defined in the injection '
                      'configuration (pod names: [reviews-v1-…]). …" When no injector ConfigMap can be '
                      'read, by revision instead: pods whose `sidecar.istio.io/status` revision differs '
                      'from the one that injects the namespace now.'),
             fix='`recreate-workloads`'),
    CodeInfo("MR101", ERROR, "PodsNotCreatedWebhookFailure",
             "mesh-runbook",
             meaning=('Pods cannot be created: ReplicaSets short of pods whose `FailedCreate` events or '
                      '`ReplicaFailure` condition carry an admission webhook error. One finding per '
                      'namespace and webhook target, with every ReplicaSet as evidence, the event, the '
                      "webhook's clientConfig, the namespace labels that select it, and where a Service of "
                      'that name exists.'),
             fix=("`retarget-webhook` to a same-name Service elsewhere (the field report's fix), else "
                  "`set-tag-revision` to the claimed revision's Service. None for the others, whose "
                  'message says what the call met: x509 — the caBundle each side trusts (subject CN, '
                  'expiry) and the `kubectl patch` that copies the trusted one (MR113); a timeout — the '
                  "webhook's `timeoutSeconds`, istiod's ready pods and the path to check "
                  "(NetworkPolicies, port 15017); a denial — the configuration, whether it is Istio's "
                  'injector, its reason and its `namespaceSelector` (a denial is an answer: never a '
                  'retarget)')),
    CodeInfo("MR102", ERROR, "WebhookTargetInOtherNamespace",
             "mesh-runbook",
             meaning=("A webhook calls a Service that does not exist in the namespace it names, but "
                      "one of that name exists elsewhere (named, with the revision behind it). Shown "
                      "when no pod fails yet; MR101 replaces it when pods do."),
             fix="`retarget-webhook`"),
    CodeInfo("MR103", ERROR, "WebhookTargetUnavailable",
             "mesh-runbook",
             meaning=("A webhook's target exists but cannot serve: no ready endpoints, no such port, "
                      "headless or ExternalName Service; or a non-Istio webhook's Service is missing."
                      " Error with `failurePolicy: Fail`, warning with `Ignore`."),
             fix="—",
             also=WARNING),
    CodeInfo("MR104", WARNING, "NamespaceRevisionNotServed",
             "mesh-runbook",
             meaning=("A namespace is labelled for a revision or tag that no injector serves "
                      "(`istio.io/rev=<x>`, or `istio-injection=enabled` without a default injector):"
                      " its pods start without a sidecar."),
             fix="— (the message lists the revisions and tags that exist)"),
    CodeInfo("MR105", WARNING, "WebhookReachesOtherRevision",
             "mesh-runbook",
             meaning=("A tag's (or a revision's) webhooks reach istiod pods of another revision than "
                      "its `istio.io/rev` label claims — what the field report's retarget leaves "
                      "behind."),
             fix=("`set-tag-revision` (or `retarget-webhook` for a revision's own injector) to the "
                  "claimed revision")),
    CodeInfo("MR106", WARNING, "RetargetChangesRevision",
             "mesh-runbook",
             meaning=("The proposed retarget (MR101/MR102) makes another revision inject than the "
                      "configuration claims; carries the alternative that keeps the claimed revision."
                      " In the seed incident: `istio-canary/istiod-1-18-5` selects the 1-19-3 pods."),
             fix="`set-tag-revision`"),
    CodeInfo("MR107", INFO, "RecreateWorkloads",
             "mesh-runbook",
             meaning=("Workloads to recreate once the webhook is fixed (the ReplicaSet controller "
                      "only retries with back-off, up to 1000 s per item: client-go "
                      "`DefaultControllerRateLimiter`), or failures that are stale because the target"
                      " answers now."),
             fix="`recreate-workloads`"),
    CodeInfo("MR108", WARNING, "KindNotReadable",
             "mesh-runbook",
             meaning=("A kind could not be read (e.g. 403): the verb, resource and scope that are "
                      "missing, and `kubectl auth can-i …`. Warning for the kinds a diagnosis depends"
                      " on."),
             fix="—",
             also=INFO),
    CodeInfo("MR109", INFO, "NoIstioControlPlane",
             "mesh-runbook",
             meaning=("No Istio control plane (no `app=istiod` Deployment, no injector webhook): the "
                      "mesh tables are empty."),
             fix="—"),
    CodeInfo("MR110", WARNING, "InjectingRevisionDoesNotWatchNamespace",
             "mesh-runbook",
             meaning=("A namespace's pods are injected by (or carry sidecars of) a revision whose "
                      "istiod does not watch the namespace (meshConfig `discoverySelectors`): those "
                      "sidecars get no configuration. Typical after re-pointing a tag without moving "
                      "its namespaces into the new revision's selectors."),
             fix="— (edit the meshConfig ConfigMap, or relabel the namespace)"),
    CodeInfo("MR111", ERROR, "InjectorDeadlock",
             "mesh-runbook; runbook.mesh.injector_chains",
             meaning=("*The injector deadlock*: an injector webhook (`failurePolicy: Fail`) calls a "
                      "Service whose istiod has no ready pod, and that istiod's own pods match the "
                      "webhook's namespace and object selectors — every istiod pod create is rejected"
                      " because no istiod answers, so restarting istiod cannot help. MR101 of "
                      "istiod's own namespace points here instead of saying \"bring the istiod pods "
                      'back".'),
             fix=("`remove-label` (the `istio.io/rev` / `istio-injection` label that puts istiod's "
                  "namespace under the webhook); when no label does, the message gives the `kubectl "
                  "patch` to `failurePolicy: Ignore` until istiod runs")),
    CodeInfo("MR112", WARNING, "PodsAdmittedWithoutSidecar",
             "mesh-runbook; runbook.mesh.injector_chains",
             meaning=("Pods run without a sidecar in a namespace an injector with `failurePolicy: "
                      "Ignore` serves: the apiserver skipped the failing call and admitted them "
                      "unmutated. Found from the pods (no `sidecar.istio.io/status`, not opted out, "
                      "matching the webhook's object selector) and the webhook — no event records a "
                      "skipped call."),
             fix="`recreate-workloads`, once the target answers (the message says whether it does)"),
    CodeInfo("MR113", ERROR, "WebhookCaBundleMismatch",
             "mesh-runbook; runbook.mesh.webhook_trust",
             meaning=("A webhook's `caBundle` differs from the one the other configurations calling the "
                      "same Service trust — the revision's own injector first (istiod's webhook controller "
                      'rewrites that one), else a bundle most agree on; no finding when no reference can be '
                      "told. The apiserver cannot verify istiod's certificate (`x509: certificate signed by "
                      'unknown authority`): every call fails (error, `failurePolicy: Fail`) or is skipped '
                      'and pods start without a sidecar (warning, `Ignore`). Bundles are named by subject '
                      'CN and expiry; certificates are public, and the snapshot reads no Secret.'),
             fix=('— (the message gives the `kubectl patch … caBundle` that copies the trusted bundle '
                  'with `$(kubectl get … -o jsonpath=…)`; tested by running it on the real engine)'),
             also=WARNING),
)}


class SubjectRecord(TypedDict):
    """:meth:`Subject.to_dict`."""

    kind: str
    namespace: str | None
    name: str


class FixRecord(TypedDict):
    """:meth:`FixSuggestion.to_dict` (``params`` made JSON-ready)."""

    action: str
    params: dict[str, Any]
    command: str
    summary: str


class FindingRecord(TypedDict):
    """:meth:`Finding.to_dict`: one finding as ``runbook diagnose -o json`` prints it."""

    code: str
    severity: Severity
    subject: SubjectRecord
    message: str
    evidence: list[str]
    fix: FixRecord | None
    namespaces: list[str]


@dataclass(frozen=True)
class Subject:
    """What a finding is about."""

    kind: str
    namespace: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    def to_dict(self) -> SubjectRecord:
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

    def to_dict(self) -> FixRecord:
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
    severity: Severity
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

    def to_dict(self) -> FindingRecord:
        """JSON-ready: ``code``, ``severity``, ``subject``, ``message``, ``evidence``, ``fix``,
        ``namespaces`` (what ``runbook diagnose -o json`` prints under ``findings``)."""
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
    import pandas as pd
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


#: the columns of docs/findings.md's table of codes
CODES_TABLE_HEADER = "| code | severity | meaning | fix |\n|---|---|---|---|"


def codes_markdown(codes: Mapping[str, CodeInfo] | None = None) -> str:
    """The table of docs/findings.md: one row per code of :data:`CODES` (Istio's codes with
    their Istio name in italics)."""
    rows = [CODES_TABLE_HEADER]
    for info in (codes or CODES).values():
        meaning = f"*{info.title}*: {info.meaning}" if info.code.startswith("IST") else info.meaning
        cells = (info.code, info.severities(), meaning, info.fix or "—")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


CODES_BEGIN = "<!-- the codes: generated from runbook.mesh.findings.CODES by docs/make_findings.py -->"
CODES_END = "<!-- end of the codes -->"


def with_codes_table(markdown: str) -> str:
    """``markdown`` (docs/findings.md) with the table between its code markers regenerated."""
    head, begin, rest = markdown.partition(CODES_BEGIN)
    _, end, tail = rest.partition(CODES_END)
    if not begin or not end:
        raise ValueError(f"the page has no {CODES_BEGIN!r} … {CODES_END!r} section")
    return f"{head}{CODES_BEGIN}\n{codes_markdown()}\n{CODES_END}{tail}"
