"""The fix panel in a real JupyterLab, clicked in a real chromium (where a person would click).

A JupyterLab server (127.0.0.1, token, this venv's kernel) opens a notebook that builds the panel
against a ``seed-incident`` sandbox; the browser clicks Preview, types the context, clicks Apply,
Recreate workloads, Apply, Wait for rollout and Undo twice, and the test checks the sandbox's
objects. Every request the page makes to a host other than 127.0.0.1 is aborted (JupyterLab
would otherwise look for news and updates).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from runbook import kinds as k
from runbook.apps import app_path
from runbook.audit import AuditLog
from runbook.kube import connect
from runbook.kube.apply import apply_manifests
from runbook.kube.objects import comparable
from runbook.sandbox import Sandbox

from .conftest import NS, TAG, targets

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
JUPYTER = Path(sys.executable).parent / "jupyter"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A JupyterLab server on 127.0.0.1 serving ``tmp_path``; stopped (with its kernels) after."""
    if not Path(CHROMIUM).exists() or not JUPYTER.exists():
        pytest.skip("needs chromium and jupyterlab")
    pytest.importorskip("playwright.sync_api")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces")}
    log = open(tmp_path / "lab.log", "wb")  # noqa: SIM115 — closed in the teardown below
    proc = subprocess.Popen(
        [str(JUPYTER), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--LabApp.news_url=", "--LabServerApp.extension_manager=readonly",
         "--ServerApp.terminals_enabled=False",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start: "
                                       + (tmp_path / "lab.log").read_text()[-2000:]) from None
                time.sleep(0.2)
        yield f"{base}/lab/tree/panel.ipynb?token={token}", tmp_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _notebook(path: Path, kubeconfig: Path, audit: Path) -> None:
    source = "\n".join([
        "from runbook.fix import AuditLog",
        "from runbook.kube import connect",
        "from runbook.mesh.observe import diagnose_cluster",
        "from runbook.ui.panels import FixPanel",
        f"cluster = connect({str(kubeconfig)!r}, 'sandbox')",
        f"inventory, findings = diagnose_cluster(cluster, namespace={NS!r})",
        f"panel = FixPanel(cluster, findings, inventory, AuditLog({str(audit)!r}), namespace={NS!r})",
        "panel",
    ])
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)], metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, str(path))


def test_click_preview_confirm_apply_undo_in_jupyterlab(lab: tuple[str, Path]) -> None:
    from playwright.sync_api import Route, expect, sync_playwright

    url, root = lab
    with Sandbox(scenario="seed-incident", clock="real") as sb:
        cluster = connect(sb.kubeconfig_path, "sandbox")
        apply_manifests(cluster, app_path("bookinfo"), namespace=NS)
        original = cluster.get(k.MUTATING_WEBHOOKS, TAG)
        _notebook(root / "panel.ipynb", sb.kubeconfig_path, root / "audit.jsonl")

        def local_only(route: Route) -> Any:
            host = route.request.url.split("/")[2].split(":")[0]
            return route.continue_() if host == "127.0.0.1" else route.abort()

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            try:
                page.route("**/*", local_only)
                page.goto(url)
                cell = page.locator(".jp-Notebook .jp-Cell .jp-InputArea-editor").first
                cell.wait_for(timeout=60_000)
                # run only once the kernel is connected (a cell run before is silently dropped)
                expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible(timeout=60_000)
                cell.click()
                page.keyboard.press("Shift+Enter")
                preview = page.get_by_role("button", name="Preview")
                preview.wait_for(timeout=30_000)
                apply = page.get_by_role("button", name="Apply")
                expect(apply).to_be_disabled()
                preview.click()
                expect(page.get_by_text("Preview: Retarget istio-revision-tag-prod-canary").first
                       ).to_be_visible(timeout=30_000)
                expect(apply).to_be_disabled()  # cluster-scoped: the context must be typed
                page.get_by_placeholder("type sandbox").fill("sandbox")
                expect(apply).to_be_enabled(timeout=10_000)
                apply.click()
                expect(page.get_by_text("✓ Applied: Retarget").first).to_be_visible(timeout=30_000)
                assert targets(cluster) == ["istio-canary/istiod-1-18-5"] * 2
                # then the panel offers to recreate and to wait
                page.get_by_role("button", name=f"Recreate workloads in {NS}").click()
                expect(page.get_by_text("Preview: Rollout restart of 6").first).to_be_visible(
                    timeout=30_000)
                apply.click()
                expect(page.get_by_text("✓ Applied: Rollout restart of 6").first).to_be_visible(
                    timeout=30_000)
                page.get_by_role("button", name="Wait for rollout").click()
                expect(page.get_by_text(f"6 deployment(s) in {NS} ready").first).to_be_visible(
                    timeout=90_000)
                assert "1-19-3" in page.locator(".mesh-runbook-record").last.inner_text()
                # Undo reverts the newest change first: the restart, then the retarget
                undo = page.get_by_role("button", name="Undo")
                undo.click()
                expect(page.get_by_text("✓ Undone: Rollout restart of 6").first).to_be_visible(
                    timeout=30_000)
                undo.click()
                expect(page.get_by_text("✓ Undone: Retarget").first).to_be_visible(timeout=30_000)
                assert comparable(cluster.get(k.MUTATING_WEBHOOKS, TAG)) == comparable(original)
            except Exception:
                page.screenshot(path=str(root / "failure.png"))  # kept in the test's tmp_path
                raise
            finally:
                browser.close()
        cluster.close()
    audit = AuditLog(root / "audit.jsonl")
    assert len(audit.read()) == 1 + 6 + 6 + 1  # one record per change (applies and undos)
    assert audit.unfinished() == []  # each written ahead, each with its outcome
