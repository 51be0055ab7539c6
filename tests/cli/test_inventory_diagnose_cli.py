"""``runbook inventory`` and ``runbook diagnose`` through the real ``runbook.cli.main``, against the
sandbox over HTTP: the output formats (DESIGN.md › Command line), the exit statuses (0 no error
finding, 1 error findings, 2 could not run) and one clear line on stderr for every bad input.
"""

from __future__ import annotations

import csv
import io
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import runbook.cli as cli
from runbook import kinds as k
from runbook.apps import app_path
from runbook.kube import FINDINGS_SELECTORS, connect
from runbook.kube.apply import apply_manifests
from runbook.mesh import TABLES
from runbook.mesh.diagnose import Inventory
from runbook.mesh.findings import FINDINGS_COLUMNS
from runbook.mesh.injection import INJECTION_COLUMNS
from runbook.mesh.revisions import CONTROL_PLANE_COLUMNS, REVISION_TAG_COLUMNS
from runbook.mesh.webhooks import WEBHOOK_TARGET_COLUMNS
from runbook.mesh.workloads import REPLICASET_EVENT_COLUMNS, WORKLOAD_COLUMNS
from runbook.sandbox import Fault, Sandbox
from tests.conftest import advance_world

ALPHA = "l7-traffic-alpha"
FINDING_KEYS = {"code", "severity", "subject", "message", "evidence", "fix"}


@pytest.fixture(scope="module")
def incident() -> Iterator[Sandbox]:
    """The field report's world after bookinfo was applied: six ReplicaSets fail (read-only use)."""
    with Sandbox(scenario="seed-incident", clock="manual") as sb:
        with connect(sb.kubeconfig_path, "sandbox") as cluster:
            apply_manifests(cluster, app_path("bookinfo"), namespace=ALPHA)
        advance_world(sb, 30)
        yield sb


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def kc(sb: Sandbox, *args: str) -> list[str]:
    return ["--kubeconfig", str(sb.kubeconfig_path), "--context", "sandbox", *args]


def columns(name: str) -> list[str]:
    """The documented columns of an inventory table (each table function's constant)."""
    return list({
        "control_planes": CONTROL_PLANE_COLUMNS,
        "revision_tags": REVISION_TAG_COLUMNS,
        "namespace_injection": INJECTION_COLUMNS,
        "workloads": WORKLOAD_COLUMNS,
        "replicaset_events": REPLICASET_EVENT_COLUMNS,
        "webhook_targets": WEBHOOK_TARGET_COLUMNS,
    }[name])


# ----------------------------------------------------------------------------------- diagnose


def test_diagnose_json_has_every_table_and_the_findings_and_exits_1(
        incident: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "diagnose", *kc(incident), "-o", "json")
    assert code == 1 and err == ""
    doc = json.loads(out)
    assert list(doc) == [*TABLES, "findings"]
    for name in TABLES:
        assert doc[name] and all(list(row) == columns(name) for row in doc[name]), name
    chain = [f for f in doc["findings"] if f["code"] == "MR101"]
    assert len(chain) == 1 and set(chain[0]) >= FINDING_KEYS
    assert chain[0]["severity"] == "error"
    assert chain[0]["subject"] == {"kind": "Namespace", "namespace": None, "name": ALPHA}
    assert chain[0]["fix"]["action"] == "retarget-webhook"
    assert chain[0]["fix"]["params"]["service_namespace"] == "istio-canary"
    assert chain[0]["fix"]["command"].startswith("kubectl patch mutatingwebhookconfiguration "
                                                 "istio-revision-tag-prod-canary --type=json")
    events = [r for r in doc["replicaset_events"] if r["namespace"] == ALPHA]
    assert len(events) == 6 and {r["error_kind"] for r in events} == {"service_not_found"}
    assert all(r["first_seen"].endswith("Z") and r["count"] > 1 for r in events)
    # the codes of the field report's chain, most severe first; then what istioctl analyze says
    # of the unlabelled namespaces too (default, and those of the gateways and istiods)
    assert [f["code"] for f in doc["findings"]] == ["MR101", "MR106", "MR107"] + ["IST0102"] * 3
    assert [f["subject"]["name"] for f in doc["findings"][3:]] == [
        "default", "istio-canary", "istio-prod"]


