"""``import runbook``: the front door a notebook or a script uses — its names, its cost, its users."""

from __future__ import annotations

import ast
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

import runbook

PACKAGE = Path(runbook.__file__).parent
NOTEBOOKS = sorted((PACKAGE.parent / "notebooks").glob("*.ipynb"))
#: what the front door must offer (issue 16): connect, diagnose, apply, roll out, plan and apply a
#: fix (and its panel), probe and chart, the incident report, the exceptions
ESSENTIAL = {"connect", "read_mesh", "diagnose_cluster", "apply_manifests", "wait_for_rollout",
             "plan_fix", "run_fix", "FixPanel", "probe_with_fault", "latency_cdf", "IncidentReport",
             "RunbookError", "InputError", "ClusterError"}


def _public_names_defined_at_import() -> set[str]:
    return {name for name, value in vars(runbook).items()
            if not name.startswith("_") and not inspect.ismodule(value)
            and type(value).__module__ != "__future__"}  # `annotations`


def test_all_lists_exactly_the_public_names() -> None:
    # as httpx checks its own: a public name missing from __all__, or one listed that the package
    # does not provide, fails — here for the names imported at once and the ones imported on use
    lazy = set(runbook._EXPORTS)
    assert set(runbook.__all__) == _public_names_defined_at_import() | lazy | {"__version__"}
    assert len(runbook.__all__) == len(set(runbook.__all__))
    assert set(runbook.__all__) >= ESSENTIAL
    assert set(dir(runbook)) >= set(runbook.__all__)


@pytest.mark.parametrize("name", sorted(set(runbook.__all__) - {"__version__"}))
def test_every_exported_name_resolves_to_what_its_module_defines(name: str) -> None:
    value = getattr(runbook, name)
    assert not inspect.ismodule(value), f"runbook.{name} is a module, not API"
    if name in runbook._EXPORTS:
        module = sys.modules[f"runbook.{runbook._EXPORTS[name]}"]
        assert getattr(module, name) is value


def test_the_type_checkers_view_lists_the_same_names() -> None:
    # the ``if TYPE_CHECKING:`` imports are what mypy and editors see; they must not drift
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    block = next(node for node in tree.body if isinstance(node, ast.If)
                 and "TYPE_CHECKING" in ast.unparse(node.test))
    seen = {alias.asname or alias.name for node in ast.walk(block) if isinstance(node, ast.ImportFrom)
            for alias in node.names}
    assert seen == set(runbook._EXPORTS)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'diagnose'"):
        runbook.diagnose  # noqa: B018 — the pure function is runbook.mesh's, not the front door's


def test_importing_the_front_door_imports_nothing_heavy() -> None:
    code = ("import sys, runbook\n"
            "heavy = {'pandas', 'numpy', 'kubernetes', 'matplotlib', 'ipywidgets', 'papermill', 'yaml'}\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
            "print(sorted(m for m in sys.modules if m.startswith('runbook.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    heavy, ours = (json.loads(line.replace("'", '"')) for line in out.stdout.splitlines())
    assert heavy == []
    assert ours == ["runbook.errors", "runbook.lazy"]


def _runbook_imports(notebook: Path) -> set[str]:
    modules: set[str] = set()
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "\n".join(line for line in "".join(cell["source"]).splitlines()
                           if not line.startswith(("%", "!")))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("runbook"):
                modules.add(node.module)
            elif isinstance(node, ast.Import):
                modules.update(a.name for a in node.names if a.name.startswith("runbook"))
    return modules


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_import_from_the_front_door_and_at_most_two_subpackages(notebook: Path) -> None:
    modules = _runbook_imports(notebook)
    assert "runbook" in modules
    assert len(modules - {"runbook"}) <= 2, sorted(modules)
