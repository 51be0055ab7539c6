"""``runbook analyze`` through the real ``runbook.cli.main``: files (and URLs) against the field
report's cluster, the cluster's own config, every output format, and the exit statuses
(0 clean, 1 error messages, 2 could not run) — DESIGN.md › Command line."""

from __future__ import annotations

import csv
import http.server
import io
import json
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import runbook.cli as cli
from runbook.apps import app_path
from runbook.kube import connect
from runbook.kube.apply import apply_manifests

ALPHA, BETA = "l7-traffic-alpha", "l7-traffic-beta"
MESSAGE_KEYS = ["level", "code", "kind", "namespace", "name", "message", "source", "see_also"]
#: DESIGN.md's finding object (the diagnosis adds ``namespaces``)
FINDING_KEYS = {"code", "severity", "subject", "message", "evidence", "fix"}


@pytest.fixture
def target(seed_sandbox: Any) -> list[str]:
    """Cluster flags for the field report's world (read-only here, so a manual clock is fine)."""
    return ["--kubeconfig", str(seed_sandbox.kubeconfig_path), "--context", "sandbox"]


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["analyze", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code, out, err = _run(capsys, *args, "-o", "json")
    assert not err, err
    return code, json.loads(out)


def test_analyze_is_a_subcommand_of_main(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["analyze", "--help"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("usage: runbook analyze ")


def test_the_reports_sample_gateway_has_errors(target: list[str],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = _json(capsys, "-f", str(app_path("sample-gateway.yml")), "-n", BETA, *target)
    assert code == 1
    assert list(doc) == ["messages", "findings"]
    assert all(list(m) == MESSAGE_KEYS for m in doc["messages"])
    assert all(set(f) >= FINDING_KEYS for f in doc["findings"])
    codes = Counter((m["code"], m["name"]) for m in doc["messages"])
    # issue 6: missing destination hosts, unknown DR hosts, unused subsets, ineffective sourceLabels
    assert codes[("IST0101", "nginx-sample")] == 2
    assert codes[("IST0174", "nginx-sample-ds")] == codes[("IST0174", "echo-sample-ds")] == 1
    assert codes[("MR206", "nginx-sample-ds")] == codes[("MR206", "echo-sample-ds")] == 1
    assert codes[("MR205", "nginx-sample")] == 2
    hosts = sorted(m["message"] for m in doc["messages"] if m["code"] == "IST0101")
    assert hosts == ['Referenced host not found: "echo-sample-v1"',
                     'Referenced host not found: "nginx-sample-v1"']
    # which gateway and revision the `istio.io/rev: 1-18-5` selector reaches
    (reach,) = [m for m in doc["messages"] if m["code"] == "MR201"]
    assert "istio-prod/istio-ingressgateway (revision 1-18-5" in reach["message"]
    assert "programmed by istiod revision(s) 1-18-5" in reach["message"]
    # every message names the file and line its object starts at (the VirtualService: line 19)
    vs = [m for m in doc["messages"] if m["kind"] == "VirtualService"]
    assert {m["source"] for m in vs} == {f"{app_path('sample-gateway.yml')}:19"}
    assert [m["level"] for m in doc["messages"]] == sorted(
        (m["level"] for m in doc["messages"]), key=["Error", "Warning", "Info"].index)
    severities = {f["severity"] for f in doc["findings"]}
    assert severities == {"error", "warning", "info"}


def test_the_corrected_sample_is_clean(target: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = _json(capsys, "-f", str(app_path("sample-gateway-fixed")), "-n", BETA, *target)
    assert code == 0
    assert {m["level"] for m in doc["messages"]} == {"Info"}, doc["messages"]


def test_several_files_are_analyzed_together(target: list[str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    # alone, the bookinfo routes point at a Service (productpage) that the cluster does not have …
    code, doc = _json(capsys, "-f", str(app_path("bookinfo-gateway")), "-n", ALPHA, *target)
    assert code == 1
    assert [m["message"] for m in doc["messages"] if m["level"] == "Error"] == [
        'Referenced host not found: "productpage"']
    # … with bookinfo.yaml in the same run, the files resolve each other
    code, doc = _json(capsys, "-f", str(app_path("bookinfo")), "-f", str(app_path("bookinfo-gateway")),
                      "-n", ALPHA, *target)
    assert code == 0, doc["messages"]


def test_a_url_is_read_like_a_file(target: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    directory = app_path("sample-gateway.yml").parent

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(directory), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:  # keep pytest's output clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/sample-gateway.yml"
        code, doc = _json(capsys, "-f", url, "-n", BETA, *target)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert code == 1
    assert {m["source"] for m in doc["messages"] if m["kind"] == "VirtualService"} == {f"{url}:19"}


def test_csv_output_has_a_section_per_table(target: list[str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "-f", str(app_path("sample-gateway.yml")), "-n", BETA, *target,
                        "-o", "csv")
    assert code == 1
    messages, findings = out.split("\n\n# findings\n")
    heading, _, body = messages.partition("\n")
    assert heading == "# messages"
    rows = list(csv.DictReader(io.StringIO(body)))
    assert list(rows[0]) == MESSAGE_KEYS and rows[0]["level"] == "Error"
    finding_rows = list(csv.DictReader(io.StringIO(findings)))
    assert len(finding_rows) == len(rows) and finding_rows[0]["severity"] == "error"


def test_table_output_reads_like_istioctl(target: list[str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "-f", str(app_path("sample-gateway.yml")), "-n", BETA, *target)
    assert code == 1
    assert out.startswith("== messages (10)\n")
    assert "ERROR   IST0101  VirtualService l7-traffic-beta/nginx-sample" in out
    assert 'Referenced host not found: "nginx-sample-v1"' in out


def test_without_files_the_clusters_own_config_is_analyzed(
        seed_sandbox: Any, target: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = _json(capsys, "-n", BETA, *target)
    assert code == 0 and doc["messages"] == []
    with connect(seed_sandbox.kubeconfig_path, "sandbox") as cluster:
        applied = apply_manifests(cluster, app_path("sample-gateway.yml"), namespace=BETA)
    assert set(applied["action"]) == {"created"}
    code, doc = _json(capsys, "-n", BETA, *target)
    assert code == 1
    # read back from the cluster: no file, so no source line
    assert {m["source"] for m in doc["messages"]} == {None}
    assert ("IST0101", "nginx-sample") in {(m["code"], m["name"]) for m in doc["messages"]}
    code, doc = _json(capsys, "-n", ALPHA, *target)  # nothing was applied there
    assert code == 0 and doc["messages"] == []


def test_a_misspelt_field_is_a_schema_error(target: list[str], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    text = app_path("bookinfo-gateway").read_text().replace("    hosts:\n    - bookinfo-gateway.test",
                                                            "    host:\n    - bookinfo-gateway.test", 1)
    bad = tmp_path / "typo.yaml"
    bad.write_text(text)
    code, doc = _json(capsys, "-f", str(app_path("bookinfo")), "-f", str(bad), "-n", ALPHA, *target)
    assert code == 1
    (schema,) = [m for m in doc["messages"] if m["code"] == "IST0106"]
    assert schema["kind"] == "Gateway" and 'unknown field "spec.servers[0].host"' in schema["message"]


def test_a_kind_without_crd_is_an_error(target: list[str], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("apiVersion: networking.istio.io/v1alpha3\nkind: Gatewy\nmetadata:\n"
                       "  name: typo\nspec: {}\n")
    code, doc = _json(capsys, "-f", str(unknown), "-n", BETA, *target)
    assert code == 1
    assert [(m["code"], m["level"]) for m in doc["messages"]] == [("MR209", "Error")]
    assert "no kind Gatewy" in doc["messages"][0]["message"]


# ------------------------------------------------------------------- bad input: exit status 2


def test_invalid_yaml_names_file_and_line(target: list[str], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: networking.istio.io/v1alpha3\nkind: Gateway\nmetadata:\n"
                      "  name: x\n---\nkind: [unclosed\n")
    code, out, err = _run(capsys, "-f", str(broken), *target)
    assert code == 2 and out == ""
    assert err.startswith(f"runbook analyze: {broken}: invalid YAML at line 7")
    assert "(document 2)" in err and err.count("\n") == 1


def test_a_missing_file_is_bad_input(target: list[str], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "-f", str(tmp_path / "nope.yaml"), *target)
    assert (code, out) == (2, "")
    assert "nope.yaml: no such file or directory" in err


def test_a_missing_namespace_is_bad_input(target: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "-f", str(app_path("sample-gateway-fixed")), "-n", "l7-traffic-gamma",
                          *target)
    assert (code, out) == (2, "")
    assert "namespace 'l7-traffic-gamma' does not exist" in err and "l7-traffic-beta" in err


def test_an_unknown_context_is_bad_input(seed_sandbox: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "-f", str(app_path("sample-gateway.yml")),
                          "--kubeconfig", str(seed_sandbox.kubeconfig_path), "--context", "prod-eu")
    assert (code, out) == (2, "")
    assert "context 'prod-eu' not found" in err and "sandbox" in err


@pytest.fixture
def closed_port() -> Iterator[int]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]  # bound, never listening: connections are refused


def test_an_unreachable_cluster_is_exit_2(seed_sandbox: Any, closed_port: int, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    text = Path(seed_sandbox.kubeconfig_path).read_text()
    server = seed_sandbox.url
    assert server in text
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(text.replace(server, f"https://127.0.0.1:{closed_port}"))
    code, out, err = _run(capsys, "-f", str(app_path("sample-gateway.yml")), "--kubeconfig",
                          str(kubeconfig), "--context", "sandbox")
    assert (code, out) == (2, "")
    assert err.startswith("runbook analyze: ") and err.count("\n") == 1
