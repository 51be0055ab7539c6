"""parse_admission_error: every message shape the apiserver and controllers really print.

Each real message is quoted from the issue that shows it (found with the issues search), so the
parser is tested against what SREs paste, not only against our own composers.
"""

from __future__ import annotations

import pytest

from runbook.formats import admission as fmt
from runbook.formats.admission import parse_admission_error, rules_match
from runbook.statuses import ADMISSION_ERROR_KINDS

# (source, message, expected fields)
REAL = [
    ("field report (seed), composed as formats.md §5b",
     'Error creating: Internal error occurred: failed calling webhook "rev.namespace.sidecar-'
     'injector.istio.io": failed to call webhook: Post "https://istiod-1-18-5.istio-system.svc:443'
     '/inject?timeout=10s": service "istiod-1-18-5" not found',
     dict(webhook="rev.namespace.sidecar-injector.istio.io", error_kind="service_not_found",
          service="istiod-1-18-5", service_namespace="istio-system", port=443, path="/inject",
          timeout_seconds=10, legacy=False, cause='service "istiod-1-18-5" not found',
          url="https://istiod-1-18-5.istio-system.svc:443/inject")),
    ("istio/istio#43593 (also #41653, #47932)",
     'Error creating: Internal error occurred: failed calling webhook "namespace.sidecar-injector'
     '.istio.io": failed to call webhook: Post "https://istiod.istio-system.svc:443/inject?timeout'
     '=10s": context deadline exceeded',
     dict(webhook="namespace.sidecar-injector.istio.io", error_kind="timeout", service="istiod",
          service_namespace="istio-system", cause="context deadline exceeded")),
    ("istio/istio#12456 (pre-Go-1.14 apiserver: URL unquoted)",
     'Error creating: Internal error occurred: failed calling webhook "sidecar-injector.istio.io": '
     "Post https://istio-sidecar-injector.istio-system.svc:443/inject?timeout=30s: net/http: request"
     " canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)",
     dict(error_kind="timeout", service="istio-sidecar-injector", timeout_seconds=30, legacy=True,
          url="https://istio-sidecar-injector.istio-system.svc:443/inject")),
    ("istio/istio#12456",
     'Error creating: Internal error occurred: failed calling webhook "sidecar-injector.istio.io": '
     "Post https://istio-sidecar-injector.istio-system.svc:443/inject?timeout=30s: dial tcp "
     "10.243.225.152:443: i/o timeout",
     dict(error_kind="timeout", cause="dial tcp 10.243.225.152:443: i/o timeout")),
    ("istio/istio#13840 (old 'failed calling admission webhook' spelling)",
     'Error creating: Internal error occurred: failed calling admission webhook "sidecar-injector.'
     'istio.io": Post https://istio-sidecar-injector.istio-system.svc:443/inject?timeout=30s: '
     "context deadline exceeded",
     dict(webhook="sidecar-injector.istio.io", error_kind="timeout", legacy=True)),
    ("istio/istio#16363",
     'Error creating: Internal error occurred: failed calling webhook "sidecar-injector.istio.io": '
     "Post https://istio-sidecar-injector.istio-system.svc:443/inject?timeout=30s: x509: "
     "certificate signed by unknown authority",
     dict(error_kind="tls", cause="x509: certificate signed by unknown authority")),
    ("istio/istio#6186 (no ?timeout, quotes inside the cause)",
     'Error creating: Internal error occurred: failed calling admission webhook "sidecar-injector.'
     'istio.io": Post https://istio-sidecar-injector.istio-system.svc:443/inject: x509: '
     'certificate signed by unknown authority (possibly because of "crypto/rsa: verification '
     'error" while trying to verify candidate authority certificate "k8s.cluster.local")',
     dict(error_kind="tls", timeout_seconds=None, path="/inject", legacy=True)),
    ("istio/istio#7409",
     'Error creating: Internal error occurred: failed calling admission webhook "sidecar-injector.'
     'istio.io": Post https://is-sidecar.control.svc:443/inject?timeout=30s: x509: certificate is '
     "not valid for any names, but wanted to match is-sidecar.control.svc",
     dict(error_kind="tls", service="is-sidecar", service_namespace="control")),
    ("debianmaster/openshift-examples#77 (OpenShift deployer pod)",
     'Error creating deployer pod: Internal error occurred: failed calling admission webhook '
     '"sidecar-injector.istio.io": Post https://istio-sidecar-injector.istio-system.svc:443/inject'
     "?timeout=30s: dial tcp 172.30.44.20:443: connect: connection refused",
     dict(error_kind="connection_refused")),
    ("istio/istio#8182 (wrapped over lines in a YAML status)",
     'Internal error occurred: failed calling admission webhook "sidecar-injector.istio.io":\n'
     "      Post https://istio-sidecar-injector.istio-system.svc:443/inject: dial tcp "
     "10.254.156.130:443:\n      getsockopt: connection refused",
     dict(error_kind="connection_refused", url="https://istio-sidecar-injector.istio-system.svc:443/inject")),
    ("istio/istio#18009",
     'Internal error occurred: failed calling webhook "sidecar-injector.istio.io": Post https://'
     "istio-sidecar-injector.istio-system.svc:443/inject?timeout=30s: ssh: rejected: connect "
     "failed (Connection refused)",
     dict(error_kind="connection_refused")),
    ("istio/istio#38930",
     'Internal error occurred: failed calling webhook "validation.istio.io": Post "https://istiod.'
     'istio-system.svc:443/validate?timeout=10s": no endpoints available for service "istiod"',
     dict(webhook="validation.istio.io", error_kind="no_endpoints", path="/validate")),
    ("istio/istio#38930 (as logged, with escaped quotes)",
     'message:Error: "Internal error occurred: failed calling webhook \\"validation.istio.io\\": '
     'Post \\"https://istiod.istio-system.svc:443/validate?timeout=10s\\": no endpoints available '
     'for service \\"istiod\\""',
     dict(webhook="validation.istio.io", error_kind="no_endpoints", service="istiod")),
    ("istio/istio#7746 (kubectl apply output)",
     'Error from server (InternalError): error when creating "https://storage.googleapis.com/'
     'knative-releases/serving/latest/istio.yaml": Internal error occurred: failed calling '
     'admission webhook "mixer.validation.istio.io": Post https://istio-galley.istio-system.svc:443'
     '/admitmixer?timeout=30s: no endpoints available for service "istio-galley"',
     dict(webhook="mixer.validation.istio.io", error_kind="no_endpoints", service="istio-galley",
          path="/admitmixer")),
    ("istio/istio#21046 (endpoint resolver)",
     'Internal error occurred: failed calling webhook "validation.istio.io": Post https://istiod.'
     'istio-system.svc:443/validate?timeout=30s: endpoints "istiod" not found',
     dict(error_kind="no_endpoints")),
    ("istio/istio#28216 (unquoted URL, service missing)",
     'Internal error occurred: failed calling webhook "validation.istio.io": Post https://istiod.'
     'istio-system.svc:443/validate?timeout=30s: service "istiod" not found',
     dict(error_kind="service_not_found", service="istiod", legacy=True)),
    ("PrefectHQ/prefect-helm#220 (StatefulSet controller)",
     "create Pod prefect-server-postgresql-0 in StatefulSet prefect-server-postgresql failed error:"
     ' Internal error occurred: failed calling webhook "namespace.sidecar-injector.istio.io": '
     'failed to call webhook: Post "https://istiod.istio-system.svc:443/inject?timeout=10s": '
     'service "istiod" not found',
     dict(error_kind="service_not_found", pod="prefect-server-postgresql-0",
          statefulset="prefect-server-postgresql", service="istiod")),
    ("canonical/bundle-kubeflow#386 (reissued event, escaped quotes)",
     'Reissued from statefulset/test: create Pod test-0 in StatefulSet test failed error: Internal '
     'error occurred: failed calling webhook \\"sidecar-injector.istio.io\\": Post \\"https://'
     'istiod.kubeflow.svc:443/inject?timeout=30s\\": service \\"istiod\\" not found',
     dict(error_kind="service_not_found", pod="test-0", statefulset="test",
          service_namespace="kubeflow")),
    ("kserve/kserve#580 (a non-Istio webhook)",
     "create Pod application-controller-stateful-set-0 in StatefulSet application-controller-"
     'stateful-set failed error: Internal error occurred: failed calling webhook "inferenceservice.'
     'kfserving-webhook-server.pod-mutator": Post https://kfserving-webhook-server-service.kubeflow'
     '.svc:443/mutate-pods?timeout=30s: service "kfserving-webhook-server-service" not found',
     dict(webhook="inferenceservice.kfserving-webhook-server.pod-mutator",
          error_kind="service_not_found", path="/mutate-pods")),
    ("istio/istio#48098 (proxy answered 500: 'Internal Server Error')",
     'Internal error occurred: failed calling webhook "namespace.sidecar-injector.istio.io": failed'
     ' to call webhook: Post "https://istiod.istio-system.svc:443/inject?timeout=10s": Internal '
     "Server Error",
     dict(error_kind="other", cause="Internal Server Error", service="istiod")),
    ("istio/istio#35725",
     'Error creating: Internal error occurred: failed calling webhook "sidecar-injector.istio.io": '
     'Post "https://istiod.istio-system.svc:443/inject?timeout=30s": unexpected EOF',
     dict(error_kind="other", cause="unexpected EOF", legacy=False)),
    ("istio/istio#45014 (multicluster injection path)",
     'failed calling webhook "namespace.sidecar-injector.istio.io": failed to call webhook: Post '
     '"https://istiod.istio-system.svc:443/inject/cluster/cluster2/net/network1?timeout=10s": '
     'unsupported service type "ExternalName"',
     dict(error_kind="other", path="/inject/cluster/cluster2/net/network1")),
    ("istio/istio#15838",
     'Internal error occurred: failed calling admission webhook "sidecar-injector.istio.io":\n'
     "Post https://istio-sidecar-injector.istio-system.svc:443/inject: dial tcp 10.0.0.101:443:\n"
     "connect: network unreachable",
     dict(error_kind="other", cause="dial tcp 10.0.0.101:443: connect: network unreachable")),
    ("knative/serving#13045 (a non-Istio webhook, apiserver log)",
     'Internal error occurred: failed calling webhook "webhook.serving.knative.dev": failed to call'
     ' webhook: Post "https://webhook.knative-serving.svc:443/defaulting?timeout=10s": context '
     "deadline exceeded",
     dict(service="webhook", service_namespace="knative-serving", error_kind="timeout")),
    ("bank-vaults/bank-vaults#286 (no URL at all)",
     'Internal error occurred: failed calling admission webhook "pods.vault-secrets-webhook.'
     'admission.banzaicloud.com": the server could not find the requested resource',
     dict(error_kind="other", url=None, service=None,
          cause="the server could not find the requested resource")),
    ("kelseyhightower/grafeas-tutorial#8 (denied)",
     'Error from server: error when creating "pods/echod.yaml": admission webhook '
     '"image-signature.hightowerlabs.com" denied the request without explanation',
     dict(webhook="image-signature.hightowerlabs.com", error_kind="denied",
          cause="without explanation")),
]


