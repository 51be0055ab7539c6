"""Text from a hostile cluster stays text: every table, finding, record and report of the series.

A sandbox is seeded with markup where cluster text reaches the notebooks — a webhook's
``clientConfig.url``, Event messages (the ``FailedCreate`` ones the diagnosis quotes), annotations
and the mesh ConfigMap a fix plan diffs — and notebooks 00, 02 and 03 are run on it. Every HTML
report is parsed: no element carries a handler attribute, no ``javascript:`` URL and no script
exists at all (the report template loads none), while the hostile text itself is there, escaped.
One report is then opened in chromium with the network cut off: no dialog fires and nothing but the
file itself is requested.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from runbook import kinds as k
from runbook.apps import app_path
from runbook.kube import connect
from runbook.kube.apply import apply_manifests
from runbook.report import run_notebook
from runbook.report.demo import write_index
from runbook.sandbox import Sandbox
from tests.test_markup import parse

from .conftest import Ledger

ROOT = Path(__file__).resolve().parents[2]
ALPHA = "l7-traffic-alpha"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

#: every payload carries a marker: finding it as text proves the string reached the report
HOSTILE = (
    '<script>alert("H1")</script>',
    '<img src=x onerror=alert("H2")>',
    '"><svg onload=alert("H3")>',
    "' onmouseover='alert(\"H4\")",
    '[H5](javascript:alert("H5"))',
    "![H6](http://203.0.113.9/H6.png)",
    "H7\n\n<b onclick=alert(\"H7\")>after a blank line</b>",
    "{{H8}} ${H8} $\\href{javascript:alert(8)}{H8}$",
    "H9\u202eexe.txt \x00 nul",
    "H10 " + "x" * 5000 + "<script>alert('H10')</script>",
)
MARKERS = [f"H{i}" for i in range(1, 11)]
#: inside the fields the diagnosis parses out of an admission error (no spaces, no quotes)
PARSED = ("<svg/onload=alert(1)>P1", "<svg/onload=alert(2)>P2")


def _plant(cluster: Any) -> None:
    # a webhook whose URL is markup (the inventory's webhook table and target column show it)
    cluster.create(k.MUTATING_WEBHOOKS, {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "hostile-injector", "labels": {"app": "sidecar-injector"},
                     "annotations": {"note": HOSTILE[4]}},
        "webhooks": [{
            "name": "hostile.sidecar-injector.istio.io", "admissionReviewVersions": ["v1"],
            "sideEffects": "None", "failurePolicy": "Ignore",
            "clientConfig": {"url": "https://evil.example/" + HOSTILE[0] + HOSTILE[1]},
            "namespaceSelector": {"matchLabels": {"hostile": "yes"}},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                       "resources": ["pods"]}]}]})
    # FailedCreate events on a bookinfo ReplicaSet: the diagnosis quotes them
    replicasets = cluster.list(k.REPLICA_SETS, namespace=ALPHA)
    target = replicasets[0]["metadata"]
    for i, text in enumerate(HOSTILE):
        cluster.create(k.EVENTS, {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"hostile-{i}", "namespace": ALPHA},
            "involvedObject": {"kind": "ReplicaSet", "namespace": ALPHA, "name": target["name"],
                               "uid": target.get("uid", ""), "apiVersion": "apps/v1"},
            "reason": "FailedCreate", "type": "Warning", "count": 1,
            "message": f'Error creating: Internal error occurred: failed calling webhook '
                       f'"rev.namespace.sidecar-injector.istio.io": {text}',
            "source": {"component": "replicaset-controller"}}, namespace=ALPHA)
    # the newest one in the exact admission error shape: its parsed fields (webhook, service)
    # are columns of the styled events table
    cluster.create(k.EVENTS, {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "hostile-parsed", "namespace": ALPHA},
        "involvedObject": {"kind": "ReplicaSet", "namespace": ALPHA, "name": target["name"],
                           "uid": target.get("uid", ""), "apiVersion": "apps/v1"},
        "reason": "FailedCreate", "type": "Warning", "count": 1,
        "message": f'Error creating: Internal error occurred: failed calling webhook "{PARSED[0]}": '
                   f'failed to call webhook: Post "https://istiod.istio-system.svc:443/inject?'
                   f'timeout=10s": service "{PARSED[1]}" not found',
        "source": {"component": "replicaset-controller"}}, namespace=ALPHA)
    # the mesh ConfigMap a fix plan of notebook 03 changes: its diff shows this text
    # (as YAML comments: a NUL is not allowed in YAML at all, so that one stays in the events)
    mesh = cluster.get(k.CONFIG_MAPS, "istio-1-18-5", "istio-prod")
    mesh["data"]["mesh"] = "".join(f"# {t.replace(chr(10), ' ').replace(chr(0), '')}\n"
                                   for t in HOSTILE) + mesh["data"]["mesh"]
    cluster.replace(k.CONFIG_MAPS, mesh)


@pytest.mark.slow
@pytest.mark.notebook
def test_hostile_cluster_text_is_escaped_in_every_report_and_runs_nothing_in_a_browser(
        tmp_path: Path, ledger: Ledger) -> None:
    out = tmp_path / "reports"
    with Sandbox(scenario="seed-incident", pod_start_seconds=0.05) as sb:
        cluster = connect(sb.kubeconfig_path, "sandbox")
        apply_manifests(cluster, app_path("bookinfo"), namespace=ALPHA)
        _plant(cluster)
        cluster.close()
        runs = [run_notebook(ROOT / "notebooks" / f"{name}.ipynb", kubeconfig=sb.kubeconfig_path,
                             context="sandbox", out_dir=out)
                for name in ("00-mesh-inventory", "02-diagnose-pods-not-created",
                             "03-fix-webhook-and-recreate")]
    for run in runs:
        run.raise_for_status()
    index = write_index(runs, out, title=HOSTILE[1])

    reached: dict[str, set[str]] = {}
    for page in [*(r.html_path for r in runs), index]:
        found = parse(page.read_text())
        assert found.scripts == 0, f"{page.name}: a script element"
        assert found.handlers == [], f"{page.name}: {found.handlers[:3]}"
        assert found.urls == [], f"{page.name}: {found.urls[:3]}"
        text = "".join(found.text)
        reached[page.name] = {m for m in MARKERS if m in text} | (
            {"webhook"} if "hostile-injector" in text else set())
    # the hostile text did reach the reports (as text): the webhook row, the events, the diff
    assert "webhook" in reached["00-mesh-inventory.html"]
    assert set(MARKERS) <= reached["02-diagnose-pods-not-created.html"]
    report_02 = runs[1].html_path.read_text()
    assert "&lt;svg/onload=alert(1)&gt;P1</td>" in report_02  # a styled table cell
    assert set(MARKERS) <= reached["03-fix-webhook-and-recreate.html"]
    assert "H2" in reached["index.html"]

    if not Path(CHROMIUM).exists():
        pytest.skip("no chromium: the browser part is not checked")
    from playwright.sync_api import sync_playwright

    dialogs: list[str] = []
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.route("**/*", lambda route: (requests.append(route.request.url), route.continue_()
                       if route.request.url.startswith(("file:", "data:")) else route.abort()))
            for report in (runs[1].html_path, runs[2].html_path):
                page.goto(report.resolve().as_uri(), wait_until="load")
                # mouse and click handlers, had any survived, would fire here
                page.evaluate("""() => document.querySelectorAll('body *').forEach(e => {
                    for (const type of ['mouseover', 'mouseenter', 'click']) {
                        e.dispatchEvent(new MouseEvent(type, {bubbles: false, cancelable: true}));
                    }})""")
                page.wait_for_timeout(300)
                assert "H2" in page.inner_text("body")  # rendered, as text
        finally:
            browser.close()
    assert dialogs == []
    off_file = [u for u in requests if not u.startswith(("file:", "data:"))]
    assert off_file == []
    ledger.record("security", check="markup from the cluster stays text in every report",
                  how=f"{len(HOSTILE)} hostile strings (script, img onerror, attribute breakout, "
                      "javascript: and image Markdown, blank-line HTML-block escape, {{ }}/${ }/"
                      "$…$, RTL override, NUL, 5 kB) in a webhook URL, Event messages, annotations "
                      "and the mesh ConfigMap; notebooks 00, 02, 03 and the demo index",
                  result="no script element, handler attribute or off-file URL in 4 reports; "
                         "chromium with the network cut off: no dialog, no request off the file")
