"""runbook.markup is the one path from cluster text to HTML, Markdown and chart labels."""

from __future__ import annotations

import ast
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import matplotlib
import pandas as pd
import pytest
from matplotlib.figure import Figure

import runbook
from runbook.cli.output import terminal_text
from runbook.markup import chart_text, escape_html, escape_markdown, styled, visible
from runbook.report.export import header_cell
from runbook.report.target import RunTarget

matplotlib.use("Agg")

PACKAGE = Path(runbook.__file__).parent
NOTEBOOKS = PACKAGE.parent / "notebooks"

#: what a hostile cluster writes into event messages, URLs, labels, annotations, ConfigMaps
HOSTILE = [
    "<script>alert('event')</script>",
    '<img src=x onerror="alert(1)">',
    "\"><svg onload=alert(2)>",
    "' onmouseover='alert(3)",
    "javascript:alert(4)",
    "[click me](javascript:alert(5))",
    "![pixel](http://203.0.113.9/track.png)",
    "line one\n\n<b onclick=alert(6)>after a blank line</b>",
    "{{7*7}} ${7*7} $\\href{javascript:alert(8)}{x}$",
    "admin\u202eexe.txt",
    "nul\x00byte and bell\x07",
    "x" * 20_000 + "<script>alert(9)</script>",
]