@pytest.mark.parametrize(("source", "message", "expected"), REAL, ids=[r[0] for r in REAL])
def test_real_messages(source: str, message: str, expected: dict[str, object]) -> None:
    err = parse_admission_error(message)
    assert err is not None, source
    for key, value in expected.items():
        assert getattr(err, key) == value, f"{source}: {key}"
    assert err.error_kind in ADMISSION_ERROR_KINDS


@pytest.mark.parametrize("message", [
    # stackrox/admission-controller-webhook-demo#2: the apiserver gave up without naming a webhook
    "Error creating: Timeout: request did not complete within requested timeout 30s",
    # kubernetes/kubernetes#55924: the early bug that dropped the webhook's reason
    "Error creating: ",
    "Created pod: details-v1-5f4d584748-xww9x",
    'Error creating: pods "x" is forbidden: exceeded quota: compute',
])
def test_messages_without_a_webhook(message: str) -> None:
    assert parse_admission_error(message) is None


def test_no_further_details() -> None:
    # ErrCallingWebhook without a reason (formats.md §5b)
    err = parse_admission_error('Error creating: Internal error occurred: failed calling webhook '
                                '"rev.namespace.sidecar-injector.istio.io"; no further details '
                                'available')
    assert err is not None
    assert (err.error_kind, err.cause, err.url) == ("other", "no further details available", None)


