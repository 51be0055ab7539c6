"""Reading and typing notebook parameters; finding the series and resolving short names (no kernel)."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import nbformat
import pytest

from runbook.errors import InputError
from runbook.report.notebooks import (
    NOTEBOOKS_ENV,
    discover_notebooks,
    notebook_dirs,
    notebooks_dir,
    resolve_notebook,
)
from runbook.report.parameters import NotebookParameter, check_parameters, coerce_value, read_parameters


def test_read_parameters_of_a_notebook(notebooks: Path) -> None:
    params = read_parameters(notebooks / "typed-parameters.ipynb")
    assert list(params) == ["kubeconfig", "context", "apply_fixes", "count", "ratio", "label", "hosts",
                            "limit"]
    assert params["context"].default == "sandbox" and params["kubeconfig"].default is None
    assert params["count"] == NotebookParameter("count", 3, "int", "requests per step")
    assert params["hosts"].default == ["a.example"]


@pytest.mark.parametrize(("param", "text", "value"), [
    (NotebookParameter("apply_fixes", False), "TRUE", True),
    (NotebookParameter("apply_fixes", False), "off", False),
    (NotebookParameter("count", 3), "-4", -4),
    (NotebookParameter("ratio", 0.5), "2", 2.0),
    (NotebookParameter("context", "sandbox"), "None", None),
    (NotebookParameter("context", "sandbox"), "prod-eu", "prod-eu"),
    (NotebookParameter("kubeconfig", None), "/k", "/k"),
    (NotebookParameter("limit", None, "Optional[int]"), "None", None),
    (NotebookParameter("limit", None, "int"), "12", 12),
    (NotebookParameter("hosts", []), '["a", "b"]', ["a", "b"]),
    (NotebookParameter("labels", {}), '{"app": "x", "on": true}', {"app": "x", "on": True}),
    (NotebookParameter("count", 3), 5, 5),  # non-strings (from Python) are kept as given
])
def test_coerce_value(param: NotebookParameter, text: object, value: object) -> None:
    result = coerce_value(param, text)
    assert result == value and type(result) is type(value)


def test_none_is_not_a_number(notebooks: Path) -> None:
    with pytest.raises(InputError, match="expected int"):
        coerce_value(NotebookParameter("count", 3), "None")


def test_notebook_without_parameters_cell_takes_none(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print(1)")]
    path = tmp_path / "plain.ipynb"
    nbformat.write(nb, str(path))
    assert check_parameters(path, {}) == {}
    with pytest.raises(InputError, match=r"plain\.ipynb has no cell tagged 'parameters'"):
        check_parameters(path, {"context": "x"})


def _series(root: Path, *names: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        nbformat.write(nbformat.v4.new_notebook(), str(root / name))
    return root


def test_series_is_sorted_by_number_and_ignores_other_files(tmp_path: Path) -> None:
    root = _series(tmp_path / "nb", "10-later.ipynb", "02-diagnose-pods-not-created.ipynb",
                   "00-inventory.ipynb", "scratch.ipynb")
    (root / "03-notes.txt").write_text("x")
    assert [p.name for p in discover_notebooks(root)] == [
        "00-inventory.ipynb", "02-diagnose-pods-not-created.ipynb", "10-later.ipynb"]


@pytest.mark.parametrize("name", ["02", "2", "02-diagnose-pods-not-created",
                                  "02-diagnose-pods-not-created.ipynb", "02-diag"])
def test_short_names_resolve(tmp_path: Path, name: str) -> None:
    root = _series(tmp_path / "nb", "00-inventory.ipynb", "02-diagnose-pods-not-created.ipynb")
    assert resolve_notebook(name, root) == (root / "02-diagnose-pods-not-created.ipynb").resolve()


def test_paths_resolve_and_bad_names_are_explained(tmp_path: Path) -> None:
    root = _series(tmp_path / "nb", "00-inventory.ipynb", "01-deploy.ipynb", "01-deploy-more.ipynb")
    assert resolve_notebook(str(root / "00-inventory.ipynb")) == (root / "00-inventory.ipynb").resolve()
    with pytest.raises(InputError, match=r"no notebook '07' in .*available: 00-inventory, 01-deploy"):
        resolve_notebook("07", root)
    with pytest.raises(InputError, match="'01' matches several notebooks: 01-deploy, 01-deploy-more"):
        resolve_notebook("01", root)
    assert resolve_notebook("01-deploy", root).name == "01-deploy.ipynb"  # exact stem wins
    with pytest.raises(InputError, match="does not exist"):
        resolve_notebook(str(root / "missing.ipynb"))
    (root / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="is not a notebook"):
        resolve_notebook(str(root / "notes.txt"))


def test_notebooks_dir_override_and_source_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # from a source checkout: the repository's notebooks/ first, then the installed data files
    monkeypatch.delenv(NOTEBOOKS_ENV, raising=False)
    dirs = notebook_dirs()
    assert dirs[0] == Path(__file__).resolve().parents[2] / "notebooks"
    assert dirs[1] == Path(sysconfig.get_path("data")) / "share" / "mesh-runbook" / "notebooks"
    monkeypatch.setenv(NOTEBOOKS_ENV, str(tmp_path))
    assert notebooks_dir() == tmp_path
    monkeypatch.setenv(NOTEBOOKS_ENV, str(tmp_path / "missing"))
    with pytest.raises(InputError, match="is not a directory"):
        notebooks_dir()
