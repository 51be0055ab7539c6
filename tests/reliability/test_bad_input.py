"""Bad input across the command line, the Python API and notebook parameters, refused cleanly.

Each row gives the input, the expected exit status (command line) or exception class / failed row
(Python), and a substring of the expected message; the test also proves that the message is one
line with a hint (what to do), holds no traceback and no credential, and that nothing in the
cluster changed (the sandbox store's resourceVersion before and after).
"""

from __future__ import annotations

import base64
import contextlib
import io
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import runbook.cli as cli
from runbook.errors import (
    ConfigError,
    FixError,
    InputError,
    ManifestError,
    NotFound,
    ProbeError,
    RunbookError,
    Unauthorized,
    Unreachable,
)
from runbook.fix import (
    recreate_workloads,
    relabel_namespace,
    retarget_webhook,
    set_tag_revision,
)
from runbook.kube import Cluster, connect
from runbook.kube.apply import apply_manifests
from runbook.mesh.observe import confirm_push
from runbook.probe.address import ingress_address
from runbook.probe.http import probe
from runbook.sandbox import Sandbox
from tests.probe.conftest import start_backend, stop_backend

from .conftest import FAST_RETRY, Ledger, assert_one_clear_line

TAG = "istio-revision-tag-prod-canary"
EXPIRED_TOKEN = "expired-token-" + "x7Rq2" * 6


@dataclass
class Env:
    """What a row may use: the sandbox, a connection, bad files and kubeconfigs."""

    sb: Sandbox
    cluster: Cluster
    readonly: Cluster
    files: dict[str, Path]
    kubeconfigs: dict[str, Path]
    closed_port: int

    def kc(self, name: str = "good", context: str = "sandbox") -> list[str]:
        return ["--kubeconfig", str(self.kubeconfigs[name]), "--context", context]


@dataclass(frozen=True)
class Outcome:
    """What happened: an exit status (CLI) or an exception class name (Python), and the line."""

    result: str
    message: str


def cli_run(*argv: str) -> Outcome:
    """``runbook …`` in-process: exit status and the stderr line (argparse's exit too)."""
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = cli.main(list(argv))
        except SystemExit as exc:  # argparse refuses before main's handler
            code = int(exc.code or 0)
    lines = [ln for ln in err.getvalue().splitlines() if not ln.startswith("running ")]
    if code == 1:  # the command ran and found failures (a probe): they are in its output
        lines = out.getvalue().splitlines()
    return Outcome(f"exit {code}", "\n".join(lines))


def py_run(fn: Callable[[], Any]) -> Outcome:
    """A Python call that must raise a RunbookError."""
    try:
        fn()
    except RunbookError as exc:
        return Outcome(type(exc).__name__, str(exc))
    return Outcome("no error", "")


def apply_row(env: Env, name: str, **kwargs: Any) -> Outcome:
    """apply_manifests on a bad file: the refusal is a row (one line), not an exception."""
    try:
        rows = apply_manifests(env.cluster, env.files[name], **kwargs)
    except RunbookError as exc:
        return Outcome(type(exc).__name__, str(exc))
    failed = rows[rows.action == "failed"]
    assert set(rows.action) <= {"failed", "not-applied"}, rows.to_dict("records")
    return Outcome("failed row", str(failed.error.iloc[0]) if len(failed) else "")