def test_diagnose_namespace_filters_tables_and_findings(
        incident: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diagnose", *kc(incident), "-n", "l7-traffic-beta", "-o", "json")
    assert code == 0  # beta's binding works: nothing is wrong there
    doc = json.loads(out)
    assert {r["namespace"] for r in doc["namespace_injection"]} == {"l7-traffic-beta"}
    assert doc["findings"] == []
    assert len(doc["control_planes"]) == 2  # tables without a namespace column stay whole


def test_diagnose_csv_sections_parse(incident: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diagnose", *kc(incident), "-n", ALPHA, "-o", "csv")
    assert code == 1
    sections = {}
    for block in out.strip().split("\n\n"):
        head, _, body = block.partition("\n")
        assert head.startswith("# ")
        sections[head[2:]] = list(csv.DictReader(io.StringIO(body)))
    assert list(sections) == [*TABLES, "findings"]
    assert [r["code"] for r in sections["findings"]] == ["MR101", "MR106", "MR107"]
    assert list(sections["findings"][0]) == list(FINDINGS_COLUMNS)
    assert {r["target_namespace"] for r in sections["replicaset_events"]} == {"istio-system"}


def test_diagnose_table_prints_findings_with_fix_commands(
        incident: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diagnose", *kc(incident), "-n", ALPHA)
    assert code == 1
    assert "== findings (3)" in out and "== control_planes" not in out  # --tables not given
    assert "ERROR   MR101  Namespace l7-traffic-alpha\n" in out
    assert "istioctl tag set prod-canary --revision 1-18-5 -i istio-prod --overwrite" in out
    code, out, _ = run(capsys, "diagnose", *kc(incident), "-n", ALPHA, "--tables")
    assert "== control_planes (2)" in out and "== replicaset_events (6)" in out
    assert "== namespace_injection (1)" in out  # -n narrows the per-namespace tables



def test_diagnose_without_tables_lists_only_the_events_its_findings_read(
        incident: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import runbook.kube

    asked: list[object] = []
    whole = True  # when set, every read gets the default selectors, whatever the command asks

    def read_snapshot(*args: object, selectors: object = None, **kwargs: object) -> object:
        asked.append(selectors)
        return real_read(*args, selectors=None if whole else selectors, **kwargs)  # type: ignore[arg-type]

    real_read = runbook.kube.read_snapshot
    monkeypatch.setattr(runbook.kube, "read_snapshot", read_snapshot)
    for output in ("table", "wide"):
        whole = True
        expected = run(capsys, "diagnose", *kc(incident), "-o", output)
        whole = False
        assert run(capsys, "diagnose", *kc(incident), "-o", output) == expected
        assert asked[-1] == FINDINGS_SELECTORS and asked[-2] == FINDINGS_SELECTORS
    # tables and the other formats print the replicaset_events table: every ReplicaSet event
    for args in (("--tables",), ("-o", "json"), ("-o", "yaml")):
        run(capsys, "diagnose", *kc(incident), *args)
        assert asked[-1] is None


# what a diagnosis process loads, and how it ends: a fresh interpreter (this one has pandas)
_MODULES_CHILD = """
import contextlib, io, json, sys
from runbook.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _modules_of(*argv: str) -> tuple[int, set[str]]:
    done = subprocess.run([sys.executable, "-c", _MODULES_CHILD, *argv], capture_output=True,
                          text=True, timeout=120, check=True)
    result = json.loads(done.stdout)
    return result["code"], set(result["modules"])


def test_diagnose_findings_load_neither_pandas_nor_x509(incident: Sandbox) -> None:
    # findings need no table: pandas and numpy are a quarter of a second of the command's start,
    # cryptography's X.509 a tenth (needed only to describe a disagreeing caBundle)
    code, modules = _modules_of("diagnose", *kc(incident), "-n", ALPHA)
    assert code == 1
    assert not {"pandas", "numpy", "cryptography.x509"} & modules
    code, modules = _modules_of("diagnose", *kc(incident), "-n", ALPHA, "--tables")
    assert code == 1 and "pandas" in modules  # tables are DataFrames: the check above is not vacuous


_GC_CHILD = """
import contextlib, gc, io, json, sys
from runbook.cli import main
passes = []
gc.callbacks.append(lambda phase, info: phase == "start" and passes.append(info["generation"]))
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "passes": len(passes), "enabled": gc.isenabled()}))
"""


@pytest.mark.parametrize("command", ["diagnose", "inventory"])
def test_a_read_command_runs_without_collector_passes(incident: Sandbox, command: str) -> None:
    # what the command builds (the official client's modules first) lives until it ends: the
    # collector's passes would find nothing; a caller that goes on gets the collector back
    done = subprocess.run([sys.executable, "-c", _GC_CHILD, command, *kc(incident)],
                          capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(done.stdout)
    assert result["code"] in (0, 1)
    # a pass may fall between the parsing and the command (both paused), over the few objects
    # allocated there; without the pauses there are about 90
    assert result["passes"] <= 2 and result["enabled"] is True


def test_the_console_script_prints_everything_and_exits_with_the_status(
        incident: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    # `python -m runbook` is the console script: it ends the process without freeing the snapshot,
    # after flushing what was written to a pipe
    args = ["diagnose", *kc(incident), "-o", "json"]
    done = subprocess.run([sys.executable, "-m", "runbook", *args], capture_output=True, text=True,
                          timeout=120)
    code, out, _ = run(capsys, *args)
    assert done.returncode == code == 1 and done.stderr == ""
    assert json.loads(done.stdout)["findings"] == json.loads(out)["findings"]
    assert cli._LEFT_FOR_EXIT == []  # main() in a process that goes on frees what the command left

def test_a_read_only_user_can_diagnose(incident: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diagnose", "--kubeconfig", str(incident.kubeconfig_path),
                       "--context", "sandbox-readonly", "-o", "json")
    assert code == 1 and json.loads(out)["findings"][0]["code"] == "MR101"


def test_healthy_mesh_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    with Sandbox(scenario="healthy", clock="manual") as sb:
        advance_world(sb)
        code, out, _ = run(capsys, "diagnose", *kc(sb), "-o", "json")
    doc = json.loads(out)
    assert code == 0, [f["message"] for f in doc["findings"] if f["severity"] == "error"]
    assert not [f for f in doc["findings"] if f["severity"] == "error"]


def test_cluster_without_istio_gives_empty_tables_and_an_info(
        capsys: pytest.CaptureFixture[str]) -> None:
    with Sandbox(scenario="empty", clock="manual") as sb:
        code, out, _ = run(capsys, "diagnose", *kc(sb), "-o", "json")
    doc = json.loads(out)
    assert code == 0
    assert doc["control_planes"] == [] and doc["revision_tags"] == [] and doc["webhook_targets"] == []
    assert [(f["code"], f["severity"]) for f in doc["findings"]] == [("MR109", "info")]


def test_forbidden_webhooks_give_partial_results_and_name_the_permission(
        capsys: pytest.CaptureFixture[str]) -> None:
    with Sandbox(scenario="seed-incident", clock="manual") as sb:
        sb.faults.add(Fault(action="error", verb="list", resource="mutatingwebhookconfigurations",
                            status=403, message=(
                                'mutatingwebhookconfigurations.admissionregistration.k8s.io is '
                                'forbidden: User "sandbox" cannot list resource '
                                '"mutatingwebhookconfigurations" in API group '
                                '"admissionregistration.k8s.io" at the cluster scope')))
        code, out, err = run(capsys, "diagnose", *kc(sb), "-o", "json")
    doc = json.loads(out)
    assert code == 0 and err == ""  # warnings only: the seed world has no failing pods yet
    (denied,) = [f for f in doc["findings"] if f["code"] == "MR108"]
    assert denied["severity"] == "warning"
    assert "missing permission to list mutatingwebhookconfigurations.admissionregistration.k8s.io" \
        in denied["message"]
    assert any("kubectl auth can-i list" in e for e in denied["evidence"])
    assert doc["revision_tags"] == [] and len(doc["control_planes"]) == 2  # the rest was read


# ---------------------------------------------------------------------------------- inventory


def test_inventory_json_and_table_choice(incident: Sandbox,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "inventory", *kc(incident), "-o", "json")
    assert code == 0  # an inventory reports, it does not judge
    doc = json.loads(out)
    assert list(doc) == list(TABLES)
    tags = doc["revision_tags"]
    assert {r["target_status"] for r in tags} == {"service_not_found"}
    assert tags[0]["found_in"] == ["istio-canary (revision 1-19-3, 1 ready endpoint)"]
    code, out, _ = run(capsys, "inventory", *kc(incident), "--table", "control_planes",
                       "--table", "revision_tags")
    assert code == 0
    assert out.startswith("== control_planes (2)") and "== revision_tags (2)" in out
    assert "== workloads" not in out and "findings" not in out


def test_inventory_csv(incident: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "inventory", *kc(incident), "-o", "csv", "--table",
                       "namespace_injection")
    assert code == 0
    head, _, body = out.partition("\n")
    assert head == "# namespace_injection"
    rows = list(csv.DictReader(io.StringIO(body)))
    assert list(rows[0]) == columns("namespace_injection")
    alpha = next(r for r in rows if r["namespace"] == ALPHA)
    assert alpha["status"] == "target missing" and alpha["rev_label"] == "prod-canary"


def test_inventory_sees_every_namespace_past_the_first_page(
        capsys: pytest.CaptureFixture[str]) -> None:
    # 600 namespaces + the seed world's: the Namespaces list takes two pages of 500
    with Sandbox(scenario="scale:namespaces=600,replicasets=600,events=600,broken=6",
                 clock="manual", controllers=True) as sb:
        code, out, _ = run(capsys, "inventory", *kc(sb), "-o", "json", "--table",
                           "namespace_injection")
        expected = sb.store.count(k.NAMESPACES.key)
    rows = json.loads(out)["namespace_injection"]
    assert code == 0 and expected > 600 and len(rows) == expected
    assert sum(r["status"] == "target missing" for r in rows) == 6 + 1  # + l7-traffic-alpha


# ------------------------------------------------------------------------------- bad input


def test_a_namespace_that_does_not_exist_is_bad_input(
        incident: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "diagnose", *kc(incident), "-n", "l7-traffic-gamma")
    assert code == 2 and out == ""
    assert err.startswith("runbook diagnose: namespace 'l7-traffic-gamma' does not exist in "
                          "context 'sandbox'")
    assert err.count("\n") == 1 and "l7-traffic-alpha" in err  # one line, naming what exists


def test_unknown_context_lists_the_known_ones(incident: Sandbox,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("inventory", "diagnose"):
        code, out, err = run(capsys, command, "--kubeconfig", str(incident.kubeconfig_path),
                             "--context", "prod-eu")
        assert code == 2 and out == ""
        assert f"runbook {command}: context 'prod-eu' not found" in err
        assert "sandbox, sandbox-readonly" in err and err.count("\n") == 1


def test_unknown_table_is_bad_input(incident: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "inventory", *kc(incident), "--table", "pods")
    assert code == 2 and "unknown table pods" in err and "control_planes" in err


def test_missing_kubeconfig_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "diagnose", "--kubeconfig", str(tmp_path / "nope"))
    assert code == 2 and "does not exist" in err and err.count("\n") == 1


def test_unreachable_cluster_exits_2_with_one_line(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:  # a port nothing listens on: bind, read it, close
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "kubeconfig"
    config.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "gone",
        "clusters": [{"name": "gone", "cluster": {"server": f"https://127.0.0.1:{port}",
                                                  "insecure-skip-tls-verify": False}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u"}}]}))
    for command in ("inventory", "diagnose"):
        code, out, err = run(capsys, command, "--kubeconfig", str(config))
        assert code == 2 and out == ""
        assert err.startswith(f"runbook {command}: ") and err.count("\n") == 1
        assert f"127.0.0.1:{port}" in err and "Traceback" not in err


def test_inventory_object_is_json_ready(incident: Sandbox) -> None:
    # what `-o json` prints is Inventory.to_dict without the unreadable map
    from runbook.mesh.observe import inventory_cluster

    with connect(incident.kubeconfig_path, "sandbox") as cluster:
        inv = inventory_cluster(cluster)
    assert isinstance(inv, Inventory)
    json.dumps(inv.to_dict(), allow_nan=False)


@pytest.mark.parametrize("command", ["inventory", "diagnose", "analyze", "sandbox"])
def test_help_shows_no_docstring_markup(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main([command, "--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and f"runbook {command}" in out
    assert "``" not in out
