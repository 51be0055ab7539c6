"""Where an ingress gateway answers from outside the cluster: INGRESS_HOST, INGRESS_PORT, GATEWAY_URL.

Istio's documented recipe (istio.io, Tasks › Traffic Management › Ingress › "Determining the ingress
IP and ports"; istio/istio.io ``content/en/docs/tasks/traffic-management/ingress/``):

* ``kubectl get svc istio-ingressgateway``: if ``EXTERNAL-IP`` is set, the environment has an
  external load balancer — ``INGRESS_HOST`` is ``.status.loadBalancer.ingress[0].ip`` (or
  ``.hostname`` where load balancers are exposed by name, as AWS ELBs are in the field report) and
  ``INGRESS_PORT`` is the ``http2`` port: ``.spec.ports[?(@.name=="http2")].port``;
* if it is ``<none>`` or perpetually ``<pending>``, use the service's node port:
  ``INGRESS_PORT`` = ``.spec.ports[?(@.name=="http2")].nodePort`` and ``INGRESS_HOST`` = a
  worker node's address — on "other environments" the gateway pod's
  ``.status.hostIP`` (``kubectl get po -l istio=ingressgateway -o jsonpath='{.items[0].status.hostIP}'``);
* ``GATEWAY_URL=$INGRESS_HOST:$INGRESS_PORT``.

Two details beyond the recipe, both what ``kubectl get svc`` shows: ``spec.externalIPs`` also fill
the EXTERNAL-IP column (traffic to them on ``.port`` reaches the service), and a ``ClusterIP``
service has no address outside the cluster at all (the error says to port-forward).

:func:`resolve_ingress_address` is pure: it takes the Service, the nodes and the pods as API dicts.
:func:`ingress_address` reads them from a cluster first. The sandbox has no load balancer
(EXTERNAL-IP ``<pending>``; two gateways cannot both own 127.0.0.1:80 without root), so its
gateways resolve through their node port on node InternalIP 127.0.0.1 — where the sandbox's data
plane answers (``runbook.sandbox.istio.dataplane``); on the sandbox, :func:`ingress_address` also
asks the sandbox whether that port is really its own: when another program holds it, the sandbox
serves that gateway on a fallback port and the address says so (``note``).
"""

from __future__ import annotations

import os
import shlex
import socket
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from runbook import kinds as k
from runbook.errors import ClusterError, Forbidden, InputError, NotFound
from runbook.selectors import SelectorError, selector_from_dict

if TYPE_CHECKING:  # the probe runs without the kubernetes client loaded (runbook probe URL)
    from runbook.kube import Cluster

LOAD_BALANCER = "load-balancer"
EXTERNAL_IP = "external-ip"
NODE_PORT = "node-port"