# (id, surface, input shown in the report, run, expected result, expected message part)
Row = tuple[str, str, str, Callable[[Env], Outcome], str, str]
ROWS: list[Row] = [
    # ---------------------------------------------------------------- kubeconfig and cluster
    ("missing-kubeconfig", "CLI", "runbook inventory --kubeconfig /nonexistent",
     lambda e: cli_run("inventory", "--kubeconfig", "/nonexistent/kubeconfig"), "exit 2",
     "does not exist"),
    ("malformed-kubeconfig", "CLI", "runbook inventory --kubeconfig <unclosed YAML>",
     lambda e: cli_run("inventory", *e.kc("malformed")), "exit 2", "cannot be read"),
    ("kubeconfig-not-a-mapping", "Python", "connect('<a YAML list>')",
     lambda e: py_run(lambda: connect(e.kubeconfigs["list"], None)), "ConfigError",
     "is not a kubeconfig"),
    ("unknown-context", "CLI", "runbook diagnose --context prod-eu",
     lambda e: cli_run("diagnose", *e.kc("good", "prod-eu")), "exit 2",
     "context 'prod-eu' not found"),
    ("no-current-context", "Python", "connect(<kubeconfig without current-context>, None)",
     lambda e: py_run(lambda: connect(e.kubeconfigs["nocurrent"], None)), "ConfigError",
     "has no current-context"),
    ("unreachable-server", "CLI", "runbook inventory (server https://127.0.0.1:<closed>)",
     lambda e: cli_run("inventory", *e.kc("unreachable")), "exit 2", "connection refused"),
    ("expired-token-401", "CLI", "runbook diagnose (expired bearer token)",
     lambda e: cli_run("diagnose", *e.kc("expired")), "exit 2", "unauthorized"),
    ("wrong-ca", "Python", "connect(<kubeconfig with another CA>)",
     lambda e: py_run(lambda: connect(e.kubeconfigs["wrong-ca"], "sandbox", retry=FAST_RETRY)),
     "Unreachable", "TLS verification failed"),
    ("insecure-skip-tls-verify", "Python", "connect(<insecure-skip-tls-verify: true, no CA>)",
     lambda e: py_run(lambda: connect(e.kubeconfigs["insecure"], "sandbox", retry=FAST_RETRY)),
     "Unreachable", "TLS verification failed"),
    ("forbidden-403", "Python", "retarget_webhook(...).apply() as sandbox-readonly",
     lambda e: py_run(lambda: retarget_webhook(e.readonly, TAG, "istio-canary").apply(
         e.readonly, confirm="sandbox-readonly")), "FixError",
     "forbidden: cannot update mutatingwebhookconfigurations.admissionregistration.k8s.io at "
     "cluster scope in context 'sandbox-readonly'"),
    ("confirmation-missing", "Python", "retarget_webhook(...).apply() without confirm=",
     lambda e: py_run(lambda: retarget_webhook(e.cluster, TAG, "istio-canary").apply(e.cluster)),
     "ConfirmationRequired", "confirm by passing confirm='sandbox'"),
    # ---------------------------------------------------------------- namespaces, webhooks, services
    ("missing-namespace-diagnose", "CLI", "runbook diagnose -n l7-traffic-gamma",
     lambda e: cli_run("diagnose", *e.kc(), "-n", "l7-traffic-gamma"), "exit 2",
     "namespace 'l7-traffic-gamma' does not exist"),
    ("missing-namespace-relabel", "Python", "relabel_namespace(cluster, 'ghost', '1-19-3')",
     lambda e: py_run(lambda: relabel_namespace(e.cluster, "ghost", "1-19-3")), "InputError",
     "namespace 'ghost' does not exist"),
    ("missing-namespace-recreate", "Python", "recreate_workloads(cluster, 'ghost')",
     lambda e: py_run(lambda: recreate_workloads(e.cluster, "ghost")), "NotFound",
     'namespaces "ghost" not found'),
    ("missing-namespace-apply", "Python", "apply_manifests(<ConfigMap in namespace ghost>)",
     lambda e: apply_row(e, "in-ghost"), "failed row", 'namespaces "ghost" not found'),
    ("missing-webhook", "Python", "retarget_webhook(cluster, 'no-such-webhook', ...)",
     lambda e: py_run(lambda: retarget_webhook(e.cluster, "no-such-webhook", "istio-canary")),
     "NotFound", '"no-such-webhook" not found'),
    ("unknown-webhook-name", "Python", "retarget_webhook(..., webhooks=['nope'])",
     lambda e: py_run(lambda: retarget_webhook(e.cluster, TAG, "istio-canary",
                                               webhooks=["nope"])),
     "InputError", "has no webhook named nope"),
    ("missing-gateway-service", "Python", "ingress_address(cluster, 'no-such-gateway')",
     lambda e: py_run(lambda: ingress_address(e.cluster, "no-such-gateway", "istio-prod")),
     "InputError", "no Service istio-prod/no-such-gateway"),
    ("missing-gateway-for-push", "Python", "confirm_push(cluster, 'Gateway', 'nope', ns)",
     lambda e: py_run(lambda: confirm_push(e.cluster, "Gateway", "nope", "l7-traffic-alpha",
                                           timeout=0)), "NotFound", '"nope" not found'),
    ("unknown-tag", "Python", "set_tag_revision(cluster, 'nope', '1-19-3')",
     lambda e: py_run(lambda: set_tag_revision(e.cluster, "nope", "1-19-3")), "InputError",
     "revision tag 'nope' not found"),
    ("unknown-revision", "Python", "set_tag_revision(cluster, 'prod-canary', '9-9-9')",
     lambda e: py_run(lambda: set_tag_revision(e.cluster, "prod-canary", "9-9-9")), "InputError",
     "cannot find MutatingWebhookConfiguration with revision '9-9-9'"),
    ("invalid-revision-label", "Python", "relabel_namespace(..., 'Bad Rev!')",
     lambda e: py_run(lambda: relabel_namespace(e.cluster, "l7-traffic-alpha", "Bad Rev!")),
     "InputError", "invalid revision or tag 'Bad Rev!'"),
    ("unknown-recreate-method", "Python", "recreate_workloads(..., method='explode')",
     lambda e: py_run(lambda: recreate_workloads(e.cluster, "l7-traffic-alpha",
                                                 method="explode")),
     "InputError", "unknown method 'explode'"),
    # ---------------------------------------------------------------- manifests and Istio fields
    ("malformed-yaml", "CLI", "runbook analyze -f <unclosed YAML>",
     lambda e: cli_run("analyze", "-f", str(e.files["malformed-yaml"]), *e.kc()), "exit 2",
     "malformed-yaml.yaml: invalid YAML at line 4"),
    ("malformed-json", "Python", "apply_manifests(<.json with a missing brace>)",
     lambda e: apply_row(e, "malformed-json"), "ManifestError", "invalid YAML at line"),
    ("not-an-object", "CLI", "runbook analyze -f <a YAML list>",
     lambda e: cli_run("analyze", "-f", str(e.files["not-an-object"]), *e.kc()), "exit 2",
     "expected a Kubernetes object"),
    ("missing-file", "CLI", "runbook analyze -f /nonexistent.yaml",
     lambda e: cli_run("analyze", "-f", "/nonexistent.yaml", *e.kc()), "exit 2",
     "no such file or directory"),
    ("unknown-kind", "Python", "apply_manifests(<kind: Frobnicator>)",
     lambda e: apply_row(e, "unknown-kind"), "failed row", 'no matches for kind "Frobnicator"'),
    ("namespace-mismatch", "Python", "apply_manifests(<ns a>, namespace='b')",
     lambda e: apply_row(e, "in-ghost", namespace="default"), "failed row",
     'does not match the namespace "default"'),
    ("invalid-istio-field", "Python", "apply_manifests(<VirtualService with 'rout:'>)",
     lambda e: apply_row(e, "misspelt-istio-field"), "failed row", 'unknown field "spec.http[0].rout"'),
    ("invalid-istio-type", "Python", "apply_manifests(<Gateway port number 'eighty'>)",
     lambda e: apply_row(e, "wrong-istio-type"), "failed row", "spec.servers[0].port.number"),
    ("invalid-service-port", "Python", "apply_manifests(<Service port 70000>)",
     lambda e: apply_row(e, "bad-port"), "failed row", "spec.ports[0].port"),
    # ---------------------------------------------------------------- command line arguments
    ("unknown-table", "CLI", "runbook inventory --table bogus",
     lambda e: cli_run("inventory", *e.kc(), "--table", "bogus"), "exit 2", "unknown table bogus"),
    ("unknown-command", "CLI", "runbook deploy",
     lambda e: cli_run("deploy"), "exit 2", "invalid choice: 'deploy'"),
    ("bad-sandbox-port", "CLI", "runbook sandbox --port 70000",
     lambda e: cli_run("sandbox", "--port", "70000"), "exit 2", "must be between 0 and 65535"),
    ("bad-fault-spec", "CLI", "runbook sandbox --faults list:pods:9000",
     lambda e: cli_run("sandbox", "--faults", "list:pods:9000"), "exit 2", "fault spec"),
    # ---------------------------------------------------------------- probe: URLs, ports, ingress
    ("probe-count-not-a-number", "CLI", "runbook probe URL -n abc",
     lambda e: cli_run("probe", "http://127.0.0.1/", "-n", "abc"), "exit 2",
     "invalid int value: 'abc'"),
    ("probe-bad-scheme", "CLI", "runbook probe ftp://127.0.0.1/",
     lambda e: cli_run("probe", "ftp://127.0.0.1/"), "exit 2", "ftp"),
    ("probe-bad-port", "CLI", "runbook probe http://127.0.0.1:99999/",
     lambda e: cli_run("probe", "http://127.0.0.1:99999/"), "exit 2", "out of range"),
    ("probe-bad-url", "Python", "probe('http://[::1')",
     lambda e: py_run(lambda: probe("http://[::1", count=1)), "ProbeError", "http://[::1"),
    ("probe-zero-concurrency", "CLI", "runbook probe URL -c 0",
     lambda e: cli_run("probe", "http://127.0.0.1/", "-c", "0"), "exit 2", "concurrency"),
    ("probe-bad-header", "CLI", "runbook probe URL -H 'no colon'",
     lambda e: cli_run("probe", "http://127.0.0.1/", "-H", "no colon"), "exit 2",
     "invalid header 'no colon'"),
    ("unreachable-ingress", "CLI", "runbook probe http://127.0.0.1:<closed>/ -n 2",
     lambda e: cli_run("probe", f"http://127.0.0.1:{e.closed_port}/", "-n", "2", "--timeout", "1"),
     "exit 1", "refused"),
    ("slow-ingress", "CLI", "runbook probe http://<backend>/hang --timeout 0.2 -n 2",
     lambda e: _slow_ingress(), "exit 1", "timeout"),
    # ---------------------------------------------------------------- notebook parameters
    ("notebook-unknown-parameter", "notebook", "runbook run 03 -p nope 1",
     lambda e: cli_run("run", "03", "-p", "nope", "1"), "exit 2", "unknown parameter nope"),
    ("notebook-untypable-bool", "notebook", "runbook run 03 -p apply_fixes maybe",
     lambda e: cli_run("run", "03", "-p", "apply_fixes", "maybe"), "exit 2",
     "parameter apply_fixes='maybe': expected true or false"),
    ("notebook-untypable-number", "notebook", "runbook run 03 -p rollout_timeout soon",
     lambda e: cli_run("run", "03", "-p", "rollout_timeout", "soon"), "exit 2",
     "parameter rollout_timeout='soon'"),
    ("notebook-unknown", "notebook", "runbook run 99-nope",
     lambda e: cli_run("run", "99-nope"), "exit 2", "99-nope"),
    ("notebook-missing-kubeconfig", "notebook", "runbook run 03 --kubeconfig /nonexistent",
     lambda e: cli_run("run", "03", "--kubeconfig", "/nonexistent/kc"), "exit 2",
     "does not exist"),
]