def test_invalid_response() -> None:
    msg = fmt.internal_error('failed calling webhook "w.example.com": received invalid webhook '
                             'response: expected response.uid="a", got "b"')
    err = parse_admission_error(msg)
    assert err is not None and err.error_kind == "invalid_response"


@pytest.mark.parametrize(("cause", "kind"), [
    (fmt.service_not_found("istiod-1-18-5"), "service_not_found"),
    (fmt.no_endpoints("istiod"), "no_endpoints"),
    (fmt.no_service_port(443, "istiod"), "other"),
    ("context deadline exceeded", "timeout"),
    ("dial tcp 10.0.0.1:15017: connect: connection refused", "connection_refused"),
    ("tls: failed to verify certificate: x509: certificate signed by unknown authority", "tls"),
])
def test_round_trip_with_the_composers(cause: str, kind: str) -> None:
    url = fmt.webhook_service_url("istiod", "istio-prod", 443, "/inject")
    message = fmt.failed_create(fmt.internal_error(
        fmt.webhook_call_failed("rev.namespace.sidecar-injector.istio.io", url, cause, 7)))
    err = parse_admission_error(message)
    assert err is not None
    assert (err.webhook, err.error_kind, err.cause) == (
        "rev.namespace.sidecar-injector.istio.io", kind, cause)
    assert (err.service, err.service_namespace, err.port, err.path, err.timeout_seconds) == (
        "istiod", "istio-prod", 443, "/inject", 7)


