"""The columns of each built-in kind's Table, with the Go types' swagger docs as descriptions."""

from __future__ import annotations

from typing import Any

# ages and timestamps as kubectl shows them, shared with the client side (runbook.formats.kubectl)

Column = dict[str, Any]
Row = dict[str, Any]

DOCS: dict[str, str] = {
    "name": (
        "Name must be unique within a namespace. Is required when creating resources, although some "
        "resources may allow a client to request the generation of an appropriate name automatically. "
        "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
        "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-"
        "objects/names#names"
    ),
    "creationTimestamp": (
        "CreationTimestamp is a timestamp representing the server time when this object was created. It "
        "is not guaranteed to be set in happens-before order across separate operations. Clients may not "
        "set this value. It is represented in RFC3339 form and is in UTC.  Populated by the system. Read-"
        "only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-"
        "architecture/api-conventions.md#metadata"
    ),
    "podIP": (
        "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet "
        "allocated."
    ),
    "nodeName": (
        "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for "
        "scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for "
        "this node becomes responsible for the lifecycle of this pod. This field should not be used to "
        "express a desire for the pod to be scheduled on a specific node. "
        "https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename"
    ),
    "nominatedNodeName": (
        "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be "
        "scheduled right away as preemption victims receive their graceful termination periods. This "
        "field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to "
        "place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to "
        "give the resources on this node to a higher priority pod that is created after preemption. As a "
        "result, this field may be different than PodSpec.nodeName when the pod is scheduled."
    ),
    "readinessGates": (
        "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all "
        "its containers are ready AND all conditions specified in the readiness gates have status equal "
        "to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates"
    ),
    "rs.spec.replicas": (
        "Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero "
        "and unspecified. Defaults to 1. More info: "
        "https://kubernetes.io/docs/concepts/workloads/controllers/replicaset"
    ),
    "rs.status.replicas": (
        "Replicas is the most recently observed number of non-terminating pods. More info: "
        "https://kubernetes.io/docs/concepts/workloads/controllers/replicaset"
    ),
    "rs.status.readyReplicas": (
        "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition."
    ),
    "rs.spec.selector": (
        "Selector is a label query over pods that should match the replica count. Label keys and values "
        "that must match in order to be controlled by this replica set. It must match the pod template's "
        "labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-"
        "objects/labels/#label-selectors"
    ),
    "svc.type": (
        "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are "
        "ExternalName, ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" allocates a cluster-internal IP"
        " address for load-balancing to endpoints. Endpoints are determined by the selector or if that is"
        " not specified, by manual construction of an Endpoints object or EndpointSlice objects. If "
        "clusterIP is \"None\", no virtual IP is allocated and the endpoints are published as a set of "
        "endpoints rather than a virtual IP. \"NodePort\" builds on ClusterIP and allocates a port on every"
        " node which routes to the same endpoints as the clusterIP. \"LoadBalancer\" builds on NodePort and"
        " creates an external load-balancer (if supported in the current cloud) which routes to the same "
        "endpoints as the clusterIP. \"ExternalName\" aliases this service to the specified externalName. "
        "Several other fields do not apply to ExternalName services. More info: "
        "https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-"
        "types"
    ),
    "svc.clusterIP": (
        "clusterIP is the IP address of the service and is usually assigned randomly. If an address is "
        "specified manually, is in-range (as per system configuration), and is not in use, it will be "
        "allocated to the service; otherwise creation of the service will fail. This field may not be "
        "changed through updates unless the type field is also being changed to ExternalName (which "
        "requires this field to be blank) or the type field is being changed from ExternalName (in which "
        "case this field may optionally be specified, as describe above).  Valid values are \"None\", empty"
        " string (\"\"), or a valid IP address. Setting this to \"None\" makes a \"headless service\" (no "
        "virtual IP), which is useful when direct endpoint connections are preferred and proxying is not "
        "required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If this field is "
        "specified when creating a Service of type ExternalName, creation will fail. This field will be "
        "wiped when updating a Service to type ExternalName. More info: "
        "https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies"
    ),
    "svc.externalIPs": (
        "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic "
        "for this service.  These IPs are not managed by Kubernetes.  The user is responsible for "
        "ensuring that traffic arrives at a node with this IP.  A common example is external load-"
        "balancers that are not part of the Kubernetes system."
    ),
    "svc.ports": (
        "The list of ports that are exposed by this service. More info: "
        "https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies"
    ),
    "svc.selector": (
        "Route service traffic to pods with label keys and values matching this selector. If empty or not"
        " present, the service is assumed to have an external process managing its endpoints, which "
        "Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored"
        " if type is ExternalName. More info: https://kubernetes.io/docs/concepts/services-"
        "networking/service/"
    ),
    "ep.subsets": (
        "The set of all endpoints is the union of all subsets. Addresses are placed into subsets "
        "according to the IPs they share. A single address with multiple ports, some of which are ready "
        "and some of which are not (because they come from different containers) will result in the "
        "address being displayed in different subsets for the different ports. No address will appear in "
        "both Addresses and NotReadyAddresses in the same subset. Sets of addresses and ports that "
        "comprise a service."
    ),
    "ev.lastTimestamp": (
        "The time at which the most recent occurrence of this event was recorded."
    ),
    "ev.type": (
        "Type of this event (Normal, Warning), new types could be added in the future"
    ),
    "ev.reason": (
        "This should be a short, machine understandable string that gives the reason for the transition "
        "into the object's current status."
    ),
    "ev.involvedObject": (
        "The object that this event is about."
    ),
    "ev.fieldPath": (
        "If referring to a piece of an object instead of an entire object, this string should contain a "
        "valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, "
        "if the object reference is to a container within a pod, this would take on a value like: "
        "\"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the "
        "event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this"
        " pod). This syntax is chosen only to have some well-defined way of referencing a part of an "
        "object."
    ),
    "ev.source": (
        "The component reporting this event. Should be a short machine understandable string."
    ),
    "ev.message": (
        "A human-readable description of the status of this operation."
    ),
    "ev.firstTimestamp": (
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)"
    ),
    "ev.count": (
        "The number of times this event has occurred."
    ),
    "secret.type": (
        "Used to facilitate programmatic handling of secret data. More info: "
        "https://kubernetes.io/docs/concepts/configuration/secret/#secret-types"
    ),
    "secret.data": (
        "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or "
        "'.'. The serialized form of the secret data is a base64 encoded string, representing the "
        "arbitrary (possibly non-string) data value here. Described in "
        "https://tools.ietf.org/html/rfc4648#section-4"
    ),
    "sa.secrets": (
        "Secrets is a list of the secrets in the same namespace that pods running using this "
        "ServiceAccount are allowed to use. Pods are only limited to this list if this service account "
        "has a \"kubernetes.io/enforce-mountable-secrets\" annotation set to \"true\". The "
        "\"kubernetes.io/enforce-mountable-secrets\" annotation is deprecated since v1.32. Prefer separate "
        "namespaces to isolate access to mounted secrets. This field should not be used to find auto-"
        "generated service account token secrets for use outside of pods. Instead, tokens can be "
        "requested directly using the TokenRequest API, or service account token secrets can be manually "
        "created. More info: https://kubernetes.io/docs/concepts/configuration/secret"
    ),
    "node.kubeletVersion": (
        "Kubelet Version reported by the node."
    ),
    "node.addresses": (
        "List of addresses reachable to the node. Queried from cloud provider, if available. More info: "
        "https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as"
        " mergeable, but the merge key is not sufficiently unique, which can cause data corruption when "
        "it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 "
        "for an example. Consumers should assume that addresses can change during the lifetime of a Node."
        " However, there are some exceptions where this may not be possible, such as Pods that inherit a "
        "Node's address in its own status or consumers of the downward API (status.hostIP)."
    ),
    "node.osImage": (
        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."
    ),
    "node.kernelVersion": (
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."
    ),
    "node.containerRuntimeVersion": (
        "ContainerRuntime Version reported by the node through runtime remote API (e.g. "
        "containerd://1.4.2)."
    ),
    "deploy.updatedReplicas": (
        "Total number of non-terminating pods targeted by this deployment that have the desired template "
        "spec."
    ),
    "deploy.availableReplicas": (
        "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by "
        "this deployment."
    ),
    "deploy.selector": (
        "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones "
        "affected by this deployment. It must match the pod template's labels."
    ),
    "cm.data": (
        "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_'"
        " or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in "
        "Data must not overlap with the keys in the BinaryData field, this is enforced during validation "
        "process."
    ),
}