@dataclass(frozen=True)
class IngressAddress:
    """How to reach a gateway Service from outside the cluster.

    Attributes:
        host: INGRESS_HOST (an IP address or a load balancer's host name).
        port: INGRESS_PORT.
        resolved_by: ``load-balancer``, ``external-ip`` or ``node-port``.
        service: ``namespace/name`` of the Service.
        port_name: the Service port used (``http2``).
        source: where the host came from, e.g. ``status.loadBalancer.ingress[0].hostname``,
            ``pod istio-prod/istio-ingressgateway-5d9f status.hostIP``, ``node sandbox InternalIP``.
        note: what else is worth knowing (on the sandbox: the port is closed until a Gateway
            server applies to the gateway).
    """

    host: str
    port: int
    resolved_by: str
    service: str
    port_name: str = "http2"
    source: str = ""
    note: str = ""

    @property
    def url(self) -> str:
        """GATEWAY_URL: ``host:port`` (IPv6 addresses in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def row(self) -> dict[str, Any]:
        """One table row: ``service``, ``INGRESS_HOST``, ``INGRESS_PORT``, ``GATEWAY_URL``,
        ``resolved_by``, ``source``, ``note``."""
        return {"service": self.service, "INGRESS_HOST": self.host, "INGRESS_PORT": self.port,
                "GATEWAY_URL": self.url, "resolved_by": self.resolved_by, "source": self.source,
                "note": self.note}

    def base_url(self, scheme: str = "http") -> str:
        """``http://host:port`` — prefix of the URLs to probe (``base_url() + "/productpage"``)."""
        return f"{scheme}://{self.url}"

    def environ(self) -> dict[str, str]:
        """INGRESS_HOST, INGRESS_PORT and GATEWAY_URL as a dict."""
        return {"INGRESS_HOST": self.host, "INGRESS_PORT": str(self.port), "GATEWAY_URL": self.url}

    def shell_exports(self) -> str:
        """The ``export`` lines a shell user would type (values quoted for the shell)."""
        return "\n".join(f"export {k}={shlex.quote(v)}" for k, v in self.environ().items())

    def set_environ(self, environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
        """Set INGRESS_HOST, INGRESS_PORT and GATEWAY_URL (in ``os.environ`` by default).

        Returns:
            The variables set.
        """
        values = self.environ()
        target = os.environ if environ is None else environ
        target.update(values)
        return values

    def kubectl_commands(self) -> list[str]:
        """The kubectl commands of Istio's recipe that yield this address (for learning)."""
        ns, _, name = self.service.partition("/")
        svc = f"kubectl -n {shlex.quote(ns)} get service {shlex.quote(name)}"
        port_path = f"{{.spec.ports[?(@.name==\"{self.port_name}\")].%s}}"
        if self.resolved_by == NODE_PORT:
            port = f"{svc} -o jsonpath='{port_path % 'nodePort'}'"
            if self.source.startswith("pod "):
                pod = self.source.split()[1].partition("/")[2]
                host = (f"kubectl -n {shlex.quote(ns)} get pod {shlex.quote(pod)} "
                        "-o jsonpath='{.status.hostIP}'")
            else:
                node = self.source.split()[1] if self.source.startswith("node ") else "<node>"
                kind = self.source.split()[2] if self.source.startswith("node ") else "InternalIP"
                host = (f"kubectl get node {shlex.quote(node)} "
                        f"-o jsonpath='{{.status.addresses[?(@.type==\"{kind}\")].address}}'")
        else:
            port = f"{svc} -o jsonpath='{port_path % 'port'}'"
            field = self.source or "status.loadBalancer.ingress[0].ip"
            host = f"{svc} -o jsonpath='{{.{field}}}'"
        return [f"export INGRESS_HOST=$({host})", f"export INGRESS_PORT=$({port})",
                "export GATEWAY_URL=$INGRESS_HOST:$INGRESS_PORT"]


def resolve_ingress_address(service: Mapping[str, Any], nodes: Sequence[Mapping[str, Any]],
                            pods: Sequence[Mapping[str, Any]], *, port_name: str = "http2") -> IngressAddress:
    """Resolve INGRESS_HOST / INGRESS_PORT for a gateway Service, following Istio's recipe.

    Args:
        service: the gateway Service as the API returns it.
        nodes: the cluster's Node objects (used when no gateway pod reports a hostIP).
        pods: pods to look for the gateway in; only those in the Service's namespace matched by
            its selector are used (so passing all pods of the namespace is fine).
        port_name: the Service port to use (Istio's recipe: ``http2``; ``https`` for TLS).

    Returns:
        The address, saying how it was found.

    Raises:
        InputError: not a Service; no port named ``port_name`` (the message lists the ports it
            has); a ClusterIP Service; or no address at all (load balancer pending, no gateway pod
            with a hostIP, no node address).
    """
    if not isinstance(service, Mapping) or service.get("kind", "Service") != "Service":
        raise InputError("resolve_ingress_address needs a Service object")
    meta = service.get("metadata") or {}
    ns = meta.get("namespace") or "default"
    name = meta.get("name") or "?"
    where = f"service {ns}/{name}"
    spec = service.get("spec") or {}
    ports = spec.get("ports") or []
    port = next((p for p in ports if p.get("name") == port_name), None)
    if port is None:
        have = ", ".join(f"{p.get('name') or '(unnamed)'} {p.get('port')}" for p in ports) or "none"
        raise InputError(f"{where} has no port named {port_name!r} (ports: {have})",
                         hint="is this the ingress gateway Service? pass port_name= for another port")
    svc_type = spec.get("type") or "ClusterIP"
    found = dict(service=f"{ns}/{name}", port_name=port_name)

    # 1. an external load balancer's address (EXTERNAL-IP in kubectl get svc)
    if svc_type == "LoadBalancer":
        lb = (service.get("status") or {}).get("loadBalancer") or {}
        for i, ingress in enumerate(lb.get("ingress") or []):
            for key in ("ip", "hostname"):
                if ingress.get(key):
                    return IngressAddress(host=str(ingress[key]), port=int(port["port"]),
                                          resolved_by=LOAD_BALANCER,
                                          source=f"status.loadBalancer.ingress[{i}].{key}", **found)
    # 2. externalIPs: kubectl shows them as EXTERNAL-IP too; kube-proxy serves .port on them
    external_ips = spec.get("externalIPs") or []
    if external_ips and svc_type in ("LoadBalancer", "NodePort", "ClusterIP"):
        return IngressAddress(host=str(external_ips[0]), port=int(port["port"]), resolved_by=EXTERNAL_IP,
                              source="spec.externalIPs[0]", **found)
    if svc_type not in ("LoadBalancer", "NodePort"):
        raise InputError(f"{where} is of type {svc_type}: it has no address outside the cluster",
                         hint=f"use kubectl -n {ns} port-forward svc/{name} 8080:{port.get('port')} "
                              "and probe 127.0.0.1:8080")
    # 3. no load balancer: the node port on the gateway pod's node, or on any node
    node_port = port.get("nodePort")
    if not node_port:
        raise InputError(f"{where}: the load balancer has no address and port {port_name!r} has no nodePort",
                         hint="wait for EXTERNAL-IP, or check the Service's allocateLoadBalancerNodePorts")
    host, source = _gateway_pod_host(spec, ns, pods) or _node_host(nodes) or (None, "")
    if host is None:
        pending = ("the load balancer is pending (EXTERNAL-IP <pending>), "
                   if svc_type == "LoadBalancer" else "")
        raise InputError(f"no address for {where}: {pending}no gateway pod reports a hostIP and no node has "
                         "an InternalIP or ExternalIP",
                         hint="are the gateway pods scheduled? (kubectl get pods -o wide)")
    return IngressAddress(host=host, port=int(node_port), resolved_by=NODE_PORT, source=source, **found)


def _gateway_pod_host(spec: Mapping[str, Any], ns: str,
                      pods: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
    """The hostIP of the Service's first running pod (by name), as ``kubectl get po -l …`` finds it."""
    labels = spec.get("selector") or {}
    if not labels:
        return None  # a Service without selector has no pods of its own
    try:
        selector = selector_from_dict({"matchLabels": labels})
    except SelectorError:
        return None
    candidates = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        status = pod.get("status") or {}
        if (meta.get("namespace") or "default") != ns or not selector.matches(meta.get("labels")):
            continue
        if meta.get("deletionTimestamp") or not status.get("hostIP"):
            continue
        # running pods first: a pending pod's node is not serving the gateway yet
        candidates.append((status.get("phase") != "Running", meta.get("name") or "", str(status["hostIP"])))
    if not candidates:
        return None
    _, pod_name, host_ip = min(candidates)
    return host_ip, f"pod {ns}/{pod_name} status.hostIP"


def _node_host(nodes: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
    """A node address: Ready nodes first, InternalIP before ExternalIP, by node name."""
    candidates = []
    for node in nodes:
        name = (node.get("metadata") or {}).get("name") or ""
        status = node.get("status") or {}
        conditions = status.get("conditions") or []
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        for addr in status.get("addresses") or []:
            kind = addr.get("type")
            if kind in ("InternalIP", "ExternalIP") and addr.get("address"):
                candidates.append((not ready, kind != "InternalIP", name, kind, str(addr["address"])))
    if not candidates:
        return None
    _, _, name, kind, address = min(candidates)
    return address, f"node {name} {kind}"


def _gateway_services_text(cluster: Cluster, namespace: str) -> str:
    try:
        services = cluster.list(k.SERVICES, namespace)
    except ClusterError:
        return "the Services there could not be listed"
    found = [f"{(s.get('metadata') or {}).get('name')} ({(s.get('spec') or {}).get('type')})"
             for s in services if (s.get("spec") or {}).get("type") in ("LoadBalancer", "NodePort")]
    if not found:
        return "no Service of type LoadBalancer or NodePort there"
    return "Services of type LoadBalancer/NodePort there: " + ", ".join(found)


def ingress_address(cluster: Cluster, name: str = "istio-ingressgateway", namespace: str = "istio-system",
                    *, port_name: str = "http2") -> IngressAddress:
    """Where a gateway Service answers from outside the cluster (Istio's recipe, read live).

    Reads the Service, and — only when there is no load balancer address — the gateway pods of its
    namespace and the nodes (a user who may not list nodes still gets the pods' hostIP), then
    applies :func:`resolve_ingress_address`.

    Args:
        cluster: a connection (``runbook.kube.connect``).
        name: the gateway Service (``istio-ingressgateway``; a Helm ``istio/gateway`` release is
            named after the release, e.g. ``istio-ingress``).
        namespace: its namespace (``istio-system`` by default; the field report's revisions have
            theirs in ``istio-prod`` and ``istio-canary``).
        port_name: the Service port (``http2`` in Istio's recipe; ``https`` for TLS).

    Returns:
        The address: ``host``, ``port``, ``url`` (GATEWAY_URL), ``shell_exports()``,
        ``set_environ()``, ``kubectl_commands()``.

    Raises:
        InputError: no such Service (the message lists the LoadBalancer/NodePort Services of the
            namespace), no port named ``port_name`` (it lists the ports), a ClusterIP Service, no
            address; on the sandbox, a node port another program holds when the sandbox has no
            fallback for it.
        ClusterError: the API refused to read the Service.
    """
    try:
        service = cluster.get(k.SERVICES, name, namespace)
    except NotFound:
        raise InputError(f"no Service {namespace}/{name} in context {cluster.context!r}; "
                         f"{_gateway_services_text(cluster, namespace)}",
                         hint="pass the ingress gateway's name= and namespace= "
                              "(kubectl get svc -A | grep -E 'LoadBalancer|NodePort')") from None
    service.setdefault("kind", "Service")
    nodes: list[dict[str, Any]] = []
    pods: list[dict[str, Any]] = []
    spec = service.get("spec") or {}
    lb = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if not lb and not spec.get("externalIPs") and spec.get("type") in ("LoadBalancer", "NodePort"):
        selector = spec.get("selector") or {}
        if selector:
            text = ",".join(f"{key}={value}" for key, value in sorted(selector.items()))
            pods = cluster.list(k.PODS, namespace, label_selector=text)
        try:
            nodes = cluster.list(k.NODES)
        except Forbidden:
            nodes = []  # many users may not list nodes: the gateway pods' hostIP is enough
    address = resolve_ingress_address(service, nodes, pods, port_name=port_name)
    if cluster.is_sandbox:
        address = _check_sandbox_port(cluster, address)
    return address


def _check_sandbox_port(cluster: Cluster, address: IngressAddress) -> IngressAddress:
    """On the sandbox: is 127.0.0.1:<port> this sandbox's gateway, and is it open yet?"""
    try:
        status = cluster.request("GET", "/sandbox/v1/status", verb="get", resource="sandbox status")
    except ClusterError:
        return address  # an older sandbox without a data plane: nothing to add
    listeners = ((status or {}).get("dataplane") or {}).get("listeners") or []
    mine = next((item for item in listeners if item.get("nodePort") == address.port
                 and item.get("service") == address.service), None)
    if mine is None:
        return address
    if mine.get("state") == "busy":
        fallback = str(mine.get("fallbackAddress") or "")
        if not fallback:
            raise InputError(f"{address.url} is held by another program on this machine, so this sandbox's "
                             f"gateway {address.service} cannot answer there (requests would reach the other "
                             "program)", hint="stop the other sandbox or program (runbook sandbox status; "
                                              "ss -ltnp), then runbook sandbox reset")
        port = int(fallback.rpartition(":")[2])
        return replace(address, port=port, source=f"{address.source}; sandbox fallback port",
                       note=f"{address.url} is held by another program on this machine (another "
                            f"sandbox?), so this sandbox's gateway answers on {fallback} instead: "
                            f"INGRESS_PORT is {port} here, not the Service's nodePort (stop the other "
                            "program and change any Gateway to get the node port back)")
    if mine.get("state") == "closed":
        note = f"the sandbox's gateway does not listen on {address.url} yet: {mine.get('reason')}"
        if _answers(address.host, address.port):
            note += " — and another program answers there now: stop it before probing"
        return replace(address, note=note)
    return address


def _answers(host: str, port: int) -> bool:
    """Something accepts TCP connections on the loopback address (never checked elsewhere)."""
    if host not in ("127.0.0.1", "::1", "localhost"):
        return False
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


__all__ = ["EXTERNAL_IP", "LOAD_BALANCER", "NODE_PORT", "IngressAddress", "ingress_address",
           "resolve_ingress_address"]
