"""Make the README's pictures from the output of ``runbook demo`` (nothing here is drawn by hand).

    runbook demo --out /tmp/demo-reports
    .venv/bin/python docs/images/make_images.py /tmp/demo-reports

Writes into this folder:

* ``incident-timeline.png`` — the timeline chart of notebook 06's report, exactly the PNG the
  executed notebook holds (the cell ``report.timeline_chart()``);
* ``report-summary.png`` — the closing summary of notebook 06's HTML report, as the system
  chromium renders it (Playwright with ``executable_path``: no browser download, and every request
  other than ``file:``/``data:`` is aborted, as for PDF reports);
* ``demo-index.png`` — the demo's ``index.html``: every notebook, its status, duration and changes.
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

import nbformat

from runbook.report.export import CHROMIUM_ARGS, require_chromium

HERE = Path(__file__).resolve().parent
NOTEBOOK = "06-incident-report"


def chart_png(executed: Path, source: str) -> bytes:
    """The PNG output of the first code cell whose source is ``source``."""
    nb = nbformat.read(str(executed), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.strip() == source:
            for output in cell.get("outputs", []):
                data = output.get("data") or {}
                if "image/png" in data:
                    return base64.b64decode(data["image/png"])
    raise SystemExit(f"{executed}: no PNG output in a cell {source!r} — did the demo run to the end?")


def screenshots(report: Path, index: Path, out: Path) -> None:
    """The summary record of the report and the demo's index page, rendered by chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=require_chromium(), args=list(CHROMIUM_ARGS),
                                     headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.route("**/*", lambda route: route.continue_()
                       if route.request.url.startswith(("file:", "data:")) else route.abort())
            page.goto(report.as_uri(), wait_until="load")
            summary = page.locator(".mesh-runbook-record", has_text="Incident in").last
            summary.screenshot(path=str(out / "report-summary.png"))
            page.set_viewport_size({"width": 900, "height": 400})
            page.goto(index.as_uri(), wait_until="load")
            page.screenshot(path=str(out / "demo-index.png"), full_page=True)
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="?", default="reports", help="the demo's --out folder")
    parser.add_argument("--out", default=str(HERE), help="where the pictures go (default: here)")
    args = parser.parse_args(argv)
    reports, out = Path(args.reports), Path(args.out)
    executed, html = reports / f"{NOTEBOOK}.ipynb", reports / f"{NOTEBOOK}.html"
    for path in (executed, html, reports / "index.html"):
        if not path.is_file():
            print(f"{path} is missing: run `runbook demo --out {reports}` first", file=sys.stderr)
            return 2
    out.mkdir(parents=True, exist_ok=True)
    (out / "incident-timeline.png").write_bytes(chart_png(executed, "report.timeline_chart()"))
    screenshots(html.resolve(), (reports / "index.html").resolve(), out)
    for name in ("incident-timeline.png", "report-summary.png", "demo-index.png"):
        print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
