"""Each resource kind this project touches, described once.

Both sides use these records: the client builds request paths and snapshot keys from them, the
sandbox serves discovery documents and routes requests with them. A kind's ``key`` is kubectl's
``resource.group`` spelling (``pods``, ``replicasets.apps``,
``virtualservices.networking.istio.io``) and is version-independent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

#: verbs of an ordinary namespaced or cluster-scoped resource, as discovery lists them
STANDARD_VERBS: tuple[str, ...] = (
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
)


@dataclass(frozen=True)
class ResourceKind:
    """One REST resource: where it lives and how it is named.

    Attributes:
        group: API group, ``""`` for the core group.
        version: preferred version (the one the client asks for and the sandbox stores).
        kind: ``Pod``, ``VirtualService`` …
        plural: resource name in URLs, ``pods``.
        namespaced: whether objects live in a namespace.
        versions: every served version, preferred first.
        short_names: kubectl short names (``po``, ``rs``, ``vs``).
        subresources: e.g. ``("status", "scale")``.
        categories: discovery categories (``all``).
        verbs: the verbs discovery advertises.
    """

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    versions: tuple[str, ...] = ()
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = STANDARD_VERBS
    singular: str = field(default="")

    def __post_init__(self) -> None:
        if not self.versions:
            object.__setattr__(self, "versions", (self.version,))
        if not self.singular:
            object.__setattr__(self, "singular", self.kind.lower())

    @property
    def key(self) -> str:
        """``plural`` for the core group, else ``plural.group`` (version-independent)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def api_version(self) -> str:
        """``v1`` or ``group/version`` for the preferred version."""
        return self.api_version_for(self.version)

    def api_version_for(self, version: str) -> str:
        """``apiVersion`` of this kind in ``version``."""
        return f"{self.group}/{version}" if self.group else version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def path(
        self,
        namespace: str | None = None,
        name: str | None = None,
        *,
        subresource: str | None = None,
        version: str | None = None,
    ) -> str:
        """REST path, e.g. ``/apis/apps/v1/namespaces/ns/replicasets/name/scale``.

        A namespaced kind without a namespace gives the cluster-wide collection path.
        """
        version = version or self.version
        base = f"/apis/{self.group}/{version}" if self.group else f"/api/{version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
            if subresource:
                base += f"/{subresource}"
        return base

    def names(self) -> set[str]:
        """Every spelling kubectl accepts for this kind (lower case)."""
        return {
            self.plural,
            self.singular,
            self.kind.lower(),
            self.key,
            *self.short_names,
        }


def _core(kind: str, plural: str, namespaced: bool = True, **kw: object) -> ResourceKind:
    return ResourceKind("", "v1", kind, plural, namespaced, **kw)  # type: ignore[arg-type]


NAMESPACES = _core("Namespace", "namespaces", False, short_names=("ns",), subresources=("status",),
                   verbs=("create", "delete", "get", "list", "patch", "update", "watch"))
NODES = _core("Node", "nodes", False, short_names=("no",), subresources=("status",))
PODS = _core("Pod", "pods", short_names=("po",), subresources=("status", "log"),
             categories=("all",))
SERVICES = _core("Service", "services", short_names=("svc",), subresources=("status",),
                 categories=("all",),
                 verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update",
                        "watch"))
ENDPOINTS = _core("Endpoints", "endpoints", short_names=("ep",), singular="endpoints")
EVENTS = _core("Event", "events", short_names=("ev",))
RESOURCE_QUOTAS = _core("ResourceQuota", "resourcequotas", short_names=("quota",),
                        subresources=("status",))
