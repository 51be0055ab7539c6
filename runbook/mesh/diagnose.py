"""The inventory (all tables at once) and the diagnosis (findings with proposed fixes).

``inventory(snapshot)`` builds the model once and returns every table; ``diagnose(snapshot)``
follows the field report's reasoning, but for every namespace at once:

1. ReplicaSets short of pods whose ``FailedCreate`` events / ``ReplicaFailure`` condition carry an
   admission error (``kubectl describe rs``) are grouped by namespace and webhook (MR101);
2. the error's webhook is linked to its configuration (name, target Service and namespace
   selector must all agree) and the target is resolved again, now (``kubectl get
   mutatingwebhookconfiguration -o yaml | grep namespace``);
3. a Service of that name is looked up in every other namespace, with the istiod revision behind
   it (``kubectl get svc -n istio-canary``) — the retarget the report did — and the Service that
   really serves the revision the configuration claims — the alternative (MR106);
4. the workloads to recreate afterwards (MR107), as the report did with ``kubectl delete rs``.

Configuration problems that no failing pod shows yet are reported too (IST0139, MR102–MR105,
IST0123, IST0102, IST0158), and kinds that could not be read (MR108). Codes are documented in
:mod:`runbook.mesh.findings` and docs/findings.md.

Each failure chain lives in its own module, one class per module, combined here:
``admission_chains`` (pods that cannot be created: MR101, MR106, MR107), ``webhook_chains``
(broken, untrusted or overlapping webhook configurations: IST0139, MR102, MR103, MR105,
MR113),
``injector_chains`` (the injector deadlock MR111, pods admitted uninjected MR112, IST0103),
``namespace_chains`` (IST0123, MR104, IST0102, IST0158, MR110) and ``coverage`` (MR108, MR109);
``retargets`` plans the ways out they share, ``diagnosis_state`` holds what they share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runbook.frames import frame_records
from runbook.gcpause import paused_gc
from runbook.mesh.admission_chains import AdmissionChains
from runbook.mesh.coverage import Coverage
from runbook.mesh.findings import Finding, sort_findings
from runbook.mesh.injection import namespace_injection
from runbook.mesh.injector_chains import (
    deadlock_findings,
    missing_proxy_findings,
    uninjected_pod_findings,
)
from runbook.mesh.model import MeshModel, Source, as_model
from runbook.mesh.namespace_chains import NamespaceChains
from runbook.mesh.revisions import control_planes, revision_tags
from runbook.mesh.webhook_chains import WebhookChains
from runbook.mesh.webhooks import webhook_targets
from runbook.mesh.workloads import replicaset_events, workloads

if TYPE_CHECKING:
    import pandas as pd  # imported where a table is built (runbook.mesh's docstring says why)

#: the tables of an inventory, in display order
TABLES: tuple[str, ...] = (
    "control_planes", "revision_tags", "namespace_injection", "workloads", "replicaset_events",
    "webhook_targets",
)


@dataclass
class Inventory:
    """Every table of a snapshot, plus what could not be read.

    Attributes:
        control_planes, revision_tags, namespace_injection, workloads, replicaset_events,
        webhook_targets: see the functions of the same name (columns documented there).
        unreadable: kind key → why it could not be read (tables built without it are partial).
        model: the index the tables were built from (reused by :func:`diagnose`).
    """

    control_planes: pd.DataFrame
    revision_tags: pd.DataFrame
    namespace_injection: pd.DataFrame
    workloads: pd.DataFrame
    replicaset_events: pd.DataFrame
    webhook_targets: pd.DataFrame
    unreadable: dict[str, str]
    model: MeshModel = field(repr=False, compare=False)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Table name → DataFrame, in :data:`TABLES` order."""
        return {name: getattr(self, name) for name in TABLES}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: each table name → list of row objects, plus ``unreadable``."""
        out: dict[str, Any] = {name: frame_records(df) for name, df in self.tables().items()}
        out["unreadable"] = dict(self.unreadable)
        return out


@paused_gc
def inventory(source: Source) -> Inventory:
    """All tables of a snapshot (or of a model already built from one), built in one pass."""
    model = as_model(source)
    return Inventory(
        control_planes=control_planes(model), revision_tags=revision_tags(model),
        namespace_injection=namespace_injection(model), workloads=workloads(model),
        replicaset_events=replicaset_events(model), webhook_targets=webhook_targets(model),
        unreadable=dict(model.unreadable), model=model)


# ======================================================================================= diagnose


@paused_gc
def diagnose(source: Source | Inventory, *, namespace: str | None = None) -> list[Finding]:
    """Findings for a snapshot, errors first.

    Args:
        source: a snapshot, a model, or an :class:`Inventory` (its model is reused).
        namespace: keep only findings about this namespace (its own objects, the webhooks that
            break its pods) and cluster-wide ones that concern every namespace.

    Returns:
        Findings sorted by severity; a healthy mesh gives no errors.
    """
    model = source.model if isinstance(source, Inventory) else as_model(source)
    findings = _Diagnosis(model).run()
    if namespace is not None:
        findings = [f for f in findings if f.subject.namespace == namespace
                    or namespace in f.namespaces
                    or (f.subject.namespace is None and not f.namespaces)]
    return sort_findings(findings)


class _Diagnosis(AdmissionChains, WebhookChains, NamespaceChains, Coverage):
    """Every chain over one model, in the order the findings build on each other (the
    failing-pods chain marks the targets it explains, which the configuration chains skip)."""

    def run(self) -> list[Finding]:
        self.unreadable_kinds()
        self.no_istio()
        self.pod_creation_chains()
        self.broken_targets()
        self.untrusted_targets()
        self.overlaps()
        self.out.extend(deadlock_findings(self.m))
        self.out.extend(uninjected_pod_findings(self.m, self.injection))
        self.out.extend(missing_proxy_findings(self.m))
        self.namespace_labels()
        self.claimed_revisions()
        self.stale_sidecars()
        self.unwatched_namespaces()
        return self.out

