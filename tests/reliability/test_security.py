"""Security: TLS stays verified, the sandbox is local and locked, and no credential leaks anywhere.

The leak test plants secrets — tokens and a password in the kubeconfig, a Secret object and a
literal password in a Deployment's environment in the cluster, an ``Authorization`` header for the
probe, a password given as a notebook parameter — runs a realistic flow over every surface, and
scans everything the flow produced: command-line output in every format, error messages, the
audit JSONL, both request logs, every ``logging`` record, and a ``runbook run`` report (HTML and
ipynb).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import re
import secrets
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import runbook.cli as cli
from runbook import kinds as k
from runbook.apps import app_path
from runbook.errors import Forbidden, RunbookError, Unauthorized
from runbook.fix import AuditLog
from runbook.fix.actions import recreate_workloads, relabel_namespace, retarget_webhook
from runbook.kube import connect
from runbook.kube.apply import apply_manifests
from runbook.mesh.observe import confirm_push, diagnose_cluster
from runbook.probe.http import probe
from runbook.sandbox import Sandbox
from tests.kubeconfigs import edited_kubeconfig
from tests.probe.conftest import start_backend, stop_backend

from .conftest import Ledger

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "runbook"
ALPHA = "l7-traffic-alpha"

# ====================================================================== TLS verification stays on

#: what turns certificate verification off, in Python and in kubeconfigs
TLS_OFF = re.compile(r"verify_ssl|insecure-skip-tls-verify|CERT_NONE|check_hostname\s*=\s*False"
                     r"|verify\s*=\s*False|_create_unverified_context|CERT_OPTIONAL")
#: the only places allowed to match, and why
TLS_ALLOWED = {
    # connect() forces verification back on, whatever the kubeconfig says
    ("runbook/kube/cluster.py", "configuration.verify_ssl = True"),
    ("runbook/kube/cluster.py", "# that asks for it (insecure-skip-tls-verify: true, which the "
                                "official client would honour)"),
    # the probe's -k (curl -k) against an ingress gateway, never the API server: opt-in per run
    ("runbook/probe/loop.py", "ctx.check_hostname = False"),
    ("runbook/probe/loop.py", "ctx.verify_mode = ssl.CERT_NONE"),
}


def test_nothing_in_the_package_turns_tls_verification_off(ledger: Ledger) -> None:
    found = set()
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix not in (".py", ".yaml", ".yml", ".json", ".md") or not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            if TLS_OFF.search(line):
                found.add((str(path.relative_to(ROOT)), line.strip()))
    assert found - TLS_ALLOWED == set(), "TLS verification is turned off here"
    assert any("verify_ssl = True" in line for _, line in found)  # the scan sees the package
    ledger.record("security", check="no code turns TLS verification off",
                  how=f"grep of runbook/ for {TLS_OFF.pattern!r}",
                  result=f"{len(found)} matches, all allow-listed: verify_ssl = True in connect(); "
                         "the probe's opt-in -k for an ingress (like curl -k)")


def test_a_kubeconfig_with_another_ca_fails_with_the_tls_message(sandbox: Sandbox, tmp_path: Path,
                                                                  ledger: Ledger) -> None:
    from runbook.sandbox.apiserver.tls import make_certificates

    def other_ca(config: dict[str, Any]) -> None:
        config["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(
            make_certificates().ca_pem).decode()

    def skip_verification(config: dict[str, Any]) -> None:
        config["clusters"][0]["cluster"] = {"server": sandbox.url, "insecure-skip-tls-verify": True}

    wrong = edited_kubeconfig(sandbox.kubeconfig_path, tmp_path / "wrong-ca", other_ca)
    out = _cli("inventory", "--kubeconfig", str(wrong), "--context", "sandbox")
    assert out["code"] == 2
    assert "TLS verification failed — check the kubeconfig's certificate-authority; " \
           "verification is never turned off" in out["err"]
    # and a kubeconfig that asks to skip verification is verified anyway
    skip = edited_kubeconfig(sandbox.kubeconfig_path, tmp_path / "skip", skip_verification)
    out_skip = _cli("inventory", "--kubeconfig", str(skip), "--context", "sandbox")
    assert out_skip["code"] == 2 and "TLS verification failed" in out_skip["err"]
    assert sandbox.requests.find(path="/api/v1/namespaces") == []  # nothing got through
    ledger.record("security", check="a wrong CA (and insecure-skip-tls-verify) is refused",
                  how="runbook inventory with a kubeconfig holding another CA / skip-verify",
                  result=out["err"].strip())


# ====================================================================== the sandbox: local, locked


def _listening(pid_inodes: set[str]) -> list[str]:
    """Local addresses of the LISTEN sockets whose inodes are in ``pid_inodes``."""
    out = []
    for table, family in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 6)):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] != "0A" or fields[9] not in pid_inodes:  # 0A: LISTEN
                    continue
                out.append(_address(fields[1], family))
    return out


def _address(hex_addr: str, family: int) -> str:
    ip_hex, port_hex = hex_addr.split(":")
    raw = bytes.fromhex(ip_hex)
    if family == 4:
        ip = ".".join(str(b) for b in raw[::-1])
    else:  # four little-endian 32-bit words
        words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]
        ip = ":".join(b"".join(words).hex()[i:i + 4] for i in range(0, 32, 4))
    return f"{ip}:{int(port_hex, 16)}"


def _socket_inodes() -> set[str]:
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            target = str(fd.readlink())
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux /proc/net/tcp")
def test_the_sandbox_listens_on_127_0_0_1_only_and_wants_its_token(ledger: Ledger) -> None:
    before = _socket_inodes()
    with Sandbox(scenario="seed-incident", clock="manual") as sb:
        gateways = [item for item in (sb.status().get("dataplane") or {}).get("listeners", [])
                    if item["state"] == "listening"]  # node ports another program holds are not
        addresses = _listening(_socket_inodes() - before)
        assert f"127.0.0.1:{sb.port}" in addresses  # the API server …
        assert len(addresses) >= 1 + len(gateways)  # … and the gateways' node ports
        assert all(a.startswith("127.0.0.1:") for a in addresses), addresses
        context = ssl.create_default_context(cafile=str(sb.ca_path))

        def get(path: str, token: str | None) -> int:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            request = urllib.request.Request(sb.url + path, headers=headers)
            try:
                with urllib.request.urlopen(request, context=context, timeout=5) as resp:
                    return int(resp.status)
            except urllib.error.HTTPError as err:
                return err.code

        assert get("/api/v1/namespaces", None) == 401
        assert get("/api/v1/namespaces", "not-the-token") == 401
        assert get("/sandbox/v1/status", None) == 401
        assert get("/api/v1/namespaces", sb.token) == 200
        assert get("/version", None) == 200  # public, as system:public-info-viewer allows
        assert len(sb.token) >= 40 and sb.token != sb.readonly_token
        with Sandbox(scenario="empty", controllers=False) as other:
            assert other.token != sb.token  # random per sandbox
    ledger.record("security", check="the sandbox binds 127.0.0.1 only and wants its token",
                  how="listening sockets of the process (/proc/net/tcp*), requests without and "
                      "with a wrong token",
                  result=f"{len(addresses)} listening sockets, all 127.0.0.1; 401 without the "
                         "random token (/version public)")


# ====================================================================== 403 names verb, resource, scope


def test_every_403_names_verb_resource_and_scope(ledger: Ledger, tmp_path: Path) -> None:
    with Sandbox(scenario="seed-incident", clock="manual") as sb:
        ro = connect(sb.kubeconfig_path, "sandbox-readonly")
        audit = AuditLog(tmp_path / "audit.jsonl")
        cases = [
            (lambda: retarget_webhook(ro, "istio-revision-tag-prod-canary", "istio-canary").apply(
                ro, confirm="sandbox-readonly", audit=audit),
             "cannot update mutatingwebhookconfigurations.admissionregistration.k8s.io at "
             "cluster scope in context 'sandbox-readonly'"),
            (lambda: relabel_namespace(ro, ALPHA, "1-19-3").apply(ro, confirm="sandbox-readonly",
                                                                   audit=audit),
             "cannot update namespaces at cluster scope in context 'sandbox-readonly'"),
            (lambda: recreate_workloads(ro, "istio-prod").apply(ro, audit=audit),
             "cannot update deployments.apps in namespace 'istio-prod' in context "
             "'sandbox-readonly'"),
            (lambda: ro.create(k.CONFIG_MAPS, {"metadata": {"name": "x", "namespace": ALPHA}}),
             f"cannot create configmaps in namespace '{ALPHA}' in context 'sandbox-readonly'"),
        ]
        before = sb.store.resource_version
        for call, expected in cases:
            with pytest.raises(RunbookError) as err:
                call()
            assert expected in str(err.value)
            assert "ask for RBAC permission to" in str(err.value)
            assert isinstance(err.value, Forbidden) or "forbidden:" in str(err.value)
            ledger.record("security", check="a 403 names verb, resource and scope",
                          how=expected.split(" in context")[0], result=str(err.value)[:160] + "…")
        assert sb.store.resource_version == before
        ro.close()


# ====================================================================== no credential leaks


def _cli(*argv: str) -> dict[str, Any]:
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = cli.main(list(argv))
        except SystemExit as exc:
            code = int(exc.code or 0)
    return {"code": code, "out": out.getvalue(), "err": err.getvalue()}


class _Capture(logging.Handler):
    """Every log record of every logger, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def all_logs() -> Iterator[_Capture]:
    handler, root = _Capture(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


def _planted() -> dict[str, str]:
    return {name: f"{name}-{secrets.token_hex(12)}" for name in (
        "kubeconfig-token", "kubeconfig-password", "secret-password", "secret-token",
        "env-password", "probe-bearer", "probe-bad-header", "url-password", "notebook-password",
        "bad-token")}


@pytest.mark.slow
def test_planted_secrets_never_reach_any_output(tmp_path: Path, all_logs: _Capture,
                                                ledger: Ledger) -> None:
    planted = _planted()
    sinks: dict[str, str] = {}
    with Sandbox(scenario="seed-incident", pod_start_seconds=0.05) as sb:
        planted["sandbox-token"], planted["readonly-token"] = sb.token, sb.readonly_token
        # a kubeconfig whose other user carries a token, a password and a client key
        def add_deployer(config: dict[str, Any]) -> None:
            config["users"].append({"name": "deployer", "user": {
                "token": planted["kubeconfig-token"], "password": planted["kubeconfig-password"],
                "client-key-data": base64.b64encode(planted["kubeconfig-password"].encode()).decode()}})

        kubeconfig = edited_kubeconfig(sb.kubeconfig_path, tmp_path / "kubeconfig", add_deployer)
        kc = ["--kubeconfig", str(kubeconfig), "--context", "sandbox"]
        cluster = connect(kubeconfig, "sandbox")
        # in the cluster: a Secret, and a Deployment with a literal password in its environment
        secret_file = tmp_path / "secret.yaml"
        secret_file.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db-credentials", "namespace": ALPHA},
            "stringData": {"password": planted["secret-password"]},
            "data": {"token": base64.b64encode(planted["secret-token"].encode()).decode()}}))
        rows = apply_manifests(cluster, [secret_file, app_path("bookinfo")], namespace=ALPHA)
        sinks["apply rows"] = rows.to_string()
        details = cluster.get(k.DEPLOYMENTS, "details-v1", ALPHA)
        details["spec"]["template"]["spec"]["containers"][0]["env"] = [
            {"name": "DB_PASSWORD", "value": planted["env-password"]}]
        cluster.replace(k.DEPLOYMENTS, details)

        # the command line, every format
        for command in ("inventory", "diagnose"):
            for fmt in ("table", "json", "csv"):
                out = _cli(command, *kc, "-o", fmt)
                sinks[f"runbook {command} -o {fmt}"] = out["out"] + out["err"]
        out = _cli("analyze", "-f", str(app_path("bookinfo-gateway")), *kc, "-n", ALPHA)
        sinks["runbook analyze"] = out["out"] + out["err"]
        backend, thread = start_backend()
        try:
            for fmt in ("table", "json", "csv"):
                out = _cli("probe", backend.url("/ok"), "-n", "3", "-o", fmt,
                           "-H", f"Authorization: Bearer {planted['probe-bearer']}")
                sinks[f"runbook probe -o {fmt}"] = out["out"] + out["err"]
            assert backend.hosts  # the probe really ran
            run = probe(backend.url("/ok"), count=2,
                        headers={"Authorization": f"Bearer {planted['probe-bearer']}"})
            sinks["probe() summary and samples"] = json.dumps(run.to_dict(), default=str)
        finally:
            stop_backend(backend, thread)

        # error messages that could quote what they refuse
        errors = [
            _cli("probe", "http://127.0.0.1:1/", "-H",
                 f"Authorization: Bearer {planted['probe-bad-header']}\nX-Injected: 1")["err"],
            _cli("probe", f"http://ops:{planted['url-password']}@127.0.0.1:1/")["err"],
            _cli("run", "03", "-p", "password", planted["notebook-password"])["err"],
        ]
        bad = yaml.safe_load(kubeconfig.read_text())
        for user in bad["users"]:
            user["user"]["token"] = planted["bad-token"]
        bad_path = tmp_path / "bad-token"
        bad_path.write_text(yaml.safe_dump(bad))
        try:
            connect(bad_path, "sandbox")
        except Unauthorized as exc:
            errors.append(str(exc))
        sinks["error messages"] = "\n".join(errors)
        assert len(errors) == 4

        # notebook 03 fixes the webhook and restarts the workloads: its report, notebook and audit
        report_dir = tmp_path / "report"
        out = _cli("run", "03", *kc, "-p", "apply_fixes", "true", "--out", str(report_dir))
        assert out["code"] == 0, out["err"]
        sinks["runbook run output"] = out["out"] + out["err"]
        for file in sorted(report_dir.iterdir()):
            sinks[f"report {file.name}"] = file.read_text(errors="replace")
        assert "[redacted]" in sinks["report 03-fix-webhook-and-recreate.audit.jsonl"]

        # a fix flow with its audit trail, and a push confirmation
        audit = AuditLog(tmp_path / "audit.jsonl")
        diagnose_cluster(cluster, namespace=ALPHA)
        retarget_webhook(cluster, "istio-revision-tag-prod-canary", "istio-canary").apply(
            cluster, confirm="sandbox", audit=audit)
        restart = recreate_workloads(cluster, ALPHA)
        sinks["fix preview"] = restart.preview()
        restart.apply(cluster, audit=audit)
        restart.undo(cluster, audit=audit)
        sinks["audit records (in the notebook output)"] = "\n".join(
            r.summary() + json.dumps(r.to_dict(), default=str) for h in restart.history
            for r in h.audit)
        apply_manifests(cluster, app_path("bookinfo-gateway"), namespace=ALPHA)
        sinks["confirm_push"] = confirm_push(cluster, "Gateway", "bookinfo-gateway", ALPHA,
                                             timeout=5, poll=0.1).summary
        sinks["audit JSONL"] = audit.path.read_text()
        sinks["client request log"] = "\n".join(map(str, cluster.requests))
        sinks["sandbox request log"] = "\n".join(map(str, sb.requests.records()))

        cluster.close()
    sinks["logging (every logger, DEBUG)"] = "\n".join(all_logs.lines)

    leaks = {(sink, name) for sink, text in sinks.items() for name, value in planted.items()
             if value in text or _b64_of(value) in text}
    assert leaks == set()
    assert "[masked]" in sinks["error messages"]  # refused, and said so without the value
    assert "[redacted]" in sinks["audit JSONL"]  # the env password was there, and taken out
    assert len(all_logs.lines) > 0 and any(name.startswith("report ") for name in sinks)
    for sink, text in sorted(sinks.items()):
        ledger.record("leaks", sink=sink, scanned_bytes=len(text), planted=len(planted),
                      found=0)