def _col(name: str, doc: str, type_: str = "string", *, priority: int = 0,
         fmt: str = "") -> Column:
    return {"name": name, "type": type_, "format": fmt, "description": DOCS.get(doc, doc),
            "priority": priority}


NAME_COLUMN = _col("Name", "name", fmt="name")
_AGE = _col("Age", "creationTimestamp")
_CONTAINERS = "Names of each container in the template."
_IMAGES = "Images referenced by each container in the template."

COLUMNS: dict[str, list[Column]] = {
    "pods": [
        NAME_COLUMN,
        _col("Ready", "The aggregate readiness state of this pod for accepting traffic."),
        _col("Status", "The aggregate status of the containers in this pod."),
        _col("Restarts", "The number of times the containers in this pod have been restarted and "
             "when the last container in this pod has restarted."),
        _AGE,
        _col("IP", "podIP", priority=1),
        _col("Node", "nodeName", priority=1),
        _col("Nominated Node", "nominatedNodeName", priority=1),
        _col("Readiness Gates", "readinessGates", priority=1),
    ],
    "deployments.apps": [
        NAME_COLUMN,
        _col("Ready", "Number of the pod with ready state"),
        _col("Up-to-date", "deploy.updatedReplicas"),
        _col("Available", "deploy.availableReplicas"),
        _AGE,
        _col("Containers", _CONTAINERS, priority=1),
        _col("Images", _IMAGES, priority=1),
        _col("Selector", "deploy.selector", priority=1),
    ],
    "replicasets.apps": [
        NAME_COLUMN,
        _col("Desired", "rs.spec.replicas", "integer"),
        _col("Current", "rs.status.replicas", "integer"),
        _col("Ready", "rs.status.readyReplicas", "integer"),
        _AGE,
        _col("Containers", _CONTAINERS, priority=1),
        _col("Images", _IMAGES, priority=1),
        _col("Selector", "rs.spec.selector", priority=1),
    ],
    "services": [
        NAME_COLUMN,
        _col("Type", "svc.type"),
        _col("Cluster-IP", "svc.clusterIP"),
        _col("External-IP", "svc.externalIPs"),
        _col("Port(s)", "svc.ports"),
        _AGE,
        _col("Selector", "svc.selector", priority=1),
    ],
    "endpoints": [NAME_COLUMN, _col("Endpoints", "ep.subsets"), _AGE],
    "endpointslices.discovery.k8s.io": [
        NAME_COLUMN,
        _col("AddressType", "eps.addressType"),
        _col("Ports", "eps.ports"),
        _col("Endpoints", "eps.endpoints"),
        _AGE,
    ],
    "resourcequotas": [NAME_COLUMN, _AGE, _col("Request", "quota.request"),
                       _col("Limit", "quota.limit")],
    "events": [
        _col("Last Seen", "ev.lastTimestamp"),
        _col("Type", "ev.type"),
        _col("Reason", "ev.reason"),
        _col("Object", "ev.involvedObject"),
        _col("Subobject", "ev.fieldPath", priority=1),
        _col("Source", "ev.source", priority=1),
        _col("Message", "ev.message"),
        _col("First Seen", "ev.firstTimestamp", priority=1),
        _col("Count", "ev.count", priority=1),
        _col("Name", "name", priority=1, fmt="name"),
    ],
    "namespaces": [NAME_COLUMN, _col("Status", "The status of the namespace"), _AGE],
    "nodes": [
        NAME_COLUMN,
        _col("Status", "The status of the node"),
        _col("Roles", "The roles of the node"),
        _AGE,
        _col("Version", "node.kubeletVersion"),
        _col("Internal-IP", "node.addresses", priority=1),
        _col("External-IP", "node.addresses", priority=1),
        _col("OS-Image", "node.osImage", priority=1),
        _col("Kernel-Version", "node.kernelVersion", priority=1),
        _col("Container-Runtime", "node.containerRuntimeVersion", priority=1),
    ],
    "serviceaccounts": [NAME_COLUMN, _col("Secrets", "sa.secrets"), _AGE],
    "configmaps": [NAME_COLUMN, _col("Data", "cm.data"), _AGE],
    "secrets": [NAME_COLUMN, _col("Type", "secret.type"), _col("Data", "secret.data"), _AGE],
}
_WEBHOOK_COLUMNS = [NAME_COLUMN, _col("Webhooks", "Webhooks indicates the number of webhooks "
                                "registered in this configuration", "integer"), _AGE]
COLUMNS["mutatingwebhookconfigurations.admissionregistration.k8s.io"] = _WEBHOOK_COLUMNS
COLUMNS["validatingwebhookconfigurations.admissionregistration.k8s.io"] = _WEBHOOK_COLUMNS
COLUMNS["events.events.k8s.io"] = COLUMNS["events"]
#: rest.NewDefaultTableConvertor, used for CRDs and any kind without a printer
DEFAULT_COLUMNS = [NAME_COLUMN, _col("Created At", "creationTimestamp", "date")]
