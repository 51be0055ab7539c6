"""Text from a cluster made safe to show: the one place that turns it into HTML, Markdown or a chart label.

Everything a cluster holds — event messages, webhook URLs, labels, annotations, ConfigMap data —
is written by other people. Shown raw, ``<img src=x onerror=…>`` in an Event message runs as script
in an exported report and in JupyterLab, in the origin of the kernel that holds the kubeconfig. So
nothing else in the package builds markup from such text: HTML goes through :func:`escape_html`,
HTML inside a Markdown cell through :func:`escape_markdown`, DataFrames through :func:`styled`
(pandas' ``Styler`` does not escape cell values unless asked), matplotlib text through
:func:`chart_text`. ``tests/test_markup.py`` keeps every other module from escaping (or forgetting
to escape) on its own.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pandas as pd
from pandas.io.formats.style import Styler

from runbook.controlchars import control_characters

#: control characters except tab and newline (:mod:`runbook.controlchars`)
_CONTROL = control_characters(keep="\t\n")
#: what Markdown (and JupyterLab's MathJax) would interpret outside an HTML block; numeric
#: references read the same in HTML and stop the Markdown parser from seeing links, images,
#: emphasis or code spans
_MARKDOWN = re.compile(r"[\\`*_{}\[\]()#+!|~$\n]")
#: matplotlib reads ``$…$`` as mathtext (an unbalanced pair fails the whole figure)
CHART_TEXT_LIMIT = 120


def visible(value: object) -> str:
    """``value`` as text without control characters: C0/C1 controls (a NUL or a backspace means
    nothing to a reader, and some renderers stop or misplace text at them) become ``�``; the
    invisible format characters — bidi overrides that make text display in another order than it
    is stored ("Trojan Source"), zero-width ones that make a name look like another — are shown
    as their code point, ``<U+202E>``."""
    return _CONTROL.sub(_shown, str(value))


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    return "\N{REPLACEMENT CHARACTER}" if code < 0xA0 else f"<U+{code:04X}>"


def escape_html(value: object) -> str:
    """``value`` as HTML text: ``& < > " '`` escaped (safe in elements and quoted attributes)."""
    return html.escape(visible(value), quote=True)


#: the characters HTML gives a meaning to, as ``html.escape(quote=True)`` names them
_HTML_REFERENCES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}
_MARKDOWN_OR_HTML = re.compile(_MARKDOWN.pattern[:-1] + "&<>\"']")


def _markdown_reference(match: re.Match[str]) -> str:
    char = match.group()
    return _HTML_REFERENCES.get(char) or f"&#{ord(char)};"


def escape_markdown(value: object) -> str:
    """``value`` for a Markdown cell (or HTML inside one): :func:`escape_html` plus every character
    Markdown gives a meaning to, newlines included (a blank line would end an HTML block and let
    the rest be read as Markdown: ``[x](javascript:…)`` links, ``![](http://…)`` images)."""
    # one pass: escaping Markdown after HTML would turn the "#" of "&#x27;" (a quote) into a reference
    return _MARKDOWN_OR_HTML.sub(_markdown_reference, visible(value))


def chart_text(value: object, limit: int = CHART_TEXT_LIMIT) -> str:
    """``value`` for a matplotlib title, label or annotation: literal dollars (no mathtext), one
    line, at most ``limit`` characters."""
    text = " ".join(visible(value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("$", r"\$")


class EscapingStyler(Styler):
    """A ``Styler`` whose ``format`` and ``format_index`` escape HTML unless told otherwise.

    pandas escapes per ``format`` call, and a later ``.format(na_rep="—")`` replaces the cells'
    formatter — escaping included — unless it repeats ``escape="html"``; here it cannot forget.
    """

    # the same parameters as pandas' (passed through); only escape's default differs
    def format(self, *args: Any, **kwargs: Any) -> Styler:  # type: ignore[override]
        kwargs.setdefault("escape", "html")
        return super().format(*args, **kwargs)

    def format_index(self, *args: Any, **kwargs: Any) -> Styler:  # type: ignore[override]
        kwargs.setdefault("escape", "html")
        return super().format_index(*args, **kwargs)


def styled(frame: pd.DataFrame) -> Styler:
    """``frame.style`` with every cell, index label and column header HTML-escaped — also after
    later ``.format(...)`` calls (:class:`EscapingStyler`). The only way the package makes one."""
    clean = frame.copy()
    for col in clean.columns:
        if clean[col].dtype == object:
            clean[col] = clean[col].map(_visible_cell)
    return EscapingStyler(clean).format().format_index(axis=0).format_index(axis=1)


def _visible_cell(value: Any) -> Any:
    return visible(value) if isinstance(value, str) else value


__all__ = ["CHART_TEXT_LIMIT", "EscapingStyler", "chart_text", "escape_html", "escape_markdown",
           "styled", "visible"]
