"""Every kubectl command the project teaches, found where it is taught: the notebooks (code spans
in markdown and code cells), README.md, docs/*.md, the exercise record (runbook/check_result.py) and the
field report (its ``k …`` shell lines, ``k`` being kubectl).

Each command is classified once: ``runnable`` as written (a file it names resolved to the
project's copy: ``bookinfo.yaml`` → ``runbook/apps/bookinfo.yaml``), or not, with the reason
(``fragment`` — a verb named in prose; ``template`` — placeholders to fill in; ``interactive`` —
an editor or a stream that never ends). Only runnable commands are compared; the report lists the
others with their reason, so nothing taught is silently left out.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: the field report the product comes from (read in place, beside the checkout)
FIELD_REPORT_DIR = ROOT.parent / "shared" / "seed"
#: files the sources name, and the project's copy of each
PROJECT_FILES = {
    "bookinfo.yaml": "runbook/apps/bookinfo.yaml",
    "bookinfo-gateway.yaml": "runbook/apps/bookinfo-gateway.yaml",
    "sample-gateway-fixed.yaml": "runbook/apps/sample-gateway-fixed.yaml",
    "sample-gateway.yml": "runbook/apps/sample-gateway.yml",
}
#: verbs that only read: their commands share one engine; the others run in document order
READ_VERBS = frozenset({"get", "describe", "logs", "events", "config", "cluster-info", "auth",
                        "api-resources", "api-versions", "version", "explain", "top", "diff"})
_SPAN = re.compile(r"`(kubectl [^`\n]+)`")
_REPORT_LINE = re.compile(r"➜\s+~?\s*k (\S.*)$")


@dataclass(frozen=True)
class TaughtCommand:
    """One kubectl command line as a source teaches it."""

    text: str  # as written (whitespace collapsed)
    source: str  # where, relative to the checkout (the field report: "field report")
    kind: str  # runnable | fragment | template | interactive
    reason: str = ""
    shell: str = ""  # what runs: the command with project file paths, for ``bash -c``

    @property
    def verb(self) -> str:
        words = [w for w in self.text.split()[1:] if not w.startswith("-")]
        return words[0] if words else ""


def classify(text: str, source: str) -> TaughtCommand:
    """Decide whether ``text`` runs as written, and how."""
    command = text.split("|")[0].strip()
    try:
        words = shlex.split(command)
    except ValueError:
        return TaughtCommand(text, source, "template", "unbalanced quotes")
    args = words[1:]
    if any(mark in text for mark in ("…", "<", ">", "$", "VERB")) or re.search(r"\w\|\w", text):
        return TaughtCommand(text, source, "template", "placeholders to fill in")
    if len(args) < 2 and args[:1] not in (["cluster-info"], ["version"], ["api-resources"]):
        return TaughtCommand(text, source, "fragment", "a verb named in prose")
    if args[-1].startswith("-") and args[-1] in ("-n", "-f", "-o", "-l", "-L", "-p"):
        return TaughtCommand(text, source, "fragment", "a flag without its value")
    if args[0] == "edit":
        return TaughtCommand(text, source, "interactive", "opens an editor")
    if args[0] == "logs" and ("-f" in args or "--follow" in args):
        return TaughtCommand(text, source, "interactive", "follows the log until interrupted")
    if args[0].startswith("-v="):
        return TaughtCommand(text, source, "fragment", "a verbosity flag named in prose")
    if args[:2] == ["auth", "can-i"] and "--list" in args:
        return TaughtCommand(text, source, "runnable", shell=text)
    shell = text
    for i, arg in enumerate(args):
        if i and args[i - 1] == "-f":
            if arg not in PROJECT_FILES:
                return TaughtCommand(text, source, "template", f"a file of the reader's: {arg}")
            shell = re.sub(rf"(?<=-f ){re.escape(arg)}\b", str(ROOT / PROJECT_FILES[arg]), shell)
    return TaughtCommand(text, source, "runnable", shell=shell)


def _spans(text: str) -> list[str]:
    return [" ".join(m.group(1).split()) for m in _SPAN.finditer(text)]


def taught_commands(root: Path = ROOT) -> list[TaughtCommand]:
    """Every command of every source, in document order, each once per source."""
    found: list[tuple[str, str]] = []
    for notebook in sorted((root / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        for cell in cells:
            found += [(c, f"notebooks/{notebook.name}") for c in _spans("".join(cell["source"]))]
    for doc in [root / "README.md", *sorted((root / "docs").glob("*.md")),
                root / "runbook" / "check_result.py"]:
        if doc.name == "fidelity.md":
            continue  # the report itself quotes commands
        found += [(c, str(doc.relative_to(root))) for c in _spans(doc.read_text())]
    if FIELD_REPORT_DIR.is_dir():
        for report in sorted(FIELD_REPORT_DIR.iterdir()):
            for line in report.read_text(errors="replace").splitlines():
                match = _REPORT_LINE.search(line)
                if match:
                    found.append(("kubectl " + " ".join(match.group(1).split()), "field report"))
    seen: set[tuple[str, str]] = set()
    commands = []
    for text, source in found:
        if (text, source) not in seen:
            seen.add((text, source))
            commands.append(classify(text, source))
    return commands


__all__ = ["READ_VERBS", "TaughtCommand", "classify", "taught_commands"]
