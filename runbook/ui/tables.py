"""DataFrame styling for the notebooks: failing rows stand out, nothing is fetched here.

``style_findings(findings_frame(findings))`` colours error and warning rows;
``highlight_status(inventory.namespace_injection, "status")`` does the same for any table by the
value of one column (injection status, webhook target status, control-plane status, event error
kind, severity). Both return a pandas ``Styler``: it renders as HTML in Jupyter and in exported
reports (nbconvert keeps the HTML), and ``.data`` is still the plain DataFrame.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import pandas as pd
from pandas.io.formats.style import Styler

from runbook.markup import styled

#: background and text colour per severity (dark text keeps rows readable on dark themes too)
COLOURS: dict[str, str] = {
    "error": "background-color: #f8d7da; color: #58151c",
    "warning": "background-color: #fff3cd; color: #664d03",
    "info": "",
}

#: what a value in a status-like column means (values of the mesh tables' status columns)
STATUS_SEVERITY: dict[str, str] = {
    # findings
    "error": "error", "warning": "warning", "info": "info",
    # namespace_injection.status
    "target missing": "error", "no endpoints": "error", "ambiguous": "warning",
    "both labels": "warning", "no injection": "info", "ok": "info",
    # webhook_targets / revision_tags .target_status
    "service_not_found": "error", "no_service_port": "error", "headless": "error",
    "unsupported_type": "error", "unknown": "warning", "url": "info",
    # control_planes.status
    "no pods": "error", "not ready": "warning",
    # replicaset_events.error_kind
    "timeout": "error", "connection_refused": "error", "tls": "error", "denied": "error",
    "invalid_response": "error", "other": "error", "no_endpoints": "error",
    # events' type
    "Warning": "warning", "Normal": "info",
}


def tidy(df: pd.DataFrame) -> pd.DataFrame:
    """Lists in cells as ``a, b`` (``—`` when empty) instead of Python's ``['a', 'b']``."""
    out = df.copy()
    for col in out.columns:
        if out[col].map(lambda v: isinstance(v, (list, tuple))).any():
            out[col] = out[col].map(lambda v: (", ".join(map(str, v)) or "—")
                                    if isinstance(v, (list, tuple)) else v)
    return out


def left(styler: Styler) -> Styler:
    """Text left-aligned, headers too (JupyterLab's CSS right-aligns table cells)."""
    return styler.set_table_styles([{"selector": "th, td", "props": [("text-align", "left")]}],
                                   overwrite=False)


def severity_of(value: Any, levels: Mapping[str, str] | None = None) -> str | None:
    """The severity a cell value stands for (None for values without one, e.g. NaN)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    table = {**STATUS_SEVERITY, **(levels or {})}
    return table.get(str(value))


def highlight_status(df: pd.DataFrame, column: str, levels: Mapping[str, str] | None = None
                     ) -> Styler:
    """Colour whole rows by the severity of ``df[column]``; lists read as text, cells left-aligned.

    Args:
        df: any table (an inventory table, a findings frame …).
        column: the column whose value decides the colour (``status``, ``target_status``,
            ``error_kind``, ``severity``).
        levels: extra or overriding value → severity (``error`` | ``warning`` | ``info``).

    Raises:
        KeyError: ``column`` is not in ``df`` (the message lists the columns).
    """
    if column not in df.columns:
        raise KeyError(f"no column {column!r}; the table has: {', '.join(map(str, df.columns))}")

    def paint(row: pd.Series) -> list[str]:
        sev = severity_of(row[column], levels)
        css = COLOURS.get(sev or "", "")
        return [css] * len(row)

    return left(styled(tidy(df)).apply(paint, axis=1))


def style_findings(df: pd.DataFrame) -> Styler:
    """A :func:`runbook.mesh.findings_frame`, errors red and warnings amber, messages wrapped."""
    styler = highlight_status(df, "severity")
    wrap = {"white-space": "pre-wrap", "text-align": "left"}
    cols: list[Hashable] = [c for c in ("message", "fix_summary", "fix_command")
                            if c in df.columns]
    if cols:
        styler = styler.set_properties(subset=cols, **wrap)
    return styler.hide(axis="index")
