"""Sidecar injection as Istio's injector webhook does it (``pkg/kube/inject``, 1.18/1.19 template).

The reference is the upstream golden file ``fixtures/upstream/injection/hello-injected-1.18.5.yaml``
(``pkg/kube/inject/testdata/inject/hello.yaml.injected`` at 1.18.5): the injected pod gets

* init container ``istio-init`` (``istio-iptables`` redirect rules) and container ``istio-proxy``
  (appended after the app containers), both ``<hub>/proxyv2:<the injecting istiod's version>``;
* the volumes ``workload-socket``, ``credential-socket``, ``workload-certs`` (emptyDir, as
  ``SetDefaults_Volume`` stores a source-less volume), ``istio-envoy``, ``istio-data``,
  ``istio-podinfo``, ``istio-token``, ``istiod-ca-cert``;
* annotations ``sidecar.istio.io/status`` (compact JSON, keys in Istio's order, ``"revision"``
  the injecting istiod's revision — never the tag), ``istio.io/rev`` (the same revision),
  ``kubectl.kubernetes.io/default-container`` / ``default-logs-container`` (the first app
  container), ``prometheus.io/path|port|scrape``;
* labels ``security.istio.io/tlsMode: istio``, ``service.istio.io/canonical-name`` (from
  ``app.kubernetes.io/name``, ``app``, else the workload name) and
  ``service.istio.io/canonical-revision`` (``app.kubernetes.io/version``, ``version``, else
  ``latest`` — the workload's version, not Istio's revision).

``injection_required`` is Istio's ``injectRequired`` for the cases this project meets: pods with
``hostNetwork``, pods in ``kube-system``/``kube-public``, pods that opt out with
``sidecar.istio.io/inject: "false"`` (label or annotation) and pods already injected (the status
annotation is present) are left alone — injection is idempotent.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import orjson

from runbook.sandbox.storage.store import Obj, copy_object
from runbook.wellknown import (
    CANONICAL_NAME_LABEL,
    CANONICAL_REVISION_LABEL,
    INJECT_POD_LABEL,
    POD_TEMPLATE_HASH,
    REV_ANNOTATION,
    SIDECAR_STATUS_ANNOTATION,
    TLS_MODE_LABEL,
)

DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
DEFAULT_LOGS_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-logs-container"
IGNORED_NAMESPACES = frozenset({"kube-system", "kube-public"})
VOLUMES = ("workload-socket", "credential-socket", "workload-certs", "istio-envoy", "istio-data",
           "istio-podinfo", "istio-token", "istiod-ca-cert")

_RESOURCES = {"limits": {"cpu": "2", "memory": "1Gi"},
              "requests": {"cpu": "100m", "memory": "128Mi"}}


@dataclass(frozen=True)
class Injector:
    """The injecting istiod, as far as the template needs it.

    Attributes:
        revision: its revision (``default`` when installed without one).
        version: its version, the discovery image's tag (``1.18.5``).
        hub: its image hub (``docker.io/istio``): the proxy image is ``<hub>/proxyv2:<tag>``.
        tag: the image tag as written (``1.18.5`` or ``1.18.5-distroless``).
        namespace: where it runs (``istio-prod``): the CA address names it.
        trust_domain: meshConfig ``trustDomain``.
        proxy_config: meshConfig ``defaultConfig`` as compact JSON (``PROXY_CONFIG``).
        cluster_id: ``ISTIO_META_CLUSTER_ID``.
    """

    revision: str
    version: str
    hub: str
    tag: str
    namespace: str
    trust_domain: str = "cluster.local"
    proxy_config: str = "{}"
    cluster_id: str = "Kubernetes"

    @property
    def proxy_image(self) -> str:
        return f"{self.hub}/proxyv2:{self.tag}"

    @property
    def ca_address(self) -> str:
        service = "istiod" if self.revision in ("", "default") else f"istiod-{self.revision}"
        return f"{service}.{self.namespace}.svc:15012"


def injection_required(pod: Obj, namespace: str) -> bool:
    """Whether the injector injects this pod (see the module docstring)."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    if spec.get("hostNetwork") or namespace in IGNORED_NAMESPACES:
        return False
    annotations = meta.get("annotations") or {}
    if SIDECAR_STATUS_ANNOTATION in annotations:
        return False
    for source in (annotations, meta.get("labels") or {}):
        value = str(source.get(INJECT_POD_LABEL, "")).lower()
        if value in ("false", "n", "no", "off"):
            return False
    return True


