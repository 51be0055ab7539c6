"""docs/architecture.md stays true: its layers are the import contract's, and what it names exists."""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "docs" / "architecture.md").read_text()
DOTTED = re.compile(r"\brunbook(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
PATHS = re.compile(r"`((?:runbook|docs|notebooks|rbac|tests|benchmarks)/[^`<>*\s]*)`")


def _contract_layers() -> list[set[str]]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contract = next(c for c in pyproject["tool"]["importlinter"]["contracts"]
                    if c["name"].startswith("Layers point downwards"))
    return [{m.strip() for m in re.split(r"[:|]", layer)} for layer in contract["layers"]]


def _page_layers(page: str) -> list[set[str]]:
    """The layers block, top to bottom: a line at the margin starts a layer (its first word, or the
    modules on the indented lines after a ``bottom``/``foundation`` heading)."""
    block = page.split("<!-- layers")[1].split("<!-- end of layers -->")[0]
    block = block.split("```text\n")[1].split("```")[0]
    layers: list[set[str]] = []
    for line in block.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            first = line.split()[0]
            layers.append({first} if first.startswith("runbook.") else set())
        else:
            layers[-1].update(DOTTED.findall(line))
    return layers


def test_the_layer_picture_is_the_import_contract() -> None:
    assert _page_layers(PAGE) == _contract_layers()


def test_the_diagram_draws_the_same_order() -> None:
    chain = next(line for line in PAGE.splitlines() if line.strip().startswith("cli -->"))
    names = [n.strip() for n in chain.split("-->")]
    expected = [next(iter(layer)).rsplit(".", 1)[1] for layer in _contract_layers() if len(layer) == 1]
    assert names == [*expected, "bottom", "foundation"]


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


@pytest.mark.parametrize("dotted", sorted(set(DOTTED.findall(PAGE))))
def test_every_module_and_name_the_page_gives_exists(dotted: str) -> None:
    assert _resolves(dotted), f"docs/architecture.md names {dotted}, which does not exist"


@pytest.mark.parametrize("path", sorted(set(PATHS.findall(PAGE))))
def test_every_path_the_page_gives_exists(path: str) -> None:
    assert (ROOT / path).exists(), f"docs/architecture.md names {path}, which does not exist"


def test_the_checks_catch_a_name_that_is_gone() -> None:
    assert not _resolves("runbook.mesh.no_such_module")
    assert not _resolves("runbook.mesh.findings.NO_SUCH_NAME")
    assert _page_layers("<!-- layers -->\n```text\nrunbook.a  x\nfoundation:\n   runbook.b runbook.c\n```\n"
                        "<!-- end of layers -->") == [{"runbook.a"}, {"runbook.b", "runbook.c"}]
