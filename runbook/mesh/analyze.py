"""An Istio configuration analyzer for Gateways, VirtualServices and DestinationRules.

``analyze(objects, snapshot)`` checks manifests *before* they are applied, resolved together with
what the cluster holds (file objects replace same-named cluster objects; ``namespace`` places
objects that name none, like ``kubectl apply -n``), or — with no objects — the Istio config the
snapshot holds. The result is a DataFrame shaped like ``istioctl analyze`` output (``level``,
``code``, ``kind``, ``namespace``, ``name``, ``message``, plus ``source`` = ``file:line`` and
``see_also`` = equivalent codes) and the same messages as :class:`~runbook.mesh.findings.Finding`
records.

Codes. Istio's and Kiali's codes are used where the meaning is the same; ``MR2xx`` are ours
(``MR1xx`` belong to the diagnosis, ``runbook.mesh.findings``). Sources: istio/istio
``pkg/config/analysis/msg/messages.yaml`` (levels, templates), the analyzers
``analyzers/virtualservice/{gateways,destinationhosts,destinationrules,conflictingmeshgatewayhosts}.go``,
``analyzers/gateway/gateway.go``, ``analyzers/destinationrule/podnotselected.go`` (IST0173/IST0174),
istio.io/latest/docs/reference/config/analysis/ (ist0162, ist0173, ist0174 pages), Kiali
``models/istio_validation.go`` (``checkDescriptors``), istio.io's VirtualService reference
(``HTTPMatchRequest.sourceLabels``: "If the VirtualService has a list of gateways specified in the
top-level gateways field, it must include the reserved gateway mesh for this field to be
applicable"), and istio/istio#44047.

========  =======  ==========================================================================
code      level    meaning (and where it differs from upstream)
========  =======  ==========================================================================
IST0101   Error    ReferencedResourceNotFound, "Referenced %s not found: %q": a VirtualService
                   gateway (Kiali KIA1102), a route/mirror destination host (an empty
                   destination too) that no Service or ServiceEntry visible from the
                   VirtualService's namespace defines (KIA1101; ``exportTo`` and the Service
                   annotation ``networking.istio.io/exportTo`` honoured, wildcard ServiceEntry
                   hosts cover their suffix — ``runbook.mesh.visibility``), ``host:port`` not
                   on the Service or ServiceEntry, a ``host+subset`` no DestinationRule
                   defines, whether or not the host exists (KIA1107), a Gateway selector that
                   matches no workload (KIA0302), a Gateway server's ``tls.credentialName``
                   with no Secret of that name in the gateway pods' namespace — when Secrets
                   are known (files, or a cluster read that listed them as metadata only:
                   ``runbook.kube.reader.METADATA_ONLY``; a 403 leaves the check unmade).
IST0106   Error    SchemaValidationError: the object does not validate against the CRD's
                   openAPIV3Schema (the cluster's CRD, else ours in
                   ``sandbox/scenarios/istio-crds.yaml``); unknown fields included, as
                   ``kubectl apply`` (fieldValidation=Strict) rejects them.
IST0109   Error    ConflictingMeshGatewayVirtualServiceHosts: VirtualServices on the mesh
                   gateway with the same host, or a host exported to some namespaces that a
                   wildcard exported everywhere covers, in a namespace both are exported to
                   (istioctl's rule); one message per VirtualService naming all of them, as
                   istioctl counts them.
IST0110   Error    ConflictingSidecarWorkloadSelectors: several Sidecars select the same pod
                   (``runbook.mesh.sidecars``); a Sidecar selector that selects no pod of its
                   namespace is IST0101.
IST0111   Error    MultipleSidecarsWithoutWorkloadSelectors: several selector-less Sidecars in
                   one namespace.
IST0112   Error    VirtualServiceDestinationPortSelectorRequired: the destination Service or
                   ServiceEntry declares several ports and the route names none.
IST0127   Warning  NoMatchingWorkloadsFound: an AuthorizationPolicy whose selector matches no
                   in-mesh pod (``runbook.mesh.policies``); its ``source.namespaces`` that match
                   no namespace are IST0101.
IST0130   Warning  VirtualServiceUnreachableRule: a rule after a rule without matches, or
                   whose matches all repeat earlier ones (``runbook.mesh.route_rules``).
IST0131   Info     VirtualServiceIneffectiveMatch: a match identical to one of an earlier rule
                   (Istio's newer prefix-overlap cases are not reported).
IST0132   Warning  VirtualServiceHostNotFoundInGateway: no VirtualService host is covered by
                   the hosts of a Gateway it binds to.
IST0140   Warning  IngressRouteRulesNotAffected: a VirtualService bound to gateways routes a host
                   without a subset while another VirtualService for that host (its own
                   ``hosts``) splits it by subset; hosts compared as written, as istioctl does.
IST0159   Error    ConflictingTelemetryWorkloadSelectors: several Telemetries select the same pod
                   (``runbook.mesh.sidecars``, the Sidecar rules); a Telemetry
                   ``selector.matchLabels`` that selects no pod of its namespace is IST0101.
IST0160   Error    MultipleTelemetriesWithoutWorkloadSelectors: several Telemetries of one
                   namespace without ``selector`` (nor ``targetRef``/``targetRefs``).
IST0161   Error    InvalidGatewayCredential: the Secret a server's ``tls.credentialName`` names
                   holds no ``cert``/``key`` nor ``tls.crt``/``tls.key`` pair, or its first
                   certificate block is no X.509 certificate valid now (istiod's own rule,
                   ``runbook.mesh.gateway_credentials``). Judged for Secrets given in files only:
                   cluster Secrets are read as metadata, never their values (``stringData`` is
                   merged over ``data``, where istioctl reads ``data`` alone).
IST0162   Warning  GatewayPortNotDefinedOnService: a server port (TCP) is neither a port nor a
                   target port of the Services that select the selected gateway pods, as
                   istioctl's ``IngressGatewayPortAnalyzer`` accepts both. Gateway pods are
                   known by labels or by the proxy container's ``router`` argument
                   (``runbook.routing.is_gateway_proxy``).
IST0165   Warning  ReferencedInternalGateway: a VirtualService gateway reference to a Gateway
                   istiod generates for a Gateway API Gateway (``<gateway>~istio-autogenerated-
                   k8s-gateway~<listener>``, istiod's only spelling). A Gateway API Gateway
                   (``gateway.networking.k8s.io``, from files or read from a cluster that has
                   its CRD) of the referenced name is a valid reference, where istioctl prints
                   IST0101; its listeners' hostnames decide IST0132.
IST0167   Warning  IneffectivePolicy: a Sidecar that selects a pod of the ambient data plane, or
                   has no selector in an ambient namespace ("The policy has no impact: …").
IST0173   Error    DestinationRuleSubsetNotSelectPods: a subset's labels (with the Service
                   selector) select no pod — nor the pod template of any Deployment, so config
                   checked before the app is deployed is not flagged (Kiali KIA0203).
IST0174   Warning  UnknownDestinationRuleHost: the DestinationRule host matches no Service or
                   ServiceEntry (Kiali KIA0202).
KIA1106   Warning  More than one VirtualService for the same host on one gateway (Istio merges
                   them; which rule wins depends on creation order).
MR201     Info     Which gateway workloads a Gateway selects, which revision they run, and which
                   revisions program it (watch its namespace and accept its ``istio.io/rev``).
MR202     Error    The Gateway selects gateway workloads, but no istiod that serves them takes
                   the Gateway in: its namespace is outside their discoverySelectors, or it is
                   labelled ``istio.io/rev`` for another revision (istio/istio#44047).
MR203     Info     The Gateway selector also matches workloads that are not gateways (e.g.
                   ``istio.io/rev: 1-18-5`` matches istiod itself).
MR204     Error    The Gateway selector matches workloads, none of which is a gateway proxy.
MR205     Warning A ``sourceLabels``/``sourceNamespace`` match on a route applied only by
                   gateways: it is compared with the gateway proxy's own labels, never the
                   client's, so it does not apply to ingress traffic (pilot ``sourceMatchHTTP``).
MR206     Info     A DestinationRule subset that no VirtualService route uses (Kiali's KIA0209
                   means "subset has no labels", hence an own code).
MR207     Error    A VirtualService bound to a Gateway is ignored by the istiod that programs
                   that Gateway's pods (other ``istio.io/rev`` label, or namespace not watched).
MR208     Error    The object's namespace does not exist (``namespaces "x" not found``).
MR209     Error    The cluster does not serve the object's kind or version (no CRD, or e.g.
          /Warning ``networking.istio.io/v1`` on Istio 1.18); Warning when judged against our
                   bundled CRDs because the cluster's CRDs are unknown.
========  =======  ==========================================================================

Checks that need a kind the snapshot could not read (and the files do not provide) are skipped
rather than guessed: :attr:`AnalysisResult.skipped` lists them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from runbook import wellknown as wk
from runbook.errors import Cause
from runbook.manifests import Manifest
from runbook.mesh.analysis_gateways import GatewayView, has_labels
from runbook.mesh.analysis_virtual_services import VirtualServiceChecks, bound_gateways
from runbook.mesh.analysis_virtual_services import hosts_overlap as hosts_overlap  # re-exported
from runbook.mesh.analysis_world import (
    DESTINATION_RULE,
    GATEWAY,
    ISTIO_GROUP,
    MESH_GATEWAY,
    SERVICE_ENTRY,
    SIDECAR,
    VIRTUAL_SERVICE,
    Item,
    Workload,
    World,
    build_world,
)
from runbook.mesh.findings import ERROR, INFO, WARNING, CodeInfo, Finding, Subject
from runbook.mesh.model import build_model, labels_of, meta, sidecar_revision
from runbook.mesh.policies import (
    AUTHORIZATION_POLICY,
    SECURITY_GROUP,
    authorization_policy_messages,
    in_mesh,
)
from runbook.mesh.pushes import ControlPlaneScope, control_plane_scopes
from runbook.mesh.sidecars import (
    SIDECAR_RULES,
    TELEMETRY_RULES,
    SelectorRules,
    SidecarMessages,
    selector_messages,
)
from runbook.mesh.visibility import HostTable, export_scopes
from runbook.meshconfig import root_namespace
from runbook.routing import (
    is_gateway_proxy,
    route_destinations,
)
from runbook.schema import validate_against_schema
from runbook.snapshot import RawObject, Snapshot
from runbook.statuses import Severity

#: columns of :attr:`AnalysisResult.messages`
ANALYSIS_COLUMNS: tuple[str, ...] = (
    "level", "code", "kind", "namespace", "name", "message", "source", "see_also")
LEVELS: tuple[str, ...] = ("Error", "Warning", "Info")
_SEVERITY: dict[str, Severity] = {"Error": ERROR, "Warning": WARNING, "Info": INFO}

#: every code :func:`analyze` emits (the docstring table, as data)
CODES: dict[str, CodeInfo] = {c.code: c for c in (
    CodeInfo("IST0101", ERROR, "ReferencedResourceNotFound", "istio messages.yaml IST0101"),
    CodeInfo("IST0106", ERROR, "SchemaValidationError", "istio messages.yaml IST0106"),
    CodeInfo("IST0109", ERROR, "ConflictingMeshGatewayVirtualServiceHosts",
             "istio messages.yaml IST0109"),
    CodeInfo("IST0110", ERROR, "ConflictingSidecarWorkloadSelectors", "istio messages.yaml IST0110"),
    CodeInfo("IST0111", ERROR, "MultipleSidecarsWithoutWorkloadSelectors",
             "istio messages.yaml IST0111"),
    CodeInfo("IST0112", ERROR, "VirtualServiceDestinationPortSelectorRequired",
             "istio messages.yaml IST0112"),
    CodeInfo("IST0127", WARNING, "NoMatchingWorkloadsFound", "istio messages.yaml IST0127"),
    CodeInfo("IST0130", WARNING, "VirtualServiceUnreachableRule", "istio messages.yaml IST0130"),
    CodeInfo("IST0131", INFO, "VirtualServiceIneffectiveMatch", "istio messages.yaml IST0131"),
    CodeInfo("IST0132", WARNING, "VirtualServiceHostNotFoundInGateway", "istio messages.yaml IST0132"),
    CodeInfo("IST0140", WARNING, "IngressRouteRulesNotAffected", "istio messages.yaml IST0140"),
    CodeInfo("IST0159", ERROR, "ConflictingTelemetryWorkloadSelectors", "istio messages.yaml IST0159"),
    CodeInfo("IST0160", ERROR, "MultipleTelemetriesWithoutWorkloadSelectors",
             "istio messages.yaml IST0160"),
    CodeInfo("IST0161", ERROR, "InvalidGatewayCredential", "istio messages.yaml IST0161"),
    CodeInfo("IST0162", WARNING, "GatewayPortNotDefinedOnService", "istio.io analysis/ist0162"),
    CodeInfo("IST0165", WARNING, "ReferencedInternalGateway", "istio messages.yaml IST0165"),
    CodeInfo("IST0167", WARNING, "IneffectivePolicy", "istio messages.yaml IST0167"),
    CodeInfo("IST0173", ERROR, "DestinationRuleSubsetNotSelectPods", "istio.io analysis/ist0173"),
    CodeInfo("IST0174", WARNING, "UnknownDestinationRuleHost", "istio.io analysis/ist0174"),
    CodeInfo("KIA1106", WARNING, "virtualservices.singlehost", "kiali models/istio_validation.go"),
    CodeInfo("MR201", INFO, "GatewayWorkloads", "mesh-runbook"),
    CodeInfo("MR202", ERROR, "GatewayNotProgrammed", "mesh-runbook; istio/istio#44047"),
    CodeInfo("MR203", INFO, "GatewaySelectsNonGatewayWorkloads", "mesh-runbook"),
    CodeInfo("MR204", ERROR, "GatewaySelectsNoGatewayProxy", "mesh-runbook"),
    CodeInfo("MR205", WARNING, "SourceMatchOnGatewayRoute", "mesh-runbook; istio VirtualService docs"),
    CodeInfo("MR206", INFO, "UnusedSubset", "mesh-runbook"),
    CodeInfo("MR207", ERROR, "VirtualServiceNotProgrammed", "mesh-runbook; istio/istio#44047"),
    CodeInfo("MR208", ERROR, "NamespaceNotFound", "mesh-runbook"),
    CodeInfo("MR209", ERROR, "KindNotServed", "mesh-runbook"),
)}

_CONFIG_KINDS = (GATEWAY, VIRTUAL_SERVICE, DESTINATION_RULE)
TELEMETRY_GROUP, TELEMETRY = "telemetry.istio.io", "Telemetry"
#: set by the ambient CNI on pods whose traffic ztunnel redirects (Istio's ``PodInAmbientMode``)
AMBIENT_REDIRECTION_ANNOTATION = "ambient.istio.io/redirection"


# ----------------------------------------------------------------------------------- results


@dataclass
class AnalysisResult:
    """What :func:`analyze` found.

    Attributes:
        messages: one row per message, columns :data:`ANALYSIS_COLUMNS`; ``level`` is Error |
            Warning | Info, sorted errors first.
        findings: the same messages as :class:`~runbook.mesh.findings.Finding` records
            (severity error|warning|info; evidence holds the source and related objects).
        skipped: checks that could not run, and why (e.g. pods could not be read).
    """

    messages: pd.DataFrame
    findings: list[Finding]
    skipped: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """No errors and no warnings (info messages are allowed)."""
        return not self.messages["level"].isin(["Error", "Warning"]).any()

    @property
    def has_errors(self) -> bool:
        return bool((self.messages["level"] == "Error").any())

    def codes(self) -> list[str]:
        """The codes found, in row order (handy in tests and notebooks)."""
        return list(self.messages["code"])


@dataclass
class _Message:
    level: str
    code: str
    kind: str
    namespace: str | None
    name: str
    message: str
    source: str | None
    see_also: str | None = None
    evidence: tuple[str, ...] = ()


# ----------------------------------------------------------------------------------- analyze


def analyze(objects: Sequence[RawObject | Manifest] | None = None, snapshot: Snapshot | None = None,
            *, namespace: str | None = None, crds: Sequence[RawObject] | None = None
            ) -> AnalysisResult:
    """Check Istio networking config against itself and the cluster, like ``istioctl analyze``.

    Args:
        objects: manifests to check (dicts, or :class:`~runbook.manifests.Manifest` from
            ``load_manifests`` so that messages name ``file:line``). With none, the Istio config in
            ``snapshot`` is checked (only in ``namespace`` when given).
        snapshot: the cluster's state; None checks the files on their own (references to kinds
            the files do not contain are then not checked).
        namespace: namespace for objects that name none (``kubectl apply -n``); ``default`` else.
        crds: CustomResourceDefinitions to validate against instead of the cluster's.

    Returns:
        An :class:`AnalysisResult` (see the module docstring for the codes).
    """
    world = build_world(list(objects or []), snapshot, namespace,
                         list(crds) if crds is not None else None)
    if objects:
        subjects = [it for it in world.items if it.from_file]
    else:
        subjects = [it for it in world.items
                    if ((it.group == ISTIO_GROUP and it.kind in (*_CONFIG_KINDS, SIDECAR))
                        or (it.group, it.kind) in ((SECURITY_GROUP, AUTHORIZATION_POLICY),
                                                   (TELEMETRY_GROUP, TELEMETRY)))
                    and (namespace is None or it.namespace == namespace)]
    checker = _Checker(world)
    for it in subjects:
        checker.check(it)
    return checker.result()


class _Checker(VirtualServiceChecks):
    """Runs every check over the subjects; messages are collected, never raised."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.messages: list[_Message] = []
        self.skipped: list[str] = []
        self.snapshot = world.snapshot()
        self.model = build_model(self.snapshot)
        self.scopes: dict[str, ControlPlaneScope] = control_plane_scopes(self.snapshot, self.model)
        self.namespaces = {it.name: it.labels for it in world.of("", "Namespace")}
        self.tags = {w.tag: w.claimed_revision for w in self.model.webhooks
                     if w.tag and w.claimed_revision}
        self.workloads = self._workloads()
        # indexes: selectors are evaluated per Gateway/subset, over every workload otherwise
        self.workloads_by_ns: dict[str, list[Workload]] = defaultdict(list)
        self.workloads_by_label: dict[tuple[str, str], list[Workload]] = defaultdict(list)
        for w in self.workloads:
            self.workloads_by_ns[w.namespace].append(w)
            pairs = {pair for labels in [w.labels, *(labels_of(p) for p in w.pods)]
                     for pair in labels.items()}
            for pair in pairs:
                self.workloads_by_label[pair].append(w)
        self.services = world.of("", "Service")
        self.services_by_ns: dict[str, list[Item]] = defaultdict(list)
        for svc in self.services:
            self.services_by_ns[svc.namespace or ""].append(svc)
        self.service_fqdns = {self._fqdn(s.name, s.namespace or ""): s for s in self.services}
        self.hosts = HostTable([s.obj for s in self.services],
                               [se.obj for se in world.of(ISTIO_GROUP, SERVICE_ENTRY)])
        self.subsets_by_host: dict[str, dict[str, list[Item]]] = defaultdict(lambda: defaultdict(list))
        for dr in world.of(ISTIO_GROUP, DESTINATION_RULE):
            host = self._resolve(str(dr.spec.get("host") or ""), dr.namespace or "")
            for subset in dr.spec.get("subsets") or []:
                if isinstance(subset, Mapping) and subset.get("name"):
                    self.subsets_by_host[host][str(subset["name"])].append(dr)
        self.used_subsets = {(self._resolve(d.get("host", ""), vs.namespace or ""), d.get("subset"))
                             for vs in world.of(ISTIO_GROUP, VIRTUAL_SERVICE)
                             for _, d in route_destinations(vs.spec) if d.get("subset")}
        self.vs_by_host: dict[str, list[Item]] = defaultdict(list)
        #: VirtualServices on the mesh gateway: (namespace, name) → (export scopes, hosts)
        self.mesh_hosts: dict[tuple[str | None, str], tuple[frozenset[str], list[str]]] = {}
        for vs in world.of(ISTIO_GROUP, VIRTUAL_SERVICE):
            for h in {self._resolve(h, vs.namespace or "") for h in vs.spec.get("hosts") or []
                      if isinstance(h, str)}:
                self.vs_by_host[h].append(vs)
            if MESH_GATEWAY in bound_gateways(vs.spec, vs.namespace or ""):
                self.mesh_hosts[(vs.namespace, vs.name)] = (
                    export_scopes(vs.spec.get("exportTo"), vs.namespace or ""),
                    [self._resolve(h, vs.namespace or "") for h in vs.spec.get("hosts") or []
                     if isinstance(h, str)])
        self._gateway_cache: dict[tuple[str | None, str], GatewayView] = {}
        self._ports_cache: dict[tuple[str, ...], tuple[set[int], dict[str, list[str]]]] = {}
        self._mesh_pod_labels: dict[str, list[dict[str, str]]] | None = None
        self._selector_messages: dict[str, SidecarMessages] = {}

    # ------------------------------------------------------------------------------- output

    def add(self, it: Item, level: str, code: str, message: str, *, see_also: str | None = None,
            evidence: Iterable[str] = ()) -> None:
        self.messages.append(_Message(level, code, it.kind, it.namespace, it.name, message,
                                      it.source, see_also, tuple(evidence)))

    def skip(self, why: str) -> None:
        if why not in self.skipped:
            self.skipped.append(why)

    def result(self) -> AnalysisResult:
        seen: set[tuple[Any, ...]] = set()
        unique = []
        for m in self.messages:
            key = (m.code, m.kind, m.namespace, m.name, m.message)
            if key not in seen:
                seen.add(key)
                unique.append(m)
        unique.sort(key=lambda m: (LEVELS.index(m.level), m.kind, m.namespace or "", m.name, m.code))
        frame = pd.DataFrame(
            [(m.level, m.code, m.kind, m.namespace, m.name, m.message, m.source, m.see_also)
             for m in unique], columns=list(ANALYSIS_COLUMNS))
        findings = [Finding(code=m.code, severity=_SEVERITY[m.level],
                            subject=Subject(m.kind, m.namespace, m.name), message=m.message,
                            evidence=[e for e in ((f"source {m.source}" if m.source else None),
                                                  (f"see also {m.see_also}" if m.see_also else None),
                                                  *m.evidence) if e])
                    for m in unique]
        return AnalysisResult(frame, findings, list(self.skipped))

    # ------------------------------------------------------------------------------- checks

    def check(self, it: Item) -> None:
        self.check_namespace(it)
        self.check_kind_and_schema(it)
        if (it.group, it.kind) == (SECURITY_GROUP, AUTHORIZATION_POLICY):
            self.check_authorization_policy(it)
        if (it.group, it.kind) == (TELEMETRY_GROUP, TELEMETRY):
            self.check_selectors(it, TELEMETRY_RULES)
        if it.group != ISTIO_GROUP:
            return
        if it.kind == VIRTUAL_SERVICE:
            self.check_virtual_service(it)
        elif it.kind == GATEWAY:
            self.check_gateway(it)
        elif it.kind == DESTINATION_RULE:
            self.check_destination_rule(it)
        elif it.kind == SIDECAR:
            self.check_selectors(it, SIDECAR_RULES)

    def check_namespace(self, it: Item) -> None:
        if it.namespace is None:
            return
        if not self.world.known("", "Namespace"):
            self.skip("namespaces could not be read: namespace existence not checked")
            return
        if it.namespace not in self.namespaces:
            self.add(it, "Error", "MR208",
                     f'namespaces "{it.namespace}" not found: create the namespace first '
                     f"(kubectl create namespace {it.namespace}) or apply with another -n")

    # -------------------------------------------------------------------- kinds and schemas

    def check_kind_and_schema(self, it: Item) -> None:
        if _builtin_group(it.group):
            return  # built-in kinds: the apiserver's own validation, not ours
        crd = next((c for c in self.world.crds
                    if (c.get("spec") or {}).get("group") == it.group
                    and ((c.get("spec") or {}).get("names") or {}).get("kind") == it.kind), None)
        api = it.obj.get("apiVersion", "")
        where = "the cluster" if self.world.crds_authoritative else "our bundled Istio 1.18/1.19 CRDs"
        level = "Error" if self.world.crds_authoritative else "Warning"
        if crd is None:
            if self.world.crds_authoritative:
                self.add(it, "Error", "MR209",
                         f"the cluster serves no kind {it.kind} in {it.group} (no "
                         "CustomResourceDefinition): install its CRDs first")
            else:
                self.skip(f"{it.kind}.{it.group}: the cluster's CRDs are unknown; not validated")
            return
        versions = [v for v in (crd.get("spec") or {}).get("versions") or [] if v.get("served")]
        version = next((v for v in versions if v.get("name") == it.version), None)
        if version is None and not api:
            # read from the cluster without apiVersion: it was served, in the storage version
            version = next((v for v in versions if v.get("storage")), versions[0] if versions else None)
        if version is None:
            served = ", ".join(str(v.get("name")) for v in versions)
            self.add(it, level, "MR209",
                     f"{api} is not served by {where} (served versions: {served}); use "
                     f"{it.group}/{versions[0].get('name') if versions else '?'} "
                     "or upgrade Istio")
            version = versions[0] if versions else None
        schema = ((version or {}).get("schema") or {}).get("openAPIV3Schema")
        if not schema:
            return
        causes, unknown = validate_against_schema(it.obj, schema, strict_unknown=True)
        for cause in causes:
            self.add(it, "Error", "IST0106", f"Schema validation error: {_cause_text(cause)}")
        for path in unknown:
            self.add(it, "Error", "IST0106",
                     f'Schema validation error: unknown field "{path}" (kubectl apply rejects it: '
                     "strict decoding error)")

    # ------------------------------------------------------------- sidecars and telemetries

    def check_selectors(self, it: Item, rules: SelectorRules) -> None:
        """IST0101/IST0110/IST0111 (Sidecar), IST0101/IST0159/IST0160 (Telemetry)."""
        if not self.world.known("", "Pod"):
            self.skip(f"pods could not be read: {it.kind} workload selectors not checked")
            return
        messages = self._selector_messages.get(rules.plural)
        if messages is None:
            pods: dict[str, list[tuple[str, dict[str, str]]]] = defaultdict(list)
            for pod in self.world.of("", "Pod"):
                pods[pod.namespace or ""].append((pod.name, pod.labels))
            ambient_pods = {(pod.namespace or "", pod.name) for pod in self.world.of("", "Pod")
                            if (meta(pod.obj).get("annotations") or {}).get(
                                AMBIENT_REDIRECTION_ANNOTATION) == "enabled"}
            ambient_namespaces = {ns for ns, labels in self.namespaces.items()
                                  if labels.get(wk.DATAPLANE_MODE_LABEL) == "ambient"}
            messages = selector_messages(
                [other.obj for other in self.world.of(it.group, it.kind)], pods, rules,
                ambient_pods=ambient_pods, ambient_namespaces=ambient_namespaces)
            self._selector_messages[rules.plural] = messages
        for level, code, text in messages.get((it.namespace or "", it.name), []):
            self.add(it, level, code, text)

    # --------------------------------------------------------------- authorization policies

    def check_authorization_policy(self, policy: Item) -> None:
        if not (self.world.known("", "Pod") and self.world.known("", "Namespace")):
            self.skip("pods or namespaces could not be read: AuthorizationPolicies not checked")
            return
        if self._mesh_pod_labels is None:
            self._mesh_pod_labels = defaultdict(list)
            for pod in self.world.of("", "Pod"):
                if in_mesh(pod.obj):
                    self._mesh_pod_labels[pod.namespace or ""].append(pod.labels)
        for level, code, text in authorization_policy_messages(
                policy.obj, self.namespaces, self._mesh_pod_labels, self._root_namespaces()):
            self.add(policy, level, code, text)

    def _root_namespaces(self) -> set[str]:
        """Each control plane's meshConfig ``rootNamespace`` (Istio's default: istio-system)."""
        roots = set()
        for scope in self.scopes.values():
            cm = (self.world.get("", "ConfigMap", scope.namespace, scope.configmap)
                  if scope.configmap else None)
            mesh = ((cm.obj.get("data") or {}).get("mesh") if cm is not None else None)
            roots.add(root_namespace(mesh, scope.namespace))
        return roots or {"istio-system"}

    # ------------------------------------------------------------------ destination rules

    def check_destination_rule(self, dr: Item) -> None:
        ns = dr.namespace or ""
        host = str(dr.spec.get("host") or "")
        fqdn = self._resolve(host, ns)
        svc = self.service_fqdns.get(fqdn)
        known = self.world.known("", "Service")
        if known and self.hosts.lookup(host, ns, dr.spec.get("exportTo")) is None:
            self.add(dr, "Warning", "IST0174",
                     f"The host {host} defined in the DestinationRule does not match any services in "
                     "the mesh.", see_also="KIA0202", evidence=[f"{host} → {fqdn}"])
        workloads_known = self.world.known("", "Pod") or self.world.known("apps", "Deployment")
        for subset in dr.spec.get("subsets") or []:
            if not isinstance(subset, Mapping) or not subset.get("name"):
                continue
            name = str(subset["name"])
            if (fqdn, name) not in self.used_subsets and self.world.known(ISTIO_GROUP, VIRTUAL_SERVICE):
                self.add(dr, "Info", "MR206",
                         f"subset {name} of host {host} is not used by any VirtualService route; "
                         "its policy never applies")
            if svc is None or not workloads_known:
                continue
            selector_map = dict(svc.spec.get("selector") or {})
            if not selector_map:
                continue  # a Service without selector: its endpoints are managed by hand
            wanted = {**selector_map, **{str(a): str(b) for a, b in (subset.get("labels") or {}).items()}}
            if not any(has_labels(w, wanted)
                       for w in self.workloads_by_ns.get(svc.namespace or "", [])):
                self.add(dr, "Error", "IST0173",
                         f"The Subset {name} defined in the DestinationRule does not select any pods. "
                         "Which may lead to 503 UH (NoHealthyUpstream).", see_also="KIA0203",
                         evidence=[f"labels {', '.join(f'{a}={b}' for a, b in sorted(wanted.items()))}"
                                   f" in namespace {svc.namespace}"])

    def _workloads(self) -> list[Workload]:
        world = self.world
        rs_owner: dict[tuple[str, str], str] = {}
        for rs in world.of("apps", "ReplicaSet"):
            owner = _controller(rs.obj)
            if owner and owner.get("kind") == "Deployment":
                rs_owner[(rs.namespace or "", rs.name)] = str(owner.get("name"))
        # the diagnosis' rule for "this pod template is a gateway proxy", reused so both agree
        gateway_deployments = {(g.namespace, g.name) for g in self.model.gateways}
        out: dict[tuple[str, str, str], Workload] = {}
        for dep in world.of("apps", "Deployment"):
            replicas = dep.spec.get("replicas", 1)
            template = dep.spec.get("template") or {}
            w = Workload(dep.namespace or "", "Deployment", dep.name, dict(labels_of(template)),
                          template, [], (dep.namespace, dep.name) in gateway_deployments)
            w.revision = labels_of(template).get(wk.REV_LABEL) or dep.labels.get(wk.REV_LABEL)
            if replicas == 0:
                w.labels = {}  # scaled to zero: nothing to select
            out[("Deployment", w.namespace, w.name)] = w
        for pod in world.of("", "Pod"):
            owner = _controller(pod.obj)
            dep_name = rs_owner.get((pod.namespace or "", str(owner.get("name")))) if owner else None
            found = out.get(("Deployment", pod.namespace or "", dep_name or ""))
            if found is None:
                found = out.setdefault(("Pod", pod.namespace or "", pod.name), Workload(
                    pod.namespace or "", "Pod", pod.name, pod.labels, pod.obj, [],
                    is_gateway_proxy(pod.obj), pod.labels.get(wk.REV_LABEL)))
            w = found
            w.pods.append(pod.obj)
            # a template with ``image: auto`` gets its proxy, and the ``router`` argument that
            # makes it a gateway, at admission: the running pods say what it is
            w.is_gateway = w.is_gateway or is_gateway_proxy(pod.obj)
            status = (meta(pod.obj).get("annotations") or {}).get(wk.SIDECAR_STATUS_ANNOTATION)
            if status and (rev := sidecar_revision(status)):
                w.revision = rev  # the revision that really injected it
        for w in out.values():
            if w.revision in self.tags:
                w.revision = self.tags[w.revision]  # a tag on the pod: the revision it points to
        return [w for w in out.values() if w.labels or w.pods]


# ------------------------------------------------------------------------------ small helpers


def _cause_text(cause: Cause) -> str:
    return cause.message if cause.message.startswith(cause.field) else f"{cause.field}: {cause.message}"


def _controller(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    refs = meta(obj).get("ownerReferences") or []
    return next((r for r in refs if r.get("controller")), refs[0] if refs else None)


#: API groups served by kube-apiserver itself (no CRD); everything else needs one
_BUILTIN_GROUPS = frozenset({
    "", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "rbac.authorization.k8s.io",
    "storage.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io",
    "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io", "scheduling.k8s.io", "node.k8s.io",
    "certificates.k8s.io", "flowcontrol.apiserver.k8s.io", "authentication.k8s.io",
    "authorization.k8s.io", "resource.k8s.io", "internal.apiserver.k8s.io",
})


def _builtin_group(group: str) -> bool:
    return group in _BUILTIN_GROUPS