class MarkupScan(HTMLParser):
    """What in an HTML text could run or load: script-like elements, handler attributes, script
    URLs and anything an ``src`` loads from off the page; and its text (what a reader sees)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.scripts = 0
        self.handlers: list[str] = []
        self.urls: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag in ("script", "iframe", "object", "embed"):
            self.scripts += 1
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append(f"<{tag} {name}={value}>")
            lowered = (value or "").strip().lower()
            # a script URL anywhere, or anything loaded from off the file (a link may point out)
            if (name in ("href", "src", "action", "formaction", "xlink:href")
                    and lowered.startswith(("javascript:", "vbscript:", "data:text/html"))) or (
                    name == "src" and not lowered.startswith(("data:", "#"))):
                self.urls.append(f"<{tag} {name}={(value or '')[:80]}>")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(text: str) -> MarkupScan:
    parser = MarkupScan()
    parser.feed(text)
    parser.close()
    return parser


@pytest.mark.parametrize("hostile", HOSTILE, ids=range(len(HOSTILE)))
def test_escaped_html_is_text_only(hostile: str) -> None:
    found = parse(f"<div>{escape_html(hostile)}</div><a title=\"{escape_html(hostile)}\">x</a>")
    assert found.tags == ["div", "a"] and found.handlers == [] and found.urls == []


@pytest.mark.parametrize("hostile", HOSTILE, ids=range(len(HOSTILE)))
def test_escaped_markdown_stays_text_in_a_markdown_cell(hostile: str) -> None:
    from nbconvert.filters.markdown import markdown2html

    # the report header is one HTML block in a Markdown cell: the value must not end the block
    rendered = markdown2html(f'<div class="h"><p>{escape_markdown(hostile)}</p></div>')
    found = parse(rendered)
    assert set(found.tags) <= {"div", "p"} and found.handlers == [] and found.urls == []
    assert "\n\n" not in escape_markdown(hostile)


def test_visible_drops_controls_and_shows_bidi_overrides() -> None:
    assert visible("a\x00b\x1b[2Kc\td\ne") == "a\ufffdb\ufffd[2Kc\td\ne"
    assert visible("admin\u202eexe") == "admin<U+202E>exe"
    # zero-width characters make one name look like another
    assert visible("istiod\u200b-1-18") == "istiod<U+200B>-1-18"
    assert visible("\ufeffrev\u2060") == "<U+FEFF>rev<U+2060>"


def test_markup_and_the_terminal_hide_the_same_characters() -> None:
    # one table (runbook.controlchars): what the terminal escapes, markup shows visibly too
    every = "".join(chr(c) for c in range(0x110000) if terminal_text(chr(c)) != chr(c))
    assert {"\x1b", "\x9b", "\u202e", "\u200b", "\ufeff"} <= set(every)
    assert [c for c in every if visible(c) == c and c not in "\t\n"] == []
    assert [c for c in map(chr, range(0x3000)) if visible(c) != c and terminal_text(c) == c] == []


def test_styled_escapes_cells_index_and_headers_and_keeps_data() -> None:
    frame = pd.DataFrame({"<b>col</b>": ["<img src=x onerror=alert(1)>", 3]},
                         index=["<script>alert(2)</script>", "ok"])
    html_text = styled(frame).to_html()
    found = parse(html_text)
    assert "script" not in found.tags and "img" not in found.tags and "b" not in found.tags
    assert found.handlers == []
    assert "&lt;img src=x onerror=alert(1)&gt;" in html_text


def test_styled_stays_escaped_after_a_later_format_call() -> None:
    # pandas replaces the cells' formatter, escaping included, on every .format() without escape=
    frame = pd.DataFrame({"webhook": ["<svg/onload=alert(1)>", None], "t_s": [1.5, 2.0]})
    html_text = (styled(frame).hide(axis="index").format(na_rep="—")
                 .format({"t_s": "{:+.2f}"}).to_html())
    assert parse(html_text).handlers == [] and "&lt;svg/onload=alert(1)&gt;" in html_text
    assert "+1.50" in html_text


@pytest.mark.parametrize("hostile", HOSTILE, ids=range(len(HOSTILE)))
def test_chart_text_draws_every_hostile_string(hostile: str) -> None:
    fig = Figure()
    ax = fig.add_subplot()
    ax.set_title(chart_text(hostile))
    ax.text(0.5, 0.5, chart_text(hostile))
    fig.canvas.draw()  # mathtext would fail here on an unbalanced or invalid $…$
    assert len(chart_text(hostile)) <= 120 and "\n" not in chart_text(hostile)


def test_header_cell_keeps_hostile_values_inside_its_html_block() -> None:
    from nbconvert.filters.markdown import markdown2html

    cell = header_cell(notebook="nb.ipynb", status="failed", error=HOSTILE[7] + HOSTILE[5],
                       target=RunTarget(context=HOSTILE[6], server=HOSTILE[1]), started="now",
                       duration_s=1.0, version="1", parameters=[], audit_records=[])
    found = parse(markdown2html(cell.source))
    assert found.handlers == [] and found.urls == []
    assert not {"script", "img", "svg", "a", "b"} & set(found.tags)


# ----------------------------------------------------------------------- one path, by construction

#: what builds markup from text, allowed only in runbook/markup.py
_ESCAPERS = re.compile(r"\bhtml\.escape\(|from html import|(?<!formats)\.style\b|\bStyler\(")


def _code_lines() -> list[tuple[str, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "markup.py" or "sandbox" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        # string constants (docstrings, CSS) are not code
        strings = {n.lineno for n in ast.walk(tree) if isinstance(n, ast.Constant)
                   and isinstance(n.value, str) and n.end_lineno != n.lineno}
        for no, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if no not in strings and _ESCAPERS.search(code):
                found.append((str(path.relative_to(PACKAGE)), line.strip()))
    for nb in sorted(NOTEBOOKS.glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            for line in "".join(cell["source"]).splitlines():
                if cell["cell_type"] == "code" and _ESCAPERS.search(line.split("#", 1)[0]):
                    found.append((nb.name, line.strip()))
    return found


#: escaping a secret's spellings for the masker is not rendering
_ALLOWED = {("report/masking.py", "spellings = {value, html.escape(value), "
                                  "html.escape(value, quote=False), json.dumps(value)[1:-1],")}


def test_only_runbook_markup_escapes_or_styles() -> None:
    offenders = [hit for hit in _code_lines() if hit not in _ALLOWED]
    assert offenders == [], "render through runbook.markup (escape_html, escape_markdown, styled)"
