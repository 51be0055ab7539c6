"""runbook.report: headless notebook runs and the reports made from them.

``run_notebook`` executes one notebook with papermill against any cluster and writes the executed
notebook plus an HTML (optionally PDF) report with a header block and every secret masked;
``run_series`` does it for the numbered series (``runbook demo``); ``write_index`` links the reports.
:mod:`runbook.report.incident_report` builds notebook 06's incident report.

The names below are imported on first use (:mod:`runbook.lazy`): papermill, nbconvert and
nbformat (whose jsonschema format checkers compile grammars) take seconds to import, and a notebook
kernel that only needs :mod:`runbook.report.incident_report` must not pay for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runbook.lazy import lazy_exports

if TYPE_CHECKING:
    from runbook.report.export import export_html, export_pdf, find_chromium, header_cell, notebook_html
    from runbook.report.masking import (
        MaskSecretsPreprocessor,
        SecretMasker,
        is_secret_name,
        kubeconfig_secrets,
    )
    from runbook.report.notebooks import NOTEBOOKS_ENV, discover_notebooks, notebooks_dir, resolve_notebook
    from runbook.report.parameters import NotebookParameter, check_parameters, read_parameters
    from runbook.report.runner import NotebookRun, run_notebook
    from runbook.report.target import RunTarget, describe_target

#: exported name → the module that defines it
_EXPORTS = {
    "export_html": "export", "export_pdf": "export", "find_chromium": "export",
    "header_cell": "export", "notebook_html": "export",
    "MaskSecretsPreprocessor": "masking", "SecretMasker": "masking", "is_secret_name": "masking",
    "kubeconfig_secrets": "masking",
    "NOTEBOOKS_ENV": "notebooks", "discover_notebooks": "notebooks", "notebooks_dir": "notebooks",
    "resolve_notebook": "notebooks",
    "NotebookParameter": "parameters", "check_parameters": "parameters", "read_parameters": "parameters",
    "NotebookRun": "runner", "run_notebook": "runner",
    "RunTarget": "target", "describe_target": "target",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "NOTEBOOKS_ENV",
    "MaskSecretsPreprocessor",
    "NotebookParameter",
    "NotebookRun",
    "RunTarget",
    "SecretMasker",
    "check_parameters",
    "describe_target",
    "discover_notebooks",
    "export_html",
    "export_pdf",
    "find_chromium",
    "header_cell",
    "is_secret_name",
    "kubeconfig_secrets",
    "notebook_html",
    "notebooks_dir",
    "read_parameters",
    "resolve_notebook",
    "run_notebook",
]
