"""The folder tree is the architecture: these tests keep the layers honest."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import grimp
import pytest

import runbook

PACKAGE = Path(runbook.__file__).parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_only_kube_imports_the_kubernetes_client() -> None:
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in _modules()
        if p.relative_to(PACKAGE).parts[0] != "kube"
        and any(n == "kubernetes" or n.startswith("kubernetes.") for n in _imports(p))
    ]
    assert offenders == []


def test_sandbox_imports_nothing_from_the_client_side() -> None:
    client_side = ("runbook.kube", "runbook.mesh", "runbook.fix", "runbook.probe", "runbook.ui",
                   "runbook.cli", "runbook.report")
    offenders = [
        f"{p.relative_to(PACKAGE)} imports {n}"
        for p in (PACKAGE / "sandbox").rglob("*.py")
        for n in _imports(p)
        # whole package names: runbook.meshconfig is a bottom module, not runbook.mesh
        if any(n == c or n.startswith(c + ".") for c in client_side)
    ]
    assert offenders == []


def test_import_linter_contracts_hold() -> None:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(exe).exists():
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    result = subprocess.run([exe], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert result.returncode == 0, result.stdout + result.stderr


#: runtime dependencies that are run rather than imported: the notebooks' editor and their kernel
_RUN_NOT_IMPORTED = {"jupyterlab": "the notebooks are opened in it",
                     "ipykernel": "papermill and nbclient start it to execute a notebook"}
#: distribution name → import name where they differ
_IMPORT_NAMES = {"pyyaml": "yaml"}


def test_every_runtime_dependency_is_used_by_the_package() -> None:
    # a dependency only a benchmark or a test needs belongs in an extra, not in every install
    pyproject = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    distributions = {re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower()
                     for d in pyproject["project"]["dependencies"]}
    imported = {n.split(".")[0] for p in _modules() for n in _imports(p)}
    unused = {d for d in distributions - set(_RUN_NOT_IMPORTED)
              if _IMPORT_NAMES.get(d, d).replace("-", "_") not in imported}
    assert unused == set(), f"runtime dependencies nothing in runbook/ imports: {sorted(unused)}"
    assert "pycurl" in str(pyproject["project"]["optional-dependencies"]["bench"])


def _contracts() -> dict[str, dict[str, Any]]:
    pyproject = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    return {c["name"]: c for c in pyproject["tool"]["importlinter"]["contracts"]}


def _layered_modules() -> set[str]:
    contract = next(c for name, c in _contracts().items() if name.startswith("Layers point downwards"))
    layers = contract["layers"]
    return {m.strip() for layer in layers for m in re.split(r"[:|]", layer)}


def test_every_module_of_the_package_has_its_layer() -> None:
    # a bottom module outside the layers contract could import anything; place it in a layer
    top_level = {f"runbook.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")}
    top_level |= {f"runbook.{p.parent.name}" for p in PACKAGE.glob("*/__init__.py")}
    assert top_level - _layered_modules() == set()
    assert _layered_modules() - top_level == set(), "the layers contract names modules that are gone"


def test_pure_mesh_modules_reach_no_cluster_even_through_the_live_ones() -> None:
    # the contract ignores the live modules' own imports of runbook.kube; that must not open a
    # back door for a pure module that imports a live one
    contract = next(c for c in _contracts().values() if c.get("source_modules") == ["runbook.mesh"])
    live = {line.split("->")[0].strip() for line in contract["ignore_imports"]}
    graph = grimp.build_graph("runbook")
    assert live <= graph.find_descendants("runbook.mesh")
    pure = graph.find_descendants("runbook.mesh") - live
    reaching = {m: graph.find_shortest_chain(m, "runbook.kube") for m in sorted(pure)
                if graph.chain_exists(m, "runbook.kube", as_packages=True)}
    assert reaching == {}
