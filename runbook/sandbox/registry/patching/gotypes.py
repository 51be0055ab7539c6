"""The Go types' patch tags: the merge keys and strategies of ``k8s.io/api``'s struct tags.

The strategic merge patch and server-side apply's list semantics both read them."""

from __future__ import annotations

from dataclasses import dataclass

from runbook.kinds import BUILTIN_KINDS


@dataclass(frozen=True)
class Field:
    """``patchStrategy``/``patchMergeKey`` of one Go struct field and the struct it holds."""

    strategy: str = ""  # "", "merge", "replace", "retainKeys", "merge,retainKeys"
    key: str = ""
    struct: str | None = None
    gomap: bool = False  # a Go map (labels …): update entries mark "." on it
    atomic: bool = False  # +structType=atomic / +mapType=atomic: owned as one field

    @property
    def merge(self) -> bool:
        return "merge" in self.strategy.split(",")


def _s(name: str) -> Field:
    return Field(struct=name)


def _m(key: str = "", struct: str | None = None, retain: bool = False) -> Field:
    return Field(strategy="merge,retainKeys" if retain else "merge", key=key, struct=struct)


_MAP = Field(gomap=True)
_ATOMIC = Field(atomic=True)
_CONDITIONS = _m("type")

#: Go struct name -> JSON field -> patch metadata. Only fields that carry tags, or lead to
#: fields that do, are listed; any other field merges like an untagged field (objects merge,
#: lists replace). From k8s.io/api core/v1, apps/v1, admissionregistration/v1 types.go.
_STRUCTS: dict[str, dict[str, Field]] = {
    "ObjectMeta": {"finalizers": _m(), "ownerReferences": _m("uid"), "labels": _MAP,
                   "annotations": _MAP},
    "LabelSelector": {"matchLabels": _MAP},
    "PodTemplateSpec": {"metadata": _s("ObjectMeta"), "spec": _s("PodSpec")},
    "PodSpec": {
        "volumes": _m("name", "Volume", retain=True),
        "initContainers": _m("name", "Container"),
        "containers": _m("name", "Container"),
        "ephemeralContainers": _m("name", "Container"),
        "imagePullSecrets": _m("name"),
        "hostAliases": _m("ip"),
        "topologySpreadConstraints": _m("topologyKey"),
        "schedulingGates": _m("name"),
        "resourceClaims": _m("name", retain=True),
        "nodeSelector": _MAP,
        "overhead": _MAP,
    },
    "Volume": {},
    "Container": {
        "ports": _m("containerPort"),
        "env": _m("name"),
        "volumeMounts": _m("mountPath"),
        "volumeDevices": _m("devicePath"),
    },
    "PodStatus": {"conditions": _CONDITIONS, "podIPs": _m("ip"), "hostIPs": _m("ip"),
                  "resourceClaimStatuses": _m("name", retain=True)},
    "ServiceSpec": {"ports": _m("port"), "selector": _ATOMIC},
    "ServiceStatus": {"conditions": _CONDITIONS},
    "NodeSpec": {"podCIDRs": _m()},
    "NodeStatus": {"conditions": _CONDITIONS, "addresses": _m("type"), "capacity": _MAP,
                   "allocatable": _MAP},
    "NamespaceStatus": {"conditions": _CONDITIONS},
    "DeploymentSpec": {"template": _s("PodTemplateSpec"), "selector": _s("LabelSelector"),
                       "strategy": Field(strategy="retainKeys")},
    "ReplicaSetSpec": {"template": _s("PodTemplateSpec"), "selector": _s("LabelSelector")},
    "AppsStatus": {"conditions": _CONDITIONS},
    "ResourceQuotaSpec": {"hard": _MAP},
    "ResourceQuotaStatus": {"hard": _MAP, "used": _MAP},
    "Webhook": {"namespaceSelector": _s("LabelSelector"), "objectSelector": _s("LabelSelector")},
}


def _root(**fields: Field) -> dict[str, Field]:
    return {"metadata": _s("ObjectMeta"), **fields}


#: kind key -> fields of its top-level Go struct
_ROOTS: dict[str, dict[str, Field]] = {
    "namespaces": _root(status=_s("NamespaceStatus")),
    "nodes": _root(spec=_s("NodeSpec"), status=_s("NodeStatus")),
    "pods": _root(spec=_s("PodSpec"), status=_s("PodStatus")),
    "services": _root(spec=_s("ServiceSpec"), status=_s("ServiceStatus")),
    "endpoints": _root(),
    "events": _root(involvedObject=_ATOMIC, related=_ATOMIC),  # ObjectReference is atomic
    "serviceaccounts": _root(secrets=_m("name")),
    "configmaps": _root(data=_MAP, binaryData=_MAP),
    "secrets": _root(data=_MAP, stringData=_MAP),
    "deployments.apps": _root(spec=_s("DeploymentSpec"), status=_s("AppsStatus")),
    "replicasets.apps": _root(spec=_s("ReplicaSetSpec"), status=_s("AppsStatus")),
    "events.events.k8s.io": _root(),
    "mutatingwebhookconfigurations.admissionregistration.k8s.io":
        _root(webhooks=_m("name", "Webhook")),
    "validatingwebhookconfigurations.admissionregistration.k8s.io":
        _root(webhooks=_m("name", "Webhook")),
    "customresourcedefinitions.apiextensions.k8s.io": _root(),
    # no patchStrategy tags below metadata: maps merge, lists are replaced
    "resourcequotas": _root(spec=_s("ResourceQuotaSpec"), status=_s("ResourceQuotaStatus")),
    "limitranges": _root(),
    "endpointslices.discovery.k8s.io": _root(),
}
ROOT_STRUCTS = {key: f"<root {key}>" for key in _ROOTS}
for _key, _fields in _ROOTS.items():
    _STRUCTS[ROOT_STRUCTS[_key]] = _fields

_BUILTIN_KEYS = {k.key for k in BUILTIN_KINDS}
_UNTYPED = Field()


def is_builtin(kind_key: str) -> bool:
    """Whether the kind has Go types (and so strategic merge patch support)."""
    return kind_key in _BUILTIN_KEYS


def lookup_field(struct: str | None, key: str) -> Field:
    if struct is None:
        return _UNTYPED
    return _STRUCTS[struct].get(key, _UNTYPED)
