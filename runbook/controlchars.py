"""The characters a reader cannot see but a terminal or a renderer acts on: the one table of them.

Text from a cluster is data, and where it is shown these characters must not act: the command line
writes them as escapes (``runbook.cli.output``), HTML, Markdown and chart labels as a replacement
character or a code point (``runbook.markup``). Both ask this module which characters those are,
so the two cannot drift apart. Kept free of imports (pandas in particular): the command line loads
it on every start.
"""

from __future__ import annotations

import re

#: Every character that moves the cursor, changes the terminal's state or reorders text, as the
#: body of a regular-expression class: C0 and C1 controls (ESC starts CSI/OSC sequences; 0x9b is
#: CSI on its own), DEL, and the invisible format characters — bidi embeddings, overrides and
#: isolates (Trojan Source, CVE-2021-42574), zero-width characters, line and paragraph
#: separators, the BOM and interlinear annotations.
CONTROL_CLASS = ("\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e"
                 "\u2060-\u206f\ufeff\ufff9-\ufffb")


def control_characters(keep: str = "") -> re.Pattern[str]:
    """A pattern that matches one control character (:data:`CONTROL_CLASS`) other than those in
    ``keep`` (say ``"\\n"``, where line breaks are meant)."""
    if not keep:
        return re.compile(f"[{CONTROL_CLASS}]")
    return re.compile(f"(?![{re.escape(keep)}])[{CONTROL_CLASS}]")


__all__ = ["CONTROL_CLASS", "control_characters"]