def workload_of(pod: Obj) -> tuple[str, str]:
    """(workload name, ``ISTIO_META_OWNER``) as ``GetDeployMetaFromPod`` derives them."""
    meta = pod.get("metadata") or {}
    ns = meta.get("namespace", "")
    name = meta.get("name") or meta.get("generateName", "").rstrip("-")
    owner = f"kubernetes://apis/v1/namespaces/{ns}/pods/{name}"
    refs = [r for r in meta.get("ownerReferences") or () if r.get("controller")]
    if not refs:
        return name, owner
    ref = refs[0]
    kind, owner_name = str(ref.get("kind", "")), str(ref.get("name", ""))
    api = str(ref.get("apiVersion", "v1"))
    hash_ = (meta.get("labels") or {}).get(POD_TEMPLATE_HASH)
    if kind == "ReplicaSet" and hash_ and owner_name.endswith(f"-{hash_}"):
        deployment = owner_name[: -len(hash_) - 1]
        return deployment, f"kubernetes://apis/apps/v1/namespaces/{ns}/deployments/{deployment}"
    plural = kind.lower() + "s"
    return owner_name, f"kubernetes://apis/{api}/namespaces/{ns}/{plural}/{owner_name}"


def _pod_ports(containers: list[Obj]) -> str:
    # the template writes one port per line, a comma before all but the first (Go json order)
    entries = []
    for c in containers:
        for port in c.get("ports") or ():
            ordered: dict[str, Any] = {}
            for key in ("name", "hostPort", "containerPort", "protocol", "hostIP"):
                if port.get(key) not in (None, "", 0) or key == "containerPort":
                    ordered[key] = port.get(key)
            entries.append(json.dumps(ordered, separators=(",", ":")))
    lines = ["["] + [("    " if i == 0 else "    ,") + e for i, e in enumerate(entries)] + ["]"]
    return "\n".join(lines)


def _env_field(name: str, path: str) -> Obj:
    return {"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}}


def sidecar_status(revision: str) -> str:
    """The ``sidecar.istio.io/status`` value, keys in Istio's ``SidecarInjectionStatus`` order."""
    return json.dumps({"initContainers": ["istio-init"], "containers": ["istio-proxy"],
                       "volumes": list(VOLUMES), "imagePullSecrets": None, "revision": revision},
                      separators=(",", ":"))


@functools.lru_cache(maxsize=64)
def _sidecar_parts(injector: Injector) -> bytes:
    """What the template renders the same for every pod of one istiod (serialized; each pod
    gets its own copy): init container, proxy container without the per-pod env, volumes."""
    image = injector.proxy_image
    init = {
        "name": "istio-init", "image": image,
        "args": ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT",
                 "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020",
                 "--log_output_level=default:info"],
        "resources": _RESOURCES,
        "securityContext": {"allowPrivilegeEscalation": False,
                            "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
                            "privileged": False, "readOnlyRootFilesystem": False,
                            "runAsGroup": 0, "runAsNonRoot": False, "runAsUser": 0},
    }
    proxy = {
        "name": "istio-proxy", "image": image,
        "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local",
                 "--proxyLogLevel=warning", "--proxyComponentLogLevel=misc:error",
                 "--log_output_level=default:info"],
        "env": [
            {"name": "JWT_POLICY", "value": "third-party-jwt"},
            {"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
            {"name": "CA_ADDR", "value": injector.ca_address},
            _env_field("POD_NAME", "metadata.name"),
            _env_field("POD_NAMESPACE", "metadata.namespace"),
            _env_field("INSTANCE_IP", "status.podIP"),
            _env_field("SERVICE_ACCOUNT", "spec.serviceAccountName"),
            _env_field("HOST_IP", "status.hostIP"),
            {"name": "ISTIO_CPU_LIMIT", "valueFrom": {"resourceFieldRef": {
                "divisor": "0", "resource": "limits.cpu"}}},
            {"name": "PROXY_CONFIG", "value": injector.proxy_config + "\n"},
            {"name": "ISTIO_META_POD_PORTS", "value": ""},
            {"name": "ISTIO_META_APP_CONTAINERS", "value": ""},
            {"name": "ISTIO_META_CLUSTER_ID", "value": injector.cluster_id},
            _env_field("ISTIO_META_NODE_NAME", "spec.nodeName"),
            {"name": "ISTIO_META_INTERCEPTION_MODE", "value": "REDIRECT"},
            {"name": "ISTIO_META_WORKLOAD_NAME", "value": ""},
            {"name": "ISTIO_META_OWNER", "value": ""},
            {"name": "ISTIO_META_MESH_ID", "value": injector.trust_domain},
            {"name": "TRUST_DOMAIN", "value": injector.trust_domain},
        ],
        "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
        "readinessProbe": {"failureThreshold": 30,
                           "httpGet": {"path": "/healthz/ready", "port": 15021,
                                       "scheme": "HTTP"},
                           "initialDelaySeconds": 1, "periodSeconds": 2, "successThreshold": 1,
                           "timeoutSeconds": 3},
        "resources": _RESOURCES,
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                            "privileged": False, "readOnlyRootFilesystem": True,
                            "runAsGroup": 1337, "runAsNonRoot": True, "runAsUser": 1337},
        "volumeMounts": [
            {"mountPath": "/var/run/secrets/workload-spiffe-uds", "name": "workload-socket"},
            {"mountPath": "/var/run/secrets/credential-uds", "name": "credential-socket"},
            {"mountPath": "/var/run/secrets/workload-spiffe-credentials",
             "name": "workload-certs"},
            {"mountPath": "/var/run/secrets/istio", "name": "istiod-ca-cert"},
            {"mountPath": "/var/lib/istio/data", "name": "istio-data"},
            {"mountPath": "/etc/istio/proxy", "name": "istio-envoy"},
            {"mountPath": "/var/run/secrets/tokens", "name": "istio-token"},
            {"mountPath": "/etc/istio/pod", "name": "istio-podinfo"},
        ],
    }
    volumes = [{"name": "workload-socket", "emptyDir": {}},
               {"name": "credential-socket", "emptyDir": {}},
               {"name": "workload-certs", "emptyDir": {}},
               {"name": "istio-envoy", "emptyDir": {"medium": "Memory"}},
               {"name": "istio-data", "emptyDir": {}},
               {"name": "istio-podinfo", "downwardAPI": {"items": [
                   {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels"},
                    "path": "labels"},
                   {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.annotations"},
                    "path": "annotations"}]}},
               {"name": "istio-token", "projected": {"sources": [{"serviceAccountToken": {
                   "audience": "istio-ca", "expirationSeconds": 43200, "path": "istio-token"}}]}},
               {"name": "istiod-ca-cert", "configMap": {"name": "istio-ca-root-cert"}}]
    return orjson.dumps({"init": init, "proxy": proxy, "volumes": volumes})


