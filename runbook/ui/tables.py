"""DataFrame styling for the notebooks: failing rows stand out, nothing is fetched here.

``style_findings(findings_frame(findings))`` colours error and warning rows;
``highlight_status(inventory.namespace_injection, "status")`` does the same for any table by the
value of one column (injection status, webhook target status, control-plane status, event error
kind, severity). ``readable(...)`` makes any of them fit a notebook's width: figures rounded, long
texts shortened with the full value one click away. All return a pandas ``Styler``: it renders
as HTML in Jupyter and in exported reports (nbconvert keeps the HTML), and ``.data`` is still
the plain DataFrame.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import pandas as pd
from pandas.io.formats.style import Styler

from runbook.markup import escape_html, styled
from runbook.statuses import STATUS_SEVERITY

#: background and text colour per severity (dark text keeps rows readable on dark themes too)
COLOURS: dict[str, str] = {
    "error": "background-color: #f8d7da; color: #58151c",
    "warning": "background-color: #fff3cd; color: #664d03",
    "info": "",
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
    """A :func:`runbook.mesh.findings_frame`, errors red and warnings amber; the message and the
    fix's summary whole and wrapped, other long texts (the fix's command) one click away."""
    styler = highlight_status(df, "severity").hide(axis="index")
    whole: list[Hashable] = [c for c in ("message", "fix_summary") if c in df.columns]
    return readable(styler, whole=whole)


# ------------------------------------------------------------------ readable at notebook width

#: longest cell text shown whole; a longer one shows its start, the full text one click away
CELL_TEXT_MAX = 60
#: significant digits of a float (99.79964 → 99.8, 0.053545 → 0.0535; integer digits are kept)
SIGNIFICANT = 3


def round_figures(value: float, digits: int = SIGNIFICANT) -> str:
    """``value`` with ``digits`` significant digits, never dropping integer digits (1172.4 → 1172)."""
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(digits - 1 - magnitude, 0)
    return f"{value:.{decimals}f}"


def _short_text(value: object, limit: int) -> str:
    text = str(value)
    if len(text) <= limit:
        return escape_html(text)
    # <details> opens on a click in JupyterLab and in exported reports, with no script
    return (f"<details><summary>{escape_html(text[:limit - 1])}…</summary>"
            f"<span style=\"white-space:pre-wrap\">{escape_html(text)}</span></details>")


def _cell(value: object, limit: int | None, na_rep: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return na_rep
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return round_figures(value)
    return _short_text(value, limit) if limit is not None else escape_html(value)


def readable(table: pd.DataFrame | Styler, *, limit: int = CELL_TEXT_MAX, na_rep: str = "—",
             whole: Sequence[Hashable] = ()) -> Styler:
    """A table that fits a notebook 1,400 px wide: floats rounded to :data:`SIGNIFICANT`
    digits, texts longer than ``limit`` shortened with the full value one click away
    (``<details>``), missing values as ``na_rep``. Keeps a Styler's colours; cell text is escaped.

    Args:
        whole: columns whose text is the lesson itself (a finding's message): shown whole and
            wrapped, never shortened.

    Put the columns that carry the lesson first before styling (``df[[...]]``): a reader sees
    the left of a wide table first.
    """
    styler = table if isinstance(table, Styler) else styled(tidy(table))
    columns = list(styler.columns)
    kept = [c for c in whole if c in columns]
    short = [c for c in columns if c not in kept]
    if short:
        # _cell escapes the text itself (and adds the <details> markup): no second escape
        styler = styler.format(lambda v: _cell(v, limit, na_rep), subset=short, escape=None)
    if kept:
        styler = styler.format(lambda v: _cell(v, None, na_rep), subset=kept, escape=None)
        styler = styler.set_properties(subset=kept, **{"white-space": "pre-wrap"})
    return styler
