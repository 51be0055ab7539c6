"""JupyterLab and chromium for the browser tests: a lab server on 127.0.0.1 (token, this venv's
kernel, its own settings), a page that may reach 127.0.0.1 only, and the trainee's gestures
(open a notebook, Run All, wait for the kernel). Screenshots go to ``reports/browser/<test>/``
(ignored by git; ``MESH_RUNBOOK_SCREENSHOTS`` overrides the directory) so CI can keep them."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
JUPYTER = Path(sys.executable).parent / "jupyter"
NOTEBOOKS = ROOT / "notebooks"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Lab:
    """A running JupyterLab: ``url(name)`` opens ``root/name``."""

    base: str
    token: str
    root: Path

    def url(self, notebook: str) -> str:
        # ``reset``: a workspace with this notebook only, so the status bar is its kernel's
        return f"{self.base}/lab/tree/{notebook}?reset&token={self.token}"


def screenshot_dir(test_name: str) -> Path:
    base = Path(os.environ.get("MESH_RUNBOOK_SCREENSHOTS") or ROOT / "reports" / "browser")
    path = base / re.sub(r"[^\w.-]+", "_", test_name)
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("*.png"):  # a run's pictures only
        old.unlink()
    return path


@contextmanager
def jupyterlab(tmp_path: Path) -> Iterator[Lab]:
    """JupyterLab serving ``tmp_path``; stopped (with its kernels) after. Kernels get their own
    ``MESH_RUNBOOK_HOME`` (audit file, sandbox state) under ``tmp_path``."""
    if not Path(CHROMIUM).exists() or not JUPYTER.exists():
        pytest.skip("needs chromium and jupyterlab")
    pytest.importorskip("playwright.sync_api")
    port, token = _free_port(), secrets.token_hex(16)
    settings = tmp_path / "settings"
    # every cell in the DOM: the tests read outputs of cells scrolled out of view
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    # no "notified about Jupyter news?" toast over the outputs in the screenshots
    toast = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    toast.parent.mkdir(parents=True)
    toast.write_text(json.dumps({"fetchNews": "false"}))
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(settings),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
           "MESH_RUNBOOK_HOME": str(tmp_path / "home")}
    log = open(tmp_path / "lab.log", "wb")  # noqa: SIM115 — closed in the finally below
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
        yield Lab(base, token, tmp_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextmanager
def chromium_page(shots: Path) -> Iterator[Any]:
    """A chromium page 1,400 px wide that reaches 127.0.0.1 only (JupyterLab would otherwise look
    for news and updates); a screenshot ``failure.png`` in ``shots`` when the block fails."""
    from playwright.sync_api import Route, sync_playwright

    def local_only(route: Route) -> Any:
        host = route.request.url.split("/")[2].split(":")[0]
        return route.continue_() if host == "127.0.0.1" else route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.route("**/*", local_only)
        try:
            yield page
        except Exception:
            page.screenshot(path=str(shots / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()


def copy_notebook(name: str, root: Path, kubeconfig: Path) -> str:
    """``notebooks/<name>`` into ``root`` with ``kubeconfig`` set in its parameters cell (what
    a trainee edits to point it at their cluster); returns the file name."""
    nb = nbformat.read(str(NOTEBOOKS / name), as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source, count = re.subn(r"^kubeconfig = None", f"kubeconfig = {str(kubeconfig)!r}",
                                   params.source, flags=re.M)
    assert count == 1, f"{name}: no `kubeconfig = None` line"
    nbformat.write(nb, str(root / name))
    return name


def open_notebook(page: Any, lab: Lab, name: str) -> None:
    """Open ``name`` and wait until its kernel is idle (a cell run before is silently dropped)."""
    from playwright.sync_api import expect

    page.goto(lab.url(name))
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    select = page.get_by_role("dialog").get_by_role("button", name="Select", exact=True)
    idle = page.get_by_text("Python 3 (ipykernel) | Idle")
    expect(select.or_(idle)).to_be_visible(timeout=60_000)
    if select.is_visible():  # a loaded lab may ask which kernel to start: the notebook's own
        select.click()
    expect(idle).to_be_visible(timeout=60_000)


def idle(page: Any, timeout_ms: int = 120_000) -> None:
    """Wait until the kernel has finished what the last click asked (as a trainee waits for it)."""
    from playwright.sync_api import expect

    expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible(timeout=timeout_ms)


def run_all(page: Any, timeout_ms: int = 240_000) -> None:
    """Run → Run All Cells, as a trainee does; returns when every code cell has run."""
    from playwright.sync_api import expect

    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    last = page.locator(".jp-Notebook .jp-CodeCell").last.locator(".jp-InputPrompt")
    expect(last).to_have_text(re.compile(r"\[\d+\]:"), timeout=timeout_ms)
    idle(page, timeout_ms)