def _b64_of(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def test_redaction_keeps_the_shape_and_drops_secret_values() -> None:
    from runbook.redaction import REDACTED, redact_object

    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "annotations": {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(
            {"kind": "Secret", "data": {"password": "aHVudGVyMg=="}})}},
        "data": {"password": "aHVudGVyMg=="}, "stringData": {"token": "t0k3n"}}
    out = redact_object(secret)
    assert out is not None and out["data"] == {"password": REDACTED}
    assert out["stringData"] == {"token": REDACTED}
    assert "aHVudGVyMg" not in json.dumps(out)
    deployment = {"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{
        "name": "app", "image": "app:1", "env": [
            {"name": "DB_PASSWORD", "value": "hunter2"}, {"name": "LOG_LEVEL", "value": "debug"},
            {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "t"}}}]}]}}}}
    env = redact_object(deployment)["spec"]["template"]["spec"]["containers"][0]["env"]  # type: ignore[index]
    assert env[0] == {"name": "DB_PASSWORD", "value": REDACTED}
    assert env[1] == {"name": "LOG_LEVEL", "value": "debug"}  # not a secret: kept
    assert env[2]["valueFrom"]["secretKeyRef"] == {"name": "s", "key": "t"}  # a reference: kept
    assert deployment["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "hunter2"
    assert redact_object(None) is None
