"""Label and annotation keys with a meaning in Istio or Kubernetes (formats.md §3, §6, §7)."""

# Namespace / pod labels that select an injector webhook.
REV_LABEL = "istio.io/rev"                  # revision or tag name (namespace, pod, config, webhook)
INJECTION_LABEL = "istio-injection"         # "enabled"/"disabled": the default revision's label
DATAPLANE_MODE_LABEL = "istio.io/dataplane-mode"  # "ambient": the namespace is in the ambient mesh
INJECT_POD_LABEL = "sidecar.istio.io/inject"  # per-pod opt in/out ("true"/"false")
TAG_LABEL = "istio.io/tag"                  # on a revision-tag MutatingWebhookConfiguration

# Set by injection.
SIDECAR_STATUS_ANNOTATION = "sidecar.istio.io/status"  # JSON with "revision": the injecting rev
REV_ANNOTATION = "istio.io/rev"             # annotation added by the injection template
TLS_MODE_LABEL = "security.istio.io/tlsMode"
CANONICAL_NAME_LABEL = "service.istio.io/canonical-name"
CANONICAL_REVISION_LABEL = "service.istio.io/canonical-revision"

# Control plane and gateway workloads.
ISTIOD_APP = "istiod"                       # app=istiod on istiod Deployments and pods
INGRESS_GATEWAY_LABEL = "istio"             # istio=ingressgateway on gateway pods/services
INJECTOR_APP = "sidecar-injector"           # app=sidecar-injector on injector webhooks

# Kubernetes controllers.
POD_TEMPLATE_HASH = "pod-template-hash"
DEPLOYMENT_REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"

DEFAULT_REVISION = "default"