def inject(pod: Obj, injector: Injector) -> Obj:
    """The pod as the injector returns it (a new dict; ``pod`` is not changed)."""
    out = copy_object(pod)
    meta = out.setdefault("metadata", {})
    spec = out.setdefault("spec", {})
    apps = list(spec.get("containers") or [])
    app_names = [str(c.get("name", "")) for c in apps]
    workload, owner = workload_of(out)
    parts = orjson.loads(_sidecar_parts(injector))
    proxy = parts["proxy"]
    per_pod = {"ISTIO_META_POD_PORTS": _pod_ports(apps),
               "ISTIO_META_APP_CONTAINERS": ",".join(app_names),
               "ISTIO_META_WORKLOAD_NAME": workload, "ISTIO_META_OWNER": owner}
    for env in proxy["env"]:
        if env["name"] in per_pod:
            env["value"] = per_pod[env["name"]]
    spec["initContainers"] = [*(spec.get("initContainers") or []), parts["init"]]
    spec["containers"] = [*apps, proxy]
    spec["volumes"] = [*(spec.get("volumes") or []), *parts["volumes"]]
    labels = meta.setdefault("labels", {})
    annotations = meta.setdefault("annotations", {})
    revision = injector.revision or "default"
    annotations[REV_ANNOTATION] = revision
    if app_names:
        annotations.setdefault(DEFAULT_CONTAINER_ANNOTATION, app_names[0])
        annotations.setdefault(DEFAULT_LOGS_CONTAINER_ANNOTATION, app_names[0])
    annotations.setdefault("prometheus.io/path", "/stats/prometheus")
    annotations.setdefault("prometheus.io/port", "15020")
    annotations.setdefault("prometheus.io/scrape", "true")
    annotations[SIDECAR_STATUS_ANNOTATION] = sidecar_status(revision)
    labels[TLS_MODE_LABEL] = "istio"
    labels.setdefault(CANONICAL_NAME_LABEL, str(
        labels.get("app.kubernetes.io/name") or labels.get("app") or workload))
    labels.setdefault(CANONICAL_REVISION_LABEL, str(
        labels.get("app.kubernetes.io/version") or labels.get("version") or "latest"))
    return out


__all__ = ["Injector", "inject", "injection_required", "sidecar_status", "workload_of"]
