"""Secrets planted everywhere a report can leak them never reach the HTML or the executed notebook."""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path

import nbformat
import pytest

from runbook.report import run_notebook

from .conftest import PlantedKubeconfig

pytestmark = [pytest.mark.notebook, pytest.mark.slow]


def test_planted_secrets_are_masked_in_html_and_ipynb(
        notebooks: Path, planted_kubeconfig: PlantedKubeconfig, tmp_path: Path) -> None:
    # a copy of the notebook with a secret in its own metadata, as a leaky tool might leave it
    source = nbformat.read(str(notebooks / "planted-secrets.ipynb"), as_version=4)
    metadata_password = "meta-" + secrets.token_hex(10)
    source.metadata["deploy"] = {"password": metadata_password}
    work = tmp_path / "work"
    work.mkdir()
    notebook = work / "planted-secrets.ipynb"
    nbformat.write(source, str(notebook))

    params = {
        "token": "param-token-" + secrets.token_hex(12),  # secret by its name
        "password": "param-pw-" + secrets.token_hex(8),
        "metadata_value": planted_kubeconfig.secrets["client-key-data"],  # in an output's metadata
    }
    run = run_notebook(notebook, parameters=params, kubeconfig=str(planted_kubeconfig.path),
                       context=planted_kubeconfig.context, out_dir=tmp_path / "out")

    # made by the kernel, unknown to the masker: only their shape gives them away
    made = json.loads((work / "planted-in-kernel.json").read_text())
    planted = {**planted_kubeconfig.secrets, **params, "metadata password": metadata_password,
               **{f"kernel {k}": v for k, v in made.items() if k != "pem"},
               "kernel pem body": made["pem"].splitlines()[1]}
    html = run.html_path.read_text()
    ipynb = run.executed_path.read_text()
    for where, text in (("html", html), ("ipynb", ipynb)):
        leaked = [name for name, value in planted.items() if value in text]
        assert leaked == [], f"{where} leaks {leaked}"

    # the error line (stderr, index.html) is masked too
    assert run.error is not None
    assert "RuntimeError: login failed for token [masked] (password [masked])" in str(run.error)

    # masking is not "blank everything": what is not secret is still there to read
    assert planted_kubeconfig.server in html
    assert "Authorization: Bearer [masked]" in html
    assert "-----BEGIN PRIVATE KEY-----[masked]-----END PRIVATE KEY-----" in html
    assert "https://ops:[masked]@registry.example/v2/" in html
    assert "login failed" in html and "metadata carries it" in html

    executed = nbformat.read(str(run.executed_path), as_version=4)
    assert executed.metadata["papermill"]["parameters"]["token"] == "[masked]"
    assert executed.metadata["deploy"]["password"] == "[masked]"


def test_a_run_without_secrets_is_left_alone(notebooks: Path, tmp_path: Path) -> None:
    # the same machinery on an ordinary failing notebook changes no ordinary text
    shutil.copy(notebooks / "failing-cell.ipynb", tmp_path / "failing-cell.ipynb")
    run = run_notebook(tmp_path / "failing-cell.ipynb", out_dir=tmp_path / "out")
    html = run.html_path.read_text()
    assert "[masked]" not in html
    assert "webhook target not found: istio-system/istiod-1-18-5" in html
