"""runbook.report: headless notebook runs and the reports made from them.

``run_notebook`` executes one notebook with papermill against any cluster and writes the executed
notebook plus an HTML (optionally PDF) report with a header block and every secret masked;
``run_series`` does it for the numbered series (``runbook demo``); ``write_index`` links the reports.
"""

from runbook.report.export import export_html, export_pdf, find_chromium, header_cell, notebook_html
from runbook.report.masking import MaskSecretsPreprocessor, SecretMasker, is_secret_name, kubeconfig_secrets
from runbook.report.notebooks import NOTEBOOKS_ENV, discover_notebooks, notebooks_dir, resolve_notebook
from runbook.report.parameters import NotebookParameter, check_parameters, read_parameters
from runbook.report.runner import NotebookRun, run_notebook
from runbook.report.target import Target, describe_target

__all__ = [
    "NOTEBOOKS_ENV",
    "MaskSecretsPreprocessor",
    "NotebookParameter",
    "NotebookRun",
    "SecretMasker",
    "Target",
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
