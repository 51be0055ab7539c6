"""The analyzer's Gateway checks (IST0101 selector and credentialName, IST0161, IST0162,
MR201–MR204), and what a Gateway's selector reaches: gateway workloads, their revisions, the
istiods that program them.

:class:`GatewayChecks` is mixed into the analyzer's checker (``runbook.mesh.analyze``), which
provides the indexes declared on it and the ``add``/``skip`` outputs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from runbook import wellknown as wk
from runbook.mesh.analysis_world import Item, Workload, World
from runbook.mesh.gateway_credentials import credential_problem
from runbook.mesh.model import labels_of
from runbook.mesh.pushes import ControlPlaneScope
from runbook.routing import container_port
from runbook.selectors import EVERYTHING, LabelSelector, SelectorError, selector_from_dict


@dataclass
class GatewayView:
    """What one Gateway's selector reaches, and who programs it."""

    selector_text: str = ""
    gateways: list[Workload] = field(default_factory=list)
    others: list[Workload] = field(default_factory=list)
    groups: dict[tuple[str, str, str], list[Workload]] = field(default_factory=lambda: defaultdict(list))
    programmed: dict[str, bool] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    unknown: bool = False
    error: str | None = None


class GatewayChecks:
    """Gateway checks over the checker's indexes (see the module docstring)."""

    world: World
    scopes: dict[str, ControlPlaneScope]
    namespaces: dict[str, dict[str, str]]
    workloads: list[Workload]
    workloads_by_label: dict[tuple[str, str], list[Workload]]
    services_by_ns: dict[str, list[Item]]
    _gateway_cache: dict[tuple[str | None, str], GatewayView]
    _ports_cache: dict[tuple[str, ...], tuple[set[int], dict[str, list[str]]]]

    # the checker's outputs, declared here so that the checks type-check on their own
    def add(self, it: Item, level: str, code: str, message: str, *, see_also: str | None = None,
            evidence: Iterable[str] = ()) -> None:
        raise NotImplementedError

    def skip(self, why: str) -> None:
        raise NotImplementedError

    def check_gateway(self, gw: Item) -> None:
        view = self._gateway(gw)
        if view.unknown:
            self.skip("pods and deployments could not be read: Gateway selectors not checked")
            return
        if view.error:
            self.add(gw, "Error", "IST0106", f"Schema validation error: spec.selector: {view.error}")
            return
        selector = view.selector_text
        if not view.gateways and not view.others:
            self.add(gw, "Error", "IST0101", f'Referenced selector not found: "{selector}"',
                     see_also="KIA0302")
            return
        if not view.gateways:
            self.add(gw, "Error", "MR204",
                     f"selector {selector} matches only workloads that are not gateway proxies "
                     f"({', '.join(w.ref for w in view.others)}): no gateway will apply this "
                     "config. Select the ingress gateway pods (e.g. istio: ingressgateway).")
            return
        if view.others:
            self.add(gw, "Info", "MR203",
                     f"selector {selector} also matches {len(view.others)} workload(s) that are not "
                     f"gateways ({', '.join(w.ref for w in view.others)}); harmless, but a selector "
                     "naming the gateway (istio: ingressgateway) says what is meant.")
        parts = []
        for (ns, name, rev), workloads in sorted(view.groups.items()):
            services = self._service_ports(workloads)[1]
            exposed = "; ".join(f"Service {ref} {', '.join(ps)}" for ref, ps in sorted(services.items()))
            parts.append(f"{ns}/{name} (revision {rev}; {exposed or 'no Service'})")
        programmed = [rev for rev, ok in view.programmed.items() if ok]
        not_programmed = [f"{rev}: {view.reasons[rev]}" for rev, ok in view.programmed.items()
                          if not ok]
        text = f"selects gateway workload(s) {'; '.join(parts)}"
        if programmed:
            text += f"; programmed by istiod revision(s) {', '.join(programmed)}"
        if not_programmed:
            text += f"; not by {'; '.join(not_programmed)}"
        self.add(gw, "Info", "MR201", text)
        if not programmed:
            self.add(gw, "Error", "MR202",
                     "no control plane programs this Gateway's pods: "
                     + "; ".join(not_programmed)
                     + ". Label it for the revision its pods run (or remove istio.io/rev), or make "
                     "that revision watch the namespace.", see_also="istio/istio#44047")
        self.check_gateway_ports(gw, view)
        self.check_credentials(gw, view)

    def check_credentials(self, gw: Item, view: GatewayView) -> None:
        """Istio's ``gateway.SecretAnalyzer``: a server's ``tls.credentialName`` names a Secret
        in the namespace of the gateway *pods* (not the Gateway's), IST0101 when there is none;
        IST0161 when a Secret given in a file holds no certificate istiod would serve."""
        names = [str(cn) for server in gw.spec.get("servers") or []
                 if (cn := ((server or {}).get("tls") or {}).get("credentialName"))]
        if not names or not view.gateways:
            return
        if not self.world.known("", "Secret"):
            self.skip("secrets could not be read: Gateway credentialName references not checked")
            return
        pods_ns = sorted({w.namespace for w in view.gateways})[0]
        for name in dict.fromkeys(names):
            ns, _, short = name.rpartition("/")
            secret = self.world.get("", "Secret", ns or pods_ns, short)
            if secret is None:
                self.add(gw, "Error", "IST0101", f'Referenced credentialName not found: "{name}"',
                         evidence=[f"looked for Secret {ns or pods_ns}/{short} (the gateway pods' "
                                   "namespace)"])
            elif not secret.from_file:
                self.skip("Secret values are never read from a cluster: Gateway credentials "
                          "are checked for validity (IST0161) only in Secrets given as files")
            elif problem := credential_problem(secret.obj):
                self.add(gw, "Error", "IST0161",
                         f"The credential referenced by the Gateway {gw.name} in namespace "
                         f"{pods_ns} is invalid, which can cause the traffic not to work as "
                         "expected.",
                         evidence=[f"Secret {secret.ref}: {problem}",
                                   f"kubectl create secret tls {secret.name} -n {secret.namespace} "
                                   "--cert=<cert.pem> --key=<key.pem> --dry-run=client -o yaml "
                                   "| kubectl apply -f -"])

    def check_gateway_ports(self, gw: Item, view: GatewayView) -> None:
        all_workloads = [w for ws in view.groups.values() for w in ws]
        ports, services = self._service_ports(all_workloads)
        if not services:
            return
        for server in gw.spec.get("servers") or []:
            number = ((server or {}).get("port") or {}).get("number")
            if isinstance(number, int) and number not in ports:
                self.add(gw, "Warning", "IST0162",
                         f"The gateway is listening on a target port (port {number}) that is not "
                         "defined in the Service associated with its workload instances (Pod "
                         f"selector {view.selector_text}). If you need to access the gateway port "
                         "through the gateway Service, it will not be available.",
                         evidence=[f"Service {ref}: {', '.join(ps)}"
                                   for ref, ps in sorted(services.items())])

    def _gateway(self, gw: Item) -> GatewayView:
        key = (gw.namespace, gw.name)
        view = self._gateway_cache.get(key)
        if view is None:
            view = self._gateway_cache[key] = self._make_gateway_view(gw)
        return view

    def _make_gateway_view(self, gw: Item) -> GatewayView:
        raw = gw.spec.get("selector")
        view = GatewayView()
        if not (self.world.known("", "Pod") or self.world.known("apps", "Deployment")):
            view.unknown = True
            return view
        try:
            selector = (selector_from_dict({"matchLabels": raw}) if raw else EVERYTHING)
        except SelectorError as exc:
            view.error = str(exc)
            return view
        view.selector_text = ",".join(f"{a}={b}" for a, b in sorted((raw or {}).items())) or "<all>"
        # an Istio Gateway selects workloads in every namespace (PILOT_SCOPE_GATEWAY_TO_NAMESPACE off)
        first = min((str(a), str(b)) for a, b in raw.items()) if raw else None
        candidates = self.workloads_by_label.get(first, []) if first else self.workloads
        for w in candidates:
            if not selects(selector, w):
                continue
            if w.is_gateway:
                view.gateways.append(w)
                view.groups[(w.namespace, w.name, w.revision or wk.DEFAULT_REVISION)].append(w)
            else:
                view.others.append(w)
        ns_labels = self.namespaces.get(gw.namespace or "", {})
        for (_, _, rev) in view.groups:
            scope = self.scopes.get(rev)
            if scope is None:
                view.programmed[rev] = False
                view.reasons[rev] = f"no istiod of revision {rev} was found"
            elif not scope.watches(ns_labels):
                view.programmed[rev] = False
                view.reasons[rev] = (f"istiod {rev} does not watch namespace {gw.namespace} "
                                     f"({scope.describe_selectors()})")
            elif not scope.processes(gw.labels):
                view.programmed[rev] = False
                view.reasons[rev] = (f"the Gateway is labelled {wk.REV_LABEL}="
                                     f"{gw.labels.get(wk.REV_LABEL)}, which istiod {rev} ignores")
            else:
                view.programmed[rev] = True
        return view

    def _ignores(self, rev: str, it: Item) -> str | None:
        """Why istiod ``rev`` does not take ``it`` in (None when it does)."""
        scope = self.scopes.get(rev)
        if scope is None:
            return f"no istiod of revision {rev} was found"
        if not scope.watches(self.namespaces.get(it.namespace or "", {})):
            return f"istiod {rev} does not watch namespace {it.namespace}"
        if not scope.processes(it.labels):
            return (f"this {it.kind} is labelled {wk.REV_LABEL}={it.labels.get(wk.REV_LABEL)}, "
                    f"which istiod {rev} ignores")
        return None

    def _service_ports(self, workloads: Iterable[Workload]) -> tuple[set[int], dict[str, list[str]]]:
        """Ports and target ports of the Services that select these workloads (TCP only, like
        Istio's analyzer), and per Service its ports as ``80→8080`` for messages."""
        chosen = list(workloads)
        key = tuple(sorted(w.ref for w in chosen))
        cached = self._ports_cache.get(key)
        if cached is None:
            cached = self._ports_cache[key] = self._compute_service_ports(chosen)
        return cached

    def _compute_service_ports(self, workloads: list[Workload]) -> tuple[set[int], dict[str, list[str]]]:
        ports: set[int] = set()
        described: dict[str, list[str]] = {}
        for w in workloads:
            for svc in self.services_by_ns.get(w.namespace, []):
                selector = svc.spec.get("selector") or {}
                if not selector or not has_labels(w, selector):
                    continue
                text = described.setdefault(svc.ref, [])
                for p in svc.spec.get("ports") or []:
                    if (p.get("protocol") or "TCP") != "TCP" or not isinstance(p.get("port"), int):
                        continue
                    ports.add(p["port"])
                    target = container_port(p.get("targetPort"), w.template)
                    if target is not None:
                        ports.add(target)
                    label = f"{p['port']}→{target}" if target not in (None, p["port"]) else str(p["port"])
                    if label not in text:
                        text.append(label)
        return ports, described


def selects(selector: LabelSelector, w: Workload) -> bool:
    """The selector matches the workload's pod template or one of its pods."""
    if w.labels and selector.matches(w.labels):
        return True
    return any(selector.matches(labels_of(p)) for p in w.pods)


def has_labels(w: Workload, wanted: Mapping[str, str]) -> bool:
    """All ``wanted`` labels on the pod template or on one of the pods (a Service selector)."""
    candidates = ([w.labels] if w.labels else []) + [labels_of(p) for p in w.pods]
    return any(all(c.get(a) == b for a, b in wanted.items()) for c in candidates)