def _slow_ingress() -> Outcome:
    backend, thread = start_backend()
    try:
        return cli_run("probe", backend.url("/hang"), "-n", "2", "--timeout", "0.2")
    finally:
        stop_backend(backend, thread)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """The seed world (manual clock: nothing moves by itself) and every bad file and kubeconfig."""
    tmp = tmp_path_factory.mktemp("bad-input")
    with Sandbox(scenario="seed-incident", clock="manual") as sb:
        good = yaml.safe_load(Path(sb.kubeconfig_path).read_text())
        kubeconfigs = {"good": Path(sb.kubeconfig_path)}

        def variant(name: str, change: Callable[[dict[str, Any]], None]) -> None:
            cfg = yaml.safe_load(yaml.safe_dump(good))
            change(cfg)
            kubeconfigs[name] = tmp / f"{name}.kubeconfig"
            kubeconfigs[name].write_text(yaml.safe_dump(cfg))

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed = int(s.getsockname()[1])
        variant("unreachable", lambda c: c["clusters"][0]["cluster"].update(
            server=f"https://127.0.0.1:{closed}"))
        variant("expired", lambda c: [u["user"].update(token=EXPIRED_TOKEN) for u in c["users"]])
        variant("wrong-ca", lambda c: c["clusters"][0]["cluster"].update({
            "certificate-authority-data": base64.b64encode(_other_ca()).decode()}))
        variant("insecure", lambda c: c["clusters"][0].update(cluster={
            "server": c["clusters"][0]["cluster"]["server"], "insecure-skip-tls-verify": True}))
        variant("nocurrent", lambda c: c.pop("current-context"))
        kubeconfigs["malformed"] = tmp / "malformed.kubeconfig"
        kubeconfigs["malformed"].write_text("clusters: [unclosed\n")
        kubeconfigs["list"] = tmp / "list.kubeconfig"
        kubeconfigs["list"].write_text("- a\n- b\n")
        files = _bad_files(tmp)
        cluster = connect(sb.kubeconfig_path, "sandbox", retry=FAST_RETRY)
        readonly = connect(sb.kubeconfig_path, "sandbox-readonly", retry=FAST_RETRY)
        yield Env(sb, cluster, readonly, files, kubeconfigs, closed)
        cluster.close()
        readonly.close()