def test_denied_composed() -> None:
    err = parse_admission_error(fmt.failed_create(fmt.webhook_denied(
        "validation.gatekeeper.sh", "[must-have-owner] you must provide labels: {\"owner\"}")))
    assert err is not None
    assert (err.error_kind, err.webhook) == ("denied", "validation.gatekeeper.sh")
    assert err.cause.startswith("[must-have-owner]")


def test_url_webhook_has_no_service() -> None:
    err = parse_admission_error('failed calling webhook "remote.sidecar-injector.istio.io": failed'
                                ' to call webhook: Post "https://istiod.example.com:15017/inject/'
                                'cluster/c1/net/n1?timeout=10s": context deadline exceeded')
    assert err is not None
    assert err.service is None and err.service_namespace is None
    assert err.url == "https://istiod.example.com:15017/inject/cluster/c1/net/n1"


def pod_create(rules: list[dict[str, object]] | None) -> bool:
    return rules_match(rules, operation="CREATE", group="", version="v1", resource="pods")


@pytest.mark.parametrize(("rule", "matches"), [
    ({"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"],
      "scope": "*"}, True),
    ({"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]},
     True),  # scope defaults to "*"
    ({"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": ["*"]}, True),
    ({"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": ["*/*"]}, True),
    ({"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["pods"]},
     False),
    ({"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE"],
      "resources": ["pods"]}, False),
    ({"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
      "resources": ["pods/status"]}, False),
    ({"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"],
      "scope": "Cluster"}, False),
    # the Istio validator's rules: networking.istio.io objects, never pods
    ({"apiGroups": ["networking.istio.io"], "apiVersions": ["*"], "operations": ["CREATE"],
      "resources": ["*"]}, False),
])
def test_rules_match_pod_create(rule: dict[str, object], matches: bool) -> None:
    assert pod_create([rule]) is matches


def test_rules_subresources() -> None:
    # upstream Matcher.resource(): each half of "res/sub" matches exactly or by "*"
    rule = {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
            "resources": ["pods/*"]}
    assert rules_match([rule], operation="CREATE", group="", version="v1", resource="pods",
                       subresource="exec")
    assert pod_create([rule])  # "*" also matches the empty subresource of pods itself
    status = {**rule, "resources": ["*/status"]}
    assert rules_match([status], operation="CREATE", group="", version="v1", resource="pods",
                       subresource="status")
    assert not pod_create([status])
    star = {**rule, "resources": ["*"]}
    assert not rules_match([star], operation="CREATE", group="", version="v1", resource="pods",
                           subresource="exec")
    assert not pod_create([])
    assert not pod_create(None)
