"""``runbook probe``: outputs (table, json, csv) and exit statuses, through the real ``main``."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

import runbook.cli as cli
from runbook.probe import COLUMNS

from .conftest import Backend


def test_probe_is_a_subcommand_of_main(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["probe", "--help"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("usage: runbook probe ")


def test_json_output(backend: Backend, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["probe", backend.url("/ok?upstream=2"), "--host", "bookinfo-gateway.test", "-n", "7",
                     "-c", "2", "-o", "json", "--label", "canary"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert list(out) == ["samples", "summary", "parameters"]
    assert out["summary"]["count"] == 7 and out["summary"]["label"] == "canary"
    assert {"p50_ms", "p90_ms", "p99_ms", "achieved_qps", "errors"} <= set(out["summary"])
    assert len(out["samples"]) == 7 and list(out["samples"][0]) == list(COLUMNS)
    assert out["samples"][0]["upstream_ms"] == 2.0 and out["parameters"]["host"] == "bookinfo-gateway.test"
    assert backend.hosts == ["bookinfo-gateway.test"] * 7


def test_csv_output(backend: Backend, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["probe", backend.url(), "-n", "3", "-o", "csv"]) == 0
    heading, _, body = capsys.readouterr().out.partition("\n")
    assert heading == "# samples"  # a section, like every command's -o csv
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 3 and list(rows[0]) == list(COLUMNS) and rows[2]["status"] == "200"


def test_table_output_and_default_count(backend: Backend, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["probe", backend.url()]) == 0
    out = capsys.readouterr().out
    assert out.startswith("trustworthy as a closed loop over 1 connection(s)")
    probed = next(i for i, line in enumerate(out.splitlines()) if line.startswith("probe "))
    assert out.splitlines()[probed].startswith(f"probe {backend.url()}  Host: 127.0.0.1:{backend.port}")
    lines = dict(line.split(None, 1) for line in out.splitlines()[probed + 1:] if line.strip())
    assert lines["count"] == "100" and lines["status_codes"] == "200: 100" and "p99_9_ms" in lines


def test_duration_and_qps(backend: Backend, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["probe", backend.url(), "--duration", "0.2", "--qps", "50", "-o", "json"])
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["requested_qps"] == 50 and summary["scheduled"] == 10 and summary["count"] == 10
    # a machine too busy to send on time makes the run untrustworthy, and the exit status says so
    assert code == (0 if summary["schedule_kept"] else 1)


def test_failures_exit_1_and_are_listed(closed_port: int, backend: Backend,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["probe", f"http://127.0.0.1:{closed_port}/", "-n", "2"]) == 1
    out = capsys.readouterr().out
    assert "errors:" in out and f"refused ×2: connection refused by 127.0.0.1:{closed_port}" in out
    assert cli.main(["probe", f"http://127.0.0.1:{closed_port}/", "-n", "1", "-o", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)  # no NaN in the JSON: latencies are null
    assert doc["summary"]["p50_ms"] is None and doc["samples"][0]["ttfb_ms"] is None
    assert cli.main(["probe", backend.url("/status?code=503"), "-n", "2", "-o", "json"]) == 1
    capsys.readouterr()
    # a 404 is a failure too (as notebook 06 and availability SLOs count it), unless accepted
    assert cli.main(["probe", backend.url("/status?code=404"), "-n", "2"]) == 1
    out = capsys.readouterr().out
    assert "2 of 2 requests failed (http_404 ×2)" in out and "http_404 ×2: HTTP 404" in out
    assert re.search(r"^status_codes +404: 2$", out, re.MULTILINE)
    assert cli.main(["probe", backend.url("/status?code=404"), "-n", "1", "--accept-status", "404",
                     "-o", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["ok"] == 1 and summary["errors"] == 0 and summary["status_codes"] == {"404": 1}


@pytest.mark.parametrize("argv", [
    ["probe", "ftp://127.0.0.1/"],
    ["probe", "http://127.0.0.1/", "-c", "0"],
    ["probe", "http://127.0.0.1/", "-H", "no-colon-here"],
])
def test_bad_input_exits_2_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("runbook probe: ") and err.count("\n") == 1


def test_count_and_duration_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["probe", "http://127.0.0.1/", "-n", "3", "--duration", "1"])
    assert info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_one_connection_that_cannot_keep_the_schedule_is_not_trusted(
        backend: Backend, capsys: pytest.CaptureFixture[str]) -> None:
    # 100 ms answers on one connection give 10 requests/s at most: 40/s cannot be kept
    assert cli.main(["probe", backend.url("/delay?ms=100"), "--qps", "40", "-n", "12", "-c", "1"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("NOT TRUSTWORTHY: the schedule was not kept — requests left")
    assert "of 40 requests/s over 1 connection(s)" in " ".join(out.split())
    assert cli.main(["probe", backend.url("/delay?ms=100"), "--qps", "40", "-n", "12", "-c", "1",
                     "-o", "json"]) == 1
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["trustworthy"] is False and summary["schedule_kept"] is False
    assert summary["send_lag_p50_ms"] > 100 and summary["errors"] == 0


def test_connections_are_opened_as_the_schedule_needs_them(
        backend: Backend, capsys: pytest.CaptureFixture[str]) -> None:
    # 200 ms answers at 20/s without -c: about qps × 200 ms = 4 requests are in flight at a time
    assert cli.main(["probe", backend.url("/delay?ms=200"), "--qps", "20", "-n", "16", "-o", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["trustworthy"] is True and summary["schedule_kept"] is True, summary["verdict"]
    assert summary["verdict"].startswith("trustworthy: the schedule was kept")
    assert 4 <= summary["connections"] <= 12 and summary["send_lag_p50_ms"] < 10
    # and not many more than it needs: a fast answer frees its connection before the next send
    # (one, unless the machine is busy enough to delay an answer past the next send)
    cli.main(["probe", backend.url("/ok"), "--qps", "50", "-n", "10", "-o", "json"])
    assert json.loads(capsys.readouterr().out)["summary"]["connections"] <= 3


@pytest.mark.parametrize("value", ["abc", "600", "6xx", "40"])
def test_accept_status_refuses_what_is_not_a_status(backend: Backend, capsys: pytest.CaptureFixture[str],
                                                    value: str) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["probe", backend.url(), "--accept-status", value])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and "not an HTTP status" in err


def test_the_summary_fits_80_columns_and_shows_hostile_text_as_data(
        backend: Backend, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert cli.main(["probe", backend.url("/status?code=503") + "&pad=" + "x" * 60, "-n", "2",
                     "--label", "run\x1b]0;pwned\x07\u202e"]) == 1
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    assert "label: run\\x1b]0;pwned\\x07\\u202e" in " ".join(out.split())
    assert all(len(line) <= 80 for line in out.splitlines()), out