LIMIT_RANGES = _core("LimitRange", "limitranges", short_names=("limits",))
ENDPOINT_SLICES = ResourceKind("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True)
SERVICE_ACCOUNTS = _core("ServiceAccount", "serviceaccounts", short_names=("sa",))
CONFIG_MAPS = _core("ConfigMap", "configmaps", short_names=("cm",))
SECRETS = _core("Secret", "secrets")
DEPLOYMENTS = ResourceKind("apps", "v1", "Deployment", "deployments", True, short_names=("deploy",),
                           subresources=("status", "scale"), categories=("all",))
REPLICA_SETS = ResourceKind("apps", "v1", "ReplicaSet", "replicasets", True, short_names=("rs",),
                            subresources=("status", "scale"), categories=("all",))
EVENTS_V1 = ResourceKind("events.k8s.io", "v1", "Event", "events", True, short_names=("ev",))
MUTATING_WEBHOOKS = ResourceKind("admissionregistration.k8s.io", "v1",
                                 "MutatingWebhookConfiguration", "mutatingwebhookconfigurations",
                                 False)
VALIDATING_WEBHOOKS = ResourceKind("admissionregistration.k8s.io", "v1",
                                   "ValidatingWebhookConfiguration",
                                   "validatingwebhookconfigurations", False)
CRDS = ResourceKind("apiextensions.k8s.io", "v1", "CustomResourceDefinition",
                    "customresourcedefinitions", False, short_names=("crd", "crds"),
                    subresources=("status",))

#: kinds every Kubernetes API server serves (the sandbox serves these from the start)
BUILTIN_KINDS: tuple[ResourceKind, ...] = (
    NAMESPACES, NODES, PODS, SERVICES, ENDPOINTS, EVENTS, SERVICE_ACCOUNTS, CONFIG_MAPS, SECRETS,
    DEPLOYMENTS, REPLICA_SETS, EVENTS_V1, MUTATING_WEBHOOKS, VALIDATING_WEBHOOKS, CRDS,
    ENDPOINT_SLICES, RESOURCE_QUOTAS, LIMIT_RANGES,
)

_ISTIO_VERSIONS = ("v1", "v1beta1", "v1alpha3")


def _istio(kind: str, plural: str, short: tuple[str, ...]) -> ResourceKind:
    return ResourceKind("networking.istio.io", "v1beta1", kind, plural, True,
                        versions=("v1beta1", "v1", "v1alpha3"), short_names=short,
                        categories=("istio-io", "networking-istio-io"))


#: Istio networking kinds the client reads. A cluster serves them only when their CRDs exist;
#: v1beta1 is served by every Istio release this project meets (1.18 … master).
GATEWAYS = _istio("Gateway", "gateways", ("gw",))
VIRTUAL_SERVICES = _istio("VirtualService", "virtualservices", ("vs",))
DESTINATION_RULES = _istio("DestinationRule", "destinationrules", ("dr",))
ISTIO_NETWORKING_KINDS: tuple[ResourceKind, ...] = (GATEWAYS, VIRTUAL_SERVICES, DESTINATION_RULES)
#: read by the config analyzer (destination hosts); the sandbox bundles no CRD for it
SERVICE_ENTRIES = _istio("ServiceEntry", "serviceentries", ("se",))
#: read by the config analyzer (IST0110, IST0111, Sidecar selectors)
SIDECARS = _istio("Sidecar", "sidecars", ())
#: read by the config analyzer (IST0127, namespaces of sources; v1beta1: Istio 1.18 has no v1)
AUTHORIZATION_POLICIES = ResourceKind("security.istio.io", "v1beta1", "AuthorizationPolicy",
                                      "authorizationpolicies", True, versions=("v1beta1", "v1"),
                                      categories=("istio-io", "security-istio-io"))

#: read by the config analyzer (IST0159, IST0160, Telemetry selectors)
TELEMETRIES = ResourceKind("telemetry.istio.io", "v1alpha1", "Telemetry", "telemetries", True,
                           versions=("v1alpha1", "v1"),
                           categories=("istio-io", "telemetry-istio-io"))

#: read by the config analyzer: a VirtualService may name a Kubernetes Gateway API Gateway. Served
#: only where the Gateway API CRDs are installed. Its plural is Istio's Gateway's too: the kubectl
#: names ``gateway``/``gateways`` resolve to Istio's (registered first), this one is ``gtw``
K8S_GATEWAYS = ResourceKind("gateway.networking.k8s.io", "v1", "Gateway", "gateways", True,
                            versions=("v1", "v1beta1"), short_names=("gtw",),
                            categories=("gateway-api",))

ALL_KNOWN_KINDS: tuple[ResourceKind, ...] = (
    BUILTIN_KINDS + ISTIO_NETWORKING_KINDS
    + (SERVICE_ENTRIES, SIDECARS, AUTHORIZATION_POLICIES, TELEMETRIES, K8S_GATEWAYS))


class KindRegistry:
    """Look kinds up by key, by (group, plural), by (apiVersion, kind) or by a kubectl name."""

    def __init__(self, kinds: Iterable[ResourceKind] = ()) -> None:
        self._by_key: dict[str, ResourceKind] = {}
        for k in kinds:
            self.add(k)

    def add(self, kind: ResourceKind) -> None:
        self._by_key[kind.key] = kind

    def remove(self, key: str) -> None:
        self._by_key.pop(key, None)

    def __iter__(self) -> Iterator[ResourceKind]:
        return iter(list(self._by_key.values()))

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def by_key(self, key: str) -> ResourceKind | None:
        return self._by_key.get(key)

    def by_plural(self, group: str, plural: str) -> ResourceKind | None:
        return self._by_key.get(f"{plural}.{group}" if group else plural)

    def by_kind(self, api_version: str, kind: str) -> ResourceKind | None:
        """The kind for a manifest's ``apiVersion`` and ``kind`` (any served version)."""
        group, _, version = api_version.rpartition("/")
        for k in self._by_key.values():
            if k.group == group and k.kind == kind and version in k.versions:
                return k
        return None

    def by_name(self, name: str) -> ResourceKind | None:
        """Resolve what a user types (``rs``, ``replicasets.apps``, ``VirtualService``)."""
        wanted = name.lower()
        for k in self._by_key.values():
            if wanted in k.names():
                return k
        return None


def default_registry() -> KindRegistry:
    """A registry holding every kind this project knows about."""
    return KindRegistry(ALL_KNOWN_KINDS)
