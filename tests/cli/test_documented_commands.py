"""The commands README.md and docs/*.md show still run as written.

Every ``runbook …`` line of a shell block and every ``runbook <command> …`` code span is one the
command line accepts (its real parser: a renamed or removed flag fails here); the ones that only
read a cluster (``inventory``, ``diagnose``, ``analyze`` with ``--context sandbox``) run against a
seed sandbox and finish (exit 0 or 1, never 2). ``demo``, ``run``, ``probe`` and ``sandbox`` take
minutes or a foreground terminal; tests/report, tests/probe and tests/sandbox run them. The
other shell lines name files and benchmarks: those must exist. The kubectl commands the documents
teach are run on both engines by tests/differential.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

import runbook.cli as cli
from runbook.sandbox import ensure_running, find_running, stop_running

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_SHELL_BLOCK = re.compile(r"^```(?:bash|sh|shell|console)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_SPAN = re.compile(r"`((?:\.venv/bin/)?runbook [^`\n]+)`")
#: the commands that only read a cluster, run here as written
READ_ONLY = ("inventory", "diagnose", "analyze")
#: a project path named in a shell line
_PATH = re.compile(r"(?<![\w/.])((?:runbook|docs|tests|benchmarks|notebooks)/[\w./-]*\w)")


def _shell_lines() -> list[tuple[str, str]]:
    """(document, line) for every command line of every shell block, continuations joined."""
    lines = []
    for doc in DOCUMENTS:
        for block in _SHELL_BLOCK.findall(doc.read_text()):
            for line in block.replace("\\\n", " ").splitlines():
                if line.strip():
                    lines.append((doc.name, line.strip()))
    return lines


def _variants(words: list[str]) -> list[list[str]]:
    """The command lines a written one stands for: ``status|reset|stop`` is three, ``[-o json]``
    is with and without."""
    if "[" in " ".join(words):
        text = " ".join(words)
        return [*_variants(re.sub(r"\[([^\]]*)\]", r"\1", text).split()),
                *_variants(re.sub(r"\s*\[[^\]]*\]", "", text).split())]
    for i, word in enumerate(words):
        if "|" in word and not word.startswith("-"):
            return [v for alt in word.split("|") for v in _variants([*words[:i], alt, *words[i + 1:]])]
    return [words]


def documented_commands() -> list[tuple[str, list[str]]]:
    """(document, argv) for every ``runbook`` command the documents show, in document order."""
    found: list[tuple[str, str, bool]] = []  # (document, text, in a shell block)
    for doc, line in _shell_lines():
        found += [(doc, part, True) for part in line.split("&&")]
    for doc in DOCUMENTS:
        found += [(doc.name, part, False) for span in _SPAN.findall(doc.read_text())
                  for part in span.split("&&")]
    commands = []
    for doc, text, in_block in found:
        words = shlex.split(text, comments=True)
        if not words or words[0] not in ("runbook", ".venv/bin/runbook"):
            continue
        if any("…" in w or "<" in w for w in words):
            continue  # a template, or a message quoted in prose
        if words[1:2] and words[1] not in cli.COMMANDS and words[1] != "--help":
            continue  # "runbook sandbox: …" quotes a message
        if not in_block and len(words) == 2 and words[1] != "--help":
            continue  # a command named in prose ("`runbook run` executes …")
        commands += [(doc, argv[1:]) for argv in _variants(words)]
    return commands


COMMANDS = documented_commands()


def test_the_documents_show_every_command() -> None:
    shown = {argv[0] for _, argv in COMMANDS if argv} - {"--help"}
    assert shown == set(cli.COMMANDS), "a command of the CLI is documented nowhere (or this test lost it)"
    assert len(COMMANDS) >= 30


@pytest.mark.parametrize(("doc", "argv"), COMMANDS, ids=[" ".join(a) for _, a in COMMANDS])
def test_each_documented_command_is_accepted_as_written(doc: str, argv: list[str]) -> None:
    try:
        args = cli.build_parser(argv).parse_args(argv)
    except SystemExit as exc:
        assert exc.code == 0 and "--help" in argv, f"{doc}: runbook {' '.join(argv)} is refused"
        return
    assert args.command == argv[0]


@pytest.fixture
def local_sandbox() -> Iterator[None]:
    """The local sandbox that ``--context sandbox`` attaches to, started here so that the command
    runs exactly as written (it would start one itself and leave it running), and stopped after.
    Per test: the runbook home is the test session's only once the test's own fixtures ran."""
    ensure_running(scenario="seed-incident")
    try:
        yield
    finally:
        stop_running()


READ_COMMANDS = [(doc, argv) for doc, argv in COMMANDS
                 if argv and argv[0] in READ_ONLY and "--context" in argv
                 and argv[argv.index("--context") + 1] == "sandbox"]


@pytest.mark.parametrize(("doc", "argv"), READ_COMMANDS, ids=[" ".join(a) for _, a in READ_COMMANDS])
def test_each_documented_read_runs_on_the_sandbox(doc: str, argv: list[str], local_sandbox: None,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)  # the documents' relative paths are the checkout's
    running = find_running()
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert code in (0, 1), f"{doc}: runbook {' '.join(argv)} exited {code}: {err}"
    assert out.strip() and err == ""  # attached to the running sandbox: nothing to announce
    assert running is not None and find_running() == running


def test_the_reads_are_among_them() -> None:
    assert {argv[0] for _, argv in READ_COMMANDS} == set(READ_ONLY)


def test_the_files_and_benchmarks_the_shell_lines_name_exist() -> None:
    spans = [(doc.name, span) for doc in DOCUMENTS
             for span in re.findall(r"`((?:\.venv/bin/)?(?:python|runbook) [^`\n]+)`", doc.read_text())]
    named = [(doc, path) for doc, line in [*_shell_lines(), *spans] for path in _PATH.findall(line)]
    assert {path for _, path in named} >= {"tests/notebooks", "docs/images/make_images.py"}
    assert [f"{doc}: {path}" for doc, path in named if not (ROOT / path).exists()] == []
    benches = [(doc, name) for doc, line in _shell_lines()
               if (m := re.search(r"-m benchmarks((?: [a-z_]+)+)", line)) for name in m.group(1).split()]
    assert benches
    assert [f"{doc}: {name}" for doc, name in benches
            if not (ROOT / "benchmarks" / f"{name}_bench.py").is_file()] == []
