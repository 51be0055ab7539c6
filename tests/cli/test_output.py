"""Terminal output in kubectl's idiom (issue 15) and cluster text treated as data (issue 19, item 8).

Pure checks of :mod:`runbook.cli.output`, then the real ``runbook inventory|diagnose|analyze|
sandbox status`` against a sandbox holding hostile text: an event message that retitles the
terminal, erases a line, reverses text and starts like a spreadsheet formula; a webhook URL with a
bidi override; an Istio config file with escape sequences in its names.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from wcwidth import wcswidth

import runbook.cli as cli
from runbook import kinds as k
from runbook.apps import app_path
from runbook.cli.output import (
    cell_text,
    csv_cell,
    echo,
    format_findings,
    format_table,
    terminal_text,
    wrap,
    write_csv,
)
from runbook.controlchars import control_characters
from runbook.kube import connect
from runbook.kube.apply import apply_manifests
from runbook.sandbox import Sandbox
from tests.conftest import advance_world

ALPHA = "l7-traffic-alpha"
#: OSC 0 (set the window title), CSI 2K (erase the line), RLO (right-to-left override), a formula
HOSTILE_MESSAGE = ("=HYPERLINK(\"http://evil.test\")\x1b]0;pwned\x07 quota \x1b[2K\r"
                   "\u202eexceeded\u202c\x9b31m")
HOSTILE_URL = "https://evil.test/\u202einject\u2066"
RAW_CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


class _Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


# ----------------------------------------------------------------------------- pure functions


def test_terminal_text_makes_every_control_character_visible() -> None:
    shown = terminal_text(HOSTILE_MESSAGE)
    assert RAW_CONTROLS.search(shown) is None
    assert "\\x1b]0;pwned\\x07" in shown and "\\x1b[2K\\r" in shown and "\\u202eexceeded\\u202c" in shown
    assert "\\x9b31m" in shown  # C1 CSI, a one-byte escape on some terminals
    assert terminal_text("a\nb\tc") == "a\\nb\\tc" and terminal_text("plain 中文") == "plain 中文"



def test_every_control_character_is_one_isprintable_refuses() -> None:
    # terminal_text and echo pass text that str.isprintable accepts through unchanged: sound only
    # while no character of the control class is printable to Python
    pattern = control_characters()
    printable = [hex(code) for code in range(0x110000)
                 if pattern.match(chr(code)) and chr(code).isprintable()]
    assert printable == []
    for char in ("\x1b", "\x9b", "\u202e", "\u2028", "\ufeff"):
        assert terminal_text(f"a{char}b") != f"a{char}b"

def test_echo_is_a_gate_even_for_text_nobody_escaped() -> None:
    out = io.StringIO()
    echo(f"line one\n{HOSTILE_MESSAGE}", out)
    text = out.getvalue()
    assert text.count("\n") == 2 and RAW_CONTROLS.search(text) is None


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    pipe, tty = io.StringIO(), _Terminal()
    echo("ERROR   MR101  x", pipe)
    echo("ERROR   MR101  x", tty)
    assert "\x1b" not in pipe.getvalue() and tty.getvalue().startswith("\x1b[1;31mERROR\x1b[0m")
    echo("NOT TRUSTWORTHY: the schedule was not kept", tty)
    assert "\n\x1b[1;31mNOT TRUSTWORTHY\x1b[0m: the schedule" in tty.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    tty = _Terminal()
    echo("ERROR   MR101  x", tty)
    assert "\x1b" not in tty.getvalue()


def test_csv_cells_that_a_spreadsheet_would_run_get_a_quote() -> None:
    for formula in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert csv_cell(formula) == "'" + formula
    assert csv_cell("1-18-5") == "1-18-5" and csv_cell(-1) == -1 and csv_cell(2.5) == 2.5


def test_csv_to_a_terminal_is_escaped_and_to_a_pipe_complete() -> None:
    df = pd.DataFrame({"message": [HOSTILE_MESSAGE], "count": [-1], "evidence": [["a", "b"]]})
    pipe, tty = io.StringIO(), _Terminal()
    write_csv(df, pipe)
    write_csv(df, tty)
    assert list(csv.DictReader(io.StringIO(pipe.getvalue()))) == [
        {"message": "'" + HOSTILE_MESSAGE, "count": "-1", "evidence": "a,b"}]
    assert RAW_CONTROLS.search(tty.getvalue()) is None and "'=HYPERLINK" in tty.getvalue()


def test_cells_read_as_kubectl_prints_them() -> None:
    assert [cell_text(v) for v in (None, float("nan"), "", [], ["a", "b"], {"app": "x"}, True, 3.0, 2.5)] == [
        "<none>", "<none>", "<none>", "<none>", "a,b", "app=x", "true", "3", "2.5"]
    assert cell_text(pd.NaT) == "<none>" and cell_text(["a\x1b[2K"]) == "a\\x1b[2K"


@pytest.mark.parametrize("width", [80, 100])
def test_tables_fit_the_width_and_keep_the_first_columns(width: int) -> None:
    df = pd.DataFrame({
        "namespace": ["l7-traffic-alpha", "kube-system"],
        "status": ["target missing", "no injection"],
        "message": ["x" * 300, "中文" * 80],
        "webhooks": [["istio-revision-tag-prod-canary/rev.namespace.sidecar-injector.istio.io"] * 3, []],
        "detail": [None, float("nan")],
    })
    lines = format_table(df, width=width).splitlines()
    assert all(wcswidth(line) <= width for line in lines)
    assert lines[0].split()[:3] == ["NAMESPACE", "STATUS", "MESSAGE"]
    assert "l7-traffic-alpha" in lines[1] and "…" in lines[1]  # the first column is never cut
    wide = format_table(df, width=width, wide=True).splitlines()
    assert wide[0].split() == ["NAMESPACE", "STATUS", "MESSAGE", "WEBHOOKS", "DETAIL"]
    assert "x" * 300 in wide[1] and wide[2].rstrip().endswith("<none>")


def test_least_important_columns_leave_first_when_the_terminal_is_narrow() -> None:
    df = pd.DataFrame({f"column_{i}": ["value-that-is-long"] for i in range(12)})
    header = format_table(df, width=80).splitlines()[0].split()
    assert header[0] == "COLUMN_0" and 2 <= len(header) < 12
    assert header == [f"COLUMN_{i}" for i in range(len(header))]


# ---------------------------------------------------------------- the commands, hostile cluster


@pytest.fixture(scope="module")
def hostile() -> Iterator[Sandbox]:
    """The field report's world after bookinfo was applied, plus an event and a webhook written by
    someone who wants to attack the reader's terminal and spreadsheet."""
    with Sandbox(scenario="seed-incident", clock="manual") as sb:
        with connect(sb.kubeconfig_path, "sandbox") as cluster:
            apply_manifests(cluster, app_path("bookinfo"), namespace=ALPHA)
            advance_world(sb, 30)
            replicaset = cluster.list(k.REPLICA_SETS, namespace=ALPHA)[0]["metadata"]
            cluster.create(k.EVENTS, {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": "hostile.1", "namespace": ALPHA},
                "involvedObject": {"kind": "ReplicaSet", "namespace": ALPHA, "name": replicaset["name"],
                                   "uid": replicaset["uid"], "apiVersion": "apps/v1"},
                "reason": "FailedCreate", "type": "Warning", "message": HOSTILE_MESSAGE, "count": 1,
                "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z",
                "source": {"component": "replicaset-controller"},
            }, namespace=ALPHA)
            cluster.create(k.MUTATING_WEBHOOKS, {
                "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
                "metadata": {"name": "hostile-injector"},
                "webhooks": [{"name": "hostile.example.test", "clientConfig": {"url": HOSTILE_URL},
                              "sideEffects": "None", "admissionReviewVersions": ["v1"],
                              "failurePolicy": "Ignore",
                              "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                                         "resources": ["pods"]}]}],
            })
        yield sb


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _target(sb: Sandbox) -> list[str]:
    return ["--kubeconfig", str(sb.kubeconfig_path), "--context", "sandbox"]


def _check_terminal_text(out: str, width: int | None) -> None:
    assert RAW_CONTROLS.search(out) is None, [line for line in out.splitlines() if RAW_CONTROLS.search(line)]
    if width is not None:
        # a fix's command is kept whole to be copied; everything else fits
        long = [line for line in out.splitlines() if wcswidth(line) > width
                and not line.lstrip().startswith(("kubectl ", "istioctl "))]
        assert long == []


@pytest.mark.parametrize("width", [80, 100])
def test_inventory_and_diagnose_fit_and_show_hostile_text_as_data(
        hostile: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        width: int) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    code, out, err = _run(capsys, "inventory", *_target(hostile))
    assert code == 0 and err == ""
    _check_terminal_text(out, width)
    assert "NaN" not in out and "None" not in out and "[" not in out.replace("[2K", "")
    code, out, err = _run(capsys, "inventory", *_target(hostile), "--table", "replicaset_events",
                          "--table", "webhook_targets", "-o", "wide")
    _check_terminal_text(out, None)
    assert terminal_text(HOSTILE_MESSAGE) in out and terminal_text(HOSTILE_URL) in out
    code, out, err = _run(capsys, "diagnose", *_target(hostile), "-n", ALPHA, "--tables")
    assert code == 1 and err == ""
    _check_terminal_text(out, width)
    assert "== findings" in out and "== replicaset_events (7)" in out


def test_machine_outputs_stay_complete_and_csv_is_formula_safe(
        hostile: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "inventory", *_target(hostile), "--table", "replicaset_events", "-o", "json")
    assert HOSTILE_MESSAGE in [row["message"] for row in json.loads(out)["replicaset_events"]]
    assert RAW_CONTROLS.search(out) is None  # JSON escapes them itself
    code, out, _ = _run(capsys, "inventory", *_target(hostile), "--table", "replicaset_events", "-o", "yaml")
    import yaml

    assert HOSTILE_MESSAGE in [row["message"] for row in yaml.safe_load(out)["replicaset_events"]]
    code, out, _ = _run(capsys, "diagnose", *_target(hostile), "-o", "csv")
    assert code == 1
    body = out.split("# replicaset_events\n", 1)[1].split("\n\n# ", 1)[0]
    messages = [row["message"] for row in csv.DictReader(io.StringIO(body))]
    assert "'" + HOSTILE_MESSAGE in messages  # complete, behind a quote
    assert not [m for m in messages if m.startswith(("=", "+", "-", "@"))]


def test_analyze_shows_hostile_names_from_files_as_data(
        hostile: Sandbox, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    manifest = tmp_path / "vs.yaml"
    manifest.write_text(json.dumps({
        "apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
        "metadata": {"name": "vs\x1b]0;pwned\x07", "namespace": ALPHA},
        "spec": {"hosts": ["\u202eevil.test"], "gateways": ["missing\x1b[2K"],
                 "http": [{"route": [{"destination": {"host": "nowhere\x07"}}]}]},
    }))
    code, out, err = _run(capsys, "analyze", "-f", str(manifest), *_target(hostile))
    assert code == 1 and err == "" and "== messages" in out  # the gateway it names is missing
    _check_terminal_text(out, 80)
    assert "\\x1b" in out


def test_findings_wrap_with_a_hanging_indent() -> None:
    from runbook.mesh.findings import ERROR, Finding, Subject

    finding = Finding(code="MR101", severity=ERROR, subject=Subject("ReplicaSet", ALPHA, "details-v1-x"),
                      message="word " * 80, evidence=[HOSTILE_MESSAGE])
    lines = format_findings([finding], width=60).splitlines()
    assert lines[1].startswith("ERROR   MR101") and all(wcswidth(line) <= 60 for line in lines)
    assert lines[2].startswith(" " * 8 + "word") and lines[3].startswith(" " * 8 + "word")
    assert RAW_CONTROLS.search("\n".join(lines)) is None


def test_sandbox_status_shows_a_hostile_scenario_path_as_data(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario\x1b]0;pwned\x07\u202e"
    scenario.mkdir()
    (scenario / "ns.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: quiet\n")
    server = subprocess.Popen([sys.executable, "-m", "runbook", "sandbox", "--scenario", str(scenario)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout is not None
        first = server.stdout.readline()  # "sandbox serving …" once it answers
        assert "sandbox serving" in first, first
        assert RAW_CONTROLS.search(first) is None and "scenario\\x1b]0;pwned\\x07\\u202e" in first
        status = subprocess.run([sys.executable, "-m", "runbook", "sandbox", "status"], capture_output=True,
                                text=True, timeout=60, env={**_env(), "COLUMNS": "80"})
        assert status.returncode == 0, status.stderr
        _check_terminal_text(status.stdout, 80)
        unwrapped = re.sub(r"\n +", "", status.stdout)  # a long path continues on the next lines
        assert "scenario\\x1b]0;pwned\\x07\\u202e" in unwrapped
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_wrap_fills_as_textwrap_does_for_any_words_and_width() -> None:
    import random

    rng = random.Random(17)
    for _ in range(2000):
        words = ["".join(rng.choices("abcdefgh-/.:", k=rng.randint(1, 24)))
                 for _ in range(rng.randint(1, 40))]
        text, width = " ".join(words), rng.randint(20, 120)
        first = rng.choice([None, "ERROR   ", "        · ", "        fix: "])
        indent = rng.choice(["        ", "          ", "             "])
        expected = textwrap.wrap(text, width=max(width, len(indent) + 20),
                                 initial_indent=first or indent, subsequent_indent=indent,
                                 break_long_words=True, break_on_hyphens=False)
        assert wrap(text, width, indent, first=first) == expected, (text, width, first, indent)


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


@pytest.mark.parametrize("text", [
    "MR101  istio-prod/productpage", "fits exactly in the width of sixty columns of text here....",
    " leading space", "trailing space ", "two  spaces inside", "a\ttab", "a\nnewline", "",
    "x" * 120, "wide 漢字 characters", "one more word than the width allows for this line of text",
    "a message of several lines: the namespace's pods are created by a ReplicaSet whose webhook "
    "call failed, so every word is placed greedily as textwrap places it, line after line.",
    "a line that ends with a word too long to fit " + "y" * 58, "fits  then  double spaces " * 4,
])
@pytest.mark.parametrize("first", [None, "ERROR   ", "        · "])
def test_wrap_is_textwrap_for_every_line(text: str, first: str | None) -> None:
    indent = "        "
    expected = textwrap.wrap(terminal_text(text), width=60, initial_indent=first or indent,
                             subsequent_indent=indent, break_long_words=True,
                             break_on_hyphens=False) or [(first or indent).rstrip()]
    assert wrap(text, 60, indent, first=first) == expected
