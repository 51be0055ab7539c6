"""Paginated lists of cluster-scoped kinds walk every page (regression: the continue token of a
cluster-scoped list resumed nowhere, so a second page of Namespaces came back empty and a mesh
inventory of a 2,000-namespace cluster saw only the first 500)."""

from __future__ import annotations

from kubernetes import client

from runbook.sandbox import Sandbox
from tests.sandbox.conftest import make_api


def test_namespaces_are_listed_page_after_page(sandbox: Sandbox) -> None:
    core = client.CoreV1Api(make_api(sandbox))
    for i in range(25):
        core.create_namespace({"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": f"team-{i:03d}"}})
    every = sorted(ns.metadata.name for ns in core.list_namespace().items)
    names, token, pages = [], None, 0
    while True:
        page = core.list_namespace(limit=10, _continue=token) if token else core.list_namespace(
            limit=10)
        names += [ns.metadata.name for ns in page.items]
        pages += 1
        token = page.metadata._continue
        if not token:
            break
    assert names == every and len(every) >= 25
    assert pages == -(-len(every) // 10)
