"""Reading a cluster into a :class:`~runbook.snapshot.Snapshot`: cluster-wide paginated lists only.

A full read costs one list (a few pages) per kind, never one call per namespace or object, so the
number of requests does not grow with the number of namespaces. A kind that cannot be read (403,
or not served because a CRD is missing) is recorded in ``Snapshot.unreadable`` with the reason and
the rest of the read goes on: a diagnosis with partial rights still says what it can.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Literal, TypedDict

import orjson

from runbook import kinds as k
from runbook.errors import ClusterError, Forbidden, NotFound
from runbook.kinds import ResourceKind
from runbook.kube.cluster import JSON, METADATA_LIST, Cluster
from runbook.snapshot import RawObject, Snapshot

#: what a mesh inventory and diagnosis read
DIAGNOSIS_KINDS: tuple[ResourceKind, ...] = (
    k.NAMESPACES, k.NODES, k.PODS, k.SERVICES, k.ENDPOINTS, k.DEPLOYMENTS, k.REPLICA_SETS,
    k.EVENTS, k.CONFIG_MAPS, k.MUTATING_WEBHOOKS, k.VALIDATING_WEBHOOKS,
)
#: what the config analyzer reads in addition. Secrets only as metadata (:data:`METADATA_ONLY`),
#: for the Gateway ``credentialName`` check; where they cannot be listed (403) that check says it
#: was not made.
CONFIG_KINDS: tuple[ResourceKind, ...] = (
    *k.ISTIO_NETWORKING_KINDS, k.SERVICE_ENTRIES, k.SIDECARS, k.AUTHORIZATION_POLICIES,
    k.TELEMETRIES, k.K8S_GATEWAYS, k.CRDS, k.SECRETS)

#: kinds listed as metadata only (``Accept: …;as=PartialObjectMetadataList``), so that no
#: Secret value crosses the wire; their slim decoder then keeps only :func:`trim_secret`'s fields
METADATA_ONLY: frozenset[str] = frozenset({k.SECRETS.key})

#: server-side filters that keep large reads small without losing what the mesh layer needs
DEFAULT_SELECTORS: dict[str, dict[str, str]] = {
    # only the control planes' mesh configs (istio-<rev>) are needed, not every ConfigMap
    k.CONFIG_MAPS.key: {"label_selector": "istio.io/rev"},
    # only ReplicaSet events feed the tables (replicaset_events, failing ReplicaSets); on a busy
    # cluster pod events (Scheduled, Pulled, Created, Started …) are most of them. The field is
    # one kube-apiserver selects events by (kubernetes.io/docs/concepts/overview/working-with-
    # objects/field-selectors: involvedObject.kind).
    k.EVENTS.key: {"field_selector": "involvedObject.kind=ReplicaSet"},
}

#: narrower filters for a caller that wants the findings and prints no table: the findings read a
#: ReplicaSet's FailedCreate events only (runbook.mesh's failing-ReplicaSets chain), while on a
#: busy cluster most ReplicaSet events say SuccessfulCreate or SuccessfulDelete (on the scale
#: world 2,000 of 10,000). ``reason`` is one of the fields kube-apiserver selects events by.
FINDINGS_SELECTORS: dict[str, dict[str, str]] = {
    k.EVENTS.key: {"field_selector": "involvedObject.kind=ReplicaSet,reason=FailedCreate"},
}

_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def trim_object(obj: RawObject) -> RawObject:
    """Drop bookkeeping that no table uses (managedFields, kubectl's last-applied copy).

    On large clusters these are often half of an object's size.
    """
    meta = obj.get("metadata")
    if meta:
        meta.pop("managedFields", None)
        _drop_last_applied((obj,))
    return obj


def _drop_last_applied(objects: Iterable[RawObject]) -> None:
    """Drop kubectl's last-applied copy from the objects' annotations: one loop over a page, not
    a call per object (0.5 µs each, 20 ms on the scale world's 40,000 objects)."""
    for obj in objects:
        meta = obj.get("metadata")
        if meta:
            ann = meta.get("annotations")
            if ann and _LAST_APPLIED in ann:
                del ann[_LAST_APPLIED]


#: container fields the mesh layer reads: names and images (revisions, proxies), args (a gateway's
#: ``router``), command, ports (Service targetPorts by name)
_CONTAINER_FIELDS = ("name", "image", "args", "command", "ports")
#: init container fields read: a native sidecar's name and image, and its ports. Not istio-init's
#: iptables arguments (20 strings per injected pod)
_INIT_CONTAINER_FIELDS = ("name", "image", "ports")
#: pod spec fields no table reads: volumes and scheduling, the defaults the API server fills
#: into every pod and template (DNS, scheduler, restart and preemption policies), and who and where
#: it runs as (service account, security context, node: no finding or table names them)
_POD_SPEC_DROP = ("volumes", "affinity", "tolerations", "topologySpreadConstraints", "dnsPolicy",
                  "schedulerName", "restartPolicy", "terminationGracePeriodSeconds",
                  "enableServiceLinks", "preemptionPolicy", "priority", "serviceAccount",
                  "serviceAccountName", "securityContext", "nodeName")
#: metadata fields no table reads: the server's field bookkeeping, the prefix a controller named
#: a pod from (the name is read), and the uid (objects are told apart by namespace and name; a
#: fix's preconditions and a rollout's owner check take uids from objects they GET or list whole)
_META_DROP = ("managedFields", "generateName", "uid")
#: what is read of an owner reference: whose it is and whether it controls (model.controller_owner,
#: the analyzer's workloads). Not its apiVersion, uid (a rollout's owner check lists ReplicaSets
#: whole) nor blockOwnerDeletion
_OWNER_REFERENCE_FIELDS = ("kind", "name", "controller")


#: pod status fields the project reads: the phase, the conditions (Ready), the containers' states
#: (waiting reasons, restarts, readiness) and the addresses a probe targets. Not the init
#: containers' statuses, the image and container IDs (three 70-character digests per injected
#: pod), nor the address lists that repeat hostIP/podIP.
_POD_STATUS_FIELDS = ("phase", "conditions", "containerStatuses", "hostIP", "podIP", "reason",
                      "message")
#: container status fields read (``kubectl get pods``' READY, STATUS and RESTARTS columns)
_CONTAINER_STATUS_FIELDS = ("name", "ready", "restartCount", "state")
#: container state fields read: why it waits (STATUS shows the reason) or how it ended. Not
#: ``running``: its start time is read by nothing, and readiness is the status' ``ready``
_CONTAINER_STATE_FIELDS = ("waiting", "terminated")
#: condition fields read, on pods and workloads alike (the transition and probe times are not)
_CONDITION_FIELDS = ("type", "status", "reason", "message")
#: Deployment and ReplicaSet spec fields no table reads (the rollout's pacing)
_WORKLOAD_SPEC_DROP = ("strategy", "revisionHistoryLimit", "progressDeadlineSeconds")
#: Deployment and ReplicaSet status fields no table reads: the controller's bookkeeping (a
#: rollout's progress check lists Deployments whole, observedGeneration included)
_WORKLOAD_STATUS_DROP = ("observedGeneration", "fullyLabeledReplicas", "terminatingReplicas",
                         "collisionCount")


def _only(obj: Any, fields: tuple[str, ...]) -> Any:
    return {f: obj[f] for f in fields if f in obj} if isinstance(obj, dict) else obj


def _slim_list(parent: dict[str, Any], key: str, fields: tuple[str, ...]) -> None:
    value = parent.get(key)
    if isinstance(value, list):
        parent[key] = [_only(item, fields) for item in value]


def _slim_conditions(status: Any) -> None:
    if isinstance(status, dict):
        _slim_list(status, "conditions", _CONDITION_FIELDS)


def _slim_metadata(obj: RawObject) -> None:
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        for key in _META_DROP:
            meta.pop(key, None)
        _slim_list(meta, "ownerReferences", _OWNER_REFERENCE_FIELDS)


def _slim_pod_status(obj: RawObject) -> None:
    status = obj.get("status")
    if isinstance(status, dict):
        status = obj["status"] = _only(status, _POD_STATUS_FIELDS)
        _slim_conditions(status)
        _slim_list(status, "containerStatuses", _CONTAINER_STATUS_FIELDS)
        for container in status.get("containerStatuses") or ():
            if isinstance(container, dict) and "state" in container:
                container["state"] = _only(container["state"], _CONTAINER_STATE_FIELDS)


def _slim_pod_spec(spec: Any) -> None:
    if not isinstance(spec, dict):
        return
    for key in _POD_SPEC_DROP:
        spec.pop(key, None)
    _slim_list(spec, "containers", _CONTAINER_FIELDS)
    _slim_list(spec, "initContainers", _INIT_CONTAINER_FIELDS)


def trim_pod(obj: RawObject) -> RawObject:
    """:func:`trim_object`, the metadata without :data:`_META_DROP` and its owner references
    reduced to :data:`_OWNER_REFERENCE_FIELDS`, containers reduced to :data:`_CONTAINER_FIELDS`
    (no volumes), the status to :data:`_POD_STATUS_FIELDS`.

    An injected pod's env, mounts, probes and volumes (istio-proxy alone has dozens) are most of
    its size; on 8,000 pods they are ~200 MB of parsed JSON that no table reads. Of what is left,
    the status was half (container IDs, image digests, init containers' states, timestamps).
    """
    trim_object(obj)
    _slim_metadata(obj)
    _slim_pod_spec(obj.get("spec"))
    _slim_pod_status(obj)
    return obj


def trim_workload(obj: RawObject) -> RawObject:
    """:func:`trim_pod`'s reduction on a Deployment's or ReplicaSet's metadata and pod template,
    its status without :data:`_WORKLOAD_STATUS_DROP` and its conditions reduced to
    :data:`_CONDITION_FIELDS`."""
    trim_object(obj)
    _slim_metadata(obj)
    spec = obj.get("spec")
    if isinstance(spec, dict):
        for key in _WORKLOAD_SPEC_DROP:
            spec.pop(key, None)
        _slim_pod_spec((spec.get("template") or {}).get("spec"))
    status = obj.get("status")
    if isinstance(status, dict):
        for key in _WORKLOAD_STATUS_DROP:
            status.pop(key, None)
    _slim_conditions(status)
    return obj


def trim_replicaset(obj: RawObject) -> RawObject:
    """:func:`trim_workload`, without the pod template's spec: a ReplicaSet's copies its
    Deployment's, and what runs is read from the pods and the Deployments (the template's labels
    and annotations are kept)."""
    trim_workload(obj)
    template = (obj.get("spec") or {}).get("template")
    if isinstance(template, dict):
        template.pop("spec", None)
    return obj


#: what is read of an event's object reference: which object it is about (not its version)
_EVENT_OBJECT_FIELDS = ("kind", "namespace", "name", "fieldPath")
#: event fields nothing reads: what it did, the second object it names, the reporter's instance
#: (not its component: ``kubectl describe``'s From column, formats.kubectl.describe_events)
_EVENT_DROP = ("action", "related", "reportingInstance")


def trim_event(obj: RawObject) -> RawObject:
    """:func:`trim_object`, the metadata as :func:`trim_pod` leaves it, the ``involvedObject``
    reduced to :data:`_EVENT_OBJECT_FIELDS`, and without :data:`_EVENT_DROP`."""
    trim_object(obj)
    _slim_metadata(obj)
    for key in _EVENT_DROP:
        obj.pop(key, None)
    if "involvedObject" in obj:
        obj["involvedObject"] = _only(obj["involvedObject"], _EVENT_OBJECT_FIELDS)
    return obj


#: the metadata of a Secret that is kept (not annotations: kubectl's last-applied copy holds values)
SECRET_META_FIELDS = ("name", "namespace", "labels", "uid", "resourceVersion")


def trim_secret(obj: dict[str, Any]) -> dict[str, Any]:
    """A Secret reduced to its name, namespace, labels (and type when given): its values (and
    even the names of its keys) are dropped, so no snapshot, report or log can hold them."""
    meta = obj.get("metadata") or {}
    trimmed = {"apiVersion": "v1", "kind": "Secret",
               "metadata": {key: meta[key] for key in SECRET_META_FIELDS if key in meta}}
    if obj.get("type") is not None:
        trimmed["type"] = obj["type"]
    return trimmed


#: per kind key, the trim applied to every object read (others: :func:`trim_object`)
DEFAULT_TRIMS: dict[str, Callable[[RawObject], RawObject]] = {
    k.PODS.key: trim_pod, k.DEPLOYMENTS.key: trim_workload, k.REPLICA_SETS.key: trim_replicaset,
    k.EVENTS.key: trim_event, k.SECRETS.key: trim_secret,
}


# ------------------------------------------------------------------ trimming while parsing
#
# Parsing a pod whole and then dropping its sidecar's env, mounts and probes is most of a large
# read's client time (8,000 injected pods: 67 MB of JSON). msgspec decodes into plain dicts
# against a TypedDict and skips the keys the TypedDict does not name without building them
# (4–7x faster than orjson plus the trims above, measured on a 500-pod page). The TypedDicts name
# every field the API defines (the official client's models, checked by a test: importing those
# models costs 0.8 s, more than the read saves), minus what the trims drop, so that the result is
# what the trims would leave.

#: the fields of a PodSpec (kubernetes.client.V1PodSpec)
POD_SPEC_FIELDS = (
    "activeDeadlineSeconds", "affinity", "automountServiceAccountToken", "containers", "dnsConfig",
    "dnsPolicy", "enableServiceLinks", "ephemeralContainers", "evictionResponders", "hostAliases",
    "hostIPC", "hostNetwork", "hostPID", "hostUsers", "hostname", "hostnameOverride",
    "imagePullSecrets", "initContainers", "nodeName", "nodeSelector", "os", "overhead",
    "preemptionPolicy", "priority", "priorityClassName", "readinessGates", "resourceClaims",
    "resources", "restartPolicy", "runtimeClassName", "schedulerName", "schedulingGates",
    "schedulingGroup", "securityContext", "serviceAccount", "serviceAccountName",
    "setHostnameAsFQDN", "shareProcessNamespace", "subdomain", "terminationGracePeriodSeconds",
    "tolerations", "topologySpreadConstraints", "volumes",
)
#: the fields of an ObjectMeta (kubernetes.client.V1ObjectMeta)
OBJECT_META_FIELDS = (
    "annotations", "creationTimestamp", "deletionGracePeriodSeconds", "deletionTimestamp",
    "finalizers", "generateName", "generation", "labels", "managedFields", "name", "namespace",
    "ownerReferences", "resourceVersion", "selfLink", "uid",
)
#: the fields of a DeploymentSpec and a ReplicaSetSpec (kubernetes.client.V1DeploymentSpec, …)
WORKLOAD_SPEC_FIELDS = (
    "minReadySeconds", "paused", "progressDeadlineSeconds", "replicas", "revisionHistoryLimit",
    "selector", "strategy", "template",
)
#: the fields of a DeploymentStatus and a ReplicaSetStatus (kubernetes.client.V1DeploymentStatus, …)
WORKLOAD_STATUS_FIELDS = (
    "availableReplicas", "collisionCount", "conditions", "fullyLabeledReplicas",
    "observedGeneration", "readyReplicas", "replicas", "terminatingReplicas",
    "unavailableReplicas", "updatedReplicas",
)
#: the fields of a core/v1 Event (kubernetes.client.CoreV1Event)
EVENT_FIELDS = (
    "action", "apiVersion", "count", "eventTime", "firstTimestamp", "involvedObject", "kind",
    "lastTimestamp", "message", "metadata", "reason", "related", "reportingComponent",
    "reportingInstance", "series", "source", "type",
)
#: the top-level fields of a Pod, Deployment and ReplicaSet
OBJECT_FIELDS = ("apiVersion", "kind", "metadata", "spec", "status")


def _typed_dict(name: str, fields: Iterable[str], typed: Mapping[str, Any] | None = None,
                drop: Iterable[str] = ()) -> Any:
    """A TypedDict made at run time: ``fields`` but ``drop``, values ``Any`` unless ``typed``."""
    types, dropped = typed or {}, set(drop)
    make: Any = TypedDict
    return make(name, {f: types.get(f, Any) for f in fields if f not in dropped}, total=False)


#: the fields of a ContainerPort (kubernetes.client.V1ContainerPort)
CONTAINER_PORT_FIELDS = ("containerPort", "hostIP", "hostPort", "name", "protocol")

# Values from a closed set of the API (a condition's status, a port's protocol, a pod's phase) are
# decoded as Literals: msgspec then gives back one shared string per value — 8,000 pods' 40,000
# condition statuses are three objects instead of 40,000 copies of "True". A value outside the
# set fails validation, and the page is parsed whole and trimmed: the same answer.
_CONDITION_STATUS = Literal["True", "False", "Unknown"]
_PROTOCOL = Literal["TCP", "UDP", "SCTP"]
_POD_PHASE = Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"]


def _schemas() -> dict[str, Any]:
    ports = list.__class_getitem__(_typed_dict("ContainerPort", CONTAINER_PORT_FIELDS,
                                               {"protocol": _PROTOCOL}))
    containers = list.__class_getitem__(_typed_dict("Container", _CONTAINER_FIELDS, {"ports": ports}))
    init_containers = list.__class_getitem__(_typed_dict("InitContainer", _INIT_CONTAINER_FIELDS,
                                                         {"ports": ports}))
    pod_spec = _typed_dict("PodSpec", POD_SPEC_FIELDS, drop=_POD_SPEC_DROP,
                           typed={"containers": containers, "initContainers": init_containers})
    meta = _typed_dict("ObjectMeta", OBJECT_META_FIELDS, drop=_META_DROP, typed={
        "ownerReferences": list.__class_getitem__(_typed_dict("OwnerReference",
                                                              _OWNER_REFERENCE_FIELDS))})
    conditions = list.__class_getitem__(_typed_dict("Condition", _CONDITION_FIELDS,
                                                    {"status": _CONDITION_STATUS}))
    pod_status = _typed_dict("PodStatus", _POD_STATUS_FIELDS, {
        "phase": _POD_PHASE, "conditions": conditions,
        "containerStatuses": list.__class_getitem__(
            _typed_dict("ContainerStatus", _CONTAINER_STATUS_FIELDS, {
                "state": _typed_dict("ContainerState", _CONTAINER_STATE_FIELDS)}))})
    workload_status = _typed_dict("WorkloadStatus", WORKLOAD_STATUS_FIELDS, {"conditions": conditions},
                                  drop=_WORKLOAD_STATUS_DROP)
    template = _typed_dict("PodTemplate", ("metadata", "spec"), {"spec": pod_spec})
    pod = _typed_dict("Pod", OBJECT_FIELDS, {"metadata": meta, "spec": pod_spec, "status": pod_status})

    def workload(name: str, template: Any) -> Any:
        spec = _typed_dict(f"{name}Spec", WORKLOAD_SPEC_FIELDS, {"template": template},
                           drop=_WORKLOAD_SPEC_DROP)
        return _typed_dict(name, OBJECT_FIELDS, {"metadata": meta, "spec": spec,
                                                 "status": workload_status})

    event = _typed_dict("Event", EVENT_FIELDS, {
        "metadata": meta, "involvedObject": _typed_dict("ObjectReference", _EVENT_OBJECT_FIELDS)},
        drop=_EVENT_DROP)
    # a metadata list item: what trim_secret keeps, so that not even an annotation (kubectl's
    # last-applied copy holds a Secret's values) is built; apiVersion and kind are the list's
    secret_meta = _typed_dict("SecretMeta", SECRET_META_FIELDS)
    secret = _typed_dict("SecretMetadata", ("metadata",), {"metadata": secret_meta})
    return {k.PODS.key: pod, k.EVENTS.key: event, k.DEPLOYMENTS.key: workload("Deployment", template),
            k.REPLICA_SETS.key: workload("ReplicaSet", _typed_dict("PodTemplate", ("metadata",))),
            k.SECRETS.key: secret}


# Strings that repeat across objects (a revision's sidecar status annotation, images, proxy
# arguments) are kept as parsed: a pass that keeps one copy of each per page cost more client CPU
# (scale world: 0.04 s on the pods, 0.01 s on the ReplicaSets) than the page faults it saved took
# (4,700, ~18 MB).


class SlimListDecoder:
    """Parses a list page into what ``trim`` would leave of it, without building the rest.

    Raises ValueError (like a JSON parser) for what is not JSON.
    """

    def __init__(self, item: Any, trim: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        import msgspec

        page = _typed_dict("ListPage", ("apiVersion", "kind", "metadata", "items"),
                           {"items": list.__class_getitem__(item)})
        self._decoder = msgspec.json.Decoder(page)
        self._invalid = msgspec.ValidationError
        self._trim = trim

    def __call__(self, payload: bytes) -> dict[str, Any]:
        try:
            page: dict[str, Any] = self._decoder.decode(payload)
        except self._invalid:
            # valid JSON of another shape than the API's (a container that is not an object):
            # parsed whole, and trimmed as the trims do with such objects
            page = orjson.loads(payload)
            page["items"] = [self._trim(item) for item in page.get("items") or []]
            return page
        # what a TypedDict cannot drop: one annotation (kubectl's last-applied copy)
        _drop_last_applied(page.get("items") or ())
        return page


def slim_decoders() -> dict[str, SlimListDecoder]:
    """Per kind key, the decoder that trims while parsing (the kinds of :data:`DEFAULT_TRIMS` with a
    slim schema; the others are parsed whole, then trimmed)."""
    global _SLIM_DECODERS
    if _SLIM_DECODERS is None:
        schemas = _schemas()
        _SLIM_DECODERS = {key: SlimListDecoder(schemas[key], trim)
                          for key, trim in DEFAULT_TRIMS.items() if key in schemas}
    return _SLIM_DECODERS


_SLIM_DECODERS: dict[str, SlimListDecoder] | None = None


def read_snapshot(
    cluster: Cluster,
    kinds: Iterable[ResourceKind] = DIAGNOSIS_KINDS,
    *,
    namespace: str | None = None,
    selectors: Mapping[str, Mapping[str, str]] | None = None,
    page_size: int = 500,
    workers: int = 4,
    trims: Mapping[str, Callable[[RawObject], RawObject]] | None = None,
) -> Snapshot:
    """List every kind (cluster-wide, or in ``namespace``) into a snapshot.

    Args:
        kinds: what to read (default: everything the diagnosis needs).
        namespace: restrict namespaced kinds to one namespace (cluster-scoped kinds are read whole).
        selectors: per kind key, ``label_selector``/``field_selector`` to pass (defaults:
            :data:`DEFAULT_SELECTORS`).
        page_size: list page size (``limit``).
        workers: kinds read in parallel (each kind's pages are sequential, as continue tokens are).
        trims: per kind key, what to drop from each object (defaults: :data:`DEFAULT_TRIMS`,
            else :func:`trim_object`).

    Returns:
        A snapshot; kinds that could not be read are in ``unreadable`` with a one-line reason.
        Other errors (unreachable, unauthorized) are raised: nothing useful can be read then.
    """
    chosen = list(dict.fromkeys(kinds))
    sels = {**DEFAULT_SELECTORS, **(selectors or {})}
    all_trims = {**DEFAULT_TRIMS, **(trims or {})}
    decoders = slim_decoders()
    before = len(cluster.requests)
    snap = Snapshot(context=cluster.context, server=cluster.server,
                    read_at=datetime.now(UTC).isoformat(timespec="seconds"))

    def read(kind: ResourceKind) -> tuple[ResourceKind, list[RawObject] | str]:
        sel = sels.get(kind.key, {})
        try:
            trim = all_trims.get(kind.key, trim_object)
            # the decoder stands for a default trim only: a caller's own trim runs on whole objects
            decode = decoders.get(kind.key) if trim is DEFAULT_TRIMS.get(kind.key) else None
            items = cluster.list(kind, namespace if kind.namespaced else None,
                                 label_selector=sel.get("label_selector"),
                                 field_selector=sel.get("field_selector"),
                                 page_size=page_size,
                                 trim=None if decode else trim, decode=decode,
                                 accept=METADATA_LIST if kind.key in METADATA_ONLY else JSON)
        except Forbidden as exc:
            return kind, exc.one_line()
        except NotFound as exc:
            return kind, f"{kind.key} is not served by this cluster ({exc.message})"
        except ClusterError as exc:
            if exc.status in (401, 0):
                raise
            return kind, exc.one_line()
        return kind, items

    # Parsing a large list creates millions of objects that all stay alive: the cyclic GC would
    # scan them again and again (measured: 8,000 pods read in 1.9 s with it, 0.6 s without).
    # Nothing parsed from JSON forms a cycle; reference counting frees it all.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for kind, result in pool.map(read, chosen):
                if isinstance(result, str):
                    snap.unreadable[kind.key] = result
                else:
                    snap.objects[kind.key] = result
    finally:
        if was_enabled:
            # The snapshot is long-lived: hand what was parsed straight to the oldest generation
            # (gc.unfreeze puts frozen objects there) instead of letting the first young-
            # generation collection scan millions of survivors (0.4 s on the scale cluster).
            gc.freeze()
            gc.unfreeze()
            gc.enable()
    snap.requests = len(cluster.requests) - before
    return snap
