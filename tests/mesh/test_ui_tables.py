"""The notebooks' table styling: failing rows are coloured, healthy rows are not."""

from __future__ import annotations

import pandas as pd
import pytest

from runbook.mesh import diagnose, findings_frame, namespace_injection
from runbook.ui.tables import COLOURS, highlight_status, severity_of, style_findings

from .worlds import World


def _row_styles(styler: pd.io.formats.style.Styler) -> list[set[str]]:
    styler._compute()  # the Styler fills ctx lazily
    rows: dict[int, set[str]] = {}
    for (r, _c), props in styler.ctx.items():
        rows.setdefault(r, set()).update(f"{k}: {v}" for k, v in props)
    return [rows.get(i, set()) for i in range(len(styler.data))]


def test_findings_rows_coloured_by_severity(seed: World) -> None:
    df = findings_frame(diagnose(seed.snapshot()))
    styler = style_findings(df)
    styles = _row_styles(styler)
    for sev, css in zip(df["severity"], styles, strict=True):
        if sev == "error":
            assert "background-color: #f8d7da" in css
        elif sev == "warning":
            assert "background-color: #fff3cd" in css
        else:
            assert not any(s.startswith("background-color") for s in css)
    html = styler.to_html()
    assert "MR101" in html and "#f8d7da" in html


def test_injection_status_highlight(seed: World) -> None:
    df = namespace_injection(seed.snapshot())
    styles = _row_styles(highlight_status(df, "status"))
    by_ns = dict(zip(df["namespace"], styles, strict=True))
    assert "background-color: #f8d7da" in by_ns["l7-traffic-alpha"]  # target missing
    assert not any(s.startswith("background") for s in by_ns["l7-traffic-beta"])  # ok


def test_highlight_unknown_column_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="no column 'state'; the table has: status"):
        highlight_status(pd.DataFrame({"status": ["ok"]}), "state")


def test_severity_of_values() -> None:
    assert severity_of("service_not_found") == "error"
    assert severity_of(float("nan")) is None
    assert severity_of("custom", {"custom": "warning"}) == "warning"
    assert set(COLOURS) == {"error", "warning", "info"}


def test_readable_rounds_figures_and_puts_long_texts_one_click_away() -> None:
    from runbook.ui.tables import readable, round_figures

    assert [round_figures(v) for v in (99.79964, 0.053545, 1172.4, 0.0, -3.14159)] == [
        "99.8", "0.0535", "1172", "0", "-3.14"]
    long = "kubectl patch mutatingwebhookconfiguration istio-revision-tag-prod-canary --type=json <x>"
    df = pd.DataFrame({"achieved_qps": [99.79964], "fix_command": [long], "message": [long],
                       "found_in": [None]})
    html = readable(df, whole=["message"]).to_html()
    assert "99.8<" in html and "99.79964" not in html
    # shortened: the start in a <summary>, the whole escaped text one click away
    assert "<details><summary>kubectl patch mutatingwebhookconfiguration" in html
    assert html.count("&lt;x&gt;") == 2 and "<x>" not in html
    assert html.count("<details>") == 1  # the message is shown whole
    assert ">—<" in html


def test_findings_keep_the_message_whole_and_shorten_the_command(seed: World) -> None:
    df = findings_frame(diagnose(seed.snapshot()))
    from html import escape

    html = style_findings(df[["severity", "code", "message", "fix_command"]]).to_html()
    mr101 = df[df["code"] == "MR101"].iloc[0]
    assert len(mr101["message"]) > 60 and escape(mr101["message"]) in html
    assert "<details><summary>kubectl" in html