def _other_ca() -> bytes:
    from runbook.sandbox.apiserver.tls import make_certificates

    return make_certificates().ca_pem


def _bad_files(tmp: Path) -> dict[str, Path]:
    texts = {
        "malformed-yaml.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [x\n",
        "malformed-json.json": '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}\n',
        "not-an-object.yaml": "- just\n- a list\n",
        "unknown-kind.yaml": "apiVersion: example.com/v1\nkind: Frobnicator\nmetadata: {name: x}\n",
        "in-ghost.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: ghost}\n",
        "misspelt-istio-field.yaml": (
            "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\n"
            "metadata: {name: typo, namespace: l7-traffic-alpha}\n"
            "spec:\n  hosts: ['*']\n  gateways: [bookinfo-gateway]\n"
            "  http:\n  - rout:\n    - destination: {host: productpage, port: {number: 9080}}\n"),
        "wrong-istio-type.yaml": (
            "apiVersion: networking.istio.io/v1beta1\nkind: Gateway\n"
            "metadata: {name: typed, namespace: l7-traffic-alpha}\n"
            "spec:\n  selector: {istio: ingressgateway}\n"
            "  servers:\n  - port: {number: eighty, name: http, protocol: HTTP}\n"
            "    hosts: ['*']\n"),
        "bad-port.yaml": (
            "apiVersion: v1\nkind: Service\nmetadata: {name: bad-port, namespace: default}\n"
            "spec:\n  selector: {app: x}\n  ports:\n  - {port: 70000, targetPort: 80}\n"),
    }
    out = {}
    for name, text in texts.items():
        path = tmp / name
        path.write_text(text)
        out[name.rsplit(".", 1)[0]] = path
    return out


@pytest.mark.parametrize(("case", "surface", "shown", "run", "expected", "part"), ROWS,
                         ids=[r[0] for r in ROWS])
def test_bad_input_is_refused_in_one_line_and_changes_nothing(
        env: Env, ledger: Ledger, case: str, surface: str, shown: str,
        run: Callable[[Env], Outcome], expected: str, part: str) -> None:
    before = env.sb.store.resource_version
    outcome = run(env)
    after = env.sb.store.resource_version
    assert outcome.result == expected, outcome
    assert part in outcome.message, outcome.message
    line = outcome.message.strip()
    if outcome.result == "exit 1":  # a probe that ran: the failures are its error lines
        line = next(ln.strip() for ln in line.splitlines() if part in ln and "×" in ln)
    else:
        assert_one_clear_line(line, secrets=(env.sb.token, env.sb.readonly_token, EXPIRED_TOKEN))
    assert after == before, f"the cluster changed: resourceVersion {before} → {after}"
    ledger.record("bad_input", surface=surface, input=shown, expected=expected,
                  got=outcome.result, message=line, unchanged=f"rv {before} = {after}")


def test_there_are_at_least_thirty_rows_over_every_surface() -> None:
    assert len(ROWS) >= 30
    assert {r[1] for r in ROWS} == {"CLI", "Python", "notebook"}
    assert len({r[0] for r in ROWS}) == len(ROWS)


def test_the_exception_classes_are_the_documented_ones() -> None:
    # rows name classes by their names: keep them pointing at the real hierarchy
    named = {r[4] for r in ROWS if not r[4].startswith(("exit", "failed"))}
    known = {c.__name__: c for c in (ConfigError, FixError, InputError, ManifestError, NotFound,
                                     ProbeError, Unauthorized, Unreachable)}
    from runbook import errors

    assert all(issubclass(getattr(errors, name), RunbookError) for name in named)
    assert known  # the imports above are the ones the rows rely on
